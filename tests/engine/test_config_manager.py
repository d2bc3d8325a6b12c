"""ConfigManager: the user's comments, key order and layout survive every edit (compared as text),
atomic writes with a .bak of the previous version, duplicate and unknown ids, the v0 -> v1
migration, hand edits made meanwhile, and a writer killed with SIGKILL mid-save."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from kill_harness import KillRig

from ionpy_widgets import ConfigManager, StateManager
from ionpy_widgets.engine.atomic import backup_path, temp_prefix
from ionpy_widgets.engine.config import EMPTY_CONFIG
from ionpy_widgets.engine.config_migrations import migrate
from ionpy_widgets.engine.config_schema import CONFIG_VERSION
from ionpy_widgets.errors import ConfigValidationError, DeviceDuplicateError, DeviceNotFoundError

HAND = """\
# Bench 3 — hand-written, keep the order
version: 1

engine: {backoff_max: 5}   # reconnect at most every 5 s

devices:
  # the supply on the left shelf
  - id: DPS5005_1          # serial number 0042
    driver: DPS5005
    alias: Left supply
    transport: {type: serial, params: {port: /dev/ttyUSB0, baudrate: 9600}}
    framing: {type: modbus_rtu, params: {slave_id: 1}}

  # network supply
  - id: PSU_1
    driver: SCPI_PSU
    poll_interval: 0.25    # fast enough for the chart
    transport:
      type: tcp            # loopback in the lab
      params:
        host: 127.0.0.1
        port: 5025

  # the demo battery
  - id: BAT
    driver: V01_Battery
    options: {cells: 3}    # 3S pack

# runtime files next to this one
storage: {journal: journal.sqlite}
"""

NEW_BLOCK = """
  - id: NEW
    driver: V01_Battery
    alias: Spare
    poll_interval: 0.5
    options: {cells: 2}
