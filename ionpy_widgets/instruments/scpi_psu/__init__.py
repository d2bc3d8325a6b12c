"""Generic SCPI bench power supplies (Rigol DP800, Keysight E36xx, Siglent SPD, others).

``ScpiPsuDriver`` (driver name ``SCPI_PSU``) talks newline-terminated SCPI over a raw socket
(port 5025) or VISA; ``ScpiPsuSimulator`` is the behaving byte-level double used by tests and demos.
"""

from pathlib import Path

from .models import GENERIC, MODELS, ChannelSpec, ModelSpec, find_model
from .protocol import DIALECTS, Dialect, parse_error, parse_idn, parse_number

#: pyvisa-sim definition of a DP832-like supply: ``ResourceManager(f"{VISA_SIM_YAML}@sim")``.
VISA_SIM_YAML = Path(__file__).with_name("visa_sim.yaml")

__all__ = [
    "DIALECTS",
    "GENERIC",
    "MODELS",
    "VISA_SIM_YAML",
    "ChannelSpec",
    "Dialect",
    "ModelSpec",
    "find_model",
    "parse_error",
    "parse_idn",
    "parse_number",
]
