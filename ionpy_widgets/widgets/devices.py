"""The device manager widget: every device of a lab with its live status, and what you can do to it.

    panel = DeviceManagerWidget(lab, on_edit=open_wizard)    # or lab.devices_panel()
    panel

One row per device: status (connecting, online, unavailable, error, disabled, stopped) with the
last error's message and hint, driver, identity (manufacturer, model, serial, firmware), a
transport summary and the poll rate. Buttons: enable/disable (when the engine offers
``lab.set_enabled``), edit (calls ``on_edit(device_id)``; without one the request is answered with
``wizard_unavailable``) and delete (the browser asks first, in the widget).

It follows the lab's bus: a device added or removed from another cell or from code appears or
disappears without re-running anything. The ``devices`` traitlet (a list of plain dicts, see
:func:`device_row`) is rebuilt at most ``rate_hz`` times a second and only sent when it changed;
poll rates are refreshed once a second.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import traitlets

from ..engine.events import Event, ReadingEvent, SystemEvent
from ..errors import IonpyError
from .health import BenchWidget

#: English texts produced on the Python side (the browser's own texts are in js/src/devices.ts).
STRINGS = {
    "wizard_unavailable": "the device wizard is not available here",
    "wizard_hint": "Open it in a cell with `lab.wizard(edit={device!r})`, use `lab.dashboard()` (its Edit "
                   "button opens the wizard), or pass `on_edit=` to `lab.devices_panel()`.",
    "enable_unsupported": "enabling and disabling devices is not supported by this lab",
    "enable_hint": "Set `enabled: false` for the device in lab.yaml and start the lab again.",
    "no_link": "software only (no link)",
}

#: Rows are rebuilt for poll-rate changes at most this often (seconds).
STATS_PERIOD = 1.0
#: The poll rate is shown once this many polls are known (fewer give a noisy estimate).
RATE_MIN_POLLS = 5
ROWS = "rows"


class WizardUnavailableError(IonpyError):
    code = "wizard_unavailable"


class NotSupportedError(IonpyError):
    code = "not_supported"


def transport_summary(transport: Mapping[str, Any] | None, framing: Mapping[str, Any] | None = None) -> str:
    """One line saying how a device is reached, e.g. ``serial /dev/ttyUSB0 9600 baud · modbus_rtu slave 1``."""
    if not transport or transport.get("type") in (None, "none"):
        return STRINGS["no_link"]
    kind = str(transport.get("type"))
    params = transport.get("params") or {}
    if kind == "serial":
        where = f"{params.get('port', '?')}"
        if params.get("baudrate"):
            where += f" {params['baudrate']} baud"
    elif kind == "tcp":
        where = f"{params.get('host', '?')}:{params.get('port', '?')}"
    elif kind == "visa":
        where = str(params.get("resource", "?"))
    elif kind == "virtual":
        sim = params.get("simulator")
        where = f"simulator {sim}" if isinstance(sim, str) else "in-process simulator"
    else:
        where = ", ".join(f"{k}={v}" for k, v in params.items() if isinstance(v, str | int | float)) or ""
    text = f"{kind} {where}".strip()
    if framing and framing.get("type") not in (None, "none"):
        fparams = framing.get("params") or {}
        extra = f" slave {fparams['slave_id']}" if "slave_id" in fparams else ""
        text += f" · {framing['type']}{extra}"
    return text


def device_row(device: Any) -> dict[str, Any]:
    """The manager's view of one :class:`~ionpy_widgets.engine.device.ManagedDevice` (plain JSON)."""
    status = device.status()
    cls = getattr(device, "driver_cls", None)
    config = device.config
    stats = status["stats"]
    rate = float(stats.get("rate", 0.0)) if stats.get("polls", 0) >= RATE_MIN_POLLS else 0.0
    return {
        "id": device.id,
        "driver": config.driver,
        "icon": getattr(cls, "icon", "") or "",
        "category": str(getattr(cls, "category", "") or ""),
        "state": status["state"],
        "enabled": bool(status["enabled"]),
        "identity": status["identity"],
        "transport": transport_summary(config.transport, config.framing),
        "poll_interval": status["poll_interval"],
        "rate": round(rate, 1),
        "last_error": status["last_error"],
        "unavailable_since": status["unavailable_since"],
    }


