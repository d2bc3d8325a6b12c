"""The history recorder: every reading and every system/alarm event of a lab, into a history store.

It subscribes to the bus with an *unbounded* queue (the bus's lossless path: readings are
batched, never dropped) and writes from a task of its own:

* every ``flush_interval`` seconds (0.25 s by default) it takes everything queued and hands it to
  a single worker thread, which converts it and commits it in transactions of about
  ``batch_size`` samples. The loop only moves a list; SQLite never runs on the loop's thread.
* while a write is in progress, new events keep queuing; the next flush starts as soon as the
  previous one has committed when more than an interval has passed.
* a write that fails (disk full) keeps its events in a backlog that is written first next time.
* a killed process loses at most what was published since the last commit: about one interval
  plus one write (well under a second); :meth:`Recorder.stop` writes everything (nothing lost).

``stats()`` counts samples received from the bus and samples stored; after a clean stop they are
equal, and ``received_events`` equals what the bus published while the recorder was subscribed.
(Not to be confused with :mod:`.journal_recorder`, which feeds the engine's write journal.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from typing import Any, TypeVar

from .bus import EventBus, Subscription
from .events import Event, ReadingEvent, SystemKind
from .storage import EntityInfo, EventRecord, HistoryStore

log = logging.getLogger(__name__)
T = TypeVar("T")

#: ``describe(device_id) -> entity metadata`` — supplied by the lab from the drivers' tables.
Describer = Callable[[str], Iterable[EntityInfo]]


class Recorder:
    """Record everything published on ``bus`` into ``store`` (see the module docstring).

    Create it with :meth:`start` (subscribes at once, so nothing published afterwards is missed);
    ``await recorder.flush()`` commits what was published so far; ``await recorder.stop()``
    commits everything and closes the store.
    """

    def __init__(self, bus: EventBus, store: HistoryStore, *, flush_interval: float = 0.25,
                 batch_size: int = 50_000, describe: Describer | None = None, close_store: bool = True) -> None:
        if not 0 < flush_interval <= 0.5:
            raise ValueError("flush_interval must be in (0, 0.5] seconds: at most one second of data may be at risk")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.bus = bus
        self.store = store
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.describe = describe
        self.close_store = close_store
        self.started_at = time.time()
        self.received_samples = 0
        self.received_events = 0
        self.stored_samples = 0
        self.stored_events = 0
        self.batches = 0
        self.write_seconds = 0.0
        self.max_write_seconds = 0.0
        self.last_commit: float | None = None
        self.error: BaseException | None = None
        self._sub: Subscription = bus.subscribe(maxsize=0, name="ionpy-history-recorder")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ionpy-recorder")
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._backlog: list[Event] = []
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    def start(cls, bus: EventBus, store: HistoryStore, **options: Any) -> Recorder:
        """Subscribe to ``bus`` and start the writer task (needs a running loop)."""
        recorder = cls(bus, store, **options)
        recorder._task = asyncio.get_running_loop().create_task(recorder._run(), name="ionpy-history-recorder")
        return recorder

    # --- the writer task --------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            started = loop.time()
            await self._flush_queued()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, started + self.flush_interval - loop.time())):
                    await self._wake.wait()
            self._wake.clear()
        await self._flush_queued()

    async def _flush_queued(self) -> None:
        """Take every queued event and commit it (in the worker thread). Events whose write failed
        stay in a backlog and are written first next time: nothing is ever dropped."""
        async with self._lock:
            events = self._sub.drain() if not self._sub.closed else []
            if events:
                self.received_events += len(events)
                self.received_samples += sum(len(e.readings) for e in events if isinstance(e, ReadingEvent))
                self._backlog.extend(events)
            if not self._backlog:
                return
            infos = self._infos(events)
            batch, self._backlog = self._backlog, []
            loop = asyncio.get_running_loop()
            done, samples, stored_events, seconds, error = await asyncio.shield(
                loop.run_in_executor(self._executor, self._write, batch, infos))
            self._backlog = batch[done:] + self._backlog
            self.stored_samples += samples
            self.stored_events += stored_events
            self.write_seconds += seconds
            self.max_write_seconds = max(self.max_write_seconds, seconds)
            if done:
                self.last_commit = time.time()
            if error is not None:  # keep recording; retried on the next flush, visible in stats()
                if self.error is None:
                    log.error("recorder: writing to %s failed (%s); %d event(s) kept for the next attempt",
                              self.store.location, error, len(self._backlog))
                self.error = error

    def _infos(self, events: Sequence[Event]) -> list[EntityInfo]:
        """Entity metadata of devices that were added or identified in this batch (on the loop:
        the drivers' tables are only touched from the loop's thread)."""
        if self.describe is None:
            return []
        infos: list[EntityInfo] = []
        for event in events:
            if event.category == "system" and event.kind in (SystemKind.DEVICE_ADDED, SystemKind.DEVICE_UPDATED):
                try:
                    infos.extend(self.describe(event.device))
                except Exception as exc:  # metadata is a nicety; never lose samples over it
                    log.debug("recorder: no entity metadata for %s: %s", event.device, exc)
        return infos

    def _write(self, events: list[Event], infos: list[EntityInfo]) -> tuple[int, int, int, float, Exception | None]:
        """Runs in the worker thread: commit ``events`` in transactions of about ``batch_size``
        samples. Returns (events committed, samples stored, other events stored, seconds, error)."""
        started = time.perf_counter()
        done = samples = others = 0
        error: Exception | None = None
        try:
            while done < len(events):
                end, size = done, 0
                while end < len(events) and (end == done or size < self.batch_size):
                    event = events[end]
                    size += len(event.readings) if isinstance(event, ReadingEvent) else 1
                    end += 1
                chunk = events[done:end]
                records = [EventRecord.from_event(e) for e in chunk if not isinstance(e, ReadingEvent)]
                samples += self.store.write_batch(
                    chain.from_iterable(e.readings for e in chunk if isinstance(e, ReadingEvent)), records)
                others += len(records)
                done = end
                self.batches += 1
        except Exception as exc:
            error = exc
        if infos:
            try:
                self.store.describe(infos)
            except Exception as exc:
                log.debug("recorder: entity metadata not stored: %s", exc)
        return done, samples, others, time.perf_counter() - started, error

    # --- control ----------------------------------------------------------------------------
    async def flush(self) -> None:
        """Commit everything published before this call."""
        if not self._closed:
            await self._flush_queued()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the writer thread, after the writes queued before it (run bookkeeping)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def stop(self) -> None:
        """Commit everything queued, stop the task, close the subscription (and the store). Idempotent."""
        if self._closed:
            return
        self._stopping = True
        self._wake.set()
        try:
            if self._task is not None:
                await asyncio.shield(self._task)
            else:
                await self._flush_queued()
        finally:
            self._closed = True
            self._sub.close()
            if self._backlog:
                log.error("recorder: %d event(s) could not be written to %s: %s", len(self._backlog),
                          self.store.location, self.error)
            if self.close_store:
                await asyncio.get_running_loop().run_in_executor(self._executor, self.store.close)
            self._executor.shutdown(wait=False)

    @property
    def running(self) -> bool:
        return not self._closed

    def stats(self) -> dict[str, Any]:
        """Counters: samples/events received from the bus and stored, batches, write times, errors."""
        return {
            "location": self.store.location, "running": self.running,
            "received_samples": self.received_samples, "stored_samples": self.stored_samples,
            "received_events": self.received_events, "stored_events": self.stored_events,
            "pending_events": (self._sub.qsize() if not self._sub.closed else 0) + len(self._backlog),
            "batches": self.batches, "write_seconds": round(self.write_seconds, 4),
            "max_write_seconds": round(self.max_write_seconds, 4), "last_commit": self.last_commit,
            "error": None if self.error is None else str(self.error),
        }

    def __repr__(self) -> str:
        state = "recording" if self.running else "stopped"
        return f"<Recorder {self.store.location} {state}: {self.stored_samples:,} samples stored>"


__all__ = ["Describer", "Recorder"]
