"""The control panel of one device: readings, setpoints, switches and an emergency stop.

    panel = ControlPanel(lab, "DPS5005_1")        # or lab.control("DPS5005_1")
    panel

Everything is driven by the device's entity table (narrowed to the identified model):

* readings (measurements, status) with their units and alarm colouring: the live level of the
  lab's alarm engine (limits from the driver and the device's ``alarms:`` config, with deadband and
  delays) goes in the ``alarms`` traitlet (``"hi"``, ``"lolo"``...) and the ISA state in
  ``alarm_states`` (``"active_unack"``...), shown as CSS classes; without an alarm engine the
  entity table's static limits are used;
* setpoints (writable numbers) with min/max/step inputs (narrowed to the user's own ``limits:``)
  and a Set button; a refused value
  (``LimitError``, ``DeviceUnavailableError``...) comes back as the request's error reply and is
  shown next to the input with its hint;
* switches (writable on/off); switching *on* an entity with ``confirm`` (output switches) is only
  written with ``confirmed: true`` — the browser asks the user first; off is never held back;
* enums as selects;
* an emergency stop (``lab.emergency_stop()``: every output of every device off) in a sticky header.

Values arrive as ``values`` (``key -> value``), pushed at most ``rate_hz`` times a second and only
when they changed; the browser re-renders only the cells whose value changed.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping
from typing import Any

import traitlets

from ..driver.entity import EntityDescription, Kind
from ..engine.events import AlarmEvent, Event, ReadingEvent, SystemEvent, SystemKind
from ..engine.limits import narrowed
from ..errors import IonpyError
from .health import BenchWidget

#: English texts produced on the Python side (the browser's own texts are in js/src/controls.ts).
STRINGS = {
    "confirm_required": "switching {label} on needs a confirmation",
    "confirm_hint": "Send the write again with `confirmed: true` after asking the user; from code, "
                    "`await lab[{device!r}].write({key!r}, ...)` needs no confirmation.",
}

VALUES, INFO, ENTITIES = "values", "info", "entities"
#: Wait at most this long for a fresh poll after a write (the regular poll shows it otherwise).
READBACK_TIMEOUT = 1.0


class ConfirmationRequiredError(IonpyError):
    code = "confirmation_required"


def alarm_level(desc: EntityDescription | None, value: Any) -> str | None:
    """``"hihi"``, ``"hi"``, ``"lo"`` or ``"lolo"`` when ``value`` crosses ``desc``'s alarm limits."""
    if desc is None or desc.alarm is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value):
        return None
    a = desc.alarm
    if a.hihi is not None and value >= a.hihi:
        return "hihi"
    if a.lolo is not None and value <= a.lolo:
        return "lolo"
    if a.hi is not None and value >= a.hi:
        return "hi"
    if a.lo is not None and value <= a.lo:
        return "lo"
    return None


