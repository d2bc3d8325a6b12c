"""The alarm panel: the alarm list (active and unacknowledged alarms) and the history, with
acknowledge, shelve (for a chosen time) and unshelve; severity colours; an optional browser
notification while the notebook tab is in the background (after the user opted in with a click).

    lab.alarms()                 # the full panel
    lab.dashboard()              # has a compact one: a badge with the number of active alarms,
                                 # opening the panel on click

It follows the lab's bus (alarm events are never dropped) and reads the lab's alarm engine, so
an alarm raised, cleared or acknowledged from code, from another panel or by the engine itself
shows up without re-running anything. Traitlets: ``active`` (the alarm list, see
:meth:`~ionpy_widgets.engine.alarms.AlarmEngine.alarm_list`), ``history`` (newest first, at most
``history_size`` rows), ``counts`` (``active``, ``unacked``, ``shelved``, ``disabled``, ``highest``),
``compact`` and ``expanded``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import traitlets

from ..engine.events import AlarmEvent, Event, SystemEvent, SystemKind
from ..errors import IonpyError
from .health import BenchWidget

#: Shelve durations offered in the panel (seconds).
SHELVE_CHOICES = (300, 900, 3600, 4 * 3600)
ALARMS = "alarms"
#: Who an acknowledgement or a shelve from the panel is recorded as.
WHO = "widget"


class AlarmsUnavailableError(IonpyError):
    code = "alarms_unavailable"
    default_hint = "Use a lab started with `ionpy_widgets.Lab.start(...)`: its alarm engine feeds this panel."


class AlarmPanel(BenchWidget):
    """Alarm list and history of one lab; see the module docstring."""

    VIEW = "alarms"

    active = traitlets.List(default_value=[]).tag(sync=True)
    history = traitlets.List(default_value=[]).tag(sync=True)
    counts = traitlets.Dict(default_value={}).tag(sync=True)
    compact = traitlets.Bool(False).tag(sync=True)
    expanded = traitlets.Bool(True).tag(sync=True)
    shelve_choices = traitlets.List(default_value=list(SHELVE_CHOICES)).tag(sync=True)

    def __init__(self, lab: Any, *, compact: bool = False, history_size: int = 200, rate_hz: float = 10.0) -> None:
        if getattr(lab, "alarm_engine", None) is None:
            raise AlarmsUnavailableError("this lab has no alarm engine")
        super().__init__(lab, rate_hz=rate_hz, kinds=("alarm", "system"), name="alarms")
        self.history_size = history_size
        self.compact = compact
        self.expanded = not compact
        self.router.register("acknowledge", self.acknowledge)
        self.router.register("shelve", self.shelve)
        self.router.register("unshelve", self.unshelve)
        self.router.register("refresh", self.refresh)
        self.refresh()
        self.start()

    # --- state ------------------------------------------------------------------------------
    def on_event(self, event: Event) -> Iterable[str] | str | None:
        if isinstance(event, AlarmEvent):
            return ALARMS
        if isinstance(event, SystemEvent) and event.kind in (SystemKind.DEVICE_ADDED, SystemKind.DEVICE_REMOVED,
                                                             SystemKind.DEVICE_UPDATED):
            return ALARMS
        return None

    def flush(self, changed: frozenset[str]) -> None:
        if changed & {ALARMS, "*"}:
            self._sync()

    def _sync(self) -> None:
        lab = self.lab
        self.active = lab.active_alarms
        self.history = list(reversed(lab.alarm_history(limit=self.history_size)))
        self.counts = lab.alarm_counts()

    def refresh(self) -> dict[str, Any]:
        """Rebuild now (also the ``refresh`` request); returns the counts."""
        with self.hold_sync():
            self._sync()
        return dict(self.counts)

    # --- requests ---------------------------------------------------------------------------
    def acknowledge(self, device: str | None = None, entity: str | None = None) -> dict[str, Any]:
        """Acknowledge one alarm (``device`` + ``entity``), a device's, or every one; recorded as
        acknowledged by ``widget``."""
        count = self.lab.acknowledge(device, entity, who=WHO)
        self.refresh()
        return {"acknowledged": count}

    def shelve(self, device: str, entity: str, seconds: float) -> dict[str, Any]:
        self.lab.shelve(device, entity, seconds, who=WHO)
        self.refresh()
        return {"shelved_until": self.lab.alarm_state[f"{device}.{entity}"]["shelved_until"]}

    def unshelve(self, device: str, entity: str) -> dict[str, Any]:
        self.lab.unshelve(device, entity, who=WHO)
        self.refresh()
        return {}

    def __repr__(self) -> str:
        c = self.counts
        return f"<AlarmPanel {c.get('active', 0)} active, {c.get('unacked', 0)} unacknowledged>"


__all__ = ["SHELVE_CHOICES", "AlarmPanel", "AlarmsUnavailableError"]
