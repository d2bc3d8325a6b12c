"""The engine end to end over real pipes: a DPS5005 simulator on a real pseudo-terminal, a SCPI
supply simulator on a real loopback socket, simulators on the virtual transport.

Shows journey 5: a pulled cable (pty closed mid-poll) and a socket reset make the device
unavailable once and it recovers by itself once the pipe is back, while the other device keeps
its poll rate (a generous functional check: at least 70 % of nominal over the outage window).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import FAST, wait_until

from ionpy_widgets.engine.bus import Subscription
from ionpy_widgets.engine.lab import Lab
from ionpy_widgets.errors import LimitError
from ionpy_widgets.instruments.catalog import make_simulator
from ionpy_widgets.instruments.rdtech_dps.sim import DpsSimulator
from ionpy_widgets.instruments.simhost import PtyServer, TcpServer

DPS_INTERVAL = 0.05
PSU_INTERVAL = 0.1
OUTAGE = 0.6  # how long the pipe stays away: the window over which the other device's rate is measured


@pytest.fixture
async def pty_dps(tmp_path: Path) -> AsyncIterator[PtyServer]:
    server = await PtyServer(make_simulator("dps5005"), link_path=tmp_path / "dps").start()
    yield server
    await server.close()


@pytest.fixture
async def tcp_psu() -> AsyncIterator[TcpServer]:
    server = await TcpServer(make_simulator("scpi_psu"), "127.0.0.1", 0).start()
    yield server
    await server.close()


def bench(pty: PtyServer, tcp: TcpServer) -> dict[str, Any]:
    return {"devices": [
        {"id": "DPS5005_1", "driver": "DPS5005", "poll_interval": DPS_INTERVAL, "link": {"timeout": 0.3},
         "transport": {"type": "serial", "params": {"port": str(pty.link_path), "baudrate": 9600}},
         "framing": {"type": "modbus_rtu", "params": {"slave_id": 1}}},
        {"id": "PSU_1", "driver": "SCPI_PSU", "poll_interval": PSU_INTERVAL, "link": {"timeout": 0.3},
         "transport": {"type": "tcp", "params": {"host": "127.0.0.1", "port": tcp.port}},
         "framing": {"type": "delimiter", "params": {}}},
    ]}


async def next_availability(sub: Subscription, device: str, timeout: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        async for event in sub:
            if event.device == device:
                return dict(event.payload)
    raise AssertionError("subscription closed")


def count_readings(sub: Subscription, device: str) -> int:
    return sum(1 for e in sub.drain() if e.category == "reading" and e.device == device)


async def outage_window(lab: Lab, readings: Subscription, other: str, interval: float) -> float:
    """Hold the outage for OUTAGE seconds; return the other device's rate as a fraction of nominal."""
    loop = asyncio.get_running_loop()
    count_readings(readings, other)
    start = loop.time()
    await wait_until(lambda: loop.time() - start >= OUTAGE, timeout=OUTAGE + 1)
    polled = count_readings(readings, other)
    return polled / ((loop.time() - start) / interval)


async def test_pty_closed_mid_poll_goes_unavailable_and_recovers(tmp_path: Path, pty_dps: PtyServer,
                                                                 tcp_psu: TcpServer) -> None:
    async with Lab.start(bench(pty_dps, tcp_psu), settings=FAST) as lab:
        await lab.wait_online(timeout=5)
        avail = lab.subscribe(kinds=["availability"])
        readings = lab.subscribe(kinds=["reading"], maxsize=0)
        await wait_until(lambda: lab["DPS5005_1"].status["stats"]["polls"] >= 3)

        await pty_dps.close()  # the cable is pulled while polls are running
        down = await next_availability(avail, "DPS5005_1")
        assert down["available"] is False and down["state"] == "unavailable" and down["reason"]
        assert lab["DPS5005_1"].status["last_error"]["code"] in ("transport_closed", "port_not_found")

        ratio = await outage_window(lab, readings, "PSU_1", PSU_INTERVAL)
        assert ratio >= 0.7, f"PSU_1 polled at {ratio:.0%} of nominal during the outage"
        assert lab["DPS5005_1"].state == "unavailable"  # still down: nothing to talk to

        restarted = await PtyServer(pty_dps.sim, link_path=tmp_path / "dps").start()  # plugged back in
        try:
            up = await next_availability(avail, "DPS5005_1")
            assert up["available"] is True and up["recovered"] is True and up["downtime"] > 0
            polls = lab["DPS5005_1"].status["stats"]["polls"]
            await wait_until(lambda: lab["DPS5005_1"].status["stats"]["polls"] >= polls + 2)
            assert avail.empty()  # one "unavailable", one "recovered": no flapping
            assert lab["DPS5005_1"].status["stats"]["outages"] == 1
        finally:
            await lab.stop()
            await restarted.close()


