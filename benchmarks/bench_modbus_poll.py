"""DPS5005 13-register poll (FC03 0x0000 x13, slave 1): ionpy vs pymodbus vs minimalmodbus.

The simulator runs in a SEPARATE process (``python -m ionpy_widgets simulate dps5005 --serial
--json``) on a real pseudo-terminal, so its CPU never counts against the client being measured.
Clients (``modbus_clients.py``): ``ionpy`` (Link + ModbusRtuFramer + SerialTransport, raw FC03),
``ionpy-driver`` (``DPSDriver.poll()``: the same plus decoding and scaling), ``pymodbus``
(``AsyncModbusSerialClient``), ``minimalmodbus`` (synchronous) and ``asyncio-floor`` (a reference:
the least any asyncio client can do per read). ``--what-if`` adds the clients of ``what_if.py``.

Three measurements, all in one run:

1. **paced** — every client reads at the same fixed pace (``--pace``, default 100 reads/s); the
   CPU time (``time.process_time``) of this process per read compares like for like. Clients are
   interleaved over ``--rounds`` rounds; each client's median round is shown, and a ratio is the
   median of the per-round ratios (each compares runs made side by side).
2. **unpaced** — back-to-back reads: the maximum rate and the latency without wire-time emulation
   (ionpy and minimalmodbus keep the 9600-baud t3.5 silence between frames, pymodbus does not).
3. **wire** — the simulator emulates 9600 baud 8N1 (``--baud-emulate 9600``): back-to-back reads
   against the floor 1 / (40.625 ms wire + 3.646 ms t3.5) = 22.59 reads/s, interleaved rounds.

Results: a table on stdout and ``benchmarks/results/modbus_poll.json``. ``--profile`` adds a
cProfile (CPU time) of ionpy's unpaced loop. No timed assertion anywhere: this is a report.

    python benchmarks/bench_modbus_poll.py                  # about two minutes
    python benchmarks/bench_modbus_poll.py --quick          # about ten seconds (smoke run)
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import platform
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from modbus_clients import CLIENTS, COUNT
from simproc import SimProcess
from what_if import available as what_if_clients

BAUD = 9600
BYTE_TIME = 10 / BAUD
WIRE_S = (8 + 5 + 2 * COUNT) * BYTE_TIME  # request + reply bytes: 40.625 ms
T35_S = 3.5 * BYTE_TIME  # 3.646 ms
FLOOR_READS_PER_S = 1 / (WIRE_S + T35_S)  # 22.59 reads/s
#: Targets of the issue: ionpy's CPU per read at most 0.67 of pymodbus's at the same pace, and at
#: least 0.97 of the wire-time floor at 9600 baud while keeping the t3.5 silence.
TARGET_CPU_RATIO = 0.67
TARGET_FLOOR_FRACTION = 0.97
DEFAULT_CLIENTS = ["ionpy", "ionpy-driver", "pymodbus", "minimalmodbus", "asyncio-floor"]


def _stats(latencies: list[float], wall: float, cpu: float, reads: int) -> dict[str, Any]:
    lat = sorted(latencies)
    return {
        "reads": reads,
        "wall_s": round(wall, 4),
        "reads_per_s": round(reads / wall, 2),
        "latency_p50_ms": round(1e3 * lat[len(lat) // 2], 3),
        "latency_p95_ms": round(1e3 * lat[min(len(lat) - 1, int(0.95 * len(lat)))], 3),
        "cpu_s": round(cpu, 4),
        "cpu_per_read_us": round(1e6 * cpu / reads, 1),
    }


async def _measure_async(client: Any, reads: int, pace: float | None) -> dict[str, Any]:
    period = 1 / pace if pace else 0.0
    latencies = []
    cpu0, t0 = time.process_time(), time.perf_counter()
    due = t0
    for _ in range(reads):
        if period:
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            due = max(due + period, time.perf_counter() - period)
        start = time.perf_counter()
        await client.read()
        latencies.append(time.perf_counter() - start)
    return _stats(latencies, time.perf_counter() - t0, time.process_time() - cpu0, reads)


def _measure_sync(client: Any, reads: int, pace: float | None) -> dict[str, Any]:
    period = 1 / pace if pace else 0.0
    latencies = []
    cpu0, t0 = time.process_time(), time.perf_counter()
    due = t0
    for _ in range(reads):
        if period:
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            due = max(due + period, time.perf_counter() - period)
        start = time.perf_counter()
        client.read()
        latencies.append(time.perf_counter() - start)
    return _stats(latencies, time.perf_counter() - t0, time.process_time() - cpu0, reads)


def measure(name: str, port: str, reads: int, pace: float | None, warmup: int = 20,
            profile: cProfile.Profile | None = None, trace: bool = False) -> dict[str, Any]:
    """Open client ``name`` on ``port``, warm up, measure ``reads`` reads, close. ``trace`` adds the
    link's reply time and kept silence (ionpy clients only)."""
    client = CLIENTS[name](port, BAUD)
    if trace and hasattr(client, "timing"):
        client.tracing = True
        row = _measure_client(client, reads, pace, warmup, profile)
        row.update(client.timing())
        return row
    return _measure_client(client, reads, pace, warmup, profile)


