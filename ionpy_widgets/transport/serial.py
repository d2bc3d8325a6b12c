"""Serial ports: pyserial opens and configures them, the event loop's descriptor watcher reads them.

On POSIX a device path is opened by pyserial in an executor and then read and written directly
on its file descriptor by :class:`~._fdserial.FdSerialTransport` (docs/decisions/0006); Windows
ports and pyserial URLs go through pyserial-asyncio-fast (docs/decisions/0002), which opens and
closes in an executor too, so nothing here blocks the loop. Open failures are mapped by
:func:`open_error` to errors a user can act on: a missing device lists the ports that do exist,
a permission problem explains the ``dialout`` group, a locked port names the port.

pyserial is imported lazily so that ``ionpy_widgets.transport`` imports without it; the registry
reports the transport as unavailable instead.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
from collections.abc import Sequence
from typing import Any

from ..errors import (
    PortBusyError,
    PortNotFoundError,
    PortPermissionError,
    TransportError,
    TransportUnavailableError,
)
from ._fdserial import FdSerialTransport
from ._stream import ByteStreamProtocol, StreamTransport
from .address import SerialParams

_NOT_FOUND = (errno.ENOENT, errno.ENODEV, errno.ENXIO)
_DENIED = (errno.EACCES, errno.EPERM)
_BUSY = (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK)


def direct_fd_io(port: str) -> bool:
    """True when the transport reads and writes the port's file descriptor itself: a device path
    on POSIX. Windows ports and pyserial URLs (``socket://``, ``rfc2217://``, ``loop://``) go
    through pyserial-asyncio-fast."""
    return os.name == "posix" and "://" not in port


def list_port_names() -> list[str]:
    """Device names of the serial ports pyserial can see (``/dev/ttyUSB0``, ``COM3``, ...)."""
    from serial.tools import list_ports

    return sorted(port.device for port in list_ports.comports())


def open_error(exc: BaseException, port: str, existing_ports: Sequence[str] = ()) -> TransportError:
    """Map a failure to open ``port`` to the matching :class:`TransportError` with a hint.

    ``existing_ports`` (from :func:`list_port_names`) is listed when the port does not exist.
    """
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code in _NOT_FOUND or isinstance(exc, FileNotFoundError):
        listing = ", ".join(existing_ports) if existing_ports else "none found"
        return PortNotFoundError(
            f"serial port {port} does not exist",
            hint=f"Ports that exist now: {listing}. Check the cable and the device path; "
                 "/dev/serial/by-id/... names survive re-plugging.",
            port=port, ports=list(existing_ports))
    if code in _DENIED or isinstance(exc, PermissionError):
        return PortPermissionError(
            f"no permission to open serial port {port}",
            hint="Linux: add yourself to the dialout group (`sudo usermod -aG dialout $USER`), then log out "
                 "and back in. Windows: 'Access is denied' usually means another program has the port open.",
            port=port)
    if code in _BUSY or "exclusively lock" in text:
        return PortBusyError(
            f"serial port {port} is busy: another program, or another ionpy device, holds it",
            hint="Close the other program (serial monitor, another notebook, ModemManager) or remove the "
                 "other device that uses this port.",
            port=port)
    return TransportError(f"could not open serial port {port}: {text}",
                          hint="Check the port settings and that the device is plugged in.", port=port)


class SerialTransport(StreamTransport):
    """A serial port as a byte stream. ``read`` returns whatever bytes have arrived (at least one)."""

    type_name = "serial"

    def __init__(self, params: SerialParams) -> None:
        super().__init__()
        self.params = params

    async def open(self) -> None:
        if self._open:
            return
        await self.close()  # release anything left over from a lost connection
        try:
            import serial
            import serial_asyncio_fast
        except ImportError as exc:
            raise TransportUnavailableError(f"serial support is not installed ({exc.name} missing)",
                                            hint="pip install pyserial pyserial-asyncio-fast") from exc
        p = self.params
        loop = asyncio.get_running_loop()
        settings = {"baudrate": p.baudrate, "bytesize": p.bytesize, "parity": p.parity, "stopbits": p.stopbits,
                    "exclusive": p.exclusive}
        try:
            if direct_fd_io(p.port):
                port = await loop.run_in_executor(None, functools.partial(serial.Serial, p.port, **settings))
                protocol = ByteStreamProtocol()
                FdSerialTransport(loop, protocol, port)  # calls connection_made
                self._protocol = protocol
            else:
                transport, self._protocol = await serial_asyncio_fast.create_serial_connection(
                    loop, ByteStreamProtocol, url=p.port, **settings)
                # pyserial-asyncio-fast calls connection_made on a later loop turn: writable right away
                self._protocol.transport = self._protocol.transport or transport
        except (serial.SerialException, OSError, ValueError) as exc:
            existing: list[str] = []
            if getattr(exc, "errno", None) in _NOT_FOUND:
                existing = await loop.run_in_executor(None, list_port_names)
            raise open_error(exc, p.port, existing) from exc
        self._open = True

    def _not_open_text(self) -> str:
        return f"serial port {self.params.port} is not open"

    def _closed_text(self) -> str:
        return f"serial port {self.params.port} closed"

    def _lost_text(self, reason: object) -> str:
        return f"serial port {self.params.port} was lost: {reason}"

    def _details(self) -> dict[str, Any]:
        return {"port": self.params.port}

    def describe(self) -> dict[str, Any]:
        p = self.params
        return {"type": self.type_name, "port": p.port, "baudrate": p.baudrate,
                "format": f"{p.bytesize}{p.parity}{p.stopbits}"}
