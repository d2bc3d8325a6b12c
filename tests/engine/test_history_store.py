"""The SQLite history store: schema, batched writes, queries (raw, decimated, span), events, runs,
entity metadata, failure modes, and the DataFrames built from it."""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ionpy_widgets.driver.reading import Quality, Reading
from ionpy_widgets.engine.atomic import StorageError
from ionpy_widgets.engine.history import query_history
from ionpy_widgets.engine.storage import (
    EntityInfo,
    EventRecord,
    HistoryError,
    HistoryStore,
    SqliteHistoryStore,
    chunks,
    open_store,
)
from ionpy_widgets.engine.storage.sqlite_schema import APPLICATION_ID, SCHEMA_VERSION

T0 = 1_700_000_000.0
#: The version 1 layout (one row per sample), to check that such files are converted.
V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE units (id INTEGER PRIMARY KEY, symbol TEXT NOT NULL UNIQUE);
CREATE TABLE entities (id INTEGER PRIMARY KEY, device TEXT NOT NULL, entity TEXT NOT NULL, unit_id INTEGER,
    kind TEXT NOT NULL DEFAULT '', label TEXT NOT NULL DEFAULT '', meta TEXT, first_ts REAL, UNIQUE (device, entity));
CREATE TABLE samples (entity_id INTEGER NOT NULL, ts REAL NOT NULL, value REAL, text TEXT, unit_id INTEGER,
    quality INTEGER NOT NULL DEFAULT 0);
CREATE INDEX samples_entity_ts ON samples (entity_id, ts);
CREATE TABLE events (id INTEGER PRIMARY KEY, ts REAL NOT NULL, category TEXT NOT NULL, kind TEXT NOT NULL,
    device TEXT, entity TEXT, source TEXT, data TEXT);
CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT NOT NULL, notes TEXT NOT NULL DEFAULT '', started REAL NOT NULL,
    stopped REAL, status TEXT NOT NULL DEFAULT 'running', config TEXT, drivers TEXT, identities TEXT, meta TEXT);
