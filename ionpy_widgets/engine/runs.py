"""Runs read back: :func:`open_run` reopens a recorded run offline (no engine, no instruments).

    run = ionpy_widgets.open_run("discharge.sqlite")        # the newest run in the file
    run.samples          # device, entity, timestamp (UTC), value, unit, quality
    run.journal          # every write with its source (code, widget, alarm...) and notebook cell (In [7])
    run.events, run.alarms, run.config, run.identities, run.drivers
    run.plot("BAT.voltage")            # matplotlib figure (min/max envelope + mean per bucket)
    run.to_parquet("out/")             # samples, journal, events, entities + run.json

A file made by ``ionpy run CONFIG --record PATH`` holds one run spanning the whole recording;
a file written by a lab holds one run per ``async with lab.run(...)``. A run that never finished
(the process was killed) has status ``running`` and an open end: it spans everything recorded
after its start.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .history import pandas, query_history, span_frame
from .provenance import cell_label
from .storage import EventRecord, HistoryError, HistoryStore, RunInfo, RunNotFoundError, open_store

JOURNAL_COLUMNS = ("timestamp", "device", "entity", "value", "requested", "unit", "source", "cell", "cell_id", "ok",
                   "error")
EVENT_COLUMNS = ("timestamp", "category", "kind", "device", "entity", "source", "data")
ALARM_COLUMNS = ("timestamp", "device", "entity", "level", "value", "message", "transition", "state", "who")


class RunRecord:
    """One run of a recording, read from its store. DataFrames are built on access; a finished
    run's frames are cached (they cannot change any more)."""

    def __init__(self, store: HistoryStore, info: RunInfo, *, span: tuple[float | None, float | None] | None = None,
                 owns_store: bool = False) -> None:
        self._store: HistoryStore | None = store
        self._info = info
        self._span = span if span is not None else (info.started, info.stopped)
        self._owns_store = owns_store
        self._cache: dict[str, Any] = {}

    # --- what the run is --------------------------------------------------------------------
    @property
    def id(self) -> int:
        return self._info.id

    @property
    def name(self) -> str:
        return self._info.name

    @property
    def notes(self) -> str:
        return self._info.notes

    @property
    def status(self) -> str:
        return self._info.status

    @property
    def location(self) -> str:
        """Where the run is stored (the SQLite file's path)."""
        return self._store.location if self._store is not None else ""

    @property
    def started(self) -> datetime | None:
        start = self._span[0]
        return None if start is None else datetime.fromtimestamp(start, UTC)

    @property
    def stopped(self) -> datetime | None:
        stop = self._span[1]
        return None if stop is None else datetime.fromtimestamp(stop, UTC)

    @property
    def duration(self) -> float | None:
        """Seconds from start to stop (None while running or for an unfinished run)."""
        start, stop = self._span
        return None if start is None or stop is None else stop - start

    @property
    def config(self) -> dict[str, Any]:
        """The lab configuration when the run started (``devices``, ``engine``, ``source``, ``text``)."""
        return dict(self._info.config)

    @property
    def identities(self) -> dict[str, Any]:
        """Per device: driver, state and what the instrument said about itself (at the run's end)."""
        return dict(self._info.identities)

    @property
    def drivers(self) -> dict[str, Any]:
        """Per driver: class, providing package and its version."""
        return dict(self._info.drivers)

    @property
    def info(self) -> dict[str, Any]:
        data = self._info.to_dict()
        data.update(location=self.location, started=self._span[0], stopped=self._span[1])
        return data

    @property
    def finished(self) -> bool:
        return self._info.status != "running"

    # --- data -------------------------------------------------------------------------------
    def _reader(self) -> HistoryStore:
        if self._store is None:
            raise HistoryError(f"run {self.name!r} has not begun, so it has no data yet",
                               hint="Use it as `async with lab.run(...) as run:` (or `await run.begin()`).")
        return self._store

    def _cached(self, key: str, build: Any) -> Any:
        if key in self._cache:
            return self._cache[key].copy()
        frame = build()
        if self.finished:
            self._cache[key] = frame
            return frame.copy()
        return frame

    @property
    def samples(self) -> Any:
        """Every sample in the run's span: device, entity, timestamp (UTC), value, unit, quality."""
        return self._cached("samples", lambda: span_frame(self._reader().query_span(*self._span)))

    def _events(self, **filters: Any) -> list[EventRecord]:
        return self._reader().events(*self._span, **filters)

    @property
    def journal(self) -> Any:
        """Every write in the run with its source: timestamp, device, entity, value, requested,
        unit, source, cell (``"In [7]"`` for a write from code in a notebook cell, else empty),
        cell_id (the nbformat cell id, else empty), ok, error (the message of a refused or failed write)."""
        return self._cached("journal", self._journal)

    def _journal(self) -> Any:
        pd = pandas()
        units = {(e.device, e.entity): e.unit for e in self._reader().entities()}
        rows = []
        for e in self._events(kinds=["write"]):
            data = e.data
            error, cell = data.get("error"), data.get("cell")
            rows.append((e.timestamp, e.device, e.entity, data.get("value"), data.get("requested", data.get("value")),
                         units.get((e.device, e.entity or ""), ""), e.source, cell_label(cell),
                         (cell.get("cell_id") or "") if isinstance(cell, dict) else "", bool(data.get("ok", True)),
                         error.get("message") if isinstance(error, dict) else error))
        return _frame(pd, rows, JOURNAL_COLUMNS, bools=("ok",))

    @property
    def events(self) -> Any:
        """Every non-sample event: writes, availability changes, errors, alarms, emergency stops."""
        return self._cached("events", lambda: _frame(pandas(), [
            (e.timestamp, e.category, e.kind, e.device, e.entity, e.source, dict(e.data)) for e in self._events()],
            EVENT_COLUMNS))

    @property
    def alarms(self) -> Any:
        """Alarm state changes: timestamp, device, entity, level, value, message, transition (raise,
        clear, acknowledge, shelve, action...), state (active_unack...) and who."""
        return self._cached("alarms", lambda: _frame(pandas(), [
            (e.timestamp, e.device, e.entity, e.data.get("level"), e.data.get("value"), e.data.get("message", ""),
             e.data.get("transition", ""), e.data.get("state", ""), e.data.get("who", ""))
            for e in self._events(categories=["alarm"])], ALARM_COLUMNS))

    @property
    def entities(self) -> Any:
        """Recorded entities: device, entity, unit, kind, label."""
        pd = pandas()
        rows = [(e.device, e.entity, e.unit, e.kind, e.label) for e in self._reader().entities()]
        return pd.DataFrame(rows, columns=["device", "entity", "unit", "kind", "label"], dtype=object)

    def history(self, device: str, entity: str, *, buckets: int | None = None) -> Any:
        """One entity over the run (see ``lab.history``), decimated when ``buckets`` is given."""
        return query_history(self._reader(), device, entity, *self._span, buckets=buckets)

    # --- output -----------------------------------------------------------------------------
    def plot(self, *series: str, buckets: int = 1000, **kwargs: Any) -> Any:
        """A matplotlib figure of ``"DEVICE.entity"`` series (default: every numeric entity), one
        panel per unit, min/max envelope and mean per bucket. Needs matplotlib."""
        from .run_export import plot_run

        return plot_run(self, series, buckets=buckets, **kwargs)

    def to_csv(self, folder: str | Path) -> list[Path]:
        """Write samples, journal, events, entities (CSV) and run.json into ``folder``; returns the files."""
        from .run_export import export_run

        return export_run(self, Path(folder), "csv")

    def to_parquet(self, folder: str | Path) -> list[Path]:
        """Like :meth:`to_csv` in Parquet (needs pyarrow); mixed-type columns are stored as JSON text."""
        from .run_export import export_run

        return export_run(self, Path(folder), "parquet")

    def close(self) -> None:
        """Close the file if this record opened it."""
        if self._owns_store and self._store is not None:
            self._store.close()

    def __enter__(self) -> RunRecord:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        start = self.started.isoformat(timespec="seconds") if self.started else "?"
        span = f"{self.duration:.1f} s" if self.duration is not None else "open end"
        return f"<Run {self.name!r} #{self.id} {self.status} from {start} ({span}) in {self.location}>"


