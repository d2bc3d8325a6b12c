"""The RD Tech DPS/DPH models: identity register value, decimals and full-scale limits.

Facts come from shared/reference/protocols.md §1.2-§1.4 (sigrok ``rdtech-dps/api.c`` range table,
the vendor "CNC Communication Protocol V1.2" document, lambcutlet's ``dps5005_limits.ini``).

Power decimals are the one conflict: sigrok divides POWER by 100 on every model, the vendor
document says "1 or 2". A 2-decimal power register cannot hold the full scale of the 15 A and
20 A models (750 W x 100 = 75 000 and 1000 W x 100 = 100 000 exceed 0xFFFF), so this module uses
**1 decimal for DPS5015/DPS5020 and 2 for the 5 A models** (an inference; verify on hardware).
The S-OPP protection threshold uses 1 decimal on every model (vendor document, lambcutlet).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ...errors import DeviceError


class UnknownModelError(DeviceError):
    """The MODEL register (or a model name) is not one this driver knows."""

    code = "dps_model_unknown"


@dataclass(frozen=True, slots=True)
class DpsModel:
    """One model of the family.

    ``model_id`` is what register 0x000B reports; the ``*_decimals`` fields say how many implied
    decimal places the raw register values carry (engineering value = raw / 10**decimals).
    """

    name: str
    model_id: int
    v_decimals: int
    i_decimals: int
    p_decimals: int
    max_v: float
    max_i: float
    max_p: float
    #: S-OPP (over-power threshold in memory groups) decimals; 1 on every model.
    opp_decimals: int = 1
    #: Input-voltage (UIN) decimals; 2 on every model.
    uin_decimals: int = 2

    @property
    def v_step(self) -> float:
        """Smallest voltage step the setpoint register can express."""
        return 10.0 ** -self.v_decimals

    @property
    def i_step(self) -> float:
        """Smallest current step the setpoint register can express."""
        return 10.0 ** -self.i_decimals

    def raw_limit_v(self) -> int:
        """Largest raw U-SET / S-OVP value the model accepts."""
        return round(self.max_v * 10**self.v_decimals)

    def raw_limit_i(self) -> int:
        """Largest raw I-SET / S-OCP value the model accepts."""
        return round(self.max_i * 10**self.i_decimals)

    def raw_limit_p(self) -> int:
        """Largest raw S-OPP value the model accepts."""
        return round(self.max_p * 10**self.opp_decimals)


_ALL = (
    DpsModel("DPS3005", 3005, v_decimals=2, i_decimals=3, p_decimals=2, max_v=30.0, max_i=5.0, max_p=160.0),
    DpsModel("DPS5005", 5005, v_decimals=2, i_decimals=3, p_decimals=2, max_v=50.0, max_i=5.0, max_p=250.0),
    DpsModel("DPH5005", 5205, v_decimals=2, i_decimals=3, p_decimals=2, max_v=50.0, max_i=5.0, max_p=250.0),
    DpsModel("DPS5015", 5015, v_decimals=2, i_decimals=2, p_decimals=1, max_v=50.0, max_i=15.0, max_p=750.0),
    DpsModel("DPS5020", 5020, v_decimals=2, i_decimals=2, p_decimals=1, max_v=50.0, max_i=20.0, max_p=1000.0),
    DpsModel("DPS8005", 8005, v_decimals=2, i_decimals=3, p_decimals=2, max_v=80.0, max_i=5.0, max_p=408.0),
)

#: Models by name ("DPS5005", ...).
MODELS: Mapping[str, DpsModel] = MappingProxyType({m.name: m for m in _ALL})
#: Models by MODEL register value (5005, 5205, ...).
MODELS_BY_ID: Mapping[int, DpsModel] = MappingProxyType({m.model_id: m for m in _ALL})


def _supported() -> str:
    return ", ".join(f"{m.name} ({m.model_id})" for m in _ALL)


def model_by_id(model_id: int) -> DpsModel:
    """The model whose MODEL register reads ``model_id``; :class:`UnknownModelError` otherwise."""
    try:
        return MODELS_BY_ID[model_id]
    except KeyError:
        raise UnknownModelError(
            f"the instrument reports model number {model_id}, which this driver does not know",
            model_id=model_id,
            hint=f"Supported models (MODEL register): {_supported()}. If the number looks random, check the "
                 "slave id and baud rate; otherwise this may be a Riden RD60xx (use its own driver).",
        ) from None


def model_by_name(name: str) -> DpsModel:
    """The model called ``name`` (case-insensitive, e.g. ``"dps5015"``)."""
    try:
        return MODELS[name.strip().upper()]
    except KeyError:
        raise UnknownModelError(f"unknown DPS model {name!r}", model=name,
                                hint=f"Choose one of: {_supported()}.") from None


__all__ = ["MODELS", "MODELS_BY_ID", "DpsModel", "UnknownModelError", "model_by_id", "model_by_name"]
