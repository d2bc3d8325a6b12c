"""Events that travel on the engine's bus.

Three categories, each with its own delivery policy on the bus:

* ``"reading"`` — :class:`ReadingEvent`: the readings of one poll of one device. Live views only
  need the newest values, so a full subscriber loses its *oldest* readings (counted).
* ``"system"`` — :class:`SystemEvent`: lifecycle and health (device added/removed/updated, errors,
  availability changes, writes, loop stalls). Never dropped.
* ``"alarm"`` — :class:`AlarmEvent`: alarm state changes of one entity. Never dropped.

Every event has ``category``, ``kind`` (for system events the :class:`SystemKind`), ``device``
(``""`` for lab-wide events), ``timestamp`` (wall clock, ``time.time()``) and ``to_dict()``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar

from ..driver.reading import Quality, Reading


class SystemKind(StrEnum):
    DEVICE_ADDED = "device_added"
    DEVICE_REMOVED = "device_removed"
    #: Identity or configuration of a device changed (payload: ``identity``, ``state``...).
    DEVICE_UPDATED = "device_updated"
    #: Something went wrong that a user should see (payload: ``error`` = ``IonpyError.to_dict()``).
    DEVICE_ERROR = "device_error"
    #: A device went online or unavailable (payload: ``available``, ``state``, ``reason``...).
    AVAILABILITY = "availability"
    #: A value was written to a device (payload: ``key``, ``value``, ``source``, ``ok``).
    WRITE = "write"
    #: The event loop was blocked (payload: ``started``, ``duration``).
    LOOP_STALL = "loop_stall"
    #: ``lab.emergency_stop()`` ran (payload: ``switched``, ``errors``).
    EMERGENCY_STOP = "emergency_stop"


def _frozen(payload: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(payload or {}))


def jsonable(value: Any) -> Any:
    """``value`` with everything that JSON cannot hold turned into a string (for event payloads)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex(" ")
    return str(value)


@dataclass(frozen=True, slots=True)
class ReadingEvent:
    """All readings one poll of ``device`` produced (one timestamp, many entities)."""

    category: ClassVar[str] = "reading"
    kind: ClassVar[str] = "reading"

    device: str
    readings: tuple[Reading, ...]
    timestamp: float = field(default_factory=time.time)

    @classmethod
    def from_values(cls, device: str, values: Mapping[str, Any], units: Mapping[str, str], *,
                    timestamp: float | None = None, quality: Quality = Quality.GOOD) -> ReadingEvent:
        """Build the event for one poll result (``key -> value``) with units from the entity table."""
        ts = time.time() if timestamp is None else timestamp
        readings = tuple(Reading(device, key, value, units.get(key, ""), ts, quality) for key, value in values.items())
        return cls(device, readings, ts)

    @property
    def values(self) -> dict[str, Any]:
        """``entity -> value`` for this poll."""
        return {r.entity: r.value for r in self.readings}

    def __iter__(self) -> Iterator[Reading]:
        return iter(self.readings)

    def __len__(self) -> int:
        return len(self.readings)

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "kind": self.kind, "device": self.device, "timestamp": self.timestamp,
                "readings": [r.to_dict() for r in self.readings]}


@dataclass(frozen=True, slots=True)
class SystemEvent:
    """A lifecycle or health event. ``payload`` is read-only and JSON-friendly."""

    category: ClassVar[str] = "system"

    kind: SystemKind
    device: str = ""
    payload: Mapping[str, Any] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", SystemKind(self.kind))
        object.__setattr__(self, "payload", _frozen(self.payload))

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "kind": self.kind.value, "device": self.device,
                "timestamp": self.timestamp, "payload": dict(self.payload)}


class AlarmLevel(StrEnum):
    HIHI = "hihi"
    HI = "hi"
    OK = "ok"
    LO = "lo"
    LOLO = "lolo"


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """An alarm state change of one entity (raised by the alarm engine; ``level`` ``ok`` clears).

    The alarm engine also fills ``transition`` (``raise``, ``level``, ``clear``, ``acknowledge``,
    ``shelve``, ``unshelve``, ``disable``, ``enable``, ``action``), ``state`` (``normal``,
    ``active_unack``, ``active_ack``, ``cleared_unack``), ``who`` (``engine``, ``code``,
    ``widget``, ``expiry``...) and ``data`` (limit, previous level, shelved, action results...)."""

    category: ClassVar[str] = "alarm"
    kind: ClassVar[str] = "alarm"

    device: str
    entity: str
    level: AlarmLevel
    value: Any = None
    message: str = ""
    timestamp: float = field(default_factory=time.time)
    transition: str = ""
    state: str = ""
    who: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "level", AlarmLevel(self.level))
        object.__setattr__(self, "data", _frozen(self.data))

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "kind": self.kind, "device": self.device, "entity": self.entity,
                "level": self.level.value, "value": self.value, "message": self.message,
                "timestamp": self.timestamp, "transition": self.transition, "state": self.state, "who": self.who,
                "data": dict(self.data)}


Event = ReadingEvent | SystemEvent | AlarmEvent

#: Categories whose events are never dropped by the bus.
LOSSLESS_CATEGORIES = frozenset({SystemEvent.category, AlarmEvent.category})

__all__ = [
    "LOSSLESS_CATEGORIES",
    "AlarmEvent",
    "AlarmLevel",
    "Event",
    "ReadingEvent",
    "SystemEvent",
    "SystemKind",
    "jsonable",
]
