"""The Lab facade: start/stop, re-run safety, handles, add/remove, emergency stop, loop watchdog."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from engine_helpers import FAST, Script, wait_until

import ionpy_widgets as ion
from ionpy_widgets.engine.lab import Lab, running_labs
from ionpy_widgets.engine.settings import EngineSettings
from ionpy_widgets.errors import (
    ConfigValidationError,
    DeviceDuplicateError,
    DeviceNotFoundError,
    DeviceSpawnError,
    LimitError,
)

BATTERY_YAML = "devices:\n  - id: BAT\n    driver: V01_Battery\n    poll_interval: 0.05\n"


def device_tasks() -> list[str]:
    return sorted(t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("ionpy-device:"))


async def test_start_creates_a_missing_file_and_stops(tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    lab = await Lab.start(path, settings=FAST)
    try:
        assert path.read_text().endswith("devices: []\n")
        assert lab.devices == [] and lab.running and running_labs()[str(path.resolve())] is lab
    finally:
        await lab.stop()
    assert not lab.running and str(path.resolve()) not in running_labs()
    await lab.stop()  # twice is harmless


async def test_handle_api(tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(BATTERY_YAML)
    async with Lab.start(str(path), settings=FAST) as lab:
        await lab.wait_online(timeout=2)
        bat = lab["BAT"]
        await wait_until(lambda: bat.read("voltage") is not None)
        assert bat.values["voltage"] == bat.read("voltage") == bat["voltage"]
        assert bat.reading("voltage").unit == "V"  # type: ignore[union-attr]
        assert bat.status["state"] == "online" and bat.online and bat.state == "online"
        assert "load_current" in bat.entities and bat.identity is not None and bat.driver_name == "V01_Battery"
        assert await bat.write("load_current", 2.0) == 2.0
        assert (await bat.poll_now())["load_current"] == 2.0
        with pytest.raises(LimitError):
            await bat.write("load_current", 1e6)
        with pytest.raises(DeviceNotFoundError):
            lab["nope"]
        assert "BAT" in lab and "nope" not in lab
        status = lab.status()
        assert status["devices"]["BAT"]["stats"]["polls"] >= 1 and status["running"]
        assert "online" in repr(lab) and "BAT" in repr(bat)
    assert not lab.running and device_tasks() == []
    assert "stopped" in repr(bat)


async def test_rerunning_start_on_the_same_file_stops_the_old_pollers(tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(BATTERY_YAML)
    first = await Lab.start(path, settings=FAST)
    await first.wait_online()
    second = await ion.start(str(path), settings=FAST)  # the setup cell, run again
    try:
        assert not first.running and second.running
        assert device_tasks() == ["ionpy-device:BAT"]
        await second.wait_online()
        assert first.manager.get("BAT").state.value == "stopped"
    finally:
        await second.stop()
        await first.stop()


async def test_a_bad_config_on_rerun_leaves_the_running_lab_alone(tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(BATTERY_YAML)
    lab = await Lab.start(path, settings=FAST)
    try:
        path.write_text(BATTERY_YAML + "  - id: X\n    driver: V01_Battery\n    poll_interval: -1\n")
        with pytest.raises(ConfigValidationError) as info:
            await Lab.start(path, settings=FAST)
        assert info.value.path == "devices[1].poll_interval"
        assert lab.running and "poll_interval: -1" in path.read_text()
    finally:
        await lab.stop()


async def test_dict_configs_share_one_key_unless_named() -> None:
    conf = {"devices": [{"id": "BAT", "driver": "V01_Battery"}]}
    a = await Lab.start(conf, settings=FAST)
    b = await Lab.start(conf, settings=FAST)
    c = await Lab.start(conf, name="bench-2", settings=FAST)
    try:
        assert not a.running and b.running and c.running
        assert sorted(running_labs()) == ["<dict>", "bench-2"]
    finally:
        await asyncio.gather(b.stop(), c.stop())


async def test_add_and_remove_devices(scripted: object) -> None:
    lab = await Lab.start(None, settings=FAST)
    try:
        handle = await lab.add_device({"id": "BAT", "driver": "V01_Battery", "poll_interval": 0.05})
        await lab.wait_online("BAT")
        assert lab.devices == ["BAT"] and handle.online
        with pytest.raises(DeviceDuplicateError):
            await lab.add_device({"id": "BAT", "driver": "V01_Battery"})
        with pytest.raises(ConfigValidationError) as info:
            await lab.add_device({"id": "D", "driver": "DPS5005", "transport": {"type": "serial", "params": {}}})
        assert info.value.path == "transport.params.port"
        with pytest.raises(DeviceSpawnError):
            await lab.add_device(_needs_missing_library())
        await lab.remove_device("BAT")
        assert lab.devices == [] and lab.config.devices == []
        with pytest.raises(DeviceNotFoundError):
            await handle.write("load_current", 1.0)
    finally:
        await lab.stop()


def _needs_missing_library() -> dict[str, object]:
    """A device whose build fails outside config validation: an unknown simulator family."""
    return {"id": "GHOST", "driver": "DPS5005", "transport": {"type": "virtual", "params": {"simulator": "dps9"}}}


async def test_emergency_stop_switches_every_output(scripted: object) -> None:
    scripts = [Script(), Script()]
    conf = {"devices": [{"id": f"S{i}", "driver": "TEST_Scripted", "options": {"script": s}}
                        for i, s in enumerate(scripts)] + [{"id": "BAT", "driver": "V01_Battery"}]}
    async with Lab.start(conf, settings=FAST) as lab:
        await lab.wait_online(timeout=2)
        await lab["S0"].write("output", True)
        await lab["BAT"].write("output", True)
        report = await lab.emergency_stop()
        assert report["errors"] == {}
        assert report["switched"] == {"S0": ["output"], "S1": ["output"], "BAT": ["output"]}
        assert lab["BAT"].read("output") is False or (await lab["BAT"].poll_now())["output"] is False


async def test_watchdog_records_a_blocked_loop() -> None:
    settings = EngineSettings(**{**FAST.to_dict(), "stall_threshold": 0.2, "watchdog_interval": 0.02})
    async with Lab.start(None, settings=settings) as lab:
        stalls = lab.subscribe(kinds=["loop_stall"])
        await wait_until(lambda: lab.watchdog.samples >= 1)  # measuring
        time.sleep(0.4)  # noqa: ASYNC251 - a blocking cell is exactly what the watchdog must notice
        event = await asyncio.wait_for(stalls.get(), 1)
        assert event.kind.value == "loop_stall" and 0.2 < event.payload["duration"] < 1.0
        [(started, duration)] = lab.stalls
        assert duration == pytest.approx(event.payload["duration"], abs=1e-3)
        assert abs(started - (time.time() - 0.4)) < 0.5
        assert lab.status()["loop"]["stalls"]


async def test_subscribe_and_callbacks_end_with_the_lab() -> None:
    conf = {"devices": [{"id": "BAT", "driver": "V01_Battery", "poll_interval": 0.05}]}
    got: list[str] = []
    lab = await Lab.start(conf, settings=FAST)
    sub = lab.subscribe(kinds=["reading"])
    cb = lab.subscribe_callback(lambda ev: got.append(ev.device), kinds=["reading"])
    first = await asyncio.wait_for(sub.get(), 2)
    assert first.device == "BAT"
    await wait_until(lambda: len(got) >= 1)
    await lab.stop()
    assert sub.closed and [e async for e in sub] == []
    await cb.aclose()


async def test_start_returns_at_once_and_polling_continues() -> None:
    conf = {"devices": [{"id": "BAT", "driver": "V01_Battery", "poll_interval": 0.05}]}
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    lab = await Lab.start(conf, settings=FAST)
    assert loop.time() - t0 < 0.5
    try:
        before = lab["BAT"].status["stats"]["polls"]
        await wait_until(lambda: lab["BAT"].status["stats"]["polls"] >= before + 3)
    finally:
        await lab.stop()


def test_lab_start_under_asyncio_run() -> None:
    async def main() -> int:
        async with ion.start({"devices": [{"id": "BAT", "driver": "V01_Battery", "poll_interval": 0.05}]},
                             name="script", settings=FAST) as lab:
            await lab.wait_online()
            await wait_until(lambda: lab["BAT"].status["stats"]["polls"] >= 2)
            return int(lab["BAT"].status["stats"]["polls"])

    assert asyncio.run(main()) >= 2
    assert "script" not in running_labs()
