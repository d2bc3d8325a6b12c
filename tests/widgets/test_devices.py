"""The device manager widget: rows from the engine, live updates from the bus, requests with replies
(errors included) and the loop-health banner. Real labs (virtual battery, DPS simulator on the
virtual transport, a serial port that does not exist), no browser."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from widget_helpers import BATTERY, DPS, FAST_WATCHDOG, ask, running_lab, wait_until

from ionpy_widgets.widgets.devices import DeviceManagerWidget, transport_summary
from ionpy_widgets.widgets.health import HealthState, stall_message
from ionpy_widgets.widgets.lab_ui import Lab


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with running_lab({"devices": [BATTERY, DPS]}, name="test-devices", settings=FAST_WATCHDOG) as lab:
        yield lab


@pytest.fixture
async def panel(lab: Lab) -> AsyncIterator[DeviceManagerWidget]:
    widget = lab.devices_panel()
    yield widget
    widget.close()


def by_id(widget: DeviceManagerWidget) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in widget.devices}


def test_transport_summary_names_port_address_and_framing() -> None:
    serial = {"type": "serial", "params": {"port": "/dev/ttyUSB0", "baudrate": 9600}}
    assert transport_summary(serial, {"type": "modbus_rtu", "params": {"slave_id": 1}}) == \
        "serial /dev/ttyUSB0 9600 baud · modbus_rtu slave 1"
    assert transport_summary({"type": "tcp", "params": {"host": "127.0.0.1", "port": 5025}},
                             {"type": "delimiter", "params": {}}) == "tcp 127.0.0.1:5025 · delimiter"
    assert transport_summary({"type": "visa", "params": {"resource": "USB0::1::INSTR"}}) == "visa USB0::1::INSTR"
    assert transport_summary({"type": "virtual", "params": {"simulator": "dps5005"}}) == "virtual simulator dps5005"
    assert transport_summary(None) == transport_summary({"type": "none"}) == "software only (no link)"


async def test_rows_show_state_driver_identity_transport_and_poll_rate(panel: DeviceManagerWidget) -> None:
    await wait_until(lambda: by_id(panel).get("DPS", {}).get("rate", 0) > 0, what="a poll rate")
    rows = by_id(panel)
    assert list(rows) == ["BAT", "DPS"]
    dps = rows["DPS"]
    assert dps["state"] == "online" and dps["driver"] == "DPS5005" and dps["enabled"] is True
    assert dps["identity"]["manufacturer"] == "RD Tech" and dps["identity"]["model"] == "DPS5005"
    assert dps["transport"] == "virtual simulator dps5005" and dps["poll_interval"] == 0.05
    assert 5 < dps["rate"] < 40 and dps["last_error"] is None
    assert rows["BAT"]["transport"] == "software only (no link)" and rows["BAT"]["category"] == "virtual"
    assert panel.capabilities == {"enable": callable(getattr(panel.lab, "set_enabled", None)), "edit": False,
                                  "delete": True}


async def test_devices_added_and_removed_from_code_appear_and_disappear(lab: Lab,
                                                                       panel: DeviceManagerWidget) -> None:
    await lab.add_device({"id": "BAT2", "driver": "V01_Battery"})
    await wait_until(lambda: by_id(panel).get("BAT2", {}).get("state") == "online", what="BAT2 online")
    await lab.remove_device("BAT")
    await wait_until(lambda: "BAT" not in by_id(panel), what="BAT gone")
    assert list(by_id(panel)) == ["DPS", "BAT2"]


async def test_an_unreachable_device_shows_its_error_and_hint(lab: Lab, panel: DeviceManagerWidget) -> None:
    await lab.add_device({"id": "GONE", "driver": "DPS5005",
                          "transport": {"type": "serial", "params": {"port": "/dev/ionpy-no-such-port"}},
                          "framing": {"type": "modbus_rtu", "params": {"slave_id": 1}}})
    await wait_until(lambda: by_id(panel).get("GONE", {}).get("state") == "unavailable", what="GONE unavailable")
    error = by_id(panel)["GONE"]["last_error"]
    assert error["code"] and "/dev/ionpy-no-such-port" in error["message"] + error["hint"]
    assert error["hint"]


async def test_delete_request_removes_the_device_and_replies_with_the_rows(lab: Lab,
                                                                           panel: DeviceManagerWidget) -> None:
    reply = await ask(panel, "delete", device="BAT")
    assert reply["ok"] is True and [r["id"] for r in reply["result"]] == ["DPS"]
    assert "BAT" not in lab and list(by_id(panel)) == ["DPS"]
    reply = await ask(panel, "delete", device="BAT")
    assert reply["ok"] is False and reply["error"]["code"] == "device_not_found" and "DPS" in reply["error"]["hint"]


async def test_edit_without_a_wizard_replies_with_an_error_and_a_hint(lab: Lab,
                                                                      panel: DeviceManagerWidget) -> None:
    reply = await ask(panel, "edit", device="BAT")
    assert reply["ok"] is False and reply["error"]["code"] == "wizard_unavailable"
    assert "not available" in reply["error"]["message"] and "on_edit" in reply["error"]["hint"]

    opened: list[str] = []

    async def wizard(device_id: str) -> str:
        opened.append(device_id)
        return f"wizard for {device_id}"

    panel.on_edit = wizard
    assert panel.capabilities["edit"] is True
    reply = await ask(panel, "edit", device="BAT")
    assert reply == {"type": "reply", "id": "r1", "ok": True, "result": {"device": "BAT", "opened": True}}
    assert opened == ["BAT"] and panel.last_edit == "wizard for BAT"


async def test_enable_is_not_supported_by_a_lab_without_set_enabled(lab: Lab, panel: DeviceManagerWidget,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab, "set_enabled", None, raising=False)
    panel.refresh()
    assert panel.capabilities["enable"] is False
    reply = await ask(panel, "enable", device="BAT", enabled=False)
    assert reply["ok"] is False and reply["error"]["code"] == "not_supported" and reply["error"]["hint"]


async def test_disable_and_enable_go_through_the_engine(lab: Lab, panel: DeviceManagerWidget,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    if not callable(getattr(lab, "set_enabled", None)):  # an engine without persistence: a stand-in
        async def set_enabled(device_id: str, enabled: bool) -> None:
            await lab.remove_device(device_id)
            await lab.add_device({**BATTERY, "enabled": enabled})

        monkeypatch.setattr(lab, "set_enabled", set_enabled, raising=False)
        panel.refresh()
    assert panel.capabilities["enable"] is True
    reply = await ask(panel, "enable", device="BAT", enabled=False)
    assert reply["ok"] is True
    await wait_until(lambda: by_id(panel)["BAT"]["enabled"] is False, what="BAT disabled")
    assert by_id(panel)["BAT"]["state"] == "disabled"
    reply = await ask(panel, "enable", device="BAT", enabled=True)
    assert reply["ok"] is True
    await wait_until(lambda: by_id(panel)["BAT"]["state"] == "online", what="BAT online again")


async def test_a_handler_crash_is_a_reply_not_a_silent_timeout(panel: DeviceManagerWidget) -> None:
    reply = await ask(panel, "delete")  # missing argument
    assert reply["ok"] is False and reply["error"]["code"] == "internal_error"
    reply = await ask(panel, "no-such-request")
    assert reply["error"]["code"] == "unknown_request" and "delete" in reply["error"]["hint"]


async def test_a_blocked_loop_shows_a_stall_banner(panel: DeviceManagerWidget) -> None:
    assert panel.health["level"] == "ok"
    time.sleep(0.45)  # a cell that blocks the kernel  # noqa: ASYNC251
    await wait_until(lambda: panel.health.get("level") == "warning", what="the stall banner")
    health = panel.health
    assert health["message"].startswith("Polling was paused for 0.")
    assert health["message"].endswith(f"at {health['stall']['clock']} (a cell blocked the kernel)")
    assert 0.3 < health["stall"]["duration"] < 2 and "asyncio.sleep" in health["hint"]


def test_health_ignores_stalls_from_before_the_widget_and_counts_the_rest() -> None:
    health = HealthState(since=1000.0)
    assert not health.add_stall(990.0, 11.0)  # began before: it includes the cell that made the widget
    assert health.to_dict()["level"] == "ok"
    assert health.add_stall(1010.0, 3.2) and health.add_stall(1020.0, 1.5)
    data = health.to_dict()
    assert data["level"] == "warning" and data["count"] == 2 and data["message"] == stall_message(1020.0, 1.5)
    assert "2 pauses" in data["detail"] and "3.2 s" in data["detail"]
    assert stall_message(1020.0, 3.2).startswith("Polling was paused for 3.2 s at ")


async def test_a_stopped_lab_is_shown_and_the_widget_keeps_its_rows(lab: Lab, panel: DeviceManagerWidget) -> None:
    await lab.stop()
    await wait_until(lambda: panel.health.get("level") == "stopped", what="the stopped banner")
    assert "stopped" in panel.health["message"] and "Lab.start" in panel.health["hint"]
    assert {r["id"] for r in panel.devices} == {"BAT", "DPS"}
    assert not panel.bridge.running
