"""TcpTransport against real servers on 127.0.0.1 (port 0: the OS picks a free port)."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from ionpy_widgets.errors import TransportClosedError, TransportError
from ionpy_widgets.transport.address import TcpParams
from ionpy_widgets.transport.tcp import TcpTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class LoopbackServer:
    """asyncio.start_server on 127.0.0.1 that remembers its client connections so a test can
    reset them, and closes everything on exit."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.writers: list[asyncio.StreamWriter] = []
        self.connected = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        self.connected.set()
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> LoopbackServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self.writers:
            writer.close()
        await self._server.wait_closed()

    def reset_clients(self) -> None:
        """Send a TCP RST (SO_LINGER 0 + close), like an instrument that reboots."""
        for writer in self.writers:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(4096):
        writer.write(data)
        await writer.drain()


async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the client goes away


@pytest.fixture
async def echo_server() -> AsyncIterator[LoopbackServer]:
    async with LoopbackServer(echo) as server:
        yield server


async def read_exactly(transport: TcpTransport, count: int) -> bytes:
    data = b""
    while len(data) < count:
        data += await asyncio.wait_for(transport.read(), 2.0)
    return data


async def test_round_trip_with_nodelay(echo_server: LoopbackServer):
    async with TcpTransport(TcpParams("127.0.0.1", echo_server.port)) as transport:
        await transport.write(b"MEAS:VOLT?\n")
        assert await read_exactly(transport, 11) == b"MEAS:VOLT?\n"
        sock = transport._protocol.transport.get_extra_info("socket")  # type: ignore[union-attr]
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert transport.describe() == {"type": "tcp", "host": "127.0.0.1", "port": echo_server.port}
    assert not transport.is_open


async def test_read_is_cancellation_safe(echo_server: LoopbackServer):
    async with TcpTransport(TcpParams("127.0.0.1", echo_server.port)) as transport:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(transport.read(), 0.02)
        await transport.write(b"0123456789")
        assert await read_exactly(transport, 10) == b"0123456789"


async def test_refused_port_gives_a_hint():
    with socket.socket() as sock:  # bound but not listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(TransportError) as info:
            await TcpTransport(TcpParams("127.0.0.1", port)).open()
    err = info.value
    assert err.code == "transport_error" and "refused" in err.message and str(port) in err.message
    assert "5025" in err.hint and "5555" in err.hint


async def test_connect_timeout_gives_a_hint():
    # A listener with a full accept queue drops SYNs: the second connect hangs until our timeout.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        async with TcpTransport(TcpParams("127.0.0.1", port)):  # fills the queue
            with pytest.raises(TransportError) as info:
                await TcpTransport(TcpParams("127.0.0.1", port, connect_timeout=0.2)).open()
    err = info.value
    assert err.code == "transport_error" and "0.2 s" in err.message
    assert "instrument on" in err.hint and "5555 for Rigol" in err.hint


async def test_server_reset_mid_read_raises_closed():
    async with LoopbackServer(hold) as server, TcpTransport(TcpParams("127.0.0.1", server.port)) as transport:
        await asyncio.wait_for(server.connected.wait(), 2.0)
        pending = asyncio.ensure_future(transport.read())
        await asyncio.sleep(0)
        server.reset_clients()
        with pytest.raises(TransportClosedError) as info:
            await asyncio.wait_for(pending, 2.0)
        assert f"127.0.0.1:{server.port} was lost" in info.value.message  # an RST, not an EOF
        assert not transport.is_open
        with pytest.raises(TransportClosedError):
            await transport.write(b"*IDN?\n")


async def test_server_eof_raises_closed():
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"bye")
        await writer.drain()

    async with LoopbackServer(hang_up) as server, TcpTransport(TcpParams("127.0.0.1", server.port)) as transport:
        assert await read_exactly(transport, 3) == b"bye"
        with pytest.raises(TransportClosedError) as info:
            await asyncio.wait_for(transport.read(), 2.0)
        assert "closed the connection" in info.value.message


async def test_close_is_idempotent_and_reopen_works(echo_server: LoopbackServer):
    transport = TcpTransport(TcpParams("127.0.0.1", echo_server.port))
    await transport.close()
    for _ in range(2):
        await transport.open()
        await transport.write(b"x")
        assert await read_exactly(transport, 1) == b"x"
        await transport.close()
        await transport.close()
    with pytest.raises(TransportClosedError):
        await transport.read()
    with pytest.raises(TransportClosedError):
        await transport.write(b"x")
