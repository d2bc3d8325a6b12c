"""The event bus: synchronous, non-blocking publish; per-subscriber bounded queues.

Policy per event category (see :mod:`.events`):

* readings — each subscriber holds at most ``maxsize`` of them; when full, the *oldest* reading
  is dropped and counted (``subscription.dropped``, ``bus.stats()``). A slow widget therefore
  shows the newest data and never slows a poller down.
* system and alarm events — never dropped: they go to an unbounded side queue. They are rare
  (state changes), so the side queue stays small unless a subscriber stops reading entirely.

Events come out of a subscription in publish order (both queues carry a sequence number).
``publish`` must be called from the event loop's thread (the engine always does).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..errors import ConfigValidationError, IonpyError
from .events import LOSSLESS_CATEGORIES, AlarmEvent, Event, ReadingEvent, SystemEvent, SystemKind

log = logging.getLogger(__name__)

#: Names accepted by ``kinds=``: the categories and every system event kind.
KNOWN_KINDS = frozenset({ReadingEvent.category, SystemEvent.category, AlarmEvent.category} | set(SystemKind))


class SubscriptionClosedError(IonpyError):
    code = "subscription_closed"
    default_hint = "The subscription was closed (or the lab stopped); subscribe again to receive events."


def _check_kinds(kinds: Iterable[str] | None) -> frozenset[str] | None:
    if kinds is None:
        return None
    chosen = frozenset(str(k) for k in ([kinds] if isinstance(kinds, str) else kinds))
    unknown = sorted(chosen - KNOWN_KINDS)
    if unknown:
        raise ConfigValidationError(f"unknown event kind(s) {', '.join(unknown)}", path="kinds",
                                    hint=f"Choose from: {', '.join(sorted(KNOWN_KINDS))}.")
    return chosen


class Subscription:
    """One subscriber's queue. Use ``async for event in sub``, ``await sub.get()`` or
    ``sub.get_nowait()``; ``close()`` ends iteration and detaches from the bus."""

    def __init__(self, bus: EventBus, *, maxsize: int, kinds: Iterable[str] | None,
                 devices: Iterable[str] | None, name: str) -> None:
        if maxsize < 0:
            raise ConfigValidationError("maxsize must be >= 0", path="maxsize", hint="0 means unbounded.")
        self.name = name
        self.maxsize = maxsize
        self.kinds = _check_kinds(kinds)
        self.devices = None if devices is None else frozenset([devices] if isinstance(devices, str) else devices)
        self.dropped = 0
        self.delivered = 0
        self._bus: EventBus | None = bus
        self._readings: deque[tuple[int, Event]] = deque()
        self._lossless: deque[tuple[int, Event]] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    # --- bus side ---------------------------------------------------------------------------
    def matches(self, event: Event) -> bool:
        if self.kinds is not None and event.category not in self.kinds and str(event.kind) not in self.kinds:
            return False
        return self.devices is None or not event.device or event.device in self.devices

    def _offer(self, seq: int, event: Event) -> int:
        """Queue one event; returns how many readings were dropped to make room."""
        dropped = 0
        if event.category in LOSSLESS_CATEGORIES:
            self._lossless.append((seq, event))
        else:
            if self.maxsize and len(self._readings) >= self.maxsize:
                self._readings.popleft()
                dropped = 1
                self.dropped += 1
            self._readings.append((seq, event))
        self._wake_one()
        return dropped

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    # --- consumer side ----------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def qsize(self) -> int:
        return len(self._readings) + len(self._lossless)

    def empty(self) -> bool:
        return not self._readings and not self._lossless

    def get_nowait(self) -> Event:
        """The next event; raises ``asyncio.QueueEmpty`` when none is queued."""
        if self._closed:
            raise SubscriptionClosedError(f"subscription {self.name!r} is closed")
        if not self._readings and not self._lossless:
            raise asyncio.QueueEmpty
        if not self._lossless or (self._readings and self._readings[0][0] < self._lossless[0][0]):
            _, event = self._readings.popleft()
        else:
            _, event = self._lossless.popleft()
        self.delivered += 1
        return event

    async def get(self) -> Event:
        """Wait for the next event; raises :class:`SubscriptionClosedError` once closed."""
        while True:
            with contextlib.suppress(asyncio.QueueEmpty):
                return self.get_nowait()
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if not waiter.done():
                    waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    def drain(self) -> list[Event]:
        """Every queued event, without waiting."""
        out: list[Event] = []
        while not self._closed and not self.empty():
            out.append(self.get_nowait())
        return out

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.get()
        except SubscriptionClosedError:
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Detach from the bus, discard queued events and wake every waiting ``get``."""
        if self._closed:
            return
        self._closed = True
        if self._bus is not None:
            self._bus._detach(self)
            self._bus = None
        self._readings.clear()
        self._lossless.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, Any]:
        return {"name": self.name, "maxsize": self.maxsize, "pending": self.qsize(), "dropped": self.dropped,
                "delivered": self.delivered, "closed": self._closed}

    def __repr__(self) -> str:
        return f"<Subscription {self.name!r} pending={self.qsize()} dropped={self.dropped}>"


