"""The control panel widget: entity table, values and alarm levels in traitlets, writes and their
error replies (limits, confirmation, unavailable), the emergency stop, removal and the stall banner.
Real labs (virtual battery, DPS simulator on the virtual transport), no browser."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from widget_helpers import DPS, FAST_WATCHDOG, ask, running_lab, wait_until

from ionpy_widgets.driver.entity import AlarmLimits, EntityDescription
from ionpy_widgets.errors import DeviceNotFoundError
from ionpy_widgets.widgets.controls import ControlPanel, alarm_level, json_value
from ionpy_widgets.widgets.lab_ui import Lab

LOW_BATTERY = {"id": "BAT", "driver": "V01_Battery", "poll_interval": 0.05, "options": {"soc": 15}}


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with running_lab({"devices": [DPS, LOW_BATTERY]}, name="test-controls", settings=FAST_WATCHDOG) as lab:
        yield lab


@pytest.fixture
async def dps(lab: Lab) -> AsyncIterator[ControlPanel]:
    panel = lab.control("DPS")
    yield panel
    panel.close()


async def test_entities_values_and_info_come_from_the_device(dps: ControlPanel) -> None:
    entities = {e["key"]: e for e in dps.entities}
    assert entities["u_set"]["unit"] == "V" and entities["u_set"]["access"] == "RW"
    assert entities["u_set"]["min"] == 0.0 and entities["u_set"]["max"] == 50.0 and entities["u_set"]["step"] == 0.01
    assert entities["output"]["confirm"] is True and entities["i_out"]["unit"] == "A"
    assert dps.info["state"] == "online" and dps.info["identity"]["model"] == "DPS5005"
    await wait_until(lambda: "u_in" in dps.values, what="values")
    assert dps.values["output"] is False and isinstance(dps.values["u_in"], float)


async def test_a_setpoint_write_replies_and_the_new_value_is_pushed(dps: ControlPanel) -> None:
    reply = await ask(dps, "write", key="u_set", value=7.5)
    assert reply["ok"] is True and reply["result"] == {"key": "u_set", "value": 7.5}
    assert dps.values["u_set"] == 7.5  # read back before the reply


async def test_a_value_out_of_limits_comes_back_as_an_error_reply_with_a_hint(dps: ControlPanel) -> None:
    reply = await ask(dps, "write", key="u_set", value=99)
    assert reply["ok"] is False
    error = reply["error"]
    assert error["code"] == "value_out_of_limits" and "outside the allowed range" in error["message"]
    assert error["hint"] == "Choose a value between 0 and 50 V."
    reply = await ask(dps, "write", key="u_out", value=1)
    assert reply["error"]["code"] == "entity_read_only"
    reply = await ask(dps, "write", key="nope", value=1)
    assert reply["error"]["code"] == "entity_unknown"


async def test_switching_an_output_on_needs_a_confirmation_off_does_not(dps: ControlPanel) -> None:
    await wait_until(lambda: "output" in dps.values, what="values")
    reply = await ask(dps, "write", key="output", value=True)
    assert reply["ok"] is False and reply["error"]["code"] == "confirmation_required"
    assert "Output" in reply["error"]["message"] and "confirmed" in reply["error"]["hint"]
    assert dps.values["output"] is False
    reply = await ask(dps, "write", key="output", value=True, confirmed=True)
    assert reply["ok"] is True and dps.values["output"] is True
    reply = await ask(dps, "write", key="output", value=False)
    assert reply["ok"] is True and dps.values["output"] is False


async def test_the_emergency_stop_switches_every_output_off(lab: Lab, dps: ControlPanel) -> None:
    await lab["BAT"].write("output", True)
    await ask(dps, "write", key="output", value=True, confirmed=True)
    reply = await ask(dps, "emergency_stop")
    assert reply["ok"] is True
    assert reply["result"]["switched"]["DPS"] == ["output"] and "output" in reply["result"]["switched"]["BAT"]
    assert reply["result"]["errors"] == {}
    assert dps.values["output"] is False and lab["BAT"].values["output"] is False


async def test_alarm_limits_give_levels_for_the_browser(lab: Lab) -> None:
    panel = lab.control("BAT")
    try:
        await wait_until(lambda: "soc" in panel.alarms, what="the soc alarm")
        assert panel.alarms == {"soc": "lo"}  # 15 % is below LO 20 %, above LOLO 10 %
        assert {e["key"]: e for e in panel.entities}["soc"]["alarm"] == {"lo": 20.0, "lolo": 10.0}
    finally:
        panel.close()


def test_alarm_level_checks_the_worst_limit_first() -> None:
    desc = EntityDescription("t", "Temperature", "°C", alarm=AlarmLimits(hihi=60, hi=45, lo=5, lolo=0))
    assert [alarm_level(desc, v) for v in (70, 60, 50, 20, 5, -1)] == ["hihi", "hihi", "hi", None, "lo", "lolo"]
    assert alarm_level(desc, float("nan")) is None and alarm_level(desc, True) is None
    assert alarm_level(EntityDescription("x", "X"), 1e9) is None and alarm_level(None, 1) is None
    assert json_value(float("inf")) is None and json_value(2.5) == 2.5 and json_value(b"x") == "b'x'"


async def test_a_removed_device_is_shown_as_removed_and_comes_back_if_re_added(lab: Lab, dps: ControlPanel) -> None:
    await lab.remove_device("DPS")
    await wait_until(lambda: dps.info.get("state") == "removed", what="removed")
    assert dps.entities == []
    reply = await ask(dps, "write", key="u_set", value=1.0)
    assert reply["ok"] is False and reply["error"]["code"] == "device_not_found"
    await lab.add_device(DPS)  # the same id again (an edit that removes and adds): the panel follows
    await wait_until(lambda: dps.info.get("state") == "online" and dps.entities != [], what="DPS back")
    assert (await ask(dps, "write", key="u_set", value=1.0))["ok"] is True


async def test_unknown_device_raises_with_the_known_ids(lab: Lab) -> None:
    with pytest.raises(DeviceNotFoundError) as info:
        lab.control("NOPE")
    assert "DPS" in info.value.hint


async def test_writes_to_a_device_that_is_not_online_explain_why(lab: Lab) -> None:
    await lab.add_device({"id": "GONE", "driver": "DPS5005",
                          "transport": {"type": "serial", "params": {"port": "/dev/ionpy-no-such-port"}},
                          "framing": {"type": "modbus_rtu", "params": {"slave_id": 1}}})
    panel = lab.control("GONE")
    try:
        await wait_until(lambda: panel.info.get("state") == "unavailable", what="GONE unavailable")
        assert panel.info["last_error"]["hint"]
        reply = await ask(panel, "write", key="u_set", value=1.0)
        assert reply["ok"] is False and reply["error"]["code"] == "device_unavailable" and reply["error"]["hint"]
    finally:
        panel.close()


async def test_a_blocked_loop_shows_a_stall_banner(dps: ControlPanel) -> None:
    time.sleep(0.45)  # a cell that blocks the kernel  # noqa: ASYNC251
    await wait_until(lambda: dps.health.get("level") == "warning", what="the stall banner")
    assert "Polling was paused for" in dps.health["message"] and "(a cell blocked the kernel)" in dps.health["message"]


async def test_values_are_pushed_throttled(dps: ControlPanel) -> None:
    pushes: list[dict[str, Any]] = []
    dps.observe(lambda change: pushes.append(change["new"]), names="values")
    await asyncio.sleep(0.5)  # 10 polls at 20 Hz; at most ~5 pushes at 10 Hz
    assert 1 <= len(pushes) <= 7


async def test_requests_arriving_on_another_thread_run_on_the_labs_loop(dps: ControlPanel) -> None:
    """ipykernel 7 may deliver comm messages on a subshell thread with its own event loop."""
    await wait_until(lambda: "output" in dps.values, what="values")
    sent: list[dict[str, Any]] = []
    dps.router._send = sent.append
    request = {"type": "request", "id": "t", "kind": "write", "payload": {"key": "u_set", "value": 3.3}}

    async def subshell() -> None:
        dps._on_custom_message(dps, request, [])

    thread = threading.Thread(target=lambda: asyncio.run(subshell()))
    thread.start()
    thread.join()
    await wait_until(lambda: any(m["type"] == "reply" for m in sent), what="the reply")
    assert [m for m in sent if m["type"] == "reply"] == [
        {"type": "reply", "id": "t", "ok": True, "result": {"key": "u_set", "value": 3.3}}]
