"""The transport registry: availability with reasons, make_transport validation and construction."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ionpy_widgets.errors import ConfigValidationError, TransportUnavailableError
from ionpy_widgets.testing.hid_backend import FakeCp2110
from ionpy_widgets.transport import (
    TRANSPORTS,
    HidTransport,
    SerialTransport,
    TcpTransport,
    Transport,
    TransportInfo,
    VirtualTransport,
    VisaTransport,
    list_transports,
    make_transport,
)
from ionpy_widgets.transport.virtual import LoopbackPeer


def test_every_transport_is_listed_and_available_here():
    infos = list_transports()
    assert [i.name for i in infos] == ["serial", "tcp", "visa", "hid", "virtual"] == list(TRANSPORTS)
    for info in infos:
        assert isinstance(info, TransportInfo) and info.description
        assert info.available and info.reason == ""  # the dev environment has every library
    assert infos[0].to_dict() == {"name": "serial", "available": True, "reason": "",
                                  "description": infos[0].description}


@pytest.mark.parametrize(("module", "transport", "package"), [
    ("hid", "hid", "hidapi"),
    ("pyvisa_py", "visa", "pyvisa-py"),
    ("serial_asyncio_fast", "serial", "pyserial-asyncio-fast"),
])
def test_missing_library_makes_a_transport_unavailable(monkeypatch, module, transport, package):
    monkeypatch.setitem(sys.modules, module, None)
    info = {i.name: i for i in list_transports()}[transport]
    assert not info.available
    assert info.reason == f"{package} not installed: pip install {package}"
    assert all(i.available for i in list_transports() if i.name != transport)


def test_make_transport_builds_each_type(tmp_path: Path):
    cases = {
        "serial": ({"port": "/dev/ttyUSB0", "baudrate": 19200}, SerialTransport),
        "tcp": ({"host": "127.0.0.1", "port": 5025}, TcpTransport),
        "visa": ({"resource": "TCPIP::127.0.0.1::5025::SOCKET"}, VisaTransport),
        "hid": ({"vendor_id": "10C4", "product_id": "EA80"}, HidTransport),
        "virtual": ({"peer": LoopbackPeer(), "chunk_size": 2, "seed": 1}, VirtualTransport),
    }
    for name, (params, cls) in cases.items():
        transport = make_transport(name, params)
        assert type(transport) is cls and isinstance(transport, Transport)
        assert transport.type_name == name and not transport.is_open
        assert transport.describe()["type"] == name
    virtual = make_transport("virtual", {"peer": LoopbackPeer(), "chunk_size": 2})
    assert isinstance(virtual, VirtualTransport) and virtual.params.chunk_size == 2
    assert make_transport("serial", {"port": "COM3", "baudrate": 19200}).params.baudrate == 19200  # type: ignore[attr-defined]


def test_unknown_type_lists_the_valid_ones():
    with pytest.raises(ConfigValidationError) as info:
        make_transport("bluetooth", {})
    assert info.value.path == "transport.type"
    assert info.value.hint == "Valid types: serial, tcp, visa, hid, virtual."


def test_bad_params_name_the_field():
    with pytest.raises(ConfigValidationError) as info:
        make_transport("tcp", {"host": "127.0.0.1", "port": 0})
    assert info.value.path == "transport.params.port"
    with pytest.raises(ConfigValidationError) as info:
        make_transport("hid", {"vendor_id": 0x10C4, "product_id": 0xEA80, "bridge": FakeCp2110()})
    assert info.value.path == "transport.params.bridge" and "vendor_id" in info.value.hint


def test_unavailable_transport_cannot_be_made(monkeypatch):
    monkeypatch.setitem(sys.modules, "hid", None)
    with pytest.raises(TransportUnavailableError) as info:
        make_transport("hid", {"vendor_id": 1, "product_id": 2})
    assert info.value.hint == "pip install hidapi"
    assert info.value.details["transport"] == "hid"
    # params are still checked first: a config error is reported as such
    with pytest.raises(ConfigValidationError):
        make_transport("hid", {"vendor_id": "nope", "product_id": 2})
