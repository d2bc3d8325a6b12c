"""StateManager: setpoints survive a restart, outputs never do, corrupt files are moved aside."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from kill_harness import KillRig, kill_versions

from ionpy_widgets.driver.entity import Access, EntityDescription, Kind, Role, entity_table
from ionpy_widgets.engine.atomic import backup_path
from ionpy_widgets.engine.state import STATE_VERSION, StateManager, persistable

U_SET = EntityDescription("u_set", "Voltage setpoint", "V", access=Access.RW, role=Role.SETPOINT, persist=True)
I_SET = EntityDescription("i_set", "Current limit", "A", access=Access.RW, role=Role.SETPOINT, persist=True)
BACKLIGHT = EntityDescription("backlight", "Backlight", access=Access.RW, role=Role.CONFIG, persist=True)
OUTPUT = EntityDescription("output", "Output", kind=Kind.BOOL, access=Access.RW, role=Role.SWITCH, confirm=True)
U_OUT = EntityDescription("u_out", "Output voltage", "V")
LOCK = EntityDescription("lock", "Keys locked", kind=Kind.BOOL, access=Access.RW, role=Role.CONFIG)
TABLE = entity_table(U_SET, I_SET, BACKLIGHT, OUTPUT, U_OUT, LOCK)


async def _until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait for a condition with a timeout (polling; the manager has no event to await)."""
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


def test_persistable_rules() -> None:
    assert [e.key for e in TABLE.values() if persistable(e)] == ["u_set", "i_set", "backlight"]


def test_setpoints_come_back_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "device_state.json"
    sm = StateManager(path)
    assert sm.set("psu1", "u_set", 5.0, entity=U_SET)
    assert sm.set("psu1", "i_set", 1.25, entity=I_SET)
    assert sm.set("psu1", "backlight", 3, entity=BACKLIGHT)
    assert sm.set("psu1", "poll_interval", 0.5)
    assert sm.dirty
    sm.save_now()
    assert not sm.dirty
    doc = json.loads(path.read_text())
    assert doc["version"] == STATE_VERSION and "saved_at" in doc

    again = StateManager(path)  # the "kernel restart"
    assert again.get("psu1") == {"u_set": 5.0, "i_set": 1.25, "backlight": 3, "poll_interval": 0.5}
    assert again.restore("psu1", TABLE) == {"u_set": 5.0, "i_set": 1.25, "backlight": 3, "poll_interval": 0.5}
    assert again.restore("psu1", None) == {"poll_interval": 0.5}
    assert again.restore("unknown", TABLE) == {}
    assert not again.dirty and again.warnings_list == []


def test_outputs_and_readings_are_never_stored(tmp_path: Path) -> None:
    sm = StateManager(tmp_path / "s.json")
    assert not sm.set("psu1", "output", True, entity=OUTPUT)
    assert not sm.set("psu1", "u_out", 4.9, entity=U_OUT)
    assert not sm.set("psu1", "lock", True, entity=LOCK)
    assert not sm.set("psu1", "output", True)  # no description: only known device settings pass
    assert sm.get("psu1") == {} and not sm.dirty
    assert sm.refused == {"psu1.output": 2, "psu1.u_out": 1, "psu1.lock": 1}
    with pytest.raises(ValueError, match="does not match"):
        sm.set("psu1", "i_set", 1.0, entity=U_SET)
    with pytest.raises(ValueError, match="finite"):
        sm.set("psu1", "u_set", float("nan"), entity=U_SET)
    with pytest.raises(ValueError, match="finite"):
        sm.set("psu1", "u_set", [1, 2], entity=U_SET)


def test_hand_edited_switch_is_not_restored(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"version": 1, "devices": {"psu1": {"u_set": 12.0, "output": True, "u_out": 3}}}))
    sm = StateManager(path)
    assert sm.restore("psu1", TABLE) == {"u_set": 12.0}
    assert sm.warnings_list == []


def test_unchanged_value_does_not_dirty_and_remove_device(tmp_path: Path) -> None:
    sm = StateManager(tmp_path / "s.json")
    sm.set("a", "u_set", 1.0, entity=U_SET)
    sm.save_now()
    sm.set("a", "u_set", 1.0, entity=U_SET)
    assert not sm.dirty
    assert sm.devices == ["a"]
    assert sm.remove_device("a") and sm.dirty
    assert not sm.remove_device("a")
    sm.save_now()
    assert StateManager(tmp_path / "s.json").devices == []


@pytest.mark.parametrize("content", [
    "{not json", "[]", '{"version": 99, "devices": {}}', '{"devices": {}}',
    '{"version": 1, "devices": []}', '{"version": 1, "devices": {"a": 5}}',
    '{"version": 1, "devices": {"a": {"u_set": {"nested": 1}}}}', '{"version": 1, "devices": {"a": {"u": NaN}}}',
    b"\xff\xfe\x00binary",
], ids=["bad-json", "list", "future-version", "no-version", "devices-list", "device-scalar", "nested", "nan",
        "binary"])
def test_corrupt_file_is_moved_aside_with_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                  content: str | bytes) -> None:
    path = tmp_path / "device_state.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    sm = StateManager(path)
    assert sm.devices == [] and not path.exists()
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("device_state.json.corrupt-")]
    assert len(aside) == 1 and aside[0].read_bytes() == (content if isinstance(content, bytes) else content.encode())
    assert sm.last_warning is not None and aside[0].name in sm.last_warning
    assert sm.warnings_list == [sm.last_warning]
    assert aside[0].name in caplog.text
    sm.set("psu1", "u_set", 2.0, entity=U_SET)
    sm.save_now()
    assert StateManager(path).get("psu1") == {"u_set": 2.0}


