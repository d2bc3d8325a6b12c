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
from typing import Any

from ..errors import TransportClosedError, TransportError
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
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

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
            reader, writer = await asyncio.wait_for(asyncio.open_connection(p.host, p.port), p.connect_timeout)
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
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader, self._writer = reader, writer
        self._open = True

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        writer, self._writer, self._reader = self._writer, None, None
        self._open = False
        if writer is None:
            return
        writer.close()
        with contextlib.suppress(Exception):  # a reset was already reported by read/write
            await writer.wait_closed()

    async def read(self, max_bytes: int = 4096) -> bytes:
        reader = self._reader
        if reader is None:
            raise TransportClosedError(f"connection to {self._where} is not open")
        try:
            data = await reader.read(max_bytes)
        except OSError as exc:  # ConnectionResetError and friends
            self._open = False
            raise TransportClosedError(f"{self._where} was lost: {exc.strerror or exc}",
                                       host=self.params.host, port=self.params.port) from exc
        if not data:
            self._open = False
            raise TransportClosedError(f"{self._where} closed the connection",
                                       host=self.params.host, port=self.params.port)
        return data

    async def write(self, data: bytes) -> None:
        writer = self._writer
        if writer is None or not self._open or writer.is_closing():
            self._open = False
            raise TransportClosedError(f"connection to {self._where} is not open",
                                       host=self.params.host, port=self.params.port)
        try:
            writer.write(data)
            await writer.drain()
        except OSError as exc:
            self._open = False
            raise TransportClosedError(f"{self._where} was lost: {exc.strerror or exc}",
                                       host=self.params.host, port=self.params.port) from exc

    def describe(self) -> dict[str, Any]:
        return {"type": self.type_name, "host": self.params.host, "port": self.params.port}
