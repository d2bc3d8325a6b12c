"""One error tree for everything a user can cause.

Every error carries a stable ``code`` (for programs and translations), a human ``message``,
a ``hint`` that says what to try, and optional ``details`` (which field, which port, ...).
``to_dict()`` is what widgets and ``--json`` output show.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class IonpyError(Exception):
    """Base of every error raised on purpose by ionpy_widgets."""

    code: str = "ionpy_error"
    default_hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.details: dict[str, Any] = details

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": type(self).__name__,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }
        if self.details:
            data["details"] = {k: _jsonable(v) for k, v in self.details.items()}
        return data


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, bytes):
        return value.hex(" ")
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


# --- configuration -------------------------------------------------------------------------


class ConfigValidationError(IonpyError):
    """A config file or a device dict is invalid. ``path`` names the field, e.g.
    ``devices[2].transport.params.baudrate``."""

    code = "config_invalid"

    def __init__(self, message: str, *, path: str = "", hint: str | None = None, **details: Any) -> None:
        full = f"{path}: {message}" if path else message
        super().__init__(full, hint=hint, path=path, **details)
        self.path = path


# --- devices -------------------------------------------------------------------------------


class DeviceError(IonpyError):
    code = "device_error"


class DeviceNotFoundError(DeviceError):
    code = "device_not_found"
    default_hint = "Check the device id; `lab.devices` lists the ids that exist."


class DeviceDuplicateError(DeviceError):
    code = "device_duplicate"
    default_hint = "Device ids must be unique: pick another id or remove the existing device first."


class SpawnStage(StrEnum):
    TRANSPORT = "transport"
    FRAMING = "framing"
    DRIVER = "driver"
    CONNECT = "connect"
    POLL = "poll"


class DeviceSpawnError(DeviceError):
    """Building or starting a device failed; ``stage`` says where."""

    code = "device_spawn_failed"

    def __init__(
        self,
        message: str,
        *,
        stage: SpawnStage | str,
        device_id: str = "",
        hint: str | None = None,
        cause: BaseException | None = None,
        **details: Any,
    ) -> None:
        stage = SpawnStage(stage)
        if hint is None and isinstance(cause, IonpyError):
            hint = cause.hint
        super().__init__(message, hint=hint, stage=stage.value, device_id=device_id, **details)
        self.stage = stage
        self.device_id = device_id
        self.cause = cause
        if cause is not None:
            self.details["cause"] = cause.to_dict() if isinstance(cause, IonpyError) else repr(cause)


class UnknownDriverError(DeviceError):
    code = "driver_unknown"
    default_hint = "Run `ionpy info` to list the installed drivers."


class LimitError(DeviceError, ValueError):
    """A value is outside the entity's or the model's limits; nothing was sent."""

    code = "value_out_of_limits"


class EntityError(DeviceError, KeyError):
    code = "entity_unknown"

    def __str__(self) -> str:  # KeyError would add quotes
        return IonpyError.__str__(self)


class ReadOnlyError(DeviceError):
    code = "entity_read_only"
    default_hint = "This entity is a measurement; only writable entities (access RW/WO) accept writes."


class DeviceUnavailableError(DeviceError):
    code = "device_unavailable"
    default_hint = "The device is not connected right now; the engine keeps retrying in the background."


# --- transport -----------------------------------------------------------------------------


class TransportError(IonpyError):
    code = "transport_error"


class TransportUnavailableError(TransportError):
    """The transport type is not usable on this machine (library missing, ...)."""

    code = "transport_unavailable"


class TransportClosedError(TransportError):
    code = "transport_closed"
    default_hint = "The connection was closed or lost; it will be reopened on the next connect."


class PortNotFoundError(TransportError):
    code = "port_not_found"


class PortPermissionError(TransportError):
    code = "port_permission_denied"


class PortBusyError(TransportError):
    code = "port_busy"


# --- protocol ------------------------------------------------------------------------------


class ProtocolError(IonpyError):
    code = "protocol_error"


class ProtocolTimeoutError(ProtocolError):
    code = "protocol_timeout"
    default_hint = (
        "The instrument did not answer in time: check the cable, the baud rate, the address and that "
        "remote control is enabled on the instrument."
    )


class CRCError(ProtocolError):
    code = "protocol_crc"
    default_hint = "Corrupted reply: a baud-rate mismatch or electrical noise is the usual cause."


class ExceptionResponseError(ProtocolError):
    """The instrument answered with an explicit error (Modbus exception, SCPI error queue)."""

    code = "protocol_exception_response"


class FramingError(ProtocolError):
    code = "protocol_framing"
    default_hint = ("The reply was malformed or incomplete: a baud-rate mismatch, a wrong framing setting or "
                    "electrical noise is the usual cause.")


__all__ = [
    "CRCError",
    "ConfigValidationError",
    "DeviceDuplicateError",
    "DeviceError",
    "DeviceNotFoundError",
    "DeviceSpawnError",
    "DeviceUnavailableError",
    "EntityError",
    "ExceptionResponseError",
    "FramingError",
    "IonpyError",
    "LimitError",
    "PortBusyError",
    "PortNotFoundError",
    "PortPermissionError",
    "ProtocolError",
    "ProtocolTimeoutError",
    "ReadOnlyError",
    "SpawnStage",
    "TransportClosedError",
    "TransportError",
    "TransportUnavailableError",
    "UnknownDriverError",
]
