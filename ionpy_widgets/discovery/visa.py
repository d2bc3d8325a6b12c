"""VISA discovery: resource names, each asked ``*IDN?`` (2 s timeout) and parsed.

**pyvisa-py's ``list_resources()`` broadcasts** (VXI-11 portmapper GETPORT on every interface's
broadcast address, mDNS for HiSLIP / raw sockets) whatever the query string (protocols.md §10.2).
So without ``network=True`` (an explicit user action) this module never calls it on a real
backend: it lists the local buses itself, the way pyvisa-py would name them: serial ports as
``ASRL<device>::INSTR`` (pyserial) and USBTMC devices (interface class 0xFE/3 in Linux sysfs) as
``USB0::0xVID::0xPID::SERIAL::INSTR``. An injected pyvisa-sim resource manager
(``ResourceManager("file.yaml@sim")``) is listed with ``list_resources(query)``: nothing leaves the
process. The query defaults to ``?*`` (not ``?*::INSTR``) so ``::SOCKET`` resources are not hidden.

Serial resources are not asked ``*IDN?`` unless ``idn_serial=True``: opening a port toggles DTR
(resetting Arduino-style boards) and a Modbus instrument does not speak SCPI.
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from ..driver.reading import Identity
from ..errors import IonpyError, ProtocolTimeoutError, TransportError, TransportUnavailableError
from .idn import clean_reply, parse_idn
from .known_devices import Drivers, installed_drivers, match_idn
from .results import DriverMatch, ScanResult, Stopwatch, as_ionpy_error, identity_dict
from .serial import ListPorts, default_list_ports
from .usb import SYSFS_USB, read_sysfs

_INTERFACE = re.compile(r"[A-Za-z]+")

LOCAL_NOTE = ("Local buses only (serial ports, USBTMC). Network instruments are listed with network=True, which "
              "broadcasts VXI-11 and mDNS queries on every interface; or enter TCPIP::<ip>::INSTR by hand.")


@dataclass(slots=True)
class VisaResourceInfo:
    """One VISA resource. ``source`` is ``list_resources`` or ``local`` (enumerated by this module)."""

    resource: str
    source: str
    idn_raw: str = ""
    identity: Identity | None = None
    hints: list[DriverMatch] = field(default_factory=list)
    error: IonpyError | None = None
    note: str = ""

    @property
    def interface(self) -> str:
        """``USB``, ``ASRL``, ``TCPIP``, ``GPIB``... (board number and serial device path dropped:
        ``ASRL/dev/ttyS0::INSTR`` is ``ASRL``)."""
        match = _INTERFACE.match(self.resource)
        return match.group(0).upper() if match else ""

    @property
    def resource_class(self) -> str:
        """``INSTR``, ``SOCKET``, ``RAW``..."""
        return self.resource.rsplit("::", 1)[-1].upper()

    def to_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "interface": self.interface, "resource_class": self.resource_class,
                "source": self.source, "idn": identity_dict(self.identity), "idn_raw": self.idn_raw,
                "hints": [h.to_dict() for h in self.hints],
                "error": self.error.to_dict() if self.error is not None else None, "note": self.note}


def backend_kind(rm: Any) -> str:
    """``sim`` (pyvisa-sim), ``py`` (pyvisa-py) or ``ivi`` (a vendor VISA library, or unknown)."""
    module = type(getattr(rm, "visalib", None)).__module__
    if module.startswith("pyvisa_sim"):
        return "sim"
    if module.startswith("pyvisa_py"):
        return "py"
    return "ivi"


def asrl_name(device: str, platform: str = sys.platform) -> str:
    """pyvisa-py's name for a serial port: ``ASRL/dev/ttyUSB0::INSTR``; ``ASRL3::INSTR`` for COM3."""
    if platform == "win32" and device.upper().startswith("COM") and device[3:].isdigit():
        return f"ASRL{device[3:]}::INSTR"
    return f"ASRL{device}::INSTR"


def local_resources(list_ports: ListPorts | None = None, sysfs_root: str = SYSFS_USB,
                    platform: str = sys.platform, query: str = "?*") -> list[str]:
    """Resource names on the local buses matching the VISA ``query`` (blocking; no network traffic)."""
    names = [asrl_name(str(p.device), platform) for p in (list_ports or default_list_ports)()]
    if platform.startswith("linux"):
        try:
            devices, _ = read_sysfs(sysfs_root, drivers={})
        except OSError:
            devices = []
        names += [d.visa_resource() for d in devices if d.visa_resource()]
    from pyvisa.rname import filter as visa_filter

    return list(visa_filter(names, query))