EditCallback = Callable[[str], Any]


class DeviceManagerWidget(BenchWidget):
    """The list of a lab's devices; see the module docstring. ``on_edit(device_id)`` is called by
    the Edit button (it may return a widget or an awaitable)."""

    VIEW = "devices"

    devices = traitlets.List(default_value=[]).tag(sync=True)
    capabilities = traitlets.Dict(default_value={}).tag(sync=True)

    def __init__(self, lab: Any, *, on_edit: EditCallback | None = None, rate_hz: float = 10.0) -> None:
        super().__init__(lab, rate_hz=rate_hz, kinds=("system", "reading"), name="device-manager")
        self._on_edit = on_edit
        self._stats_at = 0.0
        #: What the last Edit click returned (a wizard widget, typically).
        self.last_edit: Any = None
        self.router.register("refresh", self.refresh)
        self.router.register("enable", self._enable)
        self.router.register("edit", self._edit)
        self.router.register("delete", self._delete)
        self.refresh()
        self.start()

    # --- state ------------------------------------------------------------------------------
    @property
    def on_edit(self) -> EditCallback | None:
        return self._on_edit

    @on_edit.setter
    def on_edit(self, fn: EditCallback | None) -> None:
        self._on_edit = fn
        self._update_capabilities()

    def _update_capabilities(self) -> None:
        self.capabilities = {"enable": callable(getattr(self.lab, "set_enabled", None)),
                             "edit": self._on_edit is not None, "delete": True}

    def rows(self) -> list[dict[str, Any]]:
        manager = getattr(self.lab, "manager", None)
        return [device_row(d) for d in manager.devices.values()] if manager is not None else []

    def refresh(self) -> list[dict[str, Any]]:
        """Rebuild every row now (also the ``refresh`` request); returns the rows."""
        with self.hold_sync():
            self._update_capabilities()
            self.devices = self.rows()
        return list(self.devices)

    def on_event(self, event: Event) -> Iterable[str] | str | None:
        if isinstance(event, SystemEvent):
            return ROWS
        if isinstance(event, ReadingEvent):
            now = time.monotonic()
            if now - self._stats_at >= STATS_PERIOD:
                self._stats_at = now
                return ROWS
        return None

    def flush(self, changed: frozenset[str]) -> None:
        self.devices = self.rows()

    # --- requests ---------------------------------------------------------------------------
    async def _enable(self, device: str, enabled: bool) -> list[dict[str, Any]]:
        setter = getattr(self.lab, "set_enabled", None)
        if not callable(setter):
            raise NotSupportedError(STRINGS["enable_unsupported"], hint=STRINGS["enable_hint"], device=device)
        self.lab[device]  # DeviceNotFoundError with the known ids
        result = setter(device, bool(enabled))
        if inspect.isawaitable(result):
            await result
        return self.refresh()

    async def _edit(self, device: str) -> dict[str, Any]:
        if self._on_edit is None:
            hint = STRINGS["wizard_hint"].format(device=device)
            raise WizardUnavailableError(STRINGS["wizard_unavailable"], hint=hint, device=device)
        self.lab[device]
        result = self._on_edit(device)
        if inspect.isawaitable(result):
            result = await result
        self.last_edit = result
        return {"device": device, "opened": True}

    async def _delete(self, device: str) -> list[dict[str, Any]]:
        await self.lab.remove_device(device)
        self.bridge.drain()
        return self.refresh()

    def __repr__(self) -> str:
        states = [row["state"] for row in self.devices]
        return f"<DeviceManagerWidget {len(states)} device(s), {states.count('online')} online>"


__all__ = ["STRINGS", "DeviceManagerWidget", "NotSupportedError", "WizardUnavailableError", "device_row",
           "transport_summary"]
