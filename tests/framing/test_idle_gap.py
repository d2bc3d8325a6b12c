"""IdleGapFramer: Korad-style replies ended by silence or by an expected byte count."""

from __future__ import annotations

import pytest

from ionpy_widgets.framing import Frame, FrameError, Framer, IdleGapFramer


def test_reply_ends_after_the_gap():
    framer = IdleGapFramer(0.05)
    assert framer.feed(b"KORAD KD30", 1.0) == []
    assert framer.feed(b"05P V2.0", 1.01) == []
    assert framer.next_deadline() == pytest.approx(1.06)
    assert framer.poll(1.05) == []
    assert framer.poll(1.06) == [Frame(b"KORAD KD3005P V2.0", b"KORAD KD3005P V2.0", 1.01)]
    assert framer.next_deadline() is None and framer.poll(2.0) == []


def test_feed_after_the_gap_ends_the_previous_reply_first():
    framer = IdleGapFramer(0.05)
    framer.feed(b"12.00", 1.0)
    out = framer.feed(b"1.000", 2.0)
    assert out == [Frame(b"12.00", b"12.00", 1.0)]
    assert framer.poll(2.05) == [Frame(b"1.000", b"1.000", 2.0)]


def test_expect_delivers_without_waiting_and_is_one_shot():
    framer = IdleGapFramer(0.05)
    framer.expect(5)
    assert framer.feed(b"12.", 1.0) == []
    assert framer.feed(b"00", 1.001) == [Frame(b"12.00", b"12.00", 1.001)]
    assert framer.next_deadline() is None
    framer.feed(b"abcdefg", 2.0)  # no expectation any more: ends by gap
    assert framer.poll(2.1) == [Frame(b"abcdefg", b"abcdefg", 2.0)]


def test_bytes_beyond_the_expected_length_start_the_next_frame():
    framer = IdleGapFramer(0.05)
    framer.expect(1)
    assert framer.feed(b"\x51\x01", 1.0) == [Frame(b"\x51", b"\x51", 1.0)]
    assert framer.poll(1.05) == [Frame(b"\x01", b"\x01", 1.0)]


def test_default_expected_length():
    framer = IdleGapFramer(expected_length=2)
    assert framer.feed(b"abcde", 0.0) == [Frame(b"ab", b"ab", 0.0), Frame(b"cd", b"cd", 0.0)]
    assert framer.poll(1.0)[0].kind == "incomplete"
    framer.expect(3)
    assert framer.feed(b"xyz", 2.0) == [Frame(b"xyz", b"xyz", 2.0)]
    assert framer.feed(b"12", 3.0) == [Frame(b"12", b"12", 3.0)]


def test_short_reply_with_expectation_is_incomplete():
    framer = IdleGapFramer(0.05)
    framer.expect(5)
    framer.feed(b"12.", 1.0)
    (err,) = framer.poll(1.1)
    assert isinstance(err, FrameError) and err.kind == "incomplete" and err.raw == b"12."
    framer.feed(b"abc", 2.0)
    assert framer.poll(2.1) == [Frame(b"abc", b"abc", 2.0)]


def test_overflow_then_skip_until_gap():
    framer = IdleGapFramer(0.05, max_frame=8)
    out = framer.feed(b"0123456789", 1.0) + framer.feed(b"more", 1.01)
    assert [type(r) for r in out] == [FrameError]
    assert out[0].kind == "overflow" and out[0].raw == b"012345678"
    assert len(framer._buf) <= 8
    assert framer.next_deadline() == pytest.approx(1.06)
    assert framer.poll(1.06) == []
    framer.feed(b"ok", 2.0)
    assert framer.poll(2.06) == [Frame(b"ok", b"ok", 2.0)]


def test_split_invariance_without_time_passing():
    stream = bytes(range(40))
    whole = IdleGapFramer(expected_length=7, max_frame=16).feed(stream, 0.0)
    framer = IdleGapFramer(expected_length=7, max_frame=16)
    bytewise = []
    for b in stream:
        bytewise += framer.feed(bytes([b]), 0.0)
    assert bytewise == whole and len(whole) == 5


def test_encode_reset_and_contract():
    framer = IdleGapFramer()
    assert framer.encode(b"VSET1:12.00") == b"VSET1:12.00"
    framer.expect(5)
    framer.feed(b"1", 0.0)
    framer.reset()
    assert framer.next_deadline() is None
    framer.feed(b"123456", 1.0)
    assert framer.poll(1.1) == [Frame(b"123456", b"123456", 1.0)]
    assert isinstance(framer, Framer) and framer.min_silence == 0
    assert framer.feed(b"", 5.0) == []


@pytest.mark.parametrize(("args", "kwargs", "match"), [
    ((0,), {}, "gap"),
    ((-1.0,), {}, "gap"),
    ((), {"expected_length": 0}, "expected_length"),
    ((), {"expected_length": 10, "max_frame": 5}, "expected_length"),
])
def test_validation(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        IdleGapFramer(*args, **kwargs)
    with pytest.raises(ValueError, match="expected_length"):
        IdleGapFramer(max_frame=4).expect(5)
