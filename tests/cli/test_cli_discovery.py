"""``ionpy discover`` and ``ionpy probe`` through ``main(argv)``, against simulators served by real
``ionpy simulate`` processes (a pty and a loopback socket). Readiness is the simulator's first
``--json`` stdout line, never a sleep; the processes are stopped when the module's tests end.
"""

from __future__ import annotations

import json
import selectors
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ionpy_widgets.cli import main
from ionpy_widgets.cli.discovery import parse_pairs, parse_value

VISA_YAML = Path(__file__).resolve().parents[2] / "ionpy_widgets" / "instruments" / "scpi_psu" / "visa_sim.yaml"
SCAN_KEYS = ["host", "port", "service", "latency_ms", "idn"]
IDN_KEYS = ["manufacturer", "model", "serial", "firmware"]


def _simulator(*args: str) -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen([sys.executable, "-m", "ionpy_widgets", "simulate", *args, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            assert sel.select(20), "simulator did not report readiness within 20 s"
        line = proc.stdout.readline()
        assert line, f"simulator exited early: {proc.stderr.read() if proc.stderr else ''}"
        yield json.loads(line)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


@pytest.fixture(scope="module")
def dps() -> Iterator[dict[str, Any]]:
    yield from _simulator("dps5005", "--serial")


@pytest.fixture(scope="module")
def scpi() -> Iterator[dict[str, Any]]:
    yield from _simulator("scpi_psu", "--tcp", "127.0.0.1:0")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- probe ---------------------------------------------------------------------------------------


def test_probe_dps_over_the_pty_prints_the_result_json(capsys: pytest.CaptureFixture[str],
                                                       dps: dict[str, Any]) -> None:
    code, out, _ = _run(capsys, "probe", "--driver", "DPS5005", "--transport", "serial",
                        "--param", f"port={dps['path']}", "--json")
    data = json.loads(out)
    assert code == 0 and data["success"] is True
    assert list(data) == ["success", "steps", "first_values", "error", "duration_ms"]
    assert [s["message"] for s in data["steps"]] == [
        "Check driver", f"Open transport (serial {dps['path']} @ 9600)", "Identify", "Read values", "Close"]
    assert all(list(s) == ["message", "ok", "detail", "hint", "duration_ms"] for s in data["steps"])
    assert data["first_values"]["u_in"] == {"value": 24.0, "unit": "V"}
    assert data["error"] is None


def test_probe_human_output_streams_steps_and_values(capsys: pytest.CaptureFixture[str],
                                                     dps: dict[str, Any]) -> None:
    code, out, _ = _run(capsys, "probe", "--driver", "DPS5005", "--transport", "serial",
                        "--param", f"port={dps['path']}", "--param", "baudrate=9600")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"Probing DPS5005 over serial {dps['path']} @ 9600 …"
    assert lines[1].startswith("  ok    Check driver — DPS5005 (psu): modbus_rtu framing, slave_id 1")
    assert any(line.startswith("u_in") and line.split()[1:] == ["24.0", "V"] for line in lines)
    assert lines[-1].startswith("Probe succeeded in ")


def test_probe_failure_exits_1_with_the_hint(capsys: pytest.CaptureFixture[str], dps: dict[str, Any]) -> None:
    code, out, _ = _run(capsys, "probe", "--driver", "DPS5005", "--transport", "serial",
                        "--param", f"port={dps['path']}", "--framing-param", "slave_id=9", "--json")
    data = json.loads(out)
    assert code == 1 and data["success"] is False
    failed = [s for s in data["steps"] if not s["ok"]]
    assert failed[0]["message"] == "Identify" and "slave id: 9 is set here" in failed[0]["hint"]
    assert "set slave_id: 1" in failed[0]["hint"]
    assert data["error"]["code"] == "protocol_timeout"


def test_probe_scpi_over_tcp_and_refused_port(capsys: pytest.CaptureFixture[str], scpi: dict[str, Any]) -> None:
    code, out, _ = _run(capsys, "probe", "--driver", "SCPI_PSU", "--transport", "tcp", "--param", "host=127.0.0.1",
                        "--param", f"port={scpi['port']}", "--json")
    assert code == 0 and json.loads(out)["first_values"]["u_out_1"]["unit"] == "V"
    code, out, _ = _run(capsys, "probe", "--driver", "SCPI_PSU", "--transport", "tcp", "--param", "host=127.0.0.1",
                        "--param", f"port={_free_port()}")
    assert code == 1 and "FAIL  Open transport" in out and "5555 for Rigol" in out


def test_probe_config_and_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "probe", "--driver", "NOPE", "--transport", "serial", "--param", "port=/dev/x",
                        "--json")
    assert code == 2 and json.loads(out)["error"]["code"] == "driver_unknown"
    code, _, err = _run(capsys, "probe", "--driver", "DPS5005", "--transport", "serial", "--param", "port")
    assert code == 2 and "--param expects KEY=VALUE" in err
    code, out, _ = _run(capsys, "probe", "--driver", "SCPI_PSU", "--transport", "serial", "--param", "port=/dev/x")
    assert code == 2 and "Installed drivers for serial: DPS5005" in out
    with pytest.raises(SystemExit) as exc:
        main(["probe", "--transport", "serial"])
    assert exc.value.code == 2


def test_param_values_are_typed() -> None:
    assert parse_value("9600") == 9600 and parse_value("0.5") == 0.5 and parse_value("-3") == -3
    assert parse_value("true") is True and parse_value("False") is False and parse_value("null") is None
    assert parse_value("/dev/ttyUSB0") == "/dev/ttyUSB0" and parse_value("0012") == "0012"
    assert parse_value("10C4") == "10C4" and parse_value("1e3") == 1000.0
    assert parse_pairs(["port=/dev/a=b", "slave_id=2"], "--param") == {"port": "/dev/a=b", "slave_id": 2}


# --- discover ------------------------------------------------------------------------------------


def test_discover_tcp_json_shape(capsys: pytest.CaptureFixture[str], scpi: dict[str, Any]) -> None:
    closed = _free_port()
    ports = f"{scpi['port']},{closed}"
    code, out, _ = _run(capsys, "discover", "tcp", "--targets", "127.0.0.1", "--ports", ports, "--json")
    items = json.loads(out)
    assert code == 0 and isinstance(items, list) and len(items) == 1  # the closed port is not listed
    assert list(items[0]) == SCAN_KEYS
    assert items[0]["host"] == "127.0.0.1" and items[0]["port"] == scpi["port"] and items[0]["idn"] is None
    assert items[0]["latency_ms"] >= 0 and items[0]["service"] == "unknown"
    code, out, _ = _run(capsys, "discover", "tcp", "--targets", "127.0.0.1", "--ports", ports, "--idn-all",
                        "--json")
    (item,) = json.loads(out)
    assert list(item["idn"]) == IDN_KEYS
    assert item["idn"]["manufacturer"] == "RIGOL TECHNOLOGIES" and item["idn"]["model"] == "DP832"


def test_discover_tcp_table(capsys: pytest.CaptureFixture[str], scpi: dict[str, Any]) -> None:
    code, out, _ = _run(capsys, "discover", "tcp", "--targets", "127.0.0.1", "--ports", str(scpi["port"]),
                        "--idn-all")
    assert code == 0
    header, row = out.splitlines()[:2]
    assert header.split() == ["HOST", "PORT", "SERVICE", "LATENCY", "IDN"]
    assert row.split()[:2] == ["127.0.0.1", str(scpi["port"])] and "DP832" in row


def test_discover_serial_json_runs(capsys: pytest.CaptureFixture[str], dps: dict[str, Any]) -> None:
    code, out, _ = _run(capsys, "discover", "serial", "--json")
    data = json.loads(out)
    assert code == 0 and list(data) == ["bus", "items", "error", "duration_ms", "note"] and data["bus"] == "serial"
    code, out, _ = _run(capsys, "discover", "serial", "--path", dps["path"], "--json")
    extra = [i for i in json.loads(out)["items"] if i["device"] == dps["path"]]
    assert code == 0 and extra and extra[0]["exists"] and extra[0]["source"] == "extra"
    code, out, _ = _run(capsys, "discover", "serial", "--path", dps["path"])
    assert code == 0 and out.splitlines()[0].split()[:3] == ["DEVICE", "USB", "ID"] and dps["path"] in out


def test_discover_usb_and_visa_sim(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "discover", "usb", "--json")
    assert code == 0 and json.loads(out)["bus"] == "usb"
    code, out, _ = _run(capsys, "discover", "visa", "--visa-library", f"{VISA_YAML}@sim", "--json")
    data = json.loads(out)
    socket_items = [i for i in data["items"] if i["resource"] == "TCPIP0::127.0.0.1::5025::SOCKET"]
    assert code == 0 and socket_items and socket_items[0]["idn"]["model"] == "DP832"


def test_discover_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "discover", "tcp", "--json")
    assert code == 2 and "needs --targets" in err
    code, _, err = _run(capsys, "discover", "serial", "--targets", "127.0.0.1")
    assert code == 2 and "apply to `discover tcp` only" in err
    code, _, err = _run(capsys, "discover", "usb", "--network")
    assert code == 2 and "apply to `discover visa` only" in err
    code, _, err = _run(capsys, "discover", "tcp", "--targets", "127.0.0.1", "--ports", "50x")
    assert code == 2 and "--ports expects" in err
    code, _, err = _run(capsys, "discover", "tcp", "--targets", "not a host!!")
    assert code == 2
    with pytest.raises(SystemExit) as exc:
        main(["discover", "bluetooth"])
    assert exc.value.code == 2
