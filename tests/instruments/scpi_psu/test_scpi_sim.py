"""The behaving SCPI PSU simulator: CV/CC, channels, protections, error queue, spellings."""

from __future__ import annotations

import pytest

from ionpy_widgets.instruments.scpi_psu.sim import ScpiPsuSimulator


def ask(sim: ScpiPsuSimulator, text: str) -> str | None:
    reply = sim.handle(text.encode(), 0.0)
    return None if reply is None else reply.decode()


def errors(sim: ScpiPsuSimulator) -> list[str]:
    found = []
    while (reply := ask(sim, "SYST:ERR?")) not in ('0,"No error"', '+0,"No error"'):
        found.append(reply)
    return found


def test_idn_per_model_and_common_commands() -> None:
    assert ask(ScpiPsuSimulator("DP832"), "*IDN?") == "RIGOL TECHNOLOGIES,DP832,DP8C000000001,00.01.16"
    assert ask(ScpiPsuSimulator("E36103B"), "*idn?").startswith("Keysight Technologies,E36103B,")
    sim = ScpiPsuSimulator()
    assert ask(sim, "*OPC?") == "1" and ask(sim, "*TST?") == "0"
    assert ask(sim, "*RST") is None and ask(sim, "*WAI") is None
    assert ask(sim, "SYST:ERR?") == '0,"No error"'


def test_cv_then_cc_as_the_load_asks_for_more() -> None:
    sim = ScpiPsuSimulator("DP832", load_ohms=[10.0, None, 0.0])
    for line in (":INST:NSEL 1", ":SOUR:VOLT 5", ":SOUR:CURR 1", ":OUTP ON"):
        assert ask(sim, line) is None
    assert ask(sim, ":MEAS:VOLT?") == "5.0000" and ask(sim, ":MEAS:CURR?") == "0.5000"
    assert ask(sim, ":OUTP:MODE?") == "CV" and ask(sim, ":MEAS:POWE?") == "2.5000"
    ask(sim, "VOLT 20")  # 2 A wanted, 1 A allowed: CC at 10 V
    assert ask(sim, "MEAS:VOLT?") == "10.0000" and ask(sim, "MEAS:CURR?") == "1.0000"
    assert ask(sim, "OUTP:MODE?") == "CC"
    sim.load_ohms[0] = 40.0  # lighter load: back to CV
    assert ask(sim, "OUTP:MODE?") == "CV" and ask(sim, "MEAS:VOLT?") == "20.0000"
    # open circuit and short circuit
    ask(sim, ":OUTP CH2,ON")
    ask(sim, ":OUTP CH3,ON")
    assert ask(sim, ":MEAS:CURR? CH2") == "0.0000"
    assert ask(sim, ":MEAS:ALL? CH3") == "0.0000,3.0000,0.0000"
    assert errors(sim) == []


def test_channels_are_independent_and_selectable_every_way() -> None:
    sim = ScpiPsuSimulator("DP832")
    ask(sim, ":INST:NSEL 2")
    ask(sim, ":SOURce:VOLTage 12.5")
    ask(sim, "INST:SEL CH3")
    ask(sim, "volt 3.3")
    ask(sim, "INSTrument CH1")
    ask(sim, "APPL CH1,1.8,0.5")
    assert [c.v_set for c in sim.channels] == [1.8, 12.5, 3.3]
    assert ask(sim, "INST?") == "CH1" and ask(sim, "INST:NSEL?") == "1"
    assert ask(sim, "CH2:VOLT?") == "12.5000" and ask(sim, "VOLT? (@3)") == "3.3000"
    assert ask(sim, "APPL? CH1") == "CH1:30V/3A,1.8000,0.5000"
    assert ask(sim, "VOLT 2;CURR 0.1;VOLT?;CURR?") == "2.0000;0.1000"
    assert errors(sim) == []


def test_error_queue_texts_and_unknown_headers() -> None:
    sim = ScpiPsuSimulator("DP832")
    ask(sim, ":INST:NSEL 3")
    assert ask(sim, ":SOUR:VOLT 6") is None  # CH3 is a 5 V output
    assert ask(sim, "FOO:BAR?") is None
    ask(sim, "VOLT")
    ask(sim, "VOLT abc")
    ask(sim, ":INST:NSEL 4")
    ask(sim, "OUTP MAYBE")
    assert sim.channels[2].v_set == 0.0
    assert ask(sim, "*ESR?") == "48" and ask(sim, "*ESR?") == "0"
    assert ask(sim, "*STB?") == "4"
    assert errors(sim) == ['-222,"Data out of range"', '-113,"Undefined header"', '-109,"Missing parameter"',
                           '-104,"Data type error"', '-222,"Data out of range"', '-224,"Illegal parameter value"']
    for _ in range(25):
        ask(sim, "NOPE")
    assert len(sim.errors) == 20 and sim.errors[-1] == (-350, "Queue overflow")
    ask(sim, "*CLS")
    assert errors(sim) == []


