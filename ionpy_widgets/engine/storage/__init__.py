"""History storage: the :class:`~.base.HistoryStore` interface and its SQLite implementation.

``open_store(location)`` is the one place that picks an implementation for a location, so another
backend (a server database) plugs in here without the recorder, the lab or the runs changing.
"""

from __future__ import annotations

from pathlib import Path

from .base import (
    BucketColumns,
    EntityInfo,
    EventRecord,
    HistoryError,
    HistoryStore,
    NotRecordingError,
    RunInfo,
    RunNotFoundError,
    SampleColumns,
)
from .sqlite import SqliteHistoryStore


def open_store(location: str | Path | HistoryStore, *, create: bool = True) -> HistoryStore:
    """The store for ``location``: a store object is returned as is; a path opens (``create``: or
    creates) a SQLite recording."""
    if isinstance(location, HistoryStore):
        return location
    return SqliteHistoryStore(location, create=create)


__all__ = ["BucketColumns", "EntityInfo", "EventRecord", "HistoryError", "HistoryStore", "NotRecordingError",
           "RunInfo", "RunNotFoundError", "SampleColumns", "SqliteHistoryStore", "open_store"]
