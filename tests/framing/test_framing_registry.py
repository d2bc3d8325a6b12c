"""make_framer: config → framer + leftover params, conversions, errors; plus the layer rule for
the framing package (checked on the AST)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import ionpy_widgets.framing as framing
from ionpy_widgets.framing import (
    FRAMERS,
    DelimiterFramer,
    FramerConfigError,
    IdleGapFramer,
    LengthPrefixedFramer,
    ModbusRtuFramer,
    RawFramer,
    StartStopFramer,
    make_framer,
)
from ionpy_widgets.framing.base import Framer

FRAMING_DIR = Path(framing.__file__).parent


def test_every_type_builds_with_defaults():
    assert set(FRAMERS) == {"raw", "delimiter", "length_prefixed", "modbus_rtu", "start_stop", "idle_gap"}
    for name, cls in FRAMERS.items():
        framer, leftover = make_framer(name, {})
        assert type(framer) is cls and isinstance(framer, Framer) and leftover == {}


def test_leftover_params_belong_to_the_driver():
    framer, leftover = make_framer("modbus_rtu", {"slave_id": 1, "role": "master", "registers": [1, 2]})
    assert isinstance(framer, ModbusRtuFramer) and framer.role == "master"
    assert leftover == {"slave_id": 1, "registers": [1, 2]}


def test_baudrate_is_passed_where_accepted_unless_params_set_it():
    framer, _ = make_framer("modbus_rtu", {}, baudrate=115200)
    assert framer.baudrate == 115200 and framer.min_silence == 0.00175
    framer, _ = make_framer("modbus_rtu", {"baudrate": 9600}, baudrate=115200)
    assert framer.baudrate == 9600
    framer, leftover = make_framer("delimiter", {}, baudrate=9600)
    assert isinstance(framer, DelimiterFramer) and leftover == {}


def test_type_name_is_forgiving_about_case_and_dashes():
    assert isinstance(make_framer("Modbus-RTU", {})[0], ModbusRtuFramer)
    assert isinstance(make_framer(" raw ", {})[0], RawFramer)


@pytest.mark.parametrize(("value", "expected"), [
    ("\n", b"\n"), ("\r\n", b"\r\n"), ("\\r\\n", b"\r\n"), ([13, 10], b"\r\n"), (b"\n", b"\n"), (0x0A, b"\n"),
    ("\xff", b"\xff"), ("END", b"END"),
])
def test_bytes_params_from_yaml_forms(value, expected):
    framer, _ = make_framer("delimiter", {"delimiter": value})
    assert framer.delimiter == expected


def test_other_conversions():
    framer, _ = make_framer("length_prefixed", {"header": [0xAB, 0xCD], "length_size": "1", "checksum": "sum16_be",
                                                "gap_timeout": "0.05", "max_frame": 512.0})
    assert isinstance(framer, LengthPrefixedFramer)
    assert (framer.header, framer.length_size, framer.gap_timeout, framer.max_frame) == (b"\xab\xcd", 1, 0.05, 512)
    assert framer.encode(b"^") == bytes.fromhex("AB CD 03 5E 01 D9")
    framer, _ = make_framer("start_stop", {"start": "0x7E", "stop": 127, "crc": None})
    assert isinstance(framer, StartStopFramer) and framer.spec is None and framer.stop == 0x7F
    framer, _ = make_framer("start_stop", {"crc": "none"})
    assert framer.spec is None
    framer, _ = make_framer("delimiter", {"append_on_encode": "no", "strip": None})
    assert framer.append_on_encode is False and framer.strip == b""
    framer, _ = make_framer("idle_gap", {"gap": 1, "expected_length": "5"})
    assert isinstance(framer, IdleGapFramer) and framer.gap == 1.0 and framer.expected_length == 5


@pytest.mark.parametrize(("type_name", "params", "field", "hint_part"), [
    ("modbus", {}, "type", "modbus_rtu"),
    ("modbus_rtu", {"role": "boss"}, "role", "master, slave"),
    ("modbus_rtu", {"baudrate": "fast"}, "baudrate", "integer"),
    ("modbus_rtu", {"baudrate": 0}, "baudrate", "baudrate"),
    ("modbus_rtu", {"bits_per_char": 3}, "bits_per_char", "bits_per_char"),
    ("length_prefixed", {"length_size": 3}, "length_size", "1, 2, 4"),
    ("length_prefixed", {"byteorder": "middle"}, "byteorder", "big, little"),
    ("length_prefixed", {"checksum": "crc32"}, "checksum", "sum16_be"),
    ("length_prefixed", {"header": b"AB", "length_offset": 1}, "length_offset", "length_offset"),
    ("start_stop", {"crc": "crc32"}, "crc", "crc16_xmodem"),
    ("start_stop", {"crc_byteorder": "x"}, "crc_byteorder", "big, little"),
    ("start_stop", {"stop": True}, "stop", "integer"),
    ("start_stop", {"escape": 0x7E}, "escape", "escape"),
    ("delimiter", {"delimiter": ""}, "delimiter", "delimiter"),
    ("delimiter", {"delimiter": "€"}, "delimiter", "list of byte values"),
    ("delimiter", {"delimiter": [1, 300]}, "delimiter", "list of byte values"),
    ("delimiter", {"max_frame": 0}, "max_frame", "max_frame"),
    ("delimiter", {"append_on_encode": "maybe"}, "append_on_encode", "true or false"),
    ("idle_gap", {"gap": -1}, "gap", "gap"),
    ("idle_gap", {"gap": "soon"}, "gap", "seconds"),
])
def test_errors_name_the_field_and_hint(type_name, params, field, hint_part):
    with pytest.raises(FramerConfigError) as info:
        make_framer(type_name, params)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.field == field
    assert hint_part in err.hint
    assert err.hint in str(err) and err.message in str(err)


def test_signatures_use_convertible_annotations():
    # every constructor parameter must be one make_framer knows how to convert
    for cls in FRAMERS.values():
        for name, param in inspect.signature(cls, eval_str=True).parameters.items():
            assert param.annotation is not inspect.Parameter.empty, (cls.__name__, name)
            assert param.default is not inspect.Parameter.empty, (cls.__name__, name)


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0, node.lineno
        elif isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level, node.lineno


def test_framing_imports_nothing_else_of_the_package_and_no_asyncio():
    files = sorted(FRAMING_DIR.glob("*.py"))
    assert len(files) >= 10
    problems = []
    for path in files:
        for module, level, line in _imports(path):
            where = f"{path.name}:{line}"
            if level == 0 and (module == "asyncio" or module.startswith("asyncio.")):
                problems.append(f"{where} imports asyncio")
            if level == 0 and module.split(".")[0] == "ionpy_widgets" and not (
                    module == "ionpy_widgets.framing" or module.startswith("ionpy_widgets.framing.")):
                problems.append(f"{where} imports {module}")
            if level > 1:
                problems.append(f"{where} imports {'.' * level}{module} (outside framing)")
    assert problems == []
