"""Value conversions shared by the address dataclasses: the string forms a config file or a form
may hold (``"9600"``, ``"0x10C4"``, ``"true"``) become ints, floats and bools, and anything else
becomes a :class:`~ionpy_widgets.errors.ConfigValidationError` naming ``transport.params.<field>``.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

from ..errors import ConfigValidationError


def fail(field: str, message: str, hint: str) -> ConfigValidationError:
    """The error for one field of the transport params."""
    return ConfigValidationError(message, path=f"transport.params.{field}", hint=hint)


def as_int(field: str, value: Any, hint: str, *, base: int = 10) -> int:
    """An int from an int or a numeric string; bools are rejected (``True`` is not a baud rate)."""
    if isinstance(value, bool):
        raise fail(field, f"expected an integer, got {value!r}", hint)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip(), base)
        except ValueError:
            pass
    raise fail(field, f"expected an integer, got {value!r}", hint)


def as_number(field: str, value: Any, hint: str) -> float:
    """A finite float from an int, a float or a numeric string."""
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value.strip())
    if number is not None and math.isfinite(number):
        return number
    raise fail(field, f"expected a number, got {value!r}", hint)


def as_bool(field: str, value: Any) -> bool:
    """A bool from a bool or from true/false, yes/no, on/off, 1/0 strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return value.strip().lower() in ("true", "yes", "on", "1")
    raise fail(field, f"expected true or false, got {value!r}", "Use true or false.")


def usb_id(field: str, value: Any) -> int:
    """A 16-bit USB vendor/product id; strings are hexadecimal, as lsusb prints them."""
    hint = "A 16-bit USB id as lsusb prints it: an int (4292) or a hex string (\"0x10C4\" or \"10C4\")."
    number = as_int(field, value, hint, base=16)
    if not 0 <= number <= 0xFFFF:
        raise fail(field, f"{value!r} is not a 16-bit USB id", hint)
    return number


def set_field(obj: object, name: str, value: Any) -> None:
    """Store a normalised value in a frozen dataclass from its ``__post_init__``."""
    object.__setattr__(obj, name, value)
