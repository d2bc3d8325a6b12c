"""Address dataclasses and parse_params: conversions, field paths and hints."""

from __future__ import annotations

import dataclasses

import pytest

from ionpy_widgets.errors import ConfigValidationError
from ionpy_widgets.transport.address import (
    HidParams,
    SerialParams,
    TcpParams,
    VirtualParams,
    VisaParams,
    parse_params,
)
from ionpy_widgets.transport.virtual import LoopbackPeer


def _error(type_name: str, params: dict) -> ConfigValidationError:
    with pytest.raises(ConfigValidationError) as info:
        parse_params(type_name, params)
    assert info.value.hint, "every validation error carries a hint"
    return info.value


def test_serial_defaults_and_string_forms():
    assert parse_params("serial", {"port": "/dev/ttyUSB0"}) == SerialParams("/dev/ttyUSB0", 9600, 8, "N", 1, True)
    p = parse_params("serial", {"port": "COM3", "baudrate": "115200", "parity": "even", "stopbits": "1.5",
                                "bytesize": 7, "exclusive": "false"})
    assert (p.baudrate, p.parity, p.stopbits, p.bytesize, p.exclusive) == (115200, "E", 1.5, 7, False)
    assert parse_params("serial", {"port": "x", "baudrate": 250000}).baudrate == 250000  # uncommon but valid


@pytest.mark.parametrize("bad", [0, -9600, "fast", True, 9600.5])
def test_bad_baudrate_names_the_field_and_the_common_rates(bad):
    err = _error("serial", {"port": "/dev/ttyUSB0", "baudrate": bad})
    assert err.path == "transport.params.baudrate"
    assert "9600" in err.hint and "115200" in err.hint


@pytest.mark.parametrize(("field", "value"), [("bytesize", 9), ("parity", "X"), ("stopbits", 3),
                                              ("exclusive", "maybe")])
def test_bad_line_settings(field, value):
    assert _error("serial", {"port": "/dev/ttyUSB0", field: value}).path == f"transport.params.{field}"


def test_missing_and_unknown_keys():
    err = _error("serial", {"baudrate": 9600})
    assert err.path == "transport.params.port" and "missing" in err.message
    err = _error("serial", {"port": "/dev/ttyUSB0", "baud": 9600})
    assert err.path == "transport.params.baud"
    assert "port, baudrate, bytesize, parity, stopbits, exclusive" in err.hint
    assert _error("serial", {"port": "  "}).path == "transport.params.port"


def test_unknown_type_and_non_mapping():
    err = _error("carrier-pigeon", {})
    assert err.path == "transport.type" and "serial" in err.hint and "virtual" in err.hint
    assert _error("tcp", ["host"]).path == "transport.params"  # type: ignore[arg-type]


def test_tcp_hosts_and_ports():
    assert parse_params("tcp", {"host": "198.51.100.50", "port": "5025"}) == TcpParams("198.51.100.50", 5025, 3.0)
    assert TcpParams("[::1]", 5555).host == "::1"
    assert TcpParams("psu-1.lab.local", 502, connect_timeout=0.5).connect_timeout == 0.5
    for host in ("", "http://psu", "bad host", "psu:5025", "-psu"):
        assert _error("tcp", {"host": host, "port": 5025}).path == "transport.params.host"
    for port in (0, 65536, "http"):
        err = _error("tcp", {"host": "127.0.0.1", "port": port})
        assert err.path == "transport.params.port" and "5025" in err.hint
    assert _error("tcp", {"host": "h", "port": 1, "connect_timeout": 0}).path == "transport.params.connect_timeout"


def test_visa_resource_syntax_and_terminations():
    p = parse_params("visa", {"resource": "TCPIP::198.51.100.5::5025::SOCKET", "read_termination": "LF",
                              "write_termination": "\\r\\n", "timeout_ms": "500"})
    assert (p.backend, p.read_termination, p.write_termination, p.timeout_ms) == ("@py", "\n", "\r\n", 500)
    assert VisaParams("USB0::0x1AB1::0x0E11::DP8C1::INSTR", read_termination="\n").read_termination == "\n"
    err = _error("visa", {"resource": "198.51.100.5"})
    assert err.path == "transport.params.resource" and "::SOCKET" in err.hint and "ASRL" in err.hint
    assert _error("visa", {"resource": "ASRL1::INSTR", "timeout_ms": -1}).path == "transport.params.timeout_ms"
    assert _error("visa", {"resource": "ASRL1::INSTR", "backend": ""}).path == "transport.params.backend"


@pytest.mark.parametrize("vid", [0x10C4, 4292, "0x10C4", "10C4", "10c4", " 0x10c4 "])
def test_hid_ids_as_int_or_hex_string(vid):
    p = parse_params("hid", {"vendor_id": vid, "product_id": "EA80"})
    assert (p.vendor_id, p.product_id, p.report_size, p.read_timeout_ms) == (0x10C4, 0xEA80, 64, 100)


def test_hid_bad_values():
    for bad in ("0xZZ", "0x10000", -1, None):
        err = _error("hid", {"vendor_id": bad, "product_id": 1})
        assert err.path == "transport.params.vendor_id"
        if bad is not None:
            assert "0x10C4" in err.hint
    assert _error("hid", {"vendor_id": 1, "product_id": 2, "report_size": 0}).path == "transport.params.report_size"
    assert _error("hid", {"vendor_id": 1, "product_id": 2, "serial": ""}).path == "transport.params.serial"
    assert HidParams(1, 2, path=b"/dev/hidraw3").path == "/dev/hidraw3"  # type: ignore[arg-type]


def test_virtual_params():
    peer = LoopbackPeer()
    p = parse_params("virtual", {"peer": peer, "chunk_size": "4", "drop": "0.25", "seed": 7})
    assert (p.peer, p.chunk_size, p.drop, p.seed) == (peer, 4, 0.25, 7)
    assert _error("virtual", {"peer": object()}).path == "transport.params.peer"
    assert _error("virtual", {"peer": peer, "garble": 1.5}).path == "transport.params.garble"
    assert _error("virtual", {"peer": peer, "delay": -1}).path == "transport.params.delay"
    assert _error("virtual", {"peer": peer, "delay": "nan"}).path == "transport.params.delay"
    assert _error("virtual", {"peer": peer, "disconnect_after": 0}).path == "transport.params.disconnect_after"
    assert VirtualParams(peer).delay == 0.0


def test_params_are_frozen_and_validated_on_direct_construction():
    p = SerialParams("/dev/ttyUSB0")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.baudrate = 19200  # type: ignore[misc]
    with pytest.raises(ConfigValidationError) as info:
        TcpParams("127.0.0.1", 99999)
    assert info.value.path == "transport.params.port"
    assert info.value.to_dict()["details"]["path"] == "transport.params.port"
