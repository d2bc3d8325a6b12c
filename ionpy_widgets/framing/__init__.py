"""Sans-IO framers: bytes and a timestamp in, frames out. Imports nothing else of the package."""

from .base import BufferedFramer, Frame, FrameError, Framer, FrameResult
from .delimiter import DelimiterFramer
from .idle_gap import IdleGapFramer
from .length_prefixed import LengthPrefixedFramer
from .modbus_rtu import ModbusRtuFramer, expected_response_length, t35_seconds
from .raw import RawFramer
from .registry import FRAMERS, FramerConfigError, make_framer
from .start_stop import StartStopFramer

__all__ = [
    "FRAMERS",
    "BufferedFramer",
    "DelimiterFramer",
    "Frame",
    "FrameError",
    "FrameResult",
    "Framer",
    "FramerConfigError",
    "IdleGapFramer",
    "LengthPrefixedFramer",
    "ModbusRtuFramer",
    "RawFramer",
    "StartStopFramer",
    "expected_response_length",
    "make_framer",
    "t35_seconds",
]
