"""The link on real pipes: loopback TCP (bytes delivered from data_received), a real pty, and the
virtual transport (reader task)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ionpy_widgets.errors import CRCError, FramingError, ProtocolTimeoutError, TransportClosedError
from ionpy_widgets.framing import DelimiterFramer, ModbusRtuFramer
from ionpy_widgets.framing.checksums import crc16_modbus
from ionpy_widgets.instruments.rdtech_dps.sim import DpsSimulator
from ionpy_widgets.instruments.simhost import PtyServer
from ionpy_widgets.link import Link
from ionpy_widgets.transport.address import SerialParams, TcpParams
from ionpy_widgets.transport.serial import SerialTransport
from ionpy_widgets.transport.tcp import TcpTransport
from ionpy_widgets.transport.virtual import LoopbackPeer, VirtualTransport

READ_13 = bytes.fromhex("0103 0000 000d")


class LineServer:
    """Answers each line with ``ok:<line>``; ``silent`` lines get no answer; ``bye`` closes."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                line = line.rstrip(b"\n")
                self.lines.append(line)
                if line == b"bye":
                    break
                if line == b"push":  # an unsolicited line, then the answer
                    writer.write(b"event\n")
                if not line.startswith(b"silent"):
                    writer.write(b"ok:" + line + b"\n")
                    await writer.drain()
        finally:
            writer.close()

    async def __aenter__(self) -> LineServer:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def tcp_link() -> AsyncIterator[tuple[Link, LineServer, list[tuple[str, bytes, float]]]]:
    trace: list[tuple[str, bytes, float]] = []
    async with LineServer() as server:
        link = Link(TcpTransport(TcpParams("127.0.0.1", server.port)), DelimiterFramer(),
                    timeout=0.3, retries=1, trace=lambda d, b, t: trace.append((d, b, t)))
        async with link:
            yield link, server, trace


async def test_request_reply_over_tcp_without_a_reader_task(tcp_link):
    link, _server, trace = tcp_link
    assert link._reader is None  # bytes arrive through the transport's receiver callback
    frame = await link.request(b"*IDN?")
    assert frame is not None and frame.payload == b"ok:*IDN?"
    assert [d for d, _, _ in trace][:1] == ["tx"] and "rx" in [d for d, _, _ in trace]
    assert link.stats.requests == 1 and link.stats.replies == 1 and link.stats.bytes_out == 6


async def test_timeout_is_retried_then_raised(tcp_link):
    link, server, _ = tcp_link
    with pytest.raises(ProtocolTimeoutError) as info:
        await link.request(b"silent")
    assert info.value.hint and server.lines == [b"silent", b"silent"]
    assert link.stats.timeouts == 2 and link.stats.retries == 1
    frame = await link.request(b"after")  # the link is still usable
    assert frame is not None and frame.payload == b"ok:after"


async def test_concurrent_requests_are_serialised_one_per_bus(tcp_link):
    link, _server, _ = tcp_link
    replies = await asyncio.gather(*(link.request(f"q{i}".encode()) for i in range(20)))
    assert [r.payload for r in replies] == [f"ok:q{i}".encode() for i in range(20)]


async def test_unsolicited_frames_are_counted_and_handed_to_the_callback(tcp_link):
    link, _, _ = tcp_link
    seen: list[bytes] = []
    link.on_unsolicited = lambda frame: seen.append(frame.payload)
    frame = await link.request(b"push", match=lambda f: f.payload.startswith(b"ok:"))
    assert frame is not None and frame.payload == b"ok:push"
    assert link.stats.unmatched == 1  # "event" arrived while the request was pending
    await link.request(b"silent-ish", expect_reply=False)
    assert seen == []


async def test_peer_closing_fails_the_request_at_once_not_after_the_timeout(tcp_link):
    link, _, _ = tcp_link
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TransportClosedError):
        await link.request(b"bye", timeout=5.0)
    assert loop.time() - started < 2.0
    assert not link.is_open
    with pytest.raises(TransportClosedError):
        await link.request(b"again")


class CorruptingPeer:
    """Answers a Modbus read with a reply whose CRC is wrong the first ``bad`` times."""

    def __init__(self, bad: int) -> None:
        self.bad = bad
        self.requests = 0

    def feed(self, data: bytes, now: float) -> list[bytes]:
        self.requests += 1
        body = bytes.fromhex("0103 02 01f4")
        crc = crc16_modbus(body).to_bytes(2, "little")
        if self.requests <= self.bad:
            crc = bytes([crc[0] ^ 0xFF, crc[1]])
        return [body + crc]


async def test_corrupted_reply_is_retried_and_reported_as_crc_when_retries_run_out():
    async with Link(VirtualTransport(CorruptingPeer(bad=1)), ModbusRtuFramer(baudrate=115200),
                    timeout=0.2, retries=1) as link:
        frame = await link.request(bytes.fromhex("0103 0000 0001"))
        assert frame is not None and frame.payload == bytes.fromhex("0103 02 01f4")
        assert link.stats.crc_errors == 1 and link.stats.retries == 1
    async with Link(VirtualTransport(CorruptingPeer(bad=5)), ModbusRtuFramer(baudrate=115200),
                    timeout=0.2, retries=1) as link:
        # the framer may still be waiting for a valid frame inside the bad one when the time is up
        with pytest.raises((CRCError, FramingError)) as info:
            await link.request(bytes.fromhex("0103 0000 0001"))
        assert "baud" in info.value.hint


async def test_reader_task_path_on_the_virtual_transport_closes_cleanly():
    link = Link(VirtualTransport(LoopbackPeer()), DelimiterFramer(), timeout=0.2)
    await link.open()
    assert link._reader is not None  # the virtual transport has no receiver hook
    frame = await link.request(b"ping")
    assert frame is not None and frame.payload == b"ping"
    await link.close()
    assert link._reader is None and not link.is_open


async def test_modbus_t35_silence_is_kept_between_back_to_back_requests_on_a_pty():
    trace: list[tuple[str, bytes, float]] = []
    async with PtyServer(DpsSimulator()) as server:
        framer = ModbusRtuFramer(baudrate=9600)
        link = Link(SerialTransport(SerialParams(server.path, baudrate=9600)), framer, timeout=0.5,
                    trace=lambda d, b, t: trace.append((d, b, t)))
        async with link:
            for _ in range(5):
                await link.request(READ_13)
    gaps = []
    last_rx = None
    for direction, _, when in trace:
        if direction == "rx":
            last_rx = when
        elif last_rx is not None:
            gaps.append(when - last_rx)
    assert len(gaps) == 4
    assert min(gaps) >= framer.min_silence  # never earlier than t3.5 after the last byte
