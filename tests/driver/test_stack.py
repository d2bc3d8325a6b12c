"""The stack builder: blueprint defaults under user params, virtual simulators, staged errors."""

from __future__ import annotations

import logging

import pytest

from ionpy_widgets.driver.stack import DeviceStack, build_stack, known_transport_types
from ionpy_widgets.errors import ConfigValidationError, DeviceSpawnError, SpawnStage, UnknownDriverError
from ionpy_widgets.framing.delimiter import DelimiterFramer
from ionpy_widgets.framing.modbus_rtu import ModbusRtuFramer
from ionpy_widgets.instruments.rdtech_dps.driver import DPSDriver
from ionpy_widgets.instruments.rdtech_dps.sim import DpsSimulator
from ionpy_widgets.instruments.virtual_battery.driver import VirtualBatteryDriver


def spawn_error(**kwargs: object) -> DeviceSpawnError:
    with pytest.raises(DeviceSpawnError) as info:
        build_stack(**kwargs)  # type: ignore[arg-type]
    return info.value


def test_serial_blueprint_defaults_merge_under_user_params() -> None:
    stack = build_stack("DPS5005", transport={"type": "serial", "params": {"port": "/dev/ttyUSB7"}},
                        device_id="DPS_1")
    assert isinstance(stack, DeviceStack) and isinstance(stack.driver, DPSDriver)
    assert stack.transport is not None and stack.transport.describe()["baudrate"] == 9600
    assert isinstance(stack.framer, ModbusRtuFramer)
    assert stack.options == {"slave_id": 1} and stack.driver.slave_id == 1
    assert stack.link is not None and stack.link.transport is stack.transport and not stack.transport.is_open
    faster = build_stack(DPSDriver, transport={"type": "serial", "params": {"port": "/dev/ttyUSB7", "baudrate": 19200}},
                         framing={"type": "modbus_rtu", "params": {"slave_id": 7}})
    assert faster.transport is not None and faster.transport.describe()["baudrate"] == 19200
    assert faster.driver.slave_id == 7  # type: ignore[attr-defined]


def test_tcp_blueprint_port_and_delimiter_framing() -> None:
    stack = build_stack("SCPI_PSU", transport={"type": "tcp", "params": {"host": "127.0.0.1"}})
    assert stack.transport is not None and stack.transport.describe()["port"] == 5025
    assert isinstance(stack.framer, DelimiterFramer)


def test_link_options_and_device_options() -> None:
    stack = build_stack("DPS5005", transport={"type": "tcp", "params": {"host": "127.0.0.1", "port": 8899}},
                        link_options={"timeout": 0.25, "retries": 3, "trace": True}, options={"extra": 1})
    assert stack.link is not None and stack.link.timeout == 0.25 and stack.link.retries == 3
    assert callable(stack.link.trace)
    assert stack.options == {"slave_id": 1, "extra": 1}


def test_virtual_transport_builds_the_named_simulator() -> None:
    stack = build_stack("DPS5005", transport={"type": "virtual", "params": {"simulator": "dps5005", "model": "DPS5015",
                                                                           "load_ohms": 5.0, "chunk_size": 3}})
    assert isinstance(stack.simulator, DpsSimulator)
    assert isinstance(stack.framer, ModbusRtuFramer)  # the first blueprint's framing: the sim speaks it
    assert stack.transport is not None and stack.transport.type_name == "virtual"


async def test_virtual_stack_connects_and_polls() -> None:
    stack = build_stack("DPS5005", transport={"type": "virtual", "params": {"simulator": "dps5005"}})
    identity = await stack.driver.connect()
    try:
        assert identity.model == "DPS5005"
        assert (await stack.driver.poll())["u_in"] == pytest.approx(24.0)
    finally:
        await stack.close()
    assert stack.transport is not None and not stack.transport.is_open


def test_link_less_driver_has_no_transport() -> None:
    for transport in (None, {"type": "none"}):
        stack = build_stack("V01_Battery", transport=transport, options={"cells": 3})
        assert isinstance(stack.driver, VirtualBatteryDriver)
        assert stack.link is None and stack.transport is None and stack.framer is None
        assert stack.driver.params.cells == 3


