"""Byte-level simulators and the hosts that serve them on real pipes.

A :class:`Simulator` is an instrument model that speaks the real bytes: it receives request
payloads (decoded by the same framer class the driver uses, on the instrument's side) and returns
reply payloads. A :class:`SimSession` is one connection's view of it (its own framer state).

Hosts serve a simulator on a real pseudo-terminal (:class:`PtyServer`, optionally behind a
stable symlink, like ``/dev/serial/by-id``) or a loopback TCP socket (:class:`TcpServer`).
The virtual transport talks to a :class:`SimSession` in-process.

With ``baud`` set, a host emulates the wire time of a serial line: each reply is held back by
the time the request and the reply would take on the wire at that rate (10 bits per byte, 8N1).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
import tty
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from ..framing.base import Frame, FrameError, Framer


class Simulator(ABC):
    """Base of every instrument simulator."""

    #: How many bytes per character on a serial line (8N1 = 10 bits).
    bits_per_char = 10

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.requests = 0
        self.bad_frames = 0
        #: Fault injection: when True the instrument stays silent (cable pulled, COMM off).
        self.mute = False

    @abstractmethod
    def make_framer(self) -> Framer:
        """A fresh instrument-side framer (one per connection)."""

    @abstractmethod
    def handle(self, payload: bytes, now: float) -> bytes | None:
        """Answer one request payload; None means no reply (as for set commands)."""

    def session(self) -> SimSession:
        return SimSession(self)


class SimSession:
    """One connection to a simulator: bytes in, reply bytes out (duck-typed peer for the
    virtual transport)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.framer = sim.make_framer()
        self._bytes_in = 0

    def feed(self, data: bytes, now: float) -> list[bytes]:
        self._bytes_in += len(data)
        return self._answer(self.framer.feed(data, now), now)

    def poll(self, now: float) -> list[bytes]:
        return self._answer(self.framer.poll(now), now)

    def next_deadline(self) -> float | None:
        return self.framer.next_deadline()

    def take_bytes_in(self) -> int:
        """Bytes received since the last call (for wire-time emulation)."""
        count, self._bytes_in = self._bytes_in, 0
        return count

    def _answer(self, results: list[Frame | FrameError], now: float) -> list[bytes]:
        out = []
        for result in results:
            if isinstance(result, FrameError):
                self.sim.bad_frames += 1
                continue
            self.sim.requests += 1
            if self.sim.mute:
                continue
            reply = self.sim.handle(result.payload, now)
            if reply is not None:
                out.append(self.framer.encode(reply))
        return out


class _Pump:
    """Feeds a session from a byte source and writes replies, with deadlines and wire timing."""

    def __init__(self, session: SimSession, write: Callable[[bytes], None], baud: int | None) -> None:
        self.session = session
        self._write = write
        self.baud = baud
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._busy_until = 0.0

    def data(self, data: bytes) -> None:
        self._send(self.session.feed(data, time.monotonic()))
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.session.next_deadline()
        if deadline is not None:
            self._timer = self._loop.call_at(self._loop.time() + max(0.0, deadline - time.monotonic()),
                                             self._on_deadline)

    def _on_deadline(self) -> None:
        self._timer = None
        self._send(self.session.poll(time.monotonic()))
        self._arm()

    def _send(self, replies: list[bytes]) -> None:
        if not replies:
            return
        if not self.baud:
            for reply in replies:
                self._write(reply)
            return
        byte_time = self.session.sim.bits_per_char / self.baud
        now = time.monotonic()
        start = max(now, self._busy_until)
        wire = (self.session.take_bytes_in() + sum(len(r) for r in replies)) * byte_time
        self._busy_until = start + wire
        payload = b"".join(replies)
        self._at(self._busy_until, self._write, payload)

    def _at(self, when: float, fn: Callable[[bytes], None], payload: bytes) -> None:
        """Call ``fn(payload)`` at monotonic time ``when``, to within a few tens of µs.

        ``call_later`` ends in ``epoll_wait`` with its timeout rounded up to whole milliseconds
        (a 40.625 ms reply would leave at 41-41.7 ms), so wait the whole milliseconds below ``when``
        and re-check on the next loop turns for the rest."""
        delay = when - time.monotonic()
        if delay <= 0:
            fn(payload)
            return
        whole_ms = math.floor(delay * 1000) / 1000
        if whole_ms > 0:
            self._loop.call_later(whole_ms, self._at, when, fn, payload)
        else:
            self._loop.call_soon(self._at, when, fn, payload)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class PtyServer:
    """Serves a simulator on a real pseudo-terminal. ``path`` is what a client opens."""

    def __init__(self, sim: Simulator, *, link_path: str | os.PathLike[str] | None = None,
                 baud: int | None = None) -> None:
        self.sim = sim
        self.baud = baud
        self.link_path = Path(link_path) if link_path is not None else None
        self._master = -1
        self._slave = -1
        self.tty_path = ""
        self._pump: _Pump | None = None

    @property
    def path(self) -> str:
        return str(self.link_path) if self.link_path is not None else self.tty_path

    async def start(self) -> PtyServer:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.tty_path = os.ttyname(self._slave)
        if self.link_path is not None:
            tmp = self.link_path.with_name(self.link_path.name + ".tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.tty_path)
            os.replace(tmp, self.link_path)
        self._pump = _Pump(self.sim.session(), self._write, self.baud)
        asyncio.get_running_loop().add_reader(self._master, self._readable)
        return self

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:  # EIO: no client has the slave open; keep serving
            return
        if data and self._pump is not None:
            self._pump.data(data)

    def _write(self, data: bytes) -> None:
        if self._master < 0:
            return
        with contextlib.suppress(OSError):
            os.write(self._master, data)

    async def close(self) -> None:
        """Pull the cable: the client sees the port vanish (EIO / hang-up)."""
        if self._pump is not None:
            self._pump.close()
            self._pump = None
        if self._master >= 0:
            asyncio.get_running_loop().remove_reader(self._master)
            os.close(self._master)
            self._master = -1
        if self._slave >= 0:
            os.close(self._slave)
            self._slave = -1
        if self.link_path is not None and self.link_path.is_symlink() \
                and os.readlink(self.link_path) == self.tty_path:
            self.link_path.unlink()

    async def __aenter__(self) -> PtyServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class _TcpProtocol(asyncio.Protocol):
    def __init__(self, server: TcpServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.pump: _Pump | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.pump = _Pump(self.server.sim.session(), transport.write, self.server.baud)
        self.server.clients.add(self)

    def data_received(self, data: bytes) -> None:
        if self.pump is not None:
            self.pump.data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pump is not None:
            self.pump.close()
        self.server.clients.discard(self)


class TcpServer:
    """Serves a simulator on a loopback TCP address (127.0.0.0/8 only)."""

    def __init__(self, sim: Simulator, host: str = "127.0.0.1", port: int = 0, *,
                 baud: int | None = None) -> None:
        if not host.startswith("127.") and host != "localhost":
            raise ValueError(f"simulators bind to loopback addresses only (127.0.0.0/8), not {host!r}")
        self.sim = sim
        self.host = host
        self.port = port
        self.baud = baud
        self.clients: set[_TcpProtocol] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> TcpServer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _TcpProtocol(self), self.host, self.port,
                                                reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def drop_clients(self) -> None:
        """Reset every open connection (fault injection: the instrument rebooted)."""
        for client in list(self.clients):
            if client.transport is not None:
                client.transport.abort()

    async def close(self) -> None:
        self.drop_clients()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> TcpServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
