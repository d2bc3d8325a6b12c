"""RD Tech DPS/DPH wire protocol: Modbus RTU requests, replies and the register map (no I/O).

Every function works on *payloads*: slave address + PDU, without the CRC (the Modbus RTU
framer appends and checks it). Register facts: shared/reference/protocols.md §1.2-§1.3.
"""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Any

from ...errors import ExceptionResponseError, ProtocolError
from .models import DpsModel

FC_READ_HOLDING = 0x03
FC_WRITE_SINGLE = 0x06
FC_WRITE_MULTIPLE = 0x10
MAX_READ = 125
MAX_WRITE = 123


class Reg(IntEnum):
    """Holding registers of the live block and the preset shortcut."""

    U_SET = 0x0000
    I_SET = 0x0001
    U_OUT = 0x0002
    I_OUT = 0x0003
    POWER = 0x0004
    U_IN = 0x0005
    LOCK = 0x0006
    PROTECT = 0x0007
    CV_CC = 0x0008
    ONOFF = 0x0009
    B_LED = 0x000A
    MODEL = 0x000B
    VERSION = 0x000C
    EXTRACT_M = 0x0023


class MemOffset(IntEnum):
    """Offsets inside a memory group (M0 = active settings at 0x0050)."""

    U_SET = 0
    I_SET = 1
    S_OVP = 2
    S_OCP = 3
    S_OPP = 4
    B_LED = 5
    M_PRE = 6
    S_INI = 7


MEMORY_BASE = 0x0050
MEMORY_STRIDE = 0x10
MEMORY_GROUPS = 10
#: The block one poll reads: U-SET ... VERSION.
BLOCK_START = Reg.U_SET
BLOCK_COUNT = 13

PROTECT_NAMES = {0: "normal", 1: "OVP", 2: "OCP", 3: "OPP"}
CV_CC_NAMES = {0: "CV", 1: "CC"}

#: Modbus exception codes -> (name, hint).
EXCEPTION_CODES: dict[int, tuple[str, str]] = {
    0x01: ("illegal function", "The instrument does not support this function code; DPS units answer 03, 06 and 16."),
    0x02: ("illegal data address", "The register does not exist or is read-only on this model; check the "
                                   "register map in instruments/rdtech_dps/README.md."),
    0x03: ("illegal data value", "The value or register count is out of range for this model (e.g. a setpoint "
                                 "above the model's maximum)."),
    0x04: ("server device failure", "The instrument failed while handling the request; power-cycle it."),
    0x05: ("acknowledge", "The instrument accepted a long-running request; poll again later."),
    0x06: ("server device busy", "The instrument is busy; retry in a moment."),
    0x07: ("negative acknowledge", "The instrument cannot perform this request."),
    0x08: ("memory parity error", "The instrument reported a memory error; power-cycle it."),
    0x0A: ("gateway path unavailable", "The RTU-over-TCP bridge cannot reach the serial side; check its wiring."),
    0x0B: ("gateway target failed to respond", "The bridge got no answer: check the slave id, baud rate and "
                                               "that COMM is ON in the instrument's settings."),
}


def memory_address(group: int, offset: int | MemOffset) -> int:
    """Register address of ``offset`` in memory group ``group`` (0 = active settings)."""
    if not 0 <= group < MEMORY_GROUPS:
        raise ValueError(f"memory group must be 0..{MEMORY_GROUPS - 1}, got {group}")
    return MEMORY_BASE + MEMORY_STRIDE * group + int(offset)


# --- requests ------------------------------------------------------------------------------

def _check_slave(slave: int) -> None:
    if not 0 <= slave <= 247:
        raise ValueError(f"slave id must be 0..247, got {slave}")


def _check_u16(value: int, what: str) -> None:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{what} must fit in 16 bits (0..65535), got {value}")


def read_request(slave: int, start: int, count: int) -> bytes:
    """FC03 read-holding-registers request payload."""
    _check_slave(slave)
    _check_u16(start, "start address")
    if not 1 <= count <= MAX_READ:
        raise ValueError(f"register count must be 1..{MAX_READ}, got {count}")
    return struct.pack(">BBHH", slave, FC_READ_HOLDING, start, count)


def write_single_request(slave: int, register: int, value: int) -> bytes:
    """FC06 write-single-register request payload (the reply echoes it)."""
    _check_slave(slave)
    _check_u16(register, "register address")
    _check_u16(value, "register value")
    return struct.pack(">BBHH", slave, FC_WRITE_SINGLE, register, value)


def write_multiple_request(slave: int, start: int, values: list[int] | tuple[int, ...]) -> bytes:
    """FC10 write-multiple-registers request payload."""
    _check_slave(slave)
    _check_u16(start, "start address")
    if not 1 <= len(values) <= MAX_WRITE:
        raise ValueError(f"register count must be 1..{MAX_WRITE}, got {len(values)}")
    for value in values:
        _check_u16(value, "register value")
    head = struct.pack(">BBHHB", slave, FC_WRITE_MULTIPLE, start, len(values), 2 * len(values))
    return head + struct.pack(f">{len(values)}H", *values)


