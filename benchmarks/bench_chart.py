"""A 4-series live chart at 10 Hz with a one-hour window: bytes sent to the browser and kernel CPU,
ionpy's LiveChart against a naive bqplot push of the full arrays, in the same run.

Both sides start from the same state: one hour of 4 series sampled at 10 Hz (36,000 samples each)
already recorded. Then ``--ticks`` live ticks (default 300 = 30 s at 10 Hz) replay time faster
than real: each tick one new reading per series arrives (a ``ReadingEvent`` published on a real
lab's bus), and the chart pushes once.

* **ionpy** — ``LiveChart(lab, 4 series, window="1h", buckets=600)``; each tick is
  ``chart.bridge.flush_now()``: the bridge drains the bus into the ring buffers and pushes every
  line decimated to ≤ 1,200 points (min/max per pixel bucket), batched with ``hold_sync``.
* **naive** — a bqplot Figure with 4 Lines fed from the same kind of buffers; each tick sets every
  line's ``x`` and ``y`` to the full hour (36,000+ points), also batched with ``hold_sync``.

Bytes are measured identically for both: ``ipywidgets.Widget._send`` is replaced by a recorder
that counts ``len(json.dumps(msg))`` plus the size of every binary buffer — exactly what the
kernel would hand to the comm. CPU is ``time.process_time`` over the live phase (serialisation by
the recorder included, on both sides). Per second means per second of replayed time.

Results: a table on stdout and ``benchmarks/results/chart.json``.

    python benchmarks/bench_chart.py            # a few seconds
    python benchmarks/bench_chart.py --ticks 50 # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import ipywidgets
import numpy as np

from ionpy_widgets.engine.events import ReadingEvent
from ionpy_widgets.engine.lab import Lab
from ionpy_widgets.widgets.chart import LiveChart, bqplot
from ionpy_widgets.widgets.series import SeriesBuffer

SERIES = ("BAT.voltage", "BAT.current", "BAT.power", "BAT.temperature")
UNITS = {"voltage": "V", "current": "A", "power": "W", "temperature": "°C"}
RATE_HZ = 10.0
SAMPLE_HZ = 10.0
WINDOW_S = 3600.0
BUCKETS = 600
TARGET_BYTES_RATIO = 0.1


class CommRecorder:
    """Counts what every widget would send: JSON text plus binary buffers."""

    def __init__(self) -> None:
        self.messages = 0
        self.json_bytes = 0
        self.buffer_bytes = 0
        self.max_points = 0

    def send(self, widget: ipywidgets.Widget, msg: dict[str, Any], buffers: Any = None) -> None:
        self.messages += 1
        self.json_bytes += len(json.dumps(msg, separators=(",", ":")))
        sizes = [memoryview(b).nbytes for b in buffers or ()]
        self.buffer_bytes += sum(sizes)
        if sizes:
            self.max_points = max(self.max_points, max(sizes) // 8)

    @property
    def total(self) -> int:
        return self.json_bytes + self.buffer_bytes

    @contextmanager
    def installed(self) -> Iterator[CommRecorder]:
        original = ipywidgets.Widget._send
        ipywidgets.Widget._send = lambda widget, msg, buffers=None: self.send(widget, msg, buffers)
        try:
            yield self
        finally:
            ipywidgets.Widget._send = original


def noisy(t: np.ndarray[Any, Any], index: int) -> np.ndarray[Any, Any]:
    """Plausible bench signals: a slow drift, noise and a few spikes."""
    rng = np.random.default_rng([index, t.size])
    base = (12.0, 1.5, 18.0, 30.0)[index]
    y = base + 0.05 * base * np.sin(t / (300.0 + 60 * index)) + 0.002 * base * rng.standard_normal(t.size)
    y[rng.integers(0, t.size, 5)] *= 1.3
    return y


def ramp(t: np.ndarray[Any, Any], index: int) -> np.ndarray[Any, Any]:
    """The worst case for the decimated chart: every new sample is a new maximum of the newest
    bucket, so every push resends every line."""
    return (12.0, 1.5, 18.0, 30.0)[index] + 1e-4 * (t % 1e6)


SIGNALS: dict[str, Callable[[np.ndarray[Any, Any], int], np.ndarray[Any, Any]]] = {
    "drift+noise+spikes": noisy, "ramp (worst case: every line changes every push)": ramp}


def measure(label: str, ticks: int, step: Callable[[int], None]) -> dict[str, Any]:
    recorder = CommRecorder()
    durations: list[float] = []
    with recorder.installed():
        cpu0 = time.process_time()
        for i in range(ticks):
            started = time.perf_counter()
            step(i)
            durations.append(time.perf_counter() - started)
        cpu = time.process_time() - cpu0
    seconds = ticks / RATE_HZ
    return {"label": label, "ticks": ticks, "replayed_s": seconds, "messages": recorder.messages,
            "bytes": recorder.total, "json_bytes": recorder.json_bytes, "buffer_bytes": recorder.buffer_bytes,
            "bytes_per_s": recorder.total / seconds, "messages_per_s": recorder.messages / seconds,
            "cpu_s": cpu, "cpu_s_per_s": cpu / seconds, "max_points_per_array": recorder.max_points,
            "push_ms_median": 1e3 * statistics.median(durations), "push_ms_max": 1e3 * max(durations)}


async def scenario(lab: Lab, signal: Callable[[np.ndarray[Any, Any], int], np.ndarray[Any, Any]],
                   ticks: int) -> dict[str, Any]:
    """One signal: the LiveChart and the naive chart from the same hour, over the same live ticks."""
    start = time.time()
    history_t = np.arange(start - WINDOW_S, start, 1 / SAMPLE_HZ)
    history = [signal(history_t, i) for i in range(len(SERIES))]
    live_t = start + np.arange(1, ticks + 1) / SAMPLE_HZ  # one new sample per series per tick
    live = [signal(live_t, i) for i in range(len(SERIES))]
    entities = [s.split(".")[1] for s in SERIES]
    now = [start]

    # --- ionpy: LiveChart, driven through its bridge -----------------------------------------------
    chart = LiveChart(lab, *SERIES, window="1h", buckets=BUCKETS, rate_hz=RATE_HZ, clock=lambda: now[0])
    chart.bridge.drain()
    for item, y in zip(chart.series, history, strict=True):
        item.buffer.clear()
        item.buffer.extend(history_t, y)
    chart.bridge.mark("view")
    chart.bridge.flush_now()  # the first full draw is not part of the steady state

    def ionpy_tick(i: int) -> None:
        now[0] = float(live_t[i])
        values = {name: float(series[i]) for name, series in zip(entities, live, strict=True)}
        lab.bus.publish(ReadingEvent.from_values("BAT", values, UNITS, timestamp=now[0]))
        chart.bridge.flush_now()

    ours = measure("ionpy LiveChart (decimated)", ticks, ionpy_tick)
    chart.close()

    # --- naive: full arrays into bqplot every tick -------------------------------------------------
    x_scale = bqplot.DateScale()
    buffers = [SeriesBuffer(100_000) for _ in SERIES]
    lines = [bqplot.Lines(scales={"x": x_scale, "y": bqplot.LinearScale()}, labels=[s]) for s in SERIES]
    figure = bqplot.Figure(marks=lines, axes=[bqplot.Axis(scale=x_scale)], animation_duration=0)
    for buf, y in zip(buffers, history, strict=True):
        buf.extend(history_t, y)

    def naive_tick(i: int) -> None:
        t_now = float(live_t[i])
        for buf, line, series in zip(buffers, lines, live, strict=True):
            buf.append(t_now, float(series[i]))
            t, y = buf.window(t_now - WINDOW_S, t_now)
            with line.hold_sync():
                line.x = np.rint(t * 1e3).astype(np.int64).view("datetime64[ms]")
                line.y = y.copy()

    naive = measure("naive bqplot (full arrays)", ticks, naive_tick)
    for widget in (figure, *lines, x_scale):
        widget.close()
    return {"ionpy": ours, "naive": naive,
            "ratio": {"bytes": ours["bytes_per_s"] / naive["bytes_per_s"],
                      "cpu": ours["cpu_s_per_s"] / naive["cpu_s_per_s"]}}


async def run(ticks: int) -> dict[str, Any]:
    conf = {"devices": [{"id": "BAT", "driver": "V01_Battery", "poll_interval": 3600}]}
    lab = await Lab.start(conf, name="bench-chart")
    try:
        await lab.wait_online(timeout=5)
        scenarios = {name: await scenario(lab, signal, ticks) for name, signal in SIGNALS.items()}
    finally:
        await lab.stop()
    worst = max(s["ratio"]["bytes"] for s in scenarios.values())
    return {
        "benchmark": "live chart, 4 series, 10 Hz pushes, 1 h window, 10 Hz sampling",
        "config": {"series": list(SERIES), "window_s": WINDOW_S, "sample_hz": SAMPLE_HZ, "rate_hz": RATE_HZ,
                   "buckets": BUCKETS, "prefilled_samples_per_series": int(WINDOW_S * SAMPLE_HZ), "ticks": ticks,
                   "replayed_s": ticks / RATE_HZ},
        "scenarios": scenarios,
        "bytes_ratio_worst": worst, "target_bytes_ratio": TARGET_BYTES_RATIO,
        "meets_target": worst <= TARGET_BYTES_RATIO,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "numpy": np.__version__, "bqplot": bqplot.__version__, "ipywidgets": ipywidgets.__version__},
    }


def report(result: dict[str, Any]) -> str:
    out: list[str] = []
    for name, sc in result["scenarios"].items():
        rows = [(name, "bytes/s", "msgs/s", "CPU s/s", "points/array", "push ms (median/max)")]
        for side in ("ionpy", "naive"):
            r = sc[side]
            rows.append((r["label"], f"{r['bytes_per_s']:,.0f}", f"{r['messages_per_s']:.0f}",
                         f"{r['cpu_s_per_s']:.4f}", f"{r['max_points_per_array']:,}",
                         f"{r['push_ms_median']:.2f} / {r['push_ms_max']:.2f}"))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        out += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
        out.append(f"  bytes ratio {sc['ratio']['bytes']:.4f}, CPU ratio {sc['ratio']['cpu']:.3f}")
    out.append(f"worst bytes ratio {result['bytes_ratio_worst']:.4f} (target <= {result['target_bytes_ratio']}: "
               f"{'met' if result['meets_target'] else 'MISSED'})")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", type=int, default=300, help="live ticks to replay (10 per replayed second)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "chart.json")
    args = parser.parse_args()
    result = asyncio.run(run(args.ticks))
    print(report(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
