"""Entity descriptions: the frozen table that says what an instrument measures and accepts.

Widgets, validation, persistence and alarms are all driven from this table, so a driver never
hand-writes UI or range checks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from ..errors import LimitError, ReadOnlyError


class Kind(StrEnum):
    NUMERIC = "numeric"
    BOOL = "bool"
    ENUM = "enum"
    TEXT = "text"


class Access(StrEnum):
    RO = "RO"
    RW = "RW"
    WO = "WO"


class Role(StrEnum):
    """What the entity is for; drives default UI grouping and the persistence rule."""

    MEASUREMENT = "measurement"
    SETPOINT = "setpoint"
    SWITCH = "switch"
    CONFIG = "config"
    STATUS = "status"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class AlarmLimits:
    hihi: float | None = None
    hi: float | None = None
    lo: float | None = None
    lolo: float | None = None

    def as_dict(self) -> dict[str, float]:
        return {k: v for k, v in (("hihi", self.hihi), ("hi", self.hi), ("lo", self.lo), ("lolo", self.lolo))
                if v is not None}


def _empty() -> Mapping[Any, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class EntityDescription:
    key: str
    label: str
    unit: str = ""
    kind: Kind = Kind.NUMERIC
    access: Access = Access.RO
    role: Role = Role.MEASUREMENT
    min: float | None = None
    max: float | None = None
    step: float | None = None
    precision: int | None = None
    #: Setpoints persist across restarts; measurements and output switches never do.
    persist: bool = False
    #: Enum options: raw value -> label (e.g. {0: "CV", 1: "CC"}).
    options: Mapping[int, str] = field(default_factory=_empty)
    alarm: AlarmLimits | None = None
    channel: int | None = None
    #: Writing asks the user to confirm first (output switches).
    confirm: bool = False
    ui: Mapping[str, Any] = field(default_factory=_empty)

    def __post_init__(self) -> None:
        if self.persist and self.role in (Role.MEASUREMENT, Role.SWITCH, Role.STATUS, Role.INFO):
            raise ValueError(f"entity {self.key!r}: measurements, status and switches never persist")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"entity {self.key!r}: min {self.min} > max {self.max}")

    @property
    def writable(self) -> bool:
        return self.access in (Access.RW, Access.WO)

    @property
    def readable(self) -> bool:
        return self.access in (Access.RO, Access.RW)

    def with_limits(self, *, min: float | None = None, max: float | None = None) -> EntityDescription:
        """A copy with model-specific limits (e.g. a DPS5015 allows 15 A)."""
        return replace(self, min=self.min if min is None else min, max=self.max if max is None else max)

    def validate(self, value: Any) -> Any:
        """Return ``value`` coerced to the entity's kind, or raise before anything is sent."""
        if not self.writable:
            raise ReadOnlyError(f"{self.label} ({self.key}) is read-only", entity=self.key)
        if self.kind is Kind.BOOL:
            if isinstance(value, bool):
                return value
            if isinstance(value, int | float) and value in (0, 1):
                return bool(value)
            if isinstance(value, str) and value.strip().lower() in ("on", "off", "true", "false", "1", "0"):
                return value.strip().lower() in ("on", "true", "1")
            raise LimitError(f"{self.label} expects on/off, got {value!r}", entity=self.key,
                             hint="Use True/False.")
        if self.kind is Kind.ENUM:
            if isinstance(value, str):
                for raw, label in self.options.items():
                    if label.lower() == value.lower():
                        return raw
            if isinstance(value, int) and not isinstance(value, bool) and value in self.options:
                return value
            choices = ", ".join(f"{k}={v}" for k, v in self.options.items())
            raise LimitError(f"{self.label}: {value!r} is not one of the options", entity=self.key,
                             hint=f"Choose one of: {choices}.")
        if self.kind is Kind.TEXT:
            return str(value)
        return self._validate_number(value)

    def _validate_number(self, value: Any) -> float:
        if isinstance(value, bool) or value is None:
            raise LimitError(f"{self.label} expects a number, got {value!r}", entity=self.key,
                             hint=f"Give a number in {self.unit or 'the entity unit'}.")
        if not isinstance(value, int | float):
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise LimitError(f"{self.label} expects a number, got {value!r}", entity=self.key,
                                 hint=f"Give a number in {self.unit or 'the entity unit'}.") from None
        number = float(value)
        if not math.isfinite(number):
            bounded = self.min is not None and self.max is not None
            rng = f" between {_fmt(self.min)} and {_fmt(self.max)}" if bounded else ""
            raise LimitError(f"{self.label} must be a finite number, got {value!r}", entity=self.key,
                             hint=f"Give a finite number{rng} in {self.unit or 'the entity unit'} (not NaN or inf).")
        lo, hi = self.min, self.max
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            rng = f"{_fmt(lo)} … {_fmt(hi)} {self.unit}".strip()
            raise LimitError(
                f"{self.label} = {_fmt(number)} {self.unit} is outside the allowed range {rng}".replace("  ", " "),
                entity=self.key, value=number, min=lo, max=hi,
                hint=f"Choose a value between {_fmt(lo)} and {_fmt(hi)} {self.unit}.".strip(),
            )
        return number

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly manifest entry for widgets."""
        return {
            "key": self.key, "label": self.label, "unit": self.unit, "kind": self.kind.value,
            "access": self.access.value, "role": self.role.value, "min": self.min, "max": self.max,
            "step": self.step, "precision": self.precision, "persist": self.persist,
            "options": {str(k): v for k, v in self.options.items()},
            "alarm": self.alarm.as_dict() if self.alarm else None, "channel": self.channel,
            "confirm": self.confirm, "ui": dict(self.ui),
        }


def _fmt(value: float | None) -> str:
    if value is None:
        return "∞"
    return f"{value:g}"


def entity_table(*entities: EntityDescription) -> Mapping[str, EntityDescription]:
    """An immutable key -> description mapping; rejects duplicate keys."""
    table: dict[str, EntityDescription] = {}
    for ent in entities:
        if ent.key in table:
            raise ValueError(f"duplicate entity key {ent.key!r}")
        table[ent.key] = ent
    return MappingProxyType(table)
