"""The discovery panel: what is plugged in or listening, and a way from a row to the wizard.

    panel = discovery_panel(lab)          # or lab.discovery()
    panel

Tabs Serial / USB / HID / Network / VISA list what :mod:`ionpy_widgets.discovery` finds, with
the columns a user needs (port, description, manufacturer, known device, status). Serial ports
one of the lab's devices holds are marked ``in use by <id>``. The network tab scans only the
targets the user types (progress, cancel); the VISA tab lists local buses only, and network
resources only after the explicit "include network" action (pyvisa-py's ``list_resources``
broadcasts, so it is never called otherwise).

Clicking a row calls ``on_open(prefill)`` with a wizard prefill (driver hint, transport and its
params). Without ``on_open``, :func:`discovery_panel` returns a :class:`DiscoveryBox` that shows
the wizard, prefilled, under the panel.

:class:`DiscoveryService` holds the lab-aware discovery calls shared with the device wizard.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import ipywidgets
import traitlets

from ..discovery import ScanManager, discover_hid, discover_serial, discover_usb, discover_visa, probe_host
from ..engine.probe_checks import find_holder, held_ports_of
from ..errors import ConfigValidationError
from .base import IonpyWidget
from .protocol import Stream

#: English texts produced on the Python side (the browser's own texts are in js/src/discovery.ts).
STRINGS = {
    "unknown_bus": "unknown discovery tab {bus!r}",
    "unknown_bus_hint": "Use one of: {buses}.",
    "no_lab": "this panel has no lab to add devices to",
}

BUSES = ("serial", "usb", "hid", "network", "visa")
#: Scan progress is streamed at most this often (seconds); the last update is always sent.
PROGRESS_PERIOD = 0.1

OpenCallback = Callable[[dict[str, Any]], Any]


def _best_driver(hints: Iterable[Mapping[str, Any]]) -> str | None:
    best = [h for h in hints if h.get("installed")]
    return str(best[0]["driver"]) if best else None


class DiscoveryService:
    """Discovery calls for one lab, returning JSON-ready dicts for widgets.

    ``extra_ports``: serial paths pyserial does not enumerate (a pty, a symlink) to list too.
    ``visa_resource_manager``: a pyvisa resource manager to list (tests pass a pyvisa-sim one).
    """

    def __init__(self, lab: Any, *, extra_ports: Iterable[str] = (), visa_resource_manager: Any = None) -> None:
        self.lab = lab
        self.extra_ports = [str(p) for p in extra_ports]
        self.visa_rm = visa_resource_manager
        self.scans = ScanManager()

    def held(self) -> dict[str, str]:
        """Port key -> device id for the lab's devices that hold a port."""
        manager = getattr(self.lab, "manager", None)
        return held_ports_of(manager) if manager is not None else {}

    async def serial(self, extra: Iterable[str] = ()) -> dict[str, Any]:
        """Serial ports with ``in_use_by`` (the device id holding it, or "")."""
        held = self.held()
        held_serial = [k for k in held if k.startswith("/") or k.upper().startswith("COM")]
        paths = list(dict.fromkeys([*self.extra_ports, *(str(p) for p in extra if str(p).strip()), *held_serial]))
        result = await discover_serial(in_use=held, extra_paths=paths)
        data = result.to_dict()
        for item in data["items"]:
            holder = find_holder([p for p in (item["device"], item["by_id"]) if p], held)
            item["in_use_by"] = holder[1] if holder else ""
            item["in_use"] = bool(holder) or item["in_use"]
        return data

    async def usb(self) -> dict[str, Any]:
        return (await discover_usb()).to_dict()

    async def hid(self) -> dict[str, Any]:
        return (await discover_hid()).to_dict()

    async def visa(self, network: bool = False, idn_timeout_ms: int = 2000) -> dict[str, Any]:
        """Local VISA resources; network ones (a broadcast) only with ``network=True``."""
        result = await discover_visa(resource_manager=self.visa_rm, network=bool(network),
                                     idn_timeout_ms=int(idn_timeout_ms))
        return result.to_dict()

    async def latency(self, host: str, port: int, timeout: float = 1.0) -> dict[str, Any]:
        """Connect once to ``host:port``: state, latency and ``*IDN?`` on SCPI ports."""
        result = await probe_host(str(host).strip(), int(port), timeout=float(timeout))
        return result.detail_dict()

    async def scan(self, stream: Stream, targets: str, ports: list[int] | None = None,
                   timeout: float = 0.5) -> dict[str, Any]:
        """Scan the typed targets; streams ``started``/``progress``/``found`` items, returns the job."""
        last = [0.0]

        def progress(job: Any) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_PERIOD or job.done == job.total:
                last[0] = now
                stream.emit({"kind": "progress", "scan": job.to_dict()})

        job = self.scans.start_scan(str(targets), ports or None, timeout=float(timeout),
                                    on_result=lambda r: stream.emit({"kind": "found", "result": r.detail_dict()}),
                                    on_progress=progress)
        stream.emit({"kind": "started", "scan": job.to_dict()})
        try:
            await job.wait()
        finally:
            if not job.finished:  # the request was cancelled (widget closed): stop probing too
                job.cancel()
                await job.wait()
        return {"scan": job.to_dict(), "results": [r.detail_dict() for r in job.results]}

    def cancel_scan(self, scan_id: str) -> dict[str, Any]:
        job = self.scans.get_scan(str(scan_id))
        job.cancel()
        return job.to_dict()

    async def close(self) -> None:
        await self.scans.close()


