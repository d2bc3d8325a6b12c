"""Transport addresses: one frozen, validated dataclass per scheme, and :func:`parse_params`.

Every check raises :class:`~ionpy_widgets.errors.ConfigValidationError` whose ``path`` names the
field (``transport.params.baudrate``) and whose hint says what a valid value looks like, so a
config file or a wizard form can point at the exact field. Constructing a dataclass directly runs
the same checks as :func:`parse_params`; :func:`parse_params` additionally rejects unknown keys,
reports missing ones and converts the string forms a config file or a form may hold (``"9600"``,
``"0x10C4"``, ``"true"``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigValidationError
from ._convert import as_bool as _bool
from ._convert import as_int as _int
from ._convert import as_number as _number
from ._convert import fail as _fail
from ._convert import set_field as _set
from ._convert import usb_id as _usb_id

COMMON_BAUDRATES = (300, 600, 1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200, 230400,
                    460800, 921600)
_PARITIES = {"N": "N", "NONE": "N", "E": "E", "EVEN": "E", "O": "O", "ODD": "O", "M": "M", "MARK": "M",
             "S": "S", "SPACE": "S"}
_TERMINATIONS = {"LF": "\n", "CR": "\r", "CRLF": "\r\n", "\\n": "\n", "\\r": "\r", "\\r\\n": "\r\n"}
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")
_VISA_SYNTAX = ("e.g. `TCPIP::192.168.1.50::5025::SOCKET`, `TCPIP::192.168.1.50::INSTR`, "
                "`USB0::0x1AB1::0x0E11::DP8C0000000::INSTR`, `ASRL/dev/ttyUSB0::INSTR`")


@dataclass(frozen=True, slots=True)
class SerialParams:
    """A serial port: device path (``/dev/ttyUSB0``, ``/dev/serial/by-id/...``, ``COM3``) and line settings."""

    port: str
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    exclusive: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.port, str):
            raise _fail("port", f"expected a device path, got {self.port!r}",
                        "Give the device path as text, e.g. /dev/ttyUSB0, /dev/serial/by-id/... or COM3.")
        if not self.port.strip():
            raise _fail("port", "the serial port is empty",
                        "Give the device path, e.g. /dev/ttyUSB0, /dev/serial/by-id/... or COM3.")
        rates = ", ".join(map(str, COMMON_BAUDRATES))
        baud = _int("baudrate", self.baudrate, f"Use one of the common rates ({rates}) or another positive int.")
        if baud <= 0:
            raise _fail("baudrate", f"baud rate must be positive, got {baud}",
                        f"Use one of the common rates ({rates}) or another positive int.")
        _set(self, "baudrate", baud)
        hint = "Data bits are 5, 6, 7 or 8 (almost always 8)."
        size = _int("bytesize", self.bytesize, hint)
        if size not in (5, 6, 7, 8):
            raise _fail("bytesize", f"{size} data bits is not possible", hint)
        _set(self, "bytesize", size)
        parity = _PARITIES.get(str(self.parity).strip().upper())
        if parity is None:
            raise _fail("parity", f"unknown parity {self.parity!r}",
                        "Use N (none), E (even), O (odd), M (mark) or S (space).")
        _set(self, "parity", parity)
        stop = _number("stopbits", self.stopbits, "Stop bits are 1, 1.5 or 2.")
        if stop not in (1, 1.5, 2):
            raise _fail("stopbits", f"{self.stopbits!r} stop bits is not possible", "Stop bits are 1, 1.5 or 2.")
        _set(self, "stopbits", int(stop) if stop.is_integer() else stop)
        _set(self, "exclusive", _bool("exclusive", self.exclusive))


@dataclass(frozen=True, slots=True)
class TcpParams:
    """A raw TCP socket (SCPI raw ports 5025 / 5555, Modbus TCP gateways, serial servers)."""

    host: str
    port: int
    connect_timeout: float = 3.0

    def __post_init__(self) -> None:
        host = self.host.strip() if isinstance(self.host, str) else ""
        if not _valid_host(host):
            raise _fail("host", f"invalid host {self.host!r}",
                        "Give an IP address (192.168.1.50, ::1) or a host name (psu.lab.local), without "
                        "scheme or port.")
        _set(self, "host", host.strip("[]"))
        hint = "TCP ports are 1-65535; SCPI raw sockets are usually 5025 (5555 on Rigol), Modbus TCP 502."
        port = _int("port", self.port, hint)
        if not 1 <= port <= 65535:
            raise _fail("port", f"port {port} is out of range 1-65535", hint)
        _set(self, "port", port)
        timeout = _number("connect_timeout", self.connect_timeout, "A positive number of seconds, e.g. 3.")
        if timeout <= 0:
            raise _fail("connect_timeout", f"must be positive, got {timeout}", "A positive number of seconds, e.g. 3.")
        _set(self, "connect_timeout", timeout)


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return bool(_HOSTNAME.match(host))


@dataclass(frozen=True, slots=True)
class VisaParams:
    """A VISA resource. ``backend`` is pyvisa's library spec: ``@py`` (pyvisa-py), ``@ivi``, a library
    path, or ``file.yaml@sim`` (pyvisa-sim). Terminations ``None`` keep the session's default (LF for
    ``SOCKET`` and ``ASRL`` resources, which have no end-of-message signal); ``"LF"``, ``"CRLF"`` and
    the escaped forms ``"\\n"`` are accepted too."""

    resource: str
    backend: str = "@py"
    timeout_ms: int = 2000
    read_termination: str | None = None
    write_termination: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.resource, str) or "::" not in self.resource:
            raise _fail("resource", f"{self.resource!r} is not a VISA resource string", _VISA_SYNTAX)
        _set(self, "resource", self.resource.strip())
        if not isinstance(self.backend, str) or not self.backend.strip():
            raise _fail("backend", "the VISA backend is empty",
                        "Use @py (pyvisa-py), @ivi (NI/Keysight VISA) or path/to/devices.yaml@sim.")
        hint = "A positive number of milliseconds, e.g. 2000."
        timeout = _int("timeout_ms", self.timeout_ms, hint)
        if timeout <= 0:
            raise _fail("timeout_ms", f"must be positive, got {timeout}", hint)
        _set(self, "timeout_ms", timeout)
        for name in ("read_termination", "write_termination"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise _fail(name, f"expected a string, got {value!r}", 'Use "\\n", "\\r\\n", LF, CR or CRLF.')
            if value is not None:
                _set(self, name, _TERMINATIONS.get(value.upper() if value.isalpha() else value, value))


@dataclass(frozen=True, slots=True)
class HidParams:
    """A USB HID device by vendor/product id (and optionally serial number or hidapi path).
    Strings are read as hexadecimal, as lsusb prints ids: ``"10C4"`` and ``"0x10C4"`` are 4292."""

    vendor_id: int
    product_id: int
    serial: str | None = None
    path: str | None = None
    report_size: int = 64
    read_timeout_ms: int = 100
    #: HID-to-UART bridge whose reports carry a byte stream (``cp2110``, ``d09a``, ``auto`` = by USB id);
    #: None = plain HID reports. See :mod:`ionpy_widgets.transport.hid_uart`.
    uart: str | None = None
    #: UART line rate the bridge is configured to (CP2110 only; 8N1).
    baudrate: int = 9600

    def __post_init__(self) -> None:
        _set(self, "vendor_id", _usb_id("vendor_id", self.vendor_id))
        _set(self, "product_id", _usb_id("product_id", self.product_id))
        for name in ("serial", "path"):
            value = getattr(self, name)
            if isinstance(value, bytes):
                value = value.decode()
            if value is not None and (not isinstance(value, str) or not value):
                raise _fail(name, f"expected a non-empty string, got {value!r}",
                            f"Leave {name} out to take the first matching device.")
            _set(self, name, value)
        hint = "Report size in bytes including the report id (64 for full-speed HID such as CP2110)."
        size = _int("report_size", self.report_size, hint)
        if not 1 <= size <= 4096:
            raise _fail("report_size", f"{size} is not a valid report size", hint)
        _set(self, "report_size", size)
        hint = "A positive number of milliseconds per hidapi read call, e.g. 100."
        timeout = _int("read_timeout_ms", self.read_timeout_ms, hint)
        if timeout <= 0:
            raise _fail("read_timeout_ms", f"must be positive, got {timeout}", hint)
        _set(self, "read_timeout_ms", timeout)
        if self.uart is not None:
            hint = "uart: cp2110 (UNI-T UT-D09 cable), d09a (UNI-T D-09A cable), auto, or leave it out for plain HID."
            uart = str(self.uart).strip().lower().replace("-", "")
            if uart not in HID_UARTS:
                raise _fail("uart", f"{self.uart!r} is not a known HID-UART bridge", hint)
            _set(self, "uart", uart)
        hint = "A UART baud rate between 300 and 1000000, e.g. 9600 (UNI-T meters)."
        baud = _int("baudrate", self.baudrate, hint)
        if not 300 <= baud <= 1_000_000:
            raise _fail("baudrate", f"{baud} is outside 300..1000000", hint)
        _set(self, "baudrate", baud)


#: HID-UART bridges :class:`HidParams` ``uart`` may name.
HID_UARTS = ("cp2110", "d09a", "auto")


@dataclass(frozen=True, slots=True)
class VirtualParams:
    """An in-process pipe to a simulator. ``peer`` has ``feed(data, now) -> list[bytes]`` (a
    simulator session) or ``session()`` (a simulator: one fresh session per open)."""

    peer: Any
    chunk_size: int | None = None
    delay: float = 0.0
    drop: float = 0.0
    garble: float = 0.0
    seed: int | None = None
    disconnect_after: int | None = None

    def __post_init__(self) -> None:
        if not callable(getattr(self.peer, "feed", None)) and not callable(getattr(self.peer, "session", None)):
            raise _fail("peer", f"{type(self.peer).__name__} cannot be a virtual peer",
                        "Pass a simulator (with session()) or a session object with feed(data, now).")
        for name in ("chunk_size", "disconnect_after"):
            value = getattr(self, name)
            if value is not None:
                number = _int(name, value, "A positive integer, or leave it out.")
                if number < 1:
                    raise _fail(name, f"must be at least 1, got {number}", "A positive integer, or leave it out.")
                _set(self, name, number)
        delay = _number("delay", self.delay, "Seconds between reply chunks, >= 0.")
        if delay < 0:
            raise _fail("delay", f"must be >= 0, got {delay}", "Seconds between reply chunks, >= 0.")
        _set(self, "delay", delay)
        for name in ("drop", "garble"):
            probability = _number(name, getattr(self, name), "A probability between 0 and 1.")
            if not 0.0 <= probability <= 1.0:
                raise _fail(name, f"must be between 0 and 1, got {probability}", "A probability between 0 and 1.")
            _set(self, name, probability)
        if self.seed is not None:
            _set(self, "seed", _int("seed", self.seed, "An integer seed, or leave it out."))


PARAMS_TYPES: dict[str, type] = {
    "serial": SerialParams,
    "tcp": TcpParams,
    "visa": VisaParams,
    "hid": HidParams,
    "virtual": VirtualParams,
}

TransportParams = SerialParams | TcpParams | VisaParams | HidParams | VirtualParams


def parse_params(type_name: str, params: Mapping[str, Any]) -> TransportParams:
    """Validate a params mapping for ``type_name`` and return its dataclass."""
    cls = PARAMS_TYPES.get(type_name)
    if cls is None:
        raise ConfigValidationError(f"unknown transport type {type_name!r}", path="transport.type",
                                    hint=f"Valid types: {', '.join(PARAMS_TYPES)}.")
    if not isinstance(params, Mapping):
        raise ConfigValidationError(f"expected a mapping, got {type(params).__name__}", path="transport.params",
                                    hint=f"Give the {type_name} parameters as key: value pairs.")
    fields = dataclasses.fields(cls)
    valid = [f.name for f in fields]
    for key in params:
        if key not in valid:
            raise _fail(str(key), f"unknown key for a {type_name} transport",
                        f"Valid keys: {', '.join(valid)}.")
    for f in fields:
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and params.get(f.name) is None:
            raise _fail(f.name, "missing", f"A {type_name} transport needs {f.name}; valid keys: {', '.join(valid)}.")
    return cls(**params)  # type: ignore[no-any-return]
