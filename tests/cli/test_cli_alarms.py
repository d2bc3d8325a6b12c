"""``ionpy run --json`` with alarms, as a real subprocess: every reading line carries ``alarm``
(``NORMAL``, ``HI``, ``HIHI``, ``LO``, ``LOLO``: the level right after that reading), alarm events go
to stderr, and an ``alarms:`` mistake in the config exits 2 naming its field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

IONPY = [sys.executable, "-m", "ionpy_widgets"]
LEVELS = {"NORMAL", "HI", "HIHI", "LO", "LOLO"}


def _ionpy(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*IONPY, *args], capture_output=True, text=True, timeout=timeout, check=False)


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


def test_run_json_reading_lines_carry_the_alarm_level(tmp_path: Path) -> None:
    config = tmp_path / "bench.yaml"
    config.write_text(
        "devices:\n"
        "  - id: CELL\n"
        "    driver: V01_Battery\n"
        "    poll_interval: 0.1\n"
        "    options: {soc: 15}\n"                     # under LO (20 %) from the first poll
        "    alarms:\n"
        "      temperature: {hi: 0.0}\n"                # the pack is warmer than 0 °C: HI
        "      voltage: {lo: 1.0}\n"                    # a full-ish pack: NORMAL
        "storage: {journal: false, state: false}\n")
    result = _ionpy("run", str(config), "--json", "--duration", "1.5")
    assert result.returncode == 0, result.stderr
    rows = _lines(result.stdout)
    assert rows and all(row["alarm"] in LEVELS for row in rows)
    assert {"device", "entity", "value", "unit", "timestamp", "quality", "alarm"} == set(rows[0])
    by_entity = {row["entity"]: row["alarm"] for row in rows}
    assert by_entity["soc"] == "LO" and by_entity["temperature"] == "HI" and by_entity["voltage"] == "NORMAL"
    assert by_entity["output"] == "NORMAL"  # entities without an alarm are NORMAL
    first_soc = next(row for row in rows if row["entity"] == "soc")
    assert first_soc["alarm"] == "LO"  # the level as of that very reading, no delay configured
    events = [e for e in _lines(result.stderr) if e.get("category") == "alarm"]
    raised = {(e["entity"], e["level"]) for e in events if e["transition"] == "raise"}
    assert raised == {("soc", "lo"), ("temperature", "hi")}
    assert all(e["state"] == "active_unack" and e["who"] == "engine" for e in events)


def test_run_text_output_marks_alarms(tmp_path: Path) -> None:
    config = tmp_path / "bench.yaml"
    config.write_text(json.dumps({"devices": [{"id": "CELL", "driver": "V01_Battery", "poll_interval": 0.1,
                                               "options": {"soc": 15}}],
                                  "storage": {"journal": False, "state": False}}))
    result = _ionpy("run", str(config), "--duration", "1")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if " CELL " in line)
    assert "soc=15 % [LO]" in line
    assert "ALARM CELL.soc active_unack: State of charge LO: 15 % (limit 20 %)" in result.stderr


def test_an_alarm_config_mistake_exits_2_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "bench.yaml"
    config.write_text("devices:\n  - id: CELL\n    driver: V01_Battery\n"
                      "    alarms: {soc: {lo: 20, actions: {lo: explode}}}\n")
    result = _ionpy("run", str(config), "--json", "--duration", "1")
    assert result.returncode == 2
    error = json.loads(result.stderr.strip().splitlines()[-1])["error"]
    assert error["details"]["path"] == "devices[0].alarms.soc.actions.lo" and "output_off" in error["hint"]