def prefill_for(bus: str, item: Mapping[str, Any]) -> dict[str, Any]:
    """The wizard prefill for one discovery row (driver hint + transport and its params)."""
    hints = item.get("hints") or []
    prefill: dict[str, Any] = {}
    if bus == "serial":
        prefill["transport"] = {"type": "serial", "params": {"port": item.get("by_id") or item["device"]}}
    elif bus == "usb":
        ttys = [n for n in item.get("nodes") or [] if "/tty" in n]
        if ttys:
            prefill["transport"] = {"type": "serial", "params": {"port": ttys[0]}}
        elif item.get("visa_resource"):
            prefill["transport"] = {"type": "visa", "params": {"resource": item["visa_resource"]}}
        elif "HID" in (item.get("interface_classes") or []):
            prefill["transport"] = {"type": "hid", "params": {"vendor_id": item["vid"], "product_id": item["pid"]}}
    elif bus == "hid":
        params = {"vendor_id": item["vid"], "product_id": item["pid"]}
        if item.get("serial_number"):
            params["serial"] = item["serial_number"]
        prefill["transport"] = {"type": "hid", "params": params}
    elif bus == "network":
        prefill["transport"] = {"type": "tcp", "params": {"host": item["host"], "port": item["port"]}}
    elif bus == "visa":
        prefill["transport"] = {"type": "visa", "params": {"resource": item["resource"]}}
    else:
        raise ConfigValidationError(STRINGS["unknown_bus"].format(bus=bus), path="bus",
                                    hint=STRINGS["unknown_bus_hint"].format(buses=", ".join(BUSES)))
    driver = _best_driver(hints)
    if driver:
        prefill["driver"] = driver
    return prefill


class DiscoveryPanel(IonpyWidget):
    """Tabs of discovered ports and instruments; a row opens the wizard (see the module docstring)."""

    VIEW = "discovery"

    buses = traitlets.List(default_value=list(BUSES)).tag(sync=True)
    #: What the last row click opened: ``{"bus", "prefill"}`` (the browser shows it).
    opened = traitlets.Dict(default_value={}).tag(sync=True)

    def __init__(self, lab: Any, *, on_open: OpenCallback | None = None, extra_ports: Iterable[str] = (),
                 visa_resource_manager: Any = None) -> None:
        super().__init__()
        self.lab = lab
        self.on_open = on_open
        self.service = DiscoveryService(lab, extra_ports=extra_ports, visa_resource_manager=visa_resource_manager)
        self.router.register("list", self._list)
        self.router.register("scan", self.service.scan, stream=True)
        self.router.register("cancel_scan", self.service.cancel_scan)
        self.router.register("latency", self.service.latency)
        self.router.register("open", self._open)

    async def _list(self, bus: str, network: bool = False, extra: list[str] | None = None,
                    idn_timeout_ms: int = 2000) -> dict[str, Any]:
        if bus == "serial":
            return await self.service.serial(extra or ())
        if bus == "usb":
            return await self.service.usb()
        if bus == "hid":
            return await self.service.hid()
        if bus == "visa":
            return await self.service.visa(network, idn_timeout_ms)
        raise ConfigValidationError(STRINGS["unknown_bus"].format(bus=bus), path="bus",
                                    hint=STRINGS["unknown_bus_hint"].format(buses="serial, usb, hid, visa"))

    async def _open(self, bus: str, item: dict[str, Any]) -> dict[str, Any]:
        prefill = prefill_for(bus, item)
        self.opened = {"bus": bus, "prefill": prefill}
        if self.on_open is not None:
            result = self.on_open(prefill)
            if inspect.isawaitable(result):
                await result
        self.emit_event("opened", {"bus": bus, "prefill": prefill})
        return {"prefill": prefill}

    def __repr__(self) -> str:
        return f"<DiscoveryPanel tabs={'/'.join(self.buses)}>"


class DiscoveryBox(ipywidgets.VBox):  # type: ignore[misc]
    """The panel with a slot under it where a clicked row's wizard appears."""

    def __init__(self, lab: Any, **kwargs: Any) -> None:
        self.lab = lab
        self._wizard_kwargs = {k: kwargs[k] for k in ("extra_ports", "visa_resource_manager") if k in kwargs}
        self.panel = DiscoveryPanel(lab, on_open=self.open_wizard, **kwargs)
        self.slot = ipywidgets.VBox()
        self.wizard: Any = None
        super().__init__(children=[self.panel, self.slot])
        self.add_class("ionpy-discovery-box")

    def open_wizard(self, prefill: dict[str, Any]) -> Any:
        """Show the wizard prefilled with one row (replacing a wizard opened before)."""
        from .wizard import wizard

        if self.wizard is not None:
            self.wizard.close()
        self.wizard = wizard(self.lab, prefill=prefill, **self._wizard_kwargs)
        self.slot.children = (self.wizard,)
        return self.wizard

    def close(self) -> None:
        if self.wizard is not None:
            self.wizard.close()
        self.panel.close()
        self.slot.close()
        super().close()


def discovery_panel(lab: Any, *, on_open: OpenCallback | None = None, extra_ports: Iterable[str] = (),
                    visa_resource_manager: Any = None) -> DiscoveryPanel | DiscoveryBox:
    """The discovery panel. With ``on_open(prefill)`` the caller decides what a row click does
    (a dashboard swaps in the wizard); without it the wizard opens under the panel."""
    kwargs = {"extra_ports": extra_ports, "visa_resource_manager": visa_resource_manager}
    if on_open is not None:
        return DiscoveryPanel(lab, on_open=on_open, **kwargs)
    return DiscoveryBox(lab, **kwargs)


__all__ = ["BUSES", "STRINGS", "DiscoveryBox", "DiscoveryPanel", "DiscoveryService", "discovery_panel",
           "prefill_for"]
