"""What every bench widget shares: it follows one lab through a throttled bridge and shows the
health of the kernel's event loop.

Everything (pollers, widgets, the notebook's own cells) shares the kernel's event loop, so a cell
that blocks (``time.sleep(5)``, a long computation) pauses polling and freezes every widget until
it ends. Nothing can be shown *during* the block; afterwards the loop watchdog publishes a
``loop_stall`` event and each widget shows a banner such as::

    Polling was paused for 3.2 s at 14:02:11 (a cell blocked the kernel)

Only stalls that happen after the widget was created are shown (an old stall from before is not
news). When the lab stops (``await lab.stop()`` or re-running ``Lab.start``), the widgets stay on
screen with their last values and say that the lab was stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import traitlets

from ..engine.events import Event, SystemEvent, SystemKind
from .base import IonpyWidget
from .bridge import BUS_CLOSED, WidgetBridge

#: English texts of the health banner (one place, ready for translation).
STRINGS = {
    "stall": "Polling was paused for {duration:.1f} s at {clock} (a cell blocked the kernel)",
    "stall_count": "{count} pauses since this widget was shown; the longest took {longest:.1f} s.",
    "stall_hint": "Use `await asyncio.sleep(...)` instead of `time.sleep(...)` in cells: the instruments keep "
                  "being polled meanwhile.",
    "stopped": "The lab was stopped: the values shown are the last ones received.",
    "stopped_hint": "Start it again with `lab = await ion.Lab.start(...)` and show a new widget.",
}

#: Health keys the bridge marks.
HEALTH = "health"


def clock(timestamp: float) -> str:
    """``HH:MM:SS`` of a wall-clock timestamp in the kernel's local time."""
    return datetime.fromtimestamp(timestamp).strftime("%H:%M:%S")


def stall_message(started: float, duration: float) -> str:
    return STRINGS["stall"].format(duration=duration, clock=clock(started))


class HealthState:
    """Loop stalls seen since ``since`` (default: now) and whether the lab stopped."""

    def __init__(self, since: float | None = None) -> None:
        self.since = time.time() if since is None else since
        self.stalls: list[tuple[float, float]] = []
        self.lab_stopped = False

    def add_stall(self, started: float, duration: float) -> bool:
        """Record one stall; False if it began before ``since``: such a stall includes the cell that
        created the widget, so it is not news for this widget."""
        if started < self.since:
            return False
        self.stalls.append((started, duration))
        return True

    def on_event(self, event: Event) -> bool:
        """Account a bus event; True when the health changed."""
        if isinstance(event, SystemEvent) and event.kind is SystemKind.LOOP_STALL:
            started = float(event.payload.get("started", event.timestamp))
            return self.add_stall(started, float(event.payload.get("duration", 0.0)))
        return False

    def to_dict(self) -> dict[str, Any]:
        """The ``health`` traitlet: ``level`` (``ok``, ``warning``, ``stopped``), ``message``,
        ``hint``, ``detail`` and the last ``stall`` (``started``, ``duration``, ``clock``)."""
        data: dict[str, Any] = {"level": "ok", "message": "", "hint": "", "detail": "", "stall": None,
                                "count": len(self.stalls), "lab_stopped": self.lab_stopped}
        if self.stalls:
            started, duration = self.stalls[-1]
            data.update(level="warning", message=stall_message(started, duration), hint=STRINGS["stall_hint"],
                        stall={"started": started, "duration": round(duration, 3), "clock": clock(started)})
            if len(self.stalls) > 1:
                longest = max(d for _, d in self.stalls)
                data["detail"] = STRINGS["stall_count"].format(count=len(self.stalls), longest=longest)
        if self.lab_stopped:  # more important than an old stall
            data.update(level="stopped", message=STRINGS["stopped"], hint=STRINGS["stopped_hint"])
        return data


class BenchWidget(IonpyWidget):
    """Base of the widgets that follow one lab: a :class:`WidgetBridge` (bus subscription, at most
    ``rate_hz`` pushes a second, one comm message per push) and the ``health`` traitlet.

    Subclasses implement :meth:`on_event` (returns the keys that changed, or None) and
    :meth:`flush` (updates traitlets for those keys), then call :meth:`start` at the end of their
    ``__init__``. ``close()`` stops the bridge.
    """

    health = traitlets.Dict(default_value={}).tag(sync=True)

    def __init__(self, lab: Any, *, rate_hz: float = 10.0, kinds: Iterable[str] = ("system", "reading"),
                 devices: Iterable[str] | None = None, name: str = "bench", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lab = lab
        self._loop = _home_loop(lab) or self._loop
        self._health = HealthState()
        self.bridge = WidgetBridge(lab, rate_hz=rate_hz, kinds=kinds, devices=devices, name=name)
        self.bridge.on_event(self._on_bus_event)
        self.bridge.add_flush(self._on_flush, widgets=[self])
        self.health = self._health.to_dict()
        if not getattr(lab, "running", True):
            self._health.lab_stopped = True
            self.health = self._health.to_dict()

    def start(self) -> None:
        """Start following the lab (needs the running event loop: a notebook cell or a coroutine)."""
        if getattr(self.lab, "running", True):
            self.bridge.start()

    # --- bridge plumbing --------------------------------------------------------------------
    def _on_bus_event(self, event: Event) -> list[str]:
        keys = [HEALTH] if self._health.on_event(event) else []
        changed = self.on_event(event)
        if changed:
            keys += [changed] if isinstance(changed, str) else list(changed)
        return keys

    def _on_flush(self, changed: frozenset[str]) -> None:
        if BUS_CLOSED in changed:
            self._health.lab_stopped = True
        if changed & {HEALTH, BUS_CLOSED}:
            self.health = self._health.to_dict()
        self.flush(changed)

    def on_event(self, event: Event) -> Iterable[str] | str | None:
        """Update Python-side state for one bus event; return the keys that changed."""
        return None

    def flush(self, changed: frozenset[str]) -> None:
        """Push the changed state into traitlets (called at most ``rate_hz`` times a second)."""

    def close(self) -> None:
        bridge = getattr(self, "bridge", None)
        if bridge is not None:
            bridge.close()
        if getattr(self, "router", None) is None:  # ``__init__`` failed before the widget existed (__del__)
            return
        super().close()


def _home_loop(lab: Any) -> asyncio.AbstractEventLoop | None:
    """The loop the lab runs on (where widget requests must be handled)."""
    loop = getattr(lab, "_loop", None)
    if isinstance(loop, asyncio.AbstractEventLoop):
        return loop
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


__all__ = ["STRINGS", "BenchWidget", "HealthState", "clock", "stall_message"]
