"""ScpiPsuDriver ↔ ScpiPsuSimulator over a real loopback TCP socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from ionpy_widgets.driver.registry import get_driver
from ionpy_widgets.errors import ExceptionResponseError, LimitError, TransportClosedError
from ionpy_widgets.framing.registry import make_framer
from ionpy_widgets.instruments.scpi_psu.driver import ScpiPsuDriver
from ionpy_widgets.instruments.scpi_psu.sim import ScpiPsuSimulator
from ionpy_widgets.instruments.simhost import TcpServer
from ionpy_widgets.link import Link
from ionpy_widgets.transport.registry import make_transport

CV, CC = 0, 1


@asynccontextmanager
async def bench(sim: ScpiPsuSimulator, *, options: dict[str, Any] | None = None,
                trace: Callable[[str, bytes, float], None] | None = None) -> AsyncIterator[ScpiPsuDriver]:
    """A driver connected to ``sim`` through TCP on 127.0.0.1, with the blueprint's framing."""
    blueprint = ScpiPsuDriver.blueprint_for("tcp")
    assert blueprint is not None and blueprint.framing == "delimiter"
    async with TcpServer(sim, "127.0.0.1", 0) as server:
        transport = make_transport("tcp", {**blueprint.transport_params, "host": "127.0.0.1", "port": server.port})
        framer, leftover = make_framer(blueprint.framing, dict(blueprint.framing_params))
        assert leftover == {}
        driver = ScpiPsuDriver(Link(transport, framer, timeout=1.0, retries=0, trace=trace), options=options)
        try:
            await driver.connect()
            driver.server = server  # type: ignore[attr-defined]
            yield driver
        finally:
            await driver.disconnect()


def test_registered_under_its_name() -> None:
    assert get_driver("SCPI_PSU") is ScpiPsuDriver
    assert ScpiPsuDriver.matches_idn("RIGOL TECHNOLOGIES,DP832,DP8C1,00.01.16")
    assert ScpiPsuDriver.matches_idn("Agilent Technologies,E3631A,0,1.0")
    assert ScpiPsuDriver.matches_idn("Siglent Technologies,SPD3303X-E,SPD3X,1.01")
    assert ScpiPsuDriver.matches_idn("ACME,PSU1,SN0001,1.0")
    assert not ScpiPsuDriver.matches_idn("RIGOL TECHNOLOGIES,DL3021A,DL3A1,00.01")


async def test_identify_picks_the_model_and_its_limits() -> None:
    async with bench(ScpiPsuSimulator("DP832")) as drv:
        assert drv.identity is not None and drv.identity.model == "DP832"
        assert drv.identity.serial == "DP8C000000001"
        assert drv.model.channel_count == 3
        assert drv.entity("u_set_3").max == 5.0 and drv.entity("u_set_1").max == 30.0
        assert drv.entity("i_set_2").channel == 2
        values = await drv.poll()
        assert set(values) == {k for k, e in drv.entities.items() if e.readable}
        assert values["output_1"] is False and values["i_set_1"] == 3.0


async def test_cv_to_cc_as_the_voltage_rises() -> None:
    sim = ScpiPsuSimulator("DP832", load_ohms=[10.0, None, None])
    async with bench(sim) as drv:
        await drv.write("u_set_1", 5.0)
        await drv.write("i_set_1", 1.0)
        await drv.write("output_1", True)
        values = await drv.poll()
        assert values["cv_cc_1"] == CV and values["u_out_1"] == pytest.approx(5.0)
        assert values["i_out_1"] == pytest.approx(0.5) and values["p_out_1"] == pytest.approx(2.5)
        await drv.write("u_set_1", 20.0)  # the 10 Ω load would draw 2 A: the 1 A limit takes over
        values = await drv.poll()
        assert values["cv_cc_1"] == CC
        assert values["u_out_1"] == pytest.approx(10.0) and values["i_out_1"] == pytest.approx(1.0)
        assert values["u_set_1"] == 20.0


