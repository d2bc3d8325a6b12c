"""ScpiPsuDriver through VISA: pyvisa-sim with the shipped DP832-like definition."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from ionpy_widgets.errors import ExceptionResponseError, LimitError
from ionpy_widgets.framing.registry import make_framer
from ionpy_widgets.instruments.scpi_psu import VISA_SIM_YAML
from ionpy_widgets.instruments.scpi_psu.driver import ScpiPsuDriver
from ionpy_widgets.link import Link
from ionpy_widgets.transport.registry import make_transport

pytest.importorskip("pyvisa_sim")


@pytest.fixture
def backend(tmp_path: Path) -> str:
    """A private copy of the definition: pyvisa caches one library (and its device state) per backend."""
    copy = tmp_path / "psu.yaml"
    shutil.copy(VISA_SIM_YAML, copy)
    return f"{copy}@sim"


@asynccontextmanager
async def visa_driver(backend: str, *, options: dict[str, Any] | None = None,
                      trace: Callable[[str, bytes, float], None] | None = None) -> AsyncIterator[ScpiPsuDriver]:
    blueprint = ScpiPsuDriver.blueprint_for("visa")
    assert blueprint is not None
    transport = make_transport("visa", {**blueprint.transport_params, "backend": backend})
    assert transport.streaming is False
    framer, _ = make_framer(blueprint.framing, dict(blueprint.framing_params))
    driver = ScpiPsuDriver(Link(transport, framer, timeout=2.0, retries=0, trace=trace), options=options)
    try:
        await driver.connect()
        yield driver
    finally:
        await driver.disconnect()


def test_shipped_definition_is_package_data() -> None:
    text = VISA_SIM_YAML.read_text()
    assert text.startswith("#") and 'spec: "1.1"' in text and "TCPIP::127.0.0.1::5025::SOCKET" in text


async def test_identify_and_poll_through_pyvisa_sim(backend: str) -> None:
    async with visa_driver(backend) as drv:
        assert drv.identity is not None and drv.identity.manufacturer == "RIGOL TECHNOLOGIES"
        assert drv.model.model == "DP832" and drv.entity("u_set_3").max == 5.0
        values = await drv.poll()
        assert set(values) == {k for k, e in drv.entities.items() if e.readable}
        assert values["output_1"] is False and values["cv_cc_2"] == 0 and values["i_set_3"] == 3.0
        assert values["trip_1"] == 0 and values["ovp_1"] == 33.0


async def test_setpoints_are_kept_per_channel(backend: str) -> None:
    async with visa_driver(backend) as drv:
        await drv.write("u_set_2", 12.5)
        await drv.write("i_set_2", 0.75)
        await drv.write("output_2", True)
        await drv.write("ovp_3", 4.0)
        values = await drv.poll()
        assert (values["u_set_1"], values["u_set_2"], values["i_set_2"]) == (0.0, 12.5, 0.75)
        assert values["output_2"] is True and values["output_1"] is False
        assert values["ovp_3"] == 4.0 and values["ovp_2"] == 33.0


async def test_limits_and_instrument_errors_through_visa(backend: str) -> None:
    wire: list[bytes] = []
    async with visa_driver(backend, options={"max_voltage": [40, 30, 5]},
                           trace=lambda d, data, t: wire.append(data)) as drv:
        before = len(wire)
        with pytest.raises(LimitError):
            await drv.write("u_set_3", 5.5)
        assert len(wire) == before
        with pytest.raises(ExceptionResponseError) as info:
            await drv.write("u_set_1", 35.0)  # beyond the definition's 30 V
        assert '-100, "Command error"' in info.value.message
        assert wire[-2:] == [b"SYST:ERR?\n", b'0,"No error"\n']
        assert (await drv.poll())["u_set_1"] == 0.0
