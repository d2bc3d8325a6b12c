"""The link: the one place where a transport meets a framer.

* one outstanding request per bus (a FIFO turn: free turns cost nothing, waiting ones a future),
* a per-request timeout and bounded retries (timeouts and corrupted replies are retried,
  explicit error replies are not),
* the framer's ``min_silence`` (Modbus t3.5) honoured before every write,
* received bytes go straight into the framer: from the transport's ``data_received`` when it
  offers ``set_receiver`` (serial, TCP: no reader task, no queue), else from a reader task
  (virtual, HID); message-based transports (VISA) are read on demand; the framer is woken at its
  deadlines by a loop timer,
* a trace hook ``(direction, bytes, monotonic time)`` for debugging, and counters.

A request's timeout is kept by one lazily re-armed loop timer (the watchdog) rather than a timer
per request: it fires at the earliest time a wait could end, and either ends the wait or moves to
that wait's end. A poller whose replies come in well within the timeout arms about one timer per
timeout period instead of one (plus its cancellation) per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from .errors import CRCError, FramingError, ProtocolTimeoutError, TransportClosedError, TransportError
from .framing.base import Frame, FrameError, Framer, FrameResult
from .transport._finetimer import FineTimer, fine_timer
from .transport.base import Transport

log = logging.getLogger(__name__)

TraceHook = Callable[[str, bytes, float], None]
Matcher = Callable[[Frame], bool]

_CLOSED = object()
#: How much earlier than the t3.5 deadline the timerfd is armed (the rest is yielded away).
_FINE_MARGIN = 0.0001


@dataclass(slots=True)
class LinkStats:
    requests: int = 0
    replies: int = 0
    retries: int = 0
    timeouts: int = 0
    crc_errors: int = 0
    frame_errors: int = 0
    unmatched: int = 0
    unsolicited: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    last_latency: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Link:
    def __init__(
        self,
        transport: Transport,
        framer: Framer,
        *,
        timeout: float = 1.0,
        retries: int = 1,
        trace: TraceHook | None = None,
        on_unsolicited: Callable[[Frame], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.transport = transport
        self.framer = framer
        self.timeout = timeout
        self.retries = retries
        self.trace = trace
        self.on_unsolicited = on_unsolicited
        self.clock = clock
        self.stats = LinkStats()
        self._busy = False  # a request holds the bus
        self._turns: deque[asyncio.Future[None]] = deque()  # requests waiting for it, in order
        self._items: deque[FrameResult | object] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._wait_until = 0.0  # loop time at which the current wait for an item ends
        self._watchdog: asyncio.TimerHandle | None = None
        self._reader: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._fine: FineTimer | bool | None = False  # False: not tried yet; None: not available
        self._pending = False
        self._last_activity = -1e9
        self._failure: TransportError | None = None

    # --- lifecycle --------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.transport.is_open and self._failure is None

    async def open(self) -> None:
        if self.transport.is_open and self._failure is None:
            return
        if self.transport.is_open:
            await self.close()
        self._failure = None
        self._items.clear()
        self.framer.reset()
        await self.transport.open()
        if not self.transport.streaming:
            return
        set_receiver = getattr(self.transport, "set_receiver", None)
        if set_receiver is not None:
            set_receiver(self._on_data, self._on_lost)
        else:
            self._reader = asyncio.get_running_loop().create_task(
                self._read_loop(), name=f"ionpy-link-reader:{self.transport.describe().get('type', '?')}")

    async def close(self) -> None:
        self._cancel_timer()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if isinstance(self._fine, FineTimer):
            self._fine.close()
        self._fine = False
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        await self.transport.close()
        self.framer.reset()

    async def __aenter__(self) -> Link:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- requests ---------------------------------------------------------------------------
    async def request(
        self,
        payload: bytes,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        expect_reply: bool = True,
        match: Matcher | None = None,
    ) -> Frame | None:
        """Send ``payload`` (the framer encodes it) and return the matching reply frame.

        Raises :class:`ProtocolTimeoutError`, :class:`CRCError` or :class:`FramingError` once the
        retries are used up, and :class:`TransportError` at once when the connection is lost.
        """
        timeout = self.timeout if timeout is None else timeout
        retries = self.retries if retries is None else retries
        if self._busy:
            await self._wait_turn()
        else:
            self._busy = True
        try:
            last: Exception | None = None
            for attempt in range(retries + 1):
                if attempt:
                    self.stats.retries += 1
                try:
                    return await self._exchange(payload, timeout, expect_reply, match)
                except (ProtocolTimeoutError, CRCError, FramingError) as exc:
                    last = exc
            assert last is not None
            raise last
        finally:
            self._next_turn()

    async def send(self, payload: bytes) -> None:
        """Send without waiting for a reply (commands that never answer)."""
        await self.request(payload, expect_reply=False, retries=0)

    async def _wait_turn(self) -> None:
        """Wait until the requests queued before this one are done (first come, first served)."""
        turn = asyncio.get_running_loop().create_future()
        self._turns.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # handed the bus, then cancelled: pass it on
                self._next_turn()
            raise
        finally:
            if not turn.done() or turn.cancelled():
                with contextlib.suppress(ValueError):
                    self._turns.remove(turn)

    def _next_turn(self) -> None:
        """Hand the bus to the next waiting request, or free it."""
        turns = self._turns
        while turns:
            turn = turns.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._busy = False

    async def _exchange(self, payload: bytes, timeout: float, expect_reply: bool,
                        match: Matcher | None) -> Frame | None:
        if self._failure is not None or not self.transport.is_open:
            self._raise_if_failed()
        silence = getattr(self.framer, "min_silence", 0.0)
        if silence > 0 and self._last_activity + silence > self.clock():
            await self._honour_silence()
        if self._items:
            self._drain_stale()
        wire = self.framer.encode(payload)
        started = self.clock()
        stats = self.stats
        stats.requests += 1
        self._pending = expect_reply
        try:
            if self.trace is not None:
                self._trace("tx", wire, started)
            await self.transport.write(wire)
            stats.bytes_out += len(wire)
            self._last_activity = self.clock()
            if not expect_reply:
                return None
            frame = await self._await_reply(started, timeout, match, wire)
            stats.replies += 1
            stats.last_latency = self.clock() - started
            return frame
        except TransportError as exc:
            self._failure = exc
            raise
        finally:
            self._pending = False

    async def _await_reply(self, started: float, timeout: float, match: Matcher | None, wire: bytes) -> Frame:
        deadline = started + timeout
        seen_error: FrameError | None = None
        items = self._items
        while True:
            remaining = deadline - self.clock()
            if remaining <= 0:
                self.stats.timeouts += 1
                if seen_error is not None:
                    raise FramingError(f"no valid reply: {seen_error.kind} ({seen_error.detail})",
                                       sent=wire, received=seen_error.raw)
                raise ProtocolTimeoutError(f"no reply within {timeout:.3g} s", sent=wire)
            if items:
                item = items.popleft()
            elif self.transport.streaming:  # wait here (no nested coroutine: this runs every request)
                self._waiter = waiter = self._start_wait(remaining)
                try:
                    await waiter
                finally:
                    self._waiter = None
                if not items:
                    continue
                item = items.popleft()
            else:
                item = await self._read_on_demand(remaining)
                if item is None:
                    continue
            if item is _CLOSED:
                self._raise_if_failed()
                raise TransportClosedError("connection closed while waiting for a reply")
            if isinstance(item, FrameError):
                if item.kind in ("crc", "checksum"):
                    self.stats.crc_errors += 1
                    raise CRCError(f"reply failed its {item.kind} check: {item.detail}",
                                   sent=wire, received=item.raw)
                self.stats.frame_errors += 1
                seen_error = item
                continue
            assert isinstance(item, Frame)
            if match is not None and not match(item):
                self.stats.unmatched += 1
                continue
            return item

    def _start_wait(self, remaining: float) -> asyncio.Future[None]:
        """A future that received items (or the watchdog, after ``remaining`` seconds) complete."""
        loop = asyncio.get_running_loop()
        self._wait_until = until = loop.time() + remaining
        watchdog = self._watchdog
        if watchdog is None or watchdog.when() > until:
            if watchdog is not None:
                watchdog.cancel()
            self._watchdog = loop.call_at(until, self._on_watchdog)
        return loop.create_future()

    def _on_watchdog(self) -> None:
        """End the current wait if its time is up; else fire again when it is. Idle without one."""
        self._watchdog = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        loop = waiter.get_loop()
        if loop.time() >= self._wait_until:
            waiter.set_result(None)
        else:
            self._watchdog = loop.call_at(self._wait_until, self._on_watchdog)

    async def _read_on_demand(self, remaining: float) -> FrameResult | object | None:
        """Message-based transports (VISA): read only while a reply is awaited."""
        try:
            async with asyncio.timeout(remaining):
                data = await self.transport.read()
        except TimeoutError:
            return None
        self._items.extend(self._feed(data))
        deadline = self.framer.next_deadline()
        if deadline is not None and not self._items:
            await asyncio.sleep(max(0.0, deadline - self.clock()))
            self._items.extend(self.framer.poll(self.clock()))
        return self._items.popleft() if self._items else None

    # --- reader -----------------------------------------------------------------------------
    def _on_data(self, data: bytes) -> None:
        """Bytes from the transport's ``data_received`` (callback mode)."""
        now = self.clock()
        self.stats.bytes_in += len(data)
        self._last_activity = now
        if self.trace is not None:
            self._trace("rx", data, now)
        results = self.framer.feed(data, now)
        if results:
            self._dispatch(results)
        if self._timer is not None or self.framer.next_deadline() is not None:
            self._arm_deadline()

    def _on_lost(self, exc: TransportError) -> None:
        self._failure = exc
        log.debug("link lost its transport: %s", exc)
        self._put(_CLOSED)

    def _arm_deadline(self) -> None:
        self._cancel_timer()
        deadline = self.framer.next_deadline()
        if deadline is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(loop.time() + max(0.0, deadline - self.clock()), self._on_deadline)

    def _on_deadline(self) -> None:
        self._timer = None
        self._dispatch(self.framer.poll(self.clock()))
        self._arm_deadline()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _read_loop(self) -> None:
        """Reader task for streaming transports without ``set_receiver``."""
        try:
            while True:
                deadline = self.framer.next_deadline()
                if deadline is None:
                    data = await self.transport.read()
                else:
                    try:
                        async with asyncio.timeout(max(deadline - self.clock(), 0.0)):
                            data = await self.transport.read()
                    except TimeoutError:
                        self._dispatch(self.framer.poll(self.clock()))
                        continue
                self._dispatch(self._feed(data))
        except TransportError as exc:
            self._on_lost(exc)

    def _feed(self, data: bytes) -> list[FrameResult]:
        now = self.clock()
        self.stats.bytes_in += len(data)
        self._last_activity = now
        if self.trace is not None:
            self._trace("rx", data, now)
        return self.framer.feed(data, now)

    def _dispatch(self, results: list[FrameResult]) -> None:
        if self._pending and results:
            self._items.extend(results)
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return
        for result in results:
            if isinstance(result, Frame):
                self.stats.unsolicited += 1
                if self.on_unsolicited is not None:
                    try:
                        self.on_unsolicited(result)
                    except Exception:  # a callback must never kill the reader
                        log.exception("on_unsolicited callback failed")
            else:
                self.stats.frame_errors += 1

    # --- helpers ----------------------------------------------------------------------------
    def _put(self, item: FrameResult | object) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _drain_stale(self) -> None:
        closed = _CLOSED in self._items
        self._items.clear()
        if closed:
            self._items.append(_CLOSED)

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure
        if not self.transport.is_open:
            raise TransportClosedError("link is not open", hint="Connect the device first.")

    async def _honour_silence(self) -> None:
        """Wait until the bus has been silent for the framer's ``min_silence`` (Modbus t3.5).

        ``asyncio.sleep`` ends in ``epoll_wait`` with its timeout rounded up to whole milliseconds
        (a 3.65 ms t3.5 would become 4-4.7 ms). On Linux a ``timerfd`` wakes the loop
        ``_FINE_MARGIN`` before the deadline (its wake-up is ~0.1 ms late); elsewhere, or with an
        injected clock, sleep the whole milliseconds below it. Then yield to the loop for the rest:
        a few turns after the timerfd, about a hundred after a whole-millisecond sleep. Only
        back-to-back requests wait at all."""
        silence = getattr(self.framer, "min_silence", 0.0)
        if silence <= 0:
            return
        deadline = self._last_activity + silence
        wait = deadline - self.clock()
        if wait <= 0:
            return
        if self._fine is False:
            self._fine = fine_timer() if self.clock is time.monotonic else None
        if isinstance(self._fine, FineTimer):
            await self._fine.sleep_until(deadline - _FINE_MARGIN)
        elif wait >= 0.001:
            await asyncio.sleep(math.floor(wait * 1000) / 1000)
        give_up = time.monotonic() + wait  # bounded even if an injected clock stands still
        while self.clock() < deadline and time.monotonic() < give_up:  # noqa: ASYNC110 - sub-ms wait
            await asyncio.sleep(0)

    def _trace(self, direction: str, data: bytes, when: float) -> None:
        if self.trace is None:  # callers check first; kept for the odd direct call
            return
        try:
            self.trace(direction, data, when)
        except Exception:
            log.exception("trace hook failed")
