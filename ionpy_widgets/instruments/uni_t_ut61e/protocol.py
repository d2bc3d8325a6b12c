"""UNI-T UT61E+ meter protocol (no I/O): requests, key commands and the measurement reply.

Frames are ``AB CD LEN payload SUM_hi SUM_lo`` (shared/reference/protocols.md §7.3); the
length-prefixed framer with :data:`FRAMING_PARAMS` adds and checks everything but the payload.
The measurement payload is 14 bytes: mode, range (``'0' + n``), 7 display characters, two
bar-graph bytes and three flag bytes (observed as ``0x30 | bits``). Mode numbers above 25 and the
unit prefixes per range follow ljakob's ``ut61eplus.py``. NCV level displays (``EF``, dashes) and
Live read as NaN: they are not measurements.

Values are reported in SI base units whatever the range or mode prefix: DC mV, µA, mA, kΩ, MΩ, nF,
µF, mF, kHz and MHz readings are scaled to V, A, Ω, F and Hz, so a chart or an alarm limit does not
jump by 1000 when the meter changes range. The meter's own digits stay in ``display``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from typing import Any

from ...errors import ProtocolError

#: Length-prefixed framer parameters for this protocol (LEN counts payload + checksum).
FRAMING_PARAMS: dict[str, Any] = {"header": [0xAB, 0xCD], "length_size": 1, "checksum": "sum16_be"}
MEASURE = b"\x5e"  # wire: AB CD 03 5E 01 D9
NAME = b"\x5f"  # wire: AB CD 03 5F 01 DA; the meter answers with two frames, the second is the name
#: Key commands are answered with one frame whose content is not documented (ljakob reads and drops it).
MEASUREMENT_SIZE = 14
FLAG_BASE = 0x30


class Key(IntEnum):
    """Front-panel key commands (payload = one byte)."""

    MINMAX = 65
    EXIT_MINMAX = 66
    RANGE = 70
    AUTO = 71
    REL = 72
    SELECT2 = 73
    HOLD = 74
    LAMP = 75
    SELECT1 = 76
    PEAK = 77
    EXIT_PEAK = 78


KEY_NAMES: dict[int, str] = {
    Key.MINMAX: "MIN/MAX", Key.EXIT_MINMAX: "Exit MIN/MAX", Key.RANGE: "RANGE", Key.AUTO: "AUTO",
    Key.REL: "REL", Key.SELECT2: "SELECT (Hz/USB)", Key.HOLD: "HOLD", Key.LAMP: "LAMP",
    Key.SELECT1: "SELECT", Key.PEAK: "PEAK MIN/MAX", Key.EXIT_PEAK: "Exit PEAK",
}

MODE_NAMES: dict[int, str] = {
    0: "AC V", 1: "AC mV", 2: "DC V", 3: "DC mV", 4: "Hz", 5: "Duty %", 6: "Ω", 7: "Continuity", 8: "Diode",
    9: "Capacitance", 10: "°C", 11: "°F", 12: "DC µA", 13: "AC µA", 14: "DC mA", 15: "AC mA", 16: "DC A",
    17: "AC A", 18: "hFE", 19: "Live", 20: "NCV", 21: "LoZ V", 22: "AC A (UT161)", 23: "DC A (UT161)",
    24: "LPF V", 25: "AC/DC V", 26: "LPF", 27: "AC+DC A", 28: "LPF (2)", 29: "AC+DC A (2)", 30: "Inrush A",
}
_UNITS: dict[int, str] = {4: "Hz", 5: "%", 6: "Ω", 7: "Ω", 9: "F", 10: "°C", 11: "°F", 18: "", 19: "", 20: ""}
for _mode in (*range(12, 18), 22, 23, 27, 29, 30):
    _UNITS[_mode] = "A"
DC_MODES = frozenset({2, 3, 12, 14, 16})


def unit_for(mode: int) -> str:
    """SI unit of ``value`` in ``mode`` (V for every voltage-like mode, "" for hFE, Live, NCV)."""
    return _UNITS.get(mode, "V")


def exponent_for(mode: int, rng: int) -> int:
    """Power of ten from the displayed number to the SI value (e.g. -3 for DC mV, 3 for a kΩ range)."""
    if mode in (1, 3, 14, 15):
        return -3
    if mode in (12, 13):
        return -6
    if mode == 6:  # 0: Ω, 1-3: kΩ, 4-7: MΩ
        return 0 if rng == 0 else 3 if rng <= 3 else 6
    if mode == 4:  # 0-1: Hz, 2-4: kHz, 5-7: MHz
        return 0 if rng <= 1 else 3 if rng <= 4 else 6
    if mode == 9:  # 0-1: nF, 2-4: µF, 5-7: mF
        return -9 if rng <= 1 else -6 if rng <= 4 else -3
    return 0


def key_request(key: int) -> bytes:
    """Payload of a key command (validated: unknown keys raise ValueError before anything is sent)."""
    if key not in KEY_NAMES:
        raise ValueError(f"unknown UT61E+ key command {key!r}")
    return bytes([key])


@dataclass(frozen=True, slots=True)
class Measurement:
    """One decoded measurement reply. ``value`` is in SI units (NaN when overloaded or not a number)."""

    mode: int
    range: int
    display: str
    value: float
    unit: str
    overload: bool
    bar: int
    hold: bool
    rel: bool
    min: bool
    max: bool
    auto_range: bool
    low_battery: bool
    hv_warning: bool
    dc: bool
    peak_max: bool
    peak_min: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def display_value(text: str, exponent: int) -> tuple[float, bool]:
    """(SI value, overload) of the 7 display characters; NaN for overload or non-numeric text."""
    compact = text.replace(" ", "")
    if "OL" in compact.replace(".", ""):
        return math.nan, True
    try:
        number = Decimal(compact)
    except InvalidOperation:
        return math.nan, False  # NCV "EF", dashes, blank
    return float(number.scaleb(exponent)), False


def parse_measurement(payload: bytes) -> Measurement:
    """Decode a 14-byte measurement payload; raises ProtocolError for anything else."""
    if len(payload) != MEASUREMENT_SIZE:
        raise ProtocolError(f"UT61E+ measurement payload has {len(payload)} bytes, expected {MEASUREMENT_SIZE}",
                            received=payload, hint="Another frame answered the measure request; it is retried.")
    mode, rng = payload[0], payload[1] - 0x30
    if mode not in MODE_NAMES or not 0 <= rng <= 9:
        raise ProtocolError(f"UT61E+ reply has an unknown mode {mode} or range byte 0x{payload[1]:02x}",
                            received=payload, hint="Check the meter model: the UT60BT and the classic UT61E "
                                                   "speak other protocols.")
    text = payload[2:9].decode("ascii", errors="replace")
    value, overload = display_value(text, exponent_for(mode, rng))
    f1, f2, f3 = (b & 0x0F for b in payload[11:14])
    return Measurement(
        mode=mode, range=rng, display=text.strip(), value=value, unit=unit_for(mode), overload=overload,
        bar=payload[9] * 10 + payload[10], hold=bool(f1 & 2), rel=bool(f1 & 1), min=bool(f1 & 4), max=bool(f1 & 8),
        auto_range=not f2 & 4, low_battery=bool(f2 & 2), hv_warning=bool(f2 & 1), dc=bool(f3 & 8),
        peak_max=bool(f3 & 4), peak_min=bool(f3 & 2))


def build_measurement(mode: int, rng: int, display: str, *, bar: int = 0, flags1: int = 0, flags2: int = 0,
                      flags3: int = 0) -> bytes:
    """The 14-byte payload the meter sends (used by the simulator and tests)."""
    text = display.rjust(7)[:7].encode("ascii")
    bar = max(0, min(bar, 99))
    return bytes([mode, 0x30 + rng]) + text + bytes([bar // 10, bar % 10, FLAG_BASE | flags1, FLAG_BASE | flags2,
                                                     FLAG_BASE | flags3])


def parse_name(payload: bytes) -> str | None:
    """The model name if ``payload`` is the name frame (printable ASCII), else None."""
    if len(payload) < 2 or not all(0x20 <= b < 0x7F for b in payload):
        return None
    return payload.decode("ascii").strip() or None
