"""The config file's top-level sections besides ``devices`` and ``engine``: ``version``, ``logging``,
``storage`` and ``history``. Device entries are checked in :mod:`.validate`, the engine settings in
:mod:`.settings`; :class:`~.config.LabConfig` puts them together (the one validator).

Shape (every section optional)::

    version: 1                      # written by the ConfigManager; files without it are version 0
    logging: {level: INFO}          # level of the ``ionpy_widgets`` logger while the lab runs
    storage:                        # where the runtime files live
      folder: .                     # relative to the config file's folder (default: that folder)
      state: device_state.json      # persisted setpoints; false = keep nothing
      journal: journal.sqlite       # the journal of writes and lifecycle events; false = none
      autosave_interval: 5          # seconds between state saves (when something changed)
    history:                        # record every start of this bench (see HistoryConfig)
      path: history.sqlite          # relative to the config file's folder
      enabled: true                 # optional; false keeps the path but records nothing
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigValidationError

#: The version this code writes; older files are migrated (:mod:`.config_migrations`).
CONFIG_VERSION = 1
TOP_LEVEL_KEYS = ("version", "devices", "engine", "logging", "storage", "history")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
STORAGE_KEYS = ("folder", "state", "journal", "autosave_interval")
HISTORY_KEYS = ("path", "enabled")


def check_version(data: Mapping[str, Any]) -> int:
    """The file's ``version`` (0 when absent); a newer or malformed one raises with path ``version``."""
    value = data.get("version", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigValidationError(f"must be a whole number, got {value!r}", path="version",
                                    hint=f"This ionpy_widgets writes `version: {CONFIG_VERSION}`.")
    if value > CONFIG_VERSION:
        raise ConfigValidationError(f"version {value} is newer than this ionpy_widgets understands "
                                    f"(up to {CONFIG_VERSION})", path="version",
                                    hint="Upgrade ionpy_widgets, or use a copy of the file written by this version.")
    return int(value)


def _section(data: Any, path: str, keys: tuple[str, ...]) -> Mapping[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigValidationError("must be a mapping", path=path, hint=f"Keys: {', '.join(keys)}.")
    for key in data:
        if key not in keys:
            raise ConfigValidationError(f"unknown key {key!r}", path=f"{path}.{key}",
                                        hint=f"`{path}` takes: {', '.join(keys)}.")
    return data


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """``logging:`` — the level of the ``ionpy_widgets`` logger while a lab runs (None: leave it)."""

    level: str | None = None

    @classmethod
    def from_mapping(cls, data: Any, *, path: str = "logging") -> LoggingConfig:
        section = _section(data, path, ("level",))
        level = section.get("level")
        if level is None:
            return cls()
        if not isinstance(level, str) or level.upper() not in LOG_LEVELS:
            raise ConfigValidationError(f"unknown log level {level!r}", path=f"{path}.level",
                                        hint=f"One of: {', '.join(LOG_LEVELS)}.")
        return cls(level.upper())

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level} if self.level else {}


def _file_name(value: Any, default: str, path: str) -> str | None:
    if value is None:
        return default
    if value is False:
        return None
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise ConfigValidationError(f"must be a file name or false, got {value!r}", path=path,
                                    hint=f"For example `{path.rpartition('.')[2]}: {default}`, or `false` for none.")
    return value


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """``storage:`` — where the state file and the journal live (see the module docstring)."""

    folder: str | None = None
    state: str | None = "device_state.json"
    journal: str | None = "journal.sqlite"
    autosave_interval: float = 5.0
    #: Whether the section was given at all (a dict config without it keeps no files).
    explicit: bool = False

    @classmethod
    def from_mapping(cls, data: Any, *, path: str = "storage") -> StorageConfig:
        section = _section(data, path, STORAGE_KEYS)
        folder = section.get("folder")
        if folder is not None and (not isinstance(folder, str) or not folder.strip() or "\0" in folder):
            raise ConfigValidationError(f"must be a folder path, got {folder!r}", path=f"{path}.folder",
                                        hint="For example `folder: data` (relative to the config file).")
        interval = section.get("autosave_interval", 5.0)
        if isinstance(interval, bool) or not isinstance(interval, int | float) or not 0.1 <= interval <= 3600:
            raise ConfigValidationError(f"must be a number of seconds between 0.1 and 3600, got {interval!r}",
                                        path=f"{path}.autosave_interval", hint="For example `autosave_interval: 5`.")
        return cls(folder, _file_name(section.get("state"), "device_state.json", f"{path}.state"),
                   _file_name(section.get("journal"), "journal.sqlite", f"{path}.journal"), float(interval),
                   data is not None)

    def folder_for(self, config_path: Path | None) -> Path | None:
        """The folder of the runtime files: ``folder`` (relative to the config file's folder), else
        the config file's folder; None for a dict config without ``storage:`` (nothing is kept)."""
        base = config_path.parent if config_path is not None else None
        if self.folder is not None:
            folder = Path(self.folder).expanduser()
            return folder if folder.is_absolute() or base is None else base / folder
        if base is None and self.explicit:
            return Path.cwd()
        return base

    def paths(self, config_path: Path | None) -> tuple[Path | None, Path | None]:
        """``(state file, journal file)``; None where nothing is kept."""
        folder = self.folder_for(config_path)
        if folder is None:
            return None, None
        state = folder / self.state if self.state else None
        journal = folder / self.journal if self.journal else None
        return state, journal


@dataclass(frozen=True, slots=True)
class HistoryConfig:
    """``history:`` — the recording every start of this lab writes to (``Lab.start(..., record=)``
    without the argument). ``path`` is kept as written; :meth:`target` resolves it: relative to the
    config file's folder, or to the working directory for a dict config. Absent, or ``enabled:
    false``: the lab records only when asked (``record=``, ``lab.record``, a run)."""

    path: str | None = None
    enabled: bool = True

    @classmethod
    def from_mapping(cls, data: Any, *, path: str = "history") -> HistoryConfig:
        if isinstance(data, bool):
            raise ConfigValidationError(f"must be a mapping with `path`, got {str(data).lower()}", path=path,
                                        hint="Write `history: {path: history.sqlite}`; leave the section out "
                                             "(or add `enabled: false`) to record only when asked.")
        section = _section(data, path, HISTORY_KEYS)
        if data is None:
            return cls()
        file = section.get("path")
        if not isinstance(file, str) or not file.strip() or "\0" in file or file.rstrip().endswith(("/", "\\")):
            what = "missing `path`" if file is None else f"must be the path of a file, got {file!r}"
            raise ConfigValidationError(what, path=f"{path}.path",
                                        hint="For example `path: history.sqlite` (relative to the config file's "
                                             "folder) or an absolute path.")
        enabled = section.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigValidationError(f"must be true or false, got {enabled!r}", path=f"{path}.enabled",
                                        hint="Write `enabled: true` or `enabled: false`.")
        return cls(str(file), enabled)

    def target(self, config_path: Path | None) -> Path | None:
        """The absolute file to record to, or None when the section is absent or disabled."""
        if self.path is None or not self.enabled:
            return None
        file = Path(self.path).expanduser()
        if not file.is_absolute():
            file = (config_path.parent if config_path is not None else Path.cwd()) / file
        return file.resolve()

    def to_dict(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        return {"path": self.path} if self.enabled else {"path": self.path, "enabled": False}


__all__ = ["CONFIG_VERSION", "LOG_LEVELS", "TOP_LEVEL_KEYS", "HistoryConfig", "LoggingConfig", "StorageConfig",
           "check_version"]
