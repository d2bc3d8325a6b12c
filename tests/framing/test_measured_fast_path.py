"""The one-whole-frame shortcut of the measured framers (Modbus RTU, length-prefixed) gives the same
results and leaves the same state as the parse loop, whatever the stream, its split and the clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from framing_helpers import settle
from hypothesis import given, settings
from hypothesis import strategies as st

from ionpy_widgets.framing import Frame, LengthPrefixedFramer, ModbusRtuFramer

FUZZ = settings(max_examples=150, deadline=None)
FAR = 1e6

addresses = st.integers(1, 247)
modbus_responses = st.one_of(
    st.builds(lambda a, data: bytes([a, 3, len(data)]) + data, addresses,
              st.integers(0, 20).flatmap(lambda n: st.binary(min_size=2 * n, max_size=2 * n))),
    st.builds(lambda a, body: bytes([a, 6]) + body, addresses, st.binary(min_size=4, max_size=4)),
    st.builds(lambda a, fc, code: bytes([a, fc | 0x80, code]), addresses, st.integers(1, 0x7F), st.integers(1, 11)),
    st.builds(lambda a, fc, body: bytes([a, fc]) + body, addresses, st.integers(0x41, 0x48), st.binary(max_size=8)),
)
modbus_requests = st.one_of(
    st.builds(lambda a, body: bytes([a, 3]) + body, st.integers(0, 247), st.binary(min_size=4, max_size=4)),
    st.builds(lambda a, head, data: bytes([a, 0x10]) + head + bytes([len(data)]) + data, addresses,
              st.binary(min_size=4, max_size=4), st.binary(max_size=30)),
)

MEASURED: dict[str, tuple[Callable[[], Any], st.SearchStrategy[bytes]]] = {
    "modbus_master": (lambda: ModbusRtuFramer("master"), modbus_responses),
    "modbus_slave": (lambda: ModbusRtuFramer("slave", baudrate=115200), modbus_requests),
    "modbus_small": (lambda: ModbusRtuFramer("master", max_frame=12), modbus_responses),
    "unit": (lambda: LengthPrefixedFramer(header=b"\xab\xcd", checksum="sum16_be", max_frame=64, gap_timeout=0.05),
             st.binary(max_size=40)),
    "daly": (lambda: LengthPrefixedFramer(header=b"\xa5", length_offset=3, length_size=1, length_adjust=1,
                                          checksum="sum8", max_frame=32, gap_timeout=0.05),
             st.binary(min_size=10, max_size=10)),
    "headerless": (lambda: LengthPrefixedFramer(length_size=1, checksum="crc16_modbus", max_frame=64,
                                                gap_timeout=0.05), st.binary(max_size=40)),
}


def pair(name: str) -> tuple[Any, Any]:
    make = MEASURED[name][0]
    fast, slow = make(), make()
    slow.fast_path = False
    return fast, slow


def wire(framer: Any, payload: bytes) -> bytes:
    """``payload`` encoded, or the payload itself when it does not fit (then it is just bytes)."""
    try:
        return framer.encode(payload)
    except ValueError:
        return payload


def state(framer: Any) -> tuple[Any, ...]:
    return (bytes(framer._buf), bytes(framer._junk.data), framer._junk.kind, framer._covered, framer._level,
            framer._stalled, framer._last_rx, framer.next_deadline())


@st.composite
def pieces(draw: st.DrawFn, name: str) -> list[tuple[bytes, float]]:
    """Chunks with the time before each: mostly whole frames (the shortcut's case), some split,
    corrupted or garbage, and pauses shorter and longer than t3.5 and gap_timeout."""
    framer = MEASURED[name][0]()
    out: list[tuple[bytes, float]] = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["whole", "whole", "whole", "split", "corrupt", "garbage", "two"]))
        raw = wire(framer, draw(MEASURED[name][1]))
        if kind == "corrupt":
            raw = raw[:-1] + bytes([raw[-1] ^ draw(st.integers(1, 255))])
        elif kind == "garbage":
            raw = draw(st.binary(min_size=1, max_size=12))
        elif kind == "two":
            raw += wire(framer, draw(MEASURED[name][1]))
        dt = draw(st.sampled_from([0.0, 0.0, 0.0005, 0.004, 0.03, 0.2]))
        if kind == "split" and len(raw) > 1:
            cut = draw(st.integers(1, len(raw) - 1))
            out += [(raw[:cut], dt), (raw[cut:], draw(st.sampled_from([0.0, 0.001, 0.2])))]
        else:
            out.append((raw, dt))
    return out


@pytest.mark.parametrize("name", list(MEASURED))
@FUZZ
@given(data=st.data())
def test_fast_and_slow_paths_agree(name, data):
    fast, slow = pair(name)
    now = 0.0
    for chunk, dt in data.draw(pieces(name)):
        now += dt
        assert settle(fast, now) == settle(slow, now)
        assert fast.feed(chunk, now) == slow.feed(chunk, now)
        assert state(fast) == state(slow)
    assert settle(fast, FAR) == settle(slow, FAR)
    assert state(fast) == state(slow)


@pytest.mark.parametrize("name", list(MEASURED))
@FUZZ
@given(data=st.data())
def test_a_whole_frame_takes_the_shortcut(name, data):
    class Counting(type(MEASURED[name][0]())):  # type: ignore[misc]
        loops = 0

        def _parse(self, *args: Any) -> None:
            Counting.loops += 1
            super()._parse(*args)

    framer = MEASURED[name][0]()
    framer.__class__ = Counting
    payload = data.draw(MEASURED[name][1])
    try:
        raw = framer.encode(payload)
    except ValueError:
        return
    if framer._measure(raw, 0) != len(raw):  # a function code whose frames only silence ends
        assert framer.feed(raw, 5.0) == [] and Counting.loops == 1
        return
    results = framer.feed(raw, 5.0)
    assert results == [Frame(payload, raw, 5.0)] and Counting.loops == 0
    assert framer.next_deadline() is None and not framer._buf
    assert framer.feed(bytearray(raw), 6.0) == [Frame(payload, raw, 6.0)]  # any bytes-like input
    assert Counting.loops == 0


def test_a_reply_to_the_dps5005_poll_in_one_chunk():
    framer = ModbusRtuFramer()
    reply = framer.encode(bytes([1, 3, 26]) + bytes(range(26)))
    assert len(reply) == 31
    (frame,) = framer.feed(reply, 1.0)
    assert frame == Frame(reply[:-2], reply, 1.0)
    bad = reply[:-1] + bytes([reply[-1] ^ 1])
    assert [r.kind for r in framer.feed(bad, 2.0)] == []  # undecided until t3.5: a frame may start inside
    assert [r.kind for r in framer.poll(2.0 + framer.t35)] == ["crc"]


def test_modbus_encode_remembers_requests_and_stays_bounded():
    framer = ModbusRtuFramer()
    fresh = ModbusRtuFramer()
    request = bytes.fromhex("0103 0000 000d")
    wire = framer.encode(request)
    assert wire == bytes.fromhex("0103 0000 000d 840f") and framer.encode(request) is wire
    assert framer.encode(bytearray(request)) == wire  # not hashable: encoded every time, same bytes
    for register in range(200):
        payload = bytes([1, 3, 0, register, 0, 1])
        assert framer.encode(payload) == fresh.encode(bytearray(payload))
    assert 0 < len(framer._encoded) <= 64
    with pytest.raises(ValueError, match=r"2\.\.254 bytes"):
        framer.encode(b"\x01")
