"""StartStopFramer: OpenDPS uframe golden vectors (reference §3.3), escaping, restart, errors."""

from __future__ import annotations

import pytest
from framing_helpers import feed_chunks, kinds

from ionpy_widgets.framing import Frame, Framer, StartStopFramer

h = bytes.fromhex

GOLDEN = [  # (payload, wire)
    ("01", "7E 01 10 21 7F"),
    ("81 01", "7E 81 01 38 88 7F"),
    ("04", "7E 04 40 84 7F"),
    ("0C 01", "7E 0C 01 55 4C 7F"),
    ("07 01", "7E 07 01 89 B6 7F"),
    ("0B 63 76 00", "7E 0B 63 76 00 7D 5E DB 7F"),
    ("0E 76 6F 6C 74 61 67 65 00 35 30 30 30 00", "7E 0E 76 6F 6C 74 61 67 65 00 35 30 30 30 00 91 C1 7F"),
    ("7E 7D 7F", "7E 7D 5E 7D 5D 7D 5F 32 74 7F"),
]
STREAM = b"".join(h(w) for _, w in GOLDEN)


@pytest.mark.parametrize(("payload", "wire"), GOLDEN)
def test_golden_encode_and_decode(payload, wire):
    framer = StartStopFramer()
    assert framer.encode(h(payload)) == h(wire)
    assert framer.feed(h(wire), 2.0) == [Frame(h(payload), h(wire), 2.0)]


def test_back_to_back_and_every_split_point():
    whole = StartStopFramer().feed(STREAM, 1.0)
    assert [f.payload for f in whole] == [h(p) for p, _ in GOLDEN]
    for i in range(len(STREAM) + 1):
        for j in range(i, len(STREAM) + 1, 4):
            assert feed_chunks(StartStopFramer(), [STREAM[:i], STREAM[i:j], STREAM[j:]]) == whole
    assert feed_chunks(StartStopFramer(), [bytes([b]) for b in STREAM]) == whole


def test_garbage_is_reported_when_the_next_frame_starts():
    framer = StartStopFramer()
    assert framer.feed(b"noise", 0.0) == []  # not yet known where the garbage ends
    out = framer.feed(b"!!" + h("7E 01 10 21 7F"), 0.0)
    assert kinds(out) == ["garbage", "frame"] and out[0].raw == b"noise!!"


def test_garbage_chunks_are_bounded():
    framer = StartStopFramer(max_frame=16)
    out = framer.feed(b"x" * 40, 0.0)
    assert [len(e.raw) for e in out] == [16, 16]
    assert kinds(framer.feed(h("7E 04 40 84 7F"), 0.0)) == ["garbage", "frame"]


def test_crc_error_then_next_frame():
    out = StartStopFramer().feed(h("7E 01 10 22 7F 7E 04 40 84 7F"), 0.0)
    assert kinds(out) == ["crc", "frame"] and out[0].raw == h("7E 01 10 22 7F")


def test_start_byte_restarts_collection():
    out = StartStopFramer().feed(h("7E 01 02 7E 01 10 21 7F"), 0.0)
    assert kinds(out) == ["incomplete", "frame"] and out[0].raw == h("7E 01 02")
    assert StartStopFramer().feed(h("7E 7E 7E 01 10 21 7F"), 0.0)[0].payload == b"\x01"


def test_bad_escapes():
    assert kinds(StartStopFramer().feed(h("7E 01 7D 7F 7E 04 40 84 7F"), 0.0)) == ["escape", "frame"]
    assert kinds(StartStopFramer().feed(h("7E 01 7D 7E 04 40 84 7F"), 0.0)) == ["escape", "frame"]
    # an escaped escape is fine, and unescaping is lenient for non-special bytes
    framer = StartStopFramer(crc=None)
    assert framer.feed(h("7E 7D 5D 7D 7D 7F"), 0.0)[0].payload == h("7D 5D")
    assert framer.feed(h("7E 7D 41 7F"), 0.0)[0].payload == b"\x61"


