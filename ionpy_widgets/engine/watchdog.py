"""The loop-lag watchdog: makes a blocked event loop visible.

Everything in the engine shares the notebook kernel's event loop, so a cell that blocks
(``time.sleep(5)``, a long computation) pauses every poller. The watchdog sleeps ``interval``
seconds at a time and measures how late it wakes up; a lateness above ``threshold`` is recorded
in :attr:`LoopWatchdog.stalls` as ``(start_time, duration)`` (wall clock) and published as a
``loop_stall`` system event, so widgets can say "polling was paused for 4.8 s".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from .bus import EventBus
from .events import SystemEvent, SystemKind

log = logging.getLogger(__name__)


class LoopWatchdog:
    def __init__(self, bus: EventBus, *, interval: float = 0.1, threshold: float = 0.5,
                 max_records: int = 1000) -> None:
        if interval <= 0 or threshold <= 0:
            raise ValueError("interval and threshold must be positive")
        self.bus = bus
        self.interval = interval
        self.threshold = threshold
        self.max_records = max_records
        #: ``(start_time, duration)`` of every stall, oldest first (wall-clock seconds).
        self.stalls: list[tuple[float, float]] = []
        #: Largest lag seen (seconds), stalls or not.
        self.max_lag = 0.0
        self.last_lag = 0.0
        #: Measurements taken so far.
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ionpy-loop-watchdog")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval)
            lag = max(0.0, loop.time() - before - self.interval)
            self.record(lag)

    def record(self, lag: float) -> None:
        """Account one lag measurement (public so tests and other clocks can feed it)."""
        self.samples += 1
        self.last_lag = lag
        self.max_lag = max(self.max_lag, lag)
        if lag <= self.threshold:
            return
        started = time.time() - lag
        self.stalls.append((started, lag))
        del self.stalls[:-self.max_records]
        log.warning("the event loop was blocked for %.1f s: polling was paused", lag)
        self.bus.publish(SystemEvent(SystemKind.LOOP_STALL, "", {"started": started, "duration": round(lag, 3)}))


__all__ = ["LoopWatchdog"]