async def test_socket_reset_goes_unavailable_and_recovers(pty_dps: PtyServer, tcp_psu: TcpServer) -> None:
    async with Lab.start(bench(pty_dps, tcp_psu), settings=FAST) as lab:
        await lab.wait_online(timeout=5)
        avail = lab.subscribe(kinds=["availability"])
        readings = lab.subscribe(kinds=["reading"], maxsize=0)

        tcp_psu.drop_clients()  # the instrument rebooted: the connection is reset
        assert (await next_availability(avail, "PSU_1"))["available"] is False
        assert (await next_availability(avail, "PSU_1"))["recovered"] is True  # the server still listens

        port = tcp_psu.port
        await tcp_psu.close()  # now the instrument is really gone for a while
        assert (await next_availability(avail, "PSU_1"))["available"] is False
        ratio = await outage_window(lab, readings, "DPS5005_1", DPS_INTERVAL)
        assert ratio >= 0.7, f"DPS5005_1 polled at {ratio:.0%} of nominal during the outage"

        restarted = await TcpServer(tcp_psu.sim, "127.0.0.1", port).start()
        try:
            up = await next_availability(avail, "PSU_1")
            assert up["recovered"] is True
            await lab.wait_online("PSU_1", timeout=2)
            assert lab["PSU_1"].status["stats"]["outages"] == 2
        finally:
            await lab.stop()
            await restarted.close()


async def test_writes_reach_the_instrument_and_invalid_values_send_nothing(pty_dps: PtyServer,
                                                                           tcp_psu: TcpServer) -> None:
    sim = pty_dps.sim
    assert isinstance(sim, DpsSimulator)
    async with Lab.start(bench(pty_dps, tcp_psu), settings=FAST) as lab:
        await lab.wait_online(timeout=5)
        psu = lab["DPS5005_1"]
        assert await psu.write("u_set", 5.5) == 5.5
        assert sim.u_set == pytest.approx(5.5)
        await psu.write("output", True)
        assert (await psu.poll_now())["output"] is True
        requests = sim.requests
        with pytest.raises(LimitError):
            await psu.write("u_set", 60.0)
        assert sim.requests == requests  # refused before any byte went out
        assert sim.u_set == pytest.approx(5.5)
        report = await lab.emergency_stop()
        assert "output" in report["switched"]["DPS5005_1"] and sim.output is False
        assert report["switched"]["PSU_1"] == ["output_1", "output_2", "output_3"]


async def test_rerun_releases_the_serial_port(pty_dps: PtyServer, tcp_psu: TcpServer) -> None:
    conf = bench(pty_dps, tcp_psu)
    first = await Lab.start(conf, settings=FAST)
    await first.wait_online(timeout=5)
    second = await Lab.start(conf, settings=FAST)  # exclusive serial open: fails if the old port is still held
    try:
        await second.wait_online(timeout=5)
        assert not first.running
        polls = second["DPS5005_1"].status["stats"]["polls"]
        await wait_until(lambda: second["DPS5005_1"].status["stats"]["polls"] > polls)
    finally:
        await second.stop()


async def test_garbage_replies_are_contained(tcp_psu: TcpServer) -> None:
    conf = {"devices": [
        {"id": "NOISY", "driver": "DPS5005", "poll_interval": 0.05, "link": {"timeout": 0.1, "retries": 0},
         "transport": {"type": "virtual", "params": {"simulator": "dps5005", "garble": 1.0, "seed": 3}}},
        {"id": "CLEAN", "driver": "DPS5005", "poll_interval": 0.05,
         "transport": {"type": "virtual", "params": {"simulator": "dps5005"}}},
    ]}
    async with Lab.start(conf, settings=FAST) as lab:
        await lab.wait_online("CLEAN", timeout=2)
        noisy = lab.manager.get("NOISY")
        await wait_until(lambda: noisy.stats.outages >= 1 and noisy.last_error is not None, timeout=3)
        assert noisy.last_error is not None and noisy.last_error.code.startswith("protocol")
        assert noisy._task is not None and not noisy._task.done()  # the supervisor lives on
        readings = lab.subscribe(kinds=["reading"], devices=["CLEAN"], maxsize=0)
        ratio = await outage_window(lab, readings, "CLEAN", 0.05)
        assert ratio >= 0.7


async def test_shutdown_with_a_hanging_transport_close_is_bounded() -> None:
    conf = {"devices": [{"id": "SIM", "driver": "DPS5005", "poll_interval": 0.05,
                         "transport": {"type": "virtual", "params": {"simulator": "dps5005"}}}]}
    lab = await Lab.start(conf, settings=FAST)
    await lab.wait_online(timeout=2)
    transport = lab.manager.get("SIM").stack.transport  # type: ignore[union-attr]
    closed = asyncio.Event()

    async def hang() -> None:
        await closed.wait()  # never set: the port driver is stuck

    transport.close = hang  # type: ignore[union-attr, method-assign]
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await lab.stop()
    assert loop.time() - t0 < FAST.close_timeout + 0.5
    assert not lab.running
