"""Runs kept in a list (a sweep of many short runs, each appended for later analysis) share one
reading connection per recording file instead of holding a SQLite connection each (about four
descriptors per run: a few hundred runs used to exhaust a 1024-descriptor limit). A recording that is
deleted and made anew at the same path is read afresh, not through the old file's connection."""

from __future__ import annotations

import asyncio
import gc
import os
from pathlib import Path

from ionpy_widgets.engine.lab import Lab

CONF = {"devices": [{"id": "BAT", "driver": "V01_Battery", "poll_interval": 0.02}]}


def _descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_many_runs_do_not_hold_a_connection_each(tmp_path: Path) -> None:
    gc.collect()
    before = _descriptors()
    lab = await Lab.start(CONF, name="run-descriptors", record=tmp_path / "sweep.sqlite")
    runs = []
    try:
        await lab.wait_online(timeout=3)
        for step in range(40):
            async with lab.run(f"step-{step}") as run:
                await lab["BAT"].write("load_current", step / 100)
            runs.append(run)
            assert len(run.journal) == 1  # each run reads its own writes
    finally:
        await lab.stop()
    assert [r.journal["value"].iloc[0] for r in runs] == [step / 100 for step in range(40)]
    assert _descriptors() - before < 12, "descriptors grew with the number of runs"


def _delete_recording(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def test_a_recording_made_anew_at_the_same_path_is_read_afresh(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    kept = []
    for value in (0.1, 0.2):
        lab = await Lab.start(CONF, name="run-descriptors")
        try:
            await lab.wait_online(timeout=3)
            async with lab.run("one", path=path) as run:
                await lab["BAT"].write("load_current", value)
            await asyncio.sleep(0)
        finally:
            await lab.stop()
        assert run.id == 1 and list(run.journal["value"]) == [value]
        kept.append(run)  # the first run stays alive while its file is replaced
        _delete_recording(path)