"""


@pytest.fixture
def hand(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(HAND, encoding="utf-8")
    return path


def test_public_imports() -> None:
    assert ConfigManager.__module__.endswith("config_manager") and StateManager.__module__.endswith("state")


def test_load_and_lookups(hand: Path) -> None:
    cm = ConfigManager(hand)
    config = cm.load()
    assert config.ids == ["DPS5005_1", "PSU_1", "BAT"] and config.migrated_from == CONFIG_VERSION
    assert [d.id for d in cm.get_devices()] == config.ids
    assert cm.get_device("DPS5005_1").alias == "Left supply" and "BAT" in cm and "nope" not in cm
    assert config.storage.journal == "journal.sqlite" and config.engine.backoff_max == 5
    with pytest.raises(DeviceNotFoundError) as info:
        cm.get_device("nope")
    assert "DPS5005_1, PSU_1, BAT" in info.value.hint
    assert hand.read_text() == HAND and not backup_path(hand).exists()  # reading writes nothing


def test_comments_and_key_order_survive_add_update_and_remove(hand: Path) -> None:
    cm = ConfigManager(hand)
    cm.add_device({"id": "NEW", "driver": "V01_Battery", "poll_interval": 0.5, "options": {"cells": 2},
                   "alias": "Spare"})
    anchor = "    options: {cells: 3}    # 3S pack\n"
    after_add = HAND.replace(anchor, anchor + NEW_BLOCK)
    assert hand.read_text() == after_add
    assert backup_path(hand).read_text() == HAND

    cm.update_device("PSU_1", {"id": "PSU_1", "driver": "SCPI_PSU", "poll_interval": 0.5, "location": "rack 2",
                               "transport": {"type": "tcp", "params": {"host": "127.0.0.1", "port": 5026}}})
    after_update = (after_add
                    .replace("    driver: SCPI_PSU\n", "    driver: SCPI_PSU\n    location: rack 2\n")
                    .replace("    poll_interval: 0.25    # fast", "    poll_interval: 0.5     # fast")
                    .replace("        port: 5025\n", "        port: 5026\n"))
    assert hand.read_text() == after_update
    assert backup_path(hand).read_text() == after_add

    cm.remove_device("DPS5005_1")  # the first entry, with the comment right above it
    first = after_update[after_update.index("  # the supply on the left shelf"):after_update.index("  # network")]
    after_remove = after_update.replace(first, "")
    assert hand.read_text() == after_remove

    cm.remove_device("BAT")  # a middle entry: its comment goes, the neighbours keep theirs
    battery = after_remove[after_remove.index("  # the demo battery"):after_remove.index("  - id: NEW")]
    assert hand.read_text() == after_remove.replace(battery, "")

    cm.remove_device("NEW")  # the last entry: the comment after the list stays
    text = hand.read_text()
    assert text.endswith("        port: 5026\n\n# runtime files next to this one\nstorage: {journal: journal.sqlite}\n")
    assert cm.load().ids == ["PSU_1"] and cm.get_device("PSU_1").location == "rack 2"


def test_set_device_enabled_writes_only_that_key(hand: Path) -> None:
    cm = ConfigManager(hand)
    assert cm.set_device_enabled("BAT", False).enabled is False
    disabled = HAND.replace("    driver: V01_Battery\n", "    driver: V01_Battery\n    enabled: false\n")
    assert hand.read_text() == disabled and cm.get_device("BAT").enabled is False
    cm.set_device_enabled("BAT", True)
    assert hand.read_text() == disabled.replace("enabled: false", "enabled: true")
    cm.set_device_enabled("PSU_1", True)  # already enabled, no key: nothing to write
    assert hand.read_text() == disabled.replace("enabled: false", "enabled: true")
    with pytest.raises(ConfigValidationError):
        cm.set_device_enabled("BAT", "no")  # type: ignore[arg-type]


def test_duplicate_and_unknown_ids_write_nothing(hand: Path) -> None:
    cm = ConfigManager(hand)
    with pytest.raises(DeviceDuplicateError):
        cm.add_device({"id": "BAT", "driver": "V01_Battery"})
    with pytest.raises(DeviceDuplicateError):
        cm.update_device("BAT", {"id": "PSU_1", "driver": "V01_Battery"})  # rename onto a taken id
    for edit in (lambda: cm.remove_device("nope"), lambda: cm.set_device_enabled("nope", False),
                 lambda: cm.update_device("nope", {"id": "x", "driver": "V01_Battery"})):
        with pytest.raises(DeviceNotFoundError) as info:
            edit()
        assert "BAT" in info.value.hint
    assert hand.read_text() == HAND and not backup_path(hand).exists()


def test_rename_keeps_the_entry_in_place(hand: Path) -> None:
    cm = ConfigManager(hand)
    cm.update_device("BAT", {"id": "PACK", "driver": "V01_Battery", "options": {"cells": 3}})
    assert hand.read_text() == HAND.replace("  - id: BAT\n", "  - id: PACK\n")
    assert cm.load().ids == ["DPS5005_1", "PSU_1", "PACK"]


def test_a_hand_edit_made_meanwhile_is_kept(hand: Path) -> None:
    cm = ConfigManager(hand)
    cm.load()
    edited = HAND.replace("# runtime files", "  - id: HAND\n    driver: V01_Battery   # added in an editor\n\n"
                                             "# runtime files")
    hand.write_text(edited)
    cm.add_device({"id": "NEW", "driver": "V01_Battery"})
    assert cm.load().ids == ["DPS5005_1", "PSU_1", "BAT", "HAND", "NEW"]
    assert "# added in an editor" in hand.read_text()


def test_other_layouts_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    text = "version: 1\ndevices:\n- id: A\n  driver: V01_Battery\n  options:\n    cells: 3   # three\n"
    path.write_text(text)
    cm = ConfigManager(path)
    cm.add_device({"id": "B", "driver": "V01_Battery", "options": {"cells": 2}})
    assert path.read_text() == text + "- id: B\n  driver: V01_Battery\n  options:\n    cells: 2\n"
    cm.remove_device("A")
    assert path.read_text() == "version: 1\ndevices:\n- id: B\n  driver: V01_Battery\n  options:\n    cells: 2\n"


def test_missing_file_is_created_and_an_empty_list_becomes_a_block(tmp_path: Path) -> None:
    with pytest.raises(ConfigValidationError):
        ConfigManager(tmp_path / "none.yaml", create=False).load()
    assert not (tmp_path / "none.yaml").exists()
    path = tmp_path / "sub" / "config.yaml"
    cm = ConfigManager(path)
    assert cm.load().devices == [] and path.read_text() == EMPTY_CONFIG
    cm.add_device({"id": "BAT", "driver": "V01_Battery"})
    assert path.read_text() == EMPTY_CONFIG.replace("devices: []\n", "devices:\n  - id: BAT\n    driver: V01_Battery\n")


def test_stale_temporary_files_are_cleaned_on_load(hand: Path) -> None:
    stale = hand.with_name(f"{temp_prefix(hand)}abc123.tmp")
    stale.write_text("half a file")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    ConfigManager(hand).load()
    assert not stale.exists()


V0 = """\
# an old bench file (no version)
devices:
  - id: DPS5005_1   # left
    driver: DPS5005
    port: /dev/ttyUSB0
    baudrate: 19200
    slave_id: 3
    poll_interval: 0.5
  - id: PSU_1
    driver: SCPI_PSU
    transport: tcp
    params: {host: 127.0.0.1, port: 5025}
  - id: BAT
    driver: V01_Battery
