"""Serial I/O straight on the port's file descriptor (POSIX), see docs/decisions/0006-direct-fd-serial-io.md.

pyserial opens the port and configures it (termios, exclusive ``flock``, DTR/RTS); after that
:class:`FdSerialTransport` does the I/O itself: ``loop.add_reader`` and one ``os.read`` per
readiness event, and ``os.write`` with ``loop.add_writer`` only for what the port did not take
at once. pyserial's own ``read``/``write`` cost a ``select`` call, two ``Timeout`` objects and a
loop per call; a Modbus reply does not need any of that.

Loss and closing keep pyserial-asyncio-fast's behaviour: a read error (a pty whose other end was
closed reports ``EIO``) or an empty read on a readable port aborts the transport; closing stops
watching the descriptor at once and then drains and closes the port in an executor (a tty close
may wait for output to drain), after which the protocol gets ``connection_lost``. A write error
additionally raises from :meth:`write`, so the caller learns about it without waiting for the loss.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: Bytes asked for per readiness event (one Modbus ADU is at most 256).
MAX_READ = 4096
#: Write buffer limits (bytes) for ``pause_writing``/``resume_writing``.
HIGH_WATER, LOW_WATER = 64 * 1024, 16 * 1024

EMPTY_READ = "device reports readiness to read but returned no data (device disconnected?)"


class Port(Protocol):
    """What the transport needs from an open pyserial ``Serial`` (POSIX)."""

    def fileno(self) -> int: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class FdSerialTransport(asyncio.Transport):
    """An asyncio transport over an open POSIX serial port's descriptor.

    ``connection_made`` is called before the constructor returns and reading starts at once.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: asyncio.Protocol, port: Port) -> None:
        super().__init__()
        self._loop = loop
        self._protocol = protocol
        self._port: Port | None = port
        self._fd = port.fileno()
        os.set_blocking(self._fd, False)
        self._unsent = bytearray()
        self._closing = False
        self._reading = False
        self._paused = False
        self._closer: asyncio.Task[None] | None = None
        protocol.connection_made(self)
        self.resume_reading()

    # --- asyncio.BaseTransport ----------------------------------------------------------------
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"serial": self._port, "fd": self._fd}.get(name, default)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Stop reading; the port is drained and closed once the unsent bytes are written."""
        if self._closing:
            return
        self._closing = True
        self.pause_reading()
        if not self._unsent:
            self._shut(None, flush=True)

    def abort(self) -> None:
        self._abort(None)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol

    def get_protocol(self) -> asyncio.Protocol:
        return self._protocol

    # --- reading --------------------------------------------------------------------------------
    def is_reading(self) -> bool:
        return self._reading

    def pause_reading(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False

    def resume_reading(self) -> None:
        if not self._reading and not self._closing:
            self._loop.add_reader(self._fd, self._read_ready)
            self._reading = True

    def _read_ready(self) -> None:
        try:
            data = os.read(self._fd, MAX_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._abort(exc)
            return
        if data:
            self._protocol.data_received(data)
        else:
            self._abort(OSError(EMPTY_READ))

    # --- writing --------------------------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Write at once what the port takes; buffer the rest. Raises the ``OSError`` of a failed
        write (after aborting the transport); ignored once closing."""
        if self._closing or not data:
            return
        if self._unsent:
            self._unsent += data
            self._check_pause()
            return
        try:
            n = os.write(self._fd, data)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError as exc:
            self._abort(exc)
            raise
        if n < len(data):
            self._unsent += memoryview(data)[n:]
            self._loop.add_writer(self._fd, self._write_ready)
            self._check_pause()

    def _write_ready(self) -> None:
        try:
            n = os.write(self._fd, self._unsent)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._abort(exc)
            return
        del self._unsent[:n]
        if self._paused and len(self._unsent) <= LOW_WATER:
            self._paused = False
            self._protocol.resume_writing()
        if not self._unsent:
            self._loop.remove_writer(self._fd)
            if self._closing:
                self._shut(None, flush=True)

    def get_write_buffer_size(self) -> int:
        return len(self._unsent)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return LOW_WATER, HIGH_WATER

    def can_write_eof(self) -> bool:
        return False

    def _check_pause(self) -> None:
        if not self._paused and len(self._unsent) > HIGH_WATER:
            self._paused = True
            self._protocol.pause_writing()

    # --- shutting down --------------------------------------------------------------------------
    def _abort(self, exc: Exception | None) -> None:
        if self._closer is not None:
            return
        self._closing = True
        self.pause_reading()
        if self._unsent:
            self._loop.remove_writer(self._fd)
            self._unsent.clear()
        self._shut(exc, flush=False)

    def _shut(self, exc: Exception | None, *, flush: bool) -> None:
        if self._closer is None:
            self._closer = self._loop.create_task(self._release(exc, flush), name=f"ionpy-serial-close:{self._fd}")

    async def _release(self, exc: Exception | None, flush: bool) -> None:
        """Drain (graceful close only) and close the port off the loop, then tell the protocol."""
        port, self._port = self._port, None
        assert port is not None
        if flush:
            try:
                await self._loop.run_in_executor(None, port.flush)
            except Exception:
                log.debug("could not drain the serial port", exc_info=True)
        try:
            await self._loop.run_in_executor(None, port.close)
        except Exception:
            log.debug("could not close the serial port", exc_info=True)
        self._protocol.connection_lost(exc)
