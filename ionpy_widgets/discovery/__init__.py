"""Discovery: what is plugged in or listening, and which driver probably fits.

Discovery is advisory: connecting never depends on it, and a manual port or address always
works. Every scanner is async, independent and best effort: it returns a
:class:`~.results.ScanResult` whose ``error`` is set when that scanner failed (others are
unaffected) and never raises for an environment problem. Blocking libraries (pyserial, hidapi,
pyvisa, sysfs reads) run in the loop's default executor. Nothing here touches the network unless
the caller asks: :mod:`.network` probes only the targets passed in, and :func:`discover_visa`
lists network resources only with ``network=True``.

``await discover("serial")`` dispatches by bus name: ``serial``, ``usb``, ``hid``, ``visa`` or
``network`` (the latter needs ``targets=``; it runs one scan job to completion).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigValidationError, TransportError
from .hid import HidDeviceInfo, discover_hid
from .known_devices import (
    KNOWN_DEVICES,
    installed_drivers,
    match_idn,
    match_modbus_model,
    match_usb,
    parse_idn,
    usb_hints,
)
from .network import (
    KNOWN_PORTS,
    ProbeResult,
    ResultCache,
    ScanJob,
    ScanManager,
    ScanTargetError,
    ScanTooLargeError,
    parse_targets,
    probe_host,
)
from .results import DriverMatch, KnownDevice, ScanResult
from .serial import SerialPortInfo, discover_serial
from .usb import UsbDeviceInfo, UsbInterfaceInfo, discover_usb
from .visa import VisaResourceInfo, discover_visa

BUSES = ("serial", "usb", "hid", "visa", "network")


async def discover_network(*, targets: str, ports: list[int] | None = None, manager: ScanManager | None = None,
                           **kw: Any) -> ScanResult[ProbeResult]:
    """Run one scan of ``targets`` to completion and return the open ports as a ScanResult."""
    manager = manager or ScanManager()
    job = manager.start_scan(targets, ports, **kw)
    try:
        await job.wait()
    finally:
        if not job.finished:  # the caller was cancelled: stop the scan too
            job.cancel()
            await job.wait()
    result: ScanResult[ProbeResult] = ScanResult("network", job.results, duration_ms=job.duration_ms)
    if job.state == "failed":
        result.error = TransportError(f"network scan failed: {job.error}", scan=job.id,
                                      hint="See the log for the traceback; probing a single host still works.")
    return result


async def discover(bus: str, **kw: Any) -> ScanResult[Any]:
    """Run one scanner by bus name with its keyword options."""
    scanners = {"serial": discover_serial, "usb": discover_usb, "hid": discover_hid, "visa": discover_visa,
                "network": discover_network}
    key = bus.strip().lower()
    if key not in scanners:
        raise ConfigValidationError(f"unknown discovery bus {bus!r}", path="bus",
                                    hint=f"Use one of: {', '.join(BUSES)}.")
    return await scanners[key](**kw)


__all__ = [
    "BUSES",
    "KNOWN_DEVICES",
    "KNOWN_PORTS",
    "DriverMatch",
    "HidDeviceInfo",
    "KnownDevice",
    "ProbeResult",
    "ResultCache",
    "ScanJob",
    "ScanManager",
    "ScanResult",
    "ScanTargetError",
    "ScanTooLargeError",
    "SerialPortInfo",
    "UsbDeviceInfo",
    "UsbInterfaceInfo",
    "VisaResourceInfo",
    "discover",
    "discover_hid",
    "discover_network",
    "discover_serial",
    "discover_usb",
    "discover_visa",
    "installed_drivers",
    "match_idn",
    "match_modbus_model",
    "match_usb",
    "parse_idn",
    "parse_targets",
    "probe_host",
    "usb_hints",
]
