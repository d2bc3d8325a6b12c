"""ModbusRtuFramer: golden frames from the reference (§1.5, §2.5, §8), length by function code,
silence-ended frames, gap timeout, CRC resync, speed."""

from __future__ import annotations

import time

import pytest
from framing_helpers import feed_chunks, kinds

from ionpy_widgets.framing import Frame, Framer, ModbusRtuFramer, expected_response_length, t35_seconds
from ionpy_widgets.framing.modbus_rtu import is_broadcast, is_exception

h = bytes.fromhex

REQUESTS = [  # slave role parses these
    "01 03 00 02 00 02 65 CB", "01 03 00 00 00 0A C5 CD", "01 03 00 00 00 0D 84 0F", "01 03 00 0B 00 02 B5 C9",
    "01 06 00 00 01 F4 89 DD", "01 06 00 01 03 E8 D8 B4", "01 06 00 09 00 01 98 08", "01 06 00 09 00 00 59 C8",
    "01 10 00 00 00 02 04 01 F4 03 E8 B3 1F", "01 03 00 00 00 04 44 09", "01 03 00 08 00 0B 85 CF",
    "01 06 00 08 01 F4 08 1F", "01 06 00 12 00 01 E8 0F",
]
REPLY_25 = h("01 03 14 01 F4 03 E8 01 F2 00 7B 00 3D 04 B3 00 00 00 00 00 00 00 01 51 03")
RESPONSES = [  # master role parses these
    REPLY_25, h("01 03 04 13 8D 00 10 6F 50"), h("01 03 08 EA 9E 00 00 59 F0 00 8D B6 E3"), h("01 83 02 C0 F1"),
    h("01 06 00 00 01 F4 89 DD"), h("01 10 00 00 00 02 41 C8"),
]


@pytest.mark.parametrize("frame", REQUESTS)
def test_encode_reproduces_reference_requests(frame):
    raw = h(frame)
    assert ModbusRtuFramer().encode(raw[:-2]) == raw


def test_slave_parses_all_reference_requests_back_to_back():
    stream = b"".join(h(f) for f in REQUESTS)
    frames = ModbusRtuFramer("slave").feed(stream, 4.0)
    assert [f.raw for f in frames] == [h(f) for f in REQUESTS]
    assert all(isinstance(f, Frame) and f.payload == f.raw[:-2] and f.timestamp == 4.0 for f in frames)


def test_master_parses_reference_responses_back_to_back():
    frames = ModbusRtuFramer("master").feed(b"".join(RESPONSES), 0.0)
    assert [f.raw for f in frames] == RESPONSES
    assert frames[0].payload[3:5] == h("01 F4") and len(frames[0].payload) == 23
    assert is_exception(frames[3].payload) and frames[3].payload == h("01 83 02")


@pytest.mark.parametrize(("role", "stream"), [
    ("master", b"".join(RESPONSES)),
    ("slave", b"".join(h(f) for f in REQUESTS[:4] + REQUESTS[8:9])),
])
def test_every_split_point_gives_the_same_frames(role, stream):
    whole = ModbusRtuFramer(role).feed(stream, 1.0)
    for i in range(len(stream) + 1):
        for j in range(i, len(stream) + 1, 5):
            assert feed_chunks(ModbusRtuFramer(role), [stream[:i], stream[i:j], stream[j:]]) == whole
    assert feed_chunks(ModbusRtuFramer(role), [bytes([b]) for b in stream]) == whole


def test_crc_mismatch_is_reported_and_next_frame_decoded():
    framer = ModbusRtuFramer()
    bad = REPLY_25[:-1] + b"\x04"
    out = framer.feed(bad + RESPONSES[1], 0.0)
    out += framer.poll(1.0)
    assert kinds(out) == ["crc", "frame"]
    assert out[0].raw == bad and out[1].raw == RESPONSES[1]