def test_over_voltage_protection_trips_and_latches() -> None:
    sim = ScpiPsuSimulator("DP832", load_ohms=[100.0, 100.0, 100.0])
    for line in (":OUTP:OVP:VAL CH1,6", ":OUTP:OVP CH1,ON", ":APPL CH1,5,1", ":OUTP CH1,ON"):
        ask(sim, line)
    assert ask(sim, ":OUTP? CH1") == "ON" and ask(sim, ":OUTP:OVP:QUES? CH1") == "NO"
    ask(sim, ":INST:NSEL 1")
    ask(sim, ":SOUR:VOLT 7")
    assert ask(sim, ":OUTP?") == "OFF" and ask(sim, ":OUTP:OVP:QUES?") == "YES"
    assert ask(sim, ":MEAS:VOLT?") == "0.0000"
    ask(sim, ":OUTP ON")  # refused while latched
    assert errors(sim) == ['-221,"Settings conflict; protection tripped, clear it first"']
    ask(sim, ":SOUR:VOLT 5")
    ask(sim, ":OUTP:OVP:CLE")
    ask(sim, ":OUTP ON")
    assert ask(sim, ":OUTP?") == "ON" and ask(sim, ":OUTP:OVP?") == "ON"


def test_over_current_protection_rigol_and_keysight_styles() -> None:
    rigol = ScpiPsuSimulator("DP832", load_ohms=[2.0, None, None])
    for line in (":OUTP:OCP:VAL 1", ":OUTP:OCP ON", ":SOUR:CURR 3", ":SOUR:VOLT 1", ":OUTP ON"):
        ask(rigol, line)
    assert ask(rigol, ":OUTP?") == "ON"
    ask(rigol, ":SOUR:VOLT 4")  # 2 A > 1 A OCP level
    assert ask(rigol, ":OUTP:OCP:QUES?") == "YES" and not rigol.channels[0].output
    keysight = ScpiPsuSimulator("E36312A", load_ohms=[1.0, None, None])
    for line in ("INST:NSEL 1", "CURR:PROT:STAT ON", "VOLT 1", "CURR 2", "OUTP ON"):
        ask(keysight, line)
    assert ask(keysight, "STAT:QUES:INST:ISUM1:COND?") == "1"
    ask(keysight, "CURR 0.5")  # into CC: Keysight OCP trips at the current limit
    assert ask(keysight, "CURR:PROT:TRIP?") == "1" and ask(keysight, "OUTP?") == "0"
    ask(keysight, "OUTP:PROT:CLE")
    assert ask(keysight, "CURR:PROT:TRIP?") == "0"
    assert ask(keysight, "SYST:ERR?") == '+0,"No error"'
    assert ask(keysight, "MEAS:VOLT?") == "+0.00000E+00"


def test_keysight_ovp_and_siglent_status_word() -> None:
    ks = ScpiPsuSimulator("E36103B", load_ohms=[None])
    ask(ks, "VOLT:PROT 10")
    ask(ks, "VOLT 12")
    ask(ks, "OUTP ON")
    assert ask(ks, "VOLT:PROT:TRIP?") == "1" and ask(ks, "VOLT:PROT?") == "+1.00000E+01"
    sig = ScpiPsuSimulator("SPD3303X", load_ohms=[1.0, 10.0])
    for line in ("CH1:VOLT 5", "CH1:CURR 1", "OUTP CH1,ON", "CH2:VOLT 1", "OUTP CH2,ON"):
        ask(sig, line)
    assert ask(sig, "SYST:STAT?") == "0x0031"  # CH1 CC, both outputs on
    assert ask(sig, "MEAS:CURR? CH1") == "1.0000" and ask(sig, "MEAS:VOLT? CH2") == "1.0000"


def test_force_trip_push_error_reset_and_noise() -> None:
    sim = ScpiPsuSimulator("DP821A", noise=0.01, seed=3)
    ask(sim, "APPL CH2,5,10")
    ask(sim, "OUTP CH2,ON")
    volts = {ask(sim, "MEAS:VOLT? CH2") for _ in range(5)}
    assert len(volts) > 1 and all(abs(float(v) - 5.0) < 0.2 for v in volts)
    sim.force_trip(2, "OCP")
    assert ask(sim, "OUTP:OCP:QUES? CH2") == "YES"
    sim.push_error(-300, "Device-specific error")
    assert errors(sim) == ['-300,"Device-specific error"']
    ask(sim, "*RST")
    assert sim.channels[1].v_set == 0.0 and sim.channels[1].i_set == 10.0
    assert list(sim.history)[:2] == ["APPL CH2,5,10", "OUTP CH2,ON"]


def test_constructor_checks_and_float_load() -> None:
    assert ScpiPsuSimulator("E36312A", load_ohms=5).load_ohms == [5.0, 5.0, 5.0]
    with pytest.raises(ValueError):
        ScpiPsuSimulator("DP832", load_ohms=[1.0])


def test_session_frames_split_and_crlf_input() -> None:
    sim = ScpiPsuSimulator("DP832")
    session = sim.session()
    assert session.feed(b":INST:NSEL 2\r\n:SOUR:VO", 0.0) == []
    replies = session.feed(b"LT 3\n*IDN?\nVOLT?;:INST:NSEL?\n", 0.0)
    assert replies == [b"RIGOL TECHNOLOGIES,DP832,DP8C000000001,00.01.16\n", b"3.0000;2\n"]
    sim.mute = True
    assert session.feed(b"*IDN?\n", 0.0) == []
