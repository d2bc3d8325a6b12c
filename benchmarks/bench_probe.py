"""Connection probe: end-to-end time of ``probe("DPS5005", "serial", ...)`` against a simulated DPS5005.

The simulator runs in its own process (``python -m ionpy_widgets simulate dps5005 --serial --json``)
on a real pseudo-terminal, so the probe pays for real serial I/O through pyserial-asyncio-fast and
the other process's scheduling, as it would with a USB adapter. Readiness is the simulator's first
``--json`` stdout line, never a sleep.

Scenarios, each ``--repeat`` probes in one process (all must succeed, or the benchmark fails):

* ``pty``: replies as fast as the simulator computes them;
* ``pty-9600``: the simulator holds each reply back by its wire time at 9600 baud 8N1
  (``--baud-emulate 9600``: the identify and poll exchanges carry 56 bytes, 58 ms of wire time).

Reported per scenario: the first (cold) probe, which loads the driver registry and the serial
library, then p50 / p95 / max of the warm ones, and the median of each step. Target: p95 under 300 ms.
Results: a table on stdout and ``benchmarks/results/probe.json``.

    python benchmarks/bench_probe.py               # about 15 s
    python benchmarks/bench_probe.py --repeat 10   # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import selectors
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ionpy_widgets import __version__
from ionpy_widgets.engine.probe import probe

TARGET_MS = 300.0
SCENARIOS = {"pty": (), "pty-9600": ("--baud-emulate", "9600")}


def start_simulator(extra: tuple[str, ...]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start ``ionpy simulate dps5005 --serial --json`` and wait for its readiness line."""
    argv = [sys.executable, "-m", "ionpy_widgets", "simulate", "dps5005", "--serial", "--json", *extra]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        ready = sel.select(20)
    line = proc.stdout.readline() if ready else ""
    if not line:
        stop_simulator(proc)
        raise RuntimeError("the simulator did not report readiness within 20 s")
    return proc, json.loads(line)


def stop_simulator(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def run_scenario(path: str, repeat: int) -> dict[str, Any]:
    totals: list[float] = []
    steps: dict[str, list[float]] = defaultdict(list)
    for _ in range(repeat + 1):
        started = time.perf_counter()
        result = await probe("DPS5005", "serial", {"port": path})
        elapsed = (time.perf_counter() - started) * 1000.0
        if not result.success:
            raise RuntimeError(f"probe failed: {json.dumps(result.to_dict())}")
        totals.append(elapsed)
        for step in result.steps:
            steps[step.message.split(" (")[0]].append(step.duration_ms)
    cold, warm = totals[0], totals[1:]
    return {
        "probes": repeat, "cold_ms": round(cold, 2),
        "p50_ms": round(statistics.median(warm), 2), "p95_ms": round(percentile(warm, 95), 2),
        "max_ms": round(max(warm), 2), "mean_ms": round(statistics.fmean(warm), 2),
        "steps_median_ms": {name: round(statistics.median(v[1:]), 2) for name, v in steps.items()},
        "target_ms": TARGET_MS, "meets_target": percentile(warm, 95) < TARGET_MS,
    }


def main(args: argparse.Namespace) -> dict[str, Any]:
    scenarios: dict[str, Any] = {}
    for name, extra in SCENARIOS.items():
        proc, info = start_simulator(extra)
        try:
            scenarios[name] = asyncio.run(run_scenario(info["path"], args.repeat))
        finally:
            stop_simulator(proc)
    return {
        "meta": {"python": platform.python_version(), "platform": platform.platform(), "ionpy_widgets": __version__,
                 "driver": "DPS5005", "transport": "serial (pty, simulator in a separate process)",
                 "steps": ["Check driver", "Open transport", "Identify", "Read values", "Close"]},
        "scenarios": scenarios,
    }


def report(data: dict[str, Any]) -> None:
    print(f"probe DPS5005 over {data['meta']['transport']}")
    print(f"{'scenario':<10} {'cold':>8} {'p50':>8} {'p95':>8} {'max':>8}  steps (median ms)")
    for name, s in data["scenarios"].items():
        steps = ", ".join(f"{k} {v:.1f}" for k, v in s["steps_median_ms"].items())
        print(f"{name:<10} {s['cold_ms']:>8.1f} {s['p50_ms']:>8.1f} {s['p95_ms']:>8.1f} {s['max_ms']:>8.1f}  {steps}")
    ok = all(s["meets_target"] for s in data["scenarios"].values())
    print(f"target p95 < {TARGET_MS:.0f} ms: {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=100, help="warm probes per scenario")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "probe.json")
    arguments = parser.parse_args()
    outcome = main(arguments)
    report(outcome)
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(outcome, indent=2) + "\n")
