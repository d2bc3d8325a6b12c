"""Poll scheduling, poll statistics and error normalisation for the device supervisor.

Scheduling is drift-free: tick ``k`` is due at ``start + k * interval``. A poll that overruns
does not cause a burst of catch-up polls: the missed ticks are skipped (and counted) and the next
poll waits for the next tick still in the future. An extra poll requested with ``poll_now`` runs
at once and leaves the schedule as it was.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..errors import DeviceError, IonpyError, ProtocolError, ProtocolTimeoutError, TransportError

#: How many recent poll completion times the rate estimate uses.
RATE_WINDOW = 20


@dataclass(slots=True)
class PollStats:
    polls: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    #: Ticks skipped because a poll overran its interval.
    skipped_ticks: int = 0
    #: Successful connects (the first one included).
    connects: int = 0
    #: Times the device went unavailable.
    outages: int = 0
    last_poll: float | None = None
    last_duration: float = 0.0
    _times: deque[float] = field(default_factory=lambda: deque(maxlen=RATE_WINDOW))

    def record_success(self, started: float, finished: float) -> None:
        self.polls += 1
        self.consecutive_failures = 0
        self.last_poll = time.time()
        self.last_duration = finished - started
        self._times.append(finished)

    def record_failure(self) -> None:
        self.failures += 1
        self.consecutive_failures += 1

    def reset_rate(self) -> None:
        """Forget the rate window (after an outage the rate restarts from the recovered polls)."""
        self._times.clear()

    @property
    def rate(self) -> float:
        """Successful polls per second over the last few polls (0 until two polls are known)."""
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"polls": self.polls, "failures": self.failures, "consecutive_failures": self.consecutive_failures,
                "skipped_ticks": self.skipped_ticks, "connects": self.connects, "outages": self.outages,
                "rate": round(self.rate, 3), "last_poll": self.last_poll,
                "last_duration": round(self.last_duration, 6)}


class Schedule:
    """Drift-free ticks ``start + k * interval`` that skip ticks a slow poll has missed."""

    def __init__(self, interval: float, start: float) -> None:
        self.interval = interval
        self.start = start
        self.tick = 0
        self.skipped = 0

    @property
    def deadline(self) -> float:
        return self.start + self.tick * self.interval

    def advance(self, now: float) -> int:
        """Move to the first tick after ``now``; returns how many ticks were skipped."""
        nxt = max(self.tick + 1, math.floor((now - self.start) / self.interval) + 1)
        skipped = nxt - self.tick - 1
        self.tick = nxt
        self.skipped += skipped
        return skipped


class Waker:
    """An interruptible sleep until a loop-time deadline (no helper task per sleep)."""

    def __init__(self) -> None:
        self._future: asyncio.Future[bool] | None = None
        self._pending = False

    def wake(self) -> None:
        """Interrupt the current sleep, or make the next one return at once."""
        if self._future is not None and not self._future.done():
            self._future.set_result(True)
        else:
            self._pending = True

    async def sleep_until(self, deadline: float) -> bool:
        """Sleep until ``deadline`` (loop time); True if woken early by :meth:`wake`."""
        loop = asyncio.get_running_loop()
        if self._pending:
            self._pending = False
            return deadline > loop.time()
        if deadline <= loop.time():
            return False
        future: asyncio.Future[bool] = loop.create_future()
        handle = loop.call_at(deadline, _resolve, future, False)
        self._future = future
        try:
            return await future
        finally:
            handle.cancel()
            self._future = None


def _resolve(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


def normalise_error(exc: BaseException, device_id: str, driver_name: str) -> IonpyError:
    """Every failure as an :class:`IonpyError` (for ``last_error.to_dict()`` and events)."""
    if isinstance(exc, IonpyError):
        return exc
    if isinstance(exc, TimeoutError):
        return ProtocolTimeoutError(f"{device_id}: the operation timed out", device=device_id)
    if isinstance(exc, OSError):
        return TransportError(f"{device_id}: {exc.strerror or exc}", device=device_id, errno=exc.errno,
                              hint="Check the cable and that the port or host is reachable.")
    if isinstance(exc, ValueError | IndexError | KeyError | TypeError | ArithmeticError):
        return ProtocolError(f"{device_id}: driver {driver_name} could not decode the reply ({type(exc).__name__}: "
                             f"{exc})", device=device_id,
                             hint="The instrument sent bytes the driver did not expect: check the model, "
                                  "address and firmware; the engine keeps polling.")
    return DeviceError(f"{device_id}: {type(exc).__name__}: {exc}", device=device_id,
                       hint="Unexpected driver failure; the engine retries. Report it if it persists.")


def is_connection_loss(exc: BaseException) -> bool:
    """True when the link is gone (reconnect at once) rather than one poll having failed."""
    return isinstance(exc, TransportError | OSError) and not isinstance(exc, TimeoutError)


__all__ = ["PollStats", "Schedule", "Waker", "is_connection_loss", "normalise_error"]