def _open_rm(spec: str) -> Any:
    try:
        import pyvisa

        return pyvisa.ResourceManager(spec)
    except (ImportError, ValueError, OSError) as exc:
        raise TransportUnavailableError(f"VISA backend {spec!r} is not usable: {exc}",
                                        hint="pip install pyvisa pyvisa-py") from exc


def _ask_idn(rm: Any, name: str, timeout_ms: int) -> str:
    """Blocking ``*IDN?`` on one resource; raises IonpyError subclasses."""
    from pyvisa.errors import VisaIOError

    try:
        res = rm.open_resource(name, timeout=timeout_ms, read_termination="\n", write_termination="\n")
    except Exception as exc:
        hint = "The instrument may be in use by another program, or its bus needs a driver."
        if "pyusb" in str(exc).lower():
            hint = ("pip install pyusb (plus the libusb library) so pyvisa-py can open USB instruments, or install "
                    "a vendor VISA (NI-VISA, Keysight IO Libraries).")
        raise TransportError(f"{name}: cannot open: {type(exc).__name__}: {exc}", resource=name, hint=hint) from exc
    try:
        return str(res.query("*IDN?"))
    except VisaIOError as exc:
        if "TMO" in str(getattr(exc, "abbreviation", "")) or "timeout" in str(exc).lower():
            raise ProtocolTimeoutError(f"{name}: no reply to *IDN? within {timeout_ms} ms",
                                       resource=name) from exc
        raise TransportError(f"{name}: *IDN? failed: {exc}", resource=name) from exc
    finally:
        res.close()


async def _identify(loop: asyncio.AbstractEventLoop, rm: Any, item: VisaResourceInfo, timeout_ms: int,
                    gate: asyncio.Semaphore, drivers: Drivers) -> None:
    async with gate:
        try:
            item.idn_raw = clean_reply(await loop.run_in_executor(None, _ask_idn, rm, item.resource, timeout_ms))
        except Exception as exc:
            item.error = as_ionpy_error(exc, "visa")
            return
    if item.idn_raw:
        item.identity = parse_idn(item.idn_raw)
        item.hints = match_idn(item.idn_raw, drivers=drivers)


async def discover_visa(*, resource_manager: Any = None, query: str = "?*", idn_timeout_ms: int = 2000,
                        network: bool = False, idn: bool = True, idn_serial: bool = False,
                        list_ports: ListPorts | None = None, sysfs_root: str = SYSFS_USB,
                        platform: str = sys.platform, concurrency: int = 4) -> ScanResult[VisaResourceInfo]:
    """List VISA resources and ask each ``*IDN?``. Never raises: failures are in ``.error`` (the
    listing) or in each item's ``error`` (one resource). See the module docstring for when
    ``list_resources`` is called."""
    watch = Stopwatch()
    loop = asyncio.get_running_loop()
    result: ScanResult[VisaResourceInfo] = ScanResult("visa")
    rm, own_rm = resource_manager, False
    try:
        if rm is not None and (network or backend_kind(rm) == "sim"):
            names, source = list(await loop.run_in_executor(None, rm.list_resources, query)), "list_resources"
        elif network:
            rm, own_rm = await loop.run_in_executor(None, _open_rm, "@py"), True
            names, source = list(await loop.run_in_executor(None, rm.list_resources, query)), "list_resources"
        else:
            names = await loop.run_in_executor(None, local_resources, list_ports, sysfs_root, platform, query)
            source, result.note = "local", LOCAL_NOTE
        result.items = [VisaResourceInfo(name, source) for name in names]
        asked = [i for i in result.items if idn and i.resource_class in ("INSTR", "SOCKET")
                 and (idn_serial or i.interface != "ASRL")]
        for item in result.items:
            if idn and item.interface == "ASRL" and not idn_serial:
                item.note = "not asked *IDN?: pass idn_serial=True (opening a port can reset the device on it)"
        if asked and rm is None:
            rm, own_rm = await loop.run_in_executor(None, _open_rm, "@py"), True
        gate = asyncio.Semaphore(max(1, concurrency))
        drivers = await loop.run_in_executor(None, installed_drivers) if asked else {}
        await asyncio.gather(*(_identify(loop, rm, item, idn_timeout_ms, gate, drivers) for item in asked))
    except Exception as exc:
        result.error = as_ionpy_error(exc, "visa")
    finally:
        if own_rm and rm is not None:
            await loop.run_in_executor(None, rm.close)
    result.duration_ms = watch.ms()
    return result
