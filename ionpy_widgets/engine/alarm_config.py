"""The ``alarms:`` and ``limits:`` sections of a device entry: validation with field paths, and the
alarm specs that merge the driver's default limits with the user's.

Shape (per device in ``config.yaml``)::

    alarms:
      u_out:                          # a numeric entity of the driver
        hihi: 13.0                    # limits; a driver default is overridden, `null` removes it
        hi: 12.5
        lo: 1.0
        deadband: 0.1                 # hysteresis, in the entity's unit (default 0)
        on_delay: 0.5                 # seconds a limit must be crossed before the alarm is raised
        off_delay: 0                  # seconds the value must be back before it clears
        enabled: true
        actions: {hihi: output_off}   # output_off | emergency_stop | {write: {key: value}} | a list
    limits:
      u_set: {max: 12}                # your own limits for a setpoint (refused beyond)
      i_set: {max: 2, clamp: true}    # clamp: write the limit instead of refusing

Entities whose driver table has default alarm limits (``EntityDescription.alarm``) get a point
without any config; ``alarms: {soc: {enabled: false}}`` turns one off.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..driver.entity import EntityDescription, Kind
from ..errors import ConfigValidationError
from .alarm_model import LEVELS, AlarmAction, AlarmSpec
from .events import AlarmLevel

ALARM_KEYS = ("hihi", "hi", "lo", "lolo", "deadband", "on_delay", "off_delay", "enabled", "actions")
LIMIT_KEYS = ("min", "max", "clamp")
#: Actions written as a word; ``write`` takes a mapping (``{write: {output: false}}``).
ACTION_WORDS = ("output_off", "emergency_stop")
MAX_DELAY = 86400.0


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _entity(entities: Mapping[str, EntityDescription] | None, key: Any, path: str, *,
            writable: bool) -> EntityDescription | None:
    if not isinstance(key, str) or not key:
        raise ConfigValidationError(f"invalid entity key {key!r}", path=path, hint="Use an entity key such as u_out.")
    if entities is None:
        return None
    desc = entities.get(key)
    fits = [k for k, e in entities.items() if e.kind is Kind.NUMERIC and (e.writable if writable else e.readable)]
    what = "writable numeric entities (setpoints)" if writable else "numeric entities"
    if desc is None:
        raise ConfigValidationError(f"unknown entity {key!r}", path=path,
                                    hint=f"This driver's {what}: {', '.join(fits)}.")
    if desc.kind is not Kind.NUMERIC or (desc.writable if writable else desc.readable) is False:
        raise ConfigValidationError(f"{key!r} is not one of the {what}", path=path,
                                    hint=f"Choose one of: {', '.join(fits)}.")
    return desc


# --- alarms ----------------------------------------------------------------------------------------


def check_alarms(raw: Any, path: str, entities: Mapping[str, EntityDescription] | None) -> dict[str, Any]:
    """Validate a device's ``alarms:`` mapping (``path`` is e.g. ``devices[0].alarms``); returns it as
    plain dicts. ``entities``: the driver's table (None when the driver is unknown: keys unchecked)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigValidationError("must be a mapping of entity -> alarm settings", path=path,
                                    hint="For example `alarms: {u_out: {hi: 12.5, hihi: 13}}`.")
    out: dict[str, Any] = {}
    for key, entry in raw.items():
        where = f"{path}.{key}"
        desc = _entity(entities, key, where, writable=False)
        out[str(key)] = _check_alarm_entry(entry, where, desc, entities)
    return out