"""


@pytest.fixture
def store(tmp_path: Path) -> SqliteHistoryStore:
    s = SqliteHistoryStore(tmp_path / "h.sqlite")
    yield s
    s.close()


def readings(n: int, *, device: str = "PSU", entity: str = "u_out", unit: str = "V", step: float = 0.1,
             start: float = T0) -> list[Reading]:
    return [Reading(device, entity, float(i), unit, start + i * step) for i in range(n)]


def test_a_new_file_has_the_schema_wal_and_indexes(store: SqliteHistoryStore) -> None:
    assert isinstance(store, HistoryStore)
    conn = sqlite3.connect(store.path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"chunks", "entities", "units", "events", "runs", "meta"} <= tables and "samples" not in tables
        assert {"chunks_entity_first", "chunks_entity_last"} <= indexes
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        for where in ("t_last >= 0", "t_first <= 1"):  # the chunks overlapping a span: an index range scan
            plan = " ".join(str(r) for r in conn.execute(
                f"EXPLAIN QUERY PLAN SELECT ts, value FROM chunks WHERE entity_id = 1 AND {where}"))
            assert "USING INDEX chunks_entity_" in plan, plan
    finally:
        conn.close()


def test_samples_are_stored_as_one_chunk_row_per_series_and_batch(store: SqliteHistoryStore) -> None:
    batch = readings(5000) + readings(3000, entity="i_out", unit="A")
    assert store.write_batch(batch) == 8000
    conn = sqlite3.connect(store.path)
    try:
        rows = conn.execute("SELECT e.entity, c.t_first, c.t_last, c.n, length(c.ts), length(c.value), "
                            "length(c.quality), c.texts FROM chunks c JOIN entities e ON e.id = c.entity_id "
                            "ORDER BY e.entity").fetchall()
    finally:
        conn.close()
    assert rows == [("i_out", T0, T0 + 2999 * 0.1, 3000, 8 * 3000, 8 * 3000, 3000, None),
                    ("u_out", T0, T0 + 4999 * 0.1, 5000, 8 * 5000, 8 * 5000, 5000, None)]
    assert store.count() == 8000 and store.count(T0 + 100, T0 + 200) == 2 * 1001  # exact inside a chunk


def test_small_flushes_grow_the_last_chunk_and_out_of_order_samples_sort(store: SqliteHistoryStore) -> None:
    for k in range(40):  # 40 flushes of 3 samples: one chunk, not 40
        store.write_batch(readings(3, start=T0 + 3 * k * 0.1))
    store.write_batch(readings(3, start=T0 - 10))  # earlier than the chunk: a chunk of its own
    conn = sqlite3.connect(store.path)
    try:
        assert [r[0] for r in conn.execute("SELECT n FROM chunks ORDER BY id")] == [120, 3]
    finally:
        conn.close()
    cols = store.query("PSU", "u_out")
    assert len(cols) == 123 and bool(np.all(np.diff(cols.timestamp) >= 0))
    store.write_batch([Reading("D", "v", float(i), "V", T0 + (7 * i) % 10) for i in range(10)])
    assert store.query("D", "v").timestamp.tolist() == [T0 + i for i in range(10)]


def test_a_version_1_file_is_converted_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(V1_SCHEMA + f"PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 1;")
    conn.executemany("INSERT INTO units (id, symbol) VALUES (?, ?)", [(1, "V"), (2, "")])
    conn.executemany("INSERT INTO entities (id, device, entity, unit_id, kind) VALUES (?,?,?,?,?)",
                     [(1, "PSU", "u_out", 1, "numeric"), (2, "PSU", "mode", 2, "text")])
    conn.executemany("INSERT INTO samples (entity_id, ts, value, text, unit_id, quality) VALUES (?,?,?,?,?,?)",
                     [(1, T0 + i, float(i), None, 1, i % 2) for i in range(10)]
                     + [(2, T0, None, "CV", 2, 0), (2, T0 + 1, 1.0, None, 2, 3)])
    conn.close()
    store = open_store(path, create=False)
    try:
        cols = store.query("PSU", "u_out")
        assert cols.value.tolist() == [float(i) for i in range(10)] and cols.quality[:2] == ["good", "uncertain"]
        assert store.query("PSU", "mode").value.tolist() == ["CV", 1.0] and store.count() == 12
        assert store.write_batch(readings(2, start=T0 + 100)) == 2 and store.count() == 14
    finally:
        store.close()
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "samples" not in tables and conn.execute("PRAGMA user_version").fetchone()[0] == 2
    finally:
        conn.close()


def test_decimating_half_a_million_samples_is_fast(store: SqliteHistoryStore) -> None:
    n = 500_000  # benchmarks/bench_history.py times one million
    ts = T0 + np.arange(n) * 0.1
    values = 3.0 + (np.arange(n) % 3600) / 3600.0
    for k in range(0, n, 50_000):  # the recorder's batch size
        store.write_batch([Reading("BAT", "voltage", v, "V", t) for t, v in zip(ts[k:k + 50_000].tolist(),
                                                                            values[k:k + 50_000].tolist(),
                                                                            strict=True)])
    started = time.perf_counter()
    b = store.query_decimated("BAT", "voltage", None, None, 1000)
    elapsed = time.perf_counter() - started
    assert len(b) == 1000 and int(b.count.sum()) == n and b.min.min() == 3.0
    assert elapsed < 0.5, elapsed
    hour = store.query_decimated("BAT", "voltage", T0 + 3600, T0 + 7200, 100)
    assert int(hour.count.sum()) == 36_001


def test_values_of_every_kind_round_trip(store: SqliteHistoryStore) -> None:
    batch = [Reading("D", "x", 1.5, "V", T0), Reading("D", "x", 2, "V", T0 + 1),
             Reading("D", "x", True, "V", T0 + 2), Reading("D", "x", None, "V", T0 + 3, Quality.BAD),
             Reading("D", "x", math.nan, "V", T0 + 4), Reading("D", "x", np.float32(0.25), "V", T0 + 5, Quality.STALE)]
    assert store.write_batch(batch) == 6
    cols = store.query("D", "x")
    assert cols.value.dtype == np.float64
    assert cols.value[:3].tolist() == [1.5, 2.0, 1.0]
    assert math.isnan(cols.value[3]) and math.isnan(cols.value[4]) and cols.value[5] == 0.25
    assert cols.quality == ["good", "good", "good", "bad", "good", "stale"]
    store.write_batch([Reading("D", "mode", "CV", "", T0), Reading("D", "mode", 1, "", T0 + 1),
                       Reading("D", "mode", {"a": 1}, "", T0 + 2)])
    mode = store.query("D", "mode")
    assert mode.value.dtype == object and mode.value.tolist() == ["CV", 1.0, '{"a":1}']


def test_queries_filter_by_entity_and_time_inclusively(store: SqliteHistoryStore) -> None:
    store.write_batch(readings(100) + readings(100, entity="i_out", unit="A"))
    cols = store.query("PSU", "u_out", T0 + 1.0, T0 + 2.0)
    assert cols.value.tolist() == [float(i) for i in range(10, 21)]
    assert set(cols.unit) == {"V"} and cols.entity[0] == "u_out"
    assert len(store.query("PSU", "nothing")) == 0
    assert store.count() == 200 and store.count(T0, T0 + 0.45) == 10
    assert [(e.device, e.entity, e.unit, e.kind) for e in store.entities()] == [
        ("PSU", "i_out", "A", "numeric"), ("PSU", "u_out", "V", "numeric")]


def test_decimated_query_gives_min_max_mean_per_bucket(store: SqliteHistoryStore) -> None:
    values = [Reading("D", "v", float(v), "V", T0 + i) for i, v in enumerate([1, 5, 3, 2, 9, 4, 0, 7, 8, 6])]
    store.write_batch(values)
    b = store.query_decimated("D", "v", T0, T0 + 10, 5)  # buckets of 2 s
    assert b.width == 2.0 and b.unit == "V"
    assert b.timestamp.tolist() == [T0, T0 + 2, T0 + 4, T0 + 6, T0 + 8]
    assert b.min.tolist() == [1, 2, 4, 0, 6] and b.max.tolist() == [5, 3, 9, 7, 8]
    assert b.mean.tolist() == [3, 2.5, 6.5, 3.5, 7] and b.count.tolist() == [2] * 5
    whole = store.query_decimated("D", "v", None, None, 3)  # open ends: first and last sample
    assert whole.start == T0 and whole.count.sum() == 10 and len(whole) == 3
    assert len(store.query_decimated("D", "missing", None, None, 3)) == 0
    with pytest.raises(ValueError, match="buckets"):
        store.query_decimated("D", "v", None, None, 0)


def test_span_query_returns_all_entities_ordered_by_time(store: SqliteHistoryStore) -> None:
    store.write_batch(readings(5, device="B", entity="v") + readings(5, device="A", entity="w"))
    cols = store.query_span(T0 + 0.1, T0 + 0.3)
    assert list(zip(cols.device, cols.entity, strict=True)) == [("A", "w"), ("B", "v")] * 3
    assert len(store.query_span(None, None, devices=["A"])) == 5


def test_events_runs_and_metadata(store: SqliteHistoryStore) -> None:
    write = EventRecord(T0, "system", "write", "PSU", "u_set", "widget", {"key": "u_set", "value": 5.0, "ok": True})
    alarm = EventRecord(T0 + 1, "alarm", "alarm", "BAT", "soc", None, {"level": "lo"})
    store.write_batch([], [write, alarm])
    assert store.events() == [write, alarm]
    assert store.events(categories=["alarm"]) == [alarm] and store.events(T0 + 0.5) == [alarm]
    run_id = store.create_run("sweep", T0, notes="n", config={"devices": []}, identities={"PSU": {}})
    store.finish_run(run_id, T0 + 9, "completed", meta={"k": 1})
    (run,) = store.runs()
    assert (run.name, run.stopped, run.status, run.meta, run.config) == ("sweep", T0 + 9, "completed", {"k": 1},
                                                                         {"devices": []})
    store.describe([EntityInfo("PSU", "u_set", "V", "numeric", "Voltage setpoint", {"access": "RW"})])
    (info,) = store.entities("PSU")
    assert info.label == "Voltage setpoint" and info.meta == {"access": "RW"}


def test_a_failed_batch_stores_nothing_and_the_next_one_works(store: SqliteHistoryStore) -> None:
    def broken():  # new entity and unit rows are inserted, then the batch fails half-way
        yield from readings(3, entity="new_one", unit="mV")
        raise RuntimeError("broken reading")

    with pytest.raises(RuntimeError, match="broken reading"):
        store.write_batch(broken())
    assert store.count() == 0 and store.entities() == []
    assert store.write_batch(readings(3, entity="new_one", unit="mV")) == 3
    assert [e.entity for e in store.entities()] == ["new_one"]


def test_reopening_keeps_the_data_and_refuses_other_files(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with_store = SqliteHistoryStore(path)
    with_store.write_batch(readings(10))
    with_store.close()
    again = open_store(path, create=False)
    assert again.count() == 10 and again.write_batch(readings(2, start=T0 + 100)) == 2
    again.close()
    with pytest.raises(StorageError, match="no recording"):
        open_store(tmp_path / "missing.sqlite", create=False)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(StorageError, match="not an ionpy_widgets recording") as info:
        SqliteHistoryStore(other)
    assert info.value.hint
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StorageError, match="not a readable SQLite file"):
        SqliteHistoryStore(tmp_path / "junk.sqlite")
    closed = SqliteHistoryStore(tmp_path / "c.sqlite")
    closed.close()
    with pytest.raises(StorageError, match="closed"):
        closed.write_batch(readings(1))


def test_reads_proceed_while_a_writer_holds_a_transaction(store: SqliteHistoryStore) -> None:
    store.write_batch(readings(10))
    started, release = threading.Event(), threading.Event()

    def slow_samples():  # the writer is inside its transaction while this generator waits
        yield from readings(5, start=T0 + 100)
        started.set()
        release.wait(5)

    writer = threading.Thread(target=store.write_batch, args=(slow_samples(),))
    writer.start()
    try:
        assert started.wait(5)
        assert len(store.query("PSU", "u_out")) == 10  # WAL: the committed data, at once
    finally:
        release.set()
        writer.join(5)
    assert len(store.query("PSU", "u_out")) == 15


def test_dataframes_have_utc_times_units_and_decimated_columns(store: SqliteHistoryStore) -> None:
    store.write_batch(readings(50))
    df = query_history(store, "PSU", "u_out", T0, pd.Timestamp(T0 + 1.0, unit="s", tz="UTC"))
    assert list(df.columns) == ["timestamp", "value", "unit", "quality"]
    assert str(df["timestamp"].dt.tz) == "UTC" and df.attrs["unit"] == "V" and len(df) == 11
    assert df["timestamp"].iloc[0] == pd.Timestamp(T0, unit="s", tz="UTC")
    dec = query_history(store, "PSU", "u_out", buckets=5)
    assert list(dec.columns) == ["timestamp", "min", "max", "mean", "count", "unit"]
    assert dec["count"].sum() == 50 and dec.attrs["buckets"] == 5
    with pytest.raises(HistoryError, match="before start"):
        query_history(store, "PSU", "u_out", T0 + 5, T0)
    with pytest.raises(HistoryError, match="ISO"):
        query_history(store, "PSU", "u_out", "yesterday")
    with pytest.raises(HistoryError, match="positive integer"):
        query_history(store, "PSU", "u_out", buckets=0)


def test_a_unit_that_changes_is_kept_per_sample(store: SqliteHistoryStore) -> None:
    store.write_batch(readings(3, unit="V"))
    store.write_batch(readings(3, unit="mV", start=T0 + 10))  # e.g. a range switch
    store.write_batch(readings(2, unit="V", start=T0 + 20))
    cols = store.query("PSU", "u_out")
    assert cols.unit == ["V"] * 3 + ["mV"] * 3 + ["V"] * 2
    df = query_history(store, "PSU", "u_out")
    assert df.attrs["units"] == ["V", "mV"] and df.attrs["unit"] == "V"  # the newest sample's unit


def test_decimation_matches_a_reference_over_overlapping_chunks(store: SqliteHistoryStore) -> None:
    rng = np.random.default_rng(7)
    times = T0 + rng.uniform(0, 1000, 5000)  # unsorted, written in 5 batches: chunks overlap in time
    values = rng.normal(size=5000)
    for k in range(0, 5000, 1000):
        store.write_batch(Reading("D", "v", float(v), "V", float(t)) for t, v in zip(times[k:k + 1000],
                                                                                  values[k:k + 1000], strict=True))
    start, end, buckets = T0 + 100, T0 + 900, 37
    got = store.query_decimated("D", "v", start, end, buckets)
    width = (end - start) / buckets
    inside = (times >= start) & (times <= end)
    index = np.minimum(((times[inside] - start) / width).astype(int), buckets - 1)
    picked = values[inside]
    used = np.unique(index)
    np.testing.assert_allclose(got.timestamp, start + used * width, rtol=1e-12)
    np.testing.assert_allclose(got.min, [picked[index == b].min() for b in used], rtol=1e-12)
    np.testing.assert_allclose(got.max, [picked[index == b].max() for b in used], rtol=1e-12)
    np.testing.assert_allclose(got.mean, [picked[index == b].mean() for b in used], rtol=1e-9)
    assert got.count.tolist() == [int((index == b).sum()) for b in used] and got.count.sum() == inside.sum()


def test_text_and_missing_values_count_as_samples_not_numbers(store: SqliteHistoryStore) -> None:
    store.write_batch([Reading("D", "m", v, "", T0 + i) for i, v in enumerate(["a", 2.0, None, 4.0, "b", "c"])])
    b = store.query_decimated("D", "m", T0, T0 + 6, 3)  # buckets [0,2) [2,4) [4,6]
    assert b.count.tolist() == [1, 1, 0] and b.mean[:2].tolist() == [2.0, 4.0] and math.isnan(b.mean[2])
    assert store.count() == 6 and store.count(T0 + 1, T0 + 4) == 4


def test_big_groups_split_into_chunks_keep_every_row_in_order(store: SqliteHistoryStore,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunks, "CHUNK_MAX", 100)
    n = 2 * 100 + 57  # two full chunks and one of 57, with texts and qualities in each
    batch = [Reading("D", "v", float(i) if i % 3 else f"t{i}", "V", T0 + i, Quality.UNCERTAIN if i % 7 == 0
                     else Quality.GOOD) for i in range(n)]
    assert store.write_batch(batch) == n
    cols = store.query("D", "v")
    assert cols.timestamp.tolist() == [T0 + i for i in range(n)]
    assert cols.value.tolist() == [r.value for r in batch]
    assert cols.quality == [r.quality.value for r in batch]
    conn = sqlite3.connect(store.path)
    try:
        assert [r[0] for r in conn.execute("SELECT n FROM chunks ORDER BY id")] == [100, 100, 57]
    finally:
        conn.close()
