"""SCPI PSU protocol: IDN/number/error parsers, dialect command builders, model table."""

from __future__ import annotations

import math

import pytest

from ionpy_widgets.driver.reading import Identity
from ionpy_widgets.errors import ConfigValidationError, ProtocolError
from ionpy_widgets.instruments.scpi_psu import protocol as p
from ionpy_widgets.instruments.scpi_psu.models import GENERIC, apply_options, find_model, model_by_name


@pytest.mark.parametrize(("reply", "expected"), [
    ("RIGOL TECHNOLOGIES,DP832,DP8C000000001,00.01.16\n",
     Identity("RIGOL TECHNOLOGIES", "DP832", "DP8C000000001", "00.01.16")),
    ("Keysight Technologies,E36103B,MY61001983,1.0.2-1.02",
     Identity("Keysight Technologies", "E36103B", "MY61001983", "1.0.2-1.02")),
    ("GW INSTEK,GDM8251A,FW1.00", Identity("GW INSTEK", "GDM8251A", "", "FW1.00")),
    ("IDN Siglent Technologies,SPD3303X,SPD3X123,1.01", Identity("Siglent Technologies", "SPD3303X", "SPD3X123",
                                                                 "1.01")),
    ("ACME, PSU1 , SN1, 1.0,build 7", Identity("ACME", "PSU1", "SN1", "1.0,build 7")),
])
def test_parse_idn(reply: str, expected: Identity) -> None:
    assert p.parse_idn(reply) == expected


@pytest.mark.parametrize("reply", ["KORADKA3005PV2.0", "A,B", ""])
def test_parse_idn_rejects_non_ieee_replies(reply: str) -> None:
    with pytest.raises(ProtocolError) as info:
        p.parse_idn(reply)
    assert "Korad" in info.value.hint


@pytest.mark.parametrize(("text", "value"), [
    ("+5.01234E+00", 5.01234), ("5.000", 5.0), ("12", 12.0), (" -1.5e-3\r", -0.0015), ("3.300V", 3.3),
    ("0.25A", 0.25),
])
def test_parse_number(text: str, value: float) -> None:
    assert p.parse_number(text) == pytest.approx(value)


def test_parse_number_nan_and_garbage() -> None:
    assert math.isnan(p.parse_number("9.91E+37"))
    with pytest.raises(ProtocolError):
        p.parse_number("ON")


@pytest.mark.parametrize(("text", "expected"), [
    ('0,"No error"', (0, "No error")), ('+0,"No error"', (0, "No error")),
    ('-113,"Undefined header"', (-113, "Undefined header")),
    ('-222,"Data out of range;VOLT 40"', (-222, "Data out of range;VOLT 40")),
    ("-100,Command error", (-100, "Command error")),
])
def test_parse_error(text: str, expected: tuple[int, str]) -> None:
    assert p.parse_error(text) == expected


def test_parse_error_rejects_garbage() -> None:
    with pytest.raises(ProtocolError):
        p.parse_error("ERROR")


def test_bool_mode_and_status_parsers() -> None:
    assert p.parse_bool("ON") and p.parse_bool("1") and p.parse_bool("YES")
    assert not p.parse_bool("OFF") and not p.parse_bool("+0") and not p.parse_bool("NO")
    with pytest.raises(ProtocolError):
        p.parse_bool("maybe")
    assert p.parse_mode_text("cc\n") == "CC" and p.parse_mode_text("CC+") == "CC"
    with pytest.raises(ProtocolError):
        p.parse_mode_text("XX")
    assert (p.parse_isum("+1"), p.parse_isum("2"), p.parse_isum("0")) == ("CV", "CC", "UR")
    assert p.parse_status_word("0x0011", 1) == (True, "CC")
    assert p.parse_status_word("0x0011", 2) == (False, "CV")
    assert p.parse_status_word("0x0022", 2) == (True, "CC")
    assert p.derive_mode(True, 1.0, 1.0) == "CC" and p.derive_mode(True, 0.5, 1.0) == "CV"
    assert p.derive_mode(False, 1.0, 1.0) == "CV"


