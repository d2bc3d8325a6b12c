"""Network scan: 127.0.0.1-127.0.0.254 x 5 ports, SCPI simulators on a few addresses.

Loopback only (127.0.0.0/8): nothing leaves the machine. Five SCPI power-supply simulators
(``TcpServer`` + ``ScpiPsuSimulator``) listen on 127.0.0.11, .23, .42 (first port) and .101,
.200 (second port); both ports are ``*IDN?`` ports. The other 1,265 host x port pairs refuse at
once (closed loopback ports answer RST), so the numbers measure the scanner's own overhead: task
scheduling, connection set-up and *IDN? parsing, not network latency.

Measured, each the median of ``--repeat`` runs:

* ionpy ``ScanManager.start_scan`` at concurrency 50 (the default and maximum), 10 and 1, cache off;
* the same scan served from the result cache (a rescan within the ttl);
* a baseline: plain blocking ``socket.create_connection`` in a loop, ``*IDN?`` on open ports.

A second scenario adds ten unresponsive pairs (127.0.0.150-159 on the third port: listeners whose
accept queue is full, so the kernel drops further SYNs and a connect waits for its 0.5 s timeout,
as a firewalled or absent LAN host does). That is where concurrency pays: the blocking loop waits
10 x 0.5 s, the scanner waits about one timeout.

Every run must find exactly the five simulators with their models, or the benchmark fails.
Results: a table on stdout and ``benchmarks/results/network_scan.json``.

    python benchmarks/bench_network_scan.py              # about half a minute
    python benchmarks/bench_network_scan.py --repeat 1   # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ionpy_widgets import __version__
from ionpy_widgets.discovery.idn import parse_idn
from ionpy_widgets.discovery.network import ScanManager
from ionpy_widgets.instruments.scpi_psu.sim import ScpiPsuSimulator
from ionpy_widgets.instruments.simhost import TcpServer

TARGETS = "127.0.0.1-127.0.0.254"
HOSTS = 254
#: (host, port index, model)
SIMS = [("127.0.0.11", 0, "DP832"), ("127.0.0.23", 0, "E36312A"), ("127.0.0.42", 0, "SPD3303X"),
        ("127.0.0.101", 1, "DP832"), ("127.0.0.200", 1, "E36312A")]


def free_ports(count: int) -> list[int]:
    """``count`` ports that are free on every simulator address and on 127.0.0.1."""
    hosts = sorted({h for h, _, _ in SIMS} | {"127.0.0.1"})
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            for host in hosts:
                with socket.socket() as s:
                    s.bind((host, port))
        except OSError:
            continue
        if port not in ports:
            ports.append(port)
    return ports


SILENT_HOSTS = [f"127.0.0.{n}" for n in range(150, 160)]


def silent_listeners(port: int) -> list[socket.socket]:
    """Listeners on SILENT_HOSTS:port whose accept queue is full: new connects hang until timeout."""
    socks: list[socket.socket] = []
    for host in SILENT_HOSTS:
        listener = socket.socket()
        listener.bind((host, port))
        listener.listen(0)
        socks.append(listener)
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect((host, port))
            socks.append(filler)
    time.sleep(0.05)  # let the fillers' handshakes complete (setup only, not measured)
    return socks


def expected(ports: list[int]) -> list[tuple[str, int, str]]:
    return sorted((h, ports[i], m) for h, i, m in SIMS)


Found = list[tuple[str, int, str]]


async def ionpy_scan(ports: list[int], concurrency: int, manager: ScanManager | None = None) -> Found:
    """One scan; a fresh manager (empty cache) unless ``manager`` is given (its cache is used)."""
    use_cache = manager is not None
    manager = manager or ScanManager()
    job = manager.start_scan(TARGETS, ports, concurrency=concurrency, timeout=0.5, idn_ports=ports[:2],
                             use_cache=use_cache)
    await job.wait()
    assert job.state == "done" and job.done == job.total, job
    return sorted((r.host, r.port, r.idn.model if r.idn else "") for r in job.results)


def baseline_scan(ports: list[int]) -> Found:
    """Blocking sockets, one pair at a time: what a simple script does."""
    found = []
    for n in range(1, HOSTS + 1):
        host = f"127.0.0.{n}"
        for port in ports:
            try:
                sock = socket.create_connection((host, port), timeout=0.5)
            except OSError:
                continue
            with sock:
                model = ""
                if port in ports[:2]:
                    sock.sendall(b"*IDN?\n")
                    reply = b""
                    while not reply.endswith(b"\n"):
                        chunk = sock.recv(4096)
                        if not chunk:
                            break
                        reply += chunk
                    model = parse_idn(reply).model
                found.append((host, port, model))
    return sorted(found)


async def timed(label: str, runs: int, coro_factory: Any, want: Found, probes: int = HOSTS * 5) -> dict[str, Any]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        got = await coro_factory()
        times.append(time.perf_counter() - start)
        if got != want:
            raise SystemExit(f"{label}: found {got}, expected {want}")
    median = statistics.median(times)
    return {"runs": runs, "median_s": round(median, 4), "min_s": round(min(times), 4),
            "hosts_per_s": round(HOSTS / median, 1), "probes_per_s": round(probes / median, 1),
            "found": len(want)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    ports = free_ports(5)
    servers = [await TcpServer(ScpiPsuSimulator(model), host, ports[i]).start() for host, i, model in SIMS]
    want = expected(ports)
    results: dict[str, Any] = {}
    try:
        for conc in (50, 10, 1):
            results[f"ionpy c={conc}"] = await timed(f"c={conc}", args.repeat,
                                                     lambda c=conc: ionpy_scan(ports, c), want)
        warm = ScanManager(cache_ttl=3600)
        await ionpy_scan(ports, 50, warm)
        results["ionpy cached rescan"] = await timed("cached", args.repeat, lambda: ionpy_scan(ports, 50, warm), want)
        loop = asyncio.get_running_loop()
        results["baseline blocking sockets"] = await timed(
            "baseline", args.repeat, lambda: loop.run_in_executor(None, baseline_scan, ports), want)
        socks = silent_listeners(ports[2])
        try:
            slow = max(1, min(args.repeat, 2))
            results["silent: ionpy c=50"] = await timed("silent c=50", slow, lambda: ionpy_scan(ports, 50), want)
            results["silent: baseline blocking"] = await timed(
                "silent baseline", slow, lambda: loop.run_in_executor(None, baseline_scan, ports), want)
        finally:
            for sock in socks:
                sock.close()
    finally:
        for server in servers:
            await server.close()
    return {
        "meta": {"python": platform.python_version(), "platform": platform.platform(), "ionpy_widgets": __version__,
                 "targets": TARGETS, "hosts": HOSTS, "ports": len(ports), "probes": HOSTS * len(ports),
                 "simulators": [{"host": h, "port": ports[i], "model": m} for h, i, m in SIMS],
                 "silent_pairs": [{"host": h, "port": ports[2]} for h in SILENT_HOSTS],
                 "timeout_s": 0.5, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
        "results": results,
    }


def report(data: dict[str, Any]) -> None:
    meta = data["meta"]
    print(f"{meta['hosts']} hosts x {meta['ports']} ports = {meta['probes']} probes, "
          f"{len(meta['simulators'])} simulators (loopback)")
    print(f"{'run':28} {'median s':>9} {'min s':>8} {'hosts/s':>9} {'probes/s':>9}")
    for name, r in data["results"].items():
        print(f"{name:28} {r['median_s']:9.3f} {r['min_s']:8.3f} {r['hosts_per_s']:9.0f} {r['probes_per_s']:9.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median reported)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "network_scan.json")
    arguments = parser.parse_args()
    outcome = asyncio.run(main(arguments))
    report(outcome)
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(outcome, indent=2) + "\n")
    print(f"wrote {arguments.out}")
