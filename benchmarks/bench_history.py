"""History write throughput: ionpy's recorder against QCoDeS and a raw ``sqlite3.executemany``
ceiling, same machine, same run; plus a decimated query over one million samples.

The workload is what an engine produces: polls of a 10-entity instrument (one ``ReadingEvent`` of
10 float readings per poll, 10 ms apart). Samples are prebuilt before each timed section; the
garbage collector's heap is frozen after building them, the same way for every contender.

* **ionpy recorder** — end to end: ``bus.publish`` of every poll (in bursts of 100 polls per loop
  turn) through the recorder's lossless subscription, its worker thread and SQLite (WAL,
  ``synchronous=NORMAL``) until ``await recorder.flush()`` returns, i.e. everything is committed.
  The loop's longest gap (a ticker every 2 ms) is reported too.
* **raw executemany ceiling** — precomputed ``(entity_id, ts, value, text, unit_id, quality)``
  tuples into a one-row-per-sample table (the schema version 1 ``samples`` table with its
  ``(entity_id, ts)`` index, created in a history file so the pragmas are the same), 50 000 rows
  per transaction (the recorder's batch size): the best SQLite can do for *one row per sample*
  from Python. Since schema version 2 the recorder stores chunks (one row per series and batch,
  BLOB columns), so this ceiling is a fixed yardstick of the old layout, not of the new one.
* **QCoDeS** — ``Measurement`` with a time setpoint and the 10 entities as dependent parameters,
  ``DataSaver.add_result`` with numpy arrays of B polls per call (``batched``; a short sweep picks
  QCoDeS's best B of 10, 100 and 1 000, which is then compared) and one poll per call
  (``per_poll``, QCoDeS's usual loop, buffered by ``write_period``). Timed from the first
  ``add_result`` until the run's context exits (committed). QCoDeS stores one *row per poll*
  holding all 10 values; the raw ceiling one row per sample; ionpy one chunk row per entity and
  batch (timestamps, values, quality codes as arrays; units per chunk).

The contenders run interleaved ``--repeat`` times (recorder, raw, QCoDeS, recorder, ...), so a
change in machine load hits them alike; ratios are the median of the per-repetition ratios.
Results: a table on stdout and ``benchmarks/results/history.json``. Targets: recorder ≥ 8× QCoDeS
batched, ≥ 0.6× the raw ceiling.

    python benchmarks/bench_history.py              # about a minute on an idle machine
    python benchmarks/bench_history.py --quick      # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ionpy_widgets.driver.reading import Reading
from ionpy_widgets.engine.bus import EventBus
from ionpy_widgets.engine.events import ReadingEvent
from ionpy_widgets.engine.recorder import Recorder
from ionpy_widgets.engine.storage import SqliteHistoryStore

ENTITIES = [f"e{i}" for i in range(10)]
T0 = 1_700_000_000.0
BATCH = 50_000


def _polls(n_polls: int, device: str = "PSU") -> list[ReadingEvent]:
    return [ReadingEvent(device, tuple(Reading(device, k, float(i) + j * 0.1, "V", T0 + i * 0.01)
                                       for j, k in enumerate(ENTITIES)), T0 + i * 0.01) for i in range(n_polls)]


def _frozen(build: Callable[[], Any]) -> Any:
    data = build()
    gc.collect()
    gc.freeze()
    return data


def _thaw() -> None:
    gc.unfreeze()
    gc.collect()


def bench_recorder(folder: Path, n_polls: int) -> dict[str, Any]:
    events = _frozen(lambda: _polls(n_polls))

    async def main(events: list[ReadingEvent]) -> dict[str, Any]:
        bus = EventBus()
        store = SqliteHistoryStore(folder / f"recorder-{time.monotonic_ns()}.sqlite")
        recorder = Recorder.start(bus, store)
        loop = asyncio.get_running_loop()
        gaps: list[float] = []
        running = True

        async def ticker() -> None:
            last = loop.time()
            while running:
                await asyncio.sleep(0.002)
                now = loop.time()
                gaps.append(now - last)
                last = now

        tick = loop.create_task(ticker())
        await asyncio.sleep(0.01)
        started = time.perf_counter()
        for i, event in enumerate(events):
            bus.publish(event)
            if i % 100 == 99:
                await asyncio.sleep(0)
        await recorder.flush()
        elapsed = time.perf_counter() - started
        running = False
        await tick
        stats = recorder.stats()
        await recorder.stop()
        assert stats["stored_samples"] == stats["received_samples"] == n_polls * len(ENTITIES), stats
        gaps.sort()
        return {"seconds": elapsed, "samples": stats["stored_samples"], "batches": stats["batches"],
                "loop_max_gap_s": round(gaps[-1], 4), "loop_p99_gap_s": round(gaps[int(len(gaps) * 0.99)], 4)}

    try:
        return asyncio.run(main(events))
    finally:
        del events
        _thaw()


#: The one-row-per-sample table of schema version 1 (the raw ceiling's layout).
V1_SAMPLES = """CREATE TABLE samples (entity_id INTEGER NOT NULL, ts REAL NOT NULL, value REAL, text TEXT,
    unit_id INTEGER, quality INTEGER NOT NULL DEFAULT 0);
