"""The SQLite history store (the default :class:`~.base.HistoryStore`), one file per recording.

Two connections: one writes (batched transactions, under a write lock), one reads (under its own
lock). WAL mode lets queries read committed data while the recorder writes, so a long query never
holds up recording. Entity and unit ids are cached in memory; a batch that fails is rolled back
completely and its new ids are forgotten.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np

from ...driver.reading import Reading
from ..atomic import StorageError
from .base import QUALITIES, QUALITY_CODE, BucketColumns, EntityInfo, EventRecord, RunInfo, SampleColumns, to_json
from .sqlite_schema import connect

_INSERT_SAMPLE = "INSERT INTO samples (entity_id, ts, value, text, unit_id, quality) VALUES (?,?,?,?,?,?)"
_INSERT_EVENT = "INSERT INTO events (ts, category, kind, device, entity, source, data) VALUES (?,?,?,?,?,?,?)"
_WIDTH = 6  # columns per sample row
#: Rows per INSERT statement (multi-row VALUES: ~1.3x plain executemany; 600 variables < SQLite's 999 limit).
MANY_ROWS = 100
_INSERT_MANY = _INSERT_SAMPLE.partition("VALUES")[0] + "VALUES " + ",".join(["(?,?,?,?,?,?)"] * MANY_ROWS)
#: Decimations with at most this many buckets query each bucket's index range; more use GROUP BY.
RANGE_BUCKETS = 2000
_BUCKET_HEAD = "SELECT MIN(value), MAX(value), AVG(value), COUNT(value), COUNT(*) FROM samples WHERE entity_id = ? "
#: Plain ranges, so both ends bound the index scan (an ``OR`` on ``ts`` would scan to the end each time).
_BUCKET_SQL = _BUCKET_HEAD + "AND ts >= ? AND ts < ?"
_LAST_BUCKET_SQL = _BUCKET_HEAD + "AND ts >= ? AND ts <= ?"


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Real):
        return "numeric"
    return "text" if value is not None else ""


class SqliteHistoryStore:
    """A :class:`~.base.HistoryStore` in the SQLite file ``path``.

    ``create=False`` opens an existing recording only (for reading it offline) and never creates
    or changes the schema of anything else.
    """

    def __init__(self, path: str | Path, *, create: bool = True, busy_timeout: float = 5.0) -> None:
        self.path = Path(path).expanduser()
        self.location = str(self.path)
        self._wlock = threading.Lock()
        self._rlock = threading.Lock()
        self._w: sqlite3.Connection | None = connect(self.path, create=create, busy_timeout=busy_timeout)
        try:
            self._r: sqlite3.Connection | None = connect(self.path, create=False, busy_timeout=busy_timeout)
        except BaseException:
            self._w.close()
            raise
        self._fast: dict[str, dict[str, tuple[int, str, int]]] = {}

    # --- writing ----------------------------------------------------------------------------
    def write_batch(self, samples: Iterable[Reading], events: Iterable[EventRecord] = ()) -> int:
        with self._wlock:
            conn = self._writer()
            fast = self._fast  # device -> entity -> (entity id, unit, unit id), committed rows only
            pending: dict[tuple[str, str, str], tuple[int, int]] = {}
            codes = QUALITY_CODE
            flat: list[Any] = []  # the rows' values one after another: MANY_ROWS rows per statement
            add = flat.extend
            try:
                conn.execute("BEGIN IMMEDIATE")
                for r in samples:
                    try:
                        eid, unit, uid = fast[r.device][r.entity]
                        if unit != r.unit:
                            raise KeyError(r.unit)
                    except KeyError:
                        eid, uid = self._ids(conn, r, pending)
                    v = r.value
                    t = type(v)
                    if t is float:
                        add((eid, r.timestamp, v, None, uid, codes[r.quality]))
                    elif t is int or t is bool:
                        add((eid, r.timestamp, float(v), None, uid, codes[r.quality]))
                    else:
                        add((eid, r.timestamp, *_split(v), uid, codes[r.quality]))
                n = len(flat) // _WIDTH
                full = n - n % MANY_ROWS
                step = MANY_ROWS * _WIDTH
                conn.executemany(_INSERT_MANY, (flat[i:i + step] for i in range(0, full * _WIDTH, step)))
                conn.executemany(_INSERT_SAMPLE, (flat[i:i + _WIDTH] for i in range(full * _WIDTH, len(flat), _WIDTH)))
                conn.executemany(_INSERT_EVENT, [(e.timestamp, e.category, e.kind, e.device, e.entity, e.source,
                                                  to_json(dict(e.data))) for e in events])
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StorageError(f"cannot write to the history file {self.path}: {exc}",
                                       path=self.location) from exc
                raise
            for (device, entity, unit), (eid, uid) in pending.items():  # committed: cache them
                fast.setdefault(device, {})[entity] = (eid, unit, uid)
            return n

    def _ids(self, conn: sqlite3.Connection, r: Reading,
             pending: dict[tuple[str, str, str], tuple[int, int]]) -> tuple[int, int]:
        """(entity id, unit id) of a reading the fast cache does not hold (inserted when new)."""
        key = (r.device, r.entity, r.unit)
        ids = pending.get(key)
        if ids is None:
            uid = self._insert_unit(conn, r.unit)
            ids = pending[key] = (self._insert_entity(conn, r, uid), uid)
        return ids

    @staticmethod
    def _insert_unit(conn: sqlite3.Connection, unit: str) -> int:
        conn.execute("INSERT OR IGNORE INTO units (symbol) VALUES (?)", (unit,))
        return int(conn.execute("SELECT id FROM units WHERE symbol = ?", (unit,)).fetchone()[0])

    @staticmethod
    def _insert_entity(conn: sqlite3.Connection, r: Reading, uid: int) -> int:
        conn.execute("INSERT OR IGNORE INTO entities (device, entity, unit_id, kind, first_ts) VALUES (?,?,?,?,?)",
                     (r.device, r.entity, uid, _kind_of(r.value), r.timestamp))
        return int(conn.execute("SELECT id FROM entities WHERE device = ? AND entity = ?",
                                (r.device, r.entity)).fetchone()[0])

    def describe(self, infos: Iterable[EntityInfo]) -> None:
        with self._wlock:
            conn = self._writer()
            try:
                conn.execute("BEGIN IMMEDIATE")
                for info in infos:
                    uid = self._insert_unit(conn, info.unit)
                    conn.execute(
                        "INSERT INTO entities (device, entity, unit_id, kind, label, meta) VALUES (?,?,?,?,?,?) "
                        "ON CONFLICT (device, entity) DO UPDATE SET unit_id = excluded.unit_id, "
                        "kind = excluded.kind, label = excluded.label, meta = excluded.meta",
                        (info.device, info.entity, uid, info.kind, info.label, to_json(dict(info.meta))))
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StorageError(f"cannot write to the history file {self.path}: {exc}", path=self.location) from exc
            self._fast = {}  # units may have changed: look the ids up again

    # --- runs -------------------------------------------------------------------------------
    def create_run(self, name: str, started: float, *, notes: str = "", config: Mapping[str, Any] | None = None,
                   drivers: Mapping[str, Any] | None = None, identities: Mapping[str, Any] | None = None,
                   meta: Mapping[str, Any] | None = None) -> int:
        sql = ("INSERT INTO runs (name, notes, started, status, config, drivers, identities, meta) "
               "VALUES (?, ?, ?, 'running', ?, ?, ?, ?)")
        args = (name, notes, started, to_json(dict(config or {})), to_json(dict(drivers or {})),
                to_json(dict(identities or {})), to_json(dict(meta or {})))
        with self._wlock:
            return int(self._write_one(sql, args).lastrowid or 0)

    def finish_run(self, run_id: int, stopped: float, status: str, *,
                   identities: Mapping[str, Any] | None = None, meta: Mapping[str, Any] | None = None) -> None:
        sets, args = ["stopped = ?", "status = ?"], [stopped, status]
        for column, value in (("identities", identities), ("meta", meta)):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(to_json(dict(value)))
        with self._wlock:
            self._write_one(f"UPDATE runs SET {', '.join(sets)} WHERE id = ?", (*args, run_id))

    def _write_one(self, sql: str, args: Sequence[Any]) -> sqlite3.Cursor:
        try:
            return self._writer().execute(sql, args)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot write to the history file {self.path}: {exc}", path=self.location) from exc

    def runs(self) -> list[RunInfo]:
        rows = self._read("SELECT id, name, started, stopped, notes, status, config, drivers, identities, meta "
                          "FROM runs ORDER BY id")
        return [RunInfo(int(r[0]), r[1], float(r[2]), None if r[3] is None else float(r[3]), r[4] or "", r[5],
                        *(json.loads(x) if x else {} for x in r[6:10])) for r in rows]

    # --- reading ----------------------------------------------------------------------------
    def entities(self, device: str | None = None) -> list[EntityInfo]:
        sql = ("SELECT e.device, e.entity, COALESCE(u.symbol, ''), e.kind, e.label, e.meta FROM entities e "
               "LEFT JOIN units u ON u.id = e.unit_id")
        args: tuple[Any, ...] = ()
        if device is not None:
            sql, args = sql + " WHERE e.device = ?", (device,)
        rows = self._read(sql + " ORDER BY e.device, e.entity", args)
        return [EntityInfo(d, e, u, k, lbl, json.loads(m) if m else {}) for d, e, u, k, lbl, m in rows]

    def query(self, device: str, entity: str, start: float | None = None, end: float | None = None) -> SampleColumns:
        where, args = _span("s.ts", start, end)
        rows = self._read("SELECT s.ts, s.value, s.text, s.unit_id, s.quality FROM samples s "
                          "JOIN entities e ON e.id = s.entity_id WHERE e.device = ? AND e.entity = ?"
                          f"{where} ORDER BY s.ts", (device, entity, *args))
        return self._columns(rows, device=device, entity=entity)

    def query_span(self, start: float | None, end: float | None,
                   devices: Sequence[str] | None = None) -> SampleColumns:
        where, args = _span("s.ts", start, end)
        pick, picked = "", ()
        if devices is not None:
            pick, picked = f" AND e.device IN ({','.join('?' * len(devices))})", tuple(devices)
        rows = self._read("SELECT s.ts, s.value, s.text, s.unit_id, s.quality, e.device, e.entity FROM samples s "
                          "JOIN entities e ON e.id = s.entity_id WHERE 1"
                          f"{where}{pick} ORDER BY s.ts, e.device, e.entity", (*args, *picked))
        return self._columns(rows)

    def query_decimated(self, device: str, entity: str, start: float | None, end: float | None,
                        buckets: int) -> BucketColumns:
        if not isinstance(buckets, int) or isinstance(buckets, bool) or buckets < 1:
            raise ValueError(f"buckets must be a positive integer, got {buckets!r}")
        ids = self._read("SELECT e.id, COALESCE(u.symbol, '') FROM entities e LEFT JOIN units u ON u.id = e.unit_id "
                         "WHERE e.device = ? AND e.entity = ?", (device, entity))
        empty = np.empty(0)
        if not ids:
            return BucketColumns(start or 0.0, 0.0, empty, empty, empty, empty, np.empty(0, np.int64), "")
        eid, unit = ids[0]
        if start is None or end is None:
            first, last = self._read("SELECT MIN(ts), MAX(ts) FROM samples WHERE entity_id = ?", (eid,))[0]
            start = first if start is None else start
            end = last if end is None else end
        if start is None or end is None or end < start:
            return BucketColumns(start or 0.0, 0.0, empty, empty, empty, empty, np.empty(0, np.int64), unit)
        width = (end - start) / buckets if end > start else 1.0
        if buckets <= RANGE_BUCKETS:
            # one index range per bucket: no sort of every row (about twice as fast as GROUP BY)
            edges = [start + b * width for b in range(buckets)] + [end]
            found = self._read_many(_BUCKET_SQL, [(eid, edges[b], edges[b + 1]) for b in range(buckets - 1)])
            found += self._read_many(_LAST_BUCKET_SQL, [(eid, edges[-2], end)])  # the last bucket holds ``end``
            rows = [(b, *row[:4]) for b, row in enumerate(found) if row[4]]
        else:
            rows = self._read(
                "SELECT MIN(CAST((ts - ?1) / ?2 AS INTEGER), ?3) AS b, MIN(value), MAX(value), AVG(value), "
                "COUNT(value) FROM samples WHERE entity_id = ?4 AND ts >= ?5 AND ts <= ?6 GROUP BY b ORDER BY b",
                (start, width, buckets - 1, eid, start, end))
        cols = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
        index = np.asarray(cols[0], dtype=np.float64)
        return BucketColumns(float(start), float(width), start + index * width,
                             np.asarray(cols[1], dtype=np.float64), np.asarray(cols[2], dtype=np.float64),
                             np.asarray(cols[3], dtype=np.float64), np.asarray(cols[4], dtype=np.int64), unit)

    def events(self, start: float | None = None, end: float | None = None, *,
               categories: Sequence[str] | None = None, kinds: Sequence[str] | None = None) -> list[EventRecord]:
        where, args = _span("ts", start, end)
        for column, values in (("category", categories), ("kind", kinds)):
            if values is not None:
                where += f" AND {column} IN ({','.join('?' * len(values))})"
                args = (*args, *values)
        rows = self._read("SELECT ts, category, kind, device, entity, source, data FROM events WHERE 1"
                          f"{where} ORDER BY id", args)
        return [EventRecord(float(ts), cat, kind, dev or "", ent, src, json.loads(data) if data else {})
                for ts, cat, kind, dev, ent, src, data in rows]

    def count(self, start: float | None = None, end: float | None = None) -> int:
        where, args = _span("ts", start, end)
        return int(self._read(f"SELECT COUNT(*) FROM samples WHERE 1{where}", args)[0][0])

    def _columns(self, rows: list[tuple[Any, ...]], *, device: str = "", entity: str = "") -> SampleColumns:
        units = dict(self._read("SELECT id, symbol FROM units"))  # a few rows; the writer's cache is not ours
        n = len(rows)
        if not n:
            return SampleColumns([], [], np.empty(0), np.empty(0), [], [])
        cols = list(zip(*rows, strict=True))
        ts = np.asarray(cols[0], dtype=np.float64)
        value: np.ndarray[Any, Any] = np.asarray(cols[1], dtype=np.float64)
        texts = cols[2]
        if any(t is not None for t in texts):
            value = value.astype(object)
            for i, text in enumerate(texts):
                if text is not None:
                    value[i] = text
        unit = [units.get(u, "") for u in cols[3]]
        quality = [QUALITIES[q].value for q in cols[4]]
        devices = list(cols[5]) if len(cols) > 5 else [device] * n
        entities = list(cols[6]) if len(cols) > 6 else [entity] * n
        return SampleColumns(devices, entities, ts, value, unit, quality)

    # --- connections ------------------------------------------------------------------------
    def _writer(self) -> sqlite3.Connection:
        if self._w is None:
            raise StorageError(f"the history file {self.path} is closed", path=self.location,
                               hint="Open it again (a new recorder or `open_run`).")
        return self._w

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._rlock:
            if self._r is None:
                raise StorageError(f"the history file {self.path} is closed", path=self.location,
                                   hint="Open it again with `open_run(path)`.")
            try:
                return self._r.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"cannot read the history file {self.path}: {exc}", path=self.location) from exc

    def _read_many(self, sql: str, many: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """One row of ``sql`` per argument tuple, all under one hold of the read lock."""
        with self._rlock:
            if self._r is None:
                raise StorageError(f"the history file {self.path} is closed", path=self.location,
                                   hint="Open it again with `open_run(path)`.")
            try:
                return [self._r.execute(sql, args).fetchone() for args in many]
            except sqlite3.Error as exc:
                raise StorageError(f"cannot read the history file {self.path}: {exc}", path=self.location) from exc

    def close(self) -> None:
        with self._wlock, self._rlock:
            for conn in (self._r, self._w):
                if conn is not None:
                    conn.close()
            self._r = self._w = None

    @property
    def closed(self) -> bool:
        return self._w is None

    def __repr__(self) -> str:
        return f"<SqliteHistoryStore {self.location}{' closed' if self.closed else ''}>"


def _split(value: Any) -> tuple[float | None, str | None]:
    """``(value, text)`` columns for anything that is not a plain float/int/bool."""
    if value is None:
        return None, None
    if isinstance(value, str):
        return None, value
    if isinstance(value, Real):
        try:
            number = float(value)
        except (OverflowError, ValueError):
            return None, str(value)
        return (None if math.isnan(number) else number), None
    return None, to_json(value)


def _span(column: str, start: float | None, end: float | None) -> tuple[str, tuple[float, ...]]:
    where, args = "", ()
    if start is not None:
        where, args = f" AND {column} >= ?", (float(start),)
    if end is not None:
        where, args = where + f" AND {column} <= ?", (*args, float(end))
    return where, args


__all__ = ["SqliteHistoryStore"]