def test_dialect_commands() -> None:
    assert p.RIGOL.cmd(p.RIGOL.set_voltage, 2, 5) == b":SOUR:VOLT 5.0000"
    assert p.RIGOL.cmd(p.RIGOL.select, 3) == b":INST:NSEL 3"
    assert p.RIGOL.cmd(p.RIGOL.set_output, 1, state=True) == b":OUTP ON"
    assert p.SIGLENT.cmd(p.SIGLENT.set_output, 2, state=False) == b"OUTP CH2,OFF"
    assert p.SIGLENT.cmd(p.SIGLENT.meas_voltage, 1) == b"MEAS:VOLT? CH1"
    assert p.KEYSIGHT.cmd(p.KEYSIGHT.mode, 2) == b":STAT:QUES:INST:ISUM2:COND?"
    assert p.RIGOL.has_protection and not p.SIGLENT.has_protection


@pytest.mark.parametrize(("text", "key", "args"), [
    (":SOURce:VOLTage:LEVel:IMMediate:AMPLitude 5", "VOLT", ("5",)),
    ("volt?", "VOLT?", ()),
    (":outp CH1,ON", "OUTP", ("CH1", "ON")),
    ("OUTPut:STATe OFF", "OUTP", ("OFF",)),
    (":MEASure:VOLTage:DC? CH2", "MEAS:VOLT?", ("CH2",)),
    (":MEAS?", "MEAS:VOLT?", ()),
    (":MEAS:POWE?", "MEAS:POW?", ()),
    ("INSTrument:SELect CH3", "INST", ("CH3",)),
    ("SYST:ERR:NEXT?", "SYST:ERR?", ()),
    ("SYSTem:STATus?", "SYST:STAT?", ()),
    ("*idn?", "*IDN?", ()),
    ("CURR:PROT:STAT ON", "CURR:PROT", ("ON",)),
])
def test_parse_program_canonicalises_headers(text: str, key: str, args: tuple[str, ...]) -> None:
    cmd = p.parse_program(text)
    assert (cmd.key, cmd.args) == (key, args)


def test_parse_program_suffixes_prefixes_and_unknown_headers() -> None:
    cmd = p.parse_program("STAT:QUES:INST:ISUM2:COND?")
    assert dict(cmd.suffix) == {"ISUM": 2}
    assert p.parse_program("CH2:VOLT 3.3").prefix_channel == 2
    with pytest.raises(p.HeaderError):
        p.parse_program(":SOURC:VOLT 5")  # neither short nor long form
    assert p.split_message('VOLT 5;CURR 1; ;SYST:ERR?') == ["VOLT 5", "CURR 1", "SYST:ERR?"]
    assert p.split_message('DISP:TEXT "a;b";*OPC?') == ['DISP:TEXT "a;b"', "*OPC?"]


def test_model_table_and_fallbacks() -> None:
    dp832 = find_model(p.parse_idn("RIGOL TECHNOLOGIES,DP832A,DP8C1,00.01.16"))
    assert dp832.model == "DP832" and dp832.channel_count == 3
    assert [(c.v_max, c.i_max) for c in dp832.channels] == [(30, 3), (30, 3), (5, 3)]
    assert find_model(Identity("Keysight Technologies", "E36103B", "", "")).dialect == "keysight_single"
    assert find_model(Identity("Keysight Technologies", "E36312A", "", "")).channel(1).v_max == 6.18
    unknown_rigol = find_model(Identity("RIGOL TECHNOLOGIES", "DP711", "", ""))
    assert unknown_rigol.dialect == "rigol" and unknown_rigol.channels == GENERIC.channels
    assert unknown_rigol.model == "DP711"
    assert find_model(Identity("ACME", "PSU1", "", "")).dialect == "generic"
    assert model_by_name("dp821a").channel(2).i_max == 10.0
    with pytest.raises(ConfigValidationError):
        model_by_name("XYZ")


def test_options_override_limits_and_channels() -> None:
    spec = apply_options(GENERIC, {"channels": 2, "max_voltage": [60, 8], "max_current": 5})
    assert [(c.v_max, c.i_max) for c in spec.channels] == [(60, 5), (8, 5)]
    assert apply_options(model_by_name("E36103B"), {"channels": 2}).dialect == "keysight"
    for bad in ({"channels": 0}, {"channels": "3"}, {"max_voltage": [1, 2]}, {"max_current": -1},
                {"dialect": "tektronix"}):
        with pytest.raises(ConfigValidationError) as info:
            apply_options(GENERIC, bad)
        assert info.value.path.startswith("options.") and info.value.hint
