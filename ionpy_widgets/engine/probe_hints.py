"""Concrete hints for every way a connection probe can fail.

A probe step that fails gets a hint that names the port, the setting and what to try next:
the ports that exist (from discovery) when the port is missing, the ``dialout`` group when it may
not be opened, the baud rates, slave id and the DPS ``COMM`` menu when nothing answers, a baud
mismatch when replies arrive corrupted, the usual SCPI ports when nothing listens, and the driver
that matches when the instrument says it is something else. Facts: shared/reference/protocols.md
§1.1 (DPS link settings), §2.1 (Riden), §5.5 (SCPI ports).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..discovery.results import DriverMatch
from ..discovery.serial import SerialPortInfo, permission_hint
from ..errors import (
    ConfigValidationError,
    CRCError,
    DeviceSpawnError,
    ExceptionResponseError,
    FramingError,
    IonpyError,
    PortBusyError,
    PortNotFoundError,
    PortPermissionError,
    ProtocolError,
    ProtocolTimeoutError,
    TransportClosedError,
    TransportError,
    TransportUnavailableError,
    UnknownDriverError,
)

#: Baud rates worth trying, most likely first, per framing (protocols.md §1.1, §2.1).
BAUD_CANDIDATES: dict[str, tuple[int, ...]] = {"modbus_rtu": (9600, 19200, 4800, 2400, 115200)}
GENERIC_BAUDS = (9600, 19200, 38400, 57600, 115200)
#: Instrument settings a user must check when a driver's instrument does not answer.
DRIVER_TIPS: dict[str, str] = {
    "DPS5005": "The DPS COMM setting must be ON (hold ↑ while powering on; that menu also shows ADDR = slave id "
               "and BAUD).",
    "SCPI_PSU": "Remote control must be enabled on the instrument (Utility / I/O menu); a LAN instrument may serve "
                "one client at a time.",
}
#: The usual raw-socket / Modbus TCP ports (protocols.md §5.5, §2.4).
TCP_PORTS_TEXT = "5025 (SCPI raw socket), 5555 for Rigol, 502 (Modbus TCP), 8080 (Riden WiFi)"


@dataclass(frozen=True, slots=True)
class HintContext:
    """What was being probed: effective transport params and framing (blueprint defaults merged)."""

    driver: str
    transport: str
    params: Mapping[str, Any] = field(default_factory=dict)
    framing: str = ""
    framing_params: Mapping[str, Any] = field(default_factory=dict)


def port_label(transport: str, params: Mapping[str, Any]) -> str:
    """``serial /dev/ttyUSB0 @ 9600``, ``tcp 127.0.0.1:5025``, ``visa TCPIP::...``, ``virtual dps5005``."""
    if transport == "serial":
        return f"serial {params.get('port', '?')} @ {params.get('baudrate', 9600)}"
    if transport == "tcp":
        host = str(params.get("host", "?"))
        return f"tcp {f'[{host}]' if ':' in host else host}:{params.get('port', '?')}"
    if transport == "visa":
        return f"visa {params.get('resource', '?')}"
    if transport == "hid":
        vid, pid = params.get("vendor_id"), params.get("product_id")
        ids = f"{vid:04X}:{pid:04X}" if isinstance(vid, int) and isinstance(pid, int) else f"{vid}:{pid}"
        return f"hid {ids}" + (f" ({params['path']})" if params.get("path") else "")
    if transport == "virtual":
        peer = params.get("simulator") or type(params.get("peer")).__name__
        return f"virtual {peer}"
    return transport


def port_keys(transport: str, params: Mapping[str, Any]) -> list[str]:
    """Names under which the engine may hold this port (``/dev/ttyUSB0``, ``127.0.0.1:5025``, ...)."""
    import os

    if transport == "serial" and params.get("port"):
        port = str(params["port"])
        return list(dict.fromkeys([port, os.path.realpath(port)]))
    if transport == "tcp" and params.get("host") and params.get("port"):
        return [f"{params['host']}:{params['port']}"]
    if transport == "visa" and params.get("resource"):
        return [str(params["resource"])]
    if transport == "hid":
        if params.get("path"):
            return [str(params["path"])]
        return [port_label("hid", params).removeprefix("hid ")]
    return []


def held_hint(port: str, device: str) -> str:
    """``device`` is the engine's device id holding ``port`` ("" when unknown)."""
    stop = f"stop {device} first (`await lab.remove_device({device!r})`)" if device else "stop the device using it"
    return f"The probe never takes {port} away from a running device: probe another port, or {stop} and probe again."


