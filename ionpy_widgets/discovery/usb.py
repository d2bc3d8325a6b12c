"""USB device discovery from Linux sysfs (no libusb needed).

Reads ``/sys/bus/usb/devices``: each device directory (``1-1.2``) has ``idVendor``, ``idProduct``,
``manufacturer``, ``product``, ``serial``, ``bDeviceClass``...; each interface directory
(``1-1.2:1.0``) has ``bInterfaceClass``/``SubClass``/``Protocol``, a ``driver`` link and the
device nodes the kernel made for it (``ttyUSB0``, ``tty/ttyACM0``, ``*/hidraw/hidraw0``,
``usbmisc/usbtmc0``). Hubs and root hubs are left out. String descriptors the kernel cannot read
(some devices stall on them) are reported as empty. Other platforms get an empty result with a
note; serial, HID and VISA discovery work there.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from .known_devices import Drivers, installed_drivers, match_usb, usb_hints
from .results import DriverMatch, KnownDevice, ScanResult, Stopwatch, as_ionpy_error, usb_id

SYSFS_USB = "/sys/bus/usb/devices"
HUB_CLASS = 0x09

_CLASSES = {
    0x00: "per-interface", 0x01: "audio", 0x02: "CDC (communications)", 0x03: "HID", 0x05: "physical",
    0x06: "image", 0x07: "printer", 0x08: "mass storage", 0x09: "hub", 0x0A: "CDC data", 0x0B: "smart card",
    0x0D: "content security", 0x0E: "video", 0x0F: "personal healthcare", 0x10: "audio/video",
    0xDC: "diagnostic", 0xE0: "wireless controller", 0xEF: "miscellaneous", 0xFE: "application specific",
    0xFF: "vendor specific",
}
_APP_SPECIFIC = {1: "DFU", 2: "IrDA bridge", 3: "USBTMC"}
_DEVICE_NAME = re.compile(r"^\d+-\d+(\.\d+)*$")


def class_name(cls: int | None, subclass: int | None = None) -> str:
    """Human name of a USB class code (``0xFE`` subclass 3 is ``USBTMC``)."""
    if cls is None:
        return ""
    if cls == 0xFE and subclass is not None and subclass in _APP_SPECIFIC:
        return _APP_SPECIFIC[subclass]
    return _CLASSES.get(cls, f"class 0x{cls:02X}")


@dataclass(frozen=True, slots=True)
class UsbInterfaceInfo:
    number: int | None
    cls: int | None
    subclass: int | None
    protocol: int | None
    class_name: str
    driver: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "class": self.cls, "subclass": self.subclass, "protocol": self.protocol,
                "class_name": self.class_name, "driver": self.driver}


@dataclass(slots=True)
class UsbDeviceInfo:
    """One USB device (not a hub). ``sysfs_name`` is the kernel's port path, e.g. ``1-1.2``."""

    sysfs_name: str
    vid: int
    pid: int
    bus: int | None = None
    address: int | None = None
    manufacturer: str = ""
    product: str = ""
    serial_number: str = ""
    device_class: int | None = None
    class_name: str = ""
    speed_mbps: float | None = None
    interfaces: list[UsbInterfaceInfo] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    known: KnownDevice | None = None
    hints: list[DriverMatch] = field(default_factory=list)

    @property
    def usb_id(self) -> str:
        return usb_id(self.vid, self.pid)

    @property
    def interface_classes(self) -> list[str]:
        return sorted({i.class_name for i in self.interfaces if i.class_name})

    @property
    def is_usbtmc(self) -> bool:
        return any(i.cls == 0xFE and i.subclass == 3 for i in self.interfaces)

    def visa_resource(self, board: int = 0) -> str:
        """``USB0::0x1AB1::0x0E11::SERIAL::INSTR`` for a USBTMC device with a readable serial, else ``""``."""
        if not self.is_usbtmc or not self.serial_number:
            return ""
        return f"USB{board}::0x{self.vid:04X}::0x{self.pid:04X}::{self.serial_number}::INSTR"

    def to_dict(self) -> dict[str, Any]:
        return {
            "sysfs_name": self.sysfs_name, "vid": self.vid, "pid": self.pid, "usb_id": self.usb_id, "bus": self.bus,
            "address": self.address, "manufacturer": self.manufacturer, "product": self.product,
            "serial_number": self.serial_number, "device_class": self.device_class, "class_name": self.class_name,
            "interface_classes": self.interface_classes, "speed_mbps": self.speed_mbps,
            "interfaces": [i.to_dict() for i in self.interfaces], "nodes": self.nodes,
            "known": self.known.to_dict() if self.known is not None else None,
            "hints": [h.to_dict() for h in self.hints], "visa_resource": self.visa_resource(),
        }


