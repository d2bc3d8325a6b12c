"""Network probes and scan jobs on real loopback sockets (127.0.0.0/8 only).

Simulated SCPI instruments (TcpServer + ScpiPsuSimulator) listen on a few 127.0.0.x addresses;
every other address of 127.0.0.0/24 refuses the connection at once, so a full /24 scan is fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from ionpy_widgets.discovery import discover
from ionpy_widgets.discovery.network import ProbeResult, ResultCache, ScanManager, probe_host, service_name
from ionpy_widgets.errors import ConfigValidationError
from ionpy_widgets.instruments.scpi_psu.sim import ScpiPsuSimulator
from ionpy_widgets.instruments.simhost import TcpServer

SIM_HOSTS = {"127.0.0.11": "DP832", "127.0.0.23": "E36312A", "127.0.0.42": "SPD3303X"}


def free_port(hosts: list[str]) -> int:
    """A TCP port free on every one of ``hosts`` (all loopback)."""
    for _ in range(20):
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port = probe.getsockname()[1]
        try:
            for host in hosts[1:]:
                with socket.socket() as other:
                    other.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no common free port")


@pytest.fixture
async def instruments() -> AsyncIterator[int]:
    """Three SCPI power-supply simulators on one port at 127.0.0.11, .23 and .42."""
    port = free_port(list(SIM_HOSTS))
    servers = [await TcpServer(ScpiPsuSimulator(model), host, port).start() for host, model in SIM_HOSTS.items()]
    try:
        yield port
    finally:
        for server in servers:
            await server.close()


@contextlib.asynccontextmanager
async def raw_server(host: str, handler: object) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, host, 0)  # type: ignore[arg-type]
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


# --- the /24 scan -------------------------------------------------------------------------------


async def test_scan_of_a_slash_24_finds_exactly_the_simulators(instruments: int) -> None:
    manager = ScanManager()
    streamed: list[ProbeResult] = []
    job = manager.start_scan("127.0.0.0/24", [instruments], timeout=0.2, idn_ports=[instruments],
                             on_result=streamed.append)
    seen = [result async for result in job]
    await job.wait()
    assert job.state == "done" and job.done == job.total == 254
    assert sorted(r.host for r in seen) == sorted(SIM_HOSTS) == sorted(r.host for r in streamed)
    data = json.loads(json.dumps(job.results_json()))
    assert [d["host"] for d in data] == ["127.0.0.11", "127.0.0.23", "127.0.0.42"]
    for entry in data:
        assert list(entry) == ["host", "port", "service", "latency_ms", "idn"]
        assert list(entry["idn"]) == ["manufacturer", "model", "serial", "firmware"]
        assert entry["port"] == instruments and entry["service"] == "unknown" and entry["latency_ms"] > 0
        assert entry["idn"]["model"] == SIM_HOSTS[entry["host"]]
    assert data[0]["idn"]["manufacturer"] == "RIGOL TECHNOLOGIES"
    assert job.results[0].hints[0].driver == "SCPI_PSU"
    assert job.duration_ms < 5000
    assert manager.list_scans() == [job] and manager.get_scan(job.id) is job
    assert job.to_dict()["found"] == 3


async def test_without_idn_ports_open_ports_have_null_idn(instruments: int) -> None:
    job = ScanManager().start_scan("127.0.0.10-127.0.0.12, 127.0.0.23", [instruments], timeout=0.2)
    await job.wait()
    assert [(d["host"], d["idn"]) for d in job.results_json()] == [("127.0.0.11", None), ("127.0.0.23", None)]


# --- cancel, cache, validation ------------------------------------------------------------------


async def test_cancel_stops_promptly_and_closes_connections() -> None:
    accepted, closed = asyncio.Event(), asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()  # never answers *IDN?; returns at EOF when the scanner goes away
        closed.set()
        writer.close()

    async with raw_server("127.0.0.5", silent) as port:
        job = ScanManager().start_scan("127.0.0.1-127.0.0.254", [port], concurrency=1, timeout=5.0, idn_ports=[port])
        await asyncio.wait_for(accepted.wait(), 2)
        start = time.perf_counter()
        job.cancel()
        await job.wait()
        assert time.perf_counter() - start < 0.5
        assert job.state == "cancelled" and job.done < job.total and job.finished
        await asyncio.wait_for(closed.wait(), 2)
        assert [r async for r in job] == []  # the stream ends with the job


async def test_cache_serves_a_rescan_until_it_expires(instruments: int) -> None:
    now = [1000.0]
    manager = ScanManager(cache_ttl=60.0, clock=lambda: now[0])
    first = manager.start_scan("127.0.0.11, 127.0.0.12", [instruments], timeout=0.2, idn_ports=[instruments])
    await first.wait()
    assert [r.host for r in first.results] == ["127.0.0.11"] and first.cached == 0
    assert len(manager.cache) == 2 and [r.host for r in manager.cache.results()] == ["127.0.0.11"]

    now[0] += 59.0
    again = manager.start_scan("127.0.0.11, 127.0.0.12", [instruments], timeout=0.2, idn_ports=[instruments])
    await again.wait()
    assert again.cached == 2 and again.results == first.results

    now[0] += 2.0  # past the ttl: probed again
    fresh = manager.start_scan("127.0.0.11", [instruments], timeout=0.2, idn_ports=[instruments])
    await fresh.wait()
    assert fresh.cached == 0 and fresh.results[0] is not first.results[0]
    assert fresh.results[0].idn == first.results[0].idn


def test_result_cache_keeps_only_definite_answers() -> None:
    now = [0.0]
    cache = ResultCache(10.0, clock=lambda: now[0])
    cache.put(ProbeResult("127.0.0.1", 1, "timeout"))
    cache.put(ProbeResult("127.0.0.1", 2, "closed"))
    assert cache.get("127.0.0.1", 1) is None and cache.get("127.0.0.1", 2) is not None
    now[0] = 10.0
    assert cache.get("127.0.0.1", 2) is None and len(cache) == 0


@pytest.mark.parametrize(("kwargs", "path"), [
    ({"ports": [0]}, "ports"), ({"ports": []}, "ports"), ({"ports": [70000]}, "ports"),
    ({"concurrency": 51}, "concurrency"), ({"concurrency": 0}, "concurrency"), ({"timeout": 0}, "timeout"),
])
async def test_bad_scan_options_raise_before_any_probe(kwargs: dict[str, object], path: str) -> None:
    manager = ScanManager()
    with pytest.raises(ConfigValidationError) as info:
        manager.start_scan("127.0.0.1", **kwargs)  # type: ignore[arg-type]
    assert info.value.path == path and info.value.hint
    assert manager.list_scans() == []


async def test_unknown_scan_id_and_too_many_targets() -> None:
    manager = ScanManager()
    with pytest.raises(ConfigValidationError, match="no scan"):
        manager.get_scan("scan-99")
    with pytest.raises(ConfigValidationError) as info:
        manager.start_scan("127.0.0.0/16")
    assert info.value.code == "scan_too_large"


async def test_a_failing_callback_does_not_stop_the_scan(instruments: int, caplog: pytest.LogCaptureFixture) -> None:
    def boom(result: ProbeResult) -> None:
        raise RuntimeError("widget gone")

    job = ScanManager().start_scan("127.0.0.11", [instruments], timeout=0.2, on_result=boom)
    await job.wait()
    assert job.state == "done" and len(job.found) == 1 and "widget gone" in caplog.text


async def test_manager_close_cancels_running_scans() -> None:
    gate = asyncio.Event()

    async def stuck_probe(host: str, port: int, **kw: object) -> ProbeResult:
        await gate.wait()
        return ProbeResult(host, port, "closed")

    manager = ScanManager(probe=stuck_probe)
    jobs = [manager.start_scan("127.0.0.1-3", [5025]), manager.start_scan("127.0.0.4", [5025])]
    await asyncio.sleep(0)
    await manager.close()
    assert [j.state for j in jobs] == ["cancelled", "cancelled"]


async def test_discover_network_runs_one_scan(instruments: int) -> None:
    result = await discover("network", targets="127.0.0.40-45", ports=[instruments], timeout=0.2,
                            idn_ports=[instruments])
    assert result.ok and [r.host for r in result.items] == ["127.0.0.42"]
    assert result.to_dict()["items"][0]["idn"]["model"] == "SPD3303X"


# --- single probes ------------------------------------------------------------------------------


async def test_probe_open_scpi_port_parses_identity(instruments: int) -> None:
    result = await probe_host("127.0.0.11", instruments, timeout=0.5, scpi=True)
    assert result.open and result.latency_ms is not None and result.latency_ms > 0
    assert result.idn is not None and result.idn.model == "DP832" and result.idn_raw.startswith("RIGOL")
    assert result.detail_dict()["state"] == "open"


async def test_probe_closed_port() -> None:
    result = await probe_host("127.0.0.99", free_port(["127.0.0.99"]), timeout=0.2)
    assert result.state == "closed" and result.latency_ms is None and result.to_dict()["idn"] is None


async def test_non_scpi_ports_are_not_sent_idn() -> None:
    received: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read())
        writer.close()

    async with raw_server("127.0.0.6", record) as port:
        result = await probe_host("127.0.0.6", port, timeout=0.5)
        assert result.open and result.idn is None and result.error == ""
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.01)
        assert received == [b""]


async def test_silent_and_hanging_up_scpi_ports() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async with raw_server("127.0.0.7", silent) as quiet, raw_server("127.0.0.8", hang_up) as rude:
        no_reply = await probe_host("127.0.0.7", quiet, timeout=0.2, scpi=True)
        assert no_reply.open and no_reply.idn is None and "no reply to *IDN?" in no_reply.error
        closed = await probe_host("127.0.0.8", rude, timeout=0.2, scpi=True)
        assert closed.open and closed.idn is None and "without answering" in closed.error


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A listener whose accept queue is full: further SYNs are dropped, so connects time out."""
    listener = socket.socket()
    listener.bind(("127.0.0.9", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.9", port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for sock in [*fillers, listener]:
            sock.close()


async def test_probe_timeout(full_backlog: int) -> None:
    result = await probe_host("127.0.0.9", full_backlog, timeout=0.2)
    assert result.state == "timeout" and "0.2 s" in result.error


def test_service_names() -> None:
    assert [service_name(p) for p in (5025, 5555, 502, 111, 4880, 8080, 23, 1000, 3000, 5024, 1)] == [
        "scpi-raw", "scpi-raw", "modbus-tcp", "vxi11-portmapper", "hislip", "riden-wifi", "telnet",
        "serial-bridge", "serial-bridge", "scpi-telnet", "unknown"]
