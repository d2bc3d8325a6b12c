"""DelimiterFramer: SCPI lines, multi-byte delimiters, overflow and resync, split invariance."""

from __future__ import annotations

import time

import pytest
from framing_helpers import feed_chunks

from ionpy_widgets.framing import DelimiterFramer, Frame, FrameError, Framer

SCPI_STREAM = b"Keysight Technologies,E36103B,MY61001983,1.0.2-1.02\n+5.01234E+00\r\n0\n"
SCPI_PAYLOADS = [b"Keysight Technologies,E36103B,MY61001983,1.0.2-1.02", b"+5.01234E+00", b"0"]


def test_scpi_lines_back_to_back_in_one_chunk():
    framer = DelimiterFramer()
    frames = framer.feed(SCPI_STREAM, 2.0)
    assert [f.payload for f in frames] == SCPI_PAYLOADS
    assert frames[1].raw == b"+5.01234E+00\r\n"
    assert all(isinstance(f, Frame) and f.timestamp == 2.0 for f in frames)
    assert b"".join(f.raw for f in frames) == SCPI_STREAM


def test_every_split_point_gives_the_same_frames():
    whole = DelimiterFramer().feed(SCPI_STREAM, 1.0)
    for i in range(len(SCPI_STREAM) + 1):
        for j in range(i, len(SCPI_STREAM) + 1):
            parts = [SCPI_STREAM[:i], SCPI_STREAM[i:j], SCPI_STREAM[j:]]
            assert feed_chunks(DelimiterFramer(), parts) == whole


def test_multibyte_delimiter_split_inside_the_delimiter():
    stream = b"abc\r\n\r\nde\rf\r\n"
    whole = DelimiterFramer(b"\r\n", strip=None).feed(stream, 1.0)
    assert [f.payload for f in whole] == [b"abc", b"", b"de\rf"]
    for i in range(len(stream) + 1):
        assert feed_chunks(DelimiterFramer(b"\r\n", strip=None), [stream[:i], stream[i:]]) == whole
    bytewise = feed_chunks(DelimiterFramer(b"\r\n", strip=None), [bytes([b]) for b in stream])
    assert bytewise == whole


def test_strip_is_a_set_of_trailing_bytes():
    framer = DelimiterFramer(b"\n", strip=b"\r ")
    assert framer.feed(b"OK \r\r\n", 0.0)[0].payload == b"OK"
    assert DelimiterFramer(strip=None).feed(b"OK\r\n", 0.0)[0].payload == b"OK\r"
    assert DelimiterFramer(strip=b"").feed(b"OK\r\n", 0.0)[0].payload == b"OK\r"


def test_encode_appends_delimiter_once():
    framer = DelimiterFramer()
    assert framer.encode(b"*IDN?") == b"*IDN?\n"
    assert framer.encode(b"*IDN?\n") == b"*IDN?\n"
    assert DelimiterFramer(b"\r\n").encode(b"VOLT 5") == b"VOLT 5\r\n"
    assert DelimiterFramer(append_on_encode=False).encode(b"x") == b"x"


def test_overflow_reports_once_and_resyncs_at_next_delimiter():
    framer = DelimiterFramer(max_frame=8)
    out = framer.feed(b"0123456789ABCDEF\nnext\n", 5.0)
    assert isinstance(out[0], FrameError) and out[0].kind == "overflow"
    assert out[0].raw == b"012345678"
    assert out[1] == Frame(b"next", b"next\n", 5.0)
    assert len(out) == 2


def test_overflow_without_delimiter_keeps_buffer_bounded():
    framer = DelimiterFramer(max_frame=8)
    out = []
    for _ in range(100):
        out += framer.feed(b"xxxxxxx", 0.0)
        assert len(framer._buf) <= 8
    assert [r.kind for r in out] == ["overflow"]
    assert framer.feed(b"\nok\n", 0.0) == [Frame(b"ok", b"ok\n", 0.0)]


def test_frame_of_exactly_max_frame_is_accepted():
    framer = DelimiterFramer(b"\r\n", max_frame=4)
    stream = b"abcd\r\nabcde\r\nz\r\n"
    whole = framer.feed(stream, 0.0)
    assert [type(r).__name__ for r in whole] == ["Frame", "FrameError", "Frame"]
    assert feed_chunks(DelimiterFramer(b"\r\n", max_frame=4), [bytes([b]) for b in stream], 0.0) == whole


def test_bytewise_feeding_is_linear():
    framer = DelimiterFramer(b"\r\n", max_frame=200_000)
    start = time.perf_counter()
    for _ in range(50_000):
        framer.feed(b"a", 0.0)
    assert framer.feed(b"\r\n", 0.0)[0].payload == b"a" * 50_000
    assert time.perf_counter() - start < 2.0  # a rescan per byte would be ~1e9 byte comparisons


def test_reset_drops_partial_line_and_overflow_state():
    framer = DelimiterFramer(max_frame=4)
    framer.feed(b"abcdefgh", 0.0)
    framer.reset()
    assert framer.feed(b"ok\n", 0.0) == [Frame(b"ok", b"ok\n", 0.0)]
    framer.feed(b"partial", 0.0)
    framer.reset()
    assert framer.feed(b"x\n", 0.0)[0].payload == b"x"
    assert framer.feed(b"", 0.0) == []


def test_contract_and_validation():
    framer = DelimiterFramer()
    assert isinstance(framer, Framer)
    assert framer.min_silence == 0 and framer.next_deadline() is None and framer.poll(1e9) == []
    with pytest.raises(ValueError, match="delimiter"):
        DelimiterFramer(b"")
    with pytest.raises(ValueError, match="max_frame"):
        DelimiterFramer(max_frame=0)
