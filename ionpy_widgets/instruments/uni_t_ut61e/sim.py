"""A behaving UNI-T UT61E+ simulator that speaks the meter's bytes (``AB CD LEN payload SUM16``).

The meter measures an input signal per mode (``set_input``; SI units) that drifts as a bounded
random walk (seeded RNG, ``noise`` relative step per measurement). Auto ranging picks the smallest
range that holds the value; a manual range (RANGE key) shows ``OL`` when the value exceeds it, as
does the top range in auto. Keys: HOLD freezes the display, REL shows the value minus the value at
the moment REL was pressed, RANGE enters manual ranging / steps the range, AUTO returns to auto,
MIN/MAX cycles MAX → MIN (recorded since the first press) and Exit leaves it, PEAK sets the peak
flags, LAMP toggles the backlight, SELECT cycles the rotary position's sub-modes (e.g. DC V ↔ AC V),
SELECT2 toggles Hz/duty; each key is acknowledged by one opaque frame. The rotary switch itself
is ``mode`` (settable). A name request is answered with two frames, an opaque one and then
``name``, as the real meter does.

Where the range tables (22 000 counts) and sub-mode groups are not in the reference, they are a
plausible model, not the meter's specification. Fault injection: ``mute`` (base class) and
``corrupt_next`` (the next N replies carry a wrong checksum).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from ...framing.base import Frame, FrameError, Framer
from ...framing.length_prefixed import LengthPrefixedFramer
from ..simhost import SimSession, Simulator
from . import protocol as p

#: Mode -> ranges as (full scale in displayed units, decimals); the unit prefix comes from protocol.exponent_for.
_V = ((2.2, 4), (22.0, 3), (220.0, 2), (1000.0, 1))
_AC_V = (*_V[:3], (750.0, 1))
_DECADES = ((22.0, 3), (220.0, 2), (2.2, 4), (22.0, 3), (220.0, 2), (2.2, 4), (22.0, 3))
_SMALL = ((220.0, 2), (2200.0, 1))
_MILLI = ((22.0, 3), (220.0, 2))
RANGES: dict[int, tuple[tuple[float, int], ...]] = {
    0: _AC_V, 1: ((220.0, 2),), 2: _V, 3: ((220.0, 2),), 4: ((22.0, 3), (220.0, 2), *_DECADES[2:]),
    5: ((100.0, 1),), 6: ((220.0, 2), *_DECADES[2:]), 7: ((220.0, 2),), 8: ((3.0, 4),), 9: _DECADES,
    10: ((1000.0, 1),), 11: ((1832.0, 1),), 12: _SMALL, 13: _SMALL, 14: _MILLI, 15: _MILLI,
    16: ((20.0, 3),), 17: ((20.0, 3),), 18: ((1000.0, 0),), 21: _AC_V, 24: _AC_V, 25: _AC_V,
}
#: Default input signal per mode, SI units.
SIGNALS: dict[int, float] = {
    0: 230.0, 1: 0.1234, 2: 3.3, 3: 0.0456, 4: 50.0, 5: 50.0, 6: 4700.0, 7: 0.5, 8: 0.652, 9: 1.0e-7,
    10: 23.5, 11: 74.3, 12: 1.5e-4, 13: 1.2e-4, 14: 0.0125, 15: 0.0101, 16: 1.25, 17: 0.8, 18: 150.0,
    21: 230.0, 24: 230.0, 25: 12.0,
}
#: Sub-modes SELECT cycles through at one rotary position.
GROUPS = ((2, 0, 25), (3, 1), (6, 7, 8, 9), (10, 11), (12, 13), (14, 15), (16, 17), (4, 5))
#: Payload of the frames whose content the reference does not document (key acknowledgement, first name frame).
OPAQUE = b"\x00\x05"


def _mode_number(mode: int | str) -> int:
    if isinstance(mode, str):
        for number, label in p.MODE_NAMES.items():
            if label.lower() == mode.strip().lower():
                return number
        raise ValueError(f"unknown UT61E+ mode {mode!r}; modes: {', '.join(p.MODE_NAMES.values())}")
    if mode not in p.MODE_NAMES:
        raise ValueError(f"unknown UT61E+ mode number {mode!r}")
    return mode


class Ut61ePlusSimulator(Simulator):
    """Simulated UNI-T UT61E+ meter (``mode`` a number or a name such as ``"DC V"``).

    Served in-process only (the real meter is a USB HID device, not a serial port or a socket):
    through the ``virtual`` transport, or behind a simulated CP2110 with
    :class:`ionpy_widgets.testing.ut61e_hid.SimulatedUt61eHid`; ``ionpy simulate`` refuses it."""

    #: ``ionpy simulate`` cannot serve it on a pty or a socket.
    hid_only = True

    def __init__(self, mode: int | str = "DC V", *, value: float | None = None, name: str = "UT61E+",
                 noise: float = 2e-4, seed: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock=clock)
        self.name = name
        self.noise = noise
        self.rng = random.Random(seed)
        self.signals = dict(SIGNALS)
        self.low_battery = False
        self.lamp = False
        #: Fault injection: the next N replies carry a wrong checksum.
        self.corrupt_next = 0
        self.keys: list[int] = []
        self._select_mode(_mode_number(mode))
        if value is not None:
            self.set_input(value)

    # --- the rotary switch and the input ------------------------------------------------------
    @property
    def mode(self) -> int:
        return self._mode

    @mode.setter
    def mode(self, mode: int | str) -> None:
        self._select_mode(_mode_number(mode))

    def _select_mode(self, mode: int) -> None:
        self._mode = mode
        self.auto, self.range, self.hold, self.rel = True, 0, False, False
        self.minmax = ""  # "", "MAX" or "MIN"
        self.peak = ""
        self._drift, self._ref, self._frozen = 0.0, 0.0, ("", 0)
        self._seen: tuple[float, float] | None = None

    def set_input(self, value: float, mode: int | str | None = None) -> None:
        """The true input in SI units (V, A, Ω, F, Hz, %, °C ...) for ``mode`` (default: the current one)."""
        self.signals[self._mode if mode is None else _mode_number(mode)] = float(value)

    def measured(self) -> float:
        """The drifting value the meter measures now, SI units."""
        self._drift = max(-0.01, min(0.01, self._drift + self.rng.gauss(0.0, self.noise)))
        return self.signals.get(self._mode, 0.0) * (1.0 + self._drift)

    # --- keys ---------------------------------------------------------------------------------
    def press(self, key: int) -> None:
        """Act on a key command as the meter does."""
        self.keys.append(key)
        ranges = RANGES.get(self._mode, ())
        if key == p.Key.HOLD:
            self.hold = not self.hold
            self._frozen = self._display()[:2] if self.hold else ("", 0)
        elif key == p.Key.REL:
            self.rel = not self.rel
            self._ref = self.measured() if self.rel else 0.0
        elif key == p.Key.RANGE and ranges:
            self.range = self._auto_range(self.measured()) if self.auto else (self.range + 1) % len(ranges)
            self.auto = False
        elif key == p.Key.AUTO:
            self.auto = True
        elif key == p.Key.MINMAX:
            self.minmax = "MIN" if self.minmax == "MAX" else "MAX"
        elif key == p.Key.EXIT_MINMAX:
            self.minmax, self._seen = "", None
        elif key == p.Key.PEAK:
            self.peak = "MIN" if self.peak == "MAX" else "MAX"
        elif key == p.Key.EXIT_PEAK:
            self.peak = ""
        elif key == p.Key.LAMP:
            self.lamp = not self.lamp
        elif key in (p.Key.SELECT1, p.Key.SELECT2):
            group = next((g for g in GROUPS if self._mode in g), (self._mode,))
            if key == p.Key.SELECT2:
                group = (4, 5) if self._mode in (4, 5) else (self._mode, 4)
            self._select_mode(group[(group.index(self._mode) + 1) % len(group)])

    # --- display ------------------------------------------------------------------------------
    def _auto_range(self, si: float) -> int:
        ranges = RANGES.get(self._mode, ())
        for index, (full, _dec) in enumerate(ranges):
            if abs(si) / 10 ** p.exponent_for(self._mode, index) <= full:
                return index
        return max(len(ranges) - 1, 0)

    def _display(self) -> tuple[str, int, float]:
        """(display text, range, bar fraction) for the value the meter shows now."""
        ranges = RANGES.get(self._mode)
        if ranges is None:  # Live / NCV: no number
            return ("  EF" if self._mode == 20 else "-----"), 0, 0.0
        si = self.measured()
        if self.minmax:
            low, high = self._seen if self._seen else (si, si)
            self._seen = (min(low, si), max(high, si))
            si = self._seen[1] if self.minmax == "MAX" else self._seen[0]
        si -= self._ref
        rng = self._auto_range(si) if self.auto else self.range
        full, decimals = ranges[rng]
        shown = si / 10 ** p.exponent_for(self._mode, rng)
        if abs(shown) > full:
            return ("-  OL" if shown < 0 else "   OL"), rng, 1.0
        return f"{shown:.{decimals}f}", rng, abs(shown) / full

    def measurement(self) -> bytes:
        """The 14-byte payload of a measurement reply now."""
        text, rng, fraction = self._display()
        if self.hold:
            text, rng = self._frozen
        flags1 = (8 if self.minmax == "MAX" else 4 if self.minmax == "MIN" else 0) | 2 * self.hold | self.rel
        voltage = p.unit_for(self._mode) == "V" and abs(self.signals.get(self._mode, 0.0)) >= 30.0
        flags2 = 4 * (not self.auto) | 2 * self.low_battery | int(voltage)
        flags3 = (8 * (self._mode in p.DC_MODES) | (4 if self.peak == "MAX" else 2 if self.peak == "MIN" else 0)
                  | int(text.lstrip().startswith("-")))
        return p.build_measurement(self._mode, rng, text, bar=round(40 * min(fraction, 1.0)), flags1=flags1,
                                   flags2=flags2, flags3=flags3)

    # --- Simulator API ------------------------------------------------------------------------
    def make_framer(self) -> Framer:
        return LengthPrefixedFramer(**p.FRAMING_PARAMS)  # the framing the driver declares

    def session(self) -> SimSession:
        return _MeterSession(self)

    def handle(self, payload: bytes, now: float) -> bytes | None:
        if payload == p.MEASURE:
            return self.measurement()
        if payload == p.NAME:
            return self.name.encode("ascii")
        if len(payload) == 1 and payload[0] in p.KEY_NAMES:
            self.press(payload[0])
            return OPAQUE  # the meter answers a key command with one frame of undocumented content
        return None  # unknown frames are ignored


class _MeterSession(SimSession):
    """A session that sends the name reply as two frames and can corrupt replies."""

    sim: Ut61ePlusSimulator

    def _answer(self, results: list[Frame | FrameError], now: float) -> list[bytes]:
        sim = self.sim
        out = []
        for result in results:
            replies = super()._answer([result], now)
            if replies and isinstance(result, Frame) and result.payload == p.NAME:
                replies.insert(0, self.framer.encode(OPAQUE))
            for reply in replies:
                if sim.corrupt_next > 0:
                    sim.corrupt_next -= 1
                    reply = reply[:-1] + bytes([reply[-1] ^ 0xFF])
                out.append(reply)
        return out
