"""A Lab polling a UT61E+ meter on its (simulated) CP2110 cable alongside a DPS5005 simulator: the
meter's config is an ordinary ``hid`` transport; only hidapi itself is the simulated backend."""

from __future__ import annotations

import math

import pytest
from engine_helpers import FAST, wait_until

import ionpy_widgets.transport.hid as hid_transport
from ionpy_widgets.engine.device import DeviceState
from ionpy_widgets.engine.lab import Lab
from ionpy_widgets.instruments.uni_t_ut61e.sim import Ut61ePlusSimulator
from ionpy_widgets.testing.ut61e_hid import SimulatedUt61eHid

CONF = {"devices": [
    {"id": "DMM", "driver": "UT61E_PLUS", "poll_interval": 0.05, "link": {"timeout": 0.3},
     "transport": {"type": "hid", "params": {"vendor_id": "10C4", "product_id": "EA80", "read_timeout_ms": 20}}},
    {"id": "PSU", "driver": "DPS5005", "poll_interval": 0.05,
     "transport": {"type": "virtual", "params": {"simulator": "dps5005"}}},
]}


@pytest.fixture
def meter(monkeypatch: pytest.MonkeyPatch) -> SimulatedUt61eHid:
    meter = SimulatedUt61eHid(Ut61ePlusSimulator(noise=0.0))
    monkeypatch.setattr(hid_transport, "_import_hid", lambda: meter.backend)
    return meter


async def test_lab_polls_the_meter_with_units_next_to_a_supply(meter: SimulatedUt61eHid) -> None:
    async with Lab.start(CONF, settings=FAST) as lab:
        await lab.wait_online(timeout=5)
        readings = lab.subscribe(kinds=["reading"], devices=["DMM"], maxsize=0)
        meter.sim.mode = "Ω"
        meter.sim.set_input(4700.0)

        def ohms() -> bool:
            return any(r.entity == "value" and r.unit == "Ω" and r.value == 4700.0
                       for event in readings.drain() for r in event)

        await wait_until(ohms, timeout=3, what="a reading in ohms")
        await lab.write("DMM", "hold", True)
        assert meter.sim.hold
        meter.sim.hold = False
        await lab.write("DMM", "auto_range", False)
        meter.sim.set_input(1e9)  # far beyond any range: OL
        dmm = lab.manager.get("DMM")
        await wait_until(lambda: dmm.values.get("overload") is True, timeout=3, what="overload")
        assert math.isnan(dmm.values["value"])
        assert lab.manager.get("PSU").state is DeviceState.ONLINE and lab.manager.get("PSU").stats.polls > 0


async def test_unplugged_meter_goes_unavailable_and_recovers(meter: SimulatedUt61eHid) -> None:
    async with Lab.start(CONF, settings=FAST) as lab:
        await lab.wait_online(timeout=5)
        dmm, psu = lab.manager.get("DMM"), lab.manager.get("PSU")
        meter.unplug()
        await wait_until(lambda: dmm.state is DeviceState.UNAVAILABLE, timeout=3, what="the meter unavailable")
        polls = psu.stats.polls
        await wait_until(lambda: psu.stats.polls > polls + 2, what="the supply polled meanwhile")
        meter.replug()
        await lab.wait_online("DMM", timeout=5)
        await wait_until(lambda: dmm.stats.polls > 0 and dmm.values.get("unit") == "V", what="meter readings again")
        assert meter.bridge.uart_enabled  # the fresh cable was set up again on reconnect
