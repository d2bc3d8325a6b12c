"""The asyncio protocol behind the serial and TCP transports.

Bytes either wait in a buffer for ``read()`` or, once a receiver is set (the link does this), go
straight to it from ``data_received``: no reader task and no queue between the wire and the
framer, which saves two event-loop hops per reply. Connection loss is reported once, to the
receiver's ``on_lost`` or to the next ``read``/``write``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

OnData = Callable[[bytes], None]
OnLost = Callable[[BaseException | None], None]


class ByteStreamProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._paused = False
        self.lost = False
        self.lost_exc: BaseException | None = None
        self._on_data: OnData | None = None
        self._on_lost: OnLost | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # --- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._on_data is not None:
            self._on_data(data)
            return
        self._buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self._mark_lost(None)
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._mark_lost(exc)
        if not self.closed.done():
            self.closed.set_result(None)
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # --- receiving --------------------------------------------------------------------------
    def set_receiver(self, on_data: OnData | None, on_lost: OnLost | None = None) -> None:
        """Deliver bytes to ``on_data`` from now on (buffered bytes first); ``None`` goes back to
        buffering for ``read``."""
        self._on_data, self._on_lost = on_data, on_lost
        if on_data is not None and self._buffer:
            data, self._buffer = bytes(self._buffer), bytearray()
            on_data(data)
        if on_lost is not None and self.lost:
            on_lost(self.lost_exc)

    async def read(self, max_bytes: int) -> bytes:
        """At least one byte; ``b""`` once the connection is gone and the buffer is empty."""
        while not self._buffer:
            if self.lost:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = bytes(self._buffer[:max_bytes])
        del self._buffer[:max_bytes]
        return data

    # --- sending ----------------------------------------------------------------------------
    async def drain(self) -> None:
        if self._paused and not self.lost:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._drain_waiter
            finally:
                self._drain_waiter = None

    # --- helpers ----------------------------------------------------------------------------
    def _mark_lost(self, exc: BaseException | None) -> None:
        if self.lost:
            return
        self.lost, self.lost_exc = True, exc
        self._wake()
        if self._on_lost is not None:
            self._on_lost(exc)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
