"""The SQLite layout of a history file and how a connection to one is opened.

Tables (schema version 1, ``PRAGMA application_id`` marks the file as an ionpy recording):

* ``units(id, symbol)`` — every unit string once (``V``, ``A``, ``°C``, ``""``).
* ``entities(id, device, entity, unit_id, kind, label, meta, first_ts)`` — one row per recorded
  entity, unique on ``(device, entity)``; ``kind``/``label``/``meta`` come from the driver's table.
* ``samples(entity_id, ts, value, text, unit_id, quality)`` — one row per reading: ``value`` REAL
  for numbers (bools 1/0), ``text`` for anything non-numeric, ``quality`` 0 good … 3 bad. Indexed
  on ``(entity_id, ts)``: a series query and a time-span query per entity are index range scans.
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

SCHEMA_VERSION = 1
#: ``PRAGMA application_id``: "IONP" — tells an ionpy history file from any other SQLite file.
APPLICATION_ID = 0x494F4E50

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS units (id INTEGER PRIMARY KEY, symbol TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS entities (
    id INTEGER PRIMARY KEY, device TEXT NOT NULL, entity TEXT NOT NULL, unit_id INTEGER REFERENCES units(id),
    kind TEXT NOT NULL DEFAULT '', label TEXT NOT NULL DEFAULT '', meta TEXT, first_ts REAL,
    UNIQUE (device, entity));
CREATE TABLE IF NOT EXISTS samples (
    entity_id INTEGER NOT NULL, ts REAL NOT NULL, value REAL, text TEXT, unit_id INTEGER,
    quality INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS samples_entity_ts ON samples (entity_id, ts);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, category TEXT NOT NULL, kind TEXT NOT NULL, device TEXT,
    entity TEXT, source TEXT, data TEXT);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, notes TEXT NOT NULL DEFAULT '', started REAL NOT NULL,
    stopped REAL, status TEXT NOT NULL DEFAULT 'running', config TEXT, drivers TEXT, identities TEXT, meta TEXT);
"""

TABLES = frozenset({"meta", "units", "entities", "samples", "events", "runs"})


def connect(path: Path, *, create: bool, busy_timeout: float = 5.0) -> sqlite3.Connection:
    """A connection to the history file ``path`` in WAL mode; ``create`` makes the file and tables
    when missing, otherwise the file must exist and be an ionpy recording."""
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
    except sqlite3.Error as exc:
        raise StorageError(f"cannot prepare the history file {path}: {exc}", path=str(path)) from exc


__all__ = ["APPLICATION_ID", "SCHEMA", "SCHEMA_VERSION", "TABLES", "connect"]
