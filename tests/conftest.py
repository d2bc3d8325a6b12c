"""Shared test rules: warnings are errors (pyproject), and a test that leaves asyncio tasks
running fails."""

from __future__ import annotations

import asyncio

import pytest


@pytest.fixture(autouse=True)
async def _no_leaked_tasks():
    before = set(asyncio.all_tasks())
    yield
    current = asyncio.current_task()
    # give cancelled tasks one loop turn to finish
    for _ in range(3):
        leaked = [t for t in asyncio.all_tasks() if t not in before and t is not current and not t.done()]
        if not leaked:
            return
        await asyncio.sleep(0)
    names = ", ".join(f"{t.get_name()} ({t.get_coro()!r})" for t in leaked)
    for t in leaked:
        t.cancel()
    await asyncio.gather(*leaked, return_exceptions=True)
    pytest.fail(f"test leaked {len(leaked)} asyncio task(s): {names}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last: Playwright's sync API keeps its own event loop running in the
    main thread for the whole session, which would break every asyncio test after it."""
    items.sort(key=lambda item: "e2e" in item.path.parts)
