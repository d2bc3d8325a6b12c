"""Property tests for every framer: garbage never raises, never hangs and never grows the
buffers past their bound; a valid frame after garbage is found; a corrupted CRC is reported and
the next frame still decoded; byte-by-byte feeding equals feeding at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from framing_helpers import settle
from hypothesis import given, settings
from hypothesis import strategies as st

from ionpy_widgets.framing import (
    DelimiterFramer,
    Frame,
    FrameError,
    IdleGapFramer,
    LengthPrefixedFramer,
    ModbusRtuFramer,
    RawFramer,
    StartStopFramer,
)

FUZZ = settings(max_examples=120, deadline=None)
KINDS = {"crc", "checksum", "overflow", "garbage", "incomplete", "escape"}
FAR = 1e6


@dataclass(frozen=True)
class Target:
    name: str
    make: Callable[[], Any]
    payloads: st.SearchStrategy[bytes]
    corrupt: Callable[[Any, bytes], bytes] | None = None  # wire bytes of `payload` with a bad check field
    bad_kind: str = "crc"

    def __repr__(self) -> str:
        return self.name


def _flip_tail(size: int) -> Callable[[Any, bytes], bytes]:
    def corrupt(framer: Any, payload: bytes) -> bytes:
        wire = framer.encode(payload)
        return wire[:-size] + bytes(b ^ 0x5A for b in wire[-size:])
    return corrupt


def _start_stop_corrupt(framer: StartStopFramer, payload: bytes) -> bytes:
    crc = framer.spec.compute(payload)
    bad = bytes(b ^ 0x5A for b in crc)
    plain = StartStopFramer(framer.start, framer.stop, framer.escape, framer.xor, crc=None, max_frame=framer.max_frame)
    return plain.encode(payload + bad)


def _modbus_corrupt(framer: ModbusRtuFramer, payload: bytes) -> bytes:
    wire = framer.encode(payload)
    return wire[:-2] + bytes(b ^ 0x5A for b in wire[-2:])


addresses = st.integers(1, 247)
modbus_responses = st.one_of(
    st.builds(lambda a, data: bytes([a, 3, len(data)]) + data, addresses,
              st.integers(0, 20).flatmap(lambda n: st.binary(min_size=2 * n, max_size=2 * n))),
    st.builds(lambda a, body: bytes([a, 6]) + body, addresses, st.binary(min_size=4, max_size=4)),
    st.builds(lambda a, fc, code: bytes([a, fc | 0x80, code]), addresses, st.integers(1, 0x7F), st.integers(1, 11)),
)
modbus_requests = st.one_of(
    st.builds(lambda a, body: bytes([a, 3]) + body, st.integers(0, 247), st.binary(min_size=4, max_size=4)),
    st.builds(lambda a, head, data: bytes([a, 0x10]) + head + bytes([len(data)]) + data, addresses,
              st.binary(min_size=4, max_size=4), st.binary(max_size=30)),
)

TARGETS = [
    Target("delimiter", lambda: DelimiterFramer(b"\r\n", strip=None, max_frame=48),
           st.binary(max_size=40).filter(lambda p: b"\r\n" not in p and not p.endswith(b"\r"))),
    Target("unit", lambda: LengthPrefixedFramer(header=b"\xab\xcd", checksum="sum16_be", max_frame=64,
                                                gap_timeout=0.05), st.binary(max_size=40), _flip_tail(2), "checksum"),
    Target("jk", lambda: LengthPrefixedFramer(header=b"NW", length_size=2, length_adjust=-2, checksum="sum16_be",
                                              max_frame=64, gap_timeout=0.05),
           st.binary(max_size=40), _flip_tail(2), "checksum"),
    Target("daly", lambda: LengthPrefixedFramer(header=b"\xa5", length_offset=3, length_size=1, length_adjust=1,
                                                checksum="sum8", max_frame=32, gap_timeout=0.05),
           st.binary(min_size=10, max_size=10), _flip_tail(1), "checksum"),
    Target("headerless", lambda: LengthPrefixedFramer(length_size=1, checksum="crc16_modbus", max_frame=64,
                                                      gap_timeout=0.05), st.binary(max_size=40), _flip_tail(2),
           "checksum"),
    Target("modbus_master", lambda: ModbusRtuFramer("master"), modbus_responses, _modbus_corrupt),
    Target("modbus_slave", lambda: ModbusRtuFramer("slave", baudrate=115200), modbus_requests, _modbus_corrupt),
    Target("opendps", lambda: StartStopFramer(max_frame=64), st.binary(max_size=20), _start_stop_corrupt),
    Target("hdlc", lambda: StartStopFramer(0x7E, 0x7E, 0x7D, crc="crc16_modbus", crc_byteorder="little",
                                           max_frame=64), st.binary(max_size=20), _start_stop_corrupt),
]
CHECKED = [t for t in TARGETS if t.corrupt is not None]
ALL_FRAMERS = {t.name: t.make for t in TARGETS} | {
    "idle_gap": lambda: IdleGapFramer(0.05, max_frame=48),
    "idle_gap_expected": lambda: IdleGapFramer(0.05, max_frame=48, expected_length=7),
    "raw": lambda: RawFramer(max_frame=48),
}


def buffered(framer: Any) -> int:
    junk = getattr(framer, "_junk", None)
    return len(framer._buf) + (len(junk.data) if junk is not None else 0)


def bound(framer: Any) -> int:
    if isinstance(framer, LengthPrefixedFramer | ModbusRtuFramer):
        return 3 * framer.max_frame  # candidate + frames inside it + unreported junk
    if isinstance(framer, DelimiterFramer):
        return framer.max_frame + len(framer.delimiter)
    return 2 * framer.max_frame


def check_results(results: list[Any]) -> None:
    for item in results:
        assert isinstance(item, Frame | FrameError)
        assert type(item.raw) is bytes
        if isinstance(item, Frame):
            assert type(item.payload) is bytes
        else:
            assert item.kind in KINDS


def run(framer: Any, stream: bytes, cuts: list[int] | None = None) -> list[Any]:
    """Feed ``stream`` (split at ``cuts``, or byte by byte if cuts is None) with a fixed clock, then
    let all silence expire."""
    points = sorted({c % (len(stream) + 1) for c in cuts}) if cuts is not None else range(len(stream) + 1)
    out: list[Any] = []
    prev = 0
    for point in [*points, len(stream)]:
        if point > prev:
            out += framer.feed(stream[prev:point], 1.0)
            prev = point
    return out + framer.poll(FAR)


def found_or_shadowed(results: list[Any], stream: bytes, start: int, raw: bytes, payload: bytes) -> bool:
    """The frame at ``stream[start:]`` was decoded, or a different valid frame overlapping its start
    was (a checksum collision inside garbage: legitimate, just astronomically rare)."""
    frames = [r for r in results if isinstance(r, Frame)]
    if any(f.payload == payload and f.raw == raw for f in frames):
        return True
    for f in frames:
        pos = stream.find(f.raw)
        while pos >= 0:
            if pos < start < pos + len(f.raw) or start <= pos < start + len(raw):
                return True
            pos = stream.find(f.raw, pos + 1)
    return False


@pytest.mark.parametrize("make", list(ALL_FRAMERS.values()), ids=list(ALL_FRAMERS))
@FUZZ
@given(steps=st.lists(st.tuples(st.binary(max_size=120), st.sampled_from([0.0, 0.0, 0.001, 0.004, 0.03, 0.2])),
                      max_size=25))
def test_garbage_never_raises_hangs_or_grows(make, steps):
    framer = make()
    now, results = 0.0, []
    for chunk, dt in steps:
        now += dt
        results += settle(framer, now)
        results += framer.feed(chunk, now)
        assert buffered(framer) <= bound(framer)
    results += settle(framer, FAR)
    assert framer.next_deadline() is None
    check_results(results)
    framer.reset()
    assert buffered(framer) == 0


@pytest.mark.parametrize("target", TARGETS, ids=repr)
@FUZZ
@given(data=st.data(), before=st.binary(max_size=60), after=st.binary(max_size=60),
       cuts=st.lists(st.integers(0, 1000), max_size=4))
def test_valid_frame_after_garbage_is_found(target, data, before, after, cuts):
    framer = target.make()
    payload = data.draw(target.payloads)
    raw = framer.encode(payload)
    if isinstance(framer, DelimiterFramer):
        before = before.replace(b"\r\n", b"") + b"\r\n"  # a line ends where the frame begins
    stream = before + raw + after
    results = run(framer, stream, cuts)
    check_results(results)
    assert found_or_shadowed(results, stream, len(before), raw, payload)


@pytest.mark.parametrize("target", CHECKED, ids=repr)
@FUZZ
@given(data=st.data(), cuts=st.lists(st.integers(0, 1000), max_size=4))
def test_corrupted_check_is_reported_and_next_frame_decoded(target, data, cuts):
    framer = target.make()
    first, second = data.draw(target.payloads), data.draw(target.payloads)
    bad = target.corrupt(framer, first)
    good = framer.encode(second)
    stream = bad + good
    results = run(framer, stream, cuts)
    check_results(results)
    assert found_or_shadowed(results, stream, len(bad), good, second)
    errors = [r for r in results if isinstance(r, FrameError) and r.kind == target.bad_kind]
    others = [r for r in results if isinstance(r, Frame) and r.raw != good]
    assert errors or others  # the bad frame is reported, unless a checksum collision produced a frame
    if errors:
        assert errors[0].raw.startswith(bad[:1])


stream_parts = st.lists(st.tuples(st.sampled_from(["frame", "bad", "garbage"]), st.binary(max_size=30)), max_size=8)


@pytest.mark.parametrize("target", TARGETS, ids=repr)
@FUZZ
@given(data=st.data(), parts=stream_parts, cuts=st.lists(st.integers(0, 1000), max_size=5))
def test_bytewise_equals_at_once(target, data, parts, cuts):
    framer = target.make()
    stream = b""
    for kind, garbage in parts:
        if kind == "garbage" or (kind == "bad" and target.corrupt is None):
            stream += garbage
        elif kind == "bad":
            stream += target.corrupt(framer, data.draw(target.payloads))
        else:
            stream += framer.encode(data.draw(target.payloads))
    at_once = run(target.make(), stream, [])
    assert run(target.make(), stream, None) == at_once
    assert run(target.make(), stream, cuts) == at_once


@FUZZ
@given(before=st.binary(min_size=1, max_size=100), payload=st.binary(min_size=1, max_size=48),
       expected=st.sampled_from([None, 1, 5]))
def test_idle_gap_resyncs_at_the_next_gap(before, payload, expected):
    framer = IdleGapFramer(0.05, max_frame=48)
    results = framer.feed(before, 1.0) + framer.feed(payload, 2.0) + framer.poll(3.0)
    check_results(results)
    assert Frame(payload, payload, 2.0) in results
    framer.expect(expected)
    results = framer.feed(payload, 4.0) + framer.poll(5.0)
    if expected is None:
        assert results == [Frame(payload, payload, 4.0)]
    elif len(payload) >= expected:
        assert results[0] == Frame(payload[:expected], payload[:expected], 4.0)
    else:
        assert [r.kind for r in results] == ["incomplete"]


@FUZZ
@given(chunks=st.lists(st.binary(max_size=60), max_size=10), expected=st.sampled_from([None, 3, 7]))
def test_idle_gap_bytewise_equals_at_once(chunks, expected):
    stream = b"".join(chunks)

    def make():
        return IdleGapFramer(0.05, max_frame=48, expected_length=expected)
    framer = make()
    at_once = framer.feed(stream, 1.0) + framer.poll(2.0)
    framer = make()
    bytewise = []
    for b in stream:
        bytewise += framer.feed(bytes([b]), 1.0)
    assert bytewise + framer.poll(2.0) == at_once
