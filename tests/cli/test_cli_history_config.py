"""``ionpy run CONFIG`` with a ``history: {path: ...}`` section and no ``--record``: it records into
that file (relative to the config file, whatever the working directory), opens one run named after
the config and prints the same summary as ``--record``; ``--record`` wins over the file; a folder
that does not exist is an error with a hint and nothing is written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import ionpy_widgets as ion
from ionpy_widgets.cli import EXIT_ERROR, EXIT_OK, main

CONFIG = """\
# the discharge bench
engine: {backoff_initial: 0.02, backoff_max: 0.2, connect_timeout: 2, poll_timeout: 1, close_timeout: 0.5}
history:
  path: records/discharge.sqlite   # beside this file
devices:
  - id: BAT
    driver: V01_Battery
    poll_interval: 0.02
  - id: DPS5005_1
    driver: DPS5005
    poll_interval: 0.05
    transport: {type: virtual, params: {simulator: dps5005}}
"""


def bench(tmp_path: Path) -> Path:
    folder = tmp_path / "bench"
    (folder / "records").mkdir(parents=True)
    config = folder / "discharge.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    return config


def test_run_records_where_the_config_says_and_prints_the_summary(tmp_path: Path) -> None:
    config = bench(tmp_path)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    result = subprocess.run([sys.executable, "-m", "ionpy_widgets", "run", str(config), "--duration", "1"],
                            capture_output=True, text=True, timeout=60, check=False, cwd=elsewhere)
    assert result.returncode == EXIT_OK, result.stderr
    db = tmp_path / "bench" / "records" / "discharge.sqlite"
    summary = [line for line in result.stderr.splitlines() if line.startswith("recorded ")]
    assert len(summary) == 1 and summary[0].endswith(f"events to {db}"), result.stderr
    assert list(elsewhere.iterdir()) == []  # nothing in the working directory
    assert config.read_text(encoding="utf-8") == CONFIG
    with ion.open_run(db) as run:
        assert run.name == "discharge" and run.status == "stopped"
        assert {"BAT", "DPS5005_1"} <= set(run.samples["device"])


def test_record_option_wins_over_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = bench(tmp_path)
    explicit = tmp_path / "explicit.sqlite"
    assert main(["run", str(config), "--record", str(explicit), "--duration", "0.3", "--json"]) == EXIT_OK
    err = capsys.readouterr().err
    summary = json.loads(next(line for line in err.splitlines() if '"recorded"' in line))
    assert summary["recorded"] == str(explicit) and summary["published_samples"] == summary["stored_samples"]
    assert explicit.is_file() and not (tmp_path / "bench" / "records" / "discharge.sqlite").exists()


def test_a_missing_history_folder_is_an_error_with_a_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = bench(tmp_path)
    (tmp_path / "bench" / "records").rmdir()
    before = sorted(p.name for p in config.parent.iterdir())
    assert main(["run", str(config), "--duration", "0.3"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "error [storage_error]" in err and "history.path" in err and "does not exist" in err
    assert "hint:" in err and "mkdir -p" in err
    assert config.read_text(encoding="utf-8") == CONFIG and sorted(p.name for p in config.parent.iterdir()) == before
