"""RD Tech DPS protocol: request payloads, reply parsing and block decoding against the §1.5 vectors.

Payloads carry no CRC (the framer adds it), so each vector is compared without its last two bytes;
the full frames including CRC are checked against the simulator in test_dps_sim.py.
"""

from __future__ import annotations

import pytest

from ionpy_widgets.errors import ExceptionResponseError, ProtocolError
from ionpy_widgets.instruments.rdtech_dps import protocol as p
from ionpy_widgets.instruments.rdtech_dps.models import MODELS


def _payload(hex_frame: str) -> bytes:
    return bytes.fromhex(hex_frame)[:-2]


@pytest.mark.parametrize(("built", "frame"), [
    (lambda: p.read_request(1, 0x0002, 2), "01 03 00 02 00 02 65 CB"),
    (lambda: p.read_request(1, 0x0000, 10), "01 03 00 00 00 0A C5 CD"),
    (lambda: p.read_request(1, p.BLOCK_START, p.BLOCK_COUNT), "01 03 00 00 00 0D 84 0F"),
    (lambda: p.read_request(1, p.Reg.MODEL, 2), "01 03 00 0B 00 02 B5 C9"),
    (lambda: p.write_single_request(1, p.Reg.U_SET, p.to_raw(5.00, 2)), "01 06 00 00 01 F4 89 DD"),
    (lambda: p.write_single_request(1, p.Reg.I_SET, p.to_raw(1.000, 3)), "01 06 00 01 03 E8 D8 B4"),
    (lambda: p.write_single_request(1, p.Reg.ONOFF, 1), "01 06 00 09 00 01 98 08"),
    (lambda: p.write_single_request(1, p.Reg.ONOFF, 0), "01 06 00 09 00 00 59 C8"),
    (lambda: p.write_multiple_request(1, 0, [500, 1000]), "01 10 00 00 00 02 04 01 F4 03 E8 B3 1F"),
])
def test_requests_match_reference_frames(built, frame):
    assert built() == _payload(frame)


def test_parse_ten_register_example_reply():
    reply = _payload("01 03 14 01 F4 03 E8 01 F2 00 7B 00 3D 04 B3 00 00 00 00 00 00 00 01 51 03")
    regs = p.parse_read_reply(reply, 1, 10)
    assert regs == (500, 1000, 498, 123, 61, 1203, 0, 0, 0, 1)


def test_decode_block_dps5005_scaling():
    regs = (500, 1000, 498, 123, 61, 1203, 1, 0, 1, 1, 4, 5005, 16)
    status = p.decode_block(regs, MODELS["DPS5005"])
    assert status.as_dict() == {
        "u_set": 5.0, "i_set": 1.0, "u_out": 4.98, "i_out": 0.123, "p_out": 0.61, "u_in": 12.03, "lock": True,
        "protect": 0, "cv_cc": 1, "output": True, "backlight": 4, "model": 5005, "version": 1.6,
    }


def test_decode_block_dps5015_uses_two_current_and_one_power_decimal():
    regs = (1200, 1050, 1199, 1049, 1258, 4800, 0, 2, 1, 0, 5, 5015, 17)
    status = p.decode_block(regs, MODELS["DPS5015"])
    assert (status.i_set, status.i_out, status.p_out) == (10.5, 10.49, 125.8)
    assert (status.u_set, status.u_in, status.protect, status.version) == (12.0, 48.0, 2, 1.7)


def test_decode_block_needs_thirteen_registers():
    with pytest.raises(ValueError, match="13"):
        p.decode_block((0,) * 10, MODELS["DPS5005"])


def test_parse_model_version_reply():
    assert p.parse_read_reply(_payload("01 03 04 13 8D 00 10 6F 50"), 1, 2) == (5005, 16)


def test_exception_reply_raises_with_name_and_hint():
    with pytest.raises(ExceptionResponseError) as info:
        p.parse_read_reply(_payload("01 83 02 C0 F1"), 1, 2)
    err = info.value
    assert "illegal data address" in err.message
    assert err.details["exception_code"] == 2 and err.details["function"] == 3
    assert "register" in err.hint
    assert err.to_dict()["code"] == "protocol_exception_response"


def test_unknown_exception_code_is_still_reported():
    with pytest.raises(ExceptionResponseError, match="0x2A"):
        p.check_exception(bytes([1, 0x86, 0x2A]))


def test_write_single_echo_checked():
    request = p.write_single_request(1, p.Reg.U_SET, 500)
    p.parse_write_single_reply(request, request)
    with pytest.raises(ProtocolError, match="echo"):
        p.parse_write_single_reply(p.write_single_request(1, p.Reg.U_SET, 501), request)


def test_write_multiple_reply_checked():
    p.parse_write_multiple_reply(_payload("01 10 00 00 00 02 41 C8"), 1, 0, 2)
    with pytest.raises(ProtocolError):
        p.parse_write_multiple_reply(_payload("01 10 00 00 00 02 41 C8"), 1, 0, 3)


@pytest.mark.parametrize("payload", [
    bytes.fromhex("01 03 04 13 8D 00"),          # short
    bytes.fromhex("02 03 04 13 8D 00 10"),       # other slave
    bytes.fromhex("01 03 02 13 8D"),             # wrong count
])
def test_malformed_read_replies(payload):
    with pytest.raises(ProtocolError, match="malformed"):
        p.parse_read_reply(payload, 1, 2)


def test_reply_matches_slave_and_function_including_exceptions():
    assert p.reply_matches(bytes.fromhex("01 03 04"), 1, 3)
    assert p.reply_matches(bytes.fromhex("01 83 02"), 1, 3)
    assert not p.reply_matches(bytes.fromhex("02 03 04"), 1, 3)
    assert not p.reply_matches(bytes.fromhex("01 06 00"), 1, 3)
    assert not p.reply_matches(b"\x01", 1, 3)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: p.read_request(248, 0, 1), "slave"),
    (lambda: p.read_request(1, 0, 0), "count"),
    (lambda: p.read_request(1, 0, 126), "count"),
    (lambda: p.write_single_request(1, 0, 70000), "16 bits"),
    (lambda: p.write_multiple_request(1, 0, []), "count"),
    (lambda: p.to_raw(700.0, 2), "16 bits"),
    (lambda: p.memory_address(10, 0), "memory group"),
])
def test_request_arguments_are_checked(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_scaling_round_trip_and_memory_addresses():
    assert p.to_raw(12.345, 3) == 12345
    assert p.to_raw(0.1, 2) == 10
    assert p.from_raw(12345, 3) == 12.345
    assert p.memory_address(0, p.MemOffset.S_OVP) == 0x0052
    assert p.memory_address(9, p.MemOffset.S_INI) == 0x00E7