"""


def test_v0_files_are_migrated_in_memory_and_saved_on_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(V0)
    cm = ConfigManager(path)
    config = cm.load()
    assert config.migrated_from == 0 and len(config.migration_notes) == 2
    dps, psu, bat = config.devices
    assert dps.transport == {"type": "serial", "params": {"port": "/dev/ttyUSB0", "baudrate": 19200}}
    assert dps.framing == {"type": "modbus_rtu", "params": {"slave_id": 3}} and dps.poll_interval == 0.5
    assert psu.transport == {"type": "tcp", "params": {"host": "127.0.0.1", "port": 5025}}
    assert bat.transport is None
    assert path.read_text() == V0  # loading never writes
    cm.save()
    assert path.read_text() == """\
# an old bench file (no version)
version: 1
devices:
  - id: DPS5005_1   # left
    driver: DPS5005
    transport: {type: serial, params: {port: /dev/ttyUSB0, baudrate: 19200}}
    framing: {type: modbus_rtu, params: {slave_id: 3}}
    poll_interval: 0.5
  - id: PSU_1
    driver: SCPI_PSU
    transport: {type: tcp, params: {host: 127.0.0.1, port: 5025}}
  - id: BAT
    driver: V01_Battery
"""
    assert backup_path(path).read_text() == V0
    again = cm.load()
    assert again.migrated_from == CONFIG_VERSION and again.devices == config.devices


def test_migration_of_plain_dicts_leaves_the_callers_dict_alone() -> None:
    from ionpy_widgets.engine.config import LabConfig

    data = {"devices": [{"id": "P", "driver": "SCPI_PSU", "host": "127.0.0.1", "port": 5025}]}
    config = LabConfig.from_mapping(data)
    assert config.devices[0].transport == {"type": "tcp", "params": {"host": "127.0.0.1", "port": 5025}}
    assert data == {"devices": [{"id": "P", "driver": "SCPI_PSU", "host": "127.0.0.1", "port": 5025}]}
    current = {"version": 1, "devices": []}
    assert migrate(current) == (1, []) and current == {"version": 1, "devices": []}


# --- a writer killed mid-save ------------------------------------------------------------------------
BASE = "# killed writers\nversion: 1\ndevices:\n  - id: BAT   # stays\n    driver: V01_Battery\n"
CHILD = '''
import os, sys
from ionpy_widgets.engine.config_manager import ConfigManager
cm = ConfigManager(sys.argv[1])
cm.load()  # drivers imported once, before the forks
for line in sys.stdin:
    n = int(line)
    pid = os.fork()
    if pid == 0:
        try:
            os.write(1, f"pid {os.getpid()}\\n".encode())
            while True:
                if n % 2 == 0:
                    cm.add_device({"id": "NEW", "driver": "V01_Battery", "alias": "spare"})
                else:
                    cm.remove_device("NEW")
                os.write(1, f"{n}\\n".encode())
                n += 1
        finally:
            os._exit(1)
    os.waitpid(pid, 0)
    print("exit", pid, flush=True)
'''


@pytest.mark.slow
@pytest.mark.skipif(os.name == "nt", reason="SIGKILL")
def test_sigkill_during_config_manager_edits_leaves_old_or_new(fast_dir: Path) -> None:
    """A child alternately adds and removes a device through the ConfigManager and is killed at
    random moments: the file is always exactly one of the two valid versions. (The 1,000-write
    SIGKILL tests of the atomic writer itself are in test_atomic.py and test_state.py.)"""
    path = fast_dir / "config.yaml"
    path.write_text(BASE)
    cm = ConfigManager(path)
    cm.add_device({"id": "NEW", "driver": "V01_Battery", "alias": "spare"})
    with_new = path.read_text()
    cm.remove_device("NEW")
    assert path.read_text() == BASE  # add + remove gives the same bytes back
    rng = random.Random(7)
    rig = KillRig(CHILD, path)
    writes = kills = n = 0
    started = time.monotonic()
    try:
        while writes < 20 or kills < 20:
            assert time.monotonic() - started < 60, f"too slow: {writes} edits in {kills} kills"
            reported = rig.round(n, rng.uniform(0.0, 0.15))
            writes += len(reported)
            kills += 1
            text = path.read_text()
            assert text in (BASE, with_new), f"kill {kills}: torn or unexpected file:\n{text}"
            assert backup_path(path).read_text() in (BASE, with_new)
            n += 1
            if n % 2 != (0 if text == BASE else 1):  # next edit: add when NEW is absent, else remove
                n += 1
    finally:
        rig.close()
    for tmp in path.parent.iterdir():  # killed writers may leave temp files, never a torn target
        if tmp.name.startswith(temp_prefix(path)):
            tmp.unlink()