def test_corrupt_reply_alone_is_reported_after_t35():
    framer = ModbusRtuFramer(baudrate=9600)
    bad = RESPONSES[1][:-1] + b"\x51"
    assert framer.feed(bad, 1.0) == []  # could still be garbage before a frame that is arriving
    assert framer.next_deadline() == pytest.approx(1.0 + 3.5 * 10 / 9600)
    out = framer.poll(framer.next_deadline())
    assert kinds(out) == ["crc"] and out[0].raw == bad
    assert framer.poll(10.0) == [] and framer.next_deadline() is None


def test_glitch_byte_before_reply_is_garbage_not_crc():
    for glitch in (b"\xff", b"\x00", b"\xfe\x01"):
        framer = ModbusRtuFramer()
        out = framer.feed(glitch + REPLY_25, 0.0)
        assert kinds(out) == ["garbage", "frame"], glitch
        assert out[0].raw == glitch and out[1].raw == REPLY_25


def test_garbage_before_real_frame_bytewise():
    stream = h("FF 17 42") + REPLY_25 + RESPONSES[3]
    framer = ModbusRtuFramer()
    out = feed_chunks(framer, [bytes([b]) for b in stream], 0.0) + framer.poll(1.0)
    assert [r.raw for r in out if isinstance(r, Frame)] == [REPLY_25, RESPONSES[3]]
    assert out == (lambda f: f.feed(stream, 0.0) + f.poll(1.0))(ModbusRtuFramer())


def test_master_ignores_address_zero_and_function_zero():
    out = ModbusRtuFramer().feed(h("00 03 00") + RESPONSES[3], 0.0)
    assert kinds(out) == ["garbage", "frame"]
    slave = ModbusRtuFramer("slave")
    broadcast = slave.encode(h("00 06 00 09 00 01"))
    (frame,) = slave.feed(broadcast, 0.0)
    assert is_broadcast(frame.payload) and not is_broadcast(RESPONSES[0])


def test_unknown_function_code_ends_by_silence():
    framer = ModbusRtuFramer(baudrate=19200)
    wire = framer.encode(h("01 2B 0E 01 00"))  # FC43 read device identification request
    assert framer.feed(wire, 1.0) == []
    t35 = 3.5 * 10 / 19200
    assert framer.next_deadline() == pytest.approx(1.0 + t35)
    assert framer.poll(1.0 + t35 / 2) == []
    (frame,) = framer.poll(1.0 + t35)
    assert frame.payload == h("01 2B 0E 01 00") and frame.timestamp == 1.0
    assert framer.next_deadline() is None


def test_unknown_function_code_waits_for_usb_chunks_until_gap_timeout():
    framer = ModbusRtuFramer(baudrate=115200)
    wire = framer.encode(h("01 41 01 02 03 04 05 06"))
    assert framer.feed(wire[:5], 1.0) == []
    assert framer.poll(1.0 + 0.002) == []  # t3.5 passed but the CRC is not right yet
    assert framer.next_deadline() == pytest.approx(1.05)
    (frame,) = framer.feed(wire[5:], 1.02) + framer.poll(1.03)
    assert frame.raw == wire


def test_unknown_function_code_with_bad_crc_after_gap_timeout_is_crc():
    framer = ModbusRtuFramer()
    framer.feed(h("01 41 01 02 03 04"), 1.0)
    out = framer.poll(1.1)
    assert kinds(out) == ["crc"]


def test_partial_known_frame_after_gap_timeout_is_incomplete():
    framer = ModbusRtuFramer(gap_timeout=0.2)
    assert framer.feed(REPLY_25[:12], 1.0) == []
    assert framer.next_deadline() == pytest.approx(1.2)
    assert framer.poll(1.1) == []
    out = framer.poll(1.2)
    assert kinds(out) == ["incomplete"] and out[0].raw == REPLY_25[:12]
    assert framer.feed(RESPONSES[3], 2.0)[0].raw == RESPONSES[3]


def test_feed_after_long_silence_expires_the_old_partial_first():
    framer = ModbusRtuFramer()
    framer.feed(REPLY_25[:12], 1.0)
    out = framer.feed(RESPONSES[3], 5.0)
    assert kinds(out) == ["incomplete", "frame"]


