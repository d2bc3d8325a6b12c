"""The simulator catalog: which behaving simulators exist and how to build one by name.

Simulators are named by instrument family (``dps5005``, ``scpi_psu``). Targets are stored as
``"module:Class"`` strings relative to :mod:`ionpy_widgets.instruments` and imported only when
asked for, so listing the catalog never imports a family (and a family that fails to import
shows up as an error on that one entry instead of breaking the others).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from ..errors import UnknownDriverError
from .simhost import Simulator

#: Family name (lower case) -> ``"module:Class"`` under ``ionpy_widgets.instruments``.
SIMULATORS: dict[str, str] = {
    "dps5005": "rdtech_dps.sim:DpsSimulator",
    "scpi_psu": "scpi_psu.sim:ScpiPsuSimulator",
    "ut61e_plus": "uni_t_ut61e.sim:Ut61ePlusSimulator",
}

_PACKAGE = __name__.rpartition(".")[0]


class UnknownSimulatorError(UnknownDriverError):
    """No simulator of that family exists in the catalog."""

    code = "simulator_unknown"
    default_hint = "Run `ionpy info` to list the simulators."


@dataclass(frozen=True, slots=True)
class SimulatorEntry:
    """One catalog row: the family name, its import target and, if it cannot be loaded, why."""

    name: str
    target: str
    description: str = ""
    error: str = ""

    def to_dict(self) -> dict[str, str]:
        data = {"name": self.name, "target": self.target, "description": self.description}
        if self.error:
            data["error"] = self.error
        return data


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def simulator_class(name: str) -> type[Simulator]:
    """The simulator class for family ``name`` (case-insensitive, ``-`` and ``_`` alike).

    Raises :class:`UnknownSimulatorError` (a :class:`~ionpy_widgets.errors.UnknownDriverError`)
    with the known names in its hint.
    """
    key = _normalise(name)
    if key not in SIMULATORS:
        raise UnknownSimulatorError(
            f"unknown simulator {name!r}", simulator=name,
            hint=f"Known simulators: {', '.join(sorted(SIMULATORS))}.",
        )
    module, _, attr = SIMULATORS[key].partition(":")
    cls = getattr(import_module(f"{_PACKAGE}.{module}"), attr)
    if not (isinstance(cls, type) and issubclass(cls, Simulator)):
        raise TypeError(f"{SIMULATORS[key]} is not a Simulator subclass")
    return cls


def make_simulator(name: str, **kwargs: Any) -> Simulator:
    """Build a simulator of family ``name`` with keyword options (``model=``, ``load_ohms=``, ...).

    Options the simulator does not accept raise :class:`TypeError` naming them and the accepted
    ones, so a CLI flag that does not apply to a family is reported rather than ignored.
    """
    cls = simulator_class(name)
    accepted = _accepted_options(cls)
    if accepted is not None:
        unknown = sorted(set(kwargs) - accepted)
        if unknown:
            raise TypeError(
                f"simulator {_normalise(name)!r} does not accept option(s) {', '.join(unknown)}; "
                f"it accepts: {', '.join(sorted(accepted)) or 'none'}"
            )
    return cls(**kwargs)


def simulator_options(name: str) -> set[str] | None:
    """Keyword options the simulator's constructor accepts (None: it takes ``**kwargs``)."""
    return _accepted_options(simulator_class(name))


def _accepted_options(cls: type[Simulator]) -> set[str] | None:
    params = inspect.signature(cls.__init__).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params
            if p.name != "self" and p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)}


def _summary(cls: type) -> str:
    """First phrase of the class docstring, without reST markup or a trailing parenthesis."""
    text = " ".join((inspect.getdoc(cls) or "").split()).replace("``", "")
    return re.split(r"\s\(|\.\s|\.$", text, maxsplit=1)[0].strip()


def list_simulators() -> list[SimulatorEntry]:
    """Every catalog entry, sorted by name; entries whose module fails to import carry ``error``."""
    entries = []
    for name in sorted(SIMULATORS):
        target = f"{_PACKAGE}.{SIMULATORS[name]}"
        try:
            cls = simulator_class(name)
        except Exception as exc:  # one broken family must not hide the others
            entries.append(SimulatorEntry(name, target, error=f"{type(exc).__name__}: {exc}"))
            continue
        entries.append(SimulatorEntry(name, target, description=_summary(cls)))
    return entries


__all__ = [
    "SIMULATORS",
    "SimulatorEntry",
    "UnknownSimulatorError",
    "list_simulators",
    "make_simulator",
    "simulator_class",
    "simulator_options",
]
