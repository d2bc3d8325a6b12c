"""The device wizard: five steps from "which instrument" to a running device.

    wizard(lab)                                    # or lab.wizard()
    wizard(lab, edit="DPS5005_1")                  # change an existing device
    wizard(lab, prefill={"driver": "DPS5005", "transport": {"type": "serial", "params": {"port": p}}})

1. **Driver**: the catalogue as tiles (icon, name, description), filter tabs by category, search.
2. **Identity**: an id generated from the driver name (``DPS5005_1``, checked live: characters and
   uniqueness), alias, icon, description, location, auto-start.
3. **Connection**: one tab per blueprint of the driver (serial port list with ``in use`` marks and
   hints, baud rate; TCP host/port with a latency test and a scan of typed targets; VISA; HID) and
   an advanced section with the framing parameters.
4. **Test**: the live probe, each step as it finishes, the first values with units; retry, or skip
   to add an offline device.
5. **Confirm**: summary, the equivalent ``await lab.add_device({...})`` and the ``lab.yaml``
   change as a unified diff; "Add device" (edit mode: ``lab.update_device`` when the engine has
   it, otherwise remove + add with the old device restored on failure).

The browser keeps the draft (see :mod:`.wizard_steps`) and writes it back to the ``draft`` and
``step`` traitlets, so a re-rendered wizard resumes where it was. Every request is answered,
errors included (code, message, hint) and shown in the step that asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import traitlets

from ..driver.registry import get_driver
from ..engine.bus import Subscription, SubscriptionClosedError
from ..engine.config import DeviceConfig
from ..engine.probe import format_value
from ..errors import ConfigValidationError, DeviceDuplicateError, IonpyError
from ..transport.address import COMMON_BAUDRATES
from . import wizard_steps as ws
from .base import IonpyWidget
from .discovery_panel import DiscoveryService
from .protocol import Stream

#: English texts produced here (the browser's own texts are in js/src/wizard/strings.ts).
STRINGS = {
    "unchanged": "Connection unchanged",
    "unchanged_detail": "{id} keeps its connection; it is not probed again while it holds the port.",
    "restored": "The previous configuration of {id} was restored.",
    "id_invalid_hint": "Go back to step 2 and fix the id.",
}

STEPS = ("driver", "identity", "connection", "test", "confirm")
#: How long "Add device" waits for the new device to come online before reporting its state.
ONLINE_WAIT = 3.0

DoneCallback = Callable[[str], Any]


def _add_texts(driver: str, values: dict[str, dict[str, Any]]) -> None:
    """Add ``text`` to each first value as the widgets show it (``24.00 V``, ``CV``, ``off``)."""
    try:
        table = get_driver(driver).ENTITIES
    except Exception:  # the probe already reported an unknown driver
        table = {}
    for key, value in values.items():
        # channel entities of a model (u_set_2) are described like channel 1's in the class table
        desc = table.get(key) or table.get(re.sub(r"_\d+$", "_1", key))
        text = format_value(value["value"], desc)
        unit = str(value.get("unit") or "")
        value["text"] = f"{text} {unit}" if unit and not text.endswith(unit) else text


class DeviceWizard(IonpyWidget):
    """The wizard widget; see the module docstring. Use :func:`wizard` to create one."""

    VIEW = "wizard"

    catalogue = traitlets.List(default_value=[]).tag(sync=True)
    transports = traitlets.Dict(default_value={}).tag(sync=True)
    existing = traitlets.List(default_value=[]).tag(sync=True)
    draft = traitlets.Dict(default_value={}).tag(sync=True)
    step = traitlets.Int(0).tag(sync=True)
    mode = traitlets.Unicode("add").tag(sync=True)
    edit_id = traitlets.Unicode("").tag(sync=True)
    baudrates = traitlets.List(default_value=list(COMMON_BAUDRATES)).tag(sync=True)
    stored_fields = traitlets.List(default_value=[]).tag(sync=True)
    config_file = traitlets.Unicode("").tag(sync=True)
    #: Ids added (or updated) through this wizard, in order.
    added = traitlets.List(default_value=[]).tag(sync=True)

    def __init__(self, lab: Any, *, edit: str | None = None, prefill: Mapping[str, Any] | None = None,
                 on_done: DoneCallback | None = None, extra_ports: Iterable[str] = (),
                 visa_resource_manager: Any = None) -> None:
        super().__init__()
        self.lab = lab
        self.on_done = on_done
        self.service = DiscoveryService(lab, extra_ports=extra_ports, visa_resource_manager=visa_resource_manager)
        self._original: dict[str, Any] = {}
        path = getattr(getattr(lab, "config", None), "path", None)
        with self.hold_sync():
            self.catalogue = ws.catalogue()
            self.transports = ws.transport_status()
            self.stored_fields = [k for k in ws.METADATA_KEYS if k in ws.engine_keys()]
            self.config_file = path.name if path is not None else ""
            self.existing = ws.taken_ids(lab)
            if edit is not None:
                self._original = ws.draft_from_device(lab, edit)
                self.mode, self.edit_id = "edit", edit
                self.draft, self.step = dict(self._original), 1
            else:
                self.draft, self.step = self._start(ws.normalise_prefill(prefill))
        for kind, handler in (("complete", self._complete), ("validate_id", self._validate_id),
                              ("list_ports", self.service.serial), ("list_visa", self.service.visa),
                              ("list_hid", self.service.hid), ("latency", self.service.latency),
                              ("cancel_scan", self.service.cancel_scan), ("check", self._check),
                              ("preview", self._preview)):
            self.router.register(kind, handler)
        self.router.register("scan", self.service.scan, stream=True)
        self.router.register("probe", self._probe, stream=True)
        self.router.register("confirm", self._confirm, stream=True)

    def _start(self, prefill: dict[str, Any]) -> tuple[dict[str, Any], int]:
        step = prefill.pop("step", None)
        if "driver" in prefill:
            draft = ws.complete_draft(prefill, self.existing)
            return draft, int(step) if isinstance(step, int) else 1
        return prefill, int(step) if isinstance(step, int) else 0

    # --- ids and drafts -----------------------------------------------------------------------
    def _taken(self) -> list[str]:
        return [i for i in ws.taken_ids(self.lab) if i != (self.edit_id or None)]

    def _complete(self, draft: dict[str, Any]) -> dict[str, Any]:
        return ws.complete_draft(draft, self._taken())

    def _validate_id(self, id: str, driver: str = "") -> dict[str, Any]:
        return ws.check_id(id, self._taken(), driver=driver or "device")

    def _config(self, draft: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        base = None
        if self.mode == "edit" and self.edit_id in self.lab:
            base = self.lab.manager.get(self.edit_id).config.to_dict()
        return ws.build_config(draft, base=base)

    def _check(self, draft: dict[str, Any]) -> dict[str, Any]:
        """Validate the draft as the engine would: ``{"ok"}`` or the field path, message and hint."""
        config, _ = self._config(draft)
        if not ws.check_id(config["id"], []).get("ok"):
            config["id"] = "placeholder"  # the id is checked on its own (validate_id)
        try:
            DeviceConfig.from_mapping(config, check_stack=True)
        except ConfigValidationError as exc:
            return {"ok": False, "path": exc.path, "message": exc.message, "hint": exc.hint}
        return {"ok": True}

    # --- probe ----------------------------------------------------------------------------------
    def _unchanged(self, config: Mapping[str, Any]) -> bool:
        if self.mode != "edit" or self.edit_id not in self.lab:
            return False
        before, _ = self._config(self._original)
        return (config.get("transport"), config.get("framing")) == (before.get("transport"), before.get("framing"))

    async def _probe(self, stream: Stream, draft: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """The live probe of the draft's connection; each step is streamed as ``{"kind": "step"}``."""
        config, _ = self._config(draft)
        if self._unchanged(config):
            return self._unchanged_result(stream)
        transport = config.get("transport") or {"type": "none", "params": {}}
        result = await self.lab.probe(config["driver"], transport["type"], transport["params"],
                                      config.get("framing"), timeout=float(timeout),
                                      on_step=lambda step: stream.emit({"kind": "step", "step": step.to_dict()}))
        data: dict[str, Any] = result.to_dict()
        data["identity"] = result.identity.to_dict() if result.identity is not None else None
        _add_texts(config["driver"], data["first_values"])
        return data

    def _unchanged_result(self, stream: Stream) -> dict[str, Any]:
        device = self.lab.manager.get(self.edit_id)
        step = {"message": STRINGS["unchanged"], "ok": True, "hint": "", "duration_ms": 0.0,
                "detail": STRINGS["unchanged_detail"].format(id=self.edit_id)}
        stream.emit({"kind": "step", "step": step})
        values = {k: {"value": r.value, "unit": r.unit} for k, r in device.readings.items()}
        _add_texts(device.config.driver, values)
        identity = device.identity.to_dict() if device.identity is not None else None
        return {"success": True, "steps": [step], "first_values": values, "error": None, "duration_ms": 0.0,
                "identity": identity, "unchanged": True}

    # --- confirm --------------------------------------------------------------------------------
    def _preview(self, draft: dict[str, Any]) -> dict[str, Any]:
        """Everything step 5 shows: the config, the Python call, the yaml diff and notes."""
        config, notes = self._config(draft)
        edit = self.edit_id or None
        update = callable(getattr(self.lab, "update_device", None))
        change = ws.yaml_change(self.lab, config, edit=edit)
        if change["note"]:
            notes.append(change["note"])
        return {"config": config, "python": ws.python_call(config, edit=edit, update=update), "yaml": change,
                "notes": notes, "check": self._check(draft), "id_check": self._validate_id(config["id"],
                                                                                           config["driver"])}

    async def _confirm(self, stream: Stream, draft: dict[str, Any]) -> dict[str, Any]:
        """Add (or update) the device; streams ``{"stage": ...}`` and returns its state."""
        config, notes = self._config(draft)
        stream.emit({"stage": "validate"})
        id_check = self._validate_id(config["id"], config["driver"])
        if not id_check["ok"]:
            raise ConfigValidationError(id_check["message"], path="id",
                                        hint=f"{id_check['hint']} {STRINGS['id_invalid_hint']}")
        DeviceConfig.from_mapping(config, check_stack=True)
        stream.emit({"stage": "add", "id": config["id"]})
        with self.lab.subscribe(kinds=("availability", "device_error"), devices=[config["id"]],
                                name="wizard-confirm") as events:
            if self.mode == "edit":
                await self._update(config)
            else:
                if config["id"] in self.lab:
                    raise DeviceDuplicateError(f"device id {config['id']!r} is already in use",
                                               device=config["id"])
                await self.lab.add_device(config)
            state = await self._wait_online(stream, events, config["id"])
        device = self.lab.manager.get(config["id"])
        path = getattr(self.lab.config, "path", None)
        self.existing = ws.taken_ids(self.lab)
        self.added = [*self.added, config["id"]]
        if self.mode == "edit":
            self.edit_id = config["id"]
            self._original = dict(draft)
        if self.on_done is not None:
            outcome = self.on_done(config["id"])
            if inspect.isawaitable(outcome):
                await outcome
        return {"id": config["id"], "mode": self.mode, "state": state, "notes": notes,
                "last_error": device.last_error.to_dict() if device.last_error is not None else None,
                "saved": ws.file_has_device(str(path) if path else None, config["id"]),
                "file": path.name if path is not None else None}

    async def _update(self, config: dict[str, Any]) -> None:
        updater = getattr(self.lab, "update_device", None)
        if callable(updater):
            positional = [p for p in inspect.signature(updater).parameters.values()
                          if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            outcome = updater(self.edit_id, config) if len(positional) >= 2 else updater(config)
            if inspect.isawaitable(outcome):
                await outcome
            return
        old = self.lab.manager.get(self.edit_id).config
        if config["id"] != self.edit_id and config["id"] in self.lab:
            raise DeviceDuplicateError(f"device id {config['id']!r} is already in use", device=config["id"])
        await self.lab.remove_device(self.edit_id)
        try:
            await self.lab.add_device(config)
        except IonpyError as exc:
            await self.lab.add_device(old)
            exc.hint = f"{exc.hint} {STRINGS['restored'].format(id=self.edit_id)}".strip()
            raise

    async def _wait_online(self, stream: Stream, events: Subscription, device_id: str) -> str:
        """Wait (at most ONLINE_WAIT) until the new device leaves "connecting"; returns its state."""
        device = self.lab.manager.get(device_id)
        if device.config.enabled and device.state.value == "connecting":
            stream.emit({"stage": "online", "id": device_id})
            with contextlib.suppress(TimeoutError, SubscriptionClosedError):
                async with asyncio.timeout(ONLINE_WAIT):
                    while device.state.value == "connecting":
                        await events.get()  # availability / error events of this device
        return str(device.state.value)

    def __repr__(self) -> str:
        what = f"edit {self.edit_id}" if self.mode == "edit" else "add"
        return f"<DeviceWizard {what} step {self.step + 1}/{len(STEPS)} ({STEPS[self.step]})>"


def wizard(lab: Any, edit: str | None = None, *, prefill: Mapping[str, Any] | None = None,
           on_done: DoneCallback | None = None, extra_ports: Iterable[str] = (),
           visa_resource_manager: Any = None) -> DeviceWizard:
    """The device wizard for ``lab``. ``edit``: an existing device id (starts prefilled, step 2).
    ``prefill``: driver / transport / framing / identity fields (what a discovery row knows).
    ``on_done(device_id)`` is called after a device was added or updated. ``extra_ports``: serial
    paths to list besides the enumerated ones (e.g. a pty served by a simulator)."""
    return DeviceWizard(lab, edit=edit, prefill=prefill, on_done=on_done, extra_ports=extra_ports,
                        visa_resource_manager=visa_resource_manager)


__all__ = ["STEPS", "STRINGS", "DeviceWizard", "wizard"]
