"""The journal: an append-only, restart-proof record of every change to every instrument.

One SQLite file (stdlib ``sqlite3``, WAL mode, ``synchronous=NORMAL``) holds one row per write
(``kind == "write"``: device, entity, old and new value, unit, who did it) and per lifecycle event
(device added/removed/updated/enabled/disabled, errors, availability, lab started/stopped).
Each row has a wall-clock ``timestamp`` (``time.time()`` when it was *recorded*) and an ``id``
that only ever grows; triggers make the table append-only.

Recording never waits for the disk: rows go to a buffer that is written in small transactions
when it reaches ``batch_size`` rows, ``flush_interval`` seconds after the first buffered row (a
timer on the running loop, or checked on the next record without a loop), on :meth:`Journal.flush`,
on any query and on :meth:`Journal.close`. Values are stored as JSON. One connection and a lock
make it safe to use from the loop and from executor threads.

A write made from a notebook cell keeps that cell (``{"execution_count": 7, "cell_id": "..."}``)
in the row's ``data`` JSON under ``"cell"`` — no new column, so files written before keep their
schema and an older ionpy_widgets still opens the new ones (:attr:`JournalEntry.cell`).
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import IonpyError
from .atomic import StorageError, WarningLog, move_aside
from .provenance import cell_label
from .storage.base import to_json as _to_json

__all__ = ["EVENT_KINDS", "SOURCES", "Journal", "JournalEntry", "MissingDependencyError"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: Lifecycle kinds the engine records (others matching ``[a-z][a-z0-9_]*`` are accepted too).
EVENT_KINDS = frozenset({"device_added", "device_removed", "device_updated", "device_enabled", "device_disabled",
                         "device_error", "availability", "lab_started", "lab_stopped", "emergency_stop"})
#: Usual write sources; any short lowercase word is accepted.
SOURCES = frozenset({"code", "widget", "alarm", "restore", "config", "emergency_stop"})
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26
_WORD = re.compile(r"[a-z][a-z0-9_]{0,63}")
_COLUMNS = "id, ts, kind, device, entity, old, new, source, unit, data"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, kind TEXT NOT NULL, device TEXT,
    entity TEXT, old TEXT, new TEXT, source TEXT, unit TEXT NOT NULL DEFAULT '', data TEXT);
CREATE INDEX IF NOT EXISTS journal_device ON journal(device, id);
CREATE INDEX IF NOT EXISTS journal_kind ON journal(kind, id);
CREATE INDEX IF NOT EXISTS journal_ts ON journal(ts);
CREATE TRIGGER IF NOT EXISTS journal_no_update BEFORE UPDATE ON journal
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS journal_no_delete BEFORE DELETE ON journal
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
"""
_Row = tuple[float, str, str | None, str | None, str | None, str | None, str | None, str, str | None]


