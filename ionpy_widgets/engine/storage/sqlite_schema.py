"""The SQLite layout of a history file and how a connection to one is opened.

Tables (schema version 2, ``PRAGMA application_id`` marks the file as an ionpy recording):

* ``units(id, symbol)`` — every unit string once (``V``, ``A``, ``°C``, ``""``).
* ``entities(id, device, entity, unit_id, kind, label, meta, first_ts)`` — one row per recorded
  entity, unique on ``(device, entity)``; ``kind``/``label``/``meta`` come from the driver's table.
* ``chunks(id, entity_id, unit_id, t_first, t_last, n, ts, value, quality, texts)`` — samples of one
  series (entity and unit) packed by the recorder's batch: one row per chunk of up to 64 Ki samples,
  with BLOBs of ``<f8`` timestamps, ``<f8`` values (bools 1/0, NaN for anything non-numeric), ``u1``
  quality codes (0 good … 3 bad) and, only when present, the non-numeric values as a JSON list
  ``[[index, text], ...]`` (see :mod:`.chunks`). Indexed on ``(entity_id, t_first)`` and
  ``(entity_id, t_last)``: the chunks overlapping a time span are an index range scan.
* ``events(id, ts, category, kind, device, entity, source, data)`` — writes (with their source),
  availability changes, errors, alarms, emergency stops; ``data`` is the JSON payload.
* ``runs(id, name, notes, started, stopped, status, config, drivers, identities, meta)``.
* ``meta(key, value)`` — who created the file and when.

The file is in WAL mode with ``synchronous=NORMAL``: a commit is durable against a killed process
(the WAL is in the OS's page cache) and costs no fsync; only a power cut can lose the last commits.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from ..atomic import StorageError

SCHEMA_VERSION = 2
#: ``PRAGMA application_id``: "IONP" — tells an ionpy history file from any other SQLite file.
APPLICATION_ID = 0x494F4E50

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS units (id INTEGER PRIMARY KEY, symbol TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS entities (
    id INTEGER PRIMARY KEY, device TEXT NOT NULL, entity TEXT NOT NULL, unit_id INTEGER REFERENCES units(id),
    kind TEXT NOT NULL DEFAULT '', label TEXT NOT NULL DEFAULT '', meta TEXT, first_ts REAL,
    UNIQUE (device, entity));
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, entity_id INTEGER NOT NULL, unit_id INTEGER, t_first REAL NOT NULL,
    t_last REAL NOT NULL, n INTEGER NOT NULL, ts BLOB NOT NULL, value BLOB NOT NULL, quality BLOB NOT NULL,
    texts TEXT);
CREATE INDEX IF NOT EXISTS chunks_entity_first ON chunks (entity_id, t_first);
CREATE INDEX IF NOT EXISTS chunks_entity_last ON chunks (entity_id, t_last);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, category TEXT NOT NULL, kind TEXT NOT NULL, device TEXT,
    entity TEXT, source TEXT, data TEXT);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, notes TEXT NOT NULL DEFAULT '', started REAL NOT NULL,
    stopped REAL, status TEXT NOT NULL DEFAULT 'running', config TEXT, drivers TEXT, identities TEXT, meta TEXT);
"""

CHUNKS_DDL = [part.strip() for part in SCHEMA.split(";") if "chunk" in part]
INSERT_CHUNK = ("INSERT INTO chunks (entity_id, unit_id, t_first, t_last, n, ts, value, quality, texts) "
                "VALUES (?,?,?,?,?,?,?,?,?)")
#: Tables every recording has (plus ``chunks``; version 1 files have ``samples`` instead).
TABLES = frozenset({"meta", "units", "entities", "events", "runs"})


