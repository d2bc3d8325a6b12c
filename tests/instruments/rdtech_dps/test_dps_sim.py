"""The DPS simulator on its own: power-stage behaviour, protections, registers and Modbus exceptions.

Most tests call ``handle`` with payloads (address + PDU); the wire tests push real bytes through a
simulator session (its slave-side Modbus RTU framer) and compare with protocols.md §1.5.
"""

from __future__ import annotations

import struct

import pytest

from ionpy_widgets.instruments.rdtech_dps import protocol as p
from ionpy_widgets.instruments.rdtech_dps.sim import DpsSimulator


def _wire(sim: DpsSimulator, frame_hex: str) -> bytes:
    session = sim.session()
    out = session.feed(bytes.fromhex(frame_hex), 100.0)
    deadline = session.next_deadline()
    if deadline is not None:
        out += session.poll(deadline + 0.01)
    return b"".join(out)


def _read(sim: DpsSimulator, start: int, count: int, slave: int = 1) -> tuple[int, ...]:
    return p.parse_read_reply(sim.handle(p.read_request(slave, start, count), 0.0), slave, count)


def _write(sim: DpsSimulator, register: int, value: int) -> bytes | None:
    return sim.handle(p.write_single_request(1, register, value), 0.0)


def _on(sim: DpsSimulator, u_set: float, i_set: float) -> None:
    m = sim.model
    _write(sim, p.Reg.U_SET, p.to_raw(u_set, m.v_decimals))
    _write(sim, p.Reg.I_SET, p.to_raw(i_set, m.i_decimals))
    _write(sim, p.Reg.ONOFF, 1)


def _status(sim: DpsSimulator) -> p.DpsStatus:
    return p.decode_block(_read(sim, 0, p.BLOCK_COUNT), sim.model)


# --- wire: bit-exact against §1.5 -----------------------------------------------------------------

@pytest.mark.parametrize(("request_hex", "reply_hex"), [
    ("01 03 00 0B 00 02 B5 C9", "01 03 04 13 8D 00 10 6F 50"),
    ("01 06 00 00 01 F4 89 DD", "01 06 00 00 01 F4 89 DD"),
    ("01 06 00 01 03 E8 D8 B4", "01 06 00 01 03 E8 D8 B4"),
    ("01 06 00 09 00 01 98 08", "01 06 00 09 00 01 98 08"),
    ("01 06 00 09 00 00 59 C8", "01 06 00 09 00 00 59 C8"),
    ("01 10 00 00 00 02 04 01 F4 03 E8 B3 1F", "01 10 00 00 00 02 41 C8"),
    ("01 03 00 10 00 01 85 CF", "01 83 02 C0 F1"),
])
def test_wire_replies_are_bit_exact(request_hex, reply_hex):
    assert _wire(DpsSimulator(model="DPS5005"), request_hex) == bytes.fromhex(reply_hex)


def test_wire_ten_register_example():
    # 5.00 V set, 4.98 V out (head-room limited), 0.123 A, 0.61 W, 12.03 V in: the §1.5 example reply
    sim = DpsSimulator(model="DPS5005", u_in=12.03, load_ohms=4.98 / 0.123)
    sim.dropout_ratio = 4.98 / 12.03
    _on(sim, 5.00, 1.000)
    reply = _wire(sim, "01 03 00 00 00 0A C5 CD")
    assert reply == bytes.fromhex("01 03 14 01 F4 03 E8 01 F2 00 7B 00 3D 04 B3 00 00 00 00 00 00 00 01 51 03")


def test_wire_full_block_is_31_bytes_and_corrupt_frames_are_dropped():
    sim = DpsSimulator()
    assert len(_wire(sim, "01 03 00 00 00 0D 84 0F")) == 31
    assert _wire(sim, "01 03 00 00 00 0D 84 0E") == b""
    assert sim.bad_frames == 1


# --- power stage ----------------------------------------------------------------------------------

def test_output_off_reads_zero():
    sim = DpsSimulator(load_ohms=10.0)
    _write(sim, p.Reg.U_SET, 1200)
    s = _status(sim)
    assert (s.output, s.u_out, s.i_out, s.p_out, s.u_set) == (False, 0.0, 0.0, 0.0, 12.0)


