import json

import pytest

from ionpy_widgets import errors as E


def test_every_error_has_code_message_hint_and_json_dict():
    err = E.PortNotFoundError("/dev/ttyUSB7 does not exist", hint="Ports that exist: /dev/ttyUSB0", port="/dev/ttyUSB7")
    data = err.to_dict()
    assert data == {
        "type": "PortNotFoundError", "code": "port_not_found", "message": "/dev/ttyUSB7 does not exist",
        "hint": "Ports that exist: /dev/ttyUSB0", "details": {"port": "/dev/ttyUSB7"},
    }
    assert "hint: Ports that exist" in str(err)
    json.dumps(data)


def test_codes_are_unique_across_the_tree():
    classes, stack = [], [E.IonpyError]
    while stack:
        cls = stack.pop()
        classes.append(cls)
        stack.extend(cls.__subclasses__())
    codes = [c.code for c in classes if c.__module__ == E.__name__]
    assert len(codes) == len(set(codes)), sorted(codes)


def test_spawn_error_names_stage_and_wraps_cause_hint():
    cause = E.PortBusyError("port busy", hint="close the other program")
    err = E.DeviceSpawnError("cannot open DPS5005_1", stage="transport", device_id="DPS5005_1", cause=cause)
    assert err.stage is E.SpawnStage.TRANSPORT
    assert err.hint == "close the other program"
    assert err.to_dict()["details"]["cause"]["code"] == "port_busy"
    with pytest.raises(ValueError):
        E.DeviceSpawnError("x", stage="nonsense")


def test_config_error_carries_field_path():
    err = E.ConfigValidationError("must be a positive integer", path="devices[2].transport.params.baudrate",
                                  hint="Common rates: 9600, 19200, 115200.")
    assert err.path == "devices[2].transport.params.baudrate"
    assert err.message.startswith("devices[2].transport.params.baudrate: ")
    assert err.to_dict()["details"]["path"] == "devices[2].transport.params.baudrate"


def test_protocol_errors_share_a_base_and_bytes_become_hex():
    err = E.CRCError("bad crc", received=b"\x01\x03\xff")
    assert isinstance(err, E.ProtocolError)
    assert isinstance(E.ProtocolTimeoutError("t"), E.ProtocolError)
    assert isinstance(E.ExceptionResponseError("x"), E.ProtocolError)
    assert err.to_dict()["details"]["received"] == "01 03 ff"
    assert E.ProtocolTimeoutError("t").hint  # default hint present


def test_limit_error_is_a_value_error():
    assert issubclass(E.LimitError, ValueError)
    assert issubclass(E.EntityError, KeyError)
    assert str(E.EntityError("no entity 'x'", hint="Known: a")) == "no entity 'x' (hint: Known: a)"
