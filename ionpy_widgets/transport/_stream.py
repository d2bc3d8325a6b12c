"""The asyncio protocol behind the serial and TCP transports.

Bytes either wait in a buffer for ``read()`` or, once a receiver is set (the link does this), go
straight to it from ``data_received``: no reader task and no queue between the wire and the
framer, which saves two event-loop hops per reply. Connection loss is reported once, to the
receiver's ``on_lost`` or to the next ``read``/``write``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from ..errors import TransportClosedError, TransportError
from .base import TransportBase

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


class StreamTransport(TransportBase):
    """What serial and TCP share once connected: closing, the receiver hook, reads and writes over
    a :class:`ByteStreamProtocol`. Subclasses open the connection, set ``_protocol`` and word the
    messages (``_not_open_text``, ``_closed_text``, ``_lost_text``, ``_details``)."""

    streaming = True

    def __init__(self) -> None:
        super().__init__()
        self._protocol: ByteStreamProtocol | None = None

    # --- wording ----------------------------------------------------------------------------
    def _not_open_text(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _closed_text(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _lost_text(self, reason: object) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _details(self) -> dict[str, Any]:
        return {}

    # --- the shared part --------------------------------------------------------------------
    async def close(self) -> None:
        """Close (idempotent) and wait until the connection is really released."""
        protocol, self._protocol = self._protocol, None
        self._open = False
        if protocol is None or protocol.transport is None:
            return
        protocol.set_receiver(None)
        protocol.transport.close()
        with contextlib.suppress(Exception):  # the loss was already reported by read/write
            await protocol.closed

    def set_receiver(self, on_data: OnData | None, on_lost: Callable[[TransportError], None] | None = None) -> None:
        """Deliver received bytes to ``on_data`` as they arrive (instead of buffering them for
        ``read``); ``on_lost`` gets a :class:`TransportClosedError` once, when the connection goes."""
        protocol = self._protocol
        if protocol is None:
            raise TransportClosedError(self._not_open_text(), **self._details())
        protocol.set_receiver(on_data, None if on_lost is None else lambda exc: on_lost(self._lost(exc)))

    def _lost(self, exc: BaseException | None) -> TransportClosedError:
        self._open = False
        if exc is None:
            return TransportClosedError(self._closed_text(), **self._details())
        return TransportClosedError(self._lost_text(getattr(exc, "strerror", None) or exc), **self._details())

    async def read(self, max_bytes: int = 4096) -> bytes:
        protocol = self._protocol
        if protocol is None:
            raise TransportClosedError(self._not_open_text(), **self._details())
        data = await protocol.read(max_bytes)
        if not data:
            raise self._lost(protocol.lost_exc)
        return data

    async def write(self, data: bytes) -> None:
        protocol = self._protocol
        if protocol is None or protocol.transport is None or not self._open or protocol.lost:
            self._open = False
            raise TransportClosedError(self._not_open_text(), **self._details())
        try:
            protocol.transport.write(data)
            if protocol._paused:  # only a full write buffer waits
                await protocol.drain()
        except (OSError, ConnectionError) as exc:  # serial.SerialException is an OSError
            raise self._lost(exc) from exc
        if protocol.lost:  # pyserial-asyncio-fast aborts on a write error instead of raising
            raise self._lost(protocol.lost_exc or OSError("lost while writing"))