def test_cv_to_cc_as_the_load_grows():
    sim = DpsSimulator(load_ohms=10.0)
    _on(sim, 5.0, 1.0)
    s = _status(sim)
    assert (s.cv_cc, s.u_out, s.i_out, s.p_out) == (0, 5.0, 0.5, 2.5)
    sim.load_ohms = 2.0
    s = _status(sim)
    assert (s.cv_cc, s.u_out, s.i_out, s.p_out) == (1, 2.0, 1.0, 2.0)
    assert sim.mode == "CC"
    sim.load_ohms = None
    s = _status(sim)
    assert (s.cv_cc, s.u_out, s.i_out) == (0, 5.0, 0.0)
    sim.load_ohms = 0
    assert (sim.mode, sim.u_out, sim.i_out) == ("CC", 0.0, 1.0)


def test_output_limited_by_input_voltage():
    sim = DpsSimulator(load_ohms=None, u_in=12.0)
    _on(sim, 20.0, 1.0)
    assert sim.u_out == pytest.approx(10.8)


def test_dps5015_scaling_on_registers():
    sim = DpsSimulator(model="DPS5015", load_ohms=1.0, u_in=48.0)
    _on(sim, 12.0, 10.5)
    regs = _read(sim, 0, p.BLOCK_COUNT)
    assert regs[p.Reg.I_SET] == 1050 and regs[p.Reg.MODEL] == 5015
    s = p.decode_block(regs, sim.model)
    assert (s.cv_cc, s.u_out, s.i_out, s.p_out) == (1, 10.5, 10.5, 110.2)


def test_noise_is_seeded():
    a, b = DpsSimulator(noise=0.01, seed=7), DpsSimulator(noise=0.01, seed=7)
    for sim in (a, b):
        _on(sim, 5.0, 1.0)
    values_a = [_status(a).u_out for _ in range(5)]
    assert values_a == [_status(b).u_out for _ in range(5)]
    assert len(set(values_a)) > 1
    assert all(4.5 < v < 5.5 for v in values_a)


# --- protections ----------------------------------------------------------------------------------

def test_ovp_trip_switches_output_off_and_on_clears_it():
    sim = DpsSimulator(load_ohms=100.0)
    _write(sim, p.memory_address(0, p.MemOffset.S_OVP), 600)
    _on(sim, 8.0, 1.0)
    s = _status(sim)
    assert (s.protect, s.output, s.u_out) == (1, False, 0.0)
    _write(sim, p.Reg.U_SET, 500)
    _write(sim, p.Reg.ONOFF, 1)
    s = _status(sim)
    assert (s.protect, s.output, s.u_out) == (0, True, 5.0)


def test_ocp_and_opp_trips():
    sim = DpsSimulator(load_ohms=1.0)
    _write(sim, p.memory_address(0, p.MemOffset.S_OCP), 500)
    _on(sim, 1.0, 2.0)
    assert _status(sim).protect == 2
    sim = DpsSimulator(load_ohms=1.0)
    _write(sim, p.memory_address(0, p.MemOffset.S_OPP), 10)  # 1.0 W, 1 decimal
    _on(sim, 2.0, 3.0)
    assert (_status(sim).protect, sim.output) == (3, False)


def test_trip_when_the_load_changes_under_a_running_output():
    sim = DpsSimulator(load_ohms=10.0)
    _write(sim, p.memory_address(0, p.MemOffset.S_OCP), 800)
    _on(sim, 5.0, 1.0)
    assert _status(sim).protect == 0
    sim.load_ohms = 7.0  # 0.71 A, still below OCP
    assert _status(sim).protect == 0
    sim.load_ohms = 1.0  # CC at 1.0 A > OCP 0.8 A
    assert (_status(sim).protect, sim.output) == (2, False)


# --- registers ------------------------------------------------------------------------------------

def test_setpoints_and_backlight_mirror_memory_group_zero():
    sim = DpsSimulator()
    _write(sim, p.Reg.U_SET, 1234)
    _write(sim, p.Reg.B_LED, 2)
    assert _read(sim, 0x0050, 6)[0] == 1234 and _read(sim, 0x0055, 1) == (2,)
    _write(sim, 0x0051, 2500)
    assert _status(sim).i_set == 2.5


