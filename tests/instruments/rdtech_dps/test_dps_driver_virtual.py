"""DPSDriver against DpsSimulator over the in-process virtual transport, with fault injection."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ionpy_widgets.errors import CRCError, ProtocolTimeoutError, TransportClosedError
from ionpy_widgets.framing.modbus_rtu import ModbusRtuFramer
from ionpy_widgets.instruments.rdtech_dps.driver import DPSDriver
from ionpy_widgets.instruments.rdtech_dps.sim import DpsSimulator
from ionpy_widgets.link import Link
from ionpy_widgets.transport.virtual import VirtualTransport


@contextlib.asynccontextmanager
async def virtual_bench(sim: DpsSimulator, *, timeout: float = 0.2, retries: int = 1,
                        **faults: Any) -> AsyncIterator[tuple[DPSDriver, Link, VirtualTransport]]:
    transport = VirtualTransport(sim.session(), **faults)
    link = Link(transport, ModbusRtuFramer(role="master", baudrate=9600), timeout=timeout, retries=retries)
    driver = DPSDriver(link)
    await link.open()
    try:
        yield driver, link, transport
    finally:
        await driver.disconnect()


async def test_identify_poll_and_write_over_virtual_transport():
    sim = DpsSimulator(model="DPH5005", load_ohms=4.0)
    async with virtual_bench(sim) as (drv, _link, _transport):
        assert (await drv.connect()).model == "DPH5005"
        await drv.write("u_set", 3.3)
        await drv.write("i_set", 0.5)
        await drv.write("output", True)
        values = await drv.poll()
        assert (values["cv_cc"], values["u_out"], values["i_out"]) == (1, 2.0, 0.5)


async def test_chunked_replies_are_reassembled():
    sim = DpsSimulator(load_ohms=10.0)
    async with virtual_bench(sim, chunk_size=3, delay=0.001) as (drv, link, transport):
        await drv.connect()
        values = await drv.poll()
        assert values["model"] == "DPS5005" and values["u_in"] == 24.0
        assert transport.stats.chunks >= 11 + 3  # 31-byte block in 3-byte chunks, plus the identify reply
        assert link.stats.crc_errors == 0


async def test_garbled_replies_fail_the_crc_and_are_retried():
    sim = DpsSimulator(load_ohms=10.0)
    async with virtual_bench(sim, garble=0.4, seed=3, retries=6, timeout=0.1) as (drv, link, transport):
        await drv.connect()
        for _ in range(8):
            assert (await drv.poll())["version"] == 1.6
        assert transport.stats.garbled > 0
        # each corrupted reply costs one retry; most fail the CRC, a corrupted byte count may
        # instead leave the frame incomplete until the timeout
        assert link.stats.retries == transport.stats.garbled
        assert link.stats.crc_errors >= 1
        assert link.stats.crc_errors + link.stats.timeouts == transport.stats.garbled


async def test_always_garbled_reply_raises_crc_error():
    async with virtual_bench(DpsSimulator(), garble=1.0, seed=1, retries=1) as (drv, link, _transport):
        with pytest.raises(CRCError) as info:
            await drv.identify()
        assert info.value.hint
        assert link.stats.retries == 1


async def test_dropped_replies_time_out_and_a_lost_peer_closes():
    async with virtual_bench(DpsSimulator(), drop=1.0, timeout=0.05, retries=1) as (drv, link, _transport):
        with pytest.raises(ProtocolTimeoutError):
            await drv.poll()
        assert link.stats.timeouts == 2
    async with virtual_bench(DpsSimulator(), disconnect_after=2) as (drv, _link, _transport):
        await drv.identify()
        with pytest.raises(TransportClosedError):
            await drv.poll()


async def test_virtual_simulator_through_the_stack_builder():
    from ionpy_widgets.driver.stack import build_stack

    stack = build_stack("DPS5005", transport={"type": "virtual",
                                              "params": {"simulator": "dps5005", "model": "DPS5020", "chunk_size": 4}})
    assert isinstance(stack.simulator, DpsSimulator)
    try:
        assert (await stack.driver.connect()).model == "DPS5020"
        await stack.driver.write("i_set", 19.5)
        assert stack.simulator.i_set == 19.5
        assert (await stack.driver.poll())["i_set"] == 19.5
    finally:
        await stack.close()
