"""Live device lifecycle against simulators on real pipes (DPS5005 on a pty, SCPI supply on loopback
TCP, V01 battery): hot add and remove while the others keep their poll rate, double and concurrent
removes, a remove while a poll is in flight, update failures rolled back (device and file),
enable/disable, events reaching every subscriber, and the journal of it all."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from bench_helpers import (  # the *_fixture names provide the dps, psu, bench_file and lab fixtures
    SETTINGS,
    PollCounter,
    bench_file_fixture,  # noqa: F401
    dps_fixture,  # noqa: F401
    kinds,
    lab_fixture,  # noqa: F401
    psu_fixture,  # noqa: F401
    text,
)
from engine_helpers import wait_until

from ionpy_widgets.engine.atomic import StorageError, backup_path
from ionpy_widgets.engine.config_manager import ConfigManager
from ionpy_widgets.engine.lab import Lab
from ionpy_widgets.engine.manager import WaitOnlineTimeoutError
from ionpy_widgets.errors import (
    ConfigValidationError,
    DeviceDuplicateError,
    DeviceNotFoundError,
    DeviceSpawnError,
    LimitError,
)
from ionpy_widgets.instruments.catalog import make_simulator
from ionpy_widgets.instruments.simhost import PtyServer, TcpServer

OTHERS = ["DPS_1", "PSU_1", "BAT_1"]


def dps_conf(device_id: str, server: PtyServer, **extra: Any) -> dict[str, Any]:
    return {"id": device_id, "driver": "DPS5005", "poll_interval": 0.05, "link": {"timeout": 0.3},
            "transport": {"type": "serial", "params": {"port": str(server.path)}}, **extra}


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hand_edit(path: Path, content: str) -> None:
    path.write_text(content, encoding="utf-8")


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def device_tasks(device_id: str) -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == f"ionpy-device:{device_id}" and not t.done()]


async def test_hot_add_and_remove_while_the_others_keep_polling(lab: Lab, bench_file: Path, tmp_path: Path) -> None:
    original = text(bench_file)
    events = lab.subscribe(kinds=["device_added", "device_removed"])
    counter = PollCounter(lab, OTHERS)
    async with PtyServer(make_simulator("dps5005"), link_path=tmp_path / "ttyDPS2") as second:
        dps2 = await lab.add_device(dps_conf("DPS_2", second))
        bat2 = await lab.add_device({"id": "BAT_2", "driver": "V01_Battery", "poll_interval": 0.05})
        await lab.wait_online("DPS_2", "BAT_2", timeout=5)
        await wait_until(lambda: lab["DPS_2"].status["stats"]["polls"] >= 3 and bat2.read("voltage") is not None)
        assert ConfigManager(bench_file).load().ids == [*OTHERS, "DPS_2", "BAT_2"]
        assert dps2.identity is not None and dps2.identity.model == "DPS5005"
        await lab.remove_device("DPS_2")
        await lab.remove_device("BAT_2")
    assert lab.devices == OTHERS and device_tasks("DPS_2") == [] and device_tasks("BAT_2") == []
    assert text(bench_file) == original  # added and removed again: the same bytes
    ratios = await counter.ratios(at_least=1.0)
    assert all(r >= 0.6 for r in ratios.values()), f"polls done / due while adding and removing: {ratios}"
    assert all(lab.manager.get(i).stats.outages == 0 for i in OTHERS)
    assert all(lab.manager.get(i).stats.failures == 0 for i in OTHERS)  # no poll of the others failed
    assert kinds(events.drain()) == [("device_added", "DPS_2"), ("device_added", "BAT_2"),
                                     ("device_removed", "DPS_2"), ("device_removed", "BAT_2")]


async def test_double_and_concurrent_removes_are_harmless(lab: Lab) -> None:
    await lab.add_device({"id": "BAT_2", "driver": "V01_Battery", "poll_interval": 0.05})
    events = lab.subscribe(kinds=["device_removed"])
    assert await asyncio.gather(lab.remove_device("BAT_2"), lab.remove_device("BAT_2")) == [None, None]
    assert kinds(events.drain()) == [("device_removed", "BAT_2")]
    with pytest.raises(DeviceNotFoundError) as info:
        await lab.remove_device("BAT_2")
    assert "already removed" in info.value.message and "DPS_1" in info.value.hint
    with pytest.raises(DeviceNotFoundError):
        await lab.remove_device("never_there")
    assert lab.devices == OTHERS


async def test_remove_while_a_poll_is_in_flight_or_while_connecting(lab: Lab, tmp_path: Path) -> None:
    counter = PollCounter(lab, OTHERS)
    async with PtyServer(make_simulator("dps5005"), link_path=tmp_path / "ttyDPS2") as second:
        await lab.add_device(dps_conf("DPS_2", second))
        await lab.wait_online("DPS_2", timeout=5)
        second.sim.mute = True  # the instrument stops answering: the next poll waits for its timeout
        asked = second.sim.requests
        await wait_until(lambda: second.sim.requests > asked, what="a poll request in flight")
        await lab.remove_device("DPS_2")
        assert "DPS_2" not in lab and device_tasks("DPS_2") == []
    await lab.add_device({"id": "GONE", "driver": "SCPI_PSU", "link": {"timeout": 0.3},
                          "transport": {"type": "tcp", "params": {"host": "127.0.0.1", "port": free_port()}}})
    await wait_until(lambda: lab["GONE"].state == "unavailable", what="GONE unavailable")
    await lab.remove_device("GONE")  # while it keeps reconnecting
    assert lab.devices == OTHERS and device_tasks("GONE") == []
    ratios = await counter.ratios(at_least=1.0)
    assert all(r >= 0.6 for r in ratios.values()), ratios


async def test_update_failures_roll_back_the_device_and_the_file(lab: Lab, bench_file: Path, psu: TcpServer) -> None:
    original = text(bench_file)
    errors = lab.subscribe(kinds=["device_error"])
    old_psu = lab.manager.get("PSU_1").config
    old_bat = lab.manager.get("BAT_1").config

    # 1. the new device cannot be built: the old one is built again, the file is not touched
    with pytest.raises(DeviceSpawnError) as spawn:
        await lab.update_device("BAT_1", {"id": "BAT_1", "driver": "DPS5005",
                                          "transport": {"type": "virtual", "params": {"simulator": "dps9"}}})
    assert "previous configuration of BAT_1 was restored" in spawn.value.hint
    # 2. the new address does not answer within connect_timeout
    with pytest.raises(WaitOnlineTimeoutError) as timeout:
        await lab.update_device("PSU_1", {**old_psu.to_dict(), "transport": {
            "type": "tcp", "params": {"host": "127.0.0.1", "port": free_port()}}}, connect_timeout=1.0)
    assert "restored" in timeout.value.hint
    # 3. the config file cannot be written (its backup path is a folder): the device goes back
    backup_path(bench_file).mkdir()
    try:
        with pytest.raises(StorageError):
            await lab.update_device("PSU_1", {**old_psu.to_dict(), "poll_interval": 0.2})
    finally:
        backup_path(bench_file).rmdir()
    assert text(bench_file) == original
    assert lab.manager.get("PSU_1").config == old_psu and lab.manager.get("BAT_1").config == old_bat
    assert lab.config.device("PSU_1") == old_psu
    await lab.wait_online("PSU_1", "BAT_1", timeout=5)
    polls = lab["PSU_1"].status["stats"]["polls"]
    await wait_until(lambda: lab["PSU_1"].status["stats"]["polls"] >= polls + 2, what="PSU_1 polling again")
    failed = [dict(e.payload) for e in errors.drain()]
    assert [(f["operation"], f["rolled_back"]) for f in failed] == [("update", True)] * 3
    assert [f["error"]["code"] for f in failed] == ["device_spawn_failed", "wait_online_timeout", "storage_error"]


async def test_update_and_rename_edit_the_file_in_place(lab: Lab, bench_file: Path) -> None:
    updated = lab.subscribe(kinds=["device_updated"])
    conf = {**lab.manager.get("PSU_1").config.to_dict(), "poll_interval": 0.2, "alias": "Rack supply"}
    handle = await lab.update_device("PSU_1", conf, connect_timeout=3)
    assert handle.online and lab.manager.get("PSU_1").poll_interval == 0.2
    saved = text(bench_file)
    assert "    alias: Rack supply\n    poll_interval: 0.2   # two polls a second would do\n" in saved
    assert "# the network supply\n  - id: PSU_1\n" in saved
    event = next(e for e in updated.drain() if e.payload.get("change") == "config")
    assert event.device == "PSU_1" and event.payload["config"]["alias"] == "Rack supply"
    assert event.payload["manifest"]["name"] == "SCPI_PSU" and "restored" in event.payload
    await lab.update_device("BAT_1", {"id": "PACK", "driver": "V01_Battery"})
    assert lab.devices == ["DPS_1", "PSU_1", "PACK"]
    assert "  # a software battery\n  - id: PACK\n" in text(bench_file)
    with pytest.raises(DeviceDuplicateError):
        await lab.update_device("PACK", {"id": "DPS_1", "driver": "V01_Battery"})
    with pytest.raises(DeviceNotFoundError):
        await lab.update_device("BAT_1", {"id": "BAT_1", "driver": "V01_Battery"})


async def test_set_enabled_stops_and_starts_polling_and_is_saved(lab: Lab, bench_file: Path) -> None:
    await lab.set_enabled("DPS_1", False)
    device = lab.manager.get("DPS_1")
    assert device.state.value == "disabled" and device_tasks("DPS_1") == []
    assert "    driver: DPS5005\n    enabled: false\n" in text(bench_file)
    assert ConfigManager(bench_file).get_device("DPS_1").enabled is False
    await lab.set_enabled("DPS_1", False)  # already disabled: nothing happens
    await lab.set_enabled("DPS_1", True)
    await lab.wait_online("DPS_1", timeout=5)
    assert "    enabled: true\n" in text(bench_file) and lab.config.device("DPS_1").enabled
    kinds_seen = [e.kind for e in lab.journal.entries(device="DPS_1")] if lab.journal is not None else []
    assert "device_disabled" in kinds_seen and "device_enabled" in kinds_seen


async def test_system_events_reach_every_subscriber(lab: Lab) -> None:
    subs = [lab.subscribe(maxsize=1, name=f"slow-{i}") for i in range(3)]  # readings overflow, events must not
    await lab.add_device({"id": "BAT_2", "driver": "V01_Battery", "poll_interval": 0.02})
    await lab.wait_online("BAT_2", timeout=3)
    await lab.set_enabled("BAT_2", False)
    await lab.set_enabled("BAT_2", True)
    await lab.wait_online("BAT_2", timeout=3)
    await lab.update_device("BAT_2", {"id": "BAT_2", "driver": "V01_Battery", "alias": "Second pack"})
    with pytest.raises(DeviceSpawnError):
        await lab.update_device("BAT_2", {"id": "BAT_2", "driver": "DPS5005",
                                          "transport": {"type": "virtual", "params": {"simulator": "dps9"}}})
    await lab.remove_device("BAT_2")
    await wait_until(lambda: all(s.dropped > 0 for s in subs), what="readings dropped for slow subscribers")
    seen = [kinds(s.drain()) for s in subs]
    assert seen[0] == seen[1] == seen[2]
    mine = [k for k, dev in seen[0] if dev == "BAT_2"]
    for expected in ("device_added", "device_updated", "device_error", "device_removed", "availability"):
        assert expected in mine, (expected, mine)
    assert mine[0] == "device_added" and mine[-1] == "device_removed"


async def test_add_errors_leave_the_lab_and_the_file_alone(lab: Lab, bench_file: Path) -> None:
    original = text(bench_file)
    with pytest.raises(ConfigValidationError) as invalid:
        await lab.add_device({"id": "X", "driver": "DPS5005", "transport": {"type": "serial", "params": {}}})
    assert invalid.value.path == "transport.params.port"
    with pytest.raises(DeviceDuplicateError):
        await lab.add_device({"id": "BAT_1", "driver": "V01_Battery"})
    with pytest.raises(DeviceSpawnError):
        await lab.add_device({"id": "GHOST", "driver": "DPS5005",
                              "transport": {"type": "virtual", "params": {"simulator": "dps9"}}})
    with pytest.raises(WaitOnlineTimeoutError) as silent:
        await lab.add_device({"id": "GONE", "driver": "SCPI_PSU", "transport": {
            "type": "tcp", "params": {"host": "127.0.0.1", "port": free_port()}}}, connect_timeout=0.5)
    assert "GONE was not added" in silent.value.hint
    assert lab.devices == OTHERS and text(bench_file) == original
    hand_edit(bench_file, original + "  - id: HAND\n    driver: V01_Battery\n")  # added in an editor meanwhile
    with pytest.raises(DeviceDuplicateError):
        await lab.add_device({"id": "HAND", "driver": "V01_Battery"})
    assert "HAND" not in lab


async def test_auto_start_false_waits_for_start_device(lab: Lab) -> None:
    handle = await lab.add_device({"id": "BAT_2", "driver": "V01_Battery", "auto_start": False,
                                   "alias": "Spare", "location": "drawer"})
    assert handle.state == "stopped" and device_tasks("BAT_2") == []
    assert lab.config.device("BAT_2").auto_start is False and lab.config.device("BAT_2").location == "drawer"
    await lab.start_device("BAT_2")
    await lab.wait_online("BAT_2", timeout=3)
    await lab.stop_device("BAT_2")
    assert handle.state == "stopped"
    await lab.set_enabled("BAT_2", False)
    with pytest.raises(Exception, match="disabled"):
        await lab.start_device("BAT_2")


async def test_journal_records_writes_with_old_value_and_source(lab: Lab) -> None:
    dps_1 = lab["DPS_1"]
    await wait_until(lambda: dps_1.read("u_set") is not None)
    before = dps_1.read("u_set")
    await dps_1.write("u_set", 6.5)
    await lab.write("DPS_1", "i_set", 0.8, source="widget")
    with pytest.raises(LimitError):
        await dps_1.write("u_set", 999.0)
    assert lab.journal is not None
    writes = lab.journal.entries(kind="write", device="DPS_1")
    assert [(w.entity, w.old, w.new, w.source, w.unit) for w in writes][:1] == [("u_set", before, 6.5, "code", "V")]
    assert writes[1].entity == "i_set" and writes[1].source == "widget" and writes[1].new == 0.8
    failed = lab.journal.entries(kind="write_failed")
    assert failed[0].data["key"] == "u_set" and failed[0].data["error"]["code"] == "value_out_of_limits"
    assert lab.state is not None and lab.state.get("DPS_1") == {"u_set": 6.5, "i_set": 0.8}
    assert "<table>" in lab.journal._repr_html_() and "DPS_1.u_set" in repr(lab.journal)
    assert lab.journal.entries(kind="lab_started")


async def test_a_dict_lab_has_the_lifecycle_but_keeps_no_files(tmp_path: Path) -> None:
    async with Lab.start({"devices": [{"id": "BAT", "driver": "V01_Battery", "poll_interval": 0.05}]},
                         settings=SETTINGS) as lab:
        assert lab.journal is None and lab.state is None and lab.config_manager is None
        await lab.add_device({"id": "BAT_2", "driver": "V01_Battery"})
        await lab.update_device("BAT_2", {"id": "BAT_2", "driver": "V01_Battery", "alias": "two"})
        await lab.set_enabled("BAT_2", False)
        assert [d.id for d in lab.config.devices] == ["BAT", "BAT_2"] and not lab.config.device("BAT_2").enabled
        await lab.remove_device("BAT_2")
        assert lab.config.ids == ["BAT"]
    assert files_in(tmp_path) == []
