"""Result types shared by every scanner.

Each scanner returns a :class:`ScanResult`: the items it found, the error that stopped it (if it
failed: scanners are best effort and never raise for an environment problem), why the result is
empty when the bus does not exist on this platform, and how long the scan took.
Every type has ``to_dict()`` returning JSON-ready data (what widgets and ``ionpy discover --json``
show).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from ..driver.reading import Identity
from ..errors import IonpyError, TransportError


class _ToDict(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


T = TypeVar("T", bound=_ToDict)


@dataclass(frozen=True, slots=True)
class DriverMatch:
    """A driver suggestion: ``driver`` is a registry name (``DPS5005``) or, when ``installed`` is
    False, the name of a family no driver exists for yet (``RD60xx``). ``confidence`` is 0..1."""

    driver: str
    confidence: float
    reason: str
    model: str = ""
    installed: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"driver": self.driver, "confidence": round(self.confidence, 2), "reason": self.reason,
                "model": self.model, "installed": self.installed}


@dataclass(frozen=True, slots=True)
class KnownDevice:
    """One row of the USB table: a VID:PID (``pid=None`` = any product of that vendor)."""

    vid: int
    pid: int | None
    chip: str
    vendor: str
    #: "serial" (USB-UART or CDC), "hid", "usbtmc" or "other".
    kind: str
    hints: tuple[DriverMatch, ...] = ()
    note: str = ""

    @property
    def usb_id(self) -> str:
        return f"{self.vid:04X}:{self.pid:04X}" if self.pid is not None else f"{self.vid:04X}:*"

    def to_dict(self) -> dict[str, Any]:
        return {"usb_id": self.usb_id, "chip": self.chip, "vendor": self.vendor, "kind": self.kind,
                "hints": [h.to_dict() for h in self.hints], "note": self.note}


def identity_dict(identity: Identity | None) -> dict[str, str] | None:
    """``Identity.to_dict()`` or None (JSON ``null``)."""
    return identity.to_dict() if identity is not None else None


def usb_id(vid: int | None, pid: int | None) -> str:
    """``"1A86:7523"`` or ``""`` when the port is not a USB device."""
    return f"{vid:04X}:{pid:04X}" if vid is not None and pid is not None else ""


@dataclass(slots=True)
class ScanResult(Generic[T]):
    """What one scanner found. ``error`` is set when the scanner failed (``items`` then holds
    what it found before failing, often nothing); ``note`` says why a result is empty on purpose
    (e.g. the bus does not exist on this platform)."""

    bus: str
    items: list[T] = field(default_factory=list)
    error: IonpyError | None = None
    duration_ms: float = 0.0
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def to_dict(self) -> dict[str, Any]:
        return {"bus": self.bus, "items": [item.to_dict() for item in self.items],
                "error": self.error.to_dict() if self.error is not None else None,
                "duration_ms": round(self.duration_ms, 1), "note": self.note}


def as_ionpy_error(exc: BaseException, bus: str) -> IonpyError:
    """Wrap an unexpected exception from a scanner's library into a TransportError with a hint."""
    if isinstance(exc, IonpyError):
        return exc
    return TransportError(f"{bus} discovery failed: {type(exc).__name__}: {exc}", bus=bus,
                          hint="Discovery is optional: enter the port or address by hand to connect.")


class Stopwatch:
    """Milliseconds since creation (monotonic)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._start = clock()

    def ms(self) -> float:
        return (self._clock() - self._start) * 1000.0