def _measure_client(client: Any, reads: int, pace: float | None, warmup: int,
                    profile: cProfile.Profile | None) -> dict[str, Any]:
    if client.is_async:
        async def go() -> dict[str, Any]:
            await client.open()
            try:
                for _ in range(warmup):
                    client.check(await client.read())
                if getattr(client, "trace", None):
                    client.trace.clear()
                if profile is not None:
                    profile.enable()
                try:
                    return await _measure_async(client, reads, pace)
                finally:
                    if profile is not None:
                        profile.disable()
            finally:
                await client.close()
        return asyncio.run(go())
    client.open()
    try:
        for _ in range(warmup):
            client.check(client.read())
        return _measure_sync(client, reads, pace)
    finally:
        client.close()


def _median_round(rounds: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The round with the median ``key``, plus that key's values over all rounds."""
    ordered = sorted(rounds, key=lambda r: r[key])
    chosen = dict(ordered[len(ordered) // 2])
    chosen[f"{key}_rounds"] = [r[key] for r in rounds]
    return chosen


def _interleaved(clients: list[str], path: str, rounds: int, reads: int, pace: float | None, key: str,
                 warmup: int = 20, trace: bool = False) -> dict[str, dict[str, Any]]:
    """``rounds`` rounds, each running every client once (so drifts in machine load hit all alike)."""
    rows: dict[str, list[dict[str, Any]]] = {c: [] for c in clients}
    for _ in range(rounds):
        for c in clients:
            rows[c].append(measure(c, path, reads, pace, warmup=warmup, trace=trace))
    return {c: _median_round(rows[c], key) for c in clients}


def run(args: argparse.Namespace) -> dict[str, Any]:
    clients = args.clients
    result: dict[str, Any] = {
        "meta": {
            "python": platform.python_version(), "platform": platform.platform(),
            "versions": _versions(), "commit": _commit(), "clients": clients, "pace_reads_per_s": args.pace,
            "paced_reads_per_round": args.paced_reads, "rounds": args.rounds,
            "unpaced_reads": args.unpaced_reads, "wire_reads_per_round": args.wire_reads,
            "wire_rounds": args.wire_rounds,
            "request": "FC03 start 0x0000 count 13 slave 1 (8 B out, 31 B back)",
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    }
    with SimProcess(baud_emulate=None) as sim:
        result["meta"]["sim_path"] = sim.path
        result["paced"] = _interleaved(clients, sim.path, args.rounds, args.paced_reads, args.pace, "cpu_per_read_us")
        result["unpaced"] = {c: measure(c, sim.path, args.unpaced_reads, None) for c in clients}
        if args.profile:
            result["profile"] = _profile(sim.path, args.unpaced_reads, args.profile_out)
    if args.wire_reads:
        with SimProcess(baud_emulate=BAUD) as sim:
            wire = _interleaved(clients, sim.path, args.wire_rounds, args.wire_reads, None, "reads_per_s", warmup=3,
                                trace=True)
        for row in wire.values():
            row["fraction_of_floor"] = round(row["reads_per_s"] / FLOOR_READS_PER_S, 4)
        result["wire_9600"] = {"floor_reads_per_s": round(FLOOR_READS_PER_S, 3),
                               "floor_cycle_ms": round(1e3 * (WIRE_S + T35_S), 3), "clients": wire}
    result["ratios"] = _ratios(result)
    result["targets"] = _targets(result)
    return result


def _ratios(result: dict[str, Any]) -> dict[str, Any]:
    """ionpy-family / pymodbus for CPU per read and the unpaced rate. Paced: the median of the
    per-round ratios (rounds are interleaved, so each ratio compares runs made side by side)."""
    ratios: dict[str, Any] = {}
    for mode in ("paced", "unpaced"):
        rows = result.get(mode, {})
        if "pymodbus" not in rows:
            continue
        base = rows["pymodbus"]
        for ours in (name for name in rows if name.startswith("ionpy") or name == "asyncio-floor"):
            key = f"{mode}_cpu_per_read_{ours}_over_pymodbus"
            per_round = [a / b for a, b in zip(rows[ours].get("cpu_per_read_us_rounds", []),
                                                base.get("cpu_per_read_us_rounds", []), strict=False)]
            if per_round:
                ratios[key] = round(statistics.median(per_round), 3)
                ratios[key + "_rounds"] = [round(r, 3) for r in per_round]
            else:
                ratios[key] = round(rows[ours]["cpu_per_read_us"] / base["cpu_per_read_us"], 3)
        if "ionpy" in rows and mode == "unpaced":
            ratios["unpaced_reads_per_s_ionpy_over_pymodbus"] = round(
                rows["ionpy"]["reads_per_s"] / base["reads_per_s"], 3)
    return ratios


def _targets(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ratio = result["ratios"].get("paced_cpu_per_read_ionpy_over_pymodbus")
    if ratio is not None:
        out["paced_cpu_ratio"] = {"target_max": TARGET_CPU_RATIO, "value": ratio, "met": ratio <= TARGET_CPU_RATIO}
    wire = result.get("wire_9600", {}).get("clients", {})
    if "ionpy" in wire:
        frac = wire["ionpy"]["fraction_of_floor"]
        out["wire_floor_fraction"] = {"target_min": TARGET_FLOOR_FRACTION, "value": frac,
                                      "met": frac >= TARGET_FLOOR_FRACTION}
    return out


def _profile(path: str, reads: int, out: Path) -> dict[str, Any]:
    prof = cProfile.Profile(time.process_time)  # CPU time, so waiting in epoll does not dominate
    measure("ionpy", path, reads, None, profile=prof)
    text = io.StringIO()
    stats = pstats.Stats(prof, stream=text).strip_dirs().sort_stats("tottime")
    stats.print_stats(30)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text.getvalue())
    return {"file": str(out), "top_tottime": [
        {"function": f"{fn[0]}:{fn[1]}({fn[2]})", "calls": row[1],
         "tottime_us_per_read": round(1e6 * row[2] / reads, 2), "cumtime_us_per_read": round(1e6 * row[3] / reads, 2)}
        for fn, row in sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:15]]}


def _commit() -> str:
    """The ionpy_widgets commit measured (``git describe``; ``+dirty`` when the tree has changes)."""
    import subprocess

    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty=+dirty"], cwd=HERE.parent,
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for pkg in ("ionpy_widgets", "pymodbus", "minimalmodbus", "pyserial", "pyserial-asyncio-fast"):
        try:
            found[pkg] = version(pkg)
        except PackageNotFoundError:
            found[pkg] = "not installed"
    return found


def print_table(result: dict[str, Any]) -> None:
    print(f"\nDPS5005 poll, FC03 0x0000 x13 — simulator in a separate process on {result['meta']['sim_path']}")
    head = f"{'mode':<10}{'client':<15}{'reads/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'CPU µs/read':>13}"
    print(head + "\n" + "-" * len(head))
    for mode in ("paced", "unpaced"):
        for name, row in result.get(mode, {}).items():
            print(f"{mode:<10}{name:<15}{row['reads_per_s']:>9.1f}{row['latency_p50_ms']:>9.3f}"
                  f"{row['latency_p95_ms']:>9.3f}{row['cpu_per_read_us']:>13.1f}")
    wire = result.get("wire_9600")
    if wire:
        print(f"\n9600 baud emulated: floor {wire['floor_reads_per_s']:.2f} reads/s "
              f"({wire['floor_cycle_ms']} ms/cycle)")
        for name, row in wire["clients"].items():
            kept = f", silence kept {row['silence_ms_p50']:.3f} ms" if "silence_ms_p50" in row else ""
            print(f"  {name:<15}{row['reads_per_s']:>8.2f} reads/s = {row['fraction_of_floor']:.3f} of the floor"
                  f"  (p50 {row['latency_p50_ms']:.2f} ms{kept})")
    print("\nRatios:")
    for key, value in result["ratios"].items():
        if not key.endswith("_rounds"):
            rounds = result["ratios"].get(key + "_rounds")
            print(f"  {key:<52}{value:.3f}" + (f"  (per round: {', '.join(f'{r:.3f}' for r in rounds)})"
                                               if rounds else ""))
    for key, row in result.get("targets", {}).items():
        bound = f"<= {row['target_max']}" if "target_max" in row else f">= {row['target_min']}"
        print(f"  target {key}: {row['value']:.3f} (target {bound}): {'met' if row['met'] else 'MISSED'}")
    if "profile" in result:
        print(f"\nionpy unpaced profile (top by own CPU time, µs per read) — full text in {result['profile']['file']}")
        for row in result["profile"]["top_tottime"][:12]:
            print(f"  {row['tottime_us_per_read']:>8.2f}  {row['function']}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    extra = what_if_clients()
    p.add_argument("--clients", nargs="+", default=DEFAULT_CLIENTS, metavar="CLIENT",
                   help=f"any of {', '.join(CLIENTS)} (with --what-if also {', '.join(extra) or 'none here'})")
    p.add_argument("--what-if", action="store_true",
                   help="also measure the what-if clients of what_if.py (changes not made, for comparison)")
    p.add_argument("--pace", type=float, default=100.0, help="reads/s for the paced CPU comparison")
    p.add_argument("--paced-reads", type=int, default=200, help="reads per client per round (paced)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved paced rounds (median reported)")
    p.add_argument("--wire-rounds", type=int, default=3, help="interleaved 9600-baud rounds (median reported)")
    p.add_argument("--unpaced-reads", type=int, default=1000)
    p.add_argument("--wire-reads", type=int, default=60, help="reads per client per round at 9600 baud (0 skips)")
    p.add_argument("--profile", action="store_true", help="cProfile ionpy's unpaced loop")
    p.add_argument("--profile-out", type=Path, default=HERE / "results" / "profile_ionpy.txt")
    p.add_argument("--out", type=Path, default=HERE / "results" / "modbus_poll.json")
    p.add_argument("--quick", action="store_true", help="tiny counts: a smoke run of a few seconds")
    args = p.parse_args(argv)
    if args.what_if:
        CLIENTS.update(extra)
        args.clients = [*args.clients, *(v for v in extra if v not in args.clients)]
    unknown = [c for c in args.clients if c not in CLIENTS]
    if unknown:
        p.error(f"unknown client(s) {', '.join(unknown)}; choose from {', '.join(CLIENTS)}")
    if args.quick:
        args.paced_reads, args.rounds, args.unpaced_reads, args.wire_reads, args.wire_rounds = 50, 1, 100, 15, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    print_table(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
