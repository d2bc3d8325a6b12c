"""Checksum algorithms: standard check values, reference-document vectors, table vs bitwise."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ionpy_widgets.framing.checksums import (
    ALGORITHMS,
    ChecksumSpec,
    checksum_names,
    crc16_modbus,
    crc16_xmodem,
    lrc8,
    resolve_checksum,
    sum8,
    sum16,
    xor8,
)

CHECK = b"123456789"
h = bytes.fromhex


def _bitwise_modbus(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _bitwise_xmodem(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


@pytest.mark.parametrize(("function", "expected"), [
    (crc16_modbus, 0x4B37), (crc16_xmodem, 0x31C3), (sum8, 0xDD), (sum16, 0x01DD), (xor8, 0x31), (lrc8, 0x23),
])
def test_check_values(function, expected):
    assert function(CHECK) == expected


@pytest.mark.parametrize("frame", [
    "01 03 00 02 00 02 65 CB", "01 03 00 00 00 0A C5 CD", "01 03 00 00 00 0D 84 0F", "01 06 00 00 01 F4 89 DD",
    "01 06 00 09 00 01 98 08", "01 10 00 00 00 02 04 01 F4 03 E8 B3 1F", "01 83 02 C0 F1",
    "01 03 14 01 F4 03 E8 01 F2 00 7B 00 3D 04 B3 00 00 00 00 00 00 00 01 51 03", "01 06 00 12 00 01 E8 0F",
])
def test_modbus_reference_frames(frame):
    raw = h(frame)
    assert crc16_modbus(raw[:-2]).to_bytes(2, "little") == raw[-2:]
    assert crc16_modbus(raw) == 0  # residue of an intact frame


def test_opendps_ping_crc_and_unit_sums():
    assert crc16_xmodem(b"\x01") == 0x1021
    assert sum16(h("AB CD 03 5E")) == 0x01D9
    assert sum8(h("A5 40 90 08 00 00 00 00 00 00 00 00")) == 0x7D


def test_accepts_any_bytes_like_and_continues():
    assert crc16_modbus(bytearray(CHECK)) == crc16_modbus(memoryview(CHECK)) == 0x4B37
    assert crc16_modbus(CHECK[4:], crc16_modbus(CHECK[:4])) == 0x4B37
    assert crc16_xmodem(CHECK[4:], crc16_xmodem(CHECK[:4])) == 0x31C3
    assert crc16_modbus(b"") == 0xFFFF


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_table_matches_bitwise(data):
    assert crc16_modbus(data) == _bitwise_modbus(data)
    assert crc16_xmodem(data) == _bitwise_xmodem(data)
    assert (sum8(data) + lrc8(data)) & 0xFF == 0


def test_crc16_modbus_is_fast():
    data = bytes(range(29))
    best = min(_timed(lambda: crc16_modbus(data), 2000) for _ in range(5))
    assert best < 20e-6


def _timed(fn, n):
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def test_resolve_names_and_byte_orders():
    assert resolve_checksum("crc16_modbus").byteorder == "little"
    assert resolve_checksum("crc16_xmodem").byteorder == "big"
    assert resolve_checksum("crc16_xmodem", "little").byteorder == "little"
    spec = resolve_checksum("sum16_le", "big")  # the suffix wins
    assert spec.byteorder == "little" and spec.size == 2
    assert resolve_checksum("sum16_be").compute(h("AB CD 03 5E")) == h("01 D9")
    assert resolve_checksum("crc16_modbus").compute(h("01 03 00 02 00 02")) == h("65 CB")
    assert isinstance(resolve_checksum("sum8"), ChecksumSpec)
    assert resolve_checksum("sum8").matches(b"\x01\x02", b"\x03")
    assert not resolve_checksum("sum8").matches(b"\x01\x02", b"\x04")
    assert set(ALGORITHMS) <= set(checksum_names())
    assert "sum16_be" in checksum_names() and "sum8_be" not in checksum_names()


@pytest.mark.parametrize("name", ["crc32", "sum8_be", "sum16_xx", ""])
def test_resolve_rejects_unknown_names(name):
    with pytest.raises(ValueError, match="valid: crc16_modbus"):
        resolve_checksum(name)


def test_resolve_rejects_bad_byteorder():
    with pytest.raises(ValueError, match="byteorder"):
        resolve_checksum("sum16", "middle")  # type: ignore[arg-type]
