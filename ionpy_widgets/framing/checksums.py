"""Checksums and CRCs used by the framers, plus a small name → algorithm table.

All functions take any bytes-like object (``bytes``, ``bytearray``, ``memoryview``) and return an
``int``. Check values (input ``b"123456789"``):

================  =========  ==========================================================
name              check      definition
================  =========  ==========================================================
``crc16_modbus``  0x4B37     poly 0x8005 reflected (0xA001), init 0xFFFF, no xorout
``crc16_xmodem``  0x31C3     poly 0x1021, init 0x0000, not reflected, no xorout
``sum8``          0xDD       sum of bytes mod 256
``sum16``         0x01DD     sum of bytes mod 65536
``xor8``          0x31       XOR of all bytes (NMEA style)
``lrc8``          0x23       two's complement of ``sum8`` (Modbus ASCII LRC)
================  =========  ==========================================================

CRC-16/MODBUS has a useful property: running it over a frame *including* its transmitted CRC
(low byte first) yields 0, so a receiver can check a frame with one call.

:func:`resolve_checksum` turns a configuration name such as ``"sum16_be"`` or ``"crc16_modbus"``
into a :class:`ChecksumSpec` (function, width, byte order) that framers use to append and verify
checksum fields.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

BytesLike = bytes | bytearray | memoryview
ByteOrder = Literal["big", "little"]


def _make_reflected_table(poly: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_MODBUS_TABLE = _make_reflected_table(0xA001)


def crc16_modbus(data: BytesLike, crc: int = 0xFFFF) -> int:
    """CRC-16/MODBUS of ``data`` (table driven). Pass a previous result as ``crc`` to continue a
    running CRC. The wire order is low byte first: ``crc.to_bytes(2, "little")``."""
    table = _MODBUS_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def crc16_xmodem(data: BytesLike, crc: int = 0x0000) -> int:
    """CRC-16/XMODEM (the CCITT polynomial 0x1021 as used by OpenDPS uframe); computed in C by
    :func:`binascii.crc_hqx`. Wire order is normally high byte first."""
    return binascii.crc_hqx(data, crc)


def sum8(data: BytesLike) -> int:
    """Sum of all bytes, modulo 256 (Daly BMS)."""
    return sum(data) & 0xFF


def sum16(data: BytesLike) -> int:
    """Sum of all bytes, modulo 65536 (UNI-T meters, JK BMS)."""
    return sum(data) & 0xFFFF


def xor8(data: BytesLike) -> int:
    """XOR of all bytes."""
    result = 0
    for byte in data:
        result ^= byte
    return result


def lrc8(data: BytesLike) -> int:
    """Longitudinal redundancy check: two's complement of the 8-bit byte sum (Modbus ASCII)."""
    return (-sum(data)) & 0xFF


#: Algorithm name → (function, width in bytes, default byte order on the wire).
ALGORITHMS: dict[str, tuple[Callable[[BytesLike], int], int, ByteOrder]] = {
    "crc16_modbus": (crc16_modbus, 2, "little"),
    "crc16_xmodem": (crc16_xmodem, 2, "big"),
    "sum8": (sum8, 1, "big"),
    "sum16": (sum16, 2, "big"),
    "xor8": (xor8, 1, "big"),
    "lrc8": (lrc8, 1, "big"),
}

_SUFFIXES: dict[str, ByteOrder] = {"_be": "big", "_le": "little"}


def checksum_names() -> tuple[str, ...]:
    """Every name :func:`resolve_checksum` accepts (for error hints)."""
    names = list(ALGORITHMS)
    for name, (_, width, _) in ALGORITHMS.items():
        if width > 1:
            names.extend(name + suffix for suffix in _SUFFIXES)
    return tuple(names)


@dataclass(frozen=True, slots=True)
class ChecksumSpec:
    """A checksum field: which algorithm, how many bytes, which byte order."""

    name: str
    function: Callable[[BytesLike], int]
    size: int
    byteorder: ByteOrder

    def compute(self, data: BytesLike) -> bytes:
        """The checksum field for ``data`` as it appears on the wire."""
        return self.function(data).to_bytes(self.size, self.byteorder)

    def matches(self, data: BytesLike, field: BytesLike) -> bool:
        """True when ``field`` is the correct checksum field for ``data``."""
        return self.function(data) == int.from_bytes(field, self.byteorder)


def resolve_checksum(name: str, byteorder: ByteOrder | None = None) -> ChecksumSpec:
    """Look up a checksum by name.

    ``name`` is an algorithm from :data:`ALGORITHMS`, optionally with ``_be`` / ``_le`` appended
    for multi-byte algorithms (``"sum16_be"``). The byte order is, in this priority: the suffix,
    the ``byteorder`` argument, the algorithm's usual order (little for Modbus, big otherwise).
    Raises :class:`ValueError` listing the valid names for anything else.
    """
    base, order = name, None
    for suffix, suffix_order in _SUFFIXES.items():
        if name.endswith(suffix) and name[: -len(suffix)] in ALGORITHMS:
            base, order = name[: -len(suffix)], suffix_order
    if base not in ALGORITHMS or (order is not None and ALGORITHMS[base][1] == 1):
        raise ValueError(f"checksum {name!r} is unknown; valid: {', '.join(checksum_names())}")
    function, size, default_order = ALGORITHMS[base]
    if byteorder is not None and byteorder not in ("big", "little"):
        raise ValueError(f"byteorder {byteorder!r} is invalid; valid: big, little")
    return ChecksumSpec(name, function, size, order or byteorder or default_order)
