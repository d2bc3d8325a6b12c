"""Virtual Li-ion battery (driver name ``V01_Battery``): a pure-software instrument for demos and
tests, with a believable discharge model (:mod:`.model`)."""

from .model import NMC_OCV, BatteryModel, BatteryParams, State, ocv_cell

__all__ = ["NMC_OCV", "BatteryModel", "BatteryParams", "State", "ocv_cell"]
