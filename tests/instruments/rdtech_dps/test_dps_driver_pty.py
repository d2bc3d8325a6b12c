"""DPSDriver against DpsSimulator over a real pseudo-terminal: serial transport, Modbus RTU framer, link."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from ionpy_widgets.driver.reading import Identity
from ionpy_widgets.errors import (
    ConfigValidationError,
    ExceptionResponseError,
    LimitError,
    ProtocolTimeoutError,
    ReadOnlyError,
)
from ionpy_widgets.framing.modbus_rtu import ModbusRtuFramer
from ionpy_widgets.instruments.rdtech_dps import protocol as p
from ionpy_widgets.instruments.rdtech_dps.driver import ENTITIES, DPSDriver
from ionpy_widgets.instruments.rdtech_dps.sim import DpsSimulator
from ionpy_widgets.instruments.simhost import PtyServer
from ionpy_widgets.link import Link
from ionpy_widgets.transport.address import SerialParams
from ionpy_widgets.transport.registry import make_transport
from ionpy_widgets.transport.serial import SerialTransport


class Bench:
    """A driver wired to a simulator, with the link's trace recorded."""

    def __init__(self, driver: DPSDriver, sim: DpsSimulator, link: Link) -> None:
        self.driver, self.sim, self.link = driver, sim, link
        self.trace: list[tuple[str, bytes]] = []

    def sent(self) -> list[bytes]:
        return [data for direction, data in self.trace if direction == "tx"]


@contextlib.asynccontextmanager
async def bench(sim: DpsSimulator, *, slave_id: int = 1, timeout: float = 0.5,
                retries: int = 1) -> AsyncIterator[Bench]:
    async with PtyServer(sim) as server:
        transport = make_transport("serial", {"port": server.path, "baudrate": 9600})
        assert isinstance(transport, SerialTransport)
        link = Link(transport, ModbusRtuFramer(role="master", baudrate=9600), timeout=timeout, retries=retries)
        rig = Bench(DPSDriver(link, options={"slave_id": slave_id}), sim, link)
        link.trace = lambda direction, data, _when: rig.trace.append((direction, data))
        await link.open()
        try:
            yield rig
        finally:
            await rig.driver.disconnect()


async def test_identify_picks_the_model_and_narrows_limits():
    async with bench(DpsSimulator(model="DPS5005")) as rig:
        identity = await rig.driver.identify()
        assert identity == Identity(manufacturer="RD Tech", model="DPS5005", serial="", firmware="1.6")
        assert rig.sent() == [bytes.fromhex("01 03 00 0B 00 02 B5 C9")]
        assert rig.driver.entity("u_set").max == 50.0 and rig.driver.entity("i_set").max == 5.0


async def test_poll_is_one_thirteen_register_read():
    sim = DpsSimulator(model="DPS5005", load_ohms=10.0)
    async with bench(sim) as rig:
        await rig.driver.identify()
        rig.trace.clear()
        values = await rig.driver.poll()
        assert rig.sent() == [bytes.fromhex("01 03 00 00 00 0D 84 0F")]
        assert sum(len(data) for direction, data in rig.trace if direction == "rx") == 31
        assert set(values) == set(ENTITIES)
        assert values == {"u_set": 5.0, "i_set": 1.0, "u_out": 0.0, "i_out": 0.0, "p_out": 0.0, "u_in": 24.0,
                          "lock": False, "protect": 0, "cv_cc": 0, "output": False, "backlight": 4,
                          "model": "DPS5005", "version": 1.6}


async def test_writes_drive_the_simulator_from_cv_into_cc():
    sim = DpsSimulator(model="DPS5005", load_ohms=10.0)
    async with bench(sim) as rig:
        drv = rig.driver
        await drv.connect()
        assert await drv.write("u_set", 5.0) == 5.0
        await drv.write("i_set", 1.0)
        await drv.write("output", True)
        assert rig.sent()[-3:] == [bytes.fromhex(h) for h in
                                   ("01 06 00 00 01 F4 89 DD", "01 06 00 01 03 E8 D8 B4", "01 06 00 09 00 01 98 08")]
        values = await drv.poll()
        assert (values["output"], values["cv_cc"], values["u_out"], values["i_out"], values["p_out"]) == \
            (True, 0, 5.0, 0.5, 2.5)
        await drv.write("i_set", 0.2)
        values = await drv.poll()
        assert (values["cv_cc"], values["u_out"], values["i_out"]) == (1, 2.0, 0.2)
        assert sim.mode == "CC"
        await drv.write("lock", "on")
        await drv.write("backlight", 2)
        assert (sim.lock, (await drv.poll())["backlight"]) == (True, 2)
        assert await drv.outputs_off() == ["output"]
        assert sim.output is False


async def test_protection_trip_shows_in_the_poll():
    sim = DpsSimulator(model="DPS5005", load_ohms=None)
    async with bench(sim) as rig:
        drv = rig.driver
        await drv.connect()
        await drv.write_register(p.memory_address(0, p.MemOffset.S_OVP), 400)
        assert (await drv.read_registers(0x0052, 1)) == (400,)
        await drv.write("u_set", 6.0)
        await drv.write("output", True)
        values = await drv.poll()
        assert (values["protect"], values["output"], values["u_out"]) == (1, False, 0.0)


