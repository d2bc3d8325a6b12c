"""Restart: setpoints written in one session come back in the next one in memory only
(``handle.restored``), outputs stay off and no byte that changes an instrument is sent on restore
(checked on the simulators, which keep running across the restart). Graceful shutdown saves the
state and closes the journal, twice is harmless; where the files live is configurable."""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from pathlib import Path

from bench_helpers import (  # the *_fixture names provide the dps, psu and bench_file fixtures
    SETTINGS,
    RequestLog,
    bench_file_fixture,  # noqa: F401
    dps_fixture,  # noqa: F401
    psu_fixture,  # noqa: F401
    text,
)
from engine_helpers import Script, ScriptedDriver, wait_until

from ionpy_widgets.driver.registry import register, unregister
from ionpy_widgets.engine.journal import Journal
from ionpy_widgets.engine.lab import Lab
from ionpy_widgets.instruments.rdtech_dps.protocol import FC_WRITE_SINGLE, Reg
from ionpy_widgets.instruments.simhost import PtyServer, TcpServer


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def polled(lab: Lab, *ids: str, count: int = 3) -> None:
    start = {i: lab[i].status["stats"]["polls"] for i in ids}
    await wait_until(lambda: all(lab[i].status["stats"]["polls"] >= start[i] + count for i in ids), timeout=5,
                     what="fresh polls")


async def test_setpoints_come_back_in_memory_and_outputs_stay_off(bench_file: Path, dps: PtyServer,
                                                                  psu: TcpServer) -> None:
    dps_log, psu_log = RequestLog(dps.sim), RequestLog(psu.sim)
    lab = await Lab.start(bench_file, settings=SETTINGS)
    try:
        await lab.wait_online(timeout=5)
        await lab["DPS_1"].write("u_set", 7.5)
        await lab.write("DPS_1", "i_set", 1.25, source="widget")
        await lab["DPS_1"].write("backlight", 3)
        await lab["DPS_1"].write("output", True)
        await lab["DPS_1"].write("output", False)
        await lab["PSU_1"].write("u_set_1", 3.3)
        await lab["BAT_1"].write("load_current", 1.5)
    finally:
        await lab.stop()
    await lab.stop()  # twice is harmless
    state_file = bench_file.parent / "device_state.json"
    saved = json.loads(text(state_file))
    assert saved["devices"] == {"BAT_1": {"load_current": 1.5}, "DPS_1": {"backlight": 3, "i_set": 1.25, "u_set": 7.5},
                                "PSU_1": {"u_set_1": 3.3}}
    saved["devices"]["DPS_1"]["output"] = True  # a hand-edited file claims the output was on
    saved["devices"]["PSU_1"]["output_1"] = True
    write_json(state_file, saved)
    # meanwhile someone turns the knob on the instrument: U-SET back to 5.00 V (FC06 to register U_SET)
    dps.sim.handle(bytes([1, FC_WRITE_SINGLE]) + struct.pack(">HH", Reg.U_SET, 500), 0.0)
    assert dps.sim.u_set == 5.0 and dps.sim.output is False and psu.sim.channels[0].output is False
    dps_log.clear()
    psu_log.clear()

    lab = await Lab.start(bench_file, settings=SETTINGS)  # the kernel restarted; the instruments did not
    try:
        await lab.wait_online(timeout=5)
        await polled(lab, "DPS_1", "PSU_1", "BAT_1")
        dps_1 = lab["DPS_1"]
        assert dps_1.restored == {"u_set": 7.5, "i_set": 1.25, "backlight": 3}  # in memory, visible
        assert dps_1.status["restored"] == dps_1.restored
        assert lab["PSU_1"].restored == {"u_set_1": 3.3} and lab["BAT_1"].restored == {"load_current": 1.5}
        assert dps_1.read("u_set") == 5.0 and dps.sim.u_set == 5.0  # the instrument keeps its own value
        assert dps.sim.output is False and dps_1.read("output") is False  # outputs stay off
        assert psu.sim.channels[0].output is False and lab["BAT_1"].read("output") is False
        assert dps_log.payloads and dps_log.modbus_writes() == []  # polled, but nothing written
        assert psu_log.payloads and psu_log.scpi_settings() == []
        added = lab.journal.entries(kind="device_added", device="DPS_1") if lab.journal else []
        assert added[-1].data["restored"] == dps_1.restored

        # the journal of the first session survived the restart
        assert lab.journal is not None
        writes = [(w.entity, w.old, w.new, w.source) for w in lab.journal.entries(kind="write", device="DPS_1")]
        assert [(w[0], w[3]) for w in writes] == [("u_set", "code"), ("i_set", "widget"), ("backlight", "code"),
                                                  ("output", "code"), ("output", "code")]
        assert [w[2] for w in writes] == [7.5, 1.25, 3, True, False]
        assert len(lab.journal.entries(kind="lab_started")) == 2 and len(lab.journal.entries(kind="lab_stopped")) == 1

        # sending the restored values is an explicit request: setpoints only, journaled as "restore"
        assert await dps_1.apply_restored() == {"u_set": 7.5, "i_set": 1.25, "backlight": 3}
        assert dps.sim.u_set == 7.5 and dps.sim.output is False
        registers = {struct.unpack(">H", p[2:4])[0] for p in dps_log.modbus_writes()}
        assert registers == {Reg.U_SET, Reg.I_SET, Reg.B_LED}
        restores = [w.entity for w in lab.journal.entries(kind="write") if w.source == "restore"]
        assert sorted(restores) == ["backlight", "i_set", "u_set"]
    finally:
        await lab.stop()


