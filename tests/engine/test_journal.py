"""Journal: an append-only SQLite record that survives restarts and reads as a table."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ionpy_widgets.engine.atomic import StorageError
from ionpy_widgets.engine.journal import Journal, JournalEntry, MissingDependencyError


def _fill(j: Journal) -> None:
    j.record_event("lab_started")
    j.record_event("device_added", "psu1", driver="DPS5005", port="/dev/ttyUSB0")
    j.record_write("psu1", "u_set", 0.0, 5.0, source="widget", unit="V")
    j.record_write("psu1", "output", False, True, source="code", detail={"confirmed": True})
    j.record_event("device_added", "load1", driver="SCPI_PSU")
    j.record_write("load1", "i_set", None, 1.5, source="alarm", unit="A")
    j.record_event("device_disabled", "psu1", reason="user")


def test_survives_reopen_with_values_as_json(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal(path) as j:
        _fill(j)
    again = Journal(path)
    entries = again.entries()
    assert [e.kind for e in entries] == ["lab_started", "device_added", "write", "write", "device_added", "write",
                                         "device_disabled"]
    write = entries[2]
    assert (write.device, write.entity, write.old, write.new, write.unit, write.source) == (
        "psu1", "u_set", 0.0, 5.0, "V", "widget")
    assert entries[3].detail == {"confirmed": True} and entries[3].new is True
    assert entries[5].old is None
    assert entries[1].data == {"driver": "DPS5005", "port": "/dev/ttyUSB0"}
    assert entries[0].device is None and entries[0].data == {}
    again.record_event("lab_stopped")
    later = again.entries()
    assert later[-1].id > entries[-1].id and len(again) == 8
    again.close()
    # a real SQLite file in WAL mode that other tools can read
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 8
    conn.close()


def test_filters_and_ordering(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        _fill(j)
        ids = [e.id for e in j.entries()]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert [e.kind for e in j.entries(device="psu1")] == ["device_added", "write", "write", "device_disabled"]
        assert [e.entity for e in j.entries(kind="write")] == ["u_set", "output", "i_set"]
        assert [e.entity for e in j.entries(kind="write", device="load1")] == ["i_set"]
        assert [e.entity for e in j.entries(entity="output")] == ["output"]
        assert [e.kind for e in j.entries(limit=2)] == ["write", "device_disabled"]  # newest two, oldest first
        assert j.entries(limit=0) == []
        everything = j.entries()
        cut = everything[4].timestamp
        later = j.entries(since=cut)
        assert all(e.timestamp >= cut for e in later)
        assert [e.id for e in everything[4:]] == [e.id for e in later][-3:]  # equal timestamps may add more
        assert {e.id for e in later} <= {e.id for e in j.entries(since=datetime.fromtimestamp(cut, UTC))}
        for entry in j.entries():
            assert j.entries(since=entry.time)[0].id <= entry.id  # an entry's own time finds it
        assert j.entries(device="nobody") == []


def test_append_only(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        j.record_event("lab_started")
    conn = sqlite3.connect(path)
    for sql in ("UPDATE journal SET kind = 'x'", "DELETE FROM journal"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(sql)
    conn.close()


def test_batches_flush_on_size_explicitly_and_on_close(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(path, batch_size=5, flush_interval=60)
    reader = sqlite3.connect(path)

    def on_disk() -> int:
        return reader.execute("SELECT COUNT(*) FROM journal").fetchone()[0]

    for i in range(4):
        j.record_write("psu1", "u_set", i, i + 1)
    assert on_disk() == 0  # buffered, no loop: nothing written yet
    j.record_write("psu1", "u_set", 4, 5)
    assert on_disk() == 5  # batch size reached
    j.record_event("device_updated", "psu1")
    assert j.flush() == 1 and on_disk() == 6
    assert j.flush() == 0
    j.record_event("lab_stopped")
    j.close()
    assert on_disk() == 7
    j.close()  # twice is fine
    with pytest.raises(StorageError, match="closed"):
        j.record_event("lab_started")
    with pytest.raises(StorageError, match="closed"):
        j.entries()
    reader.close()
    assert repr(j).endswith("closed)")


def test_age_flush_without_a_loop(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(path, batch_size=1000, flush_interval=0.001)
    reader = sqlite3.connect(path)
    j.record_event("lab_started")
    time.sleep(0.01)  # let the first entry become older than flush_interval
    j.record_event("lab_stopped")
    assert reader.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 2
    reader.close()
    j.close()


async def test_timer_flush_on_the_running_loop(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(path, batch_size=1000, flush_interval=0.02)
    reader = sqlite3.connect(path)
    j.record_write("psu1", "u_set", 1.0, 2.0, source="widget")
    assert reader.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 0
    for _ in range(200):
        if reader.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 1:
            break
        await asyncio.sleep(0.01)
    assert reader.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 1
    reader.close()
    j.close()


def test_ten_thousand_entries_fast(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    started = time.perf_counter()
    for i in range(10_000):
        j.record_write(f"psu{i % 4}", "u_set", i * 0.01, (i + 1) * 0.01, source="code", unit="V")
    j.flush()
    elapsed = time.perf_counter() - started
    assert len(j) == 10_000
    assert elapsed < 3.0, f"10,000 entries took {elapsed:.2f} s"
    assert len(j.entries(device="psu3")) == 2_500
    last = j.entries(limit=1)[0]
    assert last.new == pytest.approx(100.0)
    j.close()


def test_threads_can_record_concurrently(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite", batch_size=7)

    def worker(n: int) -> None:
        for i in range(200):
            j.record_write(f"dev{n}", "u_set", i, i + 1)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(j) == 800
    for n in range(4):
        assert [e.new for e in j.entries(device=f"dev{n}")] == list(range(1, 201))
    j.close()


def test_odd_values_are_stored_readably(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        j.record_write("bms", "raw", b"\x01\x02", {1, 2}, detail=("a", 1))
        j.record_event("device_error", "bms", error={"code": "protocol_crc"}, when=datetime(2025, 1, 1, tzinfo=UTC))
        write, event = j.entries()
    assert write.old == "01 02" and sorted(write.new) == [1, 2] and write.detail == ["a", 1]
    assert event.data["error"] == {"code": "protocol_crc"} and event.data["when"].startswith("2025-01-01")


def test_bad_arguments(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        with pytest.raises(ValueError, match="source"):
            j.record_write("psu1", "u_set", 1, 2, source="")
        with pytest.raises(ValueError, match="device id"):
            j.record_write("", "u_set", 1, 2)
        with pytest.raises(ValueError, match="write"):
            j.record_event("write", "psu1")
        with pytest.raises(ValueError, match="kind"):
            j.record_event("Device Added!")
    with pytest.raises(ValueError):
        Journal(tmp_path / "x.sqlite", batch_size=0)


def test_readable_as_a_table(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        _fill(j)
        j.record_event("device_error", "psu1", message="<script>alert(1)</script>")
        text = repr(j)
        assert "8 entries" in text and "psu1.u_set 0.0 → 5.0 V (widget)" in text
        page = j._repr_html_()
        assert "<table>" in page and "<script>" not in page and "&lt;script&gt;" in page
        rows = j.to_rows(kind="write")
        assert rows[0]["entity"] == "u_set" and rows[0]["time"].endswith("+00:00")
        frame = j.to_dataframe(device="psu1")
        assert list(frame["kind"]) == ["device_added", "write", "write", "device_disabled", "device_error"]
        assert str(frame["time"].dt.tz) == "UTC"
        assert isinstance(j.entries()[0], JournalEntry)


def test_dataframe_without_pandas_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` raise ImportError
    with Journal(tmp_path / "j.sqlite") as j:
        with pytest.raises(MissingDependencyError) as info:
            j.to_dataframe()
        assert isinstance(info.value, ImportError) and "to_rows" in info.value.hint


def test_corrupt_file_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    path.write_bytes(b"this is not a database at all" * 100)
    j = Journal(path)
    assert j.last_warning is not None and "moved to" in j.last_warning
    assert len([p for p in tmp_path.iterdir() if ".corrupt-" in p.name]) == 1
    j.record_event("lab_started")
    assert len(j) == 1
    j.close()


def test_locked_file_is_an_error_never_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE mine (x)")
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError, match="locked"):
            Journal(path, busy_timeout=0.05)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j.sqlite"]


def test_unwritable_location_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as info:
        Journal(tmp_path / "missing" / "j.sqlite")
    assert "folder" in info.value.hint
