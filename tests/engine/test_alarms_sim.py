"""Alarms end to end against simulators: a DPS5005 simulator on a real pseudo-terminal, a config file
with its journal, the engine's own alarm points and actions.

A simulated over-voltage (U-SET raised under a resistive load) raises HI, then HIHI, each after its
on-delay; the HIHI action switches the supply's output off by itself (register ONOFF back to 0,
the write journaled with source ``alarm``); acknowledge and clear follow the ISA-18.2 model; and
the alarm history and the unacknowledged state come back, complete, after a restart of the lab on
the same config and journal. The user's own setpoint limit is refused before any byte is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import FAST, wait_until

from ionpy_widgets.engine.bus import Subscription
from ionpy_widgets.engine.events import AlarmEvent
from ionpy_widgets.engine.lab import Lab
from ionpy_widgets.errors import LimitError
from ionpy_widgets.instruments.rdtech_dps.sim import DpsSimulator
from ionpy_widgets.instruments.simhost import PtyServer

ON_DELAY = 0.3
CONFIG = """\
version: 1
devices:
  - id: DPS
    driver: DPS5005
    poll_interval: 0.05
    link: {{timeout: 0.3}}
    transport: {{type: serial, params: {{port: {port}, baudrate: 9600}}}}
    alarms:
      u_out: {{hihi: 13.0, hi: 12.5, deadband: 0.1, on_delay: {delay}, actions: {{hihi: output_off}}}}
    limits:
      u_set: {{max: 14}}
"""


class RecordingDps(DpsSimulator):
    """The DPS simulator, remembering the Modbus function code of every request it received."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.functions: list[int] = []

    def handle(self, payload: bytes, now: float) -> bytes | None:
        self.functions.append(payload[1])
        return super().handle(payload, now)

    @property
    def writes(self) -> int:
        return sum(f in (0x06, 0x10) for f in self.functions)


@pytest.fixture
async def dps(tmp_path: Path) -> AsyncIterator[tuple[RecordingDps, Path]]:
    sim = RecordingDps("DPS5005", load_ohms=100.0)  # CV: U-OUT follows U-SET (0.13 A < I-SET 1 A)
    server = await PtyServer(sim, link_path=tmp_path / "dps").start()
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(port=server.path, delay=ON_DELAY))
    yield sim, config
    await server.close()


async def next_alarm(sub: Subscription, transition: str, timeout: float = 5.0) -> AlarmEvent:
    async with asyncio.timeout(timeout):
        async for event in sub:
            if isinstance(event, AlarmEvent) and event.transition == transition:
                return event
    raise AssertionError("subscription closed")


def first_over(readings: Subscription, limit: float) -> float:
    """Timestamp of the first u_out reading at or above ``limit`` among those queued."""
    for event in readings.drain():
        for r in event.readings:
            if r.entity == "u_out" and r.value >= limit:
                return r.timestamp
    raise AssertionError(f"no u_out reading >= {limit}")


def rows(history: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["time"], r["transition"], r["level"], r["state"], r["who"]) for r in history]


