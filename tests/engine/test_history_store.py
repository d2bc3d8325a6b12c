"""The SQLite history store: schema, batched writes, queries (raw, decimated, span), events, runs,
entity metadata, failure modes, and the DataFrames built from it."""

from __future__ import annotations

import math
import sqlite3
import threading
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
    open_store,
)
from ionpy_widgets.engine.storage import sqlite as sqlite_store

T0 = 1_700_000_000.0


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
        assert {"samples", "entities", "units", "events", "runs", "meta"} <= tables
        assert "samples_entity_ts" in indexes
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        plan = " ".join(str(r) for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT ts, value FROM samples WHERE entity_id = 1 AND ts BETWEEN 0 AND 1"))
        assert "samples_entity_ts" in plan
        for sql in (sqlite_store._BUCKET_SQL, sqlite_store._LAST_BUCKET_SQL):  # each bucket: a bounded range scan
            plan = " ".join(str(r) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, (1, 0.0, 1.0)))
            assert "entity_id=? AND ts>? AND ts<?" in plan, plan
    finally:
        conn.close()


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


def test_both_decimation_strategies_agree(store: SqliteHistoryStore, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    times = np.sort(T0 + rng.uniform(0, 1000, 5000))
    store.write_batch(Reading("D", "v", float(v), "V", float(t)) for t, v in zip(times, rng.normal(size=5000),
                                                                              strict=True))
    by_range = store.query_decimated("D", "v", T0 + 100, T0 + 900, 37)
    monkeypatch.setattr(sqlite_store, "RANGE_BUCKETS", 0)
    grouped = store.query_decimated("D", "v", T0 + 100, T0 + 900, 37)
    for name in ("timestamp", "min", "max", "mean", "count"):
        np.testing.assert_allclose(getattr(by_range, name), getattr(grouped, name), rtol=1e-12, err_msg=name)
    assert by_range.count.sum() == ((times >= T0 + 100) & (times <= T0 + 900)).sum()


def test_many_row_statements_keep_every_row_in_order(store: SqliteHistoryStore) -> None:
    from ionpy_widgets.engine.storage.sqlite import MANY_ROWS

    n = 2 * MANY_ROWS + 57  # two multi-row statements and 57 single rows
    batch = [Reading("D", "v", float(i) if i % 3 else f"t{i}", "V", T0 + i, Quality.UNCERTAIN if i % 7 == 0
                     else Quality.GOOD) for i in range(n)]
    assert store.write_batch(batch) == n
    cols = store.query("D", "v")
    assert cols.timestamp.tolist() == [T0 + i for i in range(n)]
    assert cols.value.tolist() == [r.value for r in batch]
    assert cols.quality == [r.quality.value for r in batch]
