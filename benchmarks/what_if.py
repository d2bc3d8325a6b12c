"""What-if clients for ``bench_modbus_poll.py --what-if``: numbers for changes not (yet) made.

They reach into private details of the serial stack, so they are offered only when those details
are there (``available()``), and nothing in the package uses them.

* ``ionpy+osread`` — ionpy's stack as it is, except that received bytes are read from the port's
  file descriptor with one ``os.read`` instead of pyserial's ``Serial.read`` (which costs a
  ``select`` system call, two ``Timeout`` objects and a loop per call). pyserial-asyncio-fast calls
  ``Serial.read`` from its ``_read_ready``; the variant replaces that method on the open transport.
"""

from __future__ import annotations

import os
from typing import Any

from modbus_clients import IonpyRawClient


class OsReadClient(IonpyRawClient):
    name = "ionpy+osread"

    async def open(self) -> None:
        await super().open()
        aio_transport = self.link.transport._protocol.transport  # serial_asyncio_fast.SerialTransport
        fd, protocol = aio_transport._serial.fd, aio_transport._protocol

        def read_ready() -> None:
            try:
                data = os.read(fd, 1024)
            except BlockingIOError:
                return
            if data:
                protocol.data_received(data)

        aio_transport._read_ready = read_ready
        aio_transport._remove_reader()
        aio_transport._ensure_reader()


def available() -> dict[str, Any]:
    """The what-if clients whose private hooks exist in the installed versions."""
    try:
        import serial_asyncio_fast

        from ionpy_widgets.transport.serial import SerialTransport
    except ImportError:
        return {}
    hooks = (hasattr(serial_asyncio_fast.SerialTransport, "_read_ready")
             and hasattr(serial_asyncio_fast.SerialTransport, "_ensure_reader")
             and "_protocol" in SerialTransport.__init__.__code__.co_names)
    return {OsReadClient.name: OsReadClient} if hooks else {}
