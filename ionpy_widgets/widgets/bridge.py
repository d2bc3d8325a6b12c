"""Engine → widget bridge: take events off the bus as they come, push to the browser at most
``rate_hz`` times a second, batched.

A browser redraws a chart a few dozen times a second at best and the Jupyter server silently
drops iopub messages above about a thousand a second, so widgets never push per event. Instead:

* every event is handed at once to the *event handlers* (``bridge.on_event(fn)``), which update
  Python-side state (ring buffers, last values) and return the *keys* of what changed;
* changed keys accumulate in a :class:`Throttle`; on the next tick (at most ``rate_hz`` per
  second) every *flush callback* (``bridge.add_flush(fn, widgets=...)``) whose keys intersect is
  called once with the set of changed keys, inside ``hold_sync()`` of its widgets, so each widget
  sends one comm message per tick however many traits changed;
* nothing is pushed on a tick with no change.

One task per bridge, on the loop that starts it (the kernel's own loop in a notebook). The device
manager, control panels and the live chart all use the same mechanism::

    bridge = WidgetBridge(lab, rate_hz=10, kinds=("reading", "availability"))
    bridge.on_event(lambda ev: ev.device if ev.category == "reading" else None)
    bridge.add_flush(lambda changed: panel.refresh(changed), widgets=[panel])
    bridge.start()
    ...
    bridge.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from ..engine.bus import Subscription, SubscriptionClosedError
from ..engine.events import Event
from ..errors import ConfigValidationError, IonpyError

log = logging.getLogger(__name__)

#: Marked (and flushed) once when the lab stops and the bus closes the subscription.
BUS_CLOSED = "bus_closed"
#: What ``mark()`` without keys marks.
ANY = "*"

EventHandler = Callable[[Event], Iterable[str] | str | None]
FlushCallback = Callable[[frozenset[str]], None]
Startup = Callable[[], Awaitable[None] | None]


class WidgetLoopError(IonpyError):
    code = "widget_no_event_loop"
    default_hint = ("Create live widgets in a notebook cell or inside a coroutine: they run on the "
                    "kernel's event loop, next to the lab.")


class Subscribable(Protocol):
    """A :class:`~ionpy_widgets.engine.lab.Lab` or an :class:`~ionpy_widgets.engine.bus.EventBus`."""

    def subscribe(self, *, maxsize: int = ..., kinds: Iterable[str] | None = ...,
                  devices: Iterable[str] | None = ..., name: str = ...) -> Subscription: ...


class SyncHolder(Protocol):
    def hold_sync(self) -> contextlib.AbstractContextManager[Any]: ...


def check_rate(rate_hz: Any, path: str = "rate_hz") -> float:
    """``rate_hz`` as a float in (0, 60], or :class:`ConfigValidationError`."""
    ok = isinstance(rate_hz, int | float) and not isinstance(rate_hz, bool) and 0 < rate_hz <= 60
    if not ok:
        raise ConfigValidationError(f"must be a number of pushes per second in (0, 60], got {rate_hz!r}", path=path,
                                    hint="Browsers redraw a chart a few dozen times a second at best; 10 is plenty.")
    return float(rate_hz)


class Throttle:
    """Coalesces marked keys and says when they may be pushed: at most once per ``1 / rate_hz``
    seconds, never when nothing is marked. Sans-IO: the caller passes ``now`` (any monotonic clock)."""

    def __init__(self, rate_hz: float = 10.0) -> None:
        self.period = 1.0 / check_rate(rate_hz)
        self._pending: set[str] = set()
        self._next = -float("inf")
        #: Takes so far (each is one push).
        self.count = 0

    @property
    def pending(self) -> frozenset[str]:
        return frozenset(self._pending)

    def mark(self, *keys: str) -> None:
        self._pending.update(keys or (ANY,))

    def due(self, now: float) -> bool:
        return bool(self._pending) and now >= self._next

    def wait_time(self, now: float) -> float:
        """Seconds until a push would be allowed (0 if allowed now)."""
        return max(0.0, self._next - now)

    def take(self, now: float) -> frozenset[str]:
        """The marked keys (cleared); the next push is allowed one period from ``now``."""
        keys = frozenset(self._pending)
        self._pending.clear()
        self._next = now + self.period
        self.count += 1
        return keys


@dataclass(eq=False)
class _Flush:
    fn: FlushCallback
    widgets: tuple[SyncHolder, ...]
    keys: frozenset[str] | None


class WidgetBridge:
    """Bus subscription + throttle + one task: see the module docstring.

    ``source`` is a lab (or its bus); ``kinds``/``devices``/``maxsize`` go to its ``subscribe``
    (readings beyond ``maxsize`` per tick drop the oldest and are counted in ``stats()``).
    """

    def __init__(self, source: Subscribable, *, rate_hz: float = 10.0, kinds: Iterable[str] | None = None,
                 devices: Iterable[str] | None = None, maxsize: int = 10_000, name: str = "widget-bridge") -> None:
        self.source = source
        self.name = name
        self.throttle = Throttle(rate_hz)
        self.kinds = None if kinds is None else tuple(kinds)
        self.devices = None if devices is None else tuple(devices)
        self.maxsize = maxsize
        self.events = 0
        self.errors = 0
        self.last_error: BaseException | None = None
        self.last_push: float | None = None
        self._handlers: list[EventHandler] = []
        self._flushes: list[_Flush] = []
        self._startup: list[Startup] = []
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def rate_hz(self) -> float:
        return 1.0 / self.throttle.period

    @property
    def pushes(self) -> int:
        return self.throttle.count

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # --- wiring -----------------------------------------------------------------------------
    def on_event(self, fn: EventHandler) -> EventHandler:
        """Call ``fn(event)`` for every event received; it returns the changed keys (a str, an
        iterable of str, or None). Usable as a decorator."""
        self._handlers.append(fn)
        return fn

    def add_flush(self, fn: FlushCallback, *, widgets: Iterable[SyncHolder] = (),
                  keys: Collection[str] | None = None) -> FlushCallback:
        """On each push, call ``fn(changed_keys)`` inside ``hold_sync()`` of ``widgets``; with
        ``keys``, only when one of them changed."""
        self._flushes.append(_Flush(fn, tuple(widgets), None if keys is None else frozenset(keys)))
        return fn

    def remove_flush(self, fn: FlushCallback) -> None:
        self._flushes = [f for f in self._flushes if f.fn is not fn]

    def add_startup(self, fn: Startup) -> None:
        """Run ``fn()`` (sync or async) once, inside the bridge's task, before its next tick."""
        self._startup.append(fn)

    def mark(self, *keys: str) -> None:
        """Say that something changed outside the bus (a button, a setting): pushed on the next tick."""
        self.throttle.mark(*keys)

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> WidgetBridge:
        """Subscribe and start the task on the running loop (idempotent)."""
        if self._closed:
            raise WidgetLoopError(f"bridge {self.name!r} is closed", hint="Create a new widget.")
        if self.running:
            return self
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise WidgetLoopError(f"{self.name}: no running event loop") from None
        if self._sub is None:
            self._sub = self.source.subscribe(maxsize=self.maxsize, kinds=self.kinds, devices=self.devices,
                                              name=self.name)
        self._task = loop.create_task(self._run(), name=f"ionpy-bridge:{self.name}")
        return self

    def close(self) -> None:
        """Stop the task and unsubscribe (the task ends on the next loop turn). Idempotent."""
        self._closed = True
        if self._sub is not None:
            self._sub.close()
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def aclose(self) -> None:
        """Close and wait until the task has ended."""
        self.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # --- the task ---------------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            while self._startup:
                await self._call_startup(self._startup.pop(0))
            open_ = self.drain()
            now = loop.time()
            if self.throttle.due(now):
                self._push(self.throttle.take(now))
            if not open_:
                if self.throttle.pending:  # the final push after the lab stopped is never held back
                    self._push(self.throttle.take(now))
                return
            next_tick = max(next_tick + self.throttle.period, now)
            await asyncio.sleep(max(next_tick - now, self.throttle.wait_time(now)))

    async def _call_startup(self, fn: Startup) -> None:
        try:
            result = fn()
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            self._failed(exc, "startup")

    def drain(self) -> bool:
        """Hand every queued event to the handlers now; False once the subscription is closed."""
        sub = self._sub
        if sub is None:
            return False
        while True:
            try:
                event = sub.get_nowait()
            except asyncio.QueueEmpty:
                return True
            except SubscriptionClosedError:
                if not self._closed:
                    self.throttle.mark(BUS_CLOSED)
                return False
            self.events += 1
            for handler in self._handlers:
                try:
                    changed = handler(event)
                except Exception as exc:
                    self._failed(exc, "event handler")
                    continue
                if changed:
                    self.throttle.mark(*([changed] if isinstance(changed, str) else changed))

    def flush_now(self) -> None:
        """Drain and push at once, ignoring the rate limit (for an explicit user action)."""
        self.drain()
        if self.throttle.pending:
            self._push(self.throttle.take(asyncio.get_running_loop().time()))

    def _push(self, changed: frozenset[str]) -> None:
        self.last_push = time.time()
        for flush in tuple(self._flushes):
            if flush.keys is not None and not (flush.keys & changed or ANY in changed):
                continue
            try:
                with contextlib.ExitStack() as stack:
                    for widget in flush.widgets:
                        stack.enter_context(widget.hold_sync())
                    flush.fn(changed)
            except Exception as exc:
                self._failed(exc, "flush")

    def _failed(self, exc: Exception, where: str) -> None:
        self.errors += 1
        self.last_error = exc
        if self.errors == 1:
            log.exception("%s: %s failed (further failures are only counted)", self.name, where)

    def stats(self) -> dict[str, Any]:
        return {"name": self.name, "rate_hz": self.rate_hz, "running": self.running, "events": self.events,
                "pushes": self.pushes, "errors": self.errors, "pending": sorted(self.throttle.pending),
                "dropped": self._sub.dropped if self._sub is not None else 0, "last_push": self.last_push}

    def __repr__(self) -> str:
        state = "running" if self.running else "closed" if self._closed else "idle"
        return f"<WidgetBridge {self.name} {state} {self.rate_hz:g} Hz pushes={self.pushes}>"


__all__ = ["ANY", "BUS_CLOSED", "Throttle", "WidgetBridge", "WidgetLoopError", "check_rate"]