class MissingDependencyError(IonpyError, ImportError):
    """An optional library needed for this call is not installed."""

    code = "dependency_missing"


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One journal row. Writes fill ``entity``/``old``/``new``/``source``/``unit``; events fill ``data``."""

    COLUMNS = ("id", "time", "timestamp", "kind", "device", "entity", "old", "new", "unit", "source", "cell",
               "data")

    id: int
    timestamp: float
    kind: str
    device: str | None = None
    entity: str | None = None
    old: Any = None
    new: Any = None
    source: str = ""
    unit: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> JournalEntry:
        id_, ts, kind, device, entity, old, new, source, unit, data = row
        return cls(int(id_), float(ts), kind, device, entity, None if old is None else json.loads(old),
                   None if new is None else json.loads(new), source or "", unit or "",
                   json.loads(data) if data else {})

    @property
    def time(self) -> datetime:
        """The timestamp as an aware UTC datetime."""
        return datetime.fromtimestamp(self.timestamp, UTC)

    @property
    def detail(self) -> Any:
        return self.data.get("detail")

    @property
    def cell(self) -> dict[str, Any] | None:
        """The notebook cell a write from code came from: ``{"execution_count", "cell_id"}`` or None."""
        cell = self.data.get("cell")
        return dict(cell) if isinstance(cell, Mapping) else None

    def to_row(self) -> dict[str, Any]:
        return {"id": self.id, "time": self.time.isoformat(timespec="milliseconds"), "timestamp": self.timestamp,
                "kind": self.kind, "device": self.device, "entity": self.entity, "old": self.old, "new": self.new,
                "unit": self.unit, "source": self.source, "cell": cell_label(self.cell), "data": dict(self.data)}

    def summary(self) -> str:
        """One readable line: ``psu1.u_set 5.0 → 6.0 V (widget)`` or ``device_added psu1 {...}``."""
        if self.kind == "write":
            unit = f" {self.unit}" if self.unit else ""
            origin = ", ".join(filter(None, (self.source, cell_label(self.cell))))
            return f"{self.device}.{self.entity} {self.old!r} → {self.new!r}{unit} ({origin})"
        extra = " " + json.dumps(dict(self.data), ensure_ascii=False, default=str) if self.data else ""
        return f"{self.kind} {self.device or ''}".rstrip() + extra


def text_table(entries: Sequence[JournalEntry]) -> str:
    """A plain-text table (id, local time, kind, what happened) for ``repr``."""
    lines = [f"{'id':>6}  {'time':<23}  {'kind':<15}  what"]
    for e in entries:
        when = datetime.fromtimestamp(e.timestamp).isoformat(sep=" ", timespec="milliseconds")
        what = e.summary() if e.kind == "write" else e.summary().removeprefix(e.kind).lstrip()
        lines.append(f"{e.id:>6}  {when:<23}  {e.kind:<15}  {what}")
    return "\n".join(lines)


def html_table(entries: Sequence[JournalEntry], *, title: str) -> str:
    """An HTML table for notebooks; every value is escaped."""
    head = "".join(f"<th>{h}</th>" for h in ("id", "time", "kind", "device", "entity", "old", "new", "unit",
                                             "source", "data"))
    body = []
    for e in entries:
        cells = (e.id, datetime.fromtimestamp(e.timestamp).isoformat(sep=" ", timespec="milliseconds"), e.kind,
                 e.device or "", e.entity or "", "" if e.kind != "write" else repr(e.old),
                 "" if e.kind != "write" else repr(e.new), e.unit, e.source,
                 json.dumps(dict(e.data), ensure_ascii=False, default=str) if e.data else "")
        body.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return (f"<details open><summary>{html.escape(title)}</summary><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></details>")


class Journal:
    """Append-only journal in the SQLite file ``path`` (created when missing)."""

    def __init__(self, path: str | Path, *, batch_size: int = 256, flush_interval: float = 0.5,
                 busy_timeout: float = 1.0) -> None:
        if batch_size < 1 or flush_interval <= 0 or busy_timeout < 0:
            raise ValueError("batch_size must be >= 1, flush_interval > 0 and busy_timeout >= 0")
        self.path = Path(path)
        #: How long SQLite waits for another process's lock before failing (seconds).
        self.busy_timeout = busy_timeout
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._warnings = WarningLog(log)
        self._lock = threading.Lock()
        self._buffer: list[_Row] = []
        self._first_buffered = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._conn: sqlite3.Connection | None = self._open()

    # --- opening ----------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            # only a file that is not (or no longer) a database is moved aside; "locked" or I/O errors
            # (OperationalError) must never cost a valid journal its place
            damaged = getattr(exc, "sqlite_errorcode", None) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
            if isinstance(exc, sqlite3.OperationalError) or not damaged or not self.path.is_file():
                raise StorageError(f"cannot open the journal {self.path}: {exc}", path=str(self.path),
                                   hint="Another program may hold it locked; close it or use another file.") from exc
            aside = move_aside(self.path)
            for suffix in ("-wal", "-shm"):
                stale = self.path.with_name(self.path.name + suffix)
                if stale.exists():
                    stale.rename(aside.with_name(aside.name + suffix))
            self._warnings.add(f"{self.path.name} was not a readable journal ({exc}); moved to {aside.name} "
                               "and started a new one.")
        try:
            return self._connect()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot create the journal {self.path}: {exc}", path=str(self.path)) from exc

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.OperationalError as exc:
            raise StorageError(f"cannot open the journal {self.path}: {exc}", path=str(self.path),
                               hint="Check that the folder exists and is writable.") from exc
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                self._warnings.add(f"{self.path.name}: SQLite WAL mode unavailable here (mode {mode!r}).")
            conn.execute("PRAGMA synchronous=NORMAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StorageError(f"{self.path} was written by a newer ionpy_widgets (schema {version})",
                                   hint="Upgrade ionpy_widgets or open another journal file.", path=str(self.path))
            conn.executescript(_SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION};")
        except BaseException:
            conn.close()
            raise
        return conn

    # --- recording --------------------------------------------------------------------------
    def record_write(self, device: str, entity: str, old: Any, new: Any, *, source: str = "code",
                     unit: str = "", detail: Any = None, cell: Mapping[str, Any] | None = None) -> None:
        """Record that ``device.entity`` changed from ``old`` to ``new`` (``source``: who asked;
        ``cell``: the notebook cell a write from code came from, see :mod:`.provenance`)."""
        if not device or not entity:
            raise ValueError("record_write needs a device id and an entity key")
        if not _WORD.fullmatch(str(source)):
            raise ValueError(f"source {source!r} must be a short lowercase word such as {sorted(SOURCES)}")
        extra: dict[str, Any] = {}
        if detail is not None:
            extra["detail"] = detail
        if cell:
            extra["cell"] = {"execution_count": cell.get("execution_count"), "cell_id": cell.get("cell_id")}
        data = _to_json(extra) if extra else None
        self._append((time.time(), "write", device, entity, _to_json(old), _to_json(new), str(source), unit, data))

    def record_event(self, kind: str, device: str | None = None, **data: Any) -> None:
        """Record a lifecycle event (see :data:`EVENT_KINDS`) with any JSON-able details."""
        kind = str(kind)
        if kind == "write" or not _WORD.fullmatch(kind):
            raise ValueError(f"event kind {kind!r} must be a lowercase word other than 'write', "
                             f"e.g. one of {sorted(EVENT_KINDS)}")
        payload = _to_json(data) if data else None
        self._append((time.time(), kind, device or None, None, None, None, None, "", payload))

    def _append(self, row: _Row) -> None:
        with self._lock:
            if self._conn is None:
                raise StorageError("the journal is closed", hint="Open a new Journal to record more entries.")
            if not self._buffer:
                self._first_buffered = row[0]
            self._buffer.append(row)
            due = len(self._buffer) >= self.batch_size or time.time() - self._first_buffered >= self.flush_interval
            if not due and self._timer is None:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:
                    return  # no loop: the next record, a query or close() writes it
                self._timer = loop.call_later(self.flush_interval, self._timed_flush)
                return
        if due:
            try:
                self.flush()
            except StorageError as exc:
                self._warnings.add(f"journal write failed, {len(self._buffer)} entries kept in memory: {exc}")

    def _timed_flush(self) -> None:
        self._timer = None
        try:
            self.flush()
        except StorageError as exc:
            self._warnings.add(f"journal write failed, {len(self._buffer)} entries kept in memory: {exc}")

    def flush(self) -> int:
        """Write buffered entries now, ``batch_size`` rows per transaction; return how many were written."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return self._flush_locked()

    def _flush_locked(self) -> int:
        if self._conn is None or not self._buffer:
            return 0
        written = 0
        sql = "INSERT INTO journal (ts, kind, device, entity, old, new, source, unit, data) VALUES (?,?,?,?,?,?,?,?,?)"
        try:
            while self._buffer:
                chunk = self._buffer[: self.batch_size]
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.executemany(sql, chunk)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                del self._buffer[: len(chunk)]
                written += len(chunk)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot write to the journal {self.path}: {exc}", path=str(self.path)) from exc
        return written

    # --- reading ----------------------------------------------------------------------------
    def entries(self, *, device: str | None = None, kind: str | None = None, entity: str | None = None,
                since: float | datetime | None = None, limit: int | None = None) -> list[JournalEntry]:
        """Entries oldest first, filtered; ``since`` is a timestamp or datetime (inclusive);
        ``limit`` keeps the *newest* ``limit`` matches. Buffered entries are written first."""
        where, args = [], []
        for column, value in (("device", device), ("kind", kind), ("entity", entity)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(str(value))
        if since is not None:
            where.append("ts >= ?")
            # a datetime is rounded to the microsecond: widen by one so that ``since=entry.time`` finds entry
            args.append(since.timestamp() - 1e-6 if isinstance(since, datetime) else float(since))
        sql = f"SELECT {_COLUMNS} FROM journal" + (" WHERE " + " AND ".join(where) if where else "")
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT {max(int(limit), 0)}) ORDER BY id"
        else:
            sql += " ORDER BY id"
        with self._lock:
            conn = self._require_open()
            self._flush_locked()
            rows = conn.execute(sql, args).fetchall()
        return [JournalEntry.from_row(row) for row in rows]

    def __len__(self) -> int:
        with self._lock:
            conn = self._require_open()
            self._flush_locked()
            return int(conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0])

    def to_rows(self, **filters: Any) -> list[dict[str, Any]]:
        """:meth:`entries` as plain dicts (JSON-friendly), same filters."""
        return [e.to_row() for e in self.entries(**filters)]

    def to_dataframe(self, **filters: Any) -> Any:
        """:meth:`entries` as a pandas DataFrame (needs pandas), with a UTC ``time`` column."""
        try:
            import pandas as pd
        except ImportError:
            raise MissingDependencyError("Journal.to_dataframe needs pandas, which is not installed",
                                         hint="`pip install pandas`, or use journal.to_rows().") from None
        rows = self.to_rows(**filters)
        frame = pd.DataFrame(rows, columns=list(JournalEntry.COLUMNS))
        frame["time"] = pd.to_datetime(frame["timestamp"], unit="s", utc=True)
        return frame

    # --- display and lifecycle --------------------------------------------------------------
    @property
    def warnings_list(self) -> list[str]:
        return self._warnings.items

    @property
    def last_warning(self) -> str | None:
        return self._warnings.last

    @property
    def closed(self) -> bool:
        return self._conn is None

    def __repr__(self) -> str:
        if self.closed:
            return f"Journal({str(self.path)!r}, closed)"
        try:
            recent, total = self.entries(limit=20), len(self)
        except StorageError as exc:  # a repr must not raise in a notebook
            return f"Journal({str(self.path)!r}, unreadable: {exc})"
        return f"Journal({str(self.path)!r}, {total} entries)\n" + text_table(recent)

    def _repr_html_(self) -> str:
        if self.closed:
            return f"<p>Journal {html.escape(self.path.name)} (closed)</p>"
        try:
            recent, total = self.entries(limit=50), len(self)
        except StorageError as exc:
            return f"<p>Journal {html.escape(self.path.name)} is unreadable: {html.escape(str(exc))}</p>"
        return html_table(recent, title=f"Journal {self.path.name}: newest {len(recent)} of {total}")

    def close(self) -> None:
        """Write what is buffered and close the file. Safe to call twice."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._conn is None:
                return
            try:
                self._flush_locked()
            finally:
                self._conn.close()
                self._conn = None

    def _require_open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError("the journal is closed", hint="Open a new Journal to read it.")
        return self._conn

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
