"""Which transports exist, which of them work on this machine, and how to build one from config.

``list_transports()`` tells the UI (and ``ionpy info``) which transport types are usable and, for
the others, why not and how to fix it. ``make_transport("serial", {"port": "/dev/ttyUSB0"})``
validates the params and returns an unopened transport.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigValidationError, TransportUnavailableError
from .address import parse_params
from .base import Transport

#: name -> (module path, class name, description)
TRANSPORTS: dict[str, tuple[str, str, str]] = {
    "serial": ("ionpy_widgets.transport.serial", "SerialTransport",
               "Serial ports: RS-232, USB-serial adapters (CH340, CP210x, FTDI), USB CDC devices"),
    "tcp": ("ionpy_widgets.transport.tcp", "TcpTransport",
            "Raw TCP sockets: SCPI over LAN (5025/5555), Modbus TCP gateways, serial servers"),
    "visa": ("ionpy_widgets.transport.visa", "VisaTransport",
             "VISA resources through pyvisa: USBTMC, VXI-11, HiSLIP, raw sockets, GPIB"),
    "hid": ("ionpy_widgets.transport.hid", "HidTransport",
            "USB HID devices through hidapi: HID-UART bridges such as CP2110 meter cables"),
    "virtual": ("ionpy_widgets.transport.virtual", "VirtualTransport",
                "In-process pipe to a simulator, with fault injection"),
}

#: name -> [(importable module, pip package)] the transport needs besides the standard library
_REQUIREMENTS: dict[str, list[tuple[str, str]]] = {
    "serial": [("serial", "pyserial"), ("serial_asyncio_fast", "pyserial-asyncio-fast")],
    "tcp": [],
    "visa": [("pyvisa", "pyvisa"), ("pyvisa_py", "pyvisa-py")],
    "hid": [("hid", "hidapi")],
    "virtual": [],
}


@dataclass(frozen=True, slots=True)
class TransportInfo:
    name: str
    available: bool
    reason: str
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "available": self.available, "reason": self.reason,
                "description": self.description}


def _importable(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it: importing hidapi initialises
    libusb and pyvisa loads its backends, neither of which listing transports should do. A
    native library that fails to load is reported when the transport opens."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _missing(name: str) -> str:
    """Empty when every requirement of ``name`` is installed, else what is missing and the pip command."""
    for module, package in _REQUIREMENTS.get(name, []):
        if not _importable(module):
            return f"{package} not installed: pip install {package}"
    return ""


def list_transports() -> list[TransportInfo]:
    """Every known transport type with whether it works here and, if not, why."""
    infos = []
    for name, (_module, _cls, description) in TRANSPORTS.items():
        reason = _missing(name)
        infos.append(TransportInfo(name, not reason, reason, description))
    return infos


def make_transport(type_name: str, params: Mapping[str, Any]) -> Transport:
    """Validate ``params`` for ``type_name`` and return an unopened transport.

    Raises :class:`ConfigValidationError` (unknown type, bad params) or
    :class:`TransportUnavailableError` (the library this transport needs is missing).
    """
    if type_name not in TRANSPORTS:
        raise ConfigValidationError(f"unknown transport type {type_name!r}", path="transport.type",
                                    hint=f"Valid types: {', '.join(TRANSPORTS)}.")
    parsed = parse_params(type_name, params)
    reason = _missing(type_name)
    if reason:
        raise TransportUnavailableError(f"the {type_name} transport is not available: {reason}",
                                        hint=reason.rsplit(": ", 1)[-1], transport=type_name)
    module_path, class_name, _ = TRANSPORTS[type_name]
    cls = getattr(importlib.import_module(module_path), class_name)
    factory = getattr(cls, "from_params", cls)
    transport: Transport = factory(parsed)
    return transport
