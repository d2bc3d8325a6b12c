"""VirtualTransport: loopback, chunking, delay, drop/garble determinism, disconnects, deadline polling."""

from __future__ import annotations

import asyncio
import time

import pytest

from ionpy_widgets.errors import ConfigValidationError, TransportClosedError
from ionpy_widgets.transport import Transport
from ionpy_widgets.transport.address import VirtualParams
from ionpy_widgets.transport.virtual import LoopbackPeer, VirtualTransport


async def read_n(transport: VirtualTransport, count: int, timeout: float = 2.0) -> list[bytes]:
    return [await asyncio.wait_for(transport.read(), timeout) for _ in range(count)]


async def nothing_arrives(transport: VirtualTransport, within: float = 0.03) -> bool:
    try:
        await asyncio.wait_for(transport.read(), within)
    except TimeoutError:
        return True
    return False


class IdleGapPeer:
    """A simulator session whose requests end with 5 ms of silence: feed() only buffers, the
    transport must call poll() at next_deadline() to get the reply."""

    gap = 0.005

    def __init__(self) -> None:
        self.buf = b""
        self.last = 0.0
        self.polls = 0

    def feed(self, data: bytes, now: float) -> list[bytes]:
        self.buf += data
        self.last = now
        return []

    def next_deadline(self) -> float | None:
        return self.last + self.gap if self.buf else None

    def poll(self, now: float) -> list[bytes]:
        self.polls += 1
        if not self.buf or now < self.last + self.gap:
            return []
        reply, self.buf = b"ACK " + self.buf, b""
        return [reply]


class FakeSimulator:
    """Has session() instead of feed(): the transport opens one session per connect."""

    def __init__(self) -> None:
        self.sessions: list[LoopbackPeer] = []

    def session(self) -> LoopbackPeer:
        self.sessions.append(LoopbackPeer())
        return self.sessions[-1]


async def test_loopback_round_trip():
    peer = LoopbackPeer()
    transport = VirtualTransport(peer)
    assert isinstance(transport, Transport)
    async with transport:
        await transport.write(b"hello")
        assert await transport.read() == b"hello"
        assert peer.received == [b"hello"]
        assert transport.describe() == {"type": "virtual", "peer": "LoopbackPeer"}
    with pytest.raises(TransportClosedError):
        await transport.write(b"x")


async def test_chunks_are_never_merged_even_without_delay():
    async with VirtualTransport(LoopbackPeer(), chunk_size=3) as transport:
        await transport.write(b"0123456789")
        assert await read_n(transport, 4) == [b"012", b"345", b"678", b"9"]
        await transport.write(b"abcd")
        assert await transport.read(2) == b"ab"  # max_bytes still applies inside a chunk
        assert await transport.read() == b"c"
        assert await transport.read() == b"d"
        assert transport.stats.chunks == 6 and transport.stats.replies == 2


async def test_delay_spaces_the_chunks():
    async with VirtualTransport(LoopbackPeer(), chunk_size=2, delay=0.02) as transport:
        started = time.monotonic()
        await transport.write(b"abcdef")
        arrivals = []
        for _ in range(3):
            await asyncio.wait_for(transport.read(), 2.0)
            arrivals.append(time.monotonic() - started)
        assert arrivals[0] >= 0.019 and arrivals[2] >= 0.059
        assert arrivals[1] - arrivals[0] >= 0.015


async def test_drop_is_deterministic_for_a_seed():
    async def pattern(seed: int) -> list[bool]:
        received = []
        async with VirtualTransport(LoopbackPeer(), drop=0.5, seed=seed) as transport:
            for i in range(24):
                dropped = transport.stats.dropped
                await transport.write(bytes([i]))
                received.append(transport.stats.dropped == dropped)
                if received[-1]:
                    assert await transport.read() == bytes([i])
            assert await nothing_arrives(transport)
        return received

    first = await pattern(11)
    assert first == await pattern(11)
    assert first != await pattern(12)
    assert 0 < first.count(False) < 24