def json_value(value: Any) -> Any:
    """A value the browser can take: non-finite numbers become None, unknown types text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def _switching_on(desc: EntityDescription, value: Any) -> bool:
    """Confirmation is asked for switching *on*; off is the safe direction (like the emergency stop)."""
    if desc.kind is not Kind.BOOL:
        return True
    try:
        return bool(desc.validate(value))
    except IonpyError:
        return True  # let the write itself report the bad value


class ControlPanel(BenchWidget):
    """Controls of one device; see the module docstring."""

    VIEW = "controls"

    device = traitlets.Unicode("").tag(sync=True)
    info = traitlets.Dict(default_value={}).tag(sync=True)
    entities = traitlets.List(default_value=[]).tag(sync=True)
    values = traitlets.Dict(default_value={}).tag(sync=True)
    alarms = traitlets.Dict(default_value={}).tag(sync=True)
    alarm_states = traitlets.Dict(default_value={}).tag(sync=True)

    def __init__(self, lab: Any, device_id: str, *, rate_hz: float = 10.0) -> None:
        handle = lab[device_id]  # DeviceNotFoundError with the known ids
        super().__init__(lab, rate_hz=rate_hz, kinds=("system", "reading", "alarm"), devices=[device_id],
                         name=f"controls:{device_id}")
        self.handle = handle
        self.device = device_id
        self._values: dict[str, Any] = {k: json_value(v) for k, v in handle.values.items()}
        self.removed = False
        device = lab.manager.devices.get(device_id) if hasattr(lab, "manager") else None
        self._icon: str = getattr(getattr(device, "driver_cls", None), "icon", "") or ""
        self.router.register("write", self.write)
        self.router.register("emergency_stop", self.emergency_stop)
        self.router.register("refresh", self.refresh)
        self.refresh()
        self.start()

    # --- state ------------------------------------------------------------------------------
    def _table(self) -> Mapping[str, EntityDescription]:
        if self.removed:
            return {}
        try:
            return self.handle.entities
        except IonpyError:  # removed meanwhile
            return {}

    def _info(self) -> dict[str, Any]:
        if self.removed:
            return {**self.info, "state": "removed"}
        try:
            status = self.handle.status
        except IonpyError:
            return {**self.info, "state": "removed"}
        return {"id": self.device, "driver": status["driver"], "state": status["state"],
                "identity": status["identity"], "last_error": status["last_error"],
                "poll_interval": status["poll_interval"],
                "icon": self._icon}

    def refresh(self) -> dict[str, Any]:
        """Rebuild everything now (also the ``refresh`` request); returns the values."""
        with self.hold_sync():
            self.flush(frozenset({VALUES, INFO, ENTITIES}))
        return dict(self.values)

    def on_event(self, event: Event) -> Iterable[str] | str | None:
        if event.device != self.device:
            return None
        if isinstance(event, ReadingEvent):
            for reading in event.readings:
                self._values[reading.entity] = json_value(reading.value)
            return VALUES
        if isinstance(event, AlarmEvent):
            return VALUES
        if isinstance(event, SystemEvent):
            if event.kind in (SystemKind.DEVICE_REMOVED, SystemKind.DEVICE_ADDED):
                self.removed = event.kind is SystemKind.DEVICE_REMOVED  # an id can come back (edit, re-add)
            if event.kind is SystemKind.WRITE:
                return None
            return (INFO, ENTITIES)
        return None

    def flush(self, changed: frozenset[str]) -> None:
        table = self._table()
        if changed & {INFO, ENTITIES, "*"}:
            self.info = self._info()
            entities = [self._entity_dict(desc) for desc in table.values()]
            if entities or self.removed:
                self.entities = entities
        if changed & {VALUES, "*"} or ENTITIES in changed:
            self.values = dict(self._values)
            self._flush_alarms(table)

    def _flush_alarms(self, table: Mapping[str, EntityDescription]) -> None:
        engine = getattr(self.lab, "alarm_engine", None)
        if engine is None:
            self.alarms = {key: level for key, value in self._values.items()
                           if (level := alarm_level(table.get(key), value)) is not None}
            return
        engine.catch_up()  # the levels as of the values shown
        points = {entity: p for (device, entity), p in engine.points.items() if device == self.device}
        self.alarms = {key: p.level.value for key, p in points.items() if p.level.value != "ok"}
        self.alarm_states = {key: p.state.value for key, p in points.items() if p.state.value != "normal"}

    def _entity_dict(self, desc: EntityDescription) -> dict[str, Any]:
        """The entity as the browser sees it: setpoint ranges narrowed to the user's own limits."""
        data = desc.to_dict()
        device = self.lab.manager.devices.get(self.device) if hasattr(self.lab, "manager") else None
        limits = getattr(getattr(device, "config", None), "limits", None)
        if limits and desc.key in limits:
            data["min"], data["max"] = narrowed(desc, limits)
            data["user_limits"] = dict(limits[desc.key])
        return data

    # --- requests ---------------------------------------------------------------------------
    async def write(self, key: str, value: Any, confirmed: bool = False) -> dict[str, Any]:
        """Write ``value`` to ``key`` (source ``widget``); entities marked ``confirm`` need ``confirmed``.
        Returns ``{"key", "value"}`` with the value actually written, after a fresh poll if one
        comes within :data:`READBACK_TIMEOUT`."""
        desc = self._table().get(key)
        if desc is not None and desc.confirm and not confirmed and _switching_on(desc, value):
            raise ConfirmationRequiredError(STRINGS["confirm_required"].format(label=desc.label),
                                            hint=STRINGS["confirm_hint"].format(device=self.device, key=key),
                                            entity=key)
        written = await self.handle.write(key, value, source="widget")
        await self._readback()
        return {"key": key, "value": json_value(written)}

    async def emergency_stop(self) -> dict[str, Any]:
        """Every output of every device off (``lab.emergency_stop()``); errors are in the result."""
        result: dict[str, Any] = await self.lab.emergency_stop()
        await self._readback()
        return result

    async def _readback(self) -> None:
        """Poll once so the browser sees the effect at once (best effort), then push."""
        with contextlib.suppress(IonpyError, TimeoutError):
            fresh = await self.handle.poll_now(READBACK_TIMEOUT)
            self._values.update({k: json_value(v) for k, v in fresh.items()})
        self.bridge.flush_now()

    def __repr__(self) -> str:
        return f"<ControlPanel {self.device} {self.info.get('state', '?')}>"


__all__ = ["STRINGS", "ConfirmationRequiredError", "ControlPanel", "alarm_level", "json_value"]
