"""lab.yaml loading: the documented shape, field-path errors with hints, round-trip document kept."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from ionpy_widgets.engine.config import DeviceConfig, LabConfig, ensure_config_file, load_lab_config
from ionpy_widgets.errors import ConfigValidationError

GOOD = """\
# my bench
engine: {backoff_max: 5}
devices:
  - id: DPS5005_1          # the supply on the left
    driver: DPS5005
    transport: {type: serial, params: {port: /dev/ttyUSB0, baudrate: 9600}}
    framing: {type: modbus_rtu, params: {slave_id: 1}}
  - id: PSU_1
    driver: SCPI_PSU
    poll_interval: 0.25
    transport: {type: tcp, params: {host: 127.0.0.1, port: 5025}}
    framing: {type: delimiter, params: {}}
    link: {timeout: 0.5, retries: 2}
  - id: BAT
    driver: V01_Battery
    options: {cells: 3}
  - id: SPARE
    driver: DPS5005
    enabled: false
    transport: {type: serial, params: {port: /dev/ttyUSB9}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    return path


def error_for(tmp_path: Path, text: str) -> ConfigValidationError:
    with pytest.raises(ConfigValidationError) as info:
        load_lab_config(write(tmp_path, text))
    return info.value


def test_documented_shape_loads(tmp_path: Path) -> None:
    cfg = load_lab_config(write(tmp_path, GOOD))
    assert cfg.ids == ["DPS5005_1", "PSU_1", "BAT", "SPARE"]
    dps = cfg.device("DPS5005_1")
    assert dps.transport == {"type": "serial", "params": {"port": "/dev/ttyUSB0", "baudrate": 9600}}
    assert type(dps.transport["params"]) is dict and dps.framing == {"type": "modbus_rtu", "params": {"slave_id": 1}}
    psu = cfg.device("PSU_1")
    assert psu.poll_interval == 0.25 and psu.link == {"timeout": 0.5, "retries": 2}
    assert cfg.device("BAT").transport is None and cfg.device("BAT").options == {"cells": 3}
    assert cfg.device("SPARE").enabled is False
    assert cfg.engine.backoff_max == 5
    assert cfg.path == (tmp_path / "lab.yaml").resolve()
    # the round-trip document keeps the comments for a later writer
    out = io.StringIO()
    YAML(typ="rt").dump(cfg.document, out)
    assert "# the supply on the left" in out.getvalue() and out.getvalue().startswith("# my bench")


def test_to_dict_round_trips() -> None:
    conf = {"id": "D", "driver": "DPS5005", "poll_interval": 1.0,
            "transport": {"type": "serial", "params": {"port": "/dev/x"}}}
    dev = DeviceConfig.from_mapping(conf)
    assert dev.to_dict() == conf
    assert DeviceConfig.from_mapping(dev.to_dict()) == dev


@pytest.mark.parametrize(("text", "path", "hint_has"), [
    ("devices:\n  - id: A\n    driver: DPS5005\n    transport: {type: serial, params: {port: /dev/x}}\n"
     "  - id: B\n    driver: SCPI_PSU\n    transport: {type: tcp, params: {host: 127.0.0.1, port: 99999}}\n",
     "devices[1].transport.params.port", "5025"),
    ("devices:\n  - id: A\n    driver: DPS5005\n    transport: {type: serial, params: {port: /dev/x}}\n"
     "    colour: red\n",
     "devices[0].colour", "Allowed keys"),
    ("devices:\n  - driver: DPS5005\n", "devices[0].id", "unique id"),
    ("devices:\n  - id: A\n", "devices[0].driver", "driver name"),
    ("devices:\n  - id: A\n    driver: DPS5005\n", "devices[0].transport", "serial"),
    ("devices:\n  - id: A B\n    driver: V01_Battery\n", "devices[0].id", "letters"),
    ("devices:\n  - id: A\n    driver: V01_Battery\n  - id: A\n    driver: V01_Battery\n",
     "devices[1].id", "devices[0]"),
    ("devices:\n  - id: A\n    driver: DPS9000\n", "devices[0].driver", "DPS5005"),
    ("devices:\n  - id: A\n    driver: DPS5005\n    transport: {type: usb_magic, params: {}}\n",
     "devices[0].transport.type", "serial"),
    ("devices:\n  - id: A\n    driver: DPS5005\n    transport: {type: serial, params: {port: /dev/x}}\n"
     "    framing: {type: modbus_rtu, params: {slave_id: 0}}\n", "devices[0].options.slave_id", "ADDR"),
    ("devices:\n  - id: A\n    driver: SCPI_PSU\n    transport: {type: tcp, params: {host: 127.0.0.1}}\n"
     "    framing: {type: delimiter, params: {delimiter: [1, x]}}\n", "devices[0].framing.params.delimiter", "byte"),
    ("devices:\n  - id: A\n    driver: V01_Battery\n    poll_interval: 0\n", "devices[0].poll_interval", "0.5"),
    ("devices:\n  - id: A\n    driver: V01_Battery\n    link: {timeout: 0}\n", "devices[0].link.timeout", "1.0"),
    ("devices:\n  - id: A\n    driver: V01_Battery\n    enabled: maybe\n", "devices[0].enabled", ""),
    ("devices: {id: A}\n", "devices", "- id"),
    ("device: []\n", "device", "devices"),
    ("engine: {stall: 1}\ndevices: []\n", "engine.stall", "stall_threshold"),
])
def test_errors_name_the_field(tmp_path: Path, text: str, path: str, hint_has: str) -> None:
    err = error_for(tmp_path, text)
    assert err.path == path, err
    assert hint_has in (err.hint or ""), err.hint
    assert err.details["file"].endswith("lab.yaml")


def test_error_reports_the_line(tmp_path: Path) -> None:
    err = error_for(tmp_path, "devices:\n  - id: A\n    driver: V01_Battery\n  - id: B\n    driver: nope\n")
    assert err.path == "devices[1].driver" and err.details["line"] == 5


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    err = error_for(tmp_path, "devices:\n  - id: A\n   driver: [unclosed\n")
    assert "line" in err.message and err.hint


def test_missing_file_is_an_error_but_ensure_creates_it(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "lab.yaml"
    with pytest.raises(ConfigValidationError) as info:
        load_lab_config(path)
    assert "Lab.start" in info.value.hint
    assert ensure_config_file(path) is True
    assert ensure_config_file(path) is False
    assert load_lab_config(path).devices == []
    assert "devices: []" in path.read_text()


def test_empty_file_and_empty_list(tmp_path: Path) -> None:
    assert load_lab_config(write(tmp_path, "")).devices == []
    assert load_lab_config(write(tmp_path, "devices:\n")).devices == []


def test_dict_config_and_virtual_simulator_params() -> None:
    cfg = LabConfig.from_mapping({"devices": [
        {"id": "SIM", "driver": "DPS5005", "transport": {"type": "virtual", "params": {"simulator": "dps5005"}}}]})
    assert cfg.devices[0].transport == {"type": "virtual", "params": {"simulator": "dps5005"}}
    with pytest.raises(ConfigValidationError) as info:
        LabConfig.from_mapping({"devices": [{"id": "SIM", "driver": "DPS5005", "transport": {
            "type": "virtual", "params": {"simulator": "dps5005", "volts": 1}}}]})
    assert info.value.path == "devices[0].transport.params.volts" and "load_ohms" in info.value.hint
