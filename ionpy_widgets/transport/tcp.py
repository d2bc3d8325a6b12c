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

from ..errors import TransportError
from ._stream import ByteStreamProtocol, StreamTransport
from .address import TcpParams

_PORT_HINT = "SCPI raw sockets are usually 5025, or 5555 for Rigol; Modbus TCP is 502"


class TcpTransport(StreamTransport):
    """A TCP connection as a byte stream. ``read`` returns whatever bytes have arrived (at least one)."""

    type_name = "tcp"

    def __init__(self, params: TcpParams) -> None:
        super().__init__()
        self.params = params

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

    def _not_open_text(self) -> str:
        return f"connection to {self._where} is not open"

    def _closed_text(self) -> str:
        return f"{self._where} closed the connection"

    def _lost_text(self, reason: object) -> str:
        return f"{self._where} was lost: {reason}"

    def _details(self) -> dict[str, Any]:
        return {"host": self.params.host, "port": self.params.port}

    def describe(self) -> dict[str, Any]:
        return {"type": self.type_name, "host": self.params.host, "port": self.params.port}
