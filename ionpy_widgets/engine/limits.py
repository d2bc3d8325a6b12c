"""The user's own setpoint limits (a device's ``limits:`` in ``config.yaml``), applied to every
write before the driver sees it — so before any byte is sent.

    limits:
      u_set: {max: 12}                 # 12.5 V is refused with a LimitError naming this limit
      i_set: {max: 2, clamp: true}     # 3 A is written as 2 A (the write event keeps `requested: 3`)

The model's own limits (the entity table, narrowed to the identified model) still apply after
these: a user limit can only narrow the range, never widen it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..driver.entity import EntityDescription, Kind
from ..errors import LimitError


def _fmt(value: float) -> str:
    return f"{value:g}"


def apply_user_limits(limits: Mapping[str, Mapping[str, Any]] | None, desc: EntityDescription, value: Any, *,
                      device: str = "") -> Any:
    """``value`` checked against the user's limits for ``desc.key``: returned unchanged, clamped
    (``clamp: true``) or refused with a :class:`LimitError` whose hint names the user limit.
    Values that are not plain numbers are returned as they are (the entity's own validation
    reports them)."""
    rule = (limits or {}).get(desc.key)
    if not rule or desc.kind is not Kind.NUMERIC:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return value
        if not math.isfinite(number):
            return value
    else:
        number = float(value)
    low, high = rule.get("min"), rule.get("max")
    unit = f" {desc.unit}" if desc.unit else ""
    where = f"`limits: {{{desc.key}: {{…}}}}` of device {device}" if device else f"`limits.{desc.key}`"
    for bound, broken, word in ((high, high is not None and number > high, "above"),
                                (low, low is not None and number < low, "below")):
        if not broken:
            continue
        assert bound is not None
        if rule.get("clamp"):
            return float(bound)
        key = "max" if word == "above" else "min"
        raise LimitError(
            f"{desc.label} = {_fmt(number)}{unit} is {word} your limit {_fmt(bound)}{unit}",
            entity=desc.key, device=device, value=number, user_limit={key: bound},
            hint=f"Your own limit {key}: {_fmt(bound)}{unit} in {where} refuses it (nothing was sent). Choose a "
                 f"value {'at most' if word == 'above' else 'at least'} {_fmt(bound)}{unit}, or change that limit "
                 f"in the config file.")
    return value


def narrowed(desc: EntityDescription, limits: Mapping[str, Mapping[str, Any]] | None) -> tuple[Any, Any]:
    """``(min, max)`` of ``desc`` with the user's limits applied (for widgets showing the range)."""
    rule = (limits or {}).get(desc.key) or {}
    low, high = desc.min, desc.max
    if rule.get("min") is not None:
        low = rule["min"] if low is None else max(low, rule["min"])
    if rule.get("max") is not None:
        high = rule["max"] if high is None else min(high, rule["max"])
    return low, high


__all__ = ["apply_user_limits", "narrowed"]
