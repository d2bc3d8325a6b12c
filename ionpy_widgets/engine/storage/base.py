"""The history store interface: what the recorder writes to and what queries read from.

The engine only ever talks to a :class:`HistoryStore`; :mod:`.sqlite` is the implementation used
by default (one file per recording). A server database (PostgreSQL/TimescaleDB, ...) can take its
place by implementing the same methods: nothing in the recorder, the lab or the runs changes.

Contract for implementations:

* Methods are synchronous and may block; the engine calls them from a worker thread, never from
  the event loop. They must be safe to call from more than one thread (the recorder writes from
  its own thread while queries run in others).
* ``write_batch`` is atomic: either every sample and event of the batch is stored or none is
  (and it raises). It never drops, merges or de-duplicates samples.
* Timestamps are wall-clock seconds since the epoch (``time.time()``), UTC.
* Query results are plain column containers (numpy arrays and lists), never pandas objects, so
  a store needs no pandas; :mod:`..history` turns them into DataFrames.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ...driver.reading import Quality, Reading
from ...errors import IonpyError

#: Quality stored as a small integer (index in this tuple).
QUALITIES: tuple[Quality, ...] = (Quality.GOOD, Quality.UNCERTAIN, Quality.STALE, Quality.BAD)
QUALITY_CODE: dict[str, int] = {q.value: i for i, q in enumerate(QUALITIES)}


class HistoryError(IonpyError):
    """A recording or a history query cannot be done as asked."""

    code = "history_error"


class NotRecordingError(HistoryError):
    code = "history_not_recording"
    default_hint = ("Start the lab with `Lab.start(config, record='history.sqlite')`, or call "
                    "`await lab.record('history.sqlite')` on a running lab.")


class RunNotFoundError(HistoryError):
    code = "run_not_found"


def to_json(value: Any) -> str:
    """Compact JSON; anything JSON cannot hold becomes a string (bytes become hex)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_fallback)


