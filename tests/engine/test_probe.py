"""The connection probe against real pseudo-terminals and loopback sockets: the success path, each
failing stage with its hint, the hard time limit, streaming and cleanup.

Baud mismatch is emulated two ways, both honestly labelled:

* ``BaudPty`` serves the simulator on a real pty and reads the speed the client set on the line
  (on Linux the master side sees the slave's termios). When it differs from the simulator's own
  rate, every byte the simulator receives is replaced by what a UART sampling at the wrong rate
  typically makes of it (garbage that fails the CRC): the instrument never answers, as a real
  DPS does, and the probe reports "no reply" with baud rates to try.
* The virtual transport with ``garble=1.0`` corrupts every reply (one flipped bit), as a
  mismatched or noisy line does when some bytes still get through: the probe sees CRC/framing
  errors and reports a baud mismatch.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import termios
import time
from pathlib import Path
from typing import Any

import pytest
import serial

from ionpy_widgets.engine.lab import Lab
from ionpy_widgets.engine.probe import ProbeResult, ProbeStep, probe
from ionpy_widgets.framing.base import Framer
from ionpy_widgets.framing.delimiter import DelimiterFramer
from ionpy_widgets.framing.modbus_rtu import ModbusRtuFramer
from ionpy_widgets.instruments.rdtech_dps.sim import DpsSimulator
from ionpy_widgets.instruments.scpi_psu.sim import ScpiPsuSimulator
from ionpy_widgets.instruments.simhost import PtyServer, Simulator, TcpServer

FAST = {"timeout": 0.3}
_SPEEDS = {getattr(termios, f"B{b}"): b for b in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)}


class BaudPty(PtyServer):
    """A pty whose simulator only understands bytes sent at its own baud rate (see module docstring)."""

    def __init__(self, sim: DpsSimulator) -> None:
        super().__init__(sim)
        self.seen_baud: int | None = None

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except OSError:
            return
        self.seen_baud = _SPEEDS.get(termios.tcgetattr(self._master)[5])
        if self.seen_baud != self.sim.baudrate:  # type: ignore[attr-defined]
            data = bytes((b >> 1) | 0x80 for b in data)  # a slow sampler sees shifted bits, idle-high tails
        if data and self._pump is not None:
            self._pump.data(data)


class RidenLike(Simulator):
    """Register bank of a Riden RD6006 (protocols.md §2.2): ID 60062 in register 0, I-OUT in 0x000B."""

    def __init__(self) -> None:
        super().__init__()
        self.registers = [0] * 20
        self.registers[0], self.registers[3], self.registers[11] = 60062, 141, 123

    def make_framer(self) -> Framer:
        return ModbusRtuFramer(role="slave", baudrate=115200)

    def handle(self, payload: bytes, now: float) -> bytes | None:
        slave, function, start, count = struct.unpack(">BBHH", payload[:6])
        if slave != 1 or function != 3:
            return None
        values = self.registers[start:start + count]
        return struct.pack(f">BBB{len(values)}H", 1, 3, 2 * len(values), *values)


class IdnOnly(Simulator):
    """A SCPI instrument that only answers ``*IDN?`` (here: a Rigol DL3021A electronic load)."""

    IDN = b"RIGOL TECHNOLOGIES,DL3021A,DL3A000000001,00.01.02.00.01"

    def make_framer(self) -> Framer:
        return DelimiterFramer(b"\n", strip=b"\r")

    def handle(self, payload: bytes, now: float) -> bytes | None:
        return self.IDN if payload.strip().upper() == b"*IDN?" else None


def _fds() -> set[str]:
    found = set()
    for entry in os.listdir("/proc/self/fd"):
        try:
            found.add(f"{entry}:{os.readlink(f'/proc/self/fd/{entry}')}")
        except OSError:
            continue
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _assert_released(path: str) -> None:
    """The probe let go of the port: an exclusive open succeeds."""
    with serial.Serial(path, 9600, exclusive=True, timeout=0):
        pass


def _failed(result: ProbeResult) -> ProbeStep:
    step = result.failed_step
    assert step is not None, result.to_dict()
    return step


# --- success ---------------------------------------------------------------------------------


async def test_dps5005_over_a_real_pty() -> None:
    async with PtyServer(DpsSimulator()) as server:
        streamed: list[ProbeStep] = []
        result = await probe("DPS5005", "serial", {"port": server.path}, on_step=streamed.append)
        _assert_released(server.path)
    assert result.success, result.to_dict()
    assert [s.message for s in result.steps] == [
        "Check driver", f"Open transport (serial {server.path} @ 9600)", "Identify", "Read values", "Close"]
    assert streamed == result.steps
    assert result.identity is not None and result.identity.model == "DPS5005"
    assert "RD Tech DPS5005" in result.steps[2].detail
    assert result.first_values["u_in"] == {"value": 24.0, "unit": "V"}
    assert result.first_values["u_set"]["unit"] == "V" and result.first_values["i_out"]["unit"] == "A"
    assert "u_in 24.00 V" in result.steps[3].detail
    assert result.error is None and 0 < result.duration_ms < 2000


async def test_scpi_psu_over_loopback_tcp() -> None:
    async with TcpServer(ScpiPsuSimulator(), "127.0.0.1", 0) as server:
        result = await probe("SCPI_PSU", "tcp", {"host": "127.0.0.1", "port": server.port})
    assert result.success, result.to_dict()
    assert result.steps[1].message == f"Open transport (tcp 127.0.0.1:{server.port})"
    assert "RIGOL TECHNOLOGIES DP832" in result.steps[2].detail
    assert result.first_values["u_out_1"]["unit"] == "V" and "i_set_3" in result.first_values


async def test_to_dict_has_the_exact_json_shape() -> None:
    async with PtyServer(DpsSimulator()) as server:
        data = (await probe("DPS5005", "serial", {"port": server.path})).to_dict()
    assert list(data) == ["success", "steps", "first_values", "error", "duration_ms"]
    assert all(list(step) == ["message", "ok", "detail", "hint", "duration_ms"] for step in data["steps"])
    assert all(set(v) == {"value", "unit"} for v in data["first_values"].values())
    assert data["error"] is None and data["success"] is True
    assert json.loads(json.dumps(data)) == data


async def test_software_instrument_without_transport() -> None:
    result = await probe("V01_Battery", "none", {})
    assert result.success, result.to_dict()
    assert [s.message for s in result.steps] == ["Check driver", "Identify", "Read values", "Close"]


async def test_steps_stream_in_order_to_an_async_callback() -> None:
    seen: list[tuple[str, bool, int]] = []

    async def on_step(step: ProbeStep) -> None:
        await asyncio.sleep(0)
        seen.append((step.message, step.ok, len(result_steps)))

    result_steps: list[ProbeStep] = []
    async with PtyServer(DpsSimulator(slave_id=3)) as server:
        result = await probe("DPS5005", "serial", {"port": server.path}, on_step=on_step, link_options=FAST,
                             cross_check=False)
        result_steps = result.steps
    assert [(m, ok) for m, ok, _ in seen] == [(s.message, s.ok) for s in result.steps]
    assert [ok for _, ok, _ in seen] == [True, True, False, True]  # identify fails, close still runs


async def test_a_failing_callback_does_not_break_the_probe() -> None:
    def boom(step: ProbeStep) -> None:
        raise RuntimeError("widget gone")

    async with PtyServer(DpsSimulator()) as server:
        result = await probe("DPS5005", "serial", {"port": server.path}, on_step=boom)
    assert result.success


# --- failing stages and their hints ----------------------------------------------------------


async def test_no_such_port_lists_the_ports_that_exist(tmp_path: Path) -> None:
    missing = str(tmp_path / "ttyUSB9")
    result = await probe("DPS5005", "serial", {"port": missing})
    step = _failed(result)
    assert step.message == f"Open transport (serial {missing} @ 9600)"
    assert f"{missing} does not exist" in step.hint
    assert "Ports that exist now" in step.hint or "no serial port is visible" in step.hint
    assert result.error is not None and result.error.code == "port_not_found"
    assert result.steps[-1].message == "Close" and result.steps[-1].ok


async def test_wrong_baud_on_a_pty_gives_no_reply_with_rates_to_try() -> None:
    sim = DpsSimulator()
    async with BaudPty(sim) as server:
        result = await probe("DPS5005", "serial", {"port": server.path, "baudrate": 19200}, link_options=FAST)
        assert server.seen_baud == 19200
        assert sim.requests == 0 and sim.bad_frames >= 1  # the instrument only ever saw garbage
        good = await probe("DPS5005", "serial", {"port": server.path, "baudrate": 9600}, link_options=FAST)
    step = _failed(result)
    assert step.message == "Identify" and result.error is not None and result.error.code == "protocol_timeout"
    assert "Nothing answered at 19200 baud: try 9600/4800/2400/115200 baud" in step.hint
    assert "BAUD" in step.hint
    assert good.success, good.to_dict()


async def test_corrupted_replies_point_at_a_baud_mismatch() -> None:
    result = await probe("DPS5005", "virtual", {"simulator": "dps5005", "garble": 1.0, "seed": 1},
                         link_options=FAST)
    step = _failed(result)
    assert step.message == "Identify"
    assert result.error is not None and result.error.code in ("protocol_crc", "protocol_framing")
    assert "baud mismatch" in step.hint and "9600" in step.hint


async def test_wrong_slave_id_names_slave_id_comm_and_the_address_that_answers() -> None:
    async with PtyServer(DpsSimulator(slave_id=1)) as server:
        framing = {"type": "modbus_rtu", "params": {"slave_id": 7}}
        found = await probe("DPS5005", "serial", {"port": server.path}, framing, link_options=FAST)
        plain = await probe("DPS5005", "serial", {"port": server.path}, framing, link_options=FAST,
                            cross_check=False)
        _assert_released(server.path)
    for result in (found, plain):
        step = _failed(result)
        assert step.message == "Identify"
        assert "slave id: 7 is set here" in step.hint and "COMM setting must be ON" in step.hint
    assert "Found it: RD Tech DPS5005 answers with DPS5005's defaults — set slave_id: 1." in _failed(found).hint
    assert "Found it" not in _failed(plain).hint


async def test_nothing_listening_names_the_usual_ports() -> None:
    port = _free_port()
    result = await probe("SCPI_PSU", "tcp", {"host": "127.0.0.1", "port": port})
    step = _failed(result)
    assert step.message == f"Open transport (tcp 127.0.0.1:{port})"
    assert f"Nothing listens on 127.0.0.1:{port}" in step.hint and "5025" in step.hint and "5555" in step.hint


async def test_scpi_driver_against_a_dps_pty_names_the_dps_driver() -> None:
    async with PtyServer(DpsSimulator()) as server:
        result = await probe("SCPI_PSU", "serial", {"port": server.path}, {"type": "delimiter"}, link_options=FAST)
        _assert_released(server.path)
    step = _failed(result)
    assert step.message == "Identify"
    assert "answers to the DPS5005 driver — choose DPS5005, not SCPI_PSU" in step.hint


async def test_dps_driver_against_the_scpi_tcp_sim_names_scpi_psu() -> None:
    async with TcpServer(ScpiPsuSimulator(), "127.0.0.1", 0) as server:
        result = await probe("DPS5005", "tcp", {"host": "127.0.0.1", "port": server.port}, link_options=FAST)
    step = _failed(result)
    assert "RIGOL TECHNOLOGIES DP832 answers to the SCPI_PSU driver — choose SCPI_PSU" in step.hint


async def test_dps_driver_reading_a_riden_model_id_says_riden() -> None:
    async with PtyServer(RidenLike()) as server:
        result = await probe("DPS5005", "serial", {"port": server.path, "baudrate": 115200}, link_options=FAST)
    step = _failed(result)
    assert step.message == "Identify" and "model number 123" in step.detail
    assert "RD60xx RD6006" in step.hint and "ID register 0x0000 = 60062" in step.hint


async def test_scpi_identity_of_another_instrument_is_a_mismatch() -> None:
    async with TcpServer(IdnOnly(), "127.0.0.1", 0) as server:
        result = await probe("SCPI_PSU", "tcp", {"host": "127.0.0.1", "port": server.port}, link_options=FAST)
    step = _failed(result)
    assert step.message == "Identify" and "not a SCPI_PSU instrument" in step.detail
    assert "DL3000 DL3021A" in step.hint and "SCPI_PSU does not" in step.hint
    assert result.error is not None and result.error.details["suggested_driver"] == "DL3000"


async def test_wrong_driver_for_the_transport_is_a_config_error() -> None:
    result = await probe("SCPI_PSU", "serial", {"port": "/dev/ttyUSB0"})
    step = _failed(result)
    assert [s.message for s in result.steps] == ["Check driver"]  # nothing was opened
    assert "SCPI_PSU connects over: tcp" in step.hint and "Installed drivers for serial: DPS5005" in step.hint
    assert result.config_error
    battery = await probe("V01_Battery", "serial", {"port": "/dev/ttyUSB0"})
    assert "transport `none`" in _failed(battery).hint and battery.config_error


async def test_bad_parameters_and_unknown_driver_are_config_errors() -> None:
    bad = await probe("DPS5005", "serial", {"port": "/dev/ttyUSB0", "baudrate": "fast"})
    assert _failed(bad).message == "Check driver" and "baudrate" in _failed(bad).detail and bad.config_error
    unknown = await probe("DPS9999", "serial", {"port": "/dev/ttyUSB0"})
    assert "Installed drivers: DPS5005" in _failed(unknown).hint and unknown.config_error
    kind = await probe("DPS5005", "carrier-pigeon", {})
    assert "Transport types:" in _failed(kind).hint and kind.config_error


async def test_port_held_by_the_engine_is_a_failed_step(tmp_path: Path) -> None:
    sim = DpsSimulator()
    async with PtyServer(sim, link_path=tmp_path / "ttyDPS") as server:
        config = {"devices": [{"id": "DPS5005_1", "driver": "DPS5005",
                               "transport": {"type": "serial", "params": {"port": server.tty_path}}}]}
        async with Lab.start(config, name="probe-held") as lab:
            await lab.wait_online(timeout=5)
            result = await lab.probe("DPS5005", "serial", {"port": server.path})  # the by-id style symlink
            by_set = await probe("DPS5005", "serial", {"port": server.tty_path}, held_ports={server.tty_path})
            values = await lab["DPS5005_1"].poll_now(timeout=2)  # the engine's device was not disturbed
            assert values["u_in"] == 24.0 and lab["DPS5005_1"].state == "online"
    step = _failed(result)
    assert step.message.startswith("Open transport") and "in use by device DPS5005_1" in step.detail
    assert "remove_device('DPS5005_1')" in step.hint
    assert result.error is not None and result.error.code == "port_busy"
    assert "in use by a device of the engine" in _failed(by_set).detail
    assert "stop the device using it" in _failed(by_set).hint


async def test_port_held_by_another_program_is_busy() -> None:
    async with PtyServer(DpsSimulator()) as server:
        with serial.Serial(server.path, 9600, exclusive=True, timeout=0):
            result = await probe("DPS5005", "serial", {"port": server.path})
    step = _failed(result)
    assert result.error is not None and result.error.code == "port_busy"
    assert "Another program holds" in step.hint


# --- limits and cleanup ----------------------------------------------------------------------


async def test_hard_time_limit_with_a_muted_instrument() -> None:
    sim = DpsSimulator()
    sim.mute = True
    async with PtyServer(sim) as server:
        started = time.perf_counter()
        result = await probe("DPS5005", "serial", {"port": server.path}, timeout=0.5,
                             link_options={"timeout": 5.0})
        elapsed = time.perf_counter() - started
        _assert_released(server.path)
    assert elapsed < 0.65 and result.duration_ms < 650
    step = _failed(result)
    assert step.message == "Identify" and "time limit of 0.5 s" in step.detail
    assert "COMM" in step.hint
    assert result.steps[-1].message == "Close" and result.steps[-1].ok


async def test_transport_is_closed_and_no_descriptor_leaks() -> None:
    async with PtyServer(DpsSimulator()) as server, TcpServer(ScpiPsuSimulator(), "127.0.0.1", 0) as tcp:
        await probe("DPS5005", "serial", {"port": server.path})  # warm up lazy imports and executor threads
        before = _fds()
        cases: list[tuple[Any, ...]] = [
            ("DPS5005", "serial", {"port": server.path}),
            ("DPS5005", "serial", {"port": server.path}, {"type": "modbus_rtu", "params": {"slave_id": 9}}),
            ("SCPI_PSU", "tcp", {"host": "127.0.0.1", "port": tcp.port}),
            ("DPS5005", "tcp", {"host": "127.0.0.1", "port": tcp.port}),
        ]
        for case in cases:
            await probe(*case, link_options=FAST)
        async with asyncio.timeout(2):  # the simulator's end of each connection closes once it sees EOF
            while tcp.clients:  # noqa: ASYNC110 - TcpServer has no event for "all clients gone"
                await asyncio.sleep(0.01)
        assert _fds() == before
        _assert_released(server.path)


async def test_cancelling_a_probe_still_releases_the_port() -> None:
    sim = DpsSimulator()
    sim.mute = True
    async with PtyServer(sim) as server:
        opened = asyncio.Event()

        def on_step(step: ProbeStep) -> None:
            if step.message.startswith("Open transport"):
                opened.set()

        task = asyncio.ensure_future(probe("DPS5005", "serial", {"port": server.path}, on_step=on_step,
                                           link_options={"timeout": 5.0}))
        await asyncio.wait_for(opened.wait(), 2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        _assert_released(server.path)
