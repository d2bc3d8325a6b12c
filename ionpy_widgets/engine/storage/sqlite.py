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
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np

from ...driver.reading import Reading
from ..atomic import StorageError
from . import chunks
from .base import QUALITIES, BucketColumns, EntityInfo, EventRecord, RunInfo, SampleColumns, to_json
from .sqlite_schema import INSERT_CHUNK, connect

_INSERT_EVENT = "INSERT INTO events (ts, category, kind, device, entity, source, data) VALUES (?,?,?,?,?,?,?)"
_SERIES = attrgetter("device", "entity", "unit")
#: A series' last chunk with fewer samples than this takes the next flush's samples (rewritten in place)
#: instead of a new row being started: at 10 Hz and 4 flushes/s a chunk holds ~100 s, not 2.5 samples.
SMALL_CHUNK = 1024


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
        self._series: dict[tuple[str, str, str], int] = {}
        #: The last chunk written per series while it is small (committed state only): new samples are
        #: appended to it. Forgotten on reopen (a new chunk is started then).
        self._tails: dict[tuple[int, int], tuple[int, chunks.Chunk]] = {}

    # --- writing ----------------------------------------------------------------------------
    def write_batch(self, samples: Iterable[Reading], events: Iterable[EventRecord] = ()) -> int:
        with self._wlock:
            conn = self._writer()
            tails = dict(self._tails)
            try:
                conn.execute("BEGIN IMMEDIATE")
                batch = samples if isinstance(samples, list) else list(samples)
                if batch:
                    keys = list(map(_SERIES, batch))
                    known = self._series  # (device, entity, unit) -> series code (entity id << 32 | unit id)
                    try:
                        codes = np.fromiter(map(known.__getitem__, keys), np.int64, len(keys))
                    except KeyError:  # a series not seen yet (by this store object)
                        for key in set(keys).difference(known):
                            known[key] = self._code(conn, key, batch[keys.index(key)])
                        codes = np.fromiter(map(known.__getitem__, keys), np.int64, len(keys))
                    for code, chunk in chunks.group(batch, codes).items():
                        self._write_series(conn, (code >> 32, code & 0xFFFFFFFF), chunk, tails)
                conn.executemany(_INSERT_EVENT, [(e.timestamp, e.category, e.kind, e.device, e.entity, e.source,
                                                  to_json(dict(e.data))) for e in events])
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self._series = {}  # it may hold ids of rows just rolled back
                if isinstance(exc, sqlite3.Error):
                    raise StorageError(f"cannot write to the history file {self.path}: {exc}",
                                       path=self.location) from exc
                raise
            self._tails = tails
            return len(batch)

    @staticmethod
    def _write_series(conn: sqlite3.Connection, key: tuple[int, int], chunk: chunks.Chunk,
                      tails: dict[tuple[int, int], tuple[int, chunks.Chunk]]) -> None:
        """Store one series' new samples: appended to the series' last small chunk when they follow
        it in time (so frequent small flushes do not leave millions of tiny chunks), else new rows."""
        tail = tails.pop(key, None)
        if (tail is not None and not chunk.texts and len(chunk) < SMALL_CHUNK
                and chunk.ts[0] >= tail[1].ts[-1]):
            merged = chunks.concat([tail[1], chunk])
            conn.execute("UPDATE chunks SET t_first = ?, t_last = ?, n = ?, ts = ?, value = ?, quality = ?, "
                         "texts = ? WHERE id = ?", (*merged.blobs(), tail[0]))
            if len(merged) < SMALL_CHUNK:
                tails[key] = (tail[0], merged)
            return
        for piece in chunk.split():
            cursor = conn.execute(INSERT_CHUNK, (*key, *piece.blobs()))
            last = (int(cursor.lastrowid or 0), piece)
        if len(last[1]) < SMALL_CHUNK and not last[1].texts:
            tails[key] = last

    def _code(self, conn: sqlite3.Connection, key: tuple[str, str, str], r: Reading) -> int:
        """The series code of ``(device, entity, unit)`` (entity and unit rows inserted when new)."""
        uid = self._insert_unit(conn, key[2])
        return (self._insert_entity(conn, r, uid) << 32) | uid

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
            self._series = {}  # look the ids up again
            self._tails = {}

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
        where, args = _overlap(start, end)
        rows = self._read("SELECT c.unit_id, c.ts, c.value, c.quality, c.texts, 0 FROM chunks c "
                          "JOIN entities e ON e.id = c.entity_id WHERE e.device = ? AND e.entity = ?"
                          f"{where} ORDER BY c.t_first, c.id", (device, entity, *args))
        return self._columns(rows, start, end, names=[(device, entity)])

    def query_span(self, start: float | None, end: float | None,
                   devices: Sequence[str] | None = None) -> SampleColumns:
        where, args = _overlap(start, end)
        pick, picked = "", ()
        if devices is not None:
            pick, picked = f" AND e.device IN ({','.join('?' * len(devices))})", tuple(devices)
        names = self._read("SELECT e.device, e.entity, e.id FROM entities e ORDER BY e.device, e.entity")
        rank = {eid: i for i, (_, _, eid) in enumerate(names)}  # sort key: (time, device, entity)
        rows = self._read("SELECT c.unit_id, c.ts, c.value, c.quality, c.texts, c.entity_id FROM chunks c "
                          f"JOIN entities e ON e.id = c.entity_id WHERE 1{where}{pick} ORDER BY c.t_first, c.id",
                          (*args, *picked))
        rows = [(*row[:5], rank[row[5]]) for row in rows]
        return self._columns(rows, start, end, names=[(d, e) for d, e, _ in names])

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
            first, last = self._read("SELECT MIN(t_first), MAX(t_last) FROM chunks WHERE entity_id = ?", (eid,))[0]
            start = first if start is None else start
            end = last if end is None else end
        if start is None or end is None or end < start:
            return BucketColumns(start or 0.0, 0.0, empty, empty, empty, empty, np.empty(0, np.int64), unit)
        start, end = float(start), float(end)
        width = (end - start) / buckets if end > start else 1.0
        where, args = _overlap(start, end)
        rows = self._read(f"SELECT ts, value FROM chunks c WHERE c.entity_id = ?{where} ORDER BY c.t_first, c.id",
                          (eid, *args))
        ts = np.concatenate([np.frombuffer(t, chunks.F8) for t, _ in rows]) if rows else empty
        value = np.concatenate([np.frombuffer(v, chunks.F8) for _, v in rows]) if rows else empty
        if ts.size > 1 and not bool(np.all(ts[1:] >= ts[:-1])):  # chunks overlapping in time
            order = np.argsort(ts, kind="stable")
            ts, value = ts[order], value[order]
        lo, hi = np.searchsorted(ts, start, side="left"), np.searchsorted(ts, end, side="right")
        index, low, high, mean, count = chunks.decimate(ts[lo:hi], value[lo:hi], start, width, buckets)
        return BucketColumns(start, float(width), start + index * width, low, high, mean, count, unit)

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
        if start is None and end is None:
            return int(self._read("SELECT COALESCE(SUM(n), 0) FROM chunks")[0][0])
        lo = -math.inf if start is None else float(start)
        hi = math.inf if end is None else float(end)
        inside = int(self._read("SELECT COALESCE(SUM(n), 0) FROM chunks WHERE t_first >= ? AND t_last <= ?",
                                (lo, hi))[0][0])
        partial = self._read("SELECT ts FROM chunks WHERE t_last >= ? AND t_first <= ? "
                             "AND NOT (t_first >= ? AND t_last <= ?)", (lo, hi, lo, hi))
        for (blob,) in partial:  # exact: count the timestamps of chunks that straddle an end
            ts = np.frombuffer(blob, chunks.F8)
            inside += int(np.count_nonzero((ts >= lo) & (ts <= hi)))
        return inside

    def _columns(self, rows: list[tuple[Any, ...]], start: float | None, end: float | None, *,
                 names: Sequence[tuple[str, str]]) -> SampleColumns:
        """Rows ``(unit id, ts, value, quality, texts, series rank)`` of chunks -> columns trimmed to
        ``[start, end]``, sorted by time then series rank (``names[rank]`` is its device, entity)."""
        if not rows:
            return SampleColumns([], [], np.empty(0), np.empty(0), [], [])
        units = dict(self._read("SELECT id, symbol FROM units"))  # a few rows; the writer's cache is not ours
        parts = [chunks.from_row(ts, value, quality, texts) for _, ts, value, quality, texts, _ in rows]
        sizes = [len(p) for p in parts]
        whole = chunks.concat(parts)
        unit_ids = np.repeat(np.asarray([row[0] if row[0] is not None else -1 for row in rows]), sizes)
        ranks = np.repeat(np.asarray([row[5] for row in rows], dtype=np.int64), sizes)
        keep = np.ones(len(whole), dtype=bool)
        if start is not None:
            keep &= whole.ts >= float(start)
        if end is not None:
            keep &= whole.ts <= float(end)
        order = np.flatnonzero(keep)
        ts = whole.ts[order]
        rank = ranks[order]
        if ts.size > 1 and (not bool(np.all(ts[1:] >= ts[:-1])) or bool(np.any(rank != rank[0]))):
            order = order[np.lexsort((rank, ts))]  # stable: equal keys keep their stored order
        picked = chunks.take(whole, order)
        value: np.ndarray[Any, Any] = picked.value
        if picked.texts:
            value = value.astype(object)
            for i, text in picked.texts.items():
                value[i] = text
        symbols = {u: units.get(u, "") for u in np.unique(unit_ids).tolist()}
        unit = [symbols[u] for u in unit_ids[order].tolist()]
        quality = np.asarray([q.value for q in QUALITIES], dtype=object)[picked.quality].tolist()
        series = [names[r] for r in ranks[order].tolist()]
        return SampleColumns([d for d, _ in series], [e for _, e in series], picked.ts, value, unit, quality)

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


def _span(column: str, start: float | None, end: float | None) -> tuple[str, tuple[float, ...]]:
    where, args = "", ()
    if start is not None:
        where, args = f" AND {column} >= ?", (float(start),)
    if end is not None:
        where, args = where + f" AND {column} <= ?", (*args, float(end))
    return where, args


def _overlap(start: float | None, end: float | None) -> tuple[str, tuple[float, ...]]:
    """``WHERE`` terms picking the chunks that overlap ``[start, end]`` (both index range scans)."""
    where, args = "", ()
    if start is not None:
        where, args = " AND c.t_last >= ?", (float(start),)
    if end is not None:
        where, args = where + " AND c.t_first <= ?", (*args, float(end))
    return where, args


__all__ = ["SMALL_CHUNK", "SqliteHistoryStore"]
