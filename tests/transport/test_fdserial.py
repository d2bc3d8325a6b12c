"""Direct file-descriptor I/O of the serial transport (POSIX), on real ptys and pipes.

The pty's master side is the far end of the cable; ``SerialTransport`` opens the slave. The
asyncio-level :class:`FdSerialTransport` is also driven on its own over a pipe, the one real
descriptor whose reads end in an empty read (a pty reports a hang-up as ``EIO`` instead).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
from pty_helpers import Pty

from ionpy_widgets.errors import TransportClosedError, TransportError
from ionpy_widgets.transport._fdserial import EMPTY_READ, HIGH_WATER, FdSerialTransport
from ionpy_widgets.transport._stream import ByteStreamProtocol
from ionpy_widgets.transport.address import SerialParams
from ionpy_widgets.transport.serial import SerialTransport, direct_fd_io

pytestmark = pytest.mark.skipif(os.name != "posix", reason="direct descriptor I/O is POSIX only")


@pytest.fixture
def pty_end() -> Iterator[Pty]:
    end = Pty(keep_slave=False)
    yield end
    end.hang_up()


class PipePort:
    """The read end of a real pipe, shaped like an open pyserial port (fileno, flush, close)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.flushed = False

    def fileno(self) -> int:
        return self.fd

    def flush(self) -> None:
        self.flushed = True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def test_device_paths_use_the_descriptor_and_urls_do_not():
    assert direct_fd_io("/dev/ttyUSB0")
    assert not direct_fd_io("socket://127.0.0.1:7777")
    assert not direct_fd_io("rfc2217://127.0.0.1:7777")


async def test_serial_transport_reads_and_writes_the_descriptor(pty_end: Pty):
    received: list[bytes] = []
    got = asyncio.Event()
    async with SerialTransport(SerialParams(pty_end.path)) as transport:
        aio = transport._protocol.transport  # type: ignore[union-attr]
        assert isinstance(aio, FdSerialTransport) and aio.is_reading()
        transport.set_receiver(lambda data: (received.append(data), got.set()))
        os.write(pty_end.master, b"\x01\x03\x02\x13\x8d\xb5\x0b")
        async with asyncio.timeout(2):
            while b"".join(received) != b"\x01\x03\x02\x13\x8d\xb5\x0b":
                await got.wait()
                got.clear()
        await transport.write(b"\x01\x03\x00\x00\x00\x0d\x84\x0f")
        assert await pty_end.read(8) == b"\x01\x03\x00\x00\x00\x0d\x84\x0f"
    assert aio.is_closing() and not aio.is_reading() and aio.get_extra_info("serial") is None


async def test_a_write_larger_than_the_pty_buffer_is_finished_by_the_writer_callback(pty_end: Pty):
    payload = bytes(range(256)) * (3 * HIGH_WATER // 256)  # far more than a pty buffers
    async with SerialTransport(SerialParams(pty_end.path)) as transport:
        aio = transport._protocol.transport  # type: ignore[union-attr]
        writing = asyncio.ensure_future(transport.write(payload))  # pauses: the far end reads nothing yet
        await asyncio.sleep(0)
        assert aio.get_write_buffer_size() > 0 and not writing.done()
        assert await pty_end.read(len(payload)) == payload
        await asyncio.wait_for(writing, 2)
        assert aio.get_write_buffer_size() == 0


async def test_close_writes_what_is_still_buffered_first(pty_end: Pty):
    payload = b"\x55" * (2 * HIGH_WATER)
    transport = SerialTransport(SerialParams(pty_end.path))
    await transport.open()
    aio = transport._protocol.transport  # type: ignore[union-attr]
    aio.write(payload)  # the asyncio-level write: buffered, no drain awaited
    assert aio.get_write_buffer_size() > 0
    closing = asyncio.ensure_future(transport.close())
    assert await pty_end.read(len(payload)) == payload
    await asyncio.wait_for(closing, 2)
    assert not transport.is_open


async def test_hang_up_reaches_the_receiver_once(pty_end: Pty):
    lost: list[TransportError] = []
    reported = asyncio.Event()
    transport = SerialTransport(SerialParams(pty_end.path))
    await transport.open()
    try:
        transport.set_receiver(lambda data: None, lambda exc: (lost.append(exc), reported.set()))
        pty_end.hang_up()
        await asyncio.wait_for(reported.wait(), 2)
        await transport.close()  # returns once the port is released and connection_lost has run
        assert len(lost) == 1 and isinstance(lost[0], TransportClosedError)
        assert lost[0].message.startswith(f"serial port {pty_end.path} was lost: ") and lost[0].hint
        assert not transport.is_open
        with pytest.raises(TransportClosedError):
            await transport.write(b"x")
    finally:
        await transport.close()


async def test_write_to_a_hung_up_port_raises_at_once(pty_end: Pty):
    transport = SerialTransport(SerialParams(pty_end.path))
    await transport.open()
    try:
        aio = transport._protocol.transport  # type: ignore[union-attr]
        aio.pause_reading()  # the reader must not notice the hang-up first
        pty_end.hang_up()
        with pytest.raises(TransportClosedError) as info:
            await transport.write(b"\x01\x03\x00\x00\x00\x0d\x84\x0f")
        assert pty_end.path in info.value.message and info.value.hint
        assert aio.is_closing()
    finally:
        await transport.close()


async def test_an_empty_read_is_a_lost_connection():
    read_fd, write_fd = os.pipe()
    protocol = ByteStreamProtocol()
    port = PipePort(read_fd)
    aio = FdSerialTransport(asyncio.get_running_loop(), protocol, port)
    assert protocol.transport is aio  # connection_made ran before the constructor returned
    os.write(write_fd, b"ab")
    assert await asyncio.wait_for(protocol.read(10), 2) == b"ab"
    os.close(write_fd)  # end of file: the descriptor is readable and the read returns b""
    await asyncio.wait_for(protocol.closed, 2)
    assert protocol.lost and str(protocol.lost_exc) == EMPTY_READ
    assert port.fd == -1 and not port.flushed  # an abort closes without draining
    assert aio.get_protocol() is protocol and aio.get_extra_info("fd") == read_fd


async def test_abort_and_close_are_idempotent():
    read_fd, write_fd = os.pipe()
    try:
        protocol = ByteStreamProtocol()
        port = PipePort(read_fd)
        aio = FdSerialTransport(asyncio.get_running_loop(), protocol, port)
        aio.close()
        aio.close()
        aio.abort()
        aio.write(b"ignored once closing")
        await asyncio.wait_for(protocol.closed, 2)
        assert protocol.lost_exc is None and port.flushed and port.fd == -1
        assert not aio.can_write_eof() and aio.get_write_buffer_limits()[1] == HIGH_WATER
    finally:
        os.close(write_fd)