def port_missing_hint(port: str, ports: Sequence[SerialPortInfo]) -> str:
    """List the ports discovery sees, with what they probably are."""
    if ports:
        listing = "; ".join(_describe_port(p) for p in ports)
        return f"{port} does not exist. Ports that exist now: {listing}. /dev/serial/by-id/... names survive " \
               "re-plugging."
    return (f"{port} does not exist and no serial port is visible right now: plug the instrument in (check the "
            "cable carries data, not only power) and look for /dev/ttyUSB*, /dev/ttyACM* or /dev/serial/by-id/.")


def _describe_port(info: SerialPortInfo) -> str:
    parts = [info.by_id or info.device]
    if info.by_id:
        parts.append(f"= {info.device}")
    what = info.known.chip if info.known is not None else info.description
    if what:
        parts.append(f"– {what}")
    if info.hints:
        parts.append(f"– likely {info.hints[0].driver}")
    if info.in_use:
        parts.append("(in use)")
    return " ".join(parts)


def busy_hint(port: str) -> str:
    return (f"Another program holds {port}: close serial monitors, IDEs, other notebooks or ionpy processes "
            "(`fuser -v " + port + "` shows who), and stop ModemManager if it grabs new ports.")


def refused_hint(host: str, port: Any) -> str:
    return (f"Nothing listens on {host}:{port}. Is the instrument on and its LAN/socket interface enabled, and is "
            f"the port right? Usual ports: {TCP_PORTS_TEXT}.")


def connect_timeout_hint(host: str, port: Any) -> str:
    return (f"{host} did not answer at all: check the IP address (the instrument's LAN menu shows it), the "
            f"cable, that this computer is on the same subnet, and the port ({TCP_PORTS_TEXT}).")


def _bauds(ctx: HintContext) -> str:
    current = ctx.params.get("baudrate")
    rates = [b for b in BAUD_CANDIDATES.get(ctx.framing, GENERIC_BAUDS) if b != current]
    return "/".join(map(str, rates))


def no_reply_hint(ctx: HintContext) -> str:
    """Nothing answered: baud rates, slave id, instrument settings, cabling."""
    parts: list[str] = []
    if ctx.transport == "serial":
        parts.append(f"Nothing answered at {ctx.params.get('baudrate', 9600)} baud: try {_bauds(ctx)} baud "
                     "(the instrument's BAUD setting must match)")
    elif ctx.transport == "tcp":
        parts.append(f"The connection opened but nothing answered: is {ctx.params.get('port')} the instrument's "
                     f"protocol port ({TCP_PORTS_TEXT})?")
    else:
        parts.append("Nothing answered")
    slave = ctx.framing_params.get("slave_id")
    if slave is not None:
        parts.append(f"check the slave id: {slave} is set here and the instrument's ADDR setting must be the same "
                     "(default 1)")
    tip = DRIVER_TIPS.get(ctx.driver)
    if tip:
        parts.append(tip[0].lower() + tip[1:].rstrip("."))
    if ctx.transport == "serial":
        parts.append("check TX/RX are not swapped and that the USB board is the data board, not a charger")
    return "; ".join(parts) + "."