def _check_alarm_entry(entry: Any, where: str, desc: EntityDescription | None,
                       entities: Mapping[str, EntityDescription] | None) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise ConfigValidationError("must be a mapping of alarm settings", path=where,
                                    hint=f"Keys: {', '.join(ALARM_KEYS)}, e.g. `{{hi: 12.5, deadband: 0.1}}`.")
    out: dict[str, Any] = {}
    for key, value in entry.items():
        at = f"{where}.{key}"
        if key not in ALARM_KEYS:
            raise ConfigValidationError(f"unknown key {key!r}", path=at,
                                        hint=f"Alarm settings: {', '.join(ALARM_KEYS)}.")
        if key in ("hihi", "hi", "lo", "lolo"):
            if value is not None and not _number(value):
                raise ConfigValidationError(f"must be a number (or null to remove the default), got {value!r}",
                                            path=at, hint=f"For example `{key}: 12.5`.")
        elif key == "deadband":
            if not _number(value) or value < 0:
                raise ConfigValidationError(f"must be a number >= 0 in the entity's unit, got {value!r}", path=at,
                                            hint="For example `deadband: 0.1`.")
        elif key in ("on_delay", "off_delay"):
            if not _number(value) or not 0 <= value <= MAX_DELAY:
                raise ConfigValidationError(f"must be a number of seconds in 0…{MAX_DELAY:g}, got {value!r}",
                                            path=at, hint=f"For example `{key}: 0.5`.")
        elif key == "enabled" and not isinstance(value, bool):
            raise ConfigValidationError(f"must be true or false, got {value!r}", path=at,
                                        hint="Write `enabled: false` to turn this alarm off.")
        out[str(key)] = value  # as written (the specs convert): a config file written back stays the same
    limits = merged_limits(desc, out)
    _check_order(limits, where)
    if not limits and out.get("enabled", True):
        raise ConfigValidationError("no alarm limit is set", path=where,
                                    hint="Give at least one of hihi, hi, lo, lolo (e.g. `hi: 12.5`).")
    deadband = out.get("deadband", 0.0)
    if limits and deadband:
        _check_deadband(limits, deadband, f"{where}.deadband")
    if "actions" in entry:
        out["actions"] = _check_actions(entry["actions"], f"{where}.actions", limits, entities)
    return out


def merged_limits(desc: EntityDescription | None, user: Mapping[str, Any]) -> dict[str, float]:
    """The driver's default limits overridden by the user's (``None`` removes one)."""
    limits: dict[str, Any] = dict(desc.alarm.as_dict()) if desc is not None and desc.alarm is not None else {}
    for key in ("hihi", "hi", "lo", "lolo"):
        if key in user:
            limits[key] = user[key]
    return {k: float(v) for k, v in limits.items() if v is not None}


def _check_order(limits: Mapping[str, float], where: str) -> None:
    order = [k for k in ("lolo", "lo", "hi", "hihi") if k in limits]
    for low, high in itertools.pairwise(order):
        strict = (low, high) in (("lo", "hi"), ("lolo", "hi"), ("lo", "hihi"), ("lolo", "hihi"))
        bad = limits[low] >= limits[high] if strict else limits[low] > limits[high]
        if bad:
            raise ConfigValidationError(f"{high} ({limits[high]:g}) must be above {low} ({limits[low]:g})",
                                        path=f"{where}.{high}",
                                        hint="Limits go lolo ≤ lo < hi ≤ hihi (driver defaults included).")


def _check_deadband(limits: Mapping[str, float], deadband: float, at: str) -> None:
    highs = [limits[k] for k in ("hi", "hihi") if k in limits]
    lows = [limits[k] for k in ("lo", "lolo") if k in limits]
    if highs and lows and deadband >= min(highs) - max(lows):
        raise ConfigValidationError(f"deadband {deadband:g} is wider than the gap between the low and high limits",
                                    path=at, hint="Make it smaller than hi - lo.")


def _check_actions(raw: Any, at: str, limits: Mapping[str, float],
                   entities: Mapping[str, EntityDescription] | None) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigValidationError("must be a mapping of level -> action", path=at,
                                    hint="For example `actions: {hihi: output_off}`.")
    out: dict[str, Any] = {}
    for level, value in raw.items():
        where = f"{at}.{level}"
        if level not in ("hihi", "hi", "lo", "lolo"):
            raise ConfigValidationError(f"unknown alarm level {level!r}", path=where,
                                        hint="Actions are keyed by hihi, hi, lo or lolo.")
        if level not in limits:
            raise ConfigValidationError(f"no {level} limit is set for this alarm", path=where,
                                        hint=f"Set `{level}:` too, or key the action by a level that has a limit "
                                             f"({', '.join(limits) or 'none yet'}).")
        items = list(value) if isinstance(value, list | tuple) else [value]
        if not items:
            raise ConfigValidationError("must name at least one action", path=where,
                                        hint=f"Actions: {', '.join(ACTION_WORDS)} or {{write: {{key: value}}}}.")
        checked = [_check_action(item, where if len(items) == 1 else f"{where}[{i}]", entities)
                   for i, item in enumerate(items)]
        out[str(level)] = checked if isinstance(value, list | tuple) else checked[0]
    return out