async def test_dps5015_scaling_over_the_wire():
    sim = DpsSimulator(model="DPS5015", load_ohms=1.0, u_in=48.0)
    async with bench(sim) as rig:
        drv = rig.driver
        identity = await drv.connect()
        assert identity.model == "DPS5015"
        assert drv.entity("i_set").max == 15.0 and drv.entity("i_set").step == pytest.approx(0.01)
        await drv.write("u_set", 12.0)
        await drv.write("i_set", 10.5)
        assert rig.sent()[-1] == ModbusRtuFramer().encode(p.write_single_request(1, p.Reg.I_SET, 1050))
        await drv.write("output", 1)
        values = await drv.poll()
        assert (values["cv_cc"], values["u_out"], values["i_out"], values["p_out"]) == (1, 10.5, 10.5, 110.2)
        assert sim.i_set == 10.5


@pytest.mark.parametrize(("key", "value", "hint"), [
    ("u_set", 60.0, "between 0 and 50 V"),
    ("i_set", 6.0, "between 0 and 5 A"),
    ("backlight", 2.5, "0 (darkest)"),
])
async def test_out_of_limit_writes_send_nothing(key, value, hint):
    async with bench(DpsSimulator(model="DPS5005")) as rig:
        await rig.driver.connect()
        rig.trace.clear()
        with pytest.raises(LimitError) as info:
            await rig.driver.write(key, value)
        assert hint in info.value.hint
        assert rig.sent() == []
        assert rig.sim.u_set == 5.0 and rig.sim.i_set == 1.0


async def test_read_only_entity_is_refused_before_sending():
    async with bench(DpsSimulator()) as rig:
        await rig.driver.connect()
        rig.trace.clear()
        with pytest.raises(ReadOnlyError):
            await rig.driver.write("u_out", 1.0)
        assert rig.sent() == []


async def test_write_before_identify_identifies_first():
    sim = DpsSimulator(model="DPS5020")
    async with bench(sim) as rig:
        await rig.driver.write("i_set", 18.0)
        assert rig.sent()[0] == bytes.fromhex("01 03 00 0B 00 02 B5 C9")
        assert sim.i_set == 18.0


async def test_exception_replies_raise_exception_response_error():
    sim = DpsSimulator()
    async with bench(sim) as rig:
        with pytest.raises(ExceptionResponseError) as info:
            await rig.driver.read_registers(0x0010, 1)
        assert "illegal data address" in info.value.message and info.value.hint
        sim.next_exception = 6
        with pytest.raises(ExceptionResponseError, match="busy"):
            await rig.driver.poll()
        assert rig.link.stats.retries == 0  # explicit error replies are not retried
        assert (await rig.driver.poll())["model"] == "DPS5005"


async def test_wrong_slave_id_times_out_after_retries():
    sim = DpsSimulator(slave_id=1)
    async with bench(sim, slave_id=2, timeout=0.1, retries=2) as rig:
        with pytest.raises(ProtocolTimeoutError):
            await rig.driver.identify()
        assert len(rig.sent()) == 3 and rig.link.stats.retries == 2
        assert sim.requests == 3


async def test_other_slave_id_is_served():
    async with bench(DpsSimulator(model="DPS8005", slave_id=17), slave_id=17) as rig:
        assert (await rig.driver.connect()).model == "DPS8005"
        assert rig.driver.entity("u_set").max == 80.0


@pytest.mark.parametrize("slave_id", [0, 248, "1", True])
def test_invalid_slave_id_option(slave_id):
    link = Link(SerialTransport(SerialParams(port="/dev/null")), ModbusRtuFramer())
    with pytest.raises(ConfigValidationError) as info:
        DPSDriver(link, options={"slave_id": slave_id})
    assert info.value.path == "options.slave_id"


def test_class_metadata():
    manifest = DPSDriver.manifest()
    assert manifest["name"] == "DPS5005" and manifest["category"] == "psu"
    assert manifest["usb_ids"] == ["1A86:7523", "1A86:5523"]
    assert [bp["transport"] for bp in manifest["blueprints"]] == ["serial", "tcp"]
    assert DPSDriver.blueprints[0].framing_params == {"slave_id": 1}
    assert DPSDriver.option_keys == ("slave_id",)
    persisted = {e.key for e in DPSDriver.ENTITIES.values() if e.persist}
    assert persisted == {"u_set", "i_set", "backlight"}
    assert DPSDriver.ENTITIES["output"].confirm


async def test_user_path_through_the_stack_builder():
    from ionpy_widgets.driver.stack import build_stack

    async with PtyServer(DpsSimulator(model="DPS3005", load_ohms=5.0)) as server:
        stack = build_stack("DPS5005", transport={"type": "serial", "params": {"port": server.path}},
                            link_options={"timeout": 0.5})
        assert isinstance(stack.driver, DPSDriver) and stack.driver.slave_id == 1
        assert isinstance(stack.framer, ModbusRtuFramer) and stack.framer.role == "master"
        try:
            assert (await stack.driver.connect()).model == "DPS3005"
            await stack.driver.write("output", True)
            values = await stack.driver.poll()
            assert (values["u_out"], values["i_out"], values["cv_cc"]) == (5.0, 1.0, 0)
            with pytest.raises(LimitError):
                await stack.driver.write("u_set", 31.0)
        finally:
            await stack.close()