# --- replies -------------------------------------------------------------------------------

def reply_matches(payload: bytes, slave: int, function: int) -> bool:
    """True when ``payload`` is a reply from ``slave`` to ``function`` (exception replies too)."""
    return len(payload) >= 2 and payload[0] == slave and payload[1] & 0x7F == function


def check_exception(payload: bytes) -> None:
    """Raise :class:`ExceptionResponseError` when ``payload`` is a Modbus exception reply."""
    if len(payload) >= 2 and payload[1] & 0x80:
        function = payload[1] & 0x7F
        code = payload[2] if len(payload) > 2 else -1
        name, hint = EXCEPTION_CODES.get(code, (f"unknown exception code {code}", "See the Modbus specification."))
        raise ExceptionResponseError(
            f"slave {payload[0]} answered function 0x{function:02X} with exception 0x{code:02X} ({name})",
            hint=hint, slave=payload[0], function=function, exception_code=code, exception=name,
        )


def _malformed(what: str, payload: bytes) -> ProtocolError:
    return ProtocolError(f"malformed {what} reply: {payload.hex(' ')}", received=payload,
                         hint="Another device may share the bus with the same slave id, or the baud rate is wrong.")


def parse_read_reply(payload: bytes, slave: int, count: int) -> tuple[int, ...]:
    """Register values of an FC03 reply; raises on exception replies and malformed data."""
    check_exception(payload)
    if not reply_matches(payload, slave, FC_READ_HOLDING) or len(payload) != 3 + 2 * count \
            or payload[2] != 2 * count:
        raise _malformed("FC03", payload)
    return struct.unpack(f">{count}H", payload[3:])


def parse_write_single_reply(payload: bytes, request: bytes) -> None:
    """Check an FC06 reply: it must echo the request."""
    check_exception(payload)
    if payload != request:
        raise _malformed("FC06 (echo differs from request)", payload)


def parse_write_multiple_reply(payload: bytes, slave: int, start: int, count: int) -> None:
    """Check an FC10 reply: slave, function, start address and count."""
    check_exception(payload)
    if payload != struct.pack(">BBHH", slave, FC_WRITE_MULTIPLE, start, count):
        raise _malformed("FC10", payload)


# --- scaling -------------------------------------------------------------------------------

def to_raw(value: float, decimals: int) -> int:
    """Engineering value -> register value (``round(value * 10**decimals)``), range-checked."""
    raw = round(value * 10**decimals)
    _check_u16(raw, "scaled value")
    return raw


def from_raw(raw: int, decimals: int) -> float:
    """Register value -> engineering value, rounded to the register's resolution."""
    return round(raw / 10**decimals, decimals)


@dataclass(frozen=True, slots=True)
class DpsStatus:
    """The 13-register block 0x0000..0x000C in engineering units."""

    u_set: float
    i_set: float
    u_out: float
    i_out: float
    p_out: float
    u_in: float
    lock: bool
    protect: int
    cv_cc: int
    output: bool
    backlight: int
    model: int
    version: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decode_block(registers: tuple[int, ...] | list[int], model: DpsModel) -> DpsStatus:
    """Decode registers 0x0000..0x000C with ``model``'s scaling."""
    if len(registers) != BLOCK_COUNT:
        raise ValueError(f"expected {BLOCK_COUNT} registers, got {len(registers)}")
    r = registers
    return DpsStatus(
        u_set=from_raw(r[Reg.U_SET], model.v_decimals),
        i_set=from_raw(r[Reg.I_SET], model.i_decimals),
        u_out=from_raw(r[Reg.U_OUT], model.v_decimals),
        i_out=from_raw(r[Reg.I_OUT], model.i_decimals),
        p_out=from_raw(r[Reg.POWER], model.p_decimals),
        u_in=from_raw(r[Reg.U_IN], model.uin_decimals),
        lock=bool(r[Reg.LOCK]),
        protect=r[Reg.PROTECT],
        cv_cc=r[Reg.CV_CC],
        output=bool(r[Reg.ONOFF]),
        backlight=r[Reg.B_LED],
        model=r[Reg.MODEL],
        version=from_raw(r[Reg.VERSION], 1),
    )


__all__ = [
    "BLOCK_COUNT", "BLOCK_START", "CV_CC_NAMES", "EXCEPTION_CODES", "FC_READ_HOLDING", "FC_WRITE_MULTIPLE",
    "FC_WRITE_SINGLE", "MEMORY_BASE", "MEMORY_GROUPS", "MEMORY_STRIDE", "PROTECT_NAMES", "DpsStatus", "MemOffset",
    "Reg", "check_exception", "decode_block", "from_raw", "memory_address", "parse_read_reply",
    "parse_write_multiple_reply", "parse_write_single_reply", "read_request", "reply_matches", "to_raw",
    "write_multiple_request", "write_single_request",
]