def _check_action(item: Any, where: str, entities: Mapping[str, EntityDescription] | None) -> Any:
    if isinstance(item, str) and item in ACTION_WORDS:
        return item
    if isinstance(item, Mapping) and list(item) == ["write"] and isinstance(item["write"], Mapping) and item["write"]:
        writes = {}
        for key, value in item["write"].items():
            at = f"{where}.write.{key}"
            if entities is not None:
                desc = entities.get(key)
                if desc is None or not desc.writable:
                    known = ", ".join(k for k, e in entities.items() if e.writable)
                    raise ConfigValidationError(f"{key!r} is not a writable entity", path=at,
                                                hint=f"Writable entities: {known}.")
                try:
                    desc.validate(value)
                except Exception as exc:
                    raise ConfigValidationError(str(getattr(exc, "message", exc)), path=at,
                                                hint=getattr(exc, "hint", "")) from None
            writes[str(key)] = value
        return {"write": writes}
    raise ConfigValidationError(f"unknown action {item!r}", path=where,
                                hint=f"Actions: {', '.join(ACTION_WORDS)}, or `{{write: {{output: false}}}}`.")


def build_spec(desc: EntityDescription | None, user: Mapping[str, Any] | None) -> AlarmSpec | None:
    """The spec of one entity from its default limits and the (validated) user entry; None when it
    has no limit at all."""
    user = user or {}
    limits = merged_limits(desc, user)
    if not limits:
        return None
    actions: dict[AlarmLevel, tuple[AlarmAction, ...]] = {}
    for level, items in (user.get("actions") or {}).items():
        acts = []
        for item in items if isinstance(items, list | tuple) else [items]:
            if isinstance(item, Mapping):
                kind, params = next(iter(item.items()))
                acts.append(AlarmAction(str(kind), MappingProxyType(dict(params))))
            else:
                acts.append(AlarmAction(str(item)))
        actions[AlarmLevel(level)] = tuple(acts)
    return AlarmSpec(**{lv.value: limits.get(lv.value) for lv in LEVELS},
                     deadband=float(user.get("deadband", 0.0)), on_delay=float(user.get("on_delay", 0.0)),
                     off_delay=float(user.get("off_delay", 0.0)), enabled=bool(user.get("enabled", True)),
                     actions=MappingProxyType(actions))


def build_specs(entities: Mapping[str, EntityDescription], alarms: Mapping[str, Any] | None) -> dict[str, AlarmSpec]:
    """Every alarm point of one device: entities with default limits plus those the user configured."""
    alarms = alarms or {}
    specs: dict[str, AlarmSpec] = {}
    for key, desc in entities.items():
        if desc.kind is not Kind.NUMERIC or not desc.readable:
            continue
        spec = build_spec(desc, alarms.get(key))
        if spec is not None:
            specs[key] = spec
    return specs


# --- limits ----------------------------------------------------------------------------------------


def check_limits(raw: Any, path: str, entities: Mapping[str, EntityDescription] | None) -> dict[str, Any]:
    """Validate a device's ``limits:`` mapping (``path`` e.g. ``devices[0].limits``)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigValidationError("must be a mapping of setpoint -> {min, max}", path=path,
                                    hint="For example `limits: {u_set: {max: 12}}`.")
    out: dict[str, Any] = {}
    for key, entry in raw.items():
        where = f"{path}.{key}"
        _entity(entities, key, where, writable=True)
        if not isinstance(entry, Mapping) or not entry:
            raise ConfigValidationError("must be a mapping with min and/or max", path=where,
                                        hint="For example `{max: 12}` or `{min: 0.5, max: 12, clamp: true}`.")
        checked: dict[str, Any] = {}
        for sub, value in entry.items():
            at = f"{where}.{sub}"
            if sub not in LIMIT_KEYS:
                raise ConfigValidationError(f"unknown key {sub!r}", path=at,
                                            hint=f"Limit keys: {', '.join(LIMIT_KEYS)}.")
            if sub == "clamp":
                if not isinstance(value, bool):
                    raise ConfigValidationError(f"must be true or false, got {value!r}", path=at,
                                                hint="`clamp: true` writes the limit instead of refusing.")
                checked[sub] = value
            elif not _number(value):
                raise ConfigValidationError(f"must be a number, got {value!r}", path=at,
                                            hint=f"For example `{sub}: 12`.")
            else:
                checked[sub] = value
        if "min" not in checked and "max" not in checked:
            raise ConfigValidationError("needs min and/or max", path=where, hint="For example `{max: 12}`.")
        if "min" in checked and "max" in checked and checked["min"] > checked["max"]:
            raise ConfigValidationError(f"max ({checked['max']:g}) is below min ({checked['min']:g})",
                                        path=f"{where}.max", hint="Swap them, or widen the range.")
        out[str(key)] = checked
    return out


__all__ = ["ACTION_WORDS", "ALARM_KEYS", "LIMIT_KEYS", "build_spec", "build_specs", "check_alarms", "check_limits",
           "merged_limits"]
