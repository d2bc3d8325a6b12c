"""The ``history:`` section of ``lab.yaml``: parsing and path resolution, round-trip edits that keep
it and its comments, and a real lab (a DPS5005 simulator on a pty) that records into the file the
config names on every start — appending on a restart — unless ``record=`` says otherwise. A folder
that does not exist stops the start with a hint and changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bench_helpers import SETTINGS
from engine_helpers import wait_until

from ionpy_widgets.engine.atomic import StorageError, backup_path
from ionpy_widgets.engine.config import LabConfig, parse_lab_config
from ionpy_widgets.engine.config_manager import ConfigManager
from ionpy_widgets.engine.config_schema import HistoryConfig
from ionpy_widgets.engine.lab import Lab
from ionpy_widgets.instruments.catalog import make_simulator
from ionpy_widgets.instruments.simhost import PtyServer

BENCH = """\
# bench 2, hand-written
version: 1

# every start of this bench records here
history:
  path: data/history.sqlite   # relative to this file

devices:
  - id: DPS_1              # the supply on the left
    driver: DPS5005
    poll_interval: 0.05
    transport: {{type: serial, params: {{port: {port}, baudrate: 9600}}}}
    link: {{timeout: 0.3}}
"""


@pytest.fixture(name="dps")
async def dps_fixture(tmp_path: Path) -> AsyncIterator[PtyServer]:
    server = await PtyServer(make_simulator("dps5005"), link_path=tmp_path / "ttyDPS").start()
    yield server
    await server.close()


def bench(tmp_path: Path, dps: PtyServer, history: str = "data/history.sqlite") -> Path:
    """``tmp_path/bench/lab.yaml`` with a ``data`` folder beside it."""
    folder = tmp_path / "bench"
    (folder / "data").mkdir(parents=True, exist_ok=True)
    config = folder / "lab.yaml"
    config.write_text(BENCH.format(port=dps.link_path).replace("data/history.sqlite", history), encoding="utf-8")
    return config


def recording_of(lab: Lab) -> Path:
    """The resolved file the lab records to (fails when it does not record)."""
    assert lab.history_recorder is not None, "the lab does not record"
    return Path(lab.history_recorder.store.location).resolve()


async def samples(lab: Lab, at_least: int, timeout: float = 5.0) -> int:
    """Wait until the recording holds ``at_least`` u_out samples of DPS_1 (committed); returns how many."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while (count := len(await lab.history_async("DPS_1", "u_out"))) < at_least:
        assert loop.time() < end, f"only {count} u_out samples recorded after {timeout} s"
        await asyncio.sleep(0.02)
    return count


# --- parsing ------------------------------------------------------------------------------------


def test_the_section_is_optional_and_resolves_against_the_config_folder(tmp_path: Path) -> None:
    plain = parse_lab_config("devices: []\n", tmp_path / "lab.yaml")
    assert plain.history == HistoryConfig() and plain.history.target(plain.path) is None
    config = parse_lab_config("history: {path: runs/h.sqlite}\ndevices: []\n", tmp_path / "lab.yaml")
    assert config.history.path == "runs/h.sqlite" and config.history.enabled
    assert config.history.target(config.path) == (tmp_path / "runs" / "h.sqlite").resolve()
    absolute = tmp_path / "elsewhere.sqlite"
    config = parse_lab_config(f"history: {{path: {absolute}}}\ndevices: []\n", tmp_path / "sub" / "lab.yaml")
    assert config.history.target(config.path) == absolute.resolve()
    off = parse_lab_config("history: {path: h.sqlite, enabled: false}\ndevices: []\n", tmp_path / "lab.yaml")
    assert off.history.target(off.path) is None and off.history.to_dict() == {"path": "h.sqlite", "enabled": False}
    empty = parse_lab_config("history:\ndevices: []\n", tmp_path / "lab.yaml")  # an empty section: none
    assert empty.history.target(empty.path) is None


