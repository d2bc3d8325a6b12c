"""``ionpy run CONFIG --record PATH`` in a real subprocess against simulators (a V01_Battery
polled every 10 ms and a DPS5005 simulator on the virtual transport):

* killed with SIGKILL, it loses at most the last second: every reading it printed more than one
  second before the kill is in the file, and the newest stored sample is under a second old;
* stopped cleanly (SIGTERM), it loses nothing: samples published on the bus == samples stored ==
  rows in the file, and every reading it printed is stored;
* ``ionpy_widgets.open_run(PATH)`` reopens the recording (samples, journal, config, identities)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import ionpy_widgets as ion
from ionpy_widgets.engine.storage import SqliteHistoryStore

pytestmark = pytest.mark.slow

CONFIG = """\
engine: {backoff_initial: 0.02, backoff_max: 0.2, connect_timeout: 2, poll_timeout: 1, close_timeout: 0.5}
devices:
  - id: BAT
    driver: V01_Battery
    poll_interval: 0.01
  - id: DPS5005_1
    driver: DPS5005
    poll_interval: 0.02
    transport: {type: virtual, params: {simulator: dps5005}}
"""


class Child:
    """``ionpy run --record --json`` in a subprocess; readings it prints are collected as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.printed: list[tuple[str, str, float]] = []
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def start(cls, tmp_path: Path) -> tuple[Child, Path]:
        config = tmp_path / "bench.yaml"
        config.write_text(CONFIG, encoding="utf-8")
        db = tmp_path / "discharge.sqlite"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ionpy_widgets", "run", str(config), "--record", str(db), "--json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=tmp_path)
        return cls(proc), db

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            reading = json.loads(line)
            self.printed.append((reading["device"], reading["entity"], reading["timestamp"]))

    async def wait_printing(self, seconds: float, timeout: float = 30.0) -> None:
        """Until readings have been printed for ``seconds`` (startup takes a while in a cold process)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not self.printed or self.printed[-1][2] - self.printed[0][2] < seconds:
            if loop.time() > end or self.proc.returncode is not None:
                err = await self.proc.stderr.read() if self.proc.returncode is not None else b""
                raise AssertionError(f"no readings from `ionpy run` ({self.proc.returncode}): {err.decode()}")
            await asyncio.sleep(0.02)

    async def finish(self) -> str:
        """Wait for the process and the reader; returns stderr."""
        _, err = await asyncio.wait_for(asyncio.gather(self.proc.wait(), self.proc.stderr.read()), 30)
        await asyncio.wait_for(self.reader, 10)
        return err.decode()


def stored(db: Path) -> tuple[set[tuple[str, str, float]], int]:
    store = SqliteHistoryStore(db, create=False)
    try:
        cols = store.query_span(None, None)
        return set(zip(cols.device, cols.entity, cols.timestamp.tolist(), strict=True)), len(cols)
    finally:
        store.close()


async def test_sigkill_loses_at_most_one_second(tmp_path: Path) -> None:
    child, db = await Child.start(tmp_path)
    try:
        await child.wait_printing(1.5)
        killed_at = time.time()
        os.kill(child.proc.pid, signal.SIGKILL)
    finally:
        if child.proc.returncode is None:
            child.proc.kill()
        await child.finish()
    assert child.proc.returncode == -signal.SIGKILL
    rows, count = stored(db)
    newest = max(ts for _, _, ts in rows)
    assert killed_at - newest <= 1.0, f"the newest stored sample is {killed_at - newest:.2f} s older than the kill"
    old_enough = [r for r in child.printed if r[2] <= killed_at - 1.0]
    missing = [r for r in old_enough if r not in rows]
    assert len(old_enough) > 500 and not missing, f"{len(missing)} of {len(old_enough)} older samples lost"
    lost = [r for r in child.printed if r not in rows]
    assert all(killed_at - ts < 1.0 for _, _, ts in lost)
    with ion.open_run(db) as run:  # the run never finished: open end, everything recorded so far
        assert run.status == "running" and run.stopped is None and len(run.samples) == count


async def test_clean_stop_loses_nothing_and_reopens(tmp_path: Path) -> None:
    child, db = await Child.start(tmp_path)
    try:
        await child.wait_printing(1.0)
        child.proc.send_signal(signal.SIGTERM)
        err = await child.finish()
    finally:
        if child.proc.returncode is None:
            child.proc.kill()
            await child.finish()
    assert child.proc.returncode == 0, err
    summary: dict[str, Any] = json.loads(next(line for line in err.splitlines() if '"recorded"' in line))
    rows, count = stored(db)
    assert summary["published_samples"] == summary["stored_samples"] == count > 1000
    assert summary["published_events"] == summary["received_events"] and summary["error"] is None
    assert set(child.printed) <= rows
    with ion.open_run(db) as run:
        assert run.name == "bench" and run.status == "stopped"
        samples = run.samples
        assert len(samples) == count and set(samples["device"]) == {"BAT", "DPS5005_1"}
        assert list(samples.columns) == ["device", "entity", "timestamp", "value", "unit", "quality"]
        assert list(run.journal.columns) == ["timestamp", "device", "entity", "value", "requested", "unit", "source",
                                             "cell", "cell_id", "ok", "error"]
        assert run.config["source"] == str(tmp_path / "bench.yaml") and "V01_Battery" in run.config["text"]
        assert run.identities["DPS5005_1"]["identity"]["model"] == "DPS5005"
        kinds = set(run.events["kind"])
        assert {"device_added", "availability"} <= kinds


def test_a_file_that_is_not_a_recording_is_refused_with_a_hint(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from ionpy_widgets.cli import EXIT_ERROR, main

    config = tmp_path / "bench.yaml"
    config.write_text("devices: []\n", encoding="utf-8")
    notes = tmp_path / "notes.sqlite"
    notes.write_bytes(b"these are my notes, not a database" * 50)
    assert main(["run", str(config), "--record", str(notes), "--duration", "0.1"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "error [storage_error]" in err and "not a readable SQLite file" in err and "hint:" in err
    assert notes.read_bytes().startswith(b"these are my notes")  # left untouched
