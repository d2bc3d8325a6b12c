"""What a port or an instrument probably is: USB VID:PID, ``*IDN?`` and Modbus model tables.

Everything here is a *hint* for the user (discovery is advisory): a CH340 bridge can sit in front
of an RD Tech DPS, a Riden RD60xx or any Arduino clone. Hints name a registry driver when one is
installed (``installed=True``) or the family name otherwise, so a widget can still say what the
device probably is. Facts come from shared/reference/protocols.md §1.4, §2.3, §4, §5.2, §7.1, §9.

Loading the driver registry scans entry points (tens of milliseconds), so every function takes an
optional ``drivers`` snapshot (:func:`installed_drivers`); scanners take one per scan and pass it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..driver.base import Driver
from ..driver.registry import driver_classes
from .idn import parse_idn
from .results import DriverMatch, KnownDevice

__all__ = [
    "KNOWN_DEVICES",
    "DriverMatch",
    "KnownDevice",
    "installed_drivers",
    "match_idn",
    "match_modbus_model",
    "match_usb",
    "parse_idn",
    "usb_hints",
]

_DPS = "DPS5005"  # the registry name of the RD Tech DPS/DPH driver
_SCPI = "SCPI_PSU"


def _h(driver: str, confidence: float, reason: str, model: str = "") -> DriverMatch:
    # ``installed`` is decided against the registry when a row is matched (``_mark``)
    return DriverMatch(driver, confidence, reason, model, installed=False)


def _dev(vid: int, pid: int | None, chip: str, vendor: str, kind: str, *hints: DriverMatch,
         note: str = "") -> KnownDevice:
    return KnownDevice(vid, pid, chip, vendor, kind, tuple(hints), note)


_CH340_HINTS = (
    _h(_DPS, 0.4, "DPS5005 (RD Tech USB board) or Riden RD60xx: both use a WCH CH340/CH341 bridge"),
    _h("RD60xx", 0.4, "Riden RD60xx power supplies have a CH340 USB port"),
)
_UT61_HINT = _h("UT61E_PLUS", 0.8, "UNI-T UT61E+/B+/D+ and UT161 meters (UT-D09 / D-09A HID cable)")

#: The USB table (protocols.md §9). ``pid=None`` rows match any product of the vendor. The raw rows'
#: hints say ``installed=False``; :func:`match_usb` returns them marked against the registry.
KNOWN_DEVICES: tuple[KnownDevice, ...] = (
    _dev(0x1A86, 0x7523, "CH340", "WCH", "serial", *_CH340_HINTS),
    _dev(0x1A86, 0x5523, "CH341 (serial mode)", "WCH", "serial", *_CH340_HINTS),
    _dev(0x1A86, 0x7522, "CH34x", "WCH", "serial", *_CH340_HINTS),
    _dev(0x4348, 0x5523, "CH341 (old WinChipHead VID)", "WCH", "serial", *_CH340_HINTS),
    _dev(0x1A86, 0x55D4, "CH9102", "WCH", "serial", note="Common on ESP32 boards."),
    _dev(0x1A86, 0x55D3, "CH343", "WCH", "serial", note="Common on RS-485 dongles (BMS, Modbus)."),
    _dev(0x1A86, 0xE008, "CH9325 HID-UART", "WCH", "hid",
         _h("UT61E", 0.5, "UNI-T UT-D04 cable (older meters, different protocol)")),
    _dev(0x04FA, 0x2490, "HE2325U HID-UART", "Hoitek", "hid",
         _h("UT61E", 0.5, "older UNI-T HID cable (older meters, different protocol)")),
    _dev(0x1A86, 0xE429, "WCH HID (UNI-T D-09A cable)", "WCH", "hid", _UT61_HINT),
    _dev(0x10C4, 0xEA60, "CP210x", "Silicon Labs", "serial", note="Generic USB-UART bridge."),
    _dev(0x10C4, 0xEA63, "CP2104 (unverified ID)", "Silicon Labs", "serial"),
    _dev(0x10C4, 0xEA70, "CP2105", "Silicon Labs", "serial"),
    _dev(0x10C4, 0xEA80, "CP2110 HID-UART", "Silicon Labs", "hid", _UT61_HINT,
         note="UNI-T UT-D09 cable; a HID device, not a serial port."),
    _dev(0x0403, 0x6001, "FT232R", "FTDI", "serial"),
    _dev(0x0403, 0x6010, "FT2232", "FTDI", "serial"),
    _dev(0x0403, 0x6011, "FT4232H", "FTDI", "serial"),
    _dev(0x0403, 0x6014, "FT232H", "FTDI", "serial"),
    _dev(0x0403, 0x6015, "FT-X (FT230X/FT231X)", "FTDI", "serial"),
    _dev(0x067B, 0x2303, "PL2303", "Prolific", "serial"),
    _dev(0x0483, 0x5740, "STM32 Virtual COM Port", "STMicroelectronics", "serial",
         note="Any STM32-based gadget with a USB CDC port."),
    _dev(0x0416, 0x5011, "Virtual COM Port", "Winbond/Nuvoton", "serial",
         _h("KA3005P", 0.6, "Korad/Tenma KA3005P-family power supplies use this ID"),
         note="Also used by unrelated receipt printers."),
    _dev(0x2E3C, 0x5740, "FNIRSI DPS-150 (CDC)", "FNIRSI", "serial",
         _h("DPS-150", 0.8, "FNIRSI DPS-150 power supply")),
    _dev(0x1AB1, 0x0E11, "Rigol DP800 / DL3000", "Rigol", "usbtmc",
         _h(_SCPI, 0.6, "Rigol DP800 power supplies use 1AB1:0E11", "DP800"),
         _h("DL3000", 0.3, "Rigol DL3000 loads have been seen with 1AB1:0E11", "DL3000")),
    _dev(0x1AB1, None, "Rigol USBTMC", "Rigol", "usbtmc", note="Ask *IDN? to tell the model."),
    _dev(0x2A8D, 0x1102, "Keysight E36xx PSU", "Keysight", "usbtmc",
         _h(_SCPI, 0.5, "seen for an E3631xA-class power supply", "E36xx")),
    _dev(0x0957, None, "Agilent/Keysight USBTMC", "Agilent/Keysight", "usbtmc", note="Ask *IDN? to tell the model."),
    _dev(0x2A8D, None, "Keysight USBTMC", "Keysight", "usbtmc", note="Ask *IDN? to tell the model."),
    _dev(0xF4EC, None, "Siglent USBTMC", "Siglent", "usbtmc", note="Ask *IDN? to tell the model."),
    _dev(0xF4ED, None, "Siglent USBTMC", "Siglent", "usbtmc", note="Ask *IDN? to tell the model."),
    _dev(0x0AAD, 0x0135, "R&S HMC power supply", "Rohde & Schwarz", "usbtmc",
         _h(_SCPI, 0.3, "R&S HMC804x power supplies speak SCPI", "HMC804x")),
    _dev(0x0AAD, None, "Rohde & Schwarz USBTMC", "Rohde & Schwarz", "usbtmc", note="Ask *IDN? to tell the model."),
)
_BY_ID = {(d.vid, d.pid): d for d in KNOWN_DEVICES}

#: Built-in ``*IDN?`` patterns (case-insensitive regex, driver or family name, confidence).
IDN_PATTERNS: tuple[tuple[str, str, float], ...] = (
    (r"^RIGOL[^,]*,\s*DP8\d\d", _SCPI, 0.9),
    (r"^(KEYSIGHT|AGILENT)[^,]*,\s*E36\d", _SCPI, 0.9),
    (r"^RIGOL[^,]*,\s*DL30\d\d", "DL3000", 0.8),
    (r"^SIGLENT[^,]*,\s*SDL10\d0", "SDL1000X", 0.8),
    (r"^(KORAD|TENMA|RND|VELLEMAN|STAMOS)", "KA3005P", 0.8),
    (r"\bRD60\d\d", "RD60xx", 0.6),
)

_DPS_MODELS = {3005: "DPS3005", 5005: "DPS5005", 5205: "DPH5005", 5015: "DPS5015", 5020: "DPS5020",
               8005: "DPS8005"}


Drivers = Mapping[str, type[Driver]]


def installed_drivers() -> dict[str, type[Driver]]:
    """Snapshot of the driver classes that load on this machine (broken plugins excluded)."""
    return driver_classes()


def _mark(hints: list[DriverMatch], installed: Drivers) -> list[DriverMatch]:
    best: dict[str, DriverMatch] = {}
    for h in hints:
        h = DriverMatch(h.driver, h.confidence, h.reason, h.model, h.driver in installed)
        if h.driver not in best or h.confidence > best[h.driver].confidence:
            best[h.driver] = h
    return sorted(best.values(), key=lambda h: (-h.confidence, h.driver))


def match_usb(vid: int | None, pid: int | None, *, drivers: Drivers | None = None) -> KnownDevice | None:
    """The table row for ``vid:pid`` (exact product first, then a vendor-wide row), or None."""
    if vid is None:
        return None
    row = _BY_ID.get((vid, pid)) or _BY_ID.get((vid, None))
    if row is None:
        return None
    return KnownDevice(row.vid, row.pid, row.chip, row.vendor, row.kind,
                       tuple(_mark(list(row.hints), installed_drivers() if drivers is None else drivers)), row.note)


def usb_hints(vid: int | None, pid: int | None, *, drivers: Drivers | None = None) -> list[DriverMatch]:
    """Driver hints for a USB ID: the table's hints plus installed drivers declaring it in ``usb_ids``."""
    if vid is None or pid is None:
        return []
    row = _BY_ID.get((vid, pid)) or _BY_ID.get((vid, None))
    hints = list(row.hints) if row else []
    drivers = installed_drivers() if drivers is None else drivers
    for name, cls in drivers.items():
        if (vid, pid) in cls.usb_ids and all(h.driver != name for h in hints):
            hints.append(_h(name, 0.5, f"driver {name} lists USB ID {vid:04X}:{pid:04X}"))
    return _mark(hints, drivers)


