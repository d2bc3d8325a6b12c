"""Modbus RTU framing: ``address, function, data…, CRC-16/MODBUS (low byte first)``.

The frame payload is ``address + PDU`` (CRC stripped); :meth:`ModbusRtuFramer.encode` appends
the CRC. The end of a frame is found, in this order:

1. **From the function code.** A ``master`` parses *responses*: FC01–04/0C/11/17 are
   ``5 + byte count``, FC05/06/0B/0F/10 are 8 bytes, FC07 is 5, FC16 is 10 and every exception
   reply (``FC | 0x80``) is 5. A ``slave`` parses *requests*: FC01–06 are 8 bytes, FC0F/10
   ``9 + byte count``, FC07/0B/0C/11 are 4, FC16 is 10, FC17 ``13 + byte count``.
2. **From silence** for other function codes: when ``t3.5`` has passed since the last byte and
   the buffered bytes carry a correct CRC they are one frame (``next_deadline`` asks for the
   wake-up). If the CRC is not yet right the framer keeps waiting until ``gap_timeout``:
   USB-serial adapters deliver a frame in several chunks with gaps far longer than t3.5.

A partial frame followed by ``gap_timeout`` of silence is dropped as ``incomplete``. A CRC
mismatch is reported once as ``crc``; the framer then slides one byte and looks again. If a
valid frame starts inside the bad one, the bytes before it are reported as ``garbage`` instead
(an RS-485 turn-around glitch such as ``FF`` before a reply costs no ``crc`` error); deciding
that may take until t3.5 after the last byte. Function code 0 never starts a frame, and in the
``master`` role neither does address 0 (broadcasts get no reply, reference §8). Addresses
248–255 are allowed because real devices (Daly BMS) answer from them.
"""

from __future__ import annotations

from ._resync import INVALID, NEED, SILENCE, MeasuredFramer
from .base import Frame, FrameResult
from .checksums import crc16_modbus

#: Largest RTU ADU: address + 253-byte PDU + CRC.
MAX_ADU = 256
#: Encoded requests remembered per framer (a poller sends the same few requests over and over).
_ENCODED_CACHE = 64

# function code → total frame length (fixed) or (index of the byte-count byte, length without it)
_RESPONSE_FIXED = {0x05: 8, 0x06: 8, 0x07: 5, 0x0B: 8, 0x0F: 8, 0x10: 8, 0x16: 10}
_RESPONSE_COUNTED = {0x01: (2, 5), 0x02: (2, 5), 0x03: (2, 5), 0x04: (2, 5), 0x0C: (2, 5), 0x11: (2, 5),
                     0x17: (2, 5)}
_REQUEST_FIXED = {0x01: 8, 0x02: 8, 0x03: 8, 0x04: 8, 0x05: 8, 0x06: 8, 0x07: 4, 0x0B: 4, 0x0C: 4,
                  0x11: 4, 0x16: 10}
_REQUEST_COUNTED = {0x0F: (6, 9), 0x10: (6, 9), 0x17: (10, 13)}

ROLES = ("master", "slave")


def t35_seconds(baudrate: int, bits_per_char: int = 10) -> float:
    """Modbus inter-frame silence t3.5: 3.5 character times, fixed at 1.75 ms above 19200 baud."""
    if baudrate <= 0:
        raise ValueError("baudrate must be positive")
    if baudrate > 19200:
        return 0.00175
    return 3.5 * bits_per_char / baudrate


def expected_response_length(pdu_request: bytes) -> int | None:
    """Length in bytes of the normal RTU reply (address + PDU + CRC) to a request PDU
    (function code first, no address, no CRC); None when it cannot be predicted.
    An exception reply is always 5 bytes."""
    if not pdu_request:
        return None
    fc = pdu_request[0]
    if fc in (0x01, 0x02) and len(pdu_request) >= 5:
        quantity = int.from_bytes(pdu_request[3:5], "big")
        return 5 + (quantity + 7) // 8
    if fc in (0x03, 0x04) and len(pdu_request) >= 5:
        return 5 + 2 * int.from_bytes(pdu_request[3:5], "big")
    if fc == 0x17 and len(pdu_request) >= 5:
        return 5 + 2 * int.from_bytes(pdu_request[3:5], "big")
    return _RESPONSE_FIXED.get(fc)


def is_broadcast(payload: bytes) -> bool:
    """True for a request to address 0, which no slave answers."""
    return bool(payload) and payload[0] == 0


