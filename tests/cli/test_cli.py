"""The ``ionpy`` command line, run as real subprocesses against real ptys and loopback sockets.

Simulators are started with ``--json`` and the test waits for their first stdout line (printed and
flushed once the pty or socket exists) — never a fixed sleep. Every subprocess is stopped in a
``finally`` block.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ionpy_widgets.cli import main
from ionpy_widgets.errors import UnknownDriverError
from ionpy_widgets.instruments.catalog import SIMULATORS, list_simulators, make_simulator
from ionpy_widgets.instruments.simhost import Simulator

IONPY = [sys.executable, "-m", "ionpy_widgets"]
READING_KEYS = {"device", "entity", "value", "unit", "timestamp", "quality"}


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*IONPY, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _first_line(proc: subprocess.Popen[str], timeout: float = 20.0) -> dict[str, Any]:
    """The first stdout line of ``proc`` as JSON, waiting at most ``timeout`` seconds for it."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError(f"no readiness line within {timeout} s")
    line = proc.stdout.readline()
    assert line, f"simulator exited early: {proc.stderr.read() if proc.stderr else ''}"
    return json.loads(line)


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> tuple[int, str, str]:
    """Signal ``proc`` (SIGKILL if it does not stop) and return (exit code, stdout, stderr)."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out, err


def _ionpy(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*IONPY, *args], capture_output=True, text=True, timeout=timeout, check=False)


def _readings(stdout: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    for row in rows:
        assert set(row) >= READING_KEYS, row
    return rows


def _latest(rows: list[dict[str, Any]], device: str, entity: str) -> dict[str, Any]:
    found = [r for r in rows if r["device"] == device and r["entity"] == entity]
    assert found, f"no {device}.{entity} reading in {len(rows)} readings"
    return found[-1]


# --- catalog -------------------------------------------------------------------------------------


def test_catalog_builds_simulators_case_insensitively() -> None:
    dps = make_simulator("DPS5005", model="dps5015", load_ohms=5.0)
    assert isinstance(dps, Simulator)
    assert dps.model.name == "DPS5015"
    assert isinstance(make_simulator("Scpi-Psu"), Simulator)
    assert [e.name for e in list_simulators()] == sorted(SIMULATORS)
    assert all(not e.error and e.description for e in list_simulators())


def test_catalog_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownDriverError) as info:
        make_simulator("dps9999")
    assert "dps5005" in info.value.hint and "scpi_psu" in info.value.hint
    with pytest.raises(TypeError, match="bogus"):
        make_simulator("dps5005", bogus=1)


# --- info ----------------------------------------------------------------------------------------


def test_info_json_lists_drivers_transports_and_simulators() -> None:
    result = _ionpy("info", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["version"] and data["python"]
    drivers = {d["name"]: d for d in data["drivers"]}
    assert drivers["DPS5005"]["category"] == "psu" and drivers["DPS5005"]["description"]
    transports = {t["name"]: t for t in data["transports"]}
    assert transports["serial"]["available"] is True
    assert all(t["available"] or t["reason"] for t in transports.values())
    assert {s["name"] for s in data["simulators"]} == {"dps5005", "scpi_psu", "ut61e_plus"}
    meter = drivers["UT61E_PLUS"]
    assert meter["category"] == "meter" and meter["description"]


def test_info_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "Drivers:" in out and "DPS5005" in out and "Simulators" in out and "dps5005" in out


def test_a_reader_that_leaves_early_is_not_a_traceback() -> None:
    # `ionpy info | head -1`: the pipe closes under the printer; exit like a shell does, quietly
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run([*IONPY, "info"], stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60,
                                check=False)
    finally:
        os.close(writer)
    assert result.returncode == 141, result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr, result.stderr


# --- simulate + run ------------------------------------------------------------------------------


def test_simulate_dps_on_a_pty_then_run_prints_readings(tmp_path: Path) -> None:
    link = tmp_path / "ttyDPS"
    sim = _spawn("simulate", "dps5005", "--serial", "--link", str(link), "--json")
    try:
        info = _first_line(sim)
        assert info["family"] == "dps5005" and info["transport"] == "serial"
        assert info["path"] == str(link) and os.path.realpath(link) == info["tty"]
        config = tmp_path / "lab.yaml"
        config.write_text(
            "devices:\n"
            "  - id: DPS5005_1\n"
            "    driver: DPS5005\n"
            "    poll_interval: 0.2\n"
            f"    transport: {{type: serial, params: {{port: {link}, baudrate: 9600}}}}\n"
            "    framing: {type: modbus_rtu, params: {slave_id: 1}}\n")
        result = _ionpy("run", str(config), "--json", "--duration", "2")
        assert result.returncode == 0, result.stderr
        rows = _readings(result.stdout)
        u_in = _latest(rows, "DPS5005_1", "u_in")
        assert u_in["value"] == pytest.approx(24.0) and u_in["unit"] == "V" and u_in["quality"] == "good"
        assert _latest(rows, "DPS5005_1", "u_set")["value"] == pytest.approx(5.0)
        assert _latest(rows, "DPS5005_1", "model")["value"] == "DPS5005"
    finally:
        code, _, err = _stop(sim)
    assert code == 0, err
    assert not link.exists(), "the simulator removes its symlink when it stops"


def test_simulate_scpi_on_loopback_tcp_then_run(tmp_path: Path) -> None:
    sim = _spawn("simulate", "scpi_psu", "--tcp", "127.0.0.1:0", "--json")
    try:
        info = _first_line(sim)
        assert info["transport"] == "tcp" and info["host"] == "127.0.0.1" and info["port"] > 0
        config = tmp_path / "lab.yaml"
        config.write_text(
            "devices:\n"
            "  - id: PSU_1\n"
            "    driver: SCPI_PSU\n"
            "    poll_interval: 0.2\n"
            f"    transport: {{type: tcp, params: {{host: 127.0.0.1, port: {info['port']}}}}}\n")
        result = _ionpy("run", str(config), "--duration", "2", "--json")
        assert result.returncode == 0, result.stderr
        rows = _readings(result.stdout)
        assert {r["device"] for r in rows} == {"PSU_1"}
        volts = [r for r in rows if r["unit"] == "V"]
        assert volts and all(isinstance(r["value"], int | float) for r in volts)
    finally:
        code, _, err = _stop(sim, signal.SIGTERM)
    assert code == 0, err


def test_run_human_output_has_units(tmp_path: Path) -> None:
    sim = _spawn("simulate", "dps5005", "--serial", "--json", "--model", "DPS5015")
    try:
        path = _first_line(sim)["path"]
        config = tmp_path / "lab.yaml"
        config.write_text(json.dumps({"devices": [{
            "id": "bench", "driver": "DPS5005", "poll_interval": 0.2,
            "transport": {"type": "serial", "params": {"port": path, "baudrate": 9600}}}]}))
        result = _ionpy("run", str(config), "--duration", "1")
        assert result.returncode == 0, result.stderr
        lines = [line for line in result.stdout.splitlines() if " bench " in line]
        assert lines and "model=DPS5015" in lines[-1]
        # the entity table formats values: enum labels, numbers rounded to the entity's precision
        assert "u_in=24 V" in lines[-1] and "i_set=1 A" in lines[-1] and "cv_cc=CV" in lines[-1]
    finally:
        _stop(sim)


# --- errors --------------------------------------------------------------------------------------


def test_bad_config_exits_2_with_the_field_path(tmp_path: Path) -> None:
    config = tmp_path / "lab.yaml"
    config.write_text(
        "devices:\n"
        "  - id: DPS5005_1\n"
        "    driver: DPS5005\n"
        "    transport: {type: serial, params: {port: /dev/does-not-matter, baudrate: fast}}\n")
    started = time.monotonic()
    result = _ionpy("run", str(config), "--duration", "5")
    assert result.returncode == 2
    assert "devices[0].transport.params.baudrate" in result.stderr
    assert "hint:" in result.stderr and "config_invalid" in result.stderr
    assert time.monotonic() - started < 30  # failed at once instead of running for the duration


def test_bad_config_json_error_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "lab.yaml"
    config.write_text("devices:\n  - id: X\n    driver: NO_SUCH_DRIVER\n")
    assert main(["run", str(config), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    error = json.loads(captured.err)["error"]
    assert error["code"] and "devices[0].driver" in error["message"] and error["hint"]


def test_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert "nope.yaml" in err and "hint:" in err


@pytest.mark.parametrize("address", ["198.51.100.1:5025", "0.0.0.0:5025", "203.0.113.10:0", "example.com:5025"])
def test_simulate_refuses_non_loopback_addresses(address: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "scpi_psu", "--tcp", address]) == 2
    err = capsys.readouterr().err
    assert "127.0.0.0/8" in err or "127.0.0.1" in err
    assert "hint:" in err


def test_simulate_refuses_the_hid_meter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "ut61e_plus", "--serial"]) == 2
    err = capsys.readouterr().err
    assert "USB HID device" in err and "virtual" in err and "SimulatedUt61eHid" in err


def test_simulate_unknown_family_and_bad_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "nope", "--serial"]) == 2
    assert "dps5005" in capsys.readouterr().err
    assert main(["simulate", "dps5005", "--serial", "--model", "DPS9999"]) == 2
    assert "DPS5015" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["simulate", "dps5005"])  # neither --serial nor --tcp
    assert info.value.code == 2