async def test_over_voltage_hi_then_hihi_with_delays_output_off_ack_clear_and_restart(
        dps: tuple[RecordingDps, Path]) -> None:
    sim, config = dps
    lab = await Lab.start(config, settings=FAST)
    try:
        alarms = lab.subscribe(kinds=["alarm"], maxsize=0, name="test-alarms")
        await lab.wait_online()
        psu = lab["DPS"]
        await psu.write("u_set", 12.0)
        await psu.write("output", True, source="test")
        await wait_until(lambda: (psu.read("u_out") or 0) >= 11.9, what="12 V out")
        assert lab.alarm_state["DPS.u_out"]["state"] == "normal"

        # over-voltage, step 1: 12.8 V is over HI (12.5 V), raised only after the on-delay
        readings = lab.subscribe(kinds=["reading"], maxsize=0, name="test-readings")
        await psu.write("u_set", 12.8)
        hi = await next_alarm(alarms, "raise")
        assert (hi.level.value, hi.state, hi.who, hi.data["limit"]) == ("hi", "active_unack", "engine", 12.5)
        assert ON_DELAY <= hi.timestamp - first_over(readings, 12.5) < ON_DELAY + 0.5
        assert hi.message == "Output voltage HI: 12.8 V (limit 12.5 V)"
        assert lab.acknowledge("DPS", "u_out", who="test") == 1
        assert (await next_alarm(alarms, "acknowledge")).state == "active_ack"
        assert sim.output is True  # HI has no action

        # step 2: 13.4 V is over HIHI (13 V): raised after its own on-delay, unacknowledged again
        await psu.write("u_set", 13.4)
        hihi = await next_alarm(alarms, "raise")
        assert (hihi.level.value, hihi.state, hihi.data["previous"]) == ("hihi", "active_unack", "hi")
        assert ON_DELAY <= hihi.timestamp - first_over(readings, 13.0) < ON_DELAY + 0.5

        # the safe-state action switched the output off by itself (no widget open)
        action = await next_alarm(alarms, "action")
        assert action.data["ok"] is True and action.data["action"] == "output_off"
        assert action.data["result"] == ["output"] and sim.output is False
        writes = lab.journal.entries(kind="write", entity="output")
        assert [(w.new, w.source) for w in writes] == [(True, "test"), (False, "alarm")]

        # U-OUT falls to 0 V: the unacknowledged HIHI clears to cleared_unack (it still wants an ack)
        clear = await next_alarm(alarms, "clear")
        assert (clear.level.value, clear.state, clear.data["previous"]) == ("ok", "cleared_unack", "hihi")
        assert [a["entity"] for a in lab.active_alarms] == ["u_out"]
        assert lab.alarm_counts() == {"active": 0, "unacked": 1, "shelved": 0, "disabled": 0, "highest": None}
        before = lab.alarm_history(limit=None)
        assert [r["transition"] for r in before] == ["raise", "acknowledge", "raise", "action", "clear"]
    finally:
        await lab.stop()

    # restart on the same config and journal: the history is complete and the ack is still owed
    lab = await Lab.start(config, settings=FAST)
    try:
        assert rows(lab.alarm_history(limit=None)) == rows(before)
        state = lab.alarm_state["DPS.u_out"]
        assert (state["state"], state["raised"], state["limit"]) == ("cleared_unack", "hihi", 13.0)
        await lab.wait_online()
        await wait_until(lambda: lab["DPS"].read("u_out") is not None, what="a reading")
        assert lab.alarm_state["DPS.u_out"]["state"] == "cleared_unack"  # the new 0 V reading changes nothing
        assert lab.acknowledge("DPS", "u_out", who="operator") == 1
        assert lab.alarm_state["DPS.u_out"]["state"] == "normal" and lab.active_alarms == []
    finally:
        await lab.stop()

    lab = await Lab.start(config, settings=FAST)
    try:
        history = lab.alarm_history(limit=None)
        assert rows(history[:-1]) == rows(before)
        assert (history[-1]["transition"], history[-1]["who"], history[-1]["state"]) == \
            ("acknowledge", "operator", "normal")
        assert lab.alarm_state["DPS.u_out"]["state"] == "normal"
        assert len(lab.journal.entries(kind="alarm")) == len(history)
    finally:
        await lab.stop()


async def test_the_user_limit_is_refused_before_any_byte_is_sent(dps: tuple[RecordingDps, Path]) -> None:
    sim, config = dps
    async with Lab.start(config, settings=FAST) as lab:
        await lab.wait_online()
        writes = sim.writes
        with pytest.raises(LimitError) as info:
            await lab["DPS"].write("u_set", 14.5)
        assert "your limit 14 V" in info.value.message and "limits" in info.value.hint
        with pytest.raises(LimitError, match="outside the allowed range"):  # the model's own limit still holds
            await lab["DPS"].write("u_set", -1)
        assert sim.writes == writes and sim.u_set == 5.0
        await lab["DPS"].write("u_set", 14.0)
        assert sim.writes == writes + 1 and sim.u_set == 14.0
        failed = lab.journal.entries(kind="write_failed")
        assert failed and failed[0].data["error"]["code"] == "value_out_of_limits"


BATTERY = {"id": "BAT", "driver": "V01_Battery", "poll_interval": 0.05,
           "options": {"soc": 15.0, "time_scale": 1.0},
           "alarms": {"soc": {"lo": 20, "lolo": 10, "actions": {"lo": "output_off"}}}}


