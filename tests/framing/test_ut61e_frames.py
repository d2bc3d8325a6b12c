"""UNI-T UT61E+ frames (``AB CD LEN payload SUM16``) through the length-prefixed framer built from
the driver's blueprint parameters: golden vectors from protocols.md §7.3 and property tests."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ionpy_widgets.framing import Frame, FrameError, LengthPrefixedFramer
from ionpy_widgets.framing.registry import make_framer
from ionpy_widgets.instruments.uni_t_ut61e import protocol as p

FUZZ = settings(max_examples=150, deadline=None)
REPLY = bytes.fromhex("AB CD 10 02 31 20 31 2E 32 33 34 35 00 00 30 30 38 03 A0")


def meter_framer() -> LengthPrefixedFramer:
    framer, leftover = make_framer("length_prefixed", p.FRAMING_PARAMS)
    assert leftover == {} and isinstance(framer, LengthPrefixedFramer)
    return framer


def test_requests_match_the_reference_bytes() -> None:
    framer = meter_framer()
    assert framer.encode(p.MEASURE) == bytes.fromhex("AB CD 03 5E 01 D9")
    assert framer.encode(p.NAME) == bytes.fromhex("AB CD 03 5F 01 DA")
    assert framer.encode(p.key_request(p.Key.HOLD)) == bytes.fromhex("AB CD 03 4A 01 C5")
    for key in p.Key:  # every key command is AB CD 03 <cmd> <(0x17B + cmd) big-endian>
        assert framer.encode(p.key_request(key)) == bytes([0xAB, 0xCD, 3, key]) + (0x17B + key).to_bytes(2, "big")


def test_the_computed_reply_example_decodes() -> None:
    [frame] = meter_framer().feed(REPLY, 1.0)
    assert isinstance(frame, Frame) and frame.raw == REPLY
    assert frame.payload == bytes.fromhex("02 31 20 31 2E 32 33 34 35 00 00 30 30 38")
    assert meter_framer().encode(frame.payload) == REPLY


def test_bad_checksum_is_reported_and_the_next_frame_found() -> None:
    bad = REPLY[:-1] + b"\xa1"
    out = meter_framer().feed(bad + REPLY, 1.0)
    assert [type(r) for r in out] == [FrameError, Frame]
    assert out[0].kind == "checksum" and out[1].raw == REPLY


measurements = st.builds(
    p.build_measurement, st.sampled_from(sorted(p.MODE_NAMES)), st.integers(0, 7),
    st.text(alphabet="0123456789.- OL", max_size=7), bar=st.integers(0, 99), flags1=st.integers(0, 15),
    flags2=st.integers(0, 7), flags3=st.integers(0, 15))
payloads = st.one_of(measurements, st.sampled_from([p.MEASURE, p.NAME, b"UT61E+", b"\x00\x05"]),
                     st.sampled_from(list(p.Key)).map(p.key_request))
garbage = st.binary(max_size=12).filter(lambda b: b"\xab" not in b)


@FUZZ
@given(st.lists(st.tuples(garbage, payloads), min_size=1, max_size=6), st.data())
def test_any_split_of_a_noisy_stream_gives_the_same_frames(items: list[tuple[bytes, bytes]], data: st.DataObject
                                                           ) -> None:
    framer = meter_framer()
    wire = b"".join(junk + framer.encode(payload) for junk, payload in items)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    chunks = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    out = []
    for chunk in chunks:
        out += framer.feed(chunk, 1.0)
    frames = [r.payload for r in out if isinstance(r, Frame)]
    assert frames == [payload for _junk, payload in items]
    assert all(r.kind == "garbage" for r in out if isinstance(r, FrameError))


@FUZZ
@given(measurements, measurements, st.integers(0, 18), st.integers(1, 255))
def test_a_corrupted_frame_never_hides_the_next_one(first: bytes, second: bytes, where: int, flip: int) -> None:
    framer = meter_framer()
    wire = bytearray(framer.encode(first))
    where = 3 + where % (len(wire) - 3)  # corrupt payload or checksum, keep header and length
    wire[where] ^= flip
    good = framer.encode(second)
    out = framer.feed(bytes(wire) + good, 1.0)
    assert [r.payload for r in out if isinstance(r, Frame)][-1:] == [second]
    # one changed byte moves the 16-bit sum by 1..255 (or changes the sum field): never a valid frame
    assert first not in [r.payload for r in out if isinstance(r, Frame)][:-1] or first == second
    assert any(isinstance(r, FrameError) for r in out)
