"""ionpy_widgets: JupyterLab as a lab-bench instrument station.

>>> import ionpy_widgets as ion
>>> lab = await ion.Lab.start("lab.yaml")      # or: lab = await ion.start("lab.yaml")
>>> await lab["DPS5005_1"].write("u_set", 5.0)

The public names are imported lazily, so ``import ionpy_widgets.framing`` (or any other layer)
does not pull in the engine.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from . import errors

if TYPE_CHECKING:
    from .driver.base import Driver
    from .driver.entity import AlarmLimits, EntityDescription
    from .driver.reading import Quality, Reading
    from .driver.registry import register as register_driver
    from .engine.alarm_model import AlarmState
    from .engine.config_manager import ConfigManager
    from .engine.journal import Journal
    from .engine.runs import RunRecord, list_runs, open_run
    from .engine.state import StateManager
    from .widgets.alarms import AlarmPanel
    from .widgets.lab_ui import Lab

__version__ = "0.1.0"

#: public name -> (module, attribute)
_LAZY: dict[str, tuple[str, str]] = {
    "Lab": (".widgets.lab_ui", "Lab"),
    "Reading": (".driver.reading", "Reading"),
    "Quality": (".driver.reading", "Quality"),
    "EntityDescription": (".driver.entity", "EntityDescription"),
    "Driver": (".driver.base", "Driver"),
    "register_driver": (".driver.registry", "register"),
    "ConfigManager": (".engine.config_manager", "ConfigManager"),
    "StateManager": (".engine.state", "StateManager"),
    "Journal": (".engine.journal", "Journal"),
    "open_run": (".engine.runs", "open_run"),
    "list_runs": (".engine.runs", "list_runs"),
    "RunRecord": (".engine.runs", "RunRecord"),
    "AlarmPanel": (".widgets.alarms", "AlarmPanel"),
    "AlarmState": (".engine.alarm_model", "AlarmState"),
    "AlarmLimits": (".driver.entity", "AlarmLimits"),
}


def start(config: Any = None, **kwargs: Any) -> Any:
    """Alias of :meth:`Lab.start`: ``lab = await ionpy_widgets.start("lab.yaml")``."""
    from .widgets.lab_ui import Lab

    return Lab.start(config, **kwargs)


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'ionpy_widgets' has no attribute {name!r}") from None
    value = getattr(import_module(module, __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [  # noqa: RUF022 - grouped by topic on purpose, sorted within each group
    # the engine
    "Lab",
    "start",

    # persistence: the config file, runtime state, the journal
    "ConfigManager",
    "Journal",
    "StateManager",

    # history: recorded runs, reopened offline
    "RunRecord",
    "list_runs",
    "open_run",

    # alarms: lab.alarms(), lab.alarm_state, lab.acknowledge(...), lab.shelve(...)
    "AlarmPanel",
    "AlarmState",

    # errors (``ionpy_widgets.errors.LimitError`` ...)
    "errors",

    # readings
    "Quality",
    "Reading",

    # writing drivers
    "AlarmLimits",
    "Driver",
    "EntityDescription",
    "register_driver",
]
