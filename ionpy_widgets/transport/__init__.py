"""The transport layer: byte pipes (serial, TCP, VISA, HID, in-process virtual) behind one contract.

Build transports from config with :func:`make_transport`; ask :func:`list_transports` which types
work on this machine. Library imports (pyserial, hidapi, pyvisa) happen when a transport opens,
so importing this package never fails because an optional library is missing.
"""

from .address import (
    COMMON_BAUDRATES,
    HidParams,
    SerialParams,
    TcpParams,
    TransportParams,
    VirtualParams,
    VisaParams,
    parse_params,
)
from .base import Transport, TransportBase
from .hid import HidTransport, udev_rule
from .registry import TRANSPORTS, TransportInfo, list_transports, make_transport
from .serial import SerialTransport, list_port_names
from .tcp import TcpTransport
from .virtual import LoopbackPeer, VirtualStats, VirtualTransport
from .visa import VisaTransport

__all__ = [
    "COMMON_BAUDRATES",
    "TRANSPORTS",
    "HidParams",
    "HidTransport",
    "LoopbackPeer",
    "SerialParams",
    "SerialTransport",
    "TcpParams",
    "TcpTransport",
    "Transport",
    "TransportBase",
    "TransportInfo",
    "TransportParams",
    "VirtualParams",
    "VirtualStats",
    "VirtualTransport",
    "VisaParams",
    "VisaTransport",
    "list_port_names",
    "list_transports",
    "make_transport",
    "parse_params",
    "udev_rule",
]
