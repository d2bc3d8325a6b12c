"""LengthPrefixedFramer: UNI-T, JK BMS and Daly BMS frames (reference §6, §7), header hunting,
checksum errors, overflow, gap timeout."""

from __future__ import annotations

import pytest
from framing_helpers import feed_chunks, kinds

from ionpy_widgets.framing import Frame, Framer, LengthPrefixedFramer

h = bytes.fromhex

UNIT_MEASURE = h("AB CD 03 5E 01 D9")
UNIT_HOLD = h("AB CD 03 4A 01 C5")
UNIT_REPLY = h("AB CD 10 02 31 20 31 2E 32 33 34 35 00 00 30 30 38 03 A0")
JK_READ_ALL = h("4E 57 00 13 00 00 00 00 06 03 00 00 00 00 00 00 68 00 00 01 29")
DALY_REQUEST = h("A5 40 90 08 00 00 00 00 00 00 00 00 7D")
DALY_REPLY = h("A5 01 90 08 02 0B 00 00 75 3F 03 6B 6D")


def unit(**kw):
    return LengthPrefixedFramer(header=b"\xab\xcd", length_size=1, checksum="sum16_be", **kw)


def jk(**kw):
    return LengthPrefixedFramer(header=b"NW", length_size=2, length_adjust=-2, checksum="sum16_be", **kw)


def daly(**kw):
    return LengthPrefixedFramer(header=b"\xa5", length_offset=3, length_size=1, length_adjust=1, checksum="sum8",
                                **kw)


def test_unit_golden_frames_and_encode():
    framer = unit()
    assert framer.encode(b"^") == UNIT_MEASURE
    assert framer.encode(b"\x4a") == UNIT_HOLD
    frames = framer.feed(UNIT_MEASURE + UNIT_REPLY + UNIT_HOLD, 3.0)
    assert [f.payload for f in frames] == [b"^", UNIT_REPLY[3:-2], b"\x4a"]
    assert frames[1].payload[2:9] == b" 1.2345" and frames[1].raw == UNIT_REPLY
    assert framer.encode(frames[1].payload) == UNIT_REPLY


def test_jk_read_all_request():
    framer = jk()
    (frame,) = framer.feed(JK_READ_ALL, 0.0)
    assert frame.payload == JK_READ_ALL[4:-2] and frame.payload.endswith(b"\x68\x00\x00")
    assert framer.encode(frame.payload) == JK_READ_ALL


def test_daly_frames_with_fields_before_the_length():
    framer = daly()
    frames = framer.feed(DALY_REQUEST + DALY_REPLY, 0.0)
    assert [f.payload for f in frames] == [h("40 90") + bytes(8), h("01 90 02 0B 00 00 75 3F 03 6B")]
    assert framer.encode(h("40 90") + bytes(8)) == DALY_REQUEST
    assert framer.encode(frames[1].payload) == DALY_REPLY


@pytest.mark.parametrize(("make", "stream"), [
    (unit, UNIT_MEASURE + UNIT_REPLY + UNIT_HOLD),
    (jk, JK_READ_ALL + JK_READ_ALL),
    (daly, DALY_REQUEST + DALY_REPLY),
])
def test_every_split_point_gives_the_same_results(make, stream):
    whole = make().feed(stream, 1.0)
    assert all(isinstance(r, Frame) for r in whole) and len(whole) in (2, 3)
    for i in range(len(stream) + 1):
        for j in range(i, len(stream) + 1, 3):
            assert feed_chunks(make(), [stream[:i], stream[i:j], stream[j:]]) == whole
    assert feed_chunks(make(), [bytes([b]) for b in stream]) == whole


def test_garbage_before_header_is_skipped_and_reported_once():
    framer = unit()
    out = framer.feed(b"\x00\x11\xab\x99" + UNIT_REPLY, 0.0)
    assert kinds(out) == ["garbage", "frame"]
    assert out[0].raw == b"\x00\x11\xab\x99"


def test_partial_header_at_the_end_is_kept():
    framer = unit()
    assert framer.feed(b"junk\xab", 0.0) == []
    out = framer.feed(UNIT_MEASURE[1:], 0.0)
    assert kinds(out) == ["garbage", "frame"] and out[0].raw == b"junk"