def match_idn(idn: str, *, drivers: Drivers | None = None) -> list[DriverMatch]:
    """Drivers that fit an ``*IDN?`` reply, best first: installed drivers' ``idn_patterns``
    (confidence 0.9) plus the built-in patterns."""
    text = idn.strip()
    if not text:
        return []
    model = parse_idn(text).model
    hints: list[DriverMatch] = []
    drivers = installed_drivers() if drivers is None else drivers
    for name, cls in drivers.items():
        if cls.idn_patterns and cls.matches_idn(text):
            hints.append(_h(name, 0.9, f"*IDN? matches the {name} driver's patterns", model))
    for pattern, driver, confidence in IDN_PATTERNS:
        if re.search(pattern, text, re.IGNORECASE):
            hints.append(_h(driver, confidence, f"*IDN? matches {pattern!r}", model))
    return _mark(hints, drivers)


def riden_model(value: int) -> str | None:
    """Riden model name from the ID register (reg 0), e.g. 60062 -> ``RD6006`` (protocols.md §2.3).

    RD6024 is documented as 60241; the 60240-60249 range is inferred from the other models."""
    if value == 60065:
        return "RD6006P"
    if value == 60125:
        return "RD6012P"
    families = {6006: "RD6006", 6012: "RD6012", 6018: "RD6018", 6024: "RD6024"}
    return families.get(value // 10)


def match_modbus_model(register_value: int, *, drivers: Drivers | None = None) -> DriverMatch | None:
    """Driver for a Modbus model register: RD Tech DPS MODEL (0x000B) or Riden ID (0x0000)."""
    dps = _DPS_MODELS.get(register_value)
    riden = riden_model(register_value)
    if dps is not None:
        hint = _h(_DPS, 0.95, f"MODEL register 0x000B = {register_value}: RD Tech {dps}", dps)
    elif riden is not None:
        hint = _h("RD60xx", 0.9, f"ID register 0x0000 = {register_value}: Riden {riden}", riden)
    else:
        return None
    return _mark([hint], installed_drivers() if drivers is None else drivers)[0]
