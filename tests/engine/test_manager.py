"""DeviceManager without I/O: the virtual battery and a scripted driver with injected faults."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from engine_helpers import FAST, Script, wait_until

from ionpy_widgets.engine.bus import EventBus
from ionpy_widgets.engine.device import DeviceState
from ionpy_widgets.engine.manager import DeviceManager, WaitOnlineTimeoutError
from ionpy_widgets.engine.poller import Schedule
from ionpy_widgets.engine.settings import Backoff, EngineSettings
from ionpy_widgets.errors import (
    ConfigValidationError,
    DeviceDuplicateError,
    DeviceNotFoundError,
    DeviceSpawnError,
    DeviceUnavailableError,
    EntityError,
    LimitError,
    ProtocolError,
    ProtocolTimeoutError,
    ReadOnlyError,
    SpawnStage,
    TransportClosedError,
)

pytestmark = pytest.mark.usefixtures("scripted")


def scripted_conf(device_id: str, script: Script, **extra: Any) -> dict[str, Any]:
    return {"id": device_id, "driver": "TEST_Scripted", "options": {"script": script}, **extra}


@pytest.fixture
async def manager():
    mgr = DeviceManager(EventBus(), FAST)
    yield mgr
    await mgr.stop()


def availability(events: list[Any], device: str) -> list[dict[str, Any]]:
    return [dict(e.payload) for e in events if e.category == "system" and e.kind == "availability"
            and e.device == device]


# --- schedule and backoff ------------------------------------------------------------------------

def test_schedule_is_drift_free_and_skips_missed_ticks() -> None:
    sched = Schedule(0.5, start=100.0)
    assert sched.deadline == 100.0
    assert sched.advance(100.01) == 0 and sched.deadline == 100.5
    assert sched.advance(100.52) == 0 and sched.deadline == 101.0
    # a poll that overran by 1.3 intervals: skip to the next future tick, no burst
    assert sched.advance(101.0 + 0.65 + 0.5) == 2 and sched.deadline == 102.5
    assert sched.skipped == 2


def test_backoff_doubles_caps_and_resets() -> None:
    backoff = Backoff(0.5, 30.0, 2.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    for _ in range(2000):  # never overflows once capped
        assert backoff.next_delay() == 30.0
    backoff.reset()
    assert backoff.next_delay() == 0.5
    jittery = Backoff(1.0, 10.0, jitter=0.1)
    assert all(0.9 <= jittery.next_delay() <= 1.1 for _ in range(1)) and 1.8 <= jittery.next_delay() <= 2.2


def test_settings_validate_with_paths() -> None:
    with pytest.raises(ConfigValidationError) as info:
        EngineSettings.from_mapping({"backoff_max": -1})
    assert info.value.path == "engine.backoff_max"
    with pytest.raises(ConfigValidationError) as info:
        EngineSettings.from_mapping({"backof_max": 1})
    assert info.value.path == "engine.backof_max" and "backoff_max" in info.value.hint
    assert EngineSettings.from_mapping({"max_poll_failures": 5}).max_poll_failures == 5


# --- the virtual battery -------------------------------------------------------------------------

async def test_battery_polls_publishes_and_writes(manager: DeviceManager) -> None:
    sub = manager.bus.subscribe(name="test")
    await manager.add({"id": "BAT", "driver": "V01_Battery", "poll_interval": 0.05})
    await manager.wait_online("BAT", timeout=2)
    first = await asyncio.wait_for(_next_reading(sub, "BAT"), 2)
    assert {"voltage", "soc", "output"} <= set(first.values)
    assert next(r for r in first.readings if r.entity == "voltage").unit == "V"
    dev = manager.get("BAT")
    status = dev.status()
    assert status["state"] == "online" and status["identity"]["model"].startswith("V01")
    assert status["stats"]["polls"] >= 1 and status["last_error"] is None
    assert await manager.write("BAT", "load_current", 1.5, source="test") == 1.5
    with pytest.raises(LimitError):
        await manager.write("BAT", "load_current", 99)
    with pytest.raises(ReadOnlyError):
        await manager.write("BAT", "voltage", 3.0)
    with pytest.raises(EntityError):
        await manager.write("BAT", "no_such_entity", 1)
    values = await manager.poll_now("BAT")
    assert values["load_current"] == 1.5
    writes = [dict(e.payload) for e in sub.drain() if e.category == "system" and e.kind == "write"]
    assert writes[0] == {"key": "load_current", "value": 1.5, "source": "test", "ok": True, "requested": 1.5,
                         "old": 0.0}
    assert [w["ok"] for w in writes] == [True, False, False, False]
    assert writes[1]["error"]["code"] == "value_out_of_limits"
    sub.close()


async def _next_reading(sub: Any, device: str) -> Any:
    async for event in sub:
        if event.category == "reading" and event.device == device:
            return event
    raise AssertionError("subscription closed")


async def test_ids_duplicates_unknown_and_disabled(manager: DeviceManager) -> None:
    await manager.add({"id": "BAT-1", "driver": "V01_Battery"})
    with pytest.raises(DeviceDuplicateError):
        await manager.add({"id": "BAT-1", "driver": "V01_Battery"})
    with pytest.raises(ConfigValidationError) as info:
        await manager.add({"id": "bad id!", "driver": "V01_Battery"})
    assert info.value.path == "id"
    with pytest.raises(DeviceNotFoundError) as missing:
        manager.get("nope")
    assert "BAT-1" in missing.value.hint
    off = await manager.add({"id": "OFF", "driver": "V01_Battery", "enabled": False})
    assert off.state is DeviceState.DISABLED and off.status()["state"] == "disabled"
    with pytest.raises(DeviceUnavailableError) as info2:
        await manager.write("OFF", "load_current", 1.0)
    assert "enabled" in info2.value.hint


async def test_spawn_errors_strict_and_lenient(manager: DeviceManager) -> None:
    sub = manager.bus.subscribe(kinds=["device_error"])
    with pytest.raises(DeviceSpawnError) as info:
        await manager.add({"id": "B1", "driver": "V01_Battery", "options": {"cells": 0}})
    assert info.value.stage is SpawnStage.DRIVER and isinstance(info.value.cause, ConfigValidationError)
    assert info.value.hint
    dev = await manager.add({"id": "B2", "driver": "V01_Battery", "options": {"cells": 0}}, strict=False)
    assert dev.state is DeviceState.ERROR and dev.status()["last_error"]["details"]["stage"] == "driver"
    [event] = sub.drain()
    assert event.device == "B2" and event.payload["error"]["code"] == "device_spawn_failed"
    with pytest.raises(DeviceUnavailableError):
        await manager.wait_online("B2", timeout=0.5)


# --- failures, availability, recovery ------------------------------------------------------------

async def test_connect_failure_unavailable_once_then_recovers_once(manager: DeviceManager) -> None:
    script = Script(connect_error=TransportClosedError("port vanished"))
    sub = manager.bus.subscribe(kinds=["availability"])
    dev = await manager.add(scripted_conf("S1", script))
    await wait_until(lambda: script.connects >= 4, what="several reconnect attempts")
    assert dev.state is DeviceState.UNAVAILABLE and dev.status()["last_error"]["code"] == "transport_closed"
    script.connect_error = None
    await manager.wait_online("S1", timeout=2)
    await wait_until(lambda: dev.stats.polls >= 2)
    events = availability(sub.drain(), "S1")
    assert [e["available"] for e in events] == [False, True]
    assert events[0]["reason"] == "port vanished" and events[1]["recovered"] is True and "downtime" in events[1]


async def test_poll_failures_below_threshold_keep_device_online(manager: DeviceManager) -> None:
    script = Script()
    dev = await manager.add(scripted_conf("S1", script, poll_interval=0.02))
    await manager.wait_online("S1")
    await wait_until(lambda: dev.stats.polls >= 2)
    script.poll_error = ProtocolTimeoutError("no reply")
    await wait_until(lambda: dev.stats.failures >= 1)
    script.poll_error = None
    polls = dev.stats.polls
    await wait_until(lambda: dev.stats.polls > polls + 2)
    assert dev.stats.outages == 0 and dev.state is DeviceState.ONLINE


async def test_bad_bytes_become_protocol_errors_and_the_task_survives(manager: DeviceManager) -> None:
    script = Script(poll_error=ValueError("unpack requires a buffer of 4 bytes"))
    sub = manager.bus.subscribe(kinds=["availability"])
    dev = await manager.add(scripted_conf("S1", script, poll_interval=0.02))
    await wait_until(lambda: dev.state is DeviceState.UNAVAILABLE)
    assert dev.last_error is not None and isinstance(dev.last_error, ProtocolError)
    assert "could not decode" in dev.last_error.message
    script.poll_error = None
    await manager.wait_online("S1")
    await wait_until(lambda: dev.stats.polls >= 2)
    assert dev._task is not None and not dev._task.done()
    assert [e["available"] for e in availability(sub.drain(), "S1")] == [True, False, True]


async def test_transport_loss_is_unavailable_at_once(manager: DeviceManager) -> None:
    script = Script()
    dev = await manager.add(scripted_conf("S1", script, poll_interval=0.02))
    await manager.wait_online("S1")
    failures = dev.stats.failures
    script.poll_error = TransportClosedError("cable pulled")
    await wait_until(lambda: dev.state is DeviceState.UNAVAILABLE)
    assert dev.stats.failures == failures + 1  # no waiting for max_poll_failures
    await wait_until(lambda: script.disconnects >= 1, what="the link to be closed")
    with pytest.raises(DeviceUnavailableError):
        await manager.write("S1", "setpoint", 1.0)
    with pytest.raises(DeviceUnavailableError):
        await manager.poll_now("S1")
    script.poll_error = None
    await manager.wait_online("S1")


async def test_overrunning_polls_skip_ticks_instead_of_bursting(manager: DeviceManager) -> None:
    script = Script(poll_delay=0.13)
    dev = await manager.add(scripted_conf("S1", script, poll_interval=0.05))
    await manager.wait_online("S1")
    await wait_until(lambda: script.polls >= 4, timeout=3)
    script.poll_delay = 0.0
    await wait_until(lambda: script.polls >= 8, timeout=3)
    assert dev.stats.skipped_ticks >= 4  # each slow poll skipped two 50 ms ticks
    assert dev.stats.failures == 0


async def test_a_hanging_device_does_not_slow_the_others(manager: DeviceManager) -> None:
    slow = Script(poll_delay=5.0)  # every poll hangs until the poll timeout
    settings = EngineSettings(**{**FAST.to_dict(), "poll_timeout": 0.3})
    mgr = DeviceManager(manager.bus, settings)
    try:
        await mgr.add(scripted_conf("SLOW", slow, poll_interval=0.05))
        fast_dev = await mgr.add(scripted_conf("FAST", Script(), poll_interval=0.05))
        await mgr.wait_online("FAST")
        start_polls, loop = fast_dev.stats.polls, asyncio.get_running_loop()
        t0 = loop.time()
        await wait_until(lambda: loop.time() - t0 >= 1.0, timeout=3)
        rate = (fast_dev.stats.polls - start_polls) / (loop.time() - t0)
        assert rate >= 0.7 * 20, rate
        assert mgr.get("SLOW").stats.failures >= 2
    finally:
        await mgr.stop()


async def test_poll_now_runs_an_extra_poll_without_shifting_the_schedule(manager: DeviceManager) -> None:
    script = Script(value=3.0)
    await manager.add(scripted_conf("S1", script, poll_interval=10.0))
    await manager.wait_online("S1")
    await wait_until(lambda: script.polls == 1)
    script.value = 4.0
    assert (await manager.poll_now("S1", timeout=1))["value"] == 4.0
    assert (await manager.poll_now("S1", timeout=1))["value"] == 4.0
    assert script.polls == 3


# --- shutdown and emergency stop -----------------------------------------------------------------

async def test_stop_twice_and_hanging_close_is_bounded() -> None:
    mgr = DeviceManager(EventBus(), FAST)
    hang = Script(hang_on_close=True)
    await mgr.add(scripted_conf("HANG", hang))
    await mgr.add({"id": "BAT", "driver": "V01_Battery"})
    await mgr.wait_online(timeout=2)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await mgr.stop()
    assert loop.time() - t0 < FAST.close_timeout + 0.5
    assert hang.disconnects >= 1
    assert {d.state for d in mgr.devices.values()} == {DeviceState.STOPPED}
    await mgr.stop()


async def test_emergency_stop_switches_outputs_and_collects_errors(manager: DeviceManager) -> None:
    good, broken = Script(), Script()
    await manager.add(scripted_conf("GOOD", good))
    await manager.add(scripted_conf("DOWN", broken))
    await manager.wait_online(timeout=2)
    await manager.write("GOOD", "output", True)
    broken.poll_error = TransportClosedError("gone")
    broken.connect_error = TransportClosedError("gone")
    await wait_until(lambda: manager.get("DOWN").state is DeviceState.UNAVAILABLE)
    sub = manager.bus.subscribe(kinds=["emergency_stop"])
    report = await manager.emergency_stop()
    assert report["switched"] == {"GOOD": ["output"]}
    assert report["errors"]["DOWN"]["code"] == "device_unavailable"
    assert good.writes[-1] == ("output", False)
    assert sub.get_nowait().payload["switched"] == {"GOOD": ["output"]}


async def test_wait_online_timeout_names_the_device(manager: DeviceManager) -> None:
    await manager.add(scripted_conf("S1", Script(connect_error=TransportClosedError("no port"))))
    with pytest.raises(WaitOnlineTimeoutError) as info:
        await manager.wait_online("S1", timeout=0.2)
    assert isinstance(info.value, TimeoutError) and "S1" in info.value.message and "no port" in info.value.message


async def test_remove_device(manager: DeviceManager) -> None:
    sub = manager.bus.subscribe(kinds=["device_added", "device_removed"])
    script = Script()
    await manager.add(scripted_conf("S1", script))
    await manager.wait_online("S1")
    await manager.remove("S1")
    assert manager.ids == [] and script.disconnects >= 1
    assert [e.kind.value for e in sub.drain()] == ["device_added", "device_removed"]
    with pytest.raises(DeviceNotFoundError):
        await manager.remove("S1")