async def test_an_active_alarm_is_confirmed_after_a_restart_and_its_action_runs_again(tmp_path: Path) -> None:
    config = {"devices": [BATTERY], "storage": {"folder": str(tmp_path)}}
    async with Lab.start(config, name="alarm-restart", settings=FAST) as lab:
        await lab.wait_online()
        await wait_until(lambda: lab.alarm_state["BAT.soc"]["state"] == "active_unack", what="LO raised")
        await wait_until(lambda: any(r["transition"] == "action" for r in lab.alarm_history()), what="action")
        since = lab.alarm_state["BAT.soc"]["since"]
        lab.shelve("BAT", "soc", 600, who="test")
        assert lab.alarm_counts()["shelved"] == 1 and lab.alarm_counts()["active"] == 0
    async with Lab.start(config, name="alarm-restart", settings=FAST) as lab:
        state = lab.alarm_state["BAT.soc"]
        assert (state["state"], state["since"], state["shelved"]) == ("active_unack", since, True)
        await lab.wait_online()
        await wait_until(lambda: sum(r["transition"] == "action" for r in lab.alarm_history()) == 2,
                         what="the action again once confirmed")
        transitions = [r["transition"] for r in lab.alarm_history()]
        assert transitions.count("raise") == 1  # confirmed, not raised a second time
        assert lab.journal.entries(kind="write", entity="output")[-1].source == "alarm"


async def test_journey_4_lolo_switches_the_load_off_by_itself() -> None:
    """A battery discharging through its load (an hour in a fraction of a second): LOLO on the state
    of charge switches the load off, and the output stays off."""
    bat = {**BATTERY, "options": {"soc": 12.0, "time_scale": 20000.0},
           "alarms": {"soc": {"actions": {"lolo": "output_off"}}}}
    async with Lab.start({"devices": [bat]}, name="journey4", settings=FAST) as lab:
        await lab.wait_online()
        await lab["BAT"].write("load_current", 5.0)
        await lab["BAT"].write("output", True)
        await wait_until(lambda: lab.alarm_state["BAT.soc"]["level"] == "lolo", timeout=10, what="LOLO")
        await wait_until(lambda: lab["BAT"].read("output") is False, what="load off")
        soc, polls = lab["BAT"].read("soc"), lab.manager.get("BAT").stats.polls
        await wait_until(lambda: lab.manager.get("BAT").stats.polls >= polls + 4, what="four more polls")
        assert lab["BAT"].read("soc") == pytest.approx(soc, abs=0.05)  # the load stays off: no more discharge
        action = [r for r in lab.alarm_history() if r["transition"] == "action"]
        assert action[-1]["ok"] is True and action[-1]["level"] == "lolo"


async def test_changing_the_alarm_config_of_a_running_device_keeps_its_state() -> None:
    async with Lab.start({"devices": [{**BATTERY, "alarms": {"soc": {"lo": 20}}}]}, name="alarm-update",
                         settings=FAST) as lab:
        await lab.wait_online()
        await wait_until(lambda: lab.alarm_state["BAT.soc"]["state"] == "active_unack", what="LO raised")
        since = lab.alarm_state["BAT.soc"]["since"]
        await lab.update_device("BAT", {**BATTERY, "alarms": {"soc": {"lo": 30, "deadband": 1}}})
        state = lab.alarm_state["BAT.soc"]
        assert (state["state"], state["since"], state["limits"], state["deadband"]) == \
            ("active_unack", since, {"lo": 30.0, "lolo": 10.0}, 1.0)
        await lab.update_device("BAT", {**BATTERY, "alarms": {"soc": {"enabled": False}}})
        assert lab.alarm_state["BAT.soc"]["enabled"] is False and lab.active_alarms == []
        assert (lab.alarm_history()[-1]["transition"], lab.alarm_history()[-1]["who"]) == ("disable", "config")


async def test_alarms_are_in_the_run_log(tmp_path: Path) -> None:
    """Journey 4: the recording of an unattended run holds the alarm history with its transitions."""
    from ionpy_widgets.engine.runs import open_run

    recording = tmp_path / "discharge.db"
    lab = await Lab.start({"devices": []}, name="alarm-run", settings=FAST, record=recording)
    try:
        async with lab.run("discharge"):
            await lab.add_device(BATTERY)
            await wait_until(lambda: any(r["transition"] == "action" for r in lab.alarm_history()), what="action")
            lab.acknowledge("BAT", "soc", who="night-shift")
    finally:
        await lab.stop()
    alarms = open_run(recording, "discharge").alarms
    rows = list(zip(alarms["transition"], alarms["level"], alarms["state"], alarms["who"], strict=True))
    assert rows[0] == ("raise", "lo", "active_unack", "engine")
    assert ("action", "lo", "active_unack", "engine") in rows
    assert rows[-1] == ("acknowledge", "lo", "active_ack", "night-shift")
