"""Known SCPI power supplies: channel limits, command dialect and a believable ``*IDN?``.

Channel specs are the sigrok ``scpi-pps`` profiles quoted in shared/reference/protocols.md §5.3
(DP832, DP821A, E36312A, E36313A); the E36103B (20 V / 2 A) and SPD3303X (32 V / 3.2 A) limits are
the vendors' published ratings. Unknown instruments get :data:`GENERIC`, whose conservative
limits the user widens with options (``channels``, ``max_voltage``, ``max_current``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ...driver.reading import Identity
from ...errors import ConfigValidationError
from .protocol import DIALECTS, Dialect


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """Limits of one output. ``v_step``/``i_step`` are the programming resolution."""

    v_max: float
    i_max: float
    v_step: float = 0.001
    i_step: float = 0.001

    def __post_init__(self) -> None:
        if self.v_max <= 0 or self.i_max <= 0:
            raise ValueError("channel limits must be positive")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model: what ``*IDN?`` says, its outputs and its command set."""

    model: str
    manufacturer: str
    channels: tuple[ChannelSpec, ...]
    dialect: str = "generic"
    #: Regex matched against the ``*IDN?`` model field (case-insensitive).
    pattern: str = ""
    serial: str = "SIM0000001"
    firmware: str = "1.0"

    @property
    def name(self) -> str:
        return self.model

    @property
    def channel_count(self) -> int:
        return len(self.channels)

    @property
    def command_set(self) -> Dialect:
        return DIALECTS[self.dialect]

    def idn(self) -> str:
        """The ``*IDN?`` reply this model gives (used by the simulator)."""
        return f"{self.manufacturer},{self.model},{self.serial},{self.firmware}"

    def channel(self, number: int) -> ChannelSpec:
        return self.channels[number - 1]


_DP832 = ChannelSpec(30.0, 3.0)

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("DP832", "RIGOL TECHNOLOGIES", (_DP832, _DP832, ChannelSpec(5.0, 3.0)), "rigol",
              r"^DP832A?$", "DP8C000000001", "00.01.16"),
    ModelSpec("DP821A", "RIGOL TECHNOLOGIES", (ChannelSpec(60.0, 1.0, i_step=0.0001), ChannelSpec(8.0, 10.0)),
              "rigol", r"^DP821A?$", "DP8B000000002", "00.01.16"),
    ModelSpec("E36312A", "Keysight Technologies",
              (ChannelSpec(6.18, 5.15), ChannelSpec(25.75, 1.03), ChannelSpec(25.75, 1.03)), "keysight",
              r"^E36312A$", "MY59000001", "2.1.0-1.0.4-1.12"),
    ModelSpec("E36313A", "Keysight Technologies",
              (ChannelSpec(6.18, 10.3), ChannelSpec(25.75, 2.06), ChannelSpec(25.75, 2.06)), "keysight",
              r"^E36313A$", "MY59000002", "2.1.0-1.0.4-1.12"),
    ModelSpec("E36103B", "Keysight Technologies", (ChannelSpec(20.0, 2.0),), "keysight_single",
              r"^E3610[0-9]B$", "MY61001983", "1.0.2-1.02"),
    ModelSpec("SPD3303X", "Siglent Technologies", (ChannelSpec(32.0, 3.2), ChannelSpec(32.0, 3.2)), "siglent",
              r"^SPD3303X(-E)?$", "SPD3XIDD000001", "1.01.01.02.05"),
)

#: Fallback for instruments not in :data:`MODELS`: one output, limits low enough for any bench PSU.
GENERIC = ModelSpec("SCPI PSU", "Generic", (ChannelSpec(20.0, 1.0),), "generic", serial="GEN0000001")

_VENDOR_DIALECT = (("rigol", "rigol"), ("keysight", "keysight"), ("agilent", "keysight"), ("siglent", "siglent"))


def find_model(identity: Identity) -> ModelSpec:
    """The known model whose pattern matches ``identity.model``, else :data:`GENERIC` with the
    vendor's command set when the manufacturer is recognised."""
    for spec in MODELS:
        if re.search(spec.pattern, identity.model.strip(), re.IGNORECASE):
            return spec
    maker = identity.manufacturer.lower()
    dialect = next((d for vendor, d in _VENDOR_DIALECT if vendor in maker), "generic")
    return replace(GENERIC, model=identity.model or GENERIC.model,
                   manufacturer=identity.manufacturer or GENERIC.manufacturer, dialect=dialect)


def model_by_name(name: str) -> ModelSpec:
    """Look a model up by name (simulator construction, tests); raises on unknown names."""
    for spec in (*MODELS, GENERIC):
        if spec.model.lower() == name.lower() or re.search(spec.pattern or "^$", name, re.IGNORECASE):
            return spec
    known = ", ".join(s.model for s in (*MODELS, GENERIC))
    raise ConfigValidationError(f"unknown SCPI PSU model {name!r}", path="model", hint=f"Known models: {known}.")


def _per_channel(value: Any, count: int, name: str) -> list[float | None]:
    if value is None:
        return [None] * count
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [float(value)] * count
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == count:
        try:
            return [None if v is None else float(v) for v in value]
        except (TypeError, ValueError):
            pass
    raise ConfigValidationError(f"{name} must be a number or a list of {count} numbers, got {value!r}",
                                path=f"options.{name}", hint=f"e.g. {name}=30 or {name}=[30, 30, 5].")


def apply_options(spec: ModelSpec, options: Mapping[str, Any]) -> ModelSpec:
    """Apply user overrides: ``channels`` (count), ``max_voltage``/``max_current`` (number or
    per-channel list) and ``dialect`` (rigol, keysight, keysight_single, siglent, generic)."""
    channels = list(spec.channels)
    count = options.get("channels")
    if count is not None:
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 8:
            raise ConfigValidationError(f"channels must be an integer 1…8, got {count!r}", path="options.channels",
                                        hint="Give the number of outputs the supply has.")
        channels = [channels[i] if i < len(channels) else channels[-1] for i in range(count)]
    volts = _per_channel(options.get("max_voltage"), len(channels), "max_voltage")
    amps = _per_channel(options.get("max_current"), len(channels), "max_current")
    for i, (v, a) in enumerate(zip(volts, amps, strict=True)):
        if (v is not None and v <= 0) or (a is not None and a <= 0):
            raise ConfigValidationError("max_voltage and max_current must be positive",
                                        path="options.max_voltage" if v is not None and v <= 0
                                        else "options.max_current", hint="Use the supply's rated maximum.")
        channels[i] = replace(channels[i], v_max=v if v is not None else channels[i].v_max,
                              i_max=a if a is not None else channels[i].i_max)
    dialect = options.get("dialect", spec.dialect)
    if dialect not in DIALECTS:
        raise ConfigValidationError(f"unknown dialect {dialect!r}", path="options.dialect",
                                    hint=f"Choose one of: {', '.join(DIALECTS)}.")
    if dialect in ("keysight_single",) and len(channels) > 1:
        dialect = "keysight"
    return replace(spec, channels=tuple(channels), dialect=dialect)