async def test_channels_are_independent() -> None:
    sim = ScpiPsuSimulator("DP832", load_ohms=[None, 5.0, 1.0])
    async with bench(sim) as drv:
        await drv.write("u_set_2", 12.0)
        await drv.write("u_set_3", 3.3)
        await drv.write("i_set_3", 0.5)
        await drv.write("output_2", True)
        await drv.write("output_3", "on")
        values = await drv.poll()
        assert (values["u_set_1"], values["u_set_2"], values["u_set_3"]) == (0.0, 12.0, 3.3)
        assert values["output_1"] is False and values["output_2"] and values["output_3"]
        assert values["i_out_2"] == pytest.approx(2.4) and values["cv_cc_2"] == CV
        assert values["cv_cc_3"] == CC and values["u_out_3"] == pytest.approx(0.5)
        assert [c.v_set for c in sim.channels] == [0.0, 12.0, 3.3]
        assert await drv.outputs_off() == ["output_1", "output_2", "output_3"]
        assert not any(c.output for c in sim.channels)


async def test_limit_refused_before_any_byte() -> None:
    wire: list[tuple[str, bytes]] = []
    sim = ScpiPsuSimulator("DP832")
    async with bench(sim, trace=lambda d, data, t: wire.append((d, data))) as drv:
        sent_before, history_before = list(wire), list(sim.history)
        with pytest.raises(LimitError) as info:
            await drv.write("u_set_3", 6.0)  # CH3 is a 5 V output on a DP832
        assert "5" in info.value.hint
        with pytest.raises(LimitError):
            await drv.write("i_set_1", -0.1)
        with pytest.raises(LimitError):
            await drv.write("output_1", "maybe")
        assert wire == sent_before and list(sim.history) == history_before


async def test_instrument_error_is_reported_with_its_text() -> None:
    sim = ScpiPsuSimulator("DP832", load_ohms=[100.0, None, None])
    # the user claims a 40 V channel 1; the instrument knows better
    async with bench(sim, options={"max_voltage": [40, 30, 5]}) as drv:
        with pytest.raises(ExceptionResponseError) as info:
            await drv.write("u_set_1", 35.0)
        err = info.value
        assert 'error -222, "Data out of range"' in err.message and ":SOUR:VOLT 35.0000" in err.message
        assert "max_voltage" in err.hint
        assert err.details["scpi_errors"] == ['-222,"Data out of range"'] and err.details["entity"] == "u_set_1"
        await drv.write("u_set_1", 12.0)  # the queue was drained: the next write is clean
        # a latched OVP trip makes the instrument refuse to switch on
        await drv.write("ovp_1", 10.0)
        await drv.write("output_1", True)
        values = await drv.poll()
        assert values["output_1"] is False and values["trip_1"] == 1 and values["ovp_1"] == 10.0
        with pytest.raises(ExceptionResponseError) as info:
            await drv.write("output_1", True)
        assert "Settings conflict" in info.value.message and "trip" in info.value.hint


async def test_over_current_protection_trip_is_polled() -> None:
    sim = ScpiPsuSimulator("DP832", load_ohms=[2.0, None, None])
    async with bench(sim) as drv:
        await drv.write("ocp_1", 1.0)
        await drv.write("u_set_1", 1.0)
        await drv.write("output_1", True)
        assert (await drv.poll())["trip_1"] == 0
        await drv.write("u_set_1", 4.0)
        values = await drv.poll()
        assert values["trip_1"] == 2 and values["output_1"] is False and values["ocp_1"] == 1.0


async def test_server_reset_mid_poll_raises_transport_closed() -> None:
    class ResettingSim(ScpiPsuSimulator):
        server: TcpServer | None = None
        reset_on = ""

        def handle(self, payload: bytes, now: float) -> bytes | None:
            if self.reset_on and payload.startswith(self.reset_on.encode()) and self.server is not None:
                self.reset_on = ""
                self.server.drop_clients()  # the instrument reboots before it answers
                return None
            return super().handle(payload, now)

    sim = ResettingSim("DP832")
    async with bench(sim) as drv:
        sim.server = drv.server  # type: ignore[attr-defined]
        sim.reset_on = ":MEAS:CURR?"
        with pytest.raises(TransportClosedError):
            await drv.poll()
        with pytest.raises(TransportClosedError):
            await drv.poll()  # the link stays failed until reconnected
        await drv.disconnect()
        await drv.connect()  # a new connection to the same server works
        assert "u_out_3" in await drv.poll()


