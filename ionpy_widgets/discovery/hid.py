"""HID device discovery through hidapi (``hid.enumerate()``, run in an executor).

Lists every HID device with its USB identity, usage page and the known-device row (the UNI-T
meter cables: CP2110 ``10C4:EA80`` UT-D09 and WCH ``1A86:E429`` D-09A are HID devices, not serial
ports). Each device carries the platform's access hint: on Linux a udev rule giving the
``plugdev`` group access to the hidraw node (only when the node is not readable/writable), on
macOS the Input Monitoring privacy setting, on Windows nothing is needed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import TransportUnavailableError
from .known_devices import Drivers, installed_drivers, match_usb, usb_hints
from .results import DriverMatch, KnownDevice, ScanResult, Stopwatch, as_ionpy_error, usb_id


class HidBackend(Protocol):
    """What discovery needs from hidapi: ``enumerate()`` returning hidapi's device dicts."""

    def enumerate(self, vendor_id: int = 0, product_id: int = 0) -> list[dict[str, Any]]: ...


@dataclass(slots=True)
class HidDeviceInfo:
    """One HID interface. ``path`` is hidapi's open path (``/dev/hidraw3`` with the hidraw
    backend on Linux, an IOService path on macOS, a device-interface path on Windows)."""

    path: str
    vid: int
    pid: int
    serial_number: str = ""
    manufacturer: str = ""
    product: str = ""
    usage_page: int = 0
    usage: int = 0
    interface_number: int = -1
    release_number: int = 0
    known: KnownDevice | None = None
    hints: list[DriverMatch] = field(default_factory=list)
    accessible: bool | None = None
    permission_hint: str = ""

    @property
    def usb_id(self) -> str:
        return usb_id(self.vid, self.pid)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "vid": self.vid, "pid": self.pid, "usb_id": self.usb_id,
            "serial_number": self.serial_number, "manufacturer": self.manufacturer, "product": self.product,
            "usage_page": self.usage_page, "usage": self.usage, "interface_number": self.interface_number,
            "release_number": self.release_number, "known": self.known.to_dict() if self.known else None,
            "hints": [h.to_dict() for h in self.hints], "accessible": self.accessible,
            "permission_hint": self.permission_hint,
        }


def udev_rule(vid: int, pid: int, group: str = "plugdev") -> str:
    """A udev rule line giving ``group`` read/write access to the device's hidraw node."""
    return (f'SUBSYSTEM=="hidraw", ATTRS{{idVendor}}=="{vid:04x}", ATTRS{{idProduct}}=="{pid:04x}", '
            f'MODE="0660", GROUP="{group}"')


def platform_hint(vid: int, pid: int, *, platform: str = sys.platform) -> str:
    """How to get access to a HID device on ``platform`` ("" when nothing is needed)."""
    if platform.startswith("linux"):
        return (f"Add the udev rule `{udev_rule(vid, pid)}` to /etc/udev/rules.d/60-ionpy.rules, run "
                "`sudo udevadm control --reload-rules && sudo udevadm trigger`, then add your user to plugdev: "
                "sudo usermod -aG plugdev $USER, then log out and in")
    if platform == "darwin":
        return ("If opening fails, allow your terminal or Jupyter app in System Settings → Privacy & Security → "
                "Input Monitoring, then restart it.")
    return ""


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def _describe(entry: dict[str, Any], platform: str, access: Callable[[str, int], bool],
              drivers: Drivers) -> HidDeviceInfo:
    vid, pid = int(entry.get("vendor_id") or 0), int(entry.get("product_id") or 0)
    info = HidDeviceInfo(
        path=_text(entry.get("path")), vid=vid, pid=pid, serial_number=_text(entry.get("serial_number")),
        manufacturer=_text(entry.get("manufacturer_string")), product=_text(entry.get("product_string")),
        usage_page=int(entry.get("usage_page") or 0), usage=int(entry.get("usage") or 0),
        interface_number=int(entry.get("interface_number", -1)), release_number=int(entry.get("release_number") or 0),
        known=match_usb(vid, pid, drivers=drivers), hints=usb_hints(vid, pid, drivers=drivers),
    )
    if platform.startswith("linux"):
        if os.path.isabs(info.path) and os.path.exists(info.path):  # hidraw backend: a device node
            info.accessible = access(info.path, os.R_OK | os.W_OK)
        if info.accessible is False:
            info.permission_hint = platform_hint(vid, pid, platform=platform)
    else:
        info.permission_hint = platform_hint(vid, pid, platform=platform)
    return info


def _default_backend() -> HidBackend:
    try:
        import hid
    except ImportError as exc:
        raise TransportUnavailableError(
            f"hidapi is not usable here: {exc}", hint="pip install hidapi (and on Linux the libhidapi-hidraw0 "
            "package if the wheel does not bundle it).") from exc
    return hid  # type: ignore[return-value]


async def discover_hid(*, backend: HidBackend | None = None, platform: str = sys.platform,
                       access: Callable[[str, int], bool] = os.access) -> ScanResult[HidDeviceInfo]:
    """Enumerate HID devices (hidapi, in an executor). Never raises: a failure is in ``.error``."""
    watch = Stopwatch()
    result: ScanResult[HidDeviceInfo] = ScanResult("hid")

    def scan() -> list[HidDeviceInfo]:
        lib = backend if backend is not None else _default_backend()
        entries = lib.enumerate(0, 0)
        drivers = installed_drivers()
        return [_describe(entry, platform, access, drivers) for entry in entries]

    try:
        result.items = await asyncio.get_running_loop().run_in_executor(None, scan)
    except Exception as exc:
        result.error = as_ionpy_error(exc, "hid")
    result.duration_ms = watch.ms()
    return result
