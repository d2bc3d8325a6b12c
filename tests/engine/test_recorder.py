"""The recorder on a real bus and a real SQLite file: nothing dropped (slow or failing disk
included), bounded commit latency, a loop that never stalls, exact counts after a clean stop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from ionpy_widgets.driver.reading import Reading
from ionpy_widgets.engine.bus import EventBus
from ionpy_widgets.engine.events import AlarmEvent, ReadingEvent, SystemEvent, SystemKind
from ionpy_widgets.engine.recorder import Recorder
from ionpy_widgets.engine.storage import EntityInfo, EventRecord, SqliteHistoryStore

ENTITIES = [f"e{i}" for i in range(10)]


def poll_event(device: str, n: int, ts: float | None = None) -> ReadingEvent:
    return ReadingEvent.from_values(device, {k: float(n) for k in ENTITIES}, dict.fromkeys(ENTITIES, "V"),
                                    timestamp=ts)


async def wait_until(predicate: Any, timeout: float = 3.0, what: str = "condition") -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not predicate():
        if loop.time() - start > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
    return loop.time() - start


class SlowStore(SqliteHistoryStore):
    """A real store whose writes wait for a gate (a slow disk), or fail while ``failing``."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.gate.set()
        self.failing = 0
        self.calls = 0

    def write_batch(self, samples: Iterable[Reading], events: Iterable[EventRecord] = ()) -> int:
        self.calls += 1
        self.gate.wait(10)
        if self.failing:
            self.failing -= 1
            raise OSError("disk full")
        return super().write_batch(samples, events)


async def test_clean_stop_stores_every_sample_and_event(tmp_path: Path) -> None:
    bus = EventBus()
    store = SqliteHistoryStore(tmp_path / "h.sqlite")
    recorder = Recorder.start(bus, store, flush_interval=0.05)
    for n in range(500):
        bus.publish(poll_event("PSU", n))
        if n % 50 == 0:
            await asyncio.sleep(0)
    bus.publish(SystemEvent(SystemKind.WRITE, "PSU", {"key": "u_set", "value": 5.0, "source": "widget", "ok": True}))
    bus.publish(AlarmEvent("PSU", "e1", "hi", 4.2, "too high"))
    await recorder.stop()
    stats = recorder.stats()
    assert bus.published == {"reading": 500, "system": 1, "alarm": 1}
    assert stats["received_samples"] == stats["stored_samples"] == 5000
    assert stats["received_events"] == 502 and stats["stored_events"] == 2 and stats["pending_events"] == 0
    assert not recorder.running and store.closed and bus.subscriptions == ()
    check = SqliteHistoryStore(tmp_path / "h.sqlite", create=False)
    try:
        assert check.count() == 5000
        assert [(e.kind, e.source) for e in check.events()] == [("write", "widget"), ("alarm", None)]
    finally:
        check.close()
    await recorder.stop()  # idempotent


async def test_a_sample_is_committed_within_half_a_second(tmp_path: Path) -> None:
    bus = EventBus()
    store = SqliteHistoryStore(tmp_path / "h.sqlite")
    recorder = Recorder.start(bus, store)  # default interval 0.25 s
    try:
        await asyncio.sleep(0.05)
        bus.publish(poll_event("PSU", 1))
        latency = await wait_until(lambda: store.count() == 10, what="the commit")
        assert latency < 0.5
        bus.publish(poll_event("PSU", 2))
        await recorder.flush()  # everything published before the call, at once
        assert store.count() == 20
    finally:
        await recorder.stop()


