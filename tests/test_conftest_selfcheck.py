import asyncio
from pathlib import Path

pytest_plugins = ["pytester"]


def test_sync_test_runs_under_leak_fixture():
    assert sum([1, 1]) == 2


async def test_no_leak_when_tasks_are_awaited():
    task = asyncio.get_running_loop().create_task(asyncio.sleep(0))
    await task
    assert task.done()


def test_leaked_task_fails_the_test(pytester):
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import asyncio

        async def test_leaks():
            asyncio.get_running_loop().create_task(asyncio.sleep(10), name="leaky")
        """
    )
    result = pytester.runpytest_subprocess("-p", "asyncio")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*leaked 1 asyncio task*leaky*"])
