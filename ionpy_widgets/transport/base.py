"""The transport contract: a byte pipe with open, close, read, write and describe.

Transports know nothing about frames. ``read`` waits for at least one byte (or, for
message-based transports such as VISA, one message) and raises
:class:`~ionpy_widgets.errors.TransportClosedError` when the peer is gone, so the link and the
device manager can tell "no data yet" from "connection lost".
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, ClassVar, Protocol, Self, runtime_checkable


@runtime_checkable
class Transport(Protocol):
    #: Registry name: ``serial``, ``tcp``, ``virtual``, ``hid``, ``visa``.
    type_name: ClassVar[str]
    #: True: bytes arrive on their own and a reader task can read continuously (serial, TCP).
    #: False: reads are only valid after a write that expects a reply (VISA message sessions).
    streaming: ClassVar[bool]

    @property
    def is_open(self) -> bool: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def read(self, max_bytes: int = 4096) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    def describe(self) -> dict[str, Any]: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class TransportBase:
    """Implements the async context manager and ``is_open`` bookkeeping for subclasses."""

    type_name: ClassVar[str] = ""
    streaming: ClassVar[bool] = True

    def __init__(self) -> None:
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open

    async def open(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    async def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:  # pragma: no cover - overridden
        return {"type": self.type_name}

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        desc = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "type")
        return f"<{type(self).__name__} {desc} {'open' if self._open else 'closed'}>"
