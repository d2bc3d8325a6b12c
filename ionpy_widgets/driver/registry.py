"""Driver registry: built-in drivers and any package's drivers through an entry-point group.

Other packages add drivers with::

    [project.entry-points."ionpy_widgets.drivers"]
    MY_LOAD = "my_pkg.driver:MyLoad"
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import import_module
from importlib.metadata import entry_points

from ..errors import UnknownDriverError
from .base import Driver

GROUP = "ionpy_widgets.drivers"

#: Built-ins, so the package works even when run from a source tree without installed metadata.
BUILTIN: dict[str, str] = {
    "DPS5005": "ionpy_widgets.instruments.rdtech_dps.driver:DPSDriver",
    "SCPI_PSU": "ionpy_widgets.instruments.scpi_psu.driver:ScpiPsuDriver",
    "UT61E_PLUS": "ionpy_widgets.instruments.uni_t_ut61e.driver:Ut61ePlusDriver",
    "V01_Battery": "ionpy_widgets.instruments.virtual_battery.driver:VirtualBatteryDriver",
}

_extra: dict[str, type[Driver]] = {}


@dataclass(frozen=True, slots=True)
class DriverEntry:
    name: str
    target: str
    source: str  # "builtin", "entry-point" or "registered"
    error: str = ""


def register(cls: type[Driver]) -> type[Driver]:
    """Register a driver class at run time (handy in notebooks and tests)."""
    _extra[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    _extra.pop(name, None)


@cache
def _targets() -> dict[str, tuple[str, str]]:
    """Built-ins plus entry points, read once per process (``refresh()`` re-reads them)."""
    found = {name: (target, "builtin") for name, target in BUILTIN.items()}
    for ep in entry_points(group=GROUP):
        if ep.value != found.get(ep.name, ("", ""))[0]:
            found[ep.name] = (ep.value, "entry-point")
    return found


def refresh() -> None:
    """Forget the cached entry points (after installing a driver package into a running kernel)."""
    _targets.cache_clear()


def _load(target: str) -> type[Driver]:
    module, _, attr = target.partition(":")
    obj = getattr(import_module(module), attr)
    if not (isinstance(obj, type) and issubclass(obj, Driver)):
        raise TypeError(f"{target} is not a Driver subclass")
    return obj


def get_driver(name: str) -> type[Driver]:
    if name in _extra:
        return _extra[name]
    targets = _targets()
    if name not in targets:
        refresh()  # a driver package may have been installed since the first look
        targets = _targets()
    if name not in targets:
        raise UnknownDriverError(f"unknown driver {name!r}", driver=name,
                                 hint=f"Installed drivers: {', '.join(sorted(set(targets) | set(_extra)))}.")
    return _load(targets[name][0])


def list_drivers() -> list[DriverEntry]:
    entries = []
    for name, (target, source) in sorted(_targets().items()):
        try:
            _load(target)
            entries.append(DriverEntry(name, target, source))
        except Exception as exc:  # a broken plugin must not hide the others
            entries.append(DriverEntry(name, target, source, error=f"{type(exc).__name__}: {exc}"))
    entries.extend(DriverEntry(n, f"{c.__module__}:{c.__qualname__}", "registered") for n, c in _extra.items())
    return entries


def driver_classes() -> dict[str, type[Driver]]:
    """Every loadable driver class by name (broken plugins are skipped)."""
    out = {e.name: get_driver(e.name) for e in list_drivers() if not e.error}
    return out
