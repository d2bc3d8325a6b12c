"""UT61E+ measurement decoding (protocols.md §7.3, ljakob's unit prefixes) and the simulator's
behaviour at payload level (no I/O)."""

from __future__ import annotations

import math

import pytest

from ionpy_widgets.errors import ProtocolError
from ionpy_widgets.instruments.uni_t_ut61e import protocol as p
from ionpy_widgets.instruments.uni_t_ut61e.sim import OPAQUE, Ut61ePlusSimulator

EXAMPLE = bytes.fromhex("02 31 20 31 2E 32 33 34 35 00 00 30 30 38")


def test_the_reference_example() -> None:
    m = p.parse_measurement(EXAMPLE)
    # the example's range byte is 0x31, i.e. '0' + 1 (its caption says "range 0")
    assert (m.mode, m.range, m.display, m.value, m.unit) == (2, 1, "1.2345", 1.2345, "V")
    assert m.dc and m.auto_range and not (m.overload or m.hold or m.rel or m.min or m.max or m.low_battery)


@pytest.mark.parametrize(("mode", "rng", "text", "value", "unit"), [
    (3, 0, " 123.45", 0.12345, "V"),  # DC mV -> V
    (6, 0, " 220.00", 220.0, "Ω"), (6, 2, " 4.7000", 4700.0, "Ω"), (6, 5, " 12.000", 12e6, "Ω"),
    (9, 1, " 100.00", 100e-9, "F"), (9, 3, " 22.000", 22e-6, "F"), (9, 6, " 1.0000", 1e-3, "F"),
    (4, 1, " 50.000", 50.0, "Hz"), (4, 3, " 1.0000", 1e3, "Hz"), (4, 6, " 2.0000", 2e6, "Hz"),
    (12, 0, " 150.00", 150e-6, "A"), (14, 1, " 12.500", 0.0125, "A"), (16, 1, "-1.2500", -1.25, "A"),
    (10, 0, "  23.5", 23.5, "°C"), (11, 0, "  74.3", 74.3, "°F"), (5, 0, "  50.0", 50.0, "%"),
    (18, 0, "   150", 150.0, ""),
])
def test_values_are_si(mode: int, rng: int, text: str, value: float, unit: str) -> None:
    m = p.parse_measurement(p.build_measurement(mode, rng, text))
    assert m.value == pytest.approx(value, rel=1e-12) and m.unit == unit and m.display == text.strip()


@pytest.mark.parametrize("text", [" OL", ".OL", "O.L", "OL.", "-OL", "-O.L", "  OL.  "])
def test_overload_is_nan_with_a_flag(text: str) -> None:
    m = p.parse_measurement(p.build_measurement(2, 0, text))
    assert m.overload and math.isnan(m.value)


@pytest.mark.parametrize("text", ["  EF", "-----", "", "  -  "])
def test_ncv_and_blank_displays_are_nan_without_overload(text: str) -> None:
    m = p.parse_measurement(p.build_measurement(20, 0, text))
    assert math.isnan(m.value) and not m.overload


def test_flags() -> None:
    m = p.parse_measurement(p.build_measurement(25, 0, "1.000", bar=42, flags1=0xF, flags2=0x7, flags3=0xF))
    assert (m.max, m.min, m.hold, m.rel, m.auto_range, m.low_battery, m.hv_warning) == (True,) * 4 + (False,) + \
        (True,) * 2
    assert m.dc and m.peak_max and m.peak_min and m.bar == 42


def test_malformed_payloads_raise_protocol_errors() -> None:
    with pytest.raises(ProtocolError):
        p.parse_measurement(EXAMPLE[:-1])
    with pytest.raises(ProtocolError):
        p.parse_measurement(bytes([99]) + EXAMPLE[1:])
    with pytest.raises(ValueError):
        p.key_request(99)
    assert p.parse_name(b"UT61E+") == "UT61E+" and p.parse_name(OPAQUE) is None and p.parse_name(EXAMPLE) is None


def read(sim: Ut61ePlusSimulator) -> p.Measurement:
    reply = sim.handle(p.MEASURE, 0.0)
    assert reply is not None
    return p.parse_measurement(reply)


def test_simulator_autoranges_and_overloads_in_a_manual_range() -> None:
    sim = Ut61ePlusSimulator("DC V", value=1.5, noise=0.0)
    assert (read(sim).range, read(sim).display) == (0, "1.5000")
    sim.set_input(15.0)
    assert (read(sim).range, read(sim).value) == (1, 15.0)
    assert sim.handle(p.key_request(p.Key.RANGE), 0.0) == OPAQUE  # manual, stays in range 1
    sim.set_input(30.0)
    m = read(sim)
    assert m.overload and math.isnan(m.value) and not m.auto_range and m.range == 1
    sim.handle(p.key_request(p.Key.AUTO), 0.0)
    assert read(sim).value == 30.0 and read(sim).hv_warning


def test_simulator_hold_rel_minmax_and_select() -> None:
    sim = Ut61ePlusSimulator("DC V", value=2.0, noise=0.0)
    sim.press(p.Key.HOLD)
    sim.set_input(1.0)
    assert read(sim).hold and read(sim).value == 2.0  # frozen
    sim.press(p.Key.HOLD)
    assert read(sim).value == 1.0
    sim.press(p.Key.REL)
    sim.set_input(1.25)
    assert read(sim).rel and read(sim).value == pytest.approx(0.25)
    sim.press(p.Key.REL)
    sim.press(p.Key.MINMAX)
    sim.set_input(2.0)
    assert read(sim).max and read(sim).value == 2.0
    sim.set_input(0.5)
    assert read(sim).value == 2.0
    sim.press(p.Key.MINMAX)
    sim.set_input(1.0)
    assert read(sim).min and read(sim).value == 0.5  # the lowest seen since MIN/MAX was entered
    sim.press(p.Key.EXIT_MINMAX)
    assert read(sim).value == 1.0 and not read(sim).min
    sim.press(p.Key.SELECT1)
    assert read(sim).mode == 0 and read(sim).unit == "V" and not read(sim).dc
    sim.press(p.Key.SELECT2)
    assert read(sim).mode == 4 and read(sim).unit == "Hz"


def test_simulator_drifts_plausibly_and_reproducibly() -> None:
    values = [read(Ut61ePlusSimulator(value=5.0, seed=7)).value for _ in range(2)]
    assert values[0] == values[1]
    sim = Ut61ePlusSimulator(value=5.0, noise=1e-3, seed=1)
    drift = [read(sim).value for _ in range(200)]
    assert len(set(drift)) > 10 and all(abs(v - 5.0) <= 0.05 + 1e-9 for v in drift)
    with pytest.raises(ValueError):
        Ut61ePlusSimulator("volts")
