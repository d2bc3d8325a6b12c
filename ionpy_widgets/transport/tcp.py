"""Raw TCP sockets with asyncio streams (SCPI raw sockets, Modbus TCP gateways, serial servers).

Connect failures become :class:`~ionpy_widgets.errors.TransportError` with a hint about the usual
causes; a reset or an end-of-stream during ``read`` becomes
:class:`~ionpy_widgets.errors.TransportClosedError`. Nagle's algorithm is switched off
(``TCP_NODELAY``) because instrument requests are small and latency-bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Any

from ..errors import TransportClosedError, TransportError
from ._stream import ByteStreamProtocol, OnData
from .address import TcpParams
from .base import TransportBase

_PORT_HINT = "SCPI raw sockets are usually 5025, or 5555 for Rigol; Modbus TCP is 502"


class TcpTransport(TransportBase):
    """A TCP connection as a byte stream. ``read`` returns whatever bytes have arrived (at least one)."""

    type_name = "tcp"
    streaming = True

    def __init__(self, params: TcpParams) -> None:
        super().__init__()
        self.params = params
        self._protocol: ByteStreamProtocol | None = None

    @property
    def _where(self) -> str:
        host = f"[{self.params.host}]" if ":" in self.params.host else self.params.host
        return f"{host}:{self.params.port}"

    async def open(self) -> None:
        if self._open:
            return
        await self.close()  # release anything left over from a lost connection
        p = self.params
        try:
            loop = asyncio.get_running_loop()
            transport, protocol = await asyncio.wait_for(
                loop.create_connection(ByteStreamProtocol, p.host, p.port), p.connect_timeout)
        except TimeoutError as exc:
            raise TransportError(
                f"no answer from {self._where} within {p.connect_timeout:g} s",
                hint=f"Is the instrument on and on this network, and is the port right? {_PORT_HINT}.",
                host=p.host, port=p.port) from exc
        except ConnectionRefusedError as exc:
            raise TransportError(
                f"{self._where} refused the connection",
                hint=f"The host is up but nothing listens on port {p.port}: enable the LAN/socket interface on "
                     f"the instrument and check the port ({_PORT_HINT}). Some instruments accept one client "
                     "at a time.",
                host=p.host, port=p.port) from exc
        except socket.gaierror as exc:
            raise TransportError(f"cannot resolve host {p.host!r}: {exc.strerror}",
                                 hint="Check the host name, or use the instrument's IP address.",
                                 host=p.host, port=p.port) from exc
        except OSError as exc:
            raise TransportError(f"cannot connect to {self._where}: {exc.strerror or exc}",
                                 hint="Check the network cable, the IP address and that this computer is on the "
                                      "instrument's subnet.",
                                 host=p.host, port=p.port) from exc
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._protocol = protocol
        self._open = True

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        protocol, self._protocol = self._protocol, None
        self._open = False
        if protocol is None or protocol.transport is None:
            return
        protocol.set_receiver(None)
        protocol.transport.close()
        with contextlib.suppress(Exception):  # a reset was already reported by read/write
            await protocol.closed

    def set_receiver(self, on_data: OnData | None, on_lost: Callable[[TransportError], None] | None = None) -> None:
        """Deliver received bytes to ``on_data`` as they arrive (instead of buffering them for
        ``read``); ``on_lost`` gets a :class:`TransportClosedError` once, when the peer goes away."""
        protocol = self._protocol
        if protocol is None:
            raise TransportClosedError(f"connection to {self._where} is not open")
        protocol.set_receiver(on_data, None if on_lost is None else lambda exc: on_lost(self._lost(exc)))

    def _lost(self, exc: BaseException | None) -> TransportClosedError:
        self._open = False
        p = self.params
        if exc is None:
            return TransportClosedError(f"{self._where} closed the connection", host=p.host, port=p.port)
        reason = getattr(exc, "strerror", None) or exc
        return TransportClosedError(f"{self._where} was lost: {reason}", host=p.host, port=p.port)

    async def read(self, max_bytes: int = 4096) -> bytes:
        protocol = self._protocol
        if protocol is None:
            raise TransportClosedError(f"connection to {self._where} is not open")
        data = await protocol.read(max_bytes)
        if not data:
            raise self._lost(protocol.lost_exc)
        return data

    async def write(self, data: bytes) -> None:
        protocol = self._protocol
        if protocol is None or protocol.transport is None or not self._open or protocol.lost:
            self._open = False
            raise TransportClosedError(f"connection to {self._where} is not open",
                                       host=self.params.host, port=self.params.port)
        try:
            protocol.transport.write(data)
            await protocol.drain()
        except OSError as exc:
            raise self._lost(exc) from exc

    def describe(self) -> dict[str, Any]:
        return {"type": self.type_name, "host": self.params.host, "port": self.params.port}
