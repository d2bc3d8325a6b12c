"""A serial ``port`` that is not text (``port: [1, 2]`` or ``port: 5`` from a YAML slip) is
reported as such with the field path, not as "the serial port is empty"; the file stays as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from ionpy_widgets.engine.lab import Lab
from ionpy_widgets.errors import ConfigValidationError
from ionpy_widgets.transport.address import SerialParams


@pytest.mark.parametrize("port", [[1, 2], 5, None])
def test_a_port_that_is_not_text_says_so(port: object) -> None:
    with pytest.raises(ConfigValidationError) as err:
        SerialParams(port=port)  # type: ignore[arg-type]
    assert err.value.path.endswith("port") and f"got {port!r}" in err.value.message
    assert "as text" in err.value.hint


async def test_lab_yaml_names_the_field_and_keeps_the_file(tmp_path: Path) -> None:
    config = tmp_path / "lab.yaml"
    text = ("devices:\n  - id: BAT\n    driver: V01_Battery\n  - id: DPS\n    driver: DPS5005\n"
            "    transport: {type: serial, params: {port: [1, 2], baudrate: 9600}}\n")
    config.write_text(text)
    with pytest.raises(ConfigValidationError) as err:
        await Lab.start(config)
    assert err.value.path == "devices[1].transport.params.port" and "got [1, 2]" in err.value.message
    assert config.read_text() == text
