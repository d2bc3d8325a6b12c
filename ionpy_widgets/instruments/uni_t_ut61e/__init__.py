"""UNI-T UT61E+ / UT61B+ / UT61D+ / UT161 multimeters over their HID-UART cables: driver and protocol.

The simulator lives in :mod:`.sim` and is not imported here, so loading the driver never pulls in
simulator code.
"""

from .driver import ENTITIES, Ut61ePlusDriver, entities_for_unit
from .protocol import KEY_NAMES, MODE_NAMES, Key, Measurement, parse_measurement

__all__ = ["ENTITIES", "KEY_NAMES", "MODE_NAMES", "Key", "Measurement", "Ut61ePlusDriver", "entities_for_unit",
           "parse_measurement"]
