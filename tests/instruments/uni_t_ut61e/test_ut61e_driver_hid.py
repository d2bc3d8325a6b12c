"""The UT61E_PLUS driver against the behaving simulator through the real stack: HidUartTransport
(CP2110 set-up and report packing) on a simulated CP2110 at the hidapi boundary, the length-prefixed
framer and the link; and once through the virtual transport."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator

import pytest

from ionpy_widgets.driver.registry import get_driver
from ionpy_widgets.driver.stack import build_stack
from ionpy_widgets.errors import LimitError, ReadOnlyError, TransportClosedError, TransportError
from ionpy_widgets.instruments.uni_t_ut61e import protocol as p
from ionpy_widgets.instruments.uni_t_ut61e.driver import UNKNOWN_MODEL, Ut61ePlusDriver
from ionpy_widgets.instruments.uni_t_ut61e.sim import Ut61ePlusSimulator
from ionpy_widgets.testing.ut61e_hid import SimulatedUt61eHid


@contextlib.asynccontextmanager
async def meter_on_hid(sim: Ut61ePlusSimulator | None = None, **link: float) -> AsyncIterator[
        tuple[Ut61ePlusDriver, SimulatedUt61eHid]]:
    meter = SimulatedUt61eHid(sim if sim is not None else Ut61ePlusSimulator(noise=0.0))
    driver = meter.driver(**link)
    try:
        yield driver, meter
    finally:
        await driver.disconnect()


def sent(meter: SimulatedUt61eHid) -> list[str]:
    """What reached the meter's side of the UART, one entry per UART data report."""
    return [chunk.hex(" ").upper() for chunk in meter.bridge.uart_tx]


async def test_registered_and_described() -> None:
    assert get_driver("UT61E_PLUS") is Ut61ePlusDriver
    manifest = Ut61ePlusDriver.manifest()
    assert manifest["category"] == "meter" and manifest["usb_ids"] == ["10C4:EA80", "1A86:E429"]
    assert manifest["blueprints"][0]["transport_params"]["uart"] == "auto"


async def test_identify_and_readings_with_units() -> None:
    async with meter_on_hid() as (driver, meter):
        identity = await driver.connect()
        assert (identity.manufacturer, identity.model) == ("UNI-T", "UT61E+")
        assert meter.bridge.uart_enabled and meter.bridge.purges == 1  # CP2110 set up by the transport
        assert sent(meter)[:2] == ["AB CD 03 5F 01 DA", "AB CD 03 5E 01 D9"]
        values = await driver.poll()
        assert sent(meter)[-1] == "AB CD 03 5E 01 D9"
        assert values["value"] == 3.3 and values["unit"] == "V" and values["mode"] == 2 and values["dc"]
        assert driver.entities["value"].unit == "V" and values["model"] == "UT61E+"
        meter.sim.mode = "Ω"
        meter.sim.set_input(4700.0)
        values = await driver.poll()
        assert values["value"] == 4700.0 and values["display"] == "4.700" and driver.entities["value"].unit == "Ω"
        meter.sim.mode = "DC mA"
        assert (await driver.poll())["value"] == pytest.approx(0.0125) and driver.entities["value"].unit == "A"
        assert driver.link is not None and driver.link.stats.unmatched == 1  # the name reply's first frame


async def test_overload_reads_nan_with_the_flag() -> None:
    async with meter_on_hid() as (driver, meter):
        await driver.connect()
        await driver.write("auto_range", False)  # RANGE: manual at the current range (22 V)
        meter.sim.set_input(30.0)
        values = await driver.poll()
        assert values["overload"] and math.isnan(values["value"]) and values["display"] == "OL"
        assert not values["auto_range"] and values["hv_warning"]
        await driver.write("auto_range", True)
        values = await driver.poll()
        assert values["value"] == 30.0 and not values["overload"] and values["range"] == 2


async def test_key_commands_change_the_meter_state() -> None:
    async with meter_on_hid() as (driver, meter):
        await driver.connect()
        await driver.write("hold", True)
        assert sent(meter)[-1] == "AB CD 03 4A 01 C5" and meter.sim.hold
        before = len(sent(meter))
        await driver.write("hold", True)  # already held: nothing pressed (only the state read)
        assert sent(meter)[before:] == ["AB CD 03 5E 01 D9"]
        meter.sim.set_input(5.0)
        values = await driver.poll()
        assert values["hold"] and values["value"] == 3.3
        await driver.write("hold", "off")
        await driver.write("rel", True)
        meter.sim.set_input(5.5)
        values = await driver.poll()
        assert values["rel"] and values["value"] == pytest.approx(0.5) and not values["hold"]
        await driver.press("LAMP")
        await driver.write("key", p.Key.MINMAX)
        values = await driver.poll()
        assert meter.sim.lamp and values["show_max"] and meter.sim.keys[-2:] == [p.Key.LAMP, p.Key.MINMAX]


async def test_invalid_writes_are_refused_before_any_byte() -> None:
    async with meter_on_hid() as (driver, meter):
        await driver.connect()
        before = list(meter.bridge.uart_tx)
        with pytest.raises(LimitError):
            await driver.write("key", "SELF DESTRUCT")
        with pytest.raises(LimitError):
            await driver.write("key", 99)
        with pytest.raises(LimitError):
            await driver.write("hold", "maybe")
        with pytest.raises(ReadOnlyError):
            await driver.write("value", 1.0)
        assert meter.bridge.uart_tx == before


async def test_a_corrupted_reply_is_retried() -> None:
    async with meter_on_hid(timeout=0.5, retries=1) as (driver, meter):
        await driver.connect()
        meter.sim.corrupt_next = 1
        values = await driver.poll()
        assert values["value"] == 3.3
        assert driver.link is not None and driver.link.stats.crc_errors == 1 and driver.link.stats.retries == 1


async def test_a_meter_that_does_not_tell_its_name_is_still_identified() -> None:
    class Nameless(Ut61ePlusSimulator):
        def handle(self, payload: bytes, now: float) -> bytes | None:
            return None if payload == p.NAME else super().handle(payload, now)

    async with meter_on_hid(Nameless(noise=0.0)) as (driver, _meter):
        assert (await driver.connect()).model == UNKNOWN_MODEL


async def test_unplug_fails_the_poll_and_replug_reconnects() -> None:
    async with meter_on_hid(timeout=0.5) as (driver, meter):
        await driver.connect()
        meter.unplug()
        with pytest.raises(TransportError) as info:
            await asyncio.wait_for(driver.poll(), 2.0)
        assert isinstance(info.value, TransportClosedError) or info.value.code.startswith("transport")
        await driver.disconnect()
        with pytest.raises(TransportError):
            await driver.connect()  # still unplugged: not found
        meter.replug()
        assert (await driver.connect()).model == "UT61E+"
        assert meter.bridge.uart_enabled and (await driver.poll())["value"] == 3.3
    assert meter.backend.open_handles == 0


async def test_the_catalog_simulator_on_the_virtual_transport() -> None:
    stack = build_stack("UT61E_PLUS", transport={"type": "virtual", "params": {"simulator": "ut61e_plus",
                                                                                 "mode": "AC V", "noise": 0.0}})
    try:
        assert (await stack.driver.connect()).model == "UT61E+"
        values = await stack.driver.poll()
        assert values["value"] == 230.0 and values["mode"] == 0 and not values["dc"]
    finally:
        await stack.close()