def test_a_dict_config_resolves_against_the_working_directory(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = LabConfig.from_mapping({"history": {"path": "dict.sqlite"}, "devices": []})
    assert config.history.target(config.path) == tmp_path.resolve() / "dict.sqlite"


def test_edits_keep_the_section_and_its_comments(tmp_path: Path) -> None:
    text = BENCH.format(port="/dev/ttyUSB0")
    file = tmp_path / "lab.yaml"
    file.write_text(text, encoding="utf-8")
    cm = ConfigManager(file)
    cm.add_device({"id": "BAT", "driver": "V01_Battery"})
    added = text + "  - id: BAT\n    driver: V01_Battery\n"
    assert file.read_text(encoding="utf-8") == added and backup_path(file).read_text(encoding="utf-8") == text
    assert cm.config.history.path == "data/history.sqlite"
    cm.set_device_enabled("BAT", False)
    cm.remove_device("BAT")
    assert file.read_text(encoding="utf-8") == text
    cm.save()  # a save of the unchanged document writes the same text
    assert file.read_text(encoding="utf-8") == text


def test_a_section_added_by_hand_is_kept_by_the_next_edit(tmp_path: Path) -> None:
    file = tmp_path / "lab.yaml"
    file.write_text("version: 1\ndevices: []\n", encoding="utf-8")
    cm = ConfigManager(file)
    cm.load()
    by_hand = "version: 1\nhistory: {path: h.sqlite}  # mine\ndevices: []\n"
    file.write_text(by_hand, encoding="utf-8")
    cm.add_device({"id": "BAT", "driver": "V01_Battery"})
    text = file.read_text(encoding="utf-8")
    assert text.startswith("version: 1\nhistory: {path: h.sqlite}  # mine\ndevices:\n")
    assert cm.config.history == HistoryConfig("h.sqlite")


# --- a real lab ---------------------------------------------------------------------------------


async def test_every_start_records_into_the_file_and_a_restart_appends(tmp_path: Path, dps: PtyServer,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    config = bench(tmp_path, dps)
    monkeypatch.chdir(tmp_path)  # not the config's folder: the relative path still starts there
    before = config.read_bytes()
    db = tmp_path / "bench" / "data" / "history.sqlite"
    lab = await Lab.start(str(config), settings=SETTINGS)
    try:
        assert recording_of(lab) == db.resolve()
        await lab.wait_online(timeout=5)
        first = await samples(lab, 3)
        df = lab.history("DPS_1", "u_out")
        assert df.attrs["unit"] == "V" and (df["value"] >= 0).all()
    finally:
        await lab.stop()
    assert db.is_file() and config.read_bytes() == before
    oldest = df["timestamp"].min()

    lab = await Lab.start(config, settings=SETTINGS)  # the same bench again, no argument
    try:
        await lab.wait_online(timeout=5)
        second = await samples(lab, first + 3)
        again = await lab.history_async("DPS_1", "u_out")
        assert again["timestamp"].min() == oldest and second > first  # the first session is still there
    finally:
        await lab.stop()
    assert config.read_bytes() == before and not (tmp_path / "data").exists()


async def test_record_argument_wins_over_the_file(tmp_path: Path, dps: PtyServer) -> None:
    config = bench(tmp_path, dps)
    explicit = tmp_path / "explicit.sqlite"
    async with Lab.start(config, settings=SETTINGS, record=explicit) as lab:
        assert recording_of(lab) == explicit.resolve()
        await lab.wait_online(timeout=5)
        await samples(lab, 2)
    assert explicit.is_file() and not (tmp_path / "bench" / "data" / "history.sqlite").exists()


async def test_enabled_false_records_nothing(tmp_path: Path) -> None:
    config = tmp_path / "lab.yaml"
    config.write_text("history: {path: h.sqlite, enabled: false}\ndevices: []\n", encoding="utf-8")
    async with Lab.start(config, settings=SETTINGS) as lab:
        assert lab.history_recorder is None
    assert not (tmp_path / "h.sqlite").exists()


async def test_a_dict_config_records_relative_to_the_working_directory(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    conf = {"history": {"path": "dict.sqlite"},
            "devices": [{"id": "BAT", "driver": "V01_Battery", "poll_interval": 0.02}]}
    async with Lab.start(conf, name="history-dict", settings=SETTINGS) as lab:
        assert recording_of(lab) == Path.cwd() / "dict.sqlite"
        await lab.wait_online(timeout=3)
        await wait_until(lambda: lab.history_recorder is not None and lab.history_recorder.stats()["received_samples"]
                         > 0, timeout=3, what="a sample")
    assert (tmp_path / "dict.sqlite").is_file()


async def test_a_missing_folder_stops_the_start_and_changes_nothing(tmp_path: Path, dps: PtyServer) -> None:
    config = bench(tmp_path, dps, history="data/history.sqlite")
    running = await Lab.start(config, settings=SETTINGS)  # the bench as it was, recording
    try:
        await running.wait_online(timeout=5)
        config.write_text(config.read_text(encoding="utf-8").replace("data/history", "dtaa/history"),
                          encoding="utf-8")
        before = sorted(p.name for p in config.parent.iterdir())
        text = config.read_bytes()
        with pytest.raises(StorageError) as info:
            await Lab.start(config, settings=SETTINGS)
        error = info.value
        assert error.code == "storage_error" and error.details["field"] == "history.path"
        assert "dtaa" in error.message and "does not exist" in error.message
        assert "mkdir -p" in error.hint and "history.path" in error.hint and "lab.yaml" in error.hint
        assert config.read_bytes() == text and sorted(p.name for p in config.parent.iterdir()) == before
        # the lab already running for this file was not stopped, and still records
        assert running.running and running.history_recorder is not None
        await samples(running, 2)
    finally:
        await running.stop()


async def test_a_folder_in_place_of_the_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "h.sqlite").mkdir()
    config = tmp_path / "lab.yaml"
    config.write_text("history: {path: h.sqlite}\ndevices: []\n", encoding="utf-8")
    with pytest.raises(StorageError) as info:
        await Lab.start(config, settings=SETTINGS)
    assert "is a folder" in info.value.message and info.value.hint