def connect(path: Path, *, create: bool, busy_timeout: float = 5.0) -> sqlite3.Connection:
    """A connection to the history file ``path`` in WAL mode; ``create`` makes the file and tables
    when missing, otherwise the file must exist and be an ionpy recording."""
    if path.is_dir():  # sqlite3 would only say "unable to open database file"
        raise StorageError(f"{path} is a folder, not a recording file", path=str(path),
                           hint=f"Name a file in it, e.g. {path / 'history.sqlite'}.")
    if not create and not path.is_file():
        raise StorageError(f"no recording at {path}", path=str(path),
                           hint="Check the path; `ionpy run CONFIG --record PATH` or `lab.run(...)` create one.")
    if create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the folder of {path}: {exc.strerror or exc}", path=str(path)) from exc
    try:
        conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open the history file {path}: {exc}", path=str(path),
                           hint="Check that the folder exists and is writable.") from exc
    try:
        _prepare(conn, path, create=create)
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare(conn: sqlite3.Connection, path: Path, *, create: bool) -> None:
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{path} is not a readable SQLite file: {exc}", path=str(path),
                           hint="Give the path of a recording made by ionpy_widgets, or a new file name.") from exc
    fresh = not tables
    if not fresh and (app_id != APPLICATION_ID or not TABLES.issubset(tables)):
        raise StorageError(f"{path} is a SQLite file but not an ionpy_widgets recording", path=str(path),
                           hint="Use a new file name for recording; this file is left untouched.")
    if version > SCHEMA_VERSION:
        raise StorageError(f"{path} was written by a newer ionpy_widgets (schema {version})", path=str(path),
                           hint="Upgrade ionpy_widgets to read it.")
    if not fresh and not ({"chunks", "samples"} & tables):
        raise StorageError(f"{path} is an ionpy_widgets recording without its samples table", path=str(path),
                           hint="The file is damaged; use a new file name for recording.")
    if fresh and not create:
        raise StorageError(f"{path} is an empty database, not a recording", path=str(path),
                           hint="Give the path of a recording made by ionpy_widgets.")
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-16000")  # 16 MB of page cache per connection
        if fresh:
            conn.executescript(f"BEGIN; {SCHEMA} PRAGMA application_id = {APPLICATION_ID}; "
                               f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
            conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                             [("created", repr(time.time())), ("created_by", "ionpy_widgets")])
        if not fresh and version < SCHEMA_VERSION and "samples" in tables:
            migrate_v1(conn)
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise StorageError(f"cannot prepare the history file {path}: {exc}", path=str(path),
                           hint="A version 1 recording is converted in place when opened: the file and its "
                                "folder must be writable (copy it somewhere writable).") from exc


def migrate_v1(conn: sqlite3.Connection) -> None:
    """Convert a version 1 file (one ``samples`` row per reading) to chunks, in one transaction:
    either the whole file is converted (and ``samples`` dropped) or nothing changes."""
    import numpy as np

    from .chunks import CHUNK_MAX, U1, Chunk

    conn.execute("BEGIN IMMEDIATE")
    for statement in CHUNKS_DDL:
        conn.execute(statement)
    series = conn.execute("SELECT DISTINCT entity_id, unit_id FROM samples ORDER BY entity_id, unit_id").fetchall()
    for entity_id, unit_id in series:
        cursor = conn.execute("SELECT ts, value, text, quality FROM samples WHERE entity_id = ? AND unit_id IS ? "
                              "ORDER BY ts, rowid", (entity_id, unit_id))
        while rows := cursor.fetchmany(CHUNK_MAX):
            ts, values, texts, quality = zip(*rows, strict=True)
            chunk = Chunk(np.asarray(ts, dtype=np.float64),
                          np.asarray([np.nan if v is None else v for v in values], dtype=np.float64),
                          np.asarray(quality, dtype=U1), {i: t for i, t in enumerate(texts) if t is not None})
            conn.execute(INSERT_CHUNK, (entity_id, unit_id, *chunk.blobs()))
    conn.execute("DROP TABLE samples")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    conn.execute("COMMIT")


__all__ = ["APPLICATION_ID", "INSERT_CHUNK", "SCHEMA", "SCHEMA_VERSION", "TABLES", "connect", "migrate_v1"]