CREATE INDEX samples_entity_ts ON samples (entity_id, ts);"""


def bench_raw(folder: Path, n_polls: int) -> dict[str, Any]:
    path = folder / f"raw-{time.monotonic_ns()}.sqlite"
    store = SqliteHistoryStore(path)  # same file settings (WAL, pragmas), entities and units
    store.write_batch(_polls(1)[0].readings)
    store.close()
    setup = sqlite3.connect(path, isolation_level=None)
    setup.executescript(V1_SAMPLES)
    setup.close()
    rows = _frozen(lambda: [(1 + j, T0 + i * 0.01, float(i) + j * 0.1, None, 1, 0)
                            for i in range(n_polls) for j in range(len(ENTITIES))])
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=NORMAL")
        sql = "INSERT INTO samples (entity_id, ts, value, text, unit_id, quality) VALUES (?,?,?,?,?,?)"
        started = time.perf_counter()
        for k in range(0, len(rows), BATCH):
            conn.execute("BEGIN")
            conn.executemany(sql, rows[k:k + BATCH])
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
        n = len(rows)
        del rows
        _thaw()
    return {"seconds": elapsed, "samples": n}


def bench_qcodes(folder: Path, n_polls: int, per_call: int) -> dict[str, Any]:
    import numpy as np
    from qcodes.dataset import Measurement, initialise_or_create_database_at, load_or_create_experiment
    from qcodes.parameters import ManualParameter

    initialise_or_create_database_at(folder / f"qcodes-{time.monotonic_ns()}.db")
    exp = load_or_create_experiment("bench_history", sample_name="sim")
    t = ManualParameter("t", unit="s")
    params = [ManualParameter(k, unit="V") for k in ENTITIES]
    meas = Measurement(exp=exp)
    meas.register_parameter(t)
    for p in params:
        meas.register_parameter(p, setpoints=(t,))
    meas.write_period = 0.25
    times = T0 + np.arange(n_polls) * 0.01
    values = [times * 0 + j * 0.1 + np.arange(n_polls) for j in range(len(ENTITIES))]
    if per_call == 1:
        rows = _frozen(lambda: [((t, float(times[i])), *((p, float(v[i])) for p, v in zip(params, values,
                                                                                        strict=True)))
                                for i in range(n_polls)])
    else:
        rows = _frozen(lambda: [((t, times[k:k + per_call]), *((p, v[k:k + per_call]) for p, v in zip(
            params, values, strict=True))) for k in range(0, n_polls, per_call)])
    try:
        started = time.perf_counter()
        with meas.run() as saver:
            for row in rows:
                saver.add_result(*row)
        elapsed = time.perf_counter() - started
        stored = saver.dataset.number_of_results
    finally:
        del rows
        _thaw()
    return {"seconds": elapsed, "samples": n_polls * len(ENTITIES), "rows_stored": stored, "per_call": per_call}


def _build_decimate_file(path: Path, n_samples: int) -> None:
    """One entity at 10 Hz (a million samples is about 28 hours), written by the store in batches of
    the recorder's size (so chunks are as the recorder writes them under load)."""
    store = SqliteHistoryStore(path)
    try:
        store.write_batch([Reading("BAT", "voltage", 3.0, "V", T0 - 1.0)])
        for k in range(0, n_samples - 1, BATCH):
            store.write_batch([Reading("BAT", "voltage", 3.0 + (i % 3600) / 3600.0, "V", T0 + i * 0.1)
                               for i in range(k, min(k + BATCH, n_samples - 1))])
    finally:
        store.close()


def bench_decimated(folder: Path, n_samples: int, buckets: int, repeat: int) -> dict[str, Any]:
    from ionpy_widgets.engine.history import query_history

    path = folder / "decimate.sqlite"
    built = time.perf_counter()
    _build_decimate_file(path, n_samples)
    build_s = time.perf_counter() - built
    store = SqliteHistoryStore(path, create=False)
    try:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            frame = query_history(store, "BAT", "voltage", buckets=buckets)
            times.append(time.perf_counter() - started)
        assert int(frame["count"].sum()) == n_samples and len(frame) == buckets
        started = time.perf_counter()
        window = query_history(store, "BAT", "voltage", T0 + 3600, T0 + 7200, buckets=buckets)  # one hour
        hour_s = time.perf_counter() - started
    finally:
        store.close()
    return {"samples": n_samples, "buckets": buckets, "median_seconds": round(statistics.median(times), 4),
            "runs_seconds": [round(x, 4) for x in times], "build_seconds": round(build_s, 3),
            "one_hour_window_seconds": round(hour_s, 4), "one_hour_rows": len(window)}