async def test_a_slow_disk_batches_instead_of_dropping(tmp_path: Path) -> None:
    bus = EventBus()
    store = SlowStore(tmp_path / "h.sqlite")
    recorder = Recorder.start(bus, store, flush_interval=0.02, batch_size=1000)
    try:
        bus.publish(poll_event("PSU", 0))
        await wait_until(lambda: store.count() == 10, what="the first commit")
        store.gate.clear()  # the disk stalls
        bus.publish(poll_event("PSU", 1))
        await wait_until(lambda: store.calls >= 2, what="the stalled write")
        for n in range(2, 2002):  # 20 000 samples pile up behind it
            bus.publish(poll_event("PSU", n))
        await asyncio.sleep(0.05)
        assert recorder.stats()["pending_events"] == 2000 and store.count() == 10
        store.gate.set()
        await wait_until(lambda: recorder.stats()["stored_samples"] == 20020, what="the backlog")
        assert store.count() == 20020
        stats = recorder.stats()
        assert stats["stored_samples"] == stats["received_samples"] == 20020
        assert stats["batches"] >= 20  # batch_size bounds each transaction
    finally:
        store.gate.set()
        await recorder.stop()


async def test_a_failing_write_is_retried_and_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    store = SlowStore(tmp_path / "h.sqlite")
    store.failing = 2
    recorder = Recorder.start(bus, store, flush_interval=0.02)
    try:
        for n in range(3):
            bus.publish(poll_event("PSU", n))
        await wait_until(lambda: recorder.stats()["stored_samples"] == 30, what="the retried write")
        assert store.count() == 30
        stats = recorder.stats()
        assert stats["error"] == "disk full" and stats["stored_samples"] == 30
        assert "writing to" in caplog.text and "kept for the next attempt" in caplog.text
    finally:
        await recorder.stop()


async def test_blocking_writes_never_stall_the_loop(tmp_path: Path) -> None:
    """Each commit blocks for 0.3 s (a slow disk): it runs in the worker thread, so the loop keeps
    ticking every few milliseconds while polls (2 000 samples/s) keep arriving."""
    bus = EventBus()
    store = SlowStore(tmp_path / "h.sqlite")
    recorder = Recorder.start(bus, store, flush_interval=0.05)
    loop = asyncio.get_running_loop()
    gaps: list[float] = []

    def blocking_write(samples: Iterable[Reading], events: Iterable[EventRecord] = ()) -> int:
        time.sleep(0.3)
        return SqliteHistoryStore.write_batch(store, samples, events)

    store.write_batch = blocking_write  # type: ignore[method-assign]
    try:
        last, n = loop.time(), 0
        end = last + 1.0
        while loop.time() < end:
            await asyncio.sleep(0.005)
            bus.publish(poll_event("PSU", n))
            n += 1
            now = loop.time()
            gaps.append(now - last)
            last = now
        await recorder.flush()
        assert recorder.stats()["stored_samples"] == n * 10 and recorder.stats()["max_write_seconds"] >= 0.3
    finally:
        await recorder.stop()
    assert max(gaps) < 0.15, f"the loop stalled for {max(gaps):.3f} s"


async def test_entity_metadata_comes_from_the_describer(tmp_path: Path) -> None:
    bus = EventBus()
    store = SqliteHistoryStore(tmp_path / "h.sqlite")
    described: list[str] = []

    def describe(device: str) -> list[EntityInfo]:
        described.append(device)
        return [EntityInfo(device, "e1", "V", "numeric", "Output voltage")]

    recorder = Recorder.start(bus, store, flush_interval=0.02, describe=describe)
    try:
        bus.publish(SystemEvent(SystemKind.DEVICE_ADDED, "PSU", {"driver": "X"}))
        bus.publish(poll_event("PSU", 0))
        await recorder.flush()
        labels = {e.entity: e.label for e in store.entities()}
        assert described == ["PSU"] and labels["e1"] == "Output voltage" and labels["e2"] == ""
    finally:
        await recorder.stop()


async def test_options_are_checked(tmp_path: Path) -> None:
    store = SqliteHistoryStore(tmp_path / "h.sqlite")
    try:
        with pytest.raises(ValueError, match="one second"):
            Recorder(EventBus(), store, flush_interval=2.0)
        with pytest.raises(ValueError, match="batch_size"):
            Recorder(EventBus(), store, batch_size=0)
    finally:
        store.close()
