"""Runs and history on a real lab (a V01_Battery and a DPS5005 simulator on the virtual transport):
what a run records, reopening it in a fresh process (same DataFrames, writes with their sources),
lab.history and its decimated form, the chart's backfill, export and plots, and the errors."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from engine_helpers import wait_until

import ionpy_widgets as ion
from ionpy_widgets.engine.atomic import StorageError
from ionpy_widgets.engine.journal import MissingDependencyError
from ionpy_widgets.engine.lab import Lab
from ionpy_widgets.engine.settings import EngineSettings
from ionpy_widgets.engine.storage import HistoryError, NotRecordingError, RunNotFoundError
from ionpy_widgets.errors import ConfigValidationError

FAST = EngineSettings(backoff_initial=0.02, backoff_max=0.1, backoff_jitter=0.0, connect_timeout=1.0,
                      poll_timeout=1.0, close_timeout=0.3)
CONF = {"devices": [
    {"id": "BAT", "driver": "V01_Battery", "poll_interval": 0.01},
    {"id": "DPS5005_1", "driver": "DPS5005", "poll_interval": 0.05,
     "transport": {"type": "virtual", "params": {"simulator": "dps5005"}}},
]}
FRAMES = ("samples", "journal", "events", "alarms", "entities")


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    lab = await Lab.start(CONF, name="runs-tests", settings=FAST, record=tmp_path / "history.sqlite")
    try:
        await lab.wait_online(timeout=3)
        yield lab
    finally:
        await lab.stop()


async def _sweep(lab: Lab) -> Any:
    psu = lab["DPS5005_1"]
    async with lab.run("iv-sweep-led", notes="red LED, 100 ohm") as run:
        await psu.write("i_set", 0.05)
        await psu.write("output", True, source="widget")
        for u in (0.5, 1.0, 1.5):
            await psu.write("u_set", u)
            await asyncio.sleep(0.06)
        await psu.write("output", False)
    return run


async def test_a_run_records_its_span_config_identities_and_writes(lab: Lab) -> None:
    before = time.time()
    run = await _sweep(lab)
    assert run.status == "completed" and run.name == "iv-sweep-led" and run.notes == "red LED, 100 ohm"
    assert before <= run.started.timestamp() < run.stopped.timestamp() <= time.time() and run.duration > 0.15
    samples = run.samples
    assert list(samples.columns) == ["device", "entity", "timestamp", "value", "unit", "quality"]
    assert str(samples["timestamp"].dt.tz) == "UTC" and samples["timestamp"].is_monotonic_increasing
    assert samples["timestamp"].between(run.started, run.stopped).all()
    assert {"BAT", "DPS5005_1"} <= set(samples["device"])
    u_out = samples[(samples.device == "DPS5005_1") & (samples.entity == "u_out")]
    assert set(u_out["unit"]) == {"V"} and len(u_out) >= 3
    journal = run.journal
    assert list(journal[["entity", "value", "source"]].itertuples(index=False, name=None)) == [
        ("i_set", 0.05, "code"), ("output", True, "widget"), ("u_set", 0.5, "code"), ("u_set", 1.0, "code"),
        ("u_set", 1.5, "code"), ("output", False, "code")]
    assert journal["ok"].all() and set(journal.loc[journal.entity == "u_set", "unit"]) == {"V"}
    assert run.config["devices"][1]["transport"]["params"] == {"simulator": "dps5005"}
    assert run.identities["DPS5005_1"]["identity"]["model"] == "DPS5005"
    assert run.identities["BAT"]["identity"]["serial"] == "V01-4S-2.5Ah"
    drivers = run.drivers
    assert drivers["DPS5005"]["class"].endswith("DPSDriver") and drivers["DPS5005"]["version"] == ion.__version__
    labels = dict(zip(run.entities["entity"], run.entities["label"], strict=False))
    assert labels["u_out"] and labels["soc"] == "State of charge"
    assert lab.active_runs == [] and "completed" in repr(run)


async def test_a_run_reopened_in_a_fresh_process_gives_the_same_frames(lab: Lab, tmp_path: Path) -> None:
    run = await _sweep(lab)
    here = {name: getattr(run, name) for name in FRAMES}
    out = tmp_path / "reopened"
    script = (
        "import sys, pickle, ionpy_widgets as ion\n"
        "run = ion.open_run(sys.argv[1], 'iv-sweep-led')\n"
        "frames = {n: getattr(run, n) for n in sys.argv[3].split(',')}\n"
        "frames['info'] = run.info\n"
        "pickle.dump(frames, open(sys.argv[2], 'wb'))\n"
    )
    location = run.location
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, location, str(out), ",".join(FRAMES),
                                                stderr=subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    there = pd.read_pickle(out)
    for name in FRAMES:
        pd.testing.assert_frame_equal(here[name], there[name], obj=name)
    assert there["journal"]["source"].tolist() == ["code", "widget", "code", "code", "code", "code"]
    assert there["info"]["status"] == "completed" and there["info"]["identities"] == run.identities


async def test_history_returns_units_and_decimates(lab: Lab) -> None:
    await wait_until(lambda: len(lab.history("BAT", "voltage")) > 20, what="recorded voltages", timeout=3)
    df = lab.history("BAT", "voltage")
    assert list(df.columns) == ["timestamp", "value", "unit", "quality"]
    assert df.attrs["unit"] == "V" and str(df["timestamp"].dt.tz) == "UTC" and df["value"].dtype == "float64"
    newest = df["timestamp"].iloc[-1]
    recent = lab.history("BAT", "voltage", start=newest - pd.Timedelta("50ms"))
    assert 2 <= len(recent) < len(df)
    dec = lab.history("BAT", "voltage", buckets=4)
    assert list(dec.columns) == ["timestamp", "min", "max", "mean", "count", "unit"]
    assert 1 <= len(dec) <= 4 and (dec["min"] <= dec["max"]).all() and dec.attrs["unit"] == "V"
    fresh = await lab.history_async("BAT", "voltage")  # commits what is queued first
    assert len(fresh) >= len(df)
    output = lab.history("DPS5005_1", "output")
    assert set(output["value"]) <= {0.0, 1.0}


async def test_the_chart_backfills_from_lab_history(lab: Lab) -> None:
    from ionpy_widgets.widgets.chart import LiveChart

    await wait_until(lambda: len(lab.history("BAT", "voltage")) > 30, what="recorded voltages", timeout=3)
    chart = LiveChart(lab, "BAT.voltage", window="1min", rate_hz=50, name="history-backfill")
    try:
        await wait_until(lambda: len(chart.series[0].buffer) > 30, what="the backfill", timeout=3)
        assert chart.history_error is None
    finally:
        chart.close()


async def test_a_lab_that_is_not_recording_records_for_the_run(tmp_path: Path) -> None:
    async with Lab.start(CONF, name="runs-tests-plain", settings=FAST) as lab:
        await lab.wait_online(timeout=3)
        with pytest.raises(NotRecordingError) as info:
            lab.history("BAT", "voltage")
        assert "record=" in info.value.hint
        async with lab.run("short", path=tmp_path / "runs.sqlite") as run:
            assert lab.history_recorder is not None
            await asyncio.sleep(0.05)
        assert lab.history_recorder is None  # the run's own recording ended with it
        assert len(run.samples) > 0 and run.location == str(tmp_path / "runs.sqlite")
        with pytest.raises(HistoryError, match="name"):
            lab.run("  ")
    reopened = ion.open_run(tmp_path / "runs.sqlite")
    assert reopened.name == "short" and len(reopened.samples) == len(run.samples)
    reopened.close()


async def test_failed_and_interrupted_runs_are_marked(lab: Lab, tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError):
        async with lab.run("broken") as run:
            1 / 0  # noqa: B018
    assert run.status == "failed" and "ZeroDivisionError" in run.info["meta"]["error"]
    other = lab.run("left-open")
    with pytest.raises(HistoryError, match="not begun"):
        other.samples  # noqa: B018
    await other.begin()
    assert lab.active_runs == [other]
    with pytest.raises(HistoryError, match="already begun"):
        await other.begin()
    await lab.stop()  # ends it: every sample committed, status "stopped"
    assert other.status == "stopped" and other.stopped is not None
    runs = ion.list_runs(run.location)
    assert runs["name"].tolist() == ["broken", "left-open"] and runs["status"].tolist() == ["failed", "stopped"]
    assert str(runs["started"].dt.tz) == "UTC"


async def test_export_to_csv_and_parquet_and_plot(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = await _sweep(lab)
    files = run.to_csv(tmp_path / "csv")
    assert sorted(f.name for f in files) == ["alarms.csv", "entities.csv", "events.csv", "journal.csv", "run.json",
                                             "samples.csv"]
    assert len(pd.read_csv(tmp_path / "csv" / "samples.csv")) == len(run.samples)
    assert json.loads((tmp_path / "csv" / "run.json").read_text())["name"] == "iv-sweep-led"
    run.to_parquet(tmp_path / "pq")
    samples = pd.read_parquet(tmp_path / "pq" / "samples.parquet")
    numbers = pd.to_numeric(run.samples["value"], errors="coerce").astype("float64")
    pd.testing.assert_series_equal(samples["value"], numbers, check_names=False)
    texts = run.samples["value"].map(lambda v: isinstance(v, str))
    assert samples.loc[texts.to_numpy(), "text"].tolist() == run.samples.loc[texts, "value"].tolist()
    assert pd.read_parquet(tmp_path / "pq" / "journal.parquet")["source"].tolist()[1] == "widget"
    fig = run.plot("DPS5005_1.u_out", "DPS5005_1.i_out", buckets=50)
    assert len(fig.axes) == 2 and {ax.get_ylabel() for ax in fig.axes} == {"V", "A"}
    assert len(run.plot().axes) >= 3  # every numeric entity, one panel per unit
    with pytest.raises(ConfigValidationError, match="no recorded series") as info:
        run.plot("DPS5005_1.nothing")
    assert "DPS5005_1.u_out" in info.value.hint
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match="matplotlib") as missing:
        run.plot()
    assert "pip install matplotlib" in missing.value.hint
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(MissingDependencyError, match="pyarrow"):
        run.to_parquet(tmp_path / "pq2")


async def test_open_run_errors_name_what_to_do(lab: Lab, tmp_path: Path) -> None:
    await _sweep(lab)
    location = lab.history_recorder.store.location
    with pytest.raises(RunNotFoundError) as info:
        ion.open_run(location, "nope")
    assert "iv-sweep-led" in info.value.hint
    with pytest.raises(StorageError, match="no recording"):
        ion.open_run(tmp_path / "missing.sqlite")
    by_id = ion.open_run(location, 1)
    assert by_id.name == "iv-sweep-led"
    by_id.close()
    with pytest.raises(HistoryError, match="already records"):
        await lab.record(tmp_path / "elsewhere.sqlite")
    assert await lab.record(location) is lab.history_recorder