def test_unknown_driver_is_a_driver_stage_error_listing_the_installed_ones() -> None:
    err = spawn_error(driver="DPS9999", transport={"type": "serial", "params": {"port": "/dev/x"}}, device_id="X")
    assert err.stage is SpawnStage.DRIVER and isinstance(err.cause, UnknownDriverError)
    assert "DPS5005" in err.hint and err.device_id == "X"
    assert err.to_dict()["details"]["cause"]["code"] == "driver_unknown"


@pytest.mark.parametrize(("transport", "path"), [
    ({"type": "serial", "params": {}}, "transport.params.port"),
    ({"type": "serial", "params": {"port": "/dev/x", "baudrate": "fast"}}, "transport.params.baudrate"),
    ({"type": "tcp", "params": {"host": "127.0.0.1", "port": 70000}}, "transport.params.port"),
    ({"type": "carrier_pigeon", "params": {}}, "transport.type"),
    ({"type": "virtual", "params": {"simulator": "dps5005", "volts": 3}}, "transport.params.volts"),
    ({"type": "none"}, "transport.type"),
    ({"params": {}}, "transport.type"),
])
def test_transport_errors_carry_the_field_path(transport: dict[str, object], path: str) -> None:
    err = spawn_error(driver="DPS5005", transport=transport)
    assert err.stage is SpawnStage.TRANSPORT
    assert isinstance(err.cause, ConfigValidationError) and err.cause.path == path
    assert err.hint


def test_unknown_simulator_is_a_transport_error() -> None:
    err = spawn_error(driver="DPS5005", transport={"type": "virtual", "params": {"simulator": "dps9"}})
    assert err.stage is SpawnStage.TRANSPORT and "dps5005" in err.hint


@pytest.mark.parametrize(("framing", "transport", "path"), [
    ({"type": "smoke_signals"}, {"type": "tcp", "params": {"host": "127.0.0.1"}}, "framing.type"),
    ({"type": "delimiter", "params": {"delimiter": 3.5}}, {"type": "tcp", "params": {"host": "127.0.0.1"}},
     "framing.params.delimiter"),
    (None, {"type": "serial", "params": {"port": "/dev/x"}}, "framing"),  # SCPI_PSU has no serial blueprint
])
def test_framing_errors_carry_the_field_path(framing: dict[str, object] | None, transport: dict[str, object],
                                             path: str) -> None:
    err = spawn_error(driver="SCPI_PSU", transport=transport, framing=framing)
    assert err.stage is SpawnStage.FRAMING
    assert isinstance(err.cause, ConfigValidationError) and err.cause.path == path
    assert err.hint


def test_driver_option_errors_are_driver_stage() -> None:
    err = spawn_error(driver="DPS5005", transport={"type": "serial", "params": {"port": "/dev/x"}},
                      framing={"type": "modbus_rtu", "params": {"slave_id": 300}})
    assert err.stage is SpawnStage.DRIVER
    assert isinstance(err.cause, ConfigValidationError) and err.cause.path == "options.slave_id"


def test_bad_link_options() -> None:
    err = spawn_error(driver="DPS5005", transport={"type": "serial", "params": {"port": "/dev/x"}},
                      link_options={"timeout": -1})
    assert err.stage is SpawnStage.TRANSPORT and isinstance(err.cause, ConfigValidationError)
    err = spawn_error(driver="DPS5005", transport={"type": "serial", "params": {"port": "/dev/x"}},
                      link_options={"timout": 1})
    assert err.cause.path == "link.timout"  # type: ignore[union-attr]


def test_known_transport_types() -> None:
    assert {"serial", "tcp", "virtual", "none"} <= known_transport_types()


async def test_trace_true_logs_bytes(caplog: pytest.LogCaptureFixture) -> None:
    stack = build_stack("DPS5005", transport={"type": "virtual", "params": {"simulator": "dps5005"}},
                        device_id="TRACE", link_options={"trace": True})
    with caplog.at_level(logging.DEBUG, logger="ionpy_widgets.driver.stack"):
        await stack.driver.connect()
        await stack.close()
    assert any("TRACE tx 01 03" in r.getMessage() for r in caplog.records)
