"""Build a framer from configuration: a type name and a mapping of parameters (e.g. from YAML).

:func:`make_framer` picks the parameters the framer's constructor accepts (read from its
signature), converts them from configuration-friendly forms and returns the framer together with
the parameters it did not use (``slave_id`` and friends belong to the driver).

Conversions, by the constructor's annotation:

* ``bytes``: a string (``"\\n"``, ``"\\r\\n"``; backslash escapes such as a literal ``\\n``
  typed in single-quoted YAML are decoded; characters must be ≤ U+00FF), a list of ints
  (``[0xAB, 0xCD]``), a single int 0–255, or bytes.
* ``int``: an int, or a string in any Python base (``"0x7E"``); booleans are refused.
* ``float``: an int, a float or a numeric string.
* ``bool``: a bool, or one of ``true/false/yes/no/on/off/1/0``.
* choice parameters (``role``, ``byteorder``, ``checksum``, …) must be one of the listed values.
* ``… | None`` parameters also accept ``None`` / ``"none"``.

Every problem raises :class:`FramerConfigError` (a ``ValueError``) whose ``field`` names the
parameter and whose ``hint`` lists what would be accepted.
"""

from __future__ import annotations

import codecs
import inspect
import types
from collections.abc import Mapping
from typing import Any, Union, get_args, get_origin

from .base import Framer
from .checksums import checksum_names
from .delimiter import DelimiterFramer
from .idle_gap import IdleGapFramer
from .length_prefixed import BYTEORDERS, LENGTH_SIZES, LengthPrefixedFramer
from .modbus_rtu import ROLES, ModbusRtuFramer
from .raw import RawFramer
from .start_stop import StartStopFramer

FRAMERS: dict[str, type] = {
    "raw": RawFramer,
    "delimiter": DelimiterFramer,
    "length_prefixed": LengthPrefixedFramer,
    "modbus_rtu": ModbusRtuFramer,
    "start_stop": StartStopFramer,
    "idle_gap": IdleGapFramer,
}

#: Parameters restricted to a fixed set of values (None is allowed where the signature allows it).
CHOICES: dict[str, tuple[Any, ...]] = {
    "role": ROLES,
    "byteorder": BYTEORDERS,
    "crc_byteorder": BYTEORDERS,
    "length_size": LENGTH_SIZES,
    "checksum": checksum_names(),
    "crc": checksum_names(),
}

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class FramerConfigError(ValueError):
    """A framing configuration problem. ``field`` names the parameter (``"type"`` for the framer
    type itself); ``hint`` says what would be accepted."""

    def __init__(self, message: str, *, field: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})"


def make_framer(type_name: str, params: Mapping[str, Any] | None = None, *,
                baudrate: int | None = None) -> tuple[Framer, dict[str, Any]]:
    """Build the framer ``type_name`` from ``params``; return it and the leftover parameters.

    ``baudrate`` (the transport's) is passed to framers that take one unless ``params`` sets it.
    """
    key = str(type_name).strip().lower().replace("-", "_")
    cls = FRAMERS.get(key)
    if cls is None:
        raise FramerConfigError(f"unknown framing type {type_name!r}", field="type",
                                hint=f"use one of: {', '.join(FRAMERS)}")
    signature = inspect.signature(cls, eval_str=True)
    accepted = {name: p for name, p in signature.parameters.items()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    kwargs: dict[str, Any] = {}
    leftover: dict[str, Any] = {}
    for name, value in dict(params or {}).items():
        if name in accepted:
            kwargs[name] = _convert(key, name, value, accepted[name].annotation)
        else:
            leftover[name] = value
    if baudrate is not None and "baudrate" in accepted and "baudrate" not in kwargs:
        kwargs["baudrate"] = _convert(key, "baudrate", baudrate, accepted["baudrate"].annotation)
    try:
        framer = cls(**kwargs)
    except (ValueError, TypeError) as exc:
        text = str(exc)
        field = next((name for name in accepted if text.startswith(name + " ")), None)
        hint = (f"check the '{field}' setting" if field is not None
                else f"check the {key} parameters: {', '.join(accepted)}")
        raise FramerConfigError(f"{key} framing: {text}", field=field or key, hint=hint) from exc
    return framer, leftover


def _convert(framer: str, name: str, value: Any, annotation: Any) -> Any:
    kinds = _kinds(annotation)
    optional = type(None) in kinds
    if optional and (value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", ""))):
        return None
    try:
        if bytes in kinds:
            result: Any = _to_bytes(value)
        elif bool in kinds:
            result = _to_bool(value)
        elif int in kinds:
            result = _to_int(value)
        elif float in kinds:
            result = _to_float(value)
        else:
            result = value
    except (TypeError, ValueError) as exc:
        raise FramerConfigError(f"{framer} framing: {name}={value!r} is invalid: {exc}", field=name,
                                hint=_describe(kinds, optional)) from exc
    choices = CHOICES.get(name)
    if choices is not None and result not in choices:
        listed = ", ".join(str(c) for c in choices) + (", none" if optional else "")
        raise FramerConfigError(f"{framer} framing: {name}={value!r} is not a valid choice", field=name,
                                hint=f"use one of: {listed}")
    return result


def _kinds(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


def _describe(kinds: tuple[Any, ...], optional: bool) -> str:
    if bytes in kinds:
        text = 'a string such as "\\n" or "\\r\\n", or a list of byte values such as [0xAB, 0xCD]'
    elif bool in kinds:
        text = "true or false"
    elif int in kinds:
        text = "an integer such as 2 or 0x7E"
    elif float in kinds:
        text = "a number of seconds such as 0.05"
    else:
        text = "a string"
    return text + (", or none" if optional else "")


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        if "\\" in value:
            value = codecs.decode(value.encode("latin-1", "backslashreplace"), "unicode_escape")
        return value.encode("latin-1")  # UnicodeEncodeError is a ValueError
    if isinstance(value, bool):
        raise TypeError("expected bytes, got a boolean")
    if isinstance(value, int):
        return bytes([value])
    if isinstance(value, list | tuple):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise TypeError("list items must be integers 0..255")
        return bytes(value)
    raise TypeError(f"expected a string or a list of byte values, got {type(value).__name__}")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return int(value.strip(), 0)
    raise TypeError(f"expected an integer, got {type(value).__name__}")


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number, got a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return float(value.strip())
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("expected true or false")
