"""A simulated bench for the lifecycle and restart tests: a DPS5005 simulator on a real
pseudo-terminal, a SCPI supply simulator on a loopback socket and the V01 battery, written as a
hand-commented config file; request logs on the simulators; poll counting. A test module imports
the fixtures it uses (``from bench_helpers import lab_fixture``: the fixture is named ``lab``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import FAST, wait_until

from ionpy_widgets.engine.lab import Lab
from ionpy_widgets.engine.settings import EngineSettings
from ionpy_widgets.instruments.catalog import make_simulator
from ionpy_widgets.instruments.rdtech_dps.protocol import FC_WRITE_MULTIPLE, FC_WRITE_SINGLE
from ionpy_widgets.instruments.simhost import PtyServer, Simulator, TcpServer

INTERVALS = {"DPS_1": 0.05, "PSU_1": 0.1, "BAT_1": 0.05}
#: Fast settings with a short connect timeout (a refused or silent port fails quickly).
SETTINGS = EngineSettings(**{**FAST.to_dict(), "connect_timeout": 0.5, "poll_timeout": 0.5})


def bench_yaml(dps: PtyServer, psu: TcpServer) -> str:
    return f"""\
# the bench on the left table (hand-written)
version: 1

devices:
  # power supply 1, USB-serial
  - id: DPS_1              # front-panel supply
    driver: DPS5005
    alias: Heater
    poll_interval: {INTERVALS["DPS_1"]}
    transport: {{type: serial, params: {{port: {dps.link_path}, baudrate: 9600}}}}
    framing: {{type: modbus_rtu, params: {{slave_id: 1}}}}
    link: {{timeout: 0.3}}

  # the network supply
  - id: PSU_1
    driver: SCPI_PSU
    poll_interval: {INTERVALS["PSU_1"]}   # two polls a second would do
    transport: {{type: tcp, params: {{host: 127.0.0.1, port: {psu.port}}}}}
    framing: {{type: delimiter, params: {{}}}}
    link: {{timeout: 0.3}}

  # a software battery
  - id: BAT_1
    driver: V01_Battery
    poll_interval: {INTERVALS["BAT_1"]}
"""


@dataclass
class RequestLog:
    """Every request payload a simulator received (wraps its ``handle``), with a wire-level idea of
    which ones change the instrument."""

    sim: Simulator
    payloads: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        original = self.sim.handle

        def handle(payload: bytes, now: float) -> bytes | None:
            self.payloads.append(bytes(payload))
            return original(payload, now)

        self.sim.handle = handle  # type: ignore[method-assign]

    def clear(self) -> None:
        self.payloads.clear()

    def modbus_writes(self) -> list[bytes]:
        """Modbus requests with a write function code (06 single, 16 multiple)."""
        return [p for p in self.payloads if len(p) > 1 and p[1] in (FC_WRITE_SINGLE, FC_WRITE_MULTIPLE)]

    def scpi_settings(self) -> list[str]:
        """SCPI commands that set something on the instrument (not queries, not *CLS, not a channel select)."""
        out = []
        for payload in self.payloads:
            for part in payload.decode("ascii", "replace").split(";"):
                text = part.strip().upper()
                if text and "?" not in text and text != "*CLS" and not text.lstrip(":").startswith("INST"):
                    out.append(text)
        return out


@pytest.fixture(name="dps")
async def dps_fixture(tmp_path: Path) -> AsyncIterator[PtyServer]:
    server = await PtyServer(make_simulator("dps5005"), link_path=tmp_path / "ttyDPS").start()
    yield server
    await server.close()


@pytest.fixture(name="psu")
async def psu_fixture() -> AsyncIterator[TcpServer]:
    server = await TcpServer(make_simulator("scpi_psu"), "127.0.0.1", 0).start()
    yield server
    await server.close()


@pytest.fixture(name="bench_file")
def bench_file_fixture(tmp_path: Path, dps: PtyServer, psu: TcpServer) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(bench_yaml(dps, psu), encoding="utf-8")
    return path


@pytest.fixture(name="lab")
async def lab_fixture(bench_file: Path) -> AsyncIterator[Lab]:
    lab = await Lab.start(bench_file, settings=SETTINGS)
    try:
        await lab.wait_online(timeout=5)
        yield lab
    finally:
        await lab.stop()


class PollCounter:
    """Counts each device's successful polls over a window and compares them with the schedule."""

    def __init__(self, lab: Lab, ids: list[str]) -> None:
        self.lab = lab
        self.ids = ids
        self.devices = {i: lab.manager.get(i) for i in ids}
        self.start = {i: d.stats.polls for i, d in self.devices.items()}
        self.t0 = asyncio.get_running_loop().time()

    async def ratios(self, at_least: float = 1.0) -> dict[str, float]:
        """Polls done / polls due since the counter started (waits until ``at_least`` seconds passed).
        The devices must be the same objects as at the start (not replaced meanwhile)."""
        loop = asyncio.get_running_loop()
        await wait_until(lambda: loop.time() - self.t0 >= at_least, timeout=at_least + 1, what="the window")
        elapsed = loop.time() - self.t0
        out = {}
        for i, device in self.devices.items():
            assert self.lab.manager.get(i) is device, f"{i} was replaced during the window"
            out[i] = (device.stats.polls - self.start[i]) / (elapsed / INTERVALS[i])
        return out


def text(path: Path) -> str:
    """The file's text (a plain function: reading a small file in a test never stalls the loop)."""
    return path.read_text(encoding="utf-8")


def kinds(events: list[Any]) -> list[tuple[str, str]]:
    return [(str(e.kind), e.device) for e in events if e.category == "system"]
