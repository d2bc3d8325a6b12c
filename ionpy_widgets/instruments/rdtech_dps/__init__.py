"""RD Tech (Ruideng) DPS/DPH power supplies over Modbus RTU: driver, protocol, models, simulator.

The simulator lives in :mod:`.sim` and is not imported here, so loading the driver never pulls in
simulator code.
"""

from .driver import DPSDriver
from .models import MODELS, DpsModel, UnknownModelError, model_by_id, model_by_name

__all__ = ["MODELS", "DPSDriver", "DpsModel", "UnknownModelError", "model_by_id", "model_by_name"]