def _fallback(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex(" ")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A non-sample event as stored: writes (with ``source``), availability, errors, alarms..."""

    timestamp: float
    category: str
    kind: str
    device: str = ""
    #: The entity a write or an alarm is about (``None`` for device-wide events).
    entity: str | None = None
    #: Who made a write: ``code``, ``widget``, ``alarm``, ``emergency_stop``...
    source: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_event(cls, event: Any) -> EventRecord:
        """From a :class:`~..events.SystemEvent` or :class:`~..events.AlarmEvent` (duck-typed)."""
        if event.category == "alarm":
            data = {"level": str(event.level), "value": event.value, "message": event.message}
            for key in ("transition", "state", "who"):  # filled by the alarm engine
                if getattr(event, key, ""):
                    data[key] = getattr(event, key)
            if getattr(event, "data", None):
                data["detail"] = dict(event.data)
            return cls(float(event.timestamp), "alarm", "alarm", event.device, event.entity, None, data)
        payload = dict(event.payload)
        kind = str(event.kind)
        entity = payload.get("key") if kind == "write" else None
        source = payload.get("source") if kind == "write" else None
        return cls(float(event.timestamp), str(event.category), kind, event.device or "",
                   None if entity is None else str(entity), None if source is None else str(source), payload)


@dataclass(frozen=True, slots=True)
class EntityInfo:
    """What is known about one recorded entity (from the driver's entity table, else from readings)."""

    device: str
    entity: str
    unit: str = ""
    #: ``numeric``, ``bool``, ``enum``, ``text`` (the driver's kind), or what the values looked like.
    kind: str = ""
    label: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SampleColumns:
    """Samples as columns, oldest first. ``value`` is float64 when every value is numeric (bools
    are 1.0/0.0, missing values NaN), otherwise an object array holding the text values too."""

    device: list[str]
    entity: list[str]
    timestamp: np.ndarray[Any, np.dtype[np.float64]]
    value: np.ndarray[Any, Any]
    unit: list[str]
    quality: list[str]

    def __len__(self) -> int:
        return int(self.timestamp.size)


@dataclass(slots=True)
class BucketColumns:
    """A decimated series: one row per non-empty time bucket of width ``width`` from ``start``."""

    start: float
    width: float
    timestamp: np.ndarray[Any, np.dtype[np.float64]]
    min: np.ndarray[Any, np.dtype[np.float64]]
    max: np.ndarray[Any, np.dtype[np.float64]]
    mean: np.ndarray[Any, np.dtype[np.float64]]
    count: np.ndarray[Any, np.dtype[np.int64]]
    unit: str

    def __len__(self) -> int:
        return int(self.timestamp.size)


@dataclass(slots=True)
class RunInfo:
    """One run: a named span of a recording with what is needed to reproduce it."""

    id: int
    name: str
    started: float
    stopped: float | None = None
    notes: str = ""
    #: ``running`` while it lasts; ``completed``, ``failed``, ``stopped`` (the lab stopped) after.
    status: str = "running"
    config: Mapping[str, Any] = field(default_factory=dict)
    drivers: Mapping[str, Any] = field(default_factory=dict)
    identities: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "notes": self.notes, "started": self.started,
                "stopped": self.stopped, "status": self.status, "config": dict(self.config),
                "drivers": dict(self.drivers), "identities": dict(self.identities), "meta": dict(self.meta)}


@runtime_checkable
class HistoryStore(Protocol):
    """Where samples, events and runs are kept. See the module docstring for the contract."""

    #: Where the data lives (a file path, a URL); shown in errors and reprs.
    location: str

    def write_batch(self, samples: Iterable[Reading], events: Iterable[EventRecord] = ()) -> int:
        """Store samples and events in one transaction; returns how many samples were stored."""
        ...

    def describe(self, infos: Iterable[EntityInfo]) -> None:
        """Insert or update entity metadata (unit, kind, label)."""
        ...

    def entities(self, device: str | None = None) -> list[EntityInfo]:
        """Every recorded entity (of ``device``), sorted by device and entity."""
        ...

    def query(self, device: str, entity: str, start: float | None = None, end: float | None = None) -> SampleColumns:
        """Every sample of one entity with ``start <= timestamp <= end`` (``None``: open end)."""
        ...

    def query_decimated(self, device: str, entity: str, start: float | None, end: float | None,
                        buckets: int) -> BucketColumns:
        """Min/max/mean/count of one entity's numeric values per time bucket (``buckets`` equal
        buckets over ``[start, end]``; open ends are the first and last stored sample)."""
        ...

    def query_span(self, start: float | None, end: float | None,
                   devices: Sequence[str] | None = None) -> SampleColumns:
        """Every sample of every entity (of ``devices``) in the span, by time then device, entity."""
        ...

    def events(self, start: float | None = None, end: float | None = None, *,
               categories: Sequence[str] | None = None, kinds: Sequence[str] | None = None) -> list[EventRecord]:
        """Stored events in the span, oldest first, optionally of some categories/kinds only."""
        ...

    def count(self, start: float | None = None, end: float | None = None) -> int:
        """How many samples are stored (in the span)."""
        ...

    def create_run(self, name: str, started: float, *, notes: str = "", config: Mapping[str, Any] | None = None,
                   drivers: Mapping[str, Any] | None = None, identities: Mapping[str, Any] | None = None,
                   meta: Mapping[str, Any] | None = None) -> int:
        """Add a run (status ``running``); returns its id."""
        ...

    def finish_run(self, run_id: int, stopped: float, status: str, *,
                   identities: Mapping[str, Any] | None = None, meta: Mapping[str, Any] | None = None) -> None:
        """Record the end of a run (and the identities/meta known at its end)."""
        ...

    def runs(self) -> list[RunInfo]:
        """Every run, oldest first."""
        ...

    def close(self) -> None:
        """Release the store (idempotent)."""
        ...


__all__ = ["QUALITIES", "QUALITY_CODE", "BucketColumns", "EntityInfo", "EventRecord", "HistoryError", "HistoryStore",
           "NotRecordingError", "RunInfo", "RunNotFoundError", "SampleColumns", "to_json"]