def test_slow_usb_chunks_within_gap_timeout_still_form_one_frame():
    framer = ModbusRtuFramer(baudrate=9600)  # t3.5 = 3.6 ms, gap_timeout = 50 ms
    out = framer.feed(REPLY_25[:10], 1.0) + framer.poll(1.02) + framer.feed(REPLY_25[10:], 1.04)
    assert out == [Frame(REPLY_25[:-2], REPLY_25, 1.04)]


def test_overlong_silence_frame_is_overflow_and_buffer_stays_bounded():
    framer = ModbusRtuFramer(max_frame=64)
    out = []
    for _ in range(40):
        out += framer.feed(h("01 41") + bytes(range(2, 30)), 0.0)
        assert len(framer._buf) <= 2 * 64
    assert "overflow" in kinds(out)


def test_t35_and_gap_timeout_defaults():
    assert t35_seconds(9600) == pytest.approx(0.0036458, abs=1e-6)
    assert t35_seconds(9600, 11) == pytest.approx(0.0040104, abs=1e-6)
    assert t35_seconds(19200) == pytest.approx(0.0018229, abs=1e-6)
    assert t35_seconds(115200) == t35_seconds(38400) == 0.00175
    framer = ModbusRtuFramer(baudrate=2400, bits_per_char=11)
    assert framer.min_silence == framer.t35 == pytest.approx(3.5 * 11 / 2400)
    assert framer.gap_timeout == 0.05
    assert ModbusRtuFramer(baudrate=300).gap_timeout == pytest.approx(3.5 * 10 / 300)
    with pytest.raises(ValueError, match="baudrate"):
        t35_seconds(0)


def test_expected_response_length():
    assert expected_response_length(h("03 00 00 00 0A")) == 25
    assert expected_response_length(h("03 00 00 00 0D")) == 31
    assert expected_response_length(h("04 00 00 00 01")) == 7
    assert expected_response_length(h("01 00 00 00 09")) == 7
    assert expected_response_length(h("06 00 00 01 F4")) == 8
    assert expected_response_length(h("10 00 00 00 02 04 01 F4 03 E8")) == 8
    assert expected_response_length(h("2B 0E")) is None
    assert expected_response_length(b"") is None


def test_encode_validation_and_roles():
    with pytest.raises(ValueError, match="payload"):
        ModbusRtuFramer().encode(b"\x01")
    with pytest.raises(ValueError, match="payload"):
        ModbusRtuFramer().encode(bytes(255))
    with pytest.raises(ValueError, match="role"):
        ModbusRtuFramer("client")
    with pytest.raises(ValueError, match="bits_per_char"):
        ModbusRtuFramer(bits_per_char=20)
    with pytest.raises(ValueError, match="max_frame"):
        ModbusRtuFramer(max_frame=3)
    assert isinstance(ModbusRtuFramer(), Framer)


def test_slave_request_lengths():
    slave = ModbusRtuFramer("slave")
    requests = ("01 0F 00 13 00 0A 02 CD 01", "01 07", "01 11", "01 17 00 03 00 06 00 0E 00 03 06 00 FF 00 FF 00 FF")
    frames = [slave.encode(h(p)) for p in requests]
    assert [f.raw for f in slave.feed(b"".join(frames), 0.0)] == frames


def test_reset_drops_everything():
    framer = ModbusRtuFramer()
    framer.feed(b"\xff" + REPLY_25[:9], 0.0)
    framer.reset()
    assert framer.next_deadline() is None
    assert framer.feed(RESPONSES[3], 0.0) == [Frame(RESPONSES[3][:-2], RESPONSES[3], 0.0)]


def test_decoding_a_31_byte_reply_is_fast():
    framer = ModbusRtuFramer()
    reply = framer.encode(h("01 03 1A") + bytes(range(26)))
    assert len(reply) == 31

    def run(n):
        start = time.perf_counter()
        for _ in range(n):
            framer.feed(reply, 1.0)
        return (time.perf_counter() - start) / n

    assert framer.feed(reply, 1.0)[0].raw == reply
    assert min(run(2000) for _ in range(5)) < 20e-6
