"""The V01_Battery driver: identify, poll, validated writes, injected clock and time_scale."""

from __future__ import annotations

import pytest

from ionpy_widgets.driver.base import Driver
from ionpy_widgets.driver.entity import Role
from ionpy_widgets.driver.registry import get_driver
from ionpy_widgets.errors import ConfigValidationError, LimitError, ReadOnlyError
from ionpy_widgets.instruments.virtual_battery.driver import VirtualBatteryDriver


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _driver(clock: FakeClock, **options: object) -> VirtualBatteryDriver:
    return VirtualBatteryDriver(None, options=options, clock=clock)


def test_registered_and_needs_no_link() -> None:
    cls = get_driver("V01_Battery")
    assert cls is VirtualBatteryDriver and issubclass(cls, Driver)
    assert not cls.needs_link()
    manifest = cls.manifest()
    assert manifest["blueprints"][0]["transport"] == "none"
    keys = {e["key"] for e in manifest["entities"]}
    assert {"voltage", "current", "power", "soc", "capacity_remaining", "temperature", "load_current", "output",
            "state", "cells", "capacity"} <= keys


async def test_identify_and_poll_at_rest() -> None:
    clock = FakeClock()
    drv = _driver(clock, cells=3, capacity=5.0)
    identity = await drv.connect()
    assert identity.model == "V01 virtual Li-ion battery" and identity.serial == "V01-3S-5Ah"
    values = await drv.poll()
    assert values["voltage"] == pytest.approx(3 * 4.2)
    assert values["soc"] == pytest.approx(100.0) and values["capacity_remaining"] == pytest.approx(5.0)
    assert values["state"] == 0 and values["output"] is False and values["current"] == 0.0
    assert values["cells"] == 3 and values["capacity"] == 5.0
    assert set(values) == {k for k, e in drv.entities.items() if e.readable}
    await drv.disconnect()


async def test_discharge_follows_the_clock() -> None:
    clock = FakeClock()
    drv = _driver(clock)
    await drv.connect()
    assert await drv.write("load_current", 2.5) == 2.5
    await drv.write("output", True)
    clock.now += 1800  # half an hour at 1C
    values = await drv.poll()
    assert values["state"] == 1 and values["current"] == pytest.approx(2.5)
    assert values["soc"] == pytest.approx(50.0, abs=0.5)
    assert values["power"] == pytest.approx(values["voltage"] * 2.5)
    assert values["temperature"] > 25.0
    clock.now += 3600
    values = await drv.poll()
    assert values["state"] == 3 and values["output"] is False and values["current"] == 0.0


async def test_time_scale_runs_faster_than_real_time() -> None:
    clock = FakeClock()
    drv = _driver(clock, time_scale=60.0)
    await drv.write("load_current", 2.5)
    await drv.write("output", True)
    clock.now += 30  # 30 s of wall time = 30 min of model time
    assert (await drv.poll())["soc"] == pytest.approx(50.0, abs=0.5)


async def test_temperature_alarm_limits_and_heating() -> None:
    clock = FakeClock()
    drv = _driver(clock, temperature_hi=40.0)
    alarm = drv.entity("temperature").alarm
    assert alarm is not None and alarm.hi == 40.0 and alarm.hihi == 60.0
    assert VirtualBatteryDriver.ENTITIES["temperature"].alarm.as_dict() == {"hihi": 60.0, "hi": 45.0}
    await drv.write("load_current", 10.0)
    await drv.write("output", True)
    clock.now += 600
    assert (await drv.poll())["temperature"] > 45.0


async def test_writes_are_validated() -> None:
    clock = FakeClock()
    drv = _driver(clock)
    with pytest.raises(LimitError) as info:
        await drv.write("load_current", 10.5)
    assert "0 and 10" in info.value.hint
    with pytest.raises(LimitError):
        await drv.write("load_current", -1.0)  # charging is off unless max_charge_current is set
    with pytest.raises(ReadOnlyError):
        await drv.write("soc", 50)
    assert drv.model.load_current == 0.0
    entity = drv.entity("load_current")
    assert entity.persist and entity.role is Role.SETPOINT
    output = drv.entity("output")
    assert output.role is Role.SWITCH and output.confirm


async def test_charge_when_enabled_and_outputs_off() -> None:
    clock = FakeClock()
    drv = _driver(clock, soc=40, max_charge_current=2.5)
    await drv.write("load_current", -2.0)
    await drv.write("output", "on")
    clock.now += 600
    values = await drv.poll()
    assert values["state"] == 2 and values["current"] == pytest.approx(-2.0)
    assert values["soc"] > 40.0
    assert await drv.outputs_off() == ["output"]
    assert (await drv.poll())["output"] is False


@pytest.mark.parametrize(("options", "path"), [
    ({"cells": 0}, "options.cells"), ({"cells": 2.5}, "options.cells"), ({"capacity": "big"}, "options.capacity"),
    ({"time_scale": -1}, "options.time_scale"), ({"soc": 120}, "options.soc"),
])
def test_bad_options_name_the_field(options: dict[str, object], path: str) -> None:
    with pytest.raises(ConfigValidationError) as info:
        VirtualBatteryDriver(None, options=options)
    assert info.value.path == path and info.value.hint
