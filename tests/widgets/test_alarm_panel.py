"""The alarm panel and the live alarm state in control panels, against real labs (virtual battery,
DPS simulator on the virtual transport), no browser: the alarm list and history in traitlets,
acknowledge / shelve / unshelve requests and their error replies, the dashboard's badge panel,
and control-panel colouring that follows the engine (delays, acknowledgement, disable) rather
than the static limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from widget_helpers import FAST_WATCHDOG, ask, running_lab, wait_until

from ionpy_widgets.widgets.alarms import AlarmPanel, AlarmsUnavailableError
from ionpy_widgets.widgets.lab_ui import Lab

DPS = {"id": "DPS", "driver": "DPS5005", "poll_interval": 0.05,
       "transport": {"type": "virtual", "params": {"simulator": "dps5005"}},
       "alarms": {"u_out": {"hi": 4.0, "hihi": 8.0, "on_delay": 0.8}}, "limits": {"u_set": {"max": 12}}}
BAT = {"id": "BAT", "driver": "V01_Battery", "poll_interval": 0.05, "options": {"soc": 15}}


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with running_lab({"devices": [DPS, BAT]}, name="test-alarm-panel", settings=FAST_WATCHDOG) as lab:
        yield lab


@pytest.fixture
async def panel(lab: Lab) -> AsyncIterator[AlarmPanel]:
    widget = lab.alarms()
    yield widget
    widget.close()


def rows(panel: AlarmPanel) -> list[tuple[str, str, str]]:
    return [(a["device"] + "." + a["entity"], a["level"], a["state"]) for a in panel.active]


async def test_the_alarm_list_history_and_counts(panel: AlarmPanel) -> None:
    await wait_until(lambda: rows(panel) == [("BAT.soc", "lo", "active_unack")], what="LO of the battery")
    assert panel.counts == {"active": 1, "unacked": 1, "shelved": 0, "disabled": 0, "highest": "lo"}
    newest = panel.history[0]
    assert (newest["transition"], newest["message"]) == ("raise", "State of charge LO: 15 % (limit 20 %)")
    assert panel.compact is False and panel.expanded is True and panel.shelve_choices[0] == 300
    assert "1 active" in repr(panel)


async def test_acknowledge_shelve_and_unshelve_from_the_panel(lab: Lab, panel: AlarmPanel) -> None:
    await wait_until(lambda: bool(panel.active), what="an alarm")
    reply = await ask(panel, "acknowledge", device="BAT", entity="soc")
    assert reply["ok"] and reply["result"] == {"acknowledged": 1}
    assert rows(panel) == [("BAT.soc", "lo", "active_ack")]
    assert (panel.history[0]["transition"], panel.history[0]["who"]) == ("acknowledge", "widget")
    reply = await ask(panel, "shelve", device="BAT", entity="soc", seconds=300)
    assert reply["ok"] and reply["result"]["shelved_until"] > 0
    assert panel.counts["shelved"] == 1 and panel.counts["active"] == 0 and panel.active[0]["shelved"]
    assert (await ask(panel, "unshelve", device="BAT", entity="soc"))["ok"]
    assert panel.counts["shelved"] == 0 and panel.counts["active"] == 1
    assert [r["transition"] for r in lab.alarm_history()][-3:] == ["acknowledge", "shelve", "unshelve"]


async def test_request_errors_come_back_with_their_hint(panel: AlarmPanel) -> None:
    reply = await ask(panel, "shelve", device="BAT", entity="soc", seconds=-1)
    assert not reply["ok"] and reply["error"]["code"] == "alarm_error" and "lab.shelve" in reply["error"]["hint"]
    reply = await ask(panel, "acknowledge", device="BAT", entity="voltage")
    assert reply["error"]["code"] == "alarm_not_found" and "BAT.soc" in reply["error"]["hint"]
    reply = await ask(panel, "acknowledge", device="NOPE")
    assert reply["error"]["code"] == "device_not_found"


async def test_a_new_alarm_shows_up_by_itself(lab: Lab, panel: AlarmPanel) -> None:
    await lab["DPS"].write("u_set", 9.0)
    await lab["DPS"].write("output", True)  # 9 V over a 10 ohm load: CV, over HIHI (8 V) after 0.8 s
    await wait_until(lambda: ("DPS.u_out", "hihi", "active_unack") in rows(panel), what="HIHI in the panel")
    assert panel.active[0]["entity"] == "u_out"  # most severe first
    assert panel.counts["highest"] == "hihi"
    assert (await ask(panel, "acknowledge"))["result"] == {"acknowledged": 2}  # acknowledge all
    assert panel.counts["unacked"] == 0


async def test_control_panel_colours_follow_the_live_alarm_state(lab: Lab) -> None:
    dps, bat = lab.control("DPS"), lab.control("BAT")
    try:
        await wait_until(lambda: bat.alarms.get("soc") == "lo", what="battery LO")
        assert bat.alarm_states == {"soc": "active_unack"}
        lab.disable_alarm("BAT", "soc")
        await wait_until(lambda: "soc" not in bat.alarms, what="no colour once disabled")
        assert bat.values["soc"] < 20  # the static limits would still say LO

        await lab["DPS"].write("u_set", 5.0)
        await lab["DPS"].write("output", True)
        await wait_until(lambda: (dps.values.get("u_out") or 0) >= 4.9, what="5 V out")
        assert "u_out" not in dps.alarms  # over HI, but the 0.8 s on-delay has not passed
        await wait_until(lambda: dps.alarms.get("u_out") == "hi", what="HI after its delay")
        assert dps.alarm_states["u_out"] == "active_unack"
        lab.acknowledge("DPS", "u_out")
        await wait_until(lambda: dps.alarm_states.get("u_out") == "active_ack", what="acknowledged")

        u_set: dict[str, Any] = next(e for e in dps.entities if e["key"] == "u_set")
        assert (u_set["min"], u_set["max"], u_set["user_limits"]) == (0.0, 12, {"max": 12})
        reply = await ask(dps, "write", key="u_set", value=12.5)
        assert reply["error"]["code"] == "value_out_of_limits" and "your limit 12 V" in reply["error"]["message"]
    finally:
        dps.close()
        bat.close()


async def test_the_dashboard_has_the_badge_panel(lab: Lab) -> None:
    board = lab.dashboard()
    try:
        badge = board.alarms_panel
        assert isinstance(badge, AlarmPanel) and badge.compact and not badge.expanded
        await wait_until(lambda: badge.counts.get("active") == 1, what="the badge count")
    finally:
        board.close()


def test_a_lab_without_alarm_engine_is_refused() -> None:
    with pytest.raises(AlarmsUnavailableError) as info:
        AlarmPanel(object())
    assert "Lab.start" in info.value.hint