def _rate(results: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [r["samples"] / r["seconds"] for r in results]
    extra = {k: v for k, v in results[-1].items() if k not in ("seconds", "samples")}
    return {"samples_per_s": round(statistics.median(rates)), "runs": [round(x) for x in rates],
            "samples": results[0]["samples"], **extra}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=30_000, help="polls of 10 samples per contender run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "history.json")
    args = parser.parse_args(argv)
    polls, repeat, sweep_polls, decim = args.polls, args.repeat, 5_000, 1_000_000
    if args.quick:
        polls, repeat, sweep_polls, decim = 3_000, 1, 1_000, 100_000
    wall = time.perf_counter()
    results: dict[str, Any] = {}
    runs: dict[str, list[dict[str, Any]]] = {"recorder": [], "raw_executemany": [], "qcodes_batched": []}
    with tempfile.TemporaryDirectory(prefix="bench_history_") as tmp:
        folder = Path(tmp)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import qcodes
            # QCoDeS's best batch size first (its fastest configuration is the one compared)
            sweep = {b: bench_qcodes(folder, sweep_polls, b) for b in (10, 100, 1000)}
            best = max(sweep, key=lambda b: sweep[b]["samples"] / sweep[b]["seconds"])
        except ImportError as exc:
            qcodes, best, sweep = None, 0, {}
            results["qcodes_batched"] = {"error": f"qcodes not installed: {exc}"}
        for _ in range(repeat):  # interleaved, so a change in machine load hits every contender alike
            runs["recorder"].append(bench_recorder(folder, polls))
            runs["raw_executemany"].append(bench_raw(folder, polls))
            if qcodes is not None:
                runs["qcodes_batched"].append(bench_qcodes(folder, polls, best))
        results["recorder"] = _rate(runs["recorder"])
        results["raw_executemany"] = _rate(runs["raw_executemany"])
        if qcodes is not None:
            results["qcodes_batched"] = {**_rate(runs["qcodes_batched"]), "version": qcodes.__version__,
                                         "sweep_samples_per_s_by_polls_per_call": {
                                             str(b): round(r["samples"] / r["seconds"]) for b, r in sweep.items()}}
            results["qcodes_per_poll"] = _rate([bench_qcodes(folder, sweep_polls, 1)])
        results["decimated_query"] = bench_decimated(folder, decim, 1000, 3)

    def ratio(a: str, b: str) -> float | None:
        if not runs[b]:
            return None
        per_rep = [(x["samples"] / x["seconds"]) / (y["samples"] / y["seconds"]) for x, y in zip(runs[a], runs[b],
                                                                                                strict=True)]
        return round(statistics.median(per_rep), 3)

    rec = results["recorder"]["samples_per_s"]
    ratios = {"vs_raw_ceiling": ratio("recorder", "raw_executemany"),
              "vs_qcodes_batched": ratio("recorder", "qcodes_batched"),
              "vs_qcodes_per_poll": round(rec / results["qcodes_per_poll"]["samples_per_s"], 1)
              if "qcodes_per_poll" in results else None,
              "raw_ceiling_vs_qcodes_batched": ratio("raw_executemany", "qcodes_batched")}
    targets = {"vs_qcodes_batched": 8.0, "vs_raw_ceiling": 0.6}
    report = {
        "benchmark": "history write throughput and decimated query",
        "config": {"entities_per_poll": len(ENTITIES), "polls": polls, "repeat": repeat, "batch_rows": BATCH,
                   "qcodes_sweep_polls": sweep_polls, "qcodes_polls_per_call": best, "quick": args.quick},
        "results": results, "ratios_median_of_interleaved_runs": ratios, "targets": targets,
        "meets_targets": {k: (ratios[k] is not None and ratios[k] >= v) for k, v in targets.items()},
        "runtime_seconds": round(time.perf_counter() - wall, 1),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "sqlite": sqlite3.sqlite_version, "cpus": os.cpu_count(),
                    "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None},
    }
    print(f"{'contender':<22}{'samples/s':>14}")
    for name in ("recorder", "raw_executemany", "qcodes_batched", "qcodes_per_poll"):
        if "samples_per_s" in results.get(name, {}):
            print(f"{name:<22}{results[name]['samples_per_s']:>14,}")
    for key, value in ratios.items():
        if value is not None:
            target = targets.get(key)
            print(f"{key:<32}{value:>8}" + (f"  (target >= {target})" if target else ""))
    dq = results["decimated_query"]
    print(f"decimated query: {dq['samples']:,} samples -> {dq['buckets']} buckets in {dq['median_seconds']:.3f} s "
          f"(one-hour window: {dq['one_hour_window_seconds']:.3f} s)")
    print(f"loop during recording: max gap {results['recorder']['loop_max_gap_s']} s, "
          f"p99 {results['recorder']['loop_p99_gap_s']} s; runtime {report['runtime_seconds']} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