def _read(folder: str, name: str) -> str:
    """A sysfs attribute, stripped; ``""`` when missing or unreadable (EIO, EPERM, bad UTF-8)."""
    try:
        with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _int(text: str, base: int = 10) -> int | None:
    try:
        return int(text, base)
    except ValueError:
        return None


def _nodes(intf_dir: str) -> list[str]:
    """Device nodes under one interface: ttyUSB*, tty/ttyACM*, <hid>/hidraw/hidraw*, usbmisc/usbtmc*."""
    found: list[str] = []
    try:
        entries = sorted(os.listdir(intf_dir))
    except OSError:
        return found
    for entry in entries:
        path = os.path.join(intf_dir, entry)
        if entry.startswith("ttyUSB"):
            found.append(f"/dev/{entry}")
        elif entry in ("tty", "usbmisc") and os.path.isdir(path):
            found += [f"/dev/{n}" for n in sorted(os.listdir(path))]
        elif os.path.isdir(os.path.join(path, "hidraw")):
            found += [f"/dev/{n}" for n in sorted(os.listdir(os.path.join(path, "hidraw")))]
    return found


def _interface(folder: str) -> UsbInterfaceInfo:
    cls, sub = _int(_read(folder, "bInterfaceClass"), 16), _int(_read(folder, "bInterfaceSubClass"), 16)
    driver = os.path.join(folder, "driver")
    return UsbInterfaceInfo(
        number=_int(_read(folder, "bInterfaceNumber"), 16), cls=cls, subclass=sub,
        protocol=_int(_read(folder, "bInterfaceProtocol"), 16), class_name=class_name(cls, sub),
        driver=os.path.basename(os.path.realpath(driver)) if os.path.islink(driver) else "",
    )


def read_sysfs(root: str = SYSFS_USB, *, drivers: Drivers | None = None) -> tuple[list[UsbDeviceInfo], int]:
    """Every non-hub device under ``root`` (blocking); also returns how many hubs were skipped."""
    names = sorted(os.listdir(root))
    drivers = installed_drivers() if drivers is None else drivers
    devices: list[UsbDeviceInfo] = []
    hubs = 0
    for name in names:
        folder = os.path.join(root, name)
        vid, pid = _int(_read(folder, "idVendor"), 16), _int(_read(folder, "idProduct"), 16)
        if vid is None or pid is None:
            continue
        dev_class = _int(_read(folder, "bDeviceClass"), 16)
        if name.startswith("usb") or not _DEVICE_NAME.match(name) or dev_class == HUB_CLASS:
            hubs += 1
            continue
        interfaces = [n for n in names if n.startswith(name + ":")]
        info = UsbDeviceInfo(
            sysfs_name=name, vid=vid, pid=pid, bus=_int(_read(folder, "busnum")), address=_int(_read(folder, "devnum")),
            manufacturer=_read(folder, "manufacturer"), product=_read(folder, "product"),
            serial_number=_read(folder, "serial"), device_class=dev_class, class_name=class_name(dev_class),
            speed_mbps=float(s) if (s := _read(folder, "speed")).replace(".", "", 1).isdigit() else None,
            interfaces=[_interface(os.path.join(root, n)) for n in interfaces],
            nodes=[node for n in interfaces for node in _nodes(os.path.join(root, n))],
            known=match_usb(vid, pid, drivers=drivers), hints=usb_hints(vid, pid, drivers=drivers),
        )
        devices.append(info)
    return devices, hubs


async def discover_usb(*, sysfs_root: str = SYSFS_USB, platform: str = sys.platform) -> ScanResult[UsbDeviceInfo]:
    """Enumerate USB devices (Linux sysfs). Never raises: a failure is in ``.error``."""
    watch = Stopwatch()
    result: ScanResult[UsbDeviceInfo] = ScanResult("usb")
    if not platform.startswith("linux"):
        result.note = ("USB enumeration reads Linux sysfs and is not available on this platform; "
                       "serial, HID and VISA discovery still list USB instruments.")
        return result

    def scan() -> tuple[list[UsbDeviceInfo], int] | None:
        return read_sysfs(sysfs_root) if os.path.isdir(sysfs_root) else None

    try:
        found = await asyncio.get_running_loop().run_in_executor(None, scan)
        if found is None:
            result.note = f"{sysfs_root} does not exist (no USB bus visible here, e.g. inside a container)."
        else:
            result.items, hubs = found
            result.note = f"{hubs} hub(s) not listed." if hubs else ""
    except Exception as exc:
        result.error = as_ionpy_error(exc, "usb")
    result.duration_ms = watch.ms()
    return result
