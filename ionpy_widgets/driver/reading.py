"""Readings: one value of one entity of one device at one time, with its quality."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Quality(StrEnum):
    GOOD = "good"
    #: Value is plausible but came with a warning (e.g. a protection trip is active).
    UNCERTAIN = "uncertain"
    #: The last poll failed; value is the last good one.
    STALE = "stale"
    BAD = "bad"


@dataclass(frozen=True, slots=True)
class Reading:
    device: str
    entity: str
    value: Any
    unit: str
    #: Wall-clock seconds since the epoch (time.time()).
    timestamp: float
    quality: Quality = Quality.GOOD

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "entity": self.entity,
            "value": self.value,
            "unit": self.unit,
            "timestamp": self.timestamp,
            "quality": self.quality.value,
        }


@dataclass(frozen=True, slots=True)
class Identity:
    """What an instrument says about itself (``*IDN?``, a model register, ...)."""

    manufacturer: str = ""
    model: str = ""
    serial: str = ""
    firmware: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"manufacturer": self.manufacturer, "model": self.model, "serial": self.serial,
                "firmware": self.firmware}