async def test_stop_saves_state_closes_the_journal_and_bounds_a_hanging_close(tmp_path: Path) -> None:
    register(ScriptedDriver)
    try:
        script = Script(hang_on_close=True)
        config = {"storage": {"folder": str(tmp_path / "data"), "journal": "run.sqlite", "autosave_interval": 60},
                  "devices": [{"id": "S", "driver": ScriptedDriver.name, "options": {"script": script}},
                              {"id": "BAT", "driver": "V01_Battery", "poll_interval": 0.05}]}
        lab = await Lab.start(config, settings=SETTINGS)
        try:
            await lab.wait_online(timeout=3)
            await lab["S"].write("setpoint", 4.0)  # journaled, not persisted (not marked persist)
            await lab["BAT"].write("load_current", 2.5)
            assert lab.state is not None and lab.state.dirty  # the autosave would take a minute
        finally:
            async with asyncio.timeout(5):  # the hanging close is abandoned after close_timeout
                await asyncio.gather(lab.stop(), lab.stop())
        assert script.disconnects == 1 and lab.journal is not None and lab.journal.closed
        assert json.loads(text(tmp_path / "data" / "device_state.json"))["devices"] == {"BAT": {"load_current": 2.5}}
        with Journal(tmp_path / "data" / "run.sqlite") as journal:
            assert [e.kind for e in journal.entries()][-1] == "lab_stopped"
            assert [(e.entity, e.new) for e in journal.entries(kind="write")] == [("setpoint", 4.0),
                                                                                  ("load_current", 2.5)]
    finally:
        unregister(ScriptedDriver.name)


async def test_where_the_files_live_is_configurable(tmp_path: Path) -> None:
    config = tmp_path / "bench.yaml"
    config.write_text("version: 1\nstorage: {folder: runtime, state: setpoints.json, journal: false}\n"
                      "logging: {level: DEBUG}\ndevices: []\n")
    package_logger = logging.getLogger("ionpy_widgets")
    level = package_logger.level
    async with Lab.start(config, settings=SETTINGS) as lab:
        assert lab.journal is None and lab.storage_paths["state"] == tmp_path / "runtime" / "setpoints.json"
        assert package_logger.level == logging.DEBUG
    assert package_logger.level == level
    assert files_in(tmp_path) == ["bench.yaml", "runtime"]  # no journal; the state file once there is state
    default = tmp_path / "next" / "config.yaml"
    async with Lab.start(default, settings=SETTINGS) as lab:
        assert lab.storage_paths == {"config": default, "state": default.parent / "device_state.json",
                                     "journal": default.parent / "journal.sqlite"}


async def test_a_corrupt_state_file_is_moved_aside_and_the_lab_starts(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("version: 1\ndevices:\n  - id: BAT\n    driver: V01_Battery\n    poll_interval: 0.05\n")
    (tmp_path / "device_state.json").write_text("{not json")
    async with Lab.start(config, settings=SETTINGS) as lab:
        await lab.wait_online(timeout=3)
        assert lab["BAT"].restored == {} and any("moved to device_state.json.corrupt-" in w for w in lab.warnings)
    assert any(name.startswith("device_state.json.corrupt-") for name in files_in(tmp_path))
