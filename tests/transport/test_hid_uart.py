"""HID-UART bridges: CP2110 and D-09A report packing, the CP2110 set-up sequence, and
HidUartTransport as a byte stream over a simulated CP2110 at the hidapi boundary."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ionpy_widgets.errors import ConfigValidationError, TransportError
from ionpy_widgets.testing.hid_backend import FakeCp2110, FakeHidBackend
from ionpy_widgets.transport.address import HidParams, parse_params
from ionpy_widgets.transport.hid import HidTransport
from ionpy_widgets.transport.hid_uart import (
    HidUartTransport,
    cp2110_setup_reports,
    pack_cp2110,
    pack_d09a,
    resolve_uart,
    unpack_cp2110,
    unpack_d09a,
)
from ionpy_widgets.transport.registry import make_transport

CP2110 = HidParams(0x10C4, 0xEA80, uart="cp2110", read_timeout_ms=20)


def test_cp2110_setup_is_the_traced_sequence() -> None:
    assert [r.hex(" ") for r in cp2110_setup_reports(9600)] == [
        "41 01", "50 00 00 25 80 00 00 03 00 00", "43 02"]
    assert cp2110_setup_reports(115200)[1][1:5] == (115200).to_bytes(4, "big")


def test_cp2110_packing() -> None:
    assert pack_cp2110(bytes.fromhex("AB CD 03 5E 01 D9")) == [bytes.fromhex("06 AB CD 03 5E 01 D9")]
    reports = pack_cp2110(bytes(range(130)))
    assert [len(r) for r in reports] == [64, 64, 5] and [r[0] for r in reports] == [63, 63, 4]
    assert unpack_cp2110(bytes.fromhex("03 41 42 43 00 00")) == b"ABC"  # padding after the data is ignored
    assert unpack_cp2110(b"") == b"" and unpack_cp2110(b"\x41\x01") == b"" and unpack_cp2110(b"\x00") == b""


def test_d09a_packing() -> None:
    assert pack_d09a(b"\xab\xcd") == [b"\x00\x02\xab\xcd"]
    assert [r[:2] for r in pack_d09a(bytes(70))] == [b"\x00\x3f", b"\x00\x07"]
    assert unpack_d09a(b"\x02\xab\xcd\x00\x00") == b"\xab\xcd"
    assert unpack_d09a(b"\x09\xab") == b"\xab" and unpack_d09a(b"") == b""  # a short report is not over-read


@given(st.binary(max_size=300))
def test_packing_round_trips(data: bytes) -> None:
    assert b"".join(unpack_cp2110(r) for r in pack_cp2110(data)) == data
    assert b"".join(unpack_d09a(r[1:]) for r in pack_d09a(data)) == data  # hidapi strips report id 0 on read


def test_params_and_bridge_choice() -> None:
    assert resolve_uart(HidParams(0x10C4, 0xEA80, uart="auto")) == "cp2110"
    assert resolve_uart(HidParams("1A86", "E429", uart="auto")) == "d09a"
    assert parse_params("hid", {"vendor_id": "10C4", "product_id": "EA80", "uart": "CP2110"}).uart == "cp2110"
    with pytest.raises(ConfigValidationError) as info:
        parse_params("hid", {"vendor_id": 1, "product_id": 2, "uart": "ch9325"})
    assert info.value.path == "transport.params.uart" and "cp2110" in info.value.hint
    with pytest.raises(ConfigValidationError) as info:
        parse_params("hid", {"vendor_id": 1, "product_id": 2, "uart": "cp2110", "baudrate": 100})
    assert info.value.path == "transport.params.baudrate"
    with pytest.raises(ConfigValidationError) as info:
        make_transport("hid", {"vendor_id": 0x046D, "product_id": 0xC52B, "uart": "auto"})
    assert info.value.path == "transport.params.uart" and "d09a" in info.value.hint
    assert type(make_transport("hid", {"vendor_id": 1, "product_id": 2})) is HidTransport
    uart = make_transport("hid", {"vendor_id": "10C4", "product_id": "EA80", "uart": "auto"})
    assert isinstance(uart, HidUartTransport) and uart.describe()["uart"] == "cp2110"


async def test_open_sets_up_the_uart_and_the_link_sees_a_byte_stream() -> None:
    bridge = FakeCp2110()  # loopback: TX wired to RX
    backend = FakeHidBackend(bridge)
    transport = HidUartTransport(CP2110, backend=backend)
    async with transport:
        assert bridge.uart_enabled and bridge.config == bytes.fromhex("50 00 00 25 80 00 00 03 00")
        assert bridge.purges == 1 and bridge.lost_bytes == 0
        data = bytes(range(100))
        await transport.write(data)
        assert bridge.uart_tx == [data[:63], data[63:]]  # two UART data reports
        received = b""
        while len(received) < len(data):
            received += await asyncio.wait_for(transport.read(), 2.0)
        assert received == data
        assert transport.describe() == {"type": "hid", "vendor_id": "10c4", "product_id": "ea80", "uart": "cp2110",
                                        "baudrate": 9600}
    assert backend.open_handles == 0


async def test_a_device_that_refuses_the_setup_is_reported_and_closed() -> None:
    class NotACp2110(FakeCp2110):
        def set_feature(self, data: bytes) -> int:
            return -1

    backend = FakeHidBackend(NotACp2110())
    transport = HidUartTransport(CP2110, backend=backend)
    with pytest.raises(TransportError) as info:
        await transport.open()
    assert "CP2110 UART set-up" in info.value.message and "d09a" in (info.value.hint or "")
    assert not transport.is_open and backend.open_handles == 0