def test_too_short_for_crc_is_incomplete():
    out = StartStopFramer().feed(h("7E 7F 7E 01 7F"), 0.0)
    assert kinds(out) == ["incomplete", "incomplete"]


def test_overflow_skips_to_next_start():
    framer = StartStopFramer(max_frame=8)
    out = framer.feed(h("7E 01 02 03 04 05 06 07 08 09 7F 99") + h("7E 04 40 84 7F"), 0.0)
    assert kinds(out) == ["overflow", "frame"]
    assert out[0].raw == h("7E 01 02 03 04 05 06 07")
    bytewise = feed_chunks(StartStopFramer(max_frame=8),
                           [bytes([b]) for b in h("7E 01 02 03 04 05 06 07 08 09 7F 99 7E 04 40 84 7F")], 0.0)
    assert bytewise == out


def test_overflow_without_stop_keeps_buffer_bounded():
    framer = StartStopFramer(max_frame=32)
    out = framer.feed(b"\x7e", 0.0)
    for _ in range(50):
        out += framer.feed(b"\x01" * 20, 0.0)
        assert len(framer._buf) < 32
    assert kinds(out) == ["overflow"]  # the rest is skipped silently until the next start byte
    assert kinds(framer.feed(h("7E 04 40 84 7F"), 0.0)) == ["frame"]


def test_restarts_keep_buffer_bounded():
    framer = StartStopFramer(max_frame=32)
    out = []
    for _ in range(50):
        out += framer.feed(b"\x7e" + b"\x01" * 20, 0.0)
        assert len(framer._buf) < 32
    assert set(kinds(out)) == {"incomplete"}


def test_without_crc_and_little_endian_crc():
    plain = StartStopFramer(crc=None)
    assert plain.encode(b"\x01\x7f") == h("7E 01 7D 5F 7F")
    assert plain.feed(h("7E 7F"), 0.0) == [Frame(b"", h("7E 7F"), 0.0)]
    little = StartStopFramer(crc="crc16_xmodem", crc_byteorder="little")
    assert little.encode(b"\x01") == h("7E 01 21 10 7F")
    assert little.feed(h("7E 01 21 10 7F"), 0.0)[0].payload == b"\x01"


def test_shared_flag_hdlc_style():
    framer = StartStopFramer(start=0x7E, stop=0x7E, escape=0x7D, crc="crc16_modbus")
    a, b = framer.encode(b"\x01\x02"), framer.encode(b"\x7e")
    assert b == b"\x7e\x7d\x5e" + framer.spec.compute(b"\x7e") + b"\x7e"
    stream = b"\x7e\x7e" + a + b[1:] + b"\x7e"
    out = framer.feed(stream, 0.0)
    assert [f.payload for f in out] == [b"\x01\x02", b"\x7e"]
    assert feed_chunks(StartStopFramer(start=0x7E, stop=0x7E, crc="crc16_modbus"), [bytes([x]) for x in stream],
                       0.0) == out


def test_reset_and_contract():
    framer = StartStopFramer()
    framer.feed(h("7E 01 10"), 0.0)
    framer.reset()
    assert framer.feed(h("21 7F 7E 04 40 84 7F"), 0.0)[-1].payload == b"\x04"
    assert isinstance(framer, Framer) and framer.next_deadline() is None and framer.poll(9.0) == []
    assert framer.feed(b"", 0.0) == []


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"start": 256}, "start"),
    ({"escape": 0x7E}, "escape"),
    ({"xor": 0x01, "start": 0x10, "stop": 0x11, "escape": 0x12}, "xor"),
    ({"crc_byteorder": "middle"}, "crc_byteorder"),
    ({"crc": "crc99"}, "checksum"),
    ({"max_frame": 3}, "max_frame"),
])
def test_constructor_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StartStopFramer(**kwargs)