async def test_keysight_multi_channel_uses_isum_for_the_mode() -> None:
    sim = ScpiPsuSimulator("E36312A", load_ohms=[1.0, None, None])
    async with bench(sim) as drv:
        assert drv.dialect.name == "keysight" and drv.entity("i_set_1").max == 5.15
        await drv.write("u_set_1", 5.0)
        await drv.write("i_set_1", 2.0)
        await drv.write("output_1", True)
        values = await drv.poll()
        assert values["cv_cc_1"] == CC and values["i_out_1"] == pytest.approx(2.0)
        assert values["p_out_1"] == pytest.approx(4.0)  # computed: U·I
        assert "ocp_1" not in values and values["trip_1"] == 0
        assert any(h.startswith(":STAT:QUES:INST:ISUM1:COND?") for h in sim.history)


async def test_single_output_model_sends_no_channel_select() -> None:
    sim = ScpiPsuSimulator("E36103B", load_ohms=[4.0])
    async with bench(sim) as drv:
        assert list(drv.entities)[:7] == ["u_set_1", "i_set_1", "u_out_1", "i_out_1", "p_out_1", "output_1",
                                          "cv_cc_1"]
        await drv.write("u_set_1", 8.0)
        await drv.write("i_set_1", 1.0)
        await drv.write("output_1", True)
        values = await drv.poll()
        assert values["cv_cc_1"] == CC and values["u_out_1"] == pytest.approx(4.0)
        assert not any(h.upper().startswith(":INST") for h in sim.history)
        with pytest.raises(LimitError):
            await drv.write("u_set_1", 21.0)


async def test_siglent_dialect_reads_the_status_word() -> None:
    sim = ScpiPsuSimulator("SPD3303X", load_ohms=[1.0, 10.0])
    async with bench(sim) as drv:
        await drv.write("u_set_1", 5.0)
        await drv.write("i_set_1", 1.0)
        await drv.write("output_1", True)
        await drv.write("u_set_2", 2.0)
        await drv.write("output_2", True)
        values = await drv.poll()
        assert values["output_1"] and values["cv_cc_1"] == CC and values["u_out_1"] == pytest.approx(1.0)
        assert values["output_2"] and values["cv_cc_2"] == CV and values["i_out_2"] == pytest.approx(0.2)
        assert "CH1:VOLT 5.0000" in sim.history and "OUTP CH2,ON" in sim.history


async def test_unknown_instrument_gets_generic_limits_and_options() -> None:
    sim = ScpiPsuSimulator("SCPI PSU", load_ohms=[None])
    sim.idn = "ACME,PSU-2000,SN42,1.0"
    async with bench(sim, options={"max_current": 0.5}) as drv:
        assert drv.model.model == "PSU-2000" and drv.dialect.name == "generic"
        assert drv.entity("u_set_1").max == 20.0 and drv.entity("i_set_1").max == 0.5
        await drv.write("u_set_1", 3.0)
        await drv.write("output_1", True)
        values = await drv.poll()
        assert values["u_out_1"] == pytest.approx(3.0) and values["cv_cc_1"] == CV and values["p_out_1"] == 0.0
        await drv.write("ovp_1", 2.0)  # SCPI-99 :SOUR:VOLT:PROT trips the 3 V output
        assert (await drv.poll())["trip_1"] == 1


async def test_concurrent_poll_and_write_never_mix_channels() -> None:
    sim = ScpiPsuSimulator("DP832", load_ohms=[None, None, None])
    async with bench(sim) as drv:
        await drv.write("u_set_2", 12.0)
        await drv.write("u_set_3", 3.3)
        for step in range(5):
            results = await asyncio.gather(drv.poll(), drv.write("u_set_1", 1.0 + step), drv.poll(),
                                           drv.write("i_set_3", 0.5))
            for values in (results[0], results[2]):
                assert values["u_set_2"] == 12.0 and values["u_set_3"] == 3.3
                assert values["u_set_1"] in (step + 0.0, step + 1.0)