def is_exception(payload: bytes) -> bool:
    """True for an exception reply payload (function code with bit 7 set)."""
    return len(payload) >= 2 and payload[1] & 0x80 != 0


class ModbusRtuFramer(MeasuredFramer):
    """Sans-IO Modbus RTU framer.

    ``role`` is ``"master"`` (we send requests and parse responses, the usual case) or ``"slave"``
    (simulators: parse requests). ``baudrate`` and ``bits_per_char`` (10 for 8N1, 11 for 8E1/8N2)
    set ``min_silence`` = t3.5. ``gap_timeout`` defaults to ``max(t3.5, 0.05 s)``.
    """

    check_kind = "crc"

    def __init__(self, role: str = "master", baudrate: int = 9600, bits_per_char: int = 10, *,
                 max_frame: int = MAX_ADU, gap_timeout: float | None = None) -> None:
        if role not in ROLES:
            raise ValueError(f"role {role!r} is invalid; valid: {', '.join(ROLES)}")
        if not 7 <= bits_per_char <= 13:
            raise ValueError(f"bits_per_char must be 7..13 (10 for 8N1, 11 for 8E1), got {bits_per_char}")
        if max_frame < 4:
            raise ValueError("max_frame must be at least 4 (address, function, CRC)")
        t35 = t35_seconds(baudrate, bits_per_char)
        super().__init__(max_frame=max_frame, gap_timeout=max(t35, 0.05) if gap_timeout is None else gap_timeout,
                         silence=t35)
        self.role = role
        self.baudrate = baudrate
        self.bits_per_char = bits_per_char
        self.min_silence = t35
        self._master = role == "master"
        self._fixed = _RESPONSE_FIXED if self._master else _REQUEST_FIXED
        self._counted = _RESPONSE_COUNTED if self._master else _REQUEST_COUNTED
        self._encoded: dict[bytes, bytes] = {}

    @property
    def t35(self) -> float:
        """Inter-frame silence in seconds (same as ``min_silence``)."""
        return self.min_silence

    def encode(self, payload: bytes) -> bytes:
        """``payload`` (address + PDU) followed by its CRC, low byte first."""
        cacheable = type(payload) is bytes
        if cacheable and (wire := self._encoded.get(payload)) is not None:
            return wire
        if not 2 <= len(payload) <= self.max_frame - 2:
            raise ValueError(f"Modbus payload must be 2..{self.max_frame - 2} bytes (address + PDU), "
                             f"got {len(payload)}")
        wire = bytes(payload) + crc16_modbus(payload).to_bytes(2, "little")
        if cacheable:
            if len(self._encoded) >= _ENCODED_CACHE:
                self._encoded.clear()
            self._encoded[payload] = wire
        return wire

    def feed(self, data: bytes, now: float) -> list[FrameResult]:
        """:meth:`MeasuredFramer.feed` with its one-whole-frame shortcut spelt out for RTU (no hook
        calls): an idle framer handed one complete reply with a good CRC returns it at once."""
        if (self.fast_path and 4 <= len(data) <= self.max_frame and not self._buf and not self._junk.data
                and self._measure(data, 0) == len(data) and crc16_modbus(data) == 0):
            self._last_rx = now
            self._level = 0
            self._stalled = False
            raw = bytes(data)
            return [Frame(raw[:-2], raw, now)]
        return MeasuredFramer.feed(self, data, now)

    # --- MeasuredFramer hooks -----------------------------------------------------------------
    def _measure(self, buf: bytearray, k: int) -> int:
        if len(buf) - k < 2:
            return NEED
        fc = buf[k + 1]
        if fc == 0 or (self._master and buf[k] == 0):
            return INVALID
        fixed = self._fixed.get(fc)
        if fixed is not None:
            return fixed
        if fc & 0x80:
            return 5 if self._master else SILENCE
        counted = self._counted.get(fc)
        if counted is None:
            return SILENCE
        index, base = counted
        if len(buf) - k <= index:
            return NEED
        n = base + buf[k + index]
        return n if n <= self.max_frame else INVALID

    def _verify(self, buf: bytearray, k: int, n: int) -> bool:
        # CRC over the frame including its own CRC (low byte first) is 0 for an intact frame.
        return n >= 4 and crc16_modbus(buf[k : k + n]) == 0

    def _payload(self, raw: bytes) -> bytes:
        return raw[:-2]