async def test_drop_everything_times_out():
    async with VirtualTransport(LoopbackPeer(), drop=1.0) as transport:
        await transport.write(b"request")
        assert await nothing_arrives(transport)
        assert transport.stats.dropped == 1


async def test_garble_flips_exactly_one_bit_deterministically():
    message = bytes(range(32))

    async def run(seed: int) -> list[bytes]:
        async with VirtualTransport(LoopbackPeer(), garble=0.5, seed=seed) as transport:
            out = []
            for _ in range(16):
                await transport.write(message)
                out.append(await transport.read())
            assert transport.stats.garbled == sum(r != message for r in out)
            return out

    replies = await run(5)
    assert replies == await run(5)
    garbled = [r for r in replies if r != message]
    assert 0 < len(garbled) < 16
    for reply in garbled:
        diff = int.from_bytes(reply, "big") ^ int.from_bytes(message, "big")
        assert diff.bit_count() == 1


async def test_disconnect_wakes_a_pending_read_and_blocks_writes():
    async with VirtualTransport(LoopbackPeer()) as transport:
        pending = asyncio.ensure_future(transport.read())
        await asyncio.sleep(0)
        transport.disconnect()
        with pytest.raises(TransportClosedError) as info:
            await pending
        assert "disconnected" in info.value.message
        assert not transport.is_open
        with pytest.raises(TransportClosedError):
            await transport.write(b"x")
    # a fresh open is a new connection
    await transport.open()
    await transport.write(b"again")
    assert await transport.read() == b"again"
    await transport.close()


async def test_disconnect_after_n_writes():
    async with VirtualTransport(LoopbackPeer(), disconnect_after=2) as transport:
        await transport.write(b"one")
        assert await transport.read() == b"one"
        await transport.write(b"two")  # reaches the peer, then the line drops
        with pytest.raises(TransportClosedError):
            await transport.read()
        with pytest.raises(TransportClosedError):
            await transport.write(b"three")


async def test_disconnect_cancels_scheduled_chunks():
    async with VirtualTransport(LoopbackPeer(), chunk_size=1, delay=0.01) as transport:
        await transport.write(b"abc")
        assert await asyncio.wait_for(transport.read(), 2.0) == b"a"
        transport.disconnect()
        assert not transport._timers
        with pytest.raises(TransportClosedError):
            await transport.read()


async def test_idle_gap_peer_is_polled_at_its_deadline():
    peer = IdleGapPeer()
    async with VirtualTransport(peer) as transport:
        await transport.write(b"pi")
        await transport.write(b"ng")
        assert await asyncio.wait_for(transport.read(), 2.0) == b"ACK ping"
        assert peer.polls == 1  # one timer at the deadline, no busy polling
        assert await nothing_arrives(transport)
        assert peer.polls == 1


async def test_read_survives_cancellation_and_close_wakes_readers():
    transport = VirtualTransport(LoopbackPeer(), delay=0.01)
    await transport.open()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(transport.read(), 0.001)
    await transport.write(b"late")
    assert await asyncio.wait_for(transport.read(), 2.0) == b"late"
    pending = asyncio.ensure_future(transport.read())
    await asyncio.sleep(0)
    await transport.close()
    with pytest.raises(TransportClosedError):
        await pending
    await transport.close()


async def test_simulator_peer_gets_one_session_per_open():
    sim = FakeSimulator()
    transport = VirtualTransport.from_params(VirtualParams(sim))
    for _ in range(2):
        async with transport:
            await transport.write(b"x")
            assert await transport.read() == b"x"
    assert len(sim.sessions) == 2 and all(s.received == [b"x"] for s in sim.sessions)


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigValidationError) as info:
        VirtualTransport(LoopbackPeer(), drop=2.0)
    assert info.value.path == "transport.params.drop"
    with pytest.raises(ConfigValidationError):
        VirtualTransport(object())