Callback = Callable[[Event], Awaitable[None] | None]


class CallbackSubscription:
    """Runs ``fn(event)`` (sync or async) for every event in its own task, so a slow callback only
    ever delays itself. Exceptions are logged and counted, never propagated to the publisher."""

    def __init__(self, subscription: Subscription, fn: Callback) -> None:
        self.subscription = subscription
        self.fn = fn
        self.errors = 0
        self.last_error: BaseException | None = None
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"ionpy-bus-callback:{subscription.name}")

    async def _run(self) -> None:
        async for event in self.subscription:
            try:
                result = self.fn(event)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                self.errors += 1
                self.last_error = exc
                if self.errors == 1:
                    log.exception("bus callback %s failed (further failures are only counted)",
                                  self.subscription.name)

    @property
    def dropped(self) -> int:
        return self.subscription.dropped

    def close(self) -> None:
        """Stop delivering; the callback task ends on the next loop turn."""
        self.subscription.close()
        if not self._task.done():
            self._task.cancel()

    async def aclose(self) -> None:
        """Close and wait until the callback task has finished."""
        self.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._seq = itertools.count()
        self.published: dict[str, int] = {"reading": 0, "system": 0, "alarm": 0}
        self.dropped = 0

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to every matching subscriber. Synchronous, O(subscribers), never waits."""
        seq = next(self._seq)
        self.published[event.category] = self.published.get(event.category, 0) + 1
        for sub in tuple(self._subs):
            if sub.matches(event):
                self.dropped += sub._offer(seq, event)

    def subscribe(self, *, maxsize: int = 1000, kinds: Iterable[str] | None = None,
                  devices: Iterable[str] | None = None, name: str = "") -> Subscription:
        """A new subscription. ``kinds``: categories (``reading``/``system``/``alarm``) and/or system
        kinds (``availability``...); ``devices``: device ids (lab-wide events always pass);
        ``maxsize``: readings kept before the oldest is dropped (0 = unbounded)."""
        sub = Subscription(self, maxsize=maxsize, kinds=kinds, devices=devices,
                           name=name or f"sub-{len(self._subs) + 1}")
        self._subs.append(sub)
        return sub

    def subscribe_callback(self, fn: Callback, *, maxsize: int = 1000, kinds: Iterable[str] | None = None,
                           devices: Iterable[str] | None = None, name: str = "") -> CallbackSubscription:
        """Call ``fn(event)`` for every matching event from a task of its own (needs a running loop)."""
        label = name or getattr(fn, "__qualname__", "callback")
        return CallbackSubscription(self.subscribe(maxsize=maxsize, kinds=kinds, devices=devices, name=label), fn)

    def _detach(self, sub: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self._subs.remove(sub)

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return tuple(self._subs)

    def close(self) -> None:
        """Close every subscription (their iterators end)."""
        for sub in tuple(self._subs):
            sub.close()

    def stats(self) -> dict[str, Any]:
        return {"published": dict(self.published), "dropped": self.dropped,
                "subscribers": [s.stats() for s in self._subs]}


__all__ = ["CallbackSubscription", "EventBus", "Subscription", "SubscriptionClosedError"]