def test_memory_groups_and_extract():
    sim = DpsSimulator()
    group3 = p.memory_address(3, 0)
    reply = sim.handle(p.write_multiple_request(1, group3, [900, 1500, 1000, 2000, 300, 1]), 0.0)
    assert reply == struct.pack(">BBHH", 1, 0x10, group3, 6)
    assert _read(sim, group3, 8) == (900, 1500, 1000, 2000, 300, 1, 3, 0)
    _write(sim, p.Reg.EXTRACT_M, 3)
    s = _status(sim)
    assert (s.u_set, s.i_set, s.backlight) == (9.0, 1.5, 1)
    assert _read(sim, p.Reg.EXTRACT_M, 1) == (3,)
    assert _read(sim, 0x00EF, 1) == (0,)


def test_lock_and_identity():
    sim = DpsSimulator(model="DPH5005", firmware=17)
    _write(sim, p.Reg.LOCK, 1)
    s = _status(sim)
    assert (s.lock, s.model, s.version) == (True, 5205, 1.7)


# --- exceptions and addressing --------------------------------------------------------------------

@pytest.mark.parametrize(("request_payload", "code"), [
    (p.read_request(1, 0x000D, 1), 2),
    (p.read_request(1, 0x0000, 14), 2),
    (p.read_request(1, 0x00F0, 1), 2),
    (bytes.fromhex("01 03 00 00 00 00"), 3),
    (p.write_single_request(1, p.Reg.U_OUT, 1), 2),
    (p.write_single_request(1, p.Reg.MODEL, 1), 2),
    (p.write_single_request(1, 0x0030, 1), 2),
    (p.write_single_request(1, p.Reg.U_SET, 5001), 3),
    (p.write_single_request(1, p.Reg.I_SET, 5001), 3),
    (p.write_single_request(1, p.Reg.B_LED, 6), 3),
    (p.write_single_request(1, p.Reg.ONOFF, 2), 3),
    (p.write_single_request(1, p.Reg.EXTRACT_M, 10), 3),
    (p.write_multiple_request(1, 0x0000, [500, 6000]), 3),
    (bytes.fromhex("01 10 00 00 00 02 03 01 F4 03"), 3),
    (bytes.fromhex("01 04 00 00 00 01"), 1),
    (bytes.fromhex("01 2B 0E 01 00"), 1),
])
def test_exception_replies(request_payload, code):
    sim = DpsSimulator()
    reply = sim.handle(request_payload, 0.0)
    assert reply == bytes([1, request_payload[1] | 0x80, code])


def test_failed_multiple_write_changes_nothing():
    sim = DpsSimulator()
    sim.handle(p.write_multiple_request(1, 0x0000, [700, 9000]), 0.0)
    assert (sim.u_set, sim.i_set) == (5.0, 1.0)


def test_dps5015_accepts_fifteen_amps_but_not_sixteen():
    sim = DpsSimulator(model="DPS5015")
    assert _write(sim, p.Reg.I_SET, 1500) is not None and sim.i_set == 15.0
    assert _write(sim, p.Reg.I_SET, 1600) == bytes([1, 0x86, 3])


def test_other_slave_ids_are_ignored_and_broadcast_writes_apply_silently():
    sim = DpsSimulator(slave_id=7)
    assert sim.handle(p.read_request(1, 0, 2), 0.0) is None
    assert sim.handle(p.read_request(0, 0, 2), 0.0) is None
    assert sim.handle(p.write_single_request(0, p.Reg.U_SET, 777), 0.0) is None
    assert sim.u_set == 7.77
    assert sim.handle(p.write_single_request(0, p.Reg.U_OUT, 1), 0.0) is None
    assert _read(sim, p.Reg.U_SET, 1, slave=7) == (777,)


def test_injected_exception_is_one_shot_and_mute_stays_silent():
    sim = DpsSimulator()
    sim.next_exception = 4
    assert sim.handle(p.read_request(1, 0, 2), 0.0) == bytes([1, 0x83, 4])
    assert _read(sim, p.Reg.MODEL, 1) == (5005,)
    sim.mute = True
    assert _wire(sim, "01 03 00 0B 00 02 B5 C9") == b""
