"""Serial-port discovery: every port pyserial enumerates, with what it probably is.

For each port: the USB identity pyserial reads (VID, PID, serial number, strings), the stable
``/dev/serial/by-id`` path that points at it, the known-device row and driver hints, whether the
engine already holds it, and whether this user may open it (with the fix when not). Paths the
user typed that pyserial does not enumerate (a pty such as ``/dev/pts/7``, a symlink) can be
added with ``extra_paths``. Nothing is opened: listing a port never disturbs the device on it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .known_devices import Drivers, installed_drivers, match_usb, usb_hints
from .results import DriverMatch, KnownDevice, ScanResult, Stopwatch, as_ionpy_error, usb_id

BY_ID_DIR = "/dev/serial/by-id"
ListPorts = Callable[[], Iterable[Any]]
Access = Callable[[str, int], bool]


@dataclass(slots=True)
class SerialPortInfo:
    """One serial port. ``source`` is ``"comports"`` or ``"extra"`` (a path passed by the user)."""

    device: str
    by_id: str = ""
    vid: int | None = None
    pid: int | None = None
    serial_number: str = ""
    manufacturer: str = ""
    product: str = ""
    description: str = ""
    hwid: str = ""
    known: KnownDevice | None = None
    hints: list[DriverMatch] = field(default_factory=list)
    in_use: bool = False
    exists: bool = True
    accessible: bool = True
    permission_hint: str = ""
    source: str = "comports"

    @property
    def usb_id(self) -> str:
        return usb_id(self.vid, self.pid)

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device, "by_id": self.by_id, "vid": self.vid, "pid": self.pid, "usb_id": self.usb_id,
            "serial_number": self.serial_number, "manufacturer": self.manufacturer, "product": self.product,
            "description": self.description, "hwid": self.hwid,
            "known": self.known.to_dict() if self.known is not None else None,
            "hints": [h.to_dict() for h in self.hints], "in_use": self.in_use, "exists": self.exists,
            "accessible": self.accessible, "permission_hint": self.permission_hint, "source": self.source,
        }


def permission_hint(device: str, *, platform: str = sys.platform, group: str = "dialout") -> str:
    """What to do when ``device`` exists but cannot be opened read/write by this user."""
    if platform == "win32":
        return (f"Windows refused access to {device}: another program (a terminal, an IDE serial monitor, "
                "a vendor tool) has it open; close it, or check the port in Device Manager.")
    if platform == "darwin":
        return f"No read/write access to {device}: check its owner with `ls -l {device}`."
    return (f"No read/write access to {device}: add your user to the {group} group: "
            f"sudo usermod -aG {group} $USER, then log out and in")


def _device_group(path: str) -> str:
    """The group owning ``path`` (``dialout`` on Debian, ``uucp`` on Arch), ``dialout`` if unknown."""
    try:
        import grp

        return grp.getgrgid(os.stat(path).st_gid).gr_name
    except (ImportError, KeyError, OSError):
        return "dialout"


def _by_id_map(folder: str) -> dict[str, str]:
    """Real device path -> stable symlink in ``folder`` (first by name when several point at it)."""
    found: dict[str, str] = {}
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return found
    for name in names:
        link = os.path.join(folder, name)
        if os.path.islink(link):
            found.setdefault(os.path.realpath(link), link)
    return found


def _text(value: Any) -> str:
    return "" if value in (None, "n/a") else str(value)


def _describe(port: Any, source: str, by_id: dict[str, str], in_use: set[str], access: Access,
              platform: str, drivers: Drivers) -> SerialPortInfo:
    device = str(port.device)
    real = os.path.realpath(device)
    vid, pid = getattr(port, "vid", None), getattr(port, "pid", None)
    info = SerialPortInfo(
        device=device, by_id=by_id.get(real, ""), vid=vid, pid=pid,
        serial_number=_text(getattr(port, "serial_number", None)),
        manufacturer=_text(getattr(port, "manufacturer", None)), product=_text(getattr(port, "product", None)),
        description=_text(getattr(port, "description", None)), hwid=_text(getattr(port, "hwid", None)),
        known=match_usb(vid, pid, drivers=drivers), hints=usb_hints(vid, pid, drivers=drivers),
        in_use=device in in_use or real in in_use, source=source,
    )
    if platform == "win32":  # COM ports are not files; pyserial only lists ports that exist
        return info
    info.exists = os.path.exists(device)
    if not info.exists:
        info.accessible = False
        info.permission_hint = f"{device} does not exist (unplugged, or a typo in the path)."
    elif not access(device, os.R_OK | os.W_OK):
        info.accessible = False
        info.permission_hint = permission_hint(device, platform=platform, group=_device_group(device))
    return info


@dataclass(slots=True)
class _Extra:
    device: str


def default_list_ports() -> list[Any]:
    """``serial.tools.list_ports.comports()`` (blocking: reads sysfs / the registry)."""
    from serial.tools import list_ports

    return list(list_ports.comports())


async def discover_serial(
    *,
    in_use: Iterable[str] = (),
    list_ports: ListPorts | None = None,
    extra_paths: Iterable[str] = (),
    by_id_dir: str = BY_ID_DIR,
    access: Access = os.access,
    platform: str = sys.platform,
) -> ScanResult[SerialPortInfo]:
    """Enumerate serial ports (``serial.tools.list_ports.comports()`` unless ``list_ports`` is
    given), plus ``extra_paths`` not enumerated by it. ``in_use`` are the ports the engine holds
    (any spelling: the real path or a by-id symlink). Never raises: a failure is in ``.error``."""
    watch = Stopwatch()
    held_paths = [str(p) for p in in_use]
    lister = list_ports or default_list_ports
    extra = [str(p) for p in extra_paths]
    result: ScanResult[SerialPortInfo] = ScanResult("serial")

    def scan() -> list[SerialPortInfo]:
        held = set(held_paths) | {os.path.realpath(p) for p in held_paths}
        by_id = _by_id_map(by_id_dir)
        drivers = installed_drivers()
        ports = [_describe(p, "comports", by_id, held, access, platform, drivers) for p in lister()]
        seen = {os.path.realpath(p.device) for p in ports} | {p.device for p in ports}
        for path in extra:
            if path not in seen and os.path.realpath(path) not in seen:
                seen.add(path)
                ports.append(_describe(_Extra(path), "extra", by_id, held, access, platform, drivers))
        return ports

    try:
        result.items = await asyncio.get_running_loop().run_in_executor(None, scan)
    except Exception as exc:
        result.error = as_ionpy_error(exc, "serial")
    result.duration_ms = watch.ms()
    return result