def test_bad_checksum_then_resync_to_next_frame():
    bad = UNIT_REPLY[:-1] + b"\xa1"
    out = unit().feed(bad + UNIT_MEASURE, 0.0)
    assert kinds(out) == ["checksum", "frame"]
    assert out[0].raw == bad and out[1].payload == b"^"


def test_garbage_header_before_a_real_frame_costs_no_checksum_error():
    # AB CD 05 announces 8 bytes that overlap the real frame; the real frame wins.
    out = unit().feed(h("AB CD 05") + UNIT_MEASURE, 0.0)
    assert kinds(out) == ["garbage", "frame"]
    assert out[0].raw == h("AB CD 05")


def test_announced_length_above_max_frame_is_overflow():
    framer = jk(max_frame=64)
    out = framer.feed(h("4E 57 FF FF") + JK_READ_ALL, 0.0)
    assert kinds(out) == ["overflow", "frame"]
    assert out[0].raw == h("4E 57 FF FF")


def test_length_shorter_than_header_and_checksum_is_garbage():
    out = jk().feed(h("4E 57 00 01") + JK_READ_ALL, 0.0)
    assert kinds(out) == ["garbage", "frame"]


def test_gap_timeout_drops_incomplete_frame():
    framer = unit(gap_timeout=0.05)
    assert framer.feed(UNIT_REPLY[:10], 1.0) == []
    assert framer.next_deadline() == pytest.approx(1.05)
    assert framer.poll(1.02) == []
    out = framer.poll(1.06)
    assert kinds(out) == ["incomplete"] and out[0].raw == UNIT_REPLY[:10]
    assert framer.next_deadline() is None
    assert framer.feed(UNIT_MEASURE, 2.0)[0].payload == b"^"


def test_late_feed_expires_the_stale_partial_first():
    framer = unit(gap_timeout=0.05)
    framer.feed(UNIT_REPLY[:7], 1.0)
    out = framer.feed(UNIT_MEASURE, 2.0)
    assert kinds(out) == ["incomplete", "frame"]


def test_without_gap_timeout_nothing_expires():
    framer = unit()
    framer.feed(UNIT_REPLY[:7], 1.0)
    assert framer.next_deadline() is None and framer.poll(100.0) == []
    assert framer.feed(UNIT_REPLY[7:], 200.0)[0].raw == UNIT_REPLY


def test_headerless_little_endian_without_checksum():
    framer = LengthPrefixedFramer(length_size=2, byteorder="little")
    wire = framer.encode(b"hello")
    assert wire == b"\x05\x00hello"
    assert framer.feed(wire + framer.encode(b""), 0.0) == [Frame(b"hello", wire, 0.0), Frame(b"", b"\x00\x00", 0.0)]


def test_checksum_start_skips_the_header():
    framer = LengthPrefixedFramer(header=b"\x55", checksum="crc16_modbus", checksum_start=1)
    wire = framer.encode(b"\x01\x02")
    assert wire[-2:] == framer.spec.compute(wire[1:-2]) != framer.spec.compute(wire[:-2])
    assert framer.feed(wire, 0.0)[0].payload == b"\x01\x02"


def test_reset_forgets_partial_and_junk():
    framer = unit()
    framer.feed(b"xx" + UNIT_REPLY[:5], 0.0)
    framer.reset()
    assert framer.feed(UNIT_MEASURE, 0.0) == [Frame(b"^", UNIT_MEASURE, 0.0)]


def test_encode_rejects_what_cannot_be_framed():
    with pytest.raises(ValueError, match="does not fit"):
        unit().encode(b"x" * 300)
    with pytest.raises(ValueError, match="between header and length"):
        daly().encode(b"\x40")
    with pytest.raises(ValueError, match="does not fit"):
        unit(max_frame=8).encode(b"x" * 4)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"length_size": 3}, "length_size"),
    ({"byteorder": "middle"}, "byteorder"),
    ({"header": b"AB", "length_offset": 1}, "length_offset"),
    ({"checksum": "md5"}, "checksum"),
    ({"checksum_start": 5}, "checksum_start"),
    ({"max_frame": 2, "checksum": "sum16"}, "max_frame"),
    ({"gap_timeout": 0}, "gap_timeout"),
])
def test_constructor_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LengthPrefixedFramer(**kwargs)


def test_is_a_framer():
    assert isinstance(unit(), Framer) and unit().min_silence == 0