def test_corrupt_warning_mentions_backup(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    sm = StateManager(path)
    sm.set("a", "u_set", 1.0, entity=U_SET)
    sm.save_now()
    sm.set("a", "u_set", 2.0, entity=U_SET)
    sm.save_now()
    assert json.loads(backup_path(path).read_text())["devices"]["a"]["u_set"] == 1.0
    path.write_text("garbage")
    assert "s.json.bak" in (StateManager(path).last_warning or "")


def test_save_now_without_a_loop(tmp_path: Path) -> None:
    """Plain synchronous code (no event loop anywhere): save_now just writes."""
    sm = StateManager(tmp_path / "s.json")
    sm.set("a", "poll_interval", 2.0)
    assert sm.save_now() == tmp_path / "s.json"
    assert sm.save_if_dirty() is False
    with pytest.raises(RuntimeError):
        sm.start_autosave()  # needs a running loop


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
async def test_save_now_from_a_signal_handler(tmp_path: Path) -> None:
    sm = StateManager(tmp_path / "s.json")
    sm.set("a", "u_set", 7.0, entity=U_SET)
    old = signal.signal(signal.SIGUSR1, lambda *_: sm.save_now())
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert not sm.dirty
    assert StateManager(tmp_path / "s.json").get("a") == {"u_set": 7.0}


async def test_autosave_saves_when_dirty_and_stops_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    sm = StateManager(path, autosave_interval=0.01)
    task = sm.start_autosave()
    assert sm.start_autosave() is task
    sm.set("a", "u_set", 3.0, entity=U_SET)
    await _until(lambda: not sm.dirty)
    assert not sm.dirty and StateManager(path).get("a") == {"u_set": 3.0}
    sm.set("a", "u_set", 4.0, entity=U_SET)
    await sm.stop()
    assert task.done() and not sm.dirty
    assert StateManager(path).get("a") == {"u_set": 4.0}
    await sm.stop()  # twice is fine


async def test_stop_saves_pending_changes_before_first_tick(tmp_path: Path) -> None:
    sm = StateManager(tmp_path / "s.json", autosave_interval=60)
    sm.start_autosave()
    sm.set("a", "i_set", 0.5, entity=I_SET)
    await sm.stop()
    assert StateManager(tmp_path / "s.json").get("a") == {"i_set": 0.5}


async def test_autosave_failure_is_a_visible_warning(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    folder.mkdir()
    sm = StateManager(folder / "s.json", autosave_interval=0.01)
    folder.rmdir()
    sm.set("a", "u_set", 1.0, entity=U_SET)
    sm.start_autosave()
    await _until(lambda: sm.last_warning is not None)
    await sm.stop()
    assert sm.last_warning is not None and "autosave failed" in sm.warnings_list[0]
    assert sm.dirty


# Fork server (same scheme as test_atomic.py): one interpreter start, one forked saver per kill. Each
# saver restarts a StateManager on the file, prints "pid <pid>", then every version n it saved; the
# server prints "exit <pid>" once the saver is dead.
ZYGOTE = '''
import os, sys
from ionpy_widgets.driver.entity import Access, EntityDescription, Role
from ionpy_widgets.engine.state import StateManager
U = EntityDescription("u_set", "U", access=Access.RW, role=Role.SETPOINT, persist=True)
I = EntityDescription("i_set", "I", access=Access.RW, role=Role.SETPOINT, persist=True)

def saver(n):
    sm = StateManager(sys.argv[1])
    os.write(1, f"pid {os.getpid()}\\n".encode())
    while True:
        for dev in ("psu1", "psu2", "load"):
            sm.set(dev, "u_set", float(n), entity=U)
            sm.set(dev, "i_set", n / 1000, entity=I)
        sm.set("psu1", "poll_interval", 0.5 + n)
        if n % 2:
            sm.remove_device("load")
        sm.save_now()
        os.write(1, f"{n}\\n".encode())
        n += 1

for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        try:
            saver(int(line))
        finally:
            os._exit(1)
    os.waitpid(pid, 0)
    print("exit", pid, flush=True)
'''


def _state_version(path: Path) -> int | None:
    """The version n a complete state file holds (all values agree), else fail."""
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    assert doc["version"] == STATE_VERSION
    devices = doc["devices"]
    n = int(devices["psu1"]["u_set"])
    assert devices["psu1"] == {"u_set": float(n), "i_set": n / 1000, "poll_interval": 0.5 + n}
    assert devices["psu2"] == {"u_set": float(n), "i_set": n / 1000}
    assert ("load" in devices) == (n % 2 == 0)
    return n


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL")
def test_sigkill_during_1000_state_saves(fast_dir: Path) -> None:
    path = fast_dir / "device_state.json"
    current, writes = kill_versions(KillRig(ZYGOTE, path), random.Random(99), lambda: _state_version(path),
                                    what="saves")
    assert writes >= 1000
    restarted = StateManager(path)
    assert restarted.warnings_list == []
    assert restarted.restore("psu1", {"u_set": U_SET})["u_set"] == float(current or 0)
