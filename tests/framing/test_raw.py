"""RawFramer: each chunk is one frame; large chunks are cut at max_frame."""

from __future__ import annotations

import pytest

from ionpy_widgets.framing import Frame, Framer, RawFramer


def test_each_chunk_is_one_frame():
    framer = RawFramer()
    assert framer.feed(b"abc", 1.0) == [Frame(b"abc", b"abc", 1.0)]
    assert framer.feed(bytearray(b"\x00\xff"), 2.0) == [Frame(b"\x00\xff", b"\x00\xff", 2.0)]
    assert framer.feed(b"", 3.0) == []


def test_large_chunk_is_cut_at_max_frame():
    framer = RawFramer(max_frame=4)
    frames = framer.feed(b"0123456789", 0.0)
    assert [f.payload for f in frames] == [b"0123", b"4567", b"89"]
    assert all(type(f.payload) is bytes for f in frames)


def test_encode_is_identity_and_nothing_is_pending():
    framer = RawFramer()
    assert framer.encode(b"*IDN?\n") == b"*IDN?\n"
    assert framer.encode(bytearray(b"x")) == b"x"
    framer.feed(b"abc", 1.0)
    assert framer.next_deadline() is None
    assert framer.poll(100.0) == []
    assert framer.min_silence == 0
    framer.reset()
    assert framer.feed(b"z", 2.0) == [Frame(b"z", b"z", 2.0)]


def test_is_a_framer_and_validates_max_frame():
    assert isinstance(RawFramer(), Framer)
    with pytest.raises(ValueError, match="max_frame"):
        RawFramer(max_frame=0)
