"""Engine settings (timeouts, reconnect backoff, watchdog) and the backoff schedule itself.

The defaults suit real instruments; tests shrink them (``EngineSettings(backoff_initial=0.02, ...)``).
In ``lab.yaml`` they live under an optional top-level ``engine:`` mapping.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from ..errors import ConfigValidationError


@dataclass(frozen=True, slots=True)
class EngineSettings:
    #: First reconnect delay after a failure (seconds); doubles (``backoff_factor``) up to ``backoff_max``.
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    backoff_factor: float = 2.0
    #: Relative random spread of each delay (0.1 = ±10 %), so many devices do not retry in lockstep.
    backoff_jitter: float = 0.1
    #: Longest time ``driver.connect()`` (open + identify) may take.
    connect_timeout: float = 10.0
    #: Longest time one ``driver.poll()`` may take before it counts as failed.
    poll_timeout: float = 10.0
    #: Consecutive failed polls (timeouts, bad replies) before a device is declared unavailable and
    #: reconnected. A lost connection (transport error) counts as unavailable at once.
    max_poll_failures: int = 3
    #: Longest time closing one device may take at shutdown or removal.
    close_timeout: float = 2.0
    #: Event-loop lag above which the watchdog records a stall.
    stall_threshold: float = 0.5
    #: How often the watchdog measures the loop lag.
    watchdog_interval: float = 0.1

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "max_poll_failures":
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
                want = "an integer >= 1"
            elif f.name == "backoff_jitter":
                ok = _number(value) and 0 <= value < 1
                want = "a number in [0, 1)"
            elif f.name == "backoff_factor":
                ok = _number(value) and value >= 1
                want = "a number >= 1"
            else:
                ok = _number(value) and value > 0
                want = "a positive number of seconds"
            if not ok:
                raise ConfigValidationError(f"{f.name} must be {want}, got {value!r}", path=f"engine.{f.name}",
                                            hint=f"Default: {f.default!r}.")
        if self.backoff_max < self.backoff_initial:
            raise ConfigValidationError("backoff_max must be >= backoff_initial", path="engine.backoff_max",
                                        hint=f"Use at least {self.backoff_initial}.")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, *, path: str = "engine") -> EngineSettings:
        """Settings from a config mapping; unknown keys are errors naming the field."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ConfigValidationError("must be a mapping of setting: value", path=path,
                                        hint="For example `engine: {backoff_max: 10, close_timeout: 2}`.")
        names = {f.name for f in fields(cls)}
        for key in data:
            if key not in names:
                raise ConfigValidationError(f"unknown setting {key!r}", path=f"{path}.{key}",
                                            hint=f"Known settings: {', '.join(sorted(names))}.")
        try:
            return cls(**{str(k): v for k, v in data.items()})
        except ConfigValidationError as exc:
            field = exc.path.rpartition(".")[2]
            raise ConfigValidationError(exc.message.partition(": ")[2], path=f"{path}.{field}",
                                        hint=exc.hint) from None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Backoff:
    """Exponential backoff with jitter: ``initial, initial*factor, ...`` capped at ``maximum``;
    ``reset()`` after a success starts again from ``initial``."""

    def __init__(self, initial: float, maximum: float, factor: float = 2.0, jitter: float = 0.1,
                 rng: random.Random | None = None) -> None:
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.attempt = 0
        self._rng = rng or random.Random()

    @classmethod
    def from_settings(cls, settings: EngineSettings) -> Backoff:
        return cls(settings.backoff_initial, settings.backoff_max, settings.backoff_factor, settings.backoff_jitter)

    def next_delay(self) -> float:
        base = min(self.maximum, self.initial * self.factor ** self.attempt)
        if base < self.maximum:  # stop growing the exponent once capped (no float overflow)
            self.attempt += 1
        if self.jitter:
            base *= 1 + self._rng.uniform(-self.jitter, self.jitter)
        return max(0.0, base)

    def reset(self) -> None:
        self.attempt = 0


__all__ = ["Backoff", "EngineSettings"]
