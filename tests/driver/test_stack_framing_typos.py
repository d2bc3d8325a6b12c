"""A framing parameter neither the framer nor the driver takes (``slave`` for ``slave_id``) used to
be passed on to the driver unread, so the device silently talked to slave 1. It is now refused with
its field path and the valid keys: by ``build_stack``, by ``lab.yaml`` validation (file unchanged)
and by ``lab.add_device`` (no byte sent to a real pty, file unchanged)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ionpy_widgets.driver.stack import build_stack
from ionpy_widgets.engine.lab import Lab
from ionpy_widgets.errors import ConfigValidationError, DeviceSpawnError
from ionpy_widgets.instruments.rdtech_dps.sim import DpsSimulator
from ionpy_widgets.instruments.simhost import PtyServer


def test_build_stack_refuses_a_framing_param_nobody_takes() -> None:
    with pytest.raises(DeviceSpawnError) as err:
        build_stack("DPS5005", transport={"type": "serial", "params": {"port": "/dev/ttyUSB0"}},
                    framing={"type": "modbus_rtu", "params": {"slave": 2}}, device_id="PSU")
    cause = err.value.cause
    assert isinstance(cause, ConfigValidationError) and cause.path == "framing.params.slave"
    assert "slave_id" in cause.hint and "gap_timeout" in cause.hint
    # the keys the driver declares still pass through to it
    stack = build_stack("DPS5005", transport={"type": "serial", "params": {"port": "/dev/ttyUSB0"}},
                        framing={"type": "modbus_rtu", "params": {"slave_id": 2}}, device_id="PSU")
    assert stack.driver.options["slave_id"] == 2


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_lab_yaml_and_add_device_name_the_field_and_change_nothing(tmp_path: Path) -> None:
    config = tmp_path / "lab.yaml"
    text = ("devices:\n  - id: BAT\n    driver: V01_Battery\n  - id: DPS\n    driver: DPS5005\n"
            "    transport: {type: serial, params: {port: /dev/ttyUSB0, baudrate: 9600}}\n"
            "    framing: {type: modbus_rtu, params: {slave: 1}}\n")
    config.write_text(text)
    with pytest.raises(ConfigValidationError) as err:
        await Lab.start(config)
    assert err.value.path == "devices[1].framing.params.slave" and "slave_id" in err.value.hint
    assert config.read_text() == text and _names(tmp_path) == ["lab.yaml"]

    config.write_text("devices: []\n")
    async with PtyServer(DpsSimulator()) as pty:
        lab = await Lab.start(config)
        try:
            with pytest.raises(ConfigValidationError) as err:
                await lab.add_device({"id": "DPS", "driver": "DPS5005",
                                      "transport": {"type": "serial", "params": {"port": pty.path}},
                                      "framing": {"type": "modbus_rtu", "params": {"slave": 1}}})
            assert err.value.path == "framing.params.slave"
            assert pty.sim.requests == 0 and lab.devices == []
        finally:
            await lab.stop()
    assert config.read_text() == "devices: []\n"