def corrupted_hint(ctx: HintContext) -> str:
    """Replies arrive but fail their checksum or framing: almost always a baud mismatch."""
    if ctx.transport == "serial":
        return (f"Replies arrive corrupted: a baud mismatch is the usual cause. {ctx.params.get('baudrate', 9600)} "
                f"is set here; the instrument's BAUD setting must be the same — try {_bauds(ctx)}. Noise on a long "
                "or unshielded cable, or a second device with the same address, also garble replies.")
    return (f"Replies arrive corrupted (they do not fit the {ctx.framing or 'driver'} framing). Behind a serial line "
            "or bridge this is a baud mismatch: the serial side must use the instrument's BAUD setting — try "
            f"{_bauds(ctx)}. On a LAN port it means the port speaks another protocol (e.g. Modbus/TCP with MBAP "
            "headers instead of RTU over TCP).")


def mismatch_hint(chosen: str, match: DriverMatch, what: str) -> str:
    """The instrument says it is something the chosen driver does not speak."""
    model = f" {match.model}" if match.model else ""
    if match.installed:
        return f"{what}: this is a{model} for the {match.driver} driver, not {chosen}. Choose {match.driver}."
    return (f"{what}: this looks like a {match.driver}{model} ({match.reason}); no installed driver speaks it yet, "
            f"and {chosen} does not.")


def wrong_transport_hint(driver: str, blueprints: Sequence[str], transport: str, others: Sequence[str]) -> str:
    ways = ", ".join(blueprints) or "none"
    text = f"{driver} connects over: {ways}."
    if others:
        text += f" Installed drivers for {transport}: {', '.join(others)}."
    return text + " Or give an explicit framing (`framing: {type: ..., params: {...}}`) if you know the bytes fit."


def hint_for(exc: BaseException, ctx: HintContext, *, ports: Sequence[SerialPortInfo] = ()) -> str:
    """The most concrete hint for ``exc`` raised while probing ``ctx``."""
    if isinstance(exc, DeviceSpawnError) and exc.cause is not None:
        exc = exc.cause
    port = str(ctx.params.get("port", ""))
    cause = exc.__cause__
    if isinstance(exc, PortNotFoundError):
        return port_missing_hint(port, ports)
    if isinstance(exc, PortPermissionError):
        return permission_hint(port)
    if isinstance(exc, PortBusyError):
        return busy_hint(port)
    if isinstance(exc, TransportError) and not isinstance(exc, TransportClosedError | TransportUnavailableError):
        host = ctx.params.get("host", "")
        if isinstance(cause, ConnectionRefusedError):
            return refused_hint(host, ctx.params.get("port"))
        if isinstance(cause, TimeoutError):
            return connect_timeout_hint(host, ctx.params.get("port"))
        if isinstance(cause, socket.gaierror):
            return f"{host!r} is not a known host name: check the spelling, or use the instrument's IP address."
    if isinstance(exc, ProtocolTimeoutError):
        return no_reply_hint(ctx)
    if isinstance(exc, CRCError | FramingError):
        return corrupted_hint(ctx)
    if isinstance(exc, TransportClosedError):
        return ("The connection dropped while probing: check the cable and power; on a LAN, the instrument may "
                "accept only one client (close other programs connected to it).")
    if isinstance(exc, ExceptionResponseError):
        return (exc.hint or "The instrument refused the request.") + " The instrument answers, so the link works."
    if isinstance(exc, ProtocolError) and "malformed" in exc.message:
        return corrupted_hint(ctx)
    if isinstance(exc, IonpyError) and exc.hint:
        return exc.hint
    return "Unexpected error in the driver: see the log; the settings may still be right."


def is_config_error(exc: BaseException) -> bool:
    """True for mistakes in the probe request itself (exit code 2 on the command line)."""
    if isinstance(exc, DeviceSpawnError):
        return exc.cause is None or is_config_error(exc.cause)
    return isinstance(exc, ConfigValidationError | UnknownDriverError)


__all__ = ["BAUD_CANDIDATES", "DRIVER_TIPS", "HintContext", "busy_hint", "connect_timeout_hint", "corrupted_hint",
           "held_hint", "hint_for", "is_config_error", "mismatch_hint", "no_reply_hint", "port_keys", "port_label",
           "port_missing_hint", "refused_hint", "wrong_transport_hint"]