def _frame(pd: Any, rows: list[tuple[Any, ...]], columns: tuple[str, ...], *, bools: tuple[str, ...] = ()) -> Any:
    frame = pd.DataFrame(rows, columns=list(columns), dtype=object)
    frame["timestamp"] = pd.to_datetime(pd.Series([r[0] for r in rows], dtype="float64"), unit="s", utc=True)
    for column in bools:
        frame[column] = frame[column].astype(bool)
    return frame


def open_run(path: str | Path, name: str | int | None = None) -> RunRecord:
    """Reopen a run of the recording at ``path`` offline: the newest run, the newest run called
    ``name``, or the run with id ``name``. A recording without runs opens as one run spanning it all."""
    store = open_store(Path(path), create=False)
    try:
        runs = store.runs()
        if name is None and not runs:
            info = RunInfo(0, Path(path).stem, 0.0, status="recording")
            return RunRecord(store, info, span=(None, None), owns_store=True)
        chosen = _choose(runs, name)
        if chosen is None:
            known = ", ".join(sorted({r.name for r in runs})) or "none"
            raise RunNotFoundError(f"no run {name!r} in {path}", path=str(path),
                                   hint=f"Runs in this file: {known}. `list_runs(path)` shows them all.")
        return RunRecord(store, chosen, owns_store=True)
    except BaseException:
        store.close()
        raise


def _choose(runs: list[RunInfo], name: str | int | None) -> RunInfo | None:
    if name is None:
        return runs[-1]
    if isinstance(name, int) and not isinstance(name, bool):
        return next((r for r in runs if r.id == name), None)
    return next((r for r in reversed(runs) if r.name == name), None)


def list_runs(path: str | Path) -> Any:
    """Every run in the recording at ``path`` as a DataFrame (id, name, status, started, stopped, notes)."""
    pd = pandas()
    store = open_store(Path(path), create=False)
    try:
        rows = [(r.id, r.name, r.status, r.started, r.stopped, r.notes) for r in store.runs()]
    finally:
        store.close()
    frame = pd.DataFrame(rows, columns=["id", "name", "status", "started", "stopped", "notes"])
    for column in ("started", "stopped"):
        frame[column] = pd.to_datetime(frame[column].astype("float64"), unit="s", utc=True)
    return frame


def dumps_info(run: RunRecord) -> str:
    """The run's description (name, span, status, config, identities, drivers) as JSON text."""
    return json.dumps(run.info, indent=2, ensure_ascii=False, default=str)


__all__ = ["RunRecord", "dumps_info", "list_runs", "open_run"]
