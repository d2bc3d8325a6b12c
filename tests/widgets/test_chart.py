"""The live chart against a real lab: a V01_Battery (pure software) and a DPS5005 simulator on the
virtual transport. Plain Python widget tests: comm messages are recorded instead of sent."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import ipywidgets
import numpy as np
import pandas as pd
import pytest
from widget_helpers import FAST, running_lab
from widget_helpers import wait_until_fast as wait_until

from ionpy_widgets.engine.events import SystemEvent, SystemKind
from ionpy_widgets.engine.lab import Lab
from ionpy_widgets.errors import ConfigValidationError, DeviceNotFoundError, EntityError
from ionpy_widgets.widgets.chart import LiveChart, format_window, lab_chart, parse_window

CONF = {"devices": [
    {"id": "BAT", "driver": "V01_Battery", "poll_interval": 0.01},
    {"id": "DPS5005_1", "driver": "DPS5005", "poll_interval": 0.05,
     "transport": {"type": "virtual", "params": {"simulator": "dps5005"}}},
]}


@dataclass
class Sent:
    widget: ipywidgets.Widget
    keys: set[str]
    nbytes: int
    at: float


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[Sent]:
    """Every state update a widget sends (binary buffers counted by size)."""
    messages: list[Sent] = []

    def record(self: ipywidgets.Widget, msg: dict[str, Any], buffers: Any = None) -> None:
        size = sum(memoryview(b).nbytes for b in buffers or ())
        messages.append(Sent(self, set(msg.get("state", {})), size, time.monotonic()))

    monkeypatch.setattr(ipywidgets.Widget, "_send", record)
    return messages


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with running_lab(CONF, lab_class=Lab, online_timeout=3, name="chart-tests", settings=FAST) as lab:
        yield lab


@pytest.fixture
async def charts() -> AsyncIterator[list[LiveChart]]:
    made: list[LiveChart] = []
    yield made
    for chart in made:
        chart.close()


def test_time_windows() -> None:
    cases = {"30s": 30, "5min": 300, "1h": 3600, "1.5h": 5400, "2d": 172800, "90": 90, 45: 45, "250ms": 0.25,
             " 10 minutes ": 600, "2 hours": 7200, "15 sec": 15, 0.5: 0.5}
    for text, seconds in cases.items():
        assert parse_window(text) == seconds, text
    for bad in ("", "-5s", "5 parsecs", 0, -1, True, "abc", None, float("inf")):
        with pytest.raises(ConfigValidationError, match="window") as info:
            parse_window(bad)  # type: ignore[arg-type]
        assert "5min" in info.value.hint
    assert [format_window(s) for s in (30, 300, 3600, 90, 5400, 86400, 0.25)] == \
        ["30s", "5min", "1h", "90s", "90min", "1d", "0.25s"]


async def test_units_label_the_axes_and_the_legend(lab: Lab, charts: list[LiveChart]) -> None:
    chart = lab_chart(lab, "DPS5005_1.u_out", "DPS5005_1.i_out", "BAT.voltage", window="30s")
    charts.append(chart)
    assert isinstance(chart, LiveChart) and isinstance(chart, ipywidgets.VBox) and chart.figure in chart.children
    x_axis, *y_axes = chart.axes
    assert type(x_axis.scale).__name__ == "DateScale"
    assert [(a.label, a.side) for a in y_axes] == [("V", "left"), ("A", "right")] and x_axis.side == "bottom"
    marks = [s.mark for s in chart.series]
    assert [m.labels for m in marks] == [["DPS5005_1.u_out [V]"], ["DPS5005_1.i_out [A]"], ["BAT.voltage [V]"]]
    assert marks[0].scales["y"] is marks[2].scales["y"] is y_axes[0].scale  # one scale per unit
    assert marks[1].scales["y"] is y_axes[1].scale and all(m.display_legend for m in marks)
    await wait_until(lambda: all(len(m.y) > 0 for m in marks), what="data on every line")
    assert marks[0].x.dtype.kind == "M" and "DPS5005_1.u_out:" in chart.status.value and "pts" in chart.status.value
    assert "DPS5005_1.u_out" in repr(chart) and "live" in repr(chart)


async def test_bad_series_names_raise_with_hints(lab: Lab) -> None:
    with pytest.raises(ConfigValidationError) as info:
        LiveChart(lab)
    assert info.value.path == "series"
    with pytest.raises(ConfigValidationError) as info:
        LiveChart(lab, "BAT.voltage", "u_out")
    assert info.value.path == "series[1]" and "DPS5005_1.u_out" in info.value.hint
    with pytest.raises(DeviceNotFoundError) as dev_info:
        LiveChart(lab, "NOPE.u_out")
    assert "BAT" in dev_info.value.hint
    with pytest.raises(EntityError) as ent_info:
        LiveChart(lab, "DPS5005_1.u_outt")
    assert "u_out" in ent_info.value.hint
    with pytest.raises(ConfigValidationError, match="text"):
        LiveChart(lab, "DPS5005_1.model")
    with pytest.raises(ConfigValidationError, match="twice"):
        LiveChart(lab, "BAT.voltage", "BAT.voltage")
    with pytest.raises(ConfigValidationError) as info:
        LiveChart(lab, "BAT.voltage", buckets=1)
    assert info.value.path == "buckets"
    with pytest.raises(ConfigValidationError, match="rate_hz"):
        LiveChart(lab, "BAT.voltage", rate_hz=0)
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("ionpy-bridge:")]


async def test_pushes_per_second_stay_under_the_rate(lab: Lab, charts: list[LiveChart], sent: list[Sent]) -> None:
    chart = LiveChart(lab, "BAT.voltage", "BAT.current", window="30s", rate_hz=10)
    charts.append(chart)
    mark = chart.series[0].mark
    start = time.monotonic()
    await wait_until(lambda: time.monotonic() - start > 1.3, timeout=3)
    updates = [m.at for m in sent if m.widget is mark and "y" in m.keys]
    assert len(updates) >= 8  # the battery polls at 100 Hz: the chart pushes at (nearly) its rate
    for first in updates:
        assert sum(1 for at in updates if first <= at < first + 1.0) <= 11
    assert chart.bridge.pushes <= 15 and chart.bridge.events > 50


async def test_bytes_per_update_are_bounded_however_long_the_window(lab: Lab, charts: list[LiveChart],
                                                                    sent: list[Sent]) -> None:
    chart = LiveChart(lab, "DPS5005_1.u_out", "DPS5005_1.i_out", window="1h", buckets=300)
    charts.append(chart)
    chart.pause()  # live data must not interleave with the synthetic hour
    now = time.time()
    t = np.arange(now - 3600, now, 0.1)  # one hour at 10 Hz
    rng = np.random.default_rng(3)
    for item in chart.series:
        item.buffer.clear()
        item.buffer.extend(t, 5 + rng.standard_normal(t.size))
    assert len(chart.series[0].buffer) == 36_000
    sent.clear()
    chart.redraw(now)
    for item in chart.series:
        assert item.mark.x.size == item.mark.y.size <= 600
        updates = [m for m in sent if m.widget is item.mark]
        assert len(updates) == 1 and updates[0].keys == {"x", "y"}
        assert updates[0].nbytes <= 600 * 8 * 2  # float64 ms times + float64 values
    naive_bytes = 36_000 * 8 * 2
    assert sum(m.nbytes for m in sent) < 0.05 * naive_bytes * len(chart.series)


async def test_pause_freezes_the_lines_and_resume_jumps_to_now(lab: Lab, charts: list[LiveChart],
                                                               sent: list[Sent]) -> None:
    chart = LiveChart(lab, "BAT.voltage", window="30s", rate_hz=20)
    charts.append(chart)
    item = chart.series[0]
    await wait_until(lambda: len(item.mark.y) > 3)
    chart.pause_button.value = True  # the user clicks "Pause"
    assert chart.paused_at is not None and chart.pause_button.description == "Resume"
    frozen_x, held = item.mark.x.copy(), len(item.buffer)
    sent.clear()
    await wait_until(lambda: len(item.buffer) > held + 20, what="more readings while paused")
    await wait_until(lambda: chart.bridge.pushes > 0 and "paused at" in chart.status.value)
    assert np.array_equal(item.mark.x, frozen_x)
    assert not [m for m in sent if m.widget in (item.mark, chart._frame)]  # nothing sent for the lines
    assert "still recording" in chart.status.value
    chart.pause_button.value = False  # "Resume"
    assert chart.paused_at is None and chart.pause_button.description == "Pause"
    await wait_until(lambda: len(item.mark.x) > len(frozen_x), what="the newer readings on the line")
    window_end = chart._frame.x[-1].astype("datetime64[ms]").astype(np.int64) / 1e3
    assert abs(window_end - time.time()) < 1.0


async def test_a_loop_stall_shows_in_the_status_line(lab: Lab, charts: list[LiveChart]) -> None:
    chart = LiveChart(lab, "BAT.voltage", window="30s")
    charts.append(chart)
    lab.watchdog.record(4.8)  # what the watchdog does after a cell blocked the loop for 4.8 s
    await wait_until(lambda: "polling was paused" in chart.status.value, what="the stall message")
    match = re.search(r"polling was paused for (\d+\.\d) s at (\d\d:\d\d:\d\d)", chart.status.value)
    assert match and match[1] == "4.8"
    assert chart.stall is not None and abs(chart.stall[0] - (time.time() - 4.8)) < 1.0


async def test_an_unavailable_device_leaves_a_gap(lab: Lab, charts: list[LiveChart]) -> None:
    chart = LiveChart(lab, "BAT.voltage", "DPS5005_1.u_out", window="30s")
    charts.append(chart)
    bat, dps = chart.series
    await wait_until(lambda: len(bat.buffer) > 0 and len(dps.buffer) > 0)
    lab.bus.publish(SystemEvent(SystemKind.AVAILABILITY, "BAT", {"available": False, "state": "unavailable"}))
    await wait_until(lambda: np.isnan(bat.buffer.arrays()[1]).any(), what="a gap in BAT.voltage")
    assert not np.isnan(dps.buffer.arrays()[1]).any()  # the other device is untouched
    await wait_until(lambda: np.isnan(bat.mark.y).any(), what="the gap on the line")


async def test_the_window_selector_changes_the_span(lab: Lab, charts: list[LiveChart]) -> None:
    chart = LiveChart(lab, "BAT.voltage", window=45)
    charts.append(chart)
    assert chart.window_select.value == "45s" and chart.window_select.options[0] == "45s"
    chart.window_select.value = "1h"
    assert chart.window == 3600
    chart.set_window("2h")
    assert chart.window_select.value == "2h" and chart.window == 7200

    def span() -> float:
        x = chart._frame.x.astype("datetime64[ms]").astype(np.int64)
        return float(x[1] - x[0]) / 1e3

    await wait_until(lambda: span() == 7200, what="the new span on the x axis")
    with pytest.raises(ConfigValidationError):
        chart.set_window("soon")


async def test_history_backfills_the_buffers_on_open(lab: Lab, charts: list[LiveChart]) -> None:
    asked: list[tuple[Any, ...]] = []
    now = time.time()

    async def history(device: str, entity: str, start: float, end: float, buckets: int = 0) -> pd.DataFrame:
        asked.append((device, entity, round(end - start), buckets))
        stamps = pd.to_datetime(np.arange(now - 60, now - 30, 1.0), unit="s", utc=True)
        return pd.DataFrame({"timestamp": stamps, "value": np.arange(30.0)})

    lab.history = history  # type: ignore[attr-defined]  # a later issue adds lab.history
    chart = LiveChart(lab, "BAT.voltage", window="5min", capacity=1000)
    charts.append(chart)
    await wait_until(lambda: len(chart.series[0].mark.y) > 30, what="history and live data on the line")
    assert asked == [("BAT", "voltage", 300, 500)]
    t, y = chart.series[0].buffer.arrays()
    assert y[0] == 0.0 and abs(t[0] - (now - 60)) < 1e-3 and y[29] == 29.0 and np.all(np.diff(t) >= 0)


async def test_history_failure_is_shown_and_live_data_goes_on(lab: Lab, charts: list[LiveChart]) -> None:
    def history(device: str, entity: str, start: float, end: float) -> None:
        raise OSError("history.db is locked")

    lab.history = history  # type: ignore[attr-defined]
    chart = LiveChart(lab, "BAT.voltage", window="30s")
    charts.append(chart)
    await wait_until(lambda: "no history: history.db is locked" in chart.status.value)
    await wait_until(lambda: len(chart.series[0].mark.y) > 0)


async def test_a_lab_that_is_not_recording_is_not_an_error(lab: Lab, charts: list[LiveChart]) -> None:
    chart = LiveChart(lab, "BAT.voltage", window="30s")  # the real lab.history: this lab records nothing
    charts.append(chart)
    await wait_until(lambda: len(chart.series[0].mark.y) > 0)
    await wait_until(lambda: "pts" in chart.status.value)
    assert chart.history_error is None and "no history" not in chart.status.value


async def test_close_stops_the_bridge_and_the_widgets(lab: Lab) -> None:
    chart = LiveChart(lab, "BAT.voltage", window="30s")
    await wait_until(lambda: chart.bridge.pushes > 0)
    chart.close()
    await asyncio.sleep(0)
    assert not chart.bridge.running and chart.comm is None and chart.figure.comm is None
    assert chart.series[0].mark.comm is None and chart.status.comm is None
    chart.close()  # twice is harmless


async def test_the_status_says_when_the_lab_stopped(lab: Lab, charts: list[LiveChart]) -> None:
    chart = LiveChart(lab, "BAT.voltage", window="30s")
    charts.append(chart)
    await lab.stop()
    await wait_until(lambda: "the lab stopped" in chart.status.value)
    assert not chart.bridge.running


async def test_running_the_cell_again_replaces_the_previous_chart(lab: Lab, charts: list[LiveChart]) -> None:
    first = LiveChart(lab, "BAT.voltage", window="30s")
    other = LiveChart(lab, "BAT.current", window="30s")
    again = LiveChart(lab, "BAT.voltage", window="1min")  # the same cell, edited and run again
    named = LiveChart(lab, "BAT.voltage", window="30s", name="second view")
    charts.extend([first, other, again, named])
    await asyncio.sleep(0)
    assert not first.bridge.running and first.comm is None
    assert other.bridge.running and again.bridge.running and named.bridge.running


async def test_the_status_line_shows_a_series_first_points_at_once(lab: Lab, charts: list[LiveChart]) -> None:
    # counts are refreshed at most once a second, but a line that gets its first points says so at once
    # (a chart whose clock stands still never reaches that second)
    frozen = time.time()
    chart = lab_chart(lab, "DPS5005_1.u_out", window="30s", clock=lambda: frozen)
    charts.append(chart)
    if len(chart.series[0].buffer) == 0:
        assert "DPS5005_1.u_out: 0 pts" in chart.status.value
    await wait_until(lambda: len(chart.series[0].buffer) > 0 and chart.bridge.pushes > 0, what="a push with data")
    first = re.search(r"u_out: ([\d,]+) pts", chart.status.value)
    assert first is not None and int(first.group(1).replace(",", "")) > 0, chart.status.value
    count = len(chart.series[0].buffer)
    await wait_until(lambda: len(chart.series[0].buffer) > count + 2, what="more readings")
    assert chart.status.value.startswith(f"DPS5005_1.u_out: {first.group(1)} pts")  # the 1 s limit still holds
