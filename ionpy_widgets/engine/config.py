"""``lab.yaml``: loading and validating the lab configuration, with field-path errors.

Shape::

    version: 1                         # files without it are migrated (config_migrations)
    engine: {backoff_max: 10}          # optional, see EngineSettings
    logging: {level: INFO}             # optional, see config_schema
    storage: {state: device_state.json, journal: journal.sqlite}   # optional, see config_schema
    history: {path: history.sqlite}    # optional: every start records here, see config_schema
    devices:
      - id: DPS5005_1
        driver: DPS5005
        enabled: true                  # optional; false: kept in the file, never connected
        auto_start: true               # optional; false: built but started only by lab.start_device
        alias: Left supply             # optional descriptive text: alias, icon, description, location
        poll_interval: 0.5             # optional; default: the driver's default_poll_interval
        transport: {type: serial, params: {port: /dev/ttyUSB0, baudrate: 9600}}
        framing: {type: modbus_rtu, params: {slave_id: 1}}   # optional: the driver's blueprint
        options: {}                    # optional driver options
        link: {timeout: 1.0, retries: 1}                     # optional
        alarms: {u_out: {hihi: 13.0, hi: 12.5, deadband: 0.1, on_delay: 0.5, actions: {hihi: output_off}}}
        limits: {u_set: {max: 12}}                           # optional, see alarm_config

Every problem raises :class:`~ionpy_widgets.errors.ConfigValidationError` whose ``path`` names the
field (``devices[1].transport.params.port``) and whose hint says what to write instead. The file is
read with ruamel.yaml's round-trip loader and the document is kept on :attr:`LabConfig.document`,
so a later writer can keep the user's comments and ordering.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from ..errors import ConfigValidationError
from .atomic import atomic_write_text
from .config_migrations import migrate
from .config_schema import CONFIG_VERSION, TOP_LEVEL_KEYS, HistoryConfig, LoggingConfig, StorageConfig
from .settings import EngineSettings
from .validate import TEXT_KEYS, check_device_mapping, plain

EMPTY_CONFIG = (f"# ionpy_widgets lab configuration: one entry per instrument under `devices`.\n"
                f"version: {CONFIG_VERSION}\ndevices: []\n")


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """One validated device entry (plain Python values, no YAML types)."""

    id: str
    driver: str
    #: ``{"type": ..., "params": {...}}``; ``None`` for pure-software drivers (no link).
    transport: Mapping[str, Any] | None
    framing: Mapping[str, Any] | None = None
    enabled: bool = True
    poll_interval: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    link: Mapping[str, Any] = field(default_factory=dict)
    #: False: built at start but not connected until ``lab.start_device(id)``.
    auto_start: bool = True
    alias: str | None = None
    icon: str | None = None
    description: str | None = None
    location: str | None = None
    #: ``entity -> alarm settings`` (validated plain dicts, see :mod:`.alarm_config`).
    alarms: Mapping[str, Any] = field(default_factory=dict)
    #: ``setpoint -> {min, max, clamp}``: the user's own limits (see :mod:`.limits`).
    limits: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Any, *, path: str = "", check_stack: bool = True) -> DeviceConfig:
        """Validate one device dict (as given to ``lab.add_device``). ``path`` prefixes error paths
        (``devices[2]``); ``check_stack`` also builds the stack without I/O to validate the
        transport and framing params."""
        return cls(**check_device_mapping(data, path=path, check_stack=check_stack))

    def to_dict(self) -> dict[str, Any]:
        """The config dict (defaults left out), as it would appear in ``lab.yaml``."""
        data: dict[str, Any] = {"id": self.id, "driver": self.driver}
        if not self.enabled:
            data["enabled"] = False
        if not self.auto_start:
            data["auto_start"] = False
        for key in TEXT_KEYS:
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.poll_interval is not None:
            data["poll_interval"] = self.poll_interval
        if self.transport is not None:
            data["transport"] = plain(self.transport)
        if self.framing is not None:
            data["framing"] = plain(self.framing)
        if self.options:
            data["options"] = plain(self.options)
        if self.link:
            data["link"] = plain(self.link)
        if self.alarms:
            data["alarms"] = plain(self.alarms)
        if self.limits:
            data["limits"] = plain(self.limits)
        return data


@dataclass(slots=True)
class LabConfig:
    devices: list[DeviceConfig] = field(default_factory=list)
    engine: EngineSettings = field(default_factory=EngineSettings)
    #: The file it came from (None for a dict config).
    path: Path | None = None
    #: The ruamel round-trip document (comments and order preserved), None for dict configs.
    document: Any = None
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    #: The version the source had before migration (``CONFIG_VERSION`` when none was needed).
    migrated_from: int = CONFIG_VERSION
    #: What the migrations changed (one line each).
    migration_notes: list[str] = field(default_factory=list)
    #: Where every start of this lab records (``history:``); ``record=`` overrides it.
    history: HistoryConfig = field(default_factory=HistoryConfig)

    @property
    def ids(self) -> list[str]:
        return [d.id for d in self.devices]

    def device(self, device_id: str) -> DeviceConfig:
        for dev in self.devices:
            if dev.id == device_id:
                return dev
        raise KeyError(device_id)

    @classmethod
    def from_mapping(cls, data: Any, *, path: Path | None = None, document: Any = None,
                     check_stack: bool = True) -> LabConfig:
        """Validate a whole lab config mapping (``{"devices": [...], "engine": {...}}``).

        Older versions are migrated first: ``document`` (the round-trip document ``data`` came
        from) in place, any other mapping as a copy (the caller's dict is never changed)."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigValidationError("the top level must be a mapping with a `devices` list", path="",
                                        hint="Start the file with `devices:` followed by `- id: ...` entries.")
        if data is not document or not isinstance(data, MutableMapping):
            data = _migration_copy(data)
        old_version, notes = migrate(data)
        for key in data:
            if key not in TOP_LEVEL_KEYS:
                raise ConfigValidationError(f"unknown top-level key {key!r}", path=str(key),
                                            hint=f"Allowed top-level keys: {', '.join(TOP_LEVEL_KEYS)}.")
        devices_raw = data.get("devices")
        if devices_raw is None:
            devices_raw = []
        if isinstance(devices_raw, str | bytes) or not isinstance(devices_raw, list | tuple):
            raise ConfigValidationError("must be a list of device entries", path="devices",
                                        hint="Write `devices: []` or one `- id: ...` entry per device.")
        engine = EngineSettings.from_mapping(plain(data.get("engine")))
        devices: list[DeviceConfig] = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(devices_raw):
            where = f"devices[{index}]"
            dev = DeviceConfig.from_mapping(raw, path=where, check_stack=check_stack)
            if dev.id in seen:
                raise ConfigValidationError(f"duplicate device id {dev.id!r}", path=f"{where}.id",
                                            hint=f"Already used by devices[{seen[dev.id]}]; ids must be unique.")
            seen[dev.id] = index
            devices.append(dev)
        return cls(devices, engine, path, document, LoggingConfig.from_mapping(data.get("logging")),
                   StorageConfig.from_mapping(data.get("storage")), old_version, notes,
                   HistoryConfig.from_mapping(data.get("history")))


def _migration_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` that a migration may edit: the top level and each device entry are new
    dicts, the values are shared (options may hold objects that must stay the same, e.g. in tests)."""
    out = dict(data)
    devices = out.get("devices")
    if isinstance(devices, list | tuple):
        out["devices"] = [dict(e) if isinstance(e, Mapping) else e for e in devices]
    return out


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    return yaml


def load_lab_config(path: str | Path, *, check_stack: bool = True) -> LabConfig:
    """Read and validate ``lab.yaml``. Nothing is written; a missing file is an error here
    (:func:`ensure_config_file` creates an empty one, as ``Lab.start`` does)."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigValidationError(f"config file {str(file)!r} does not exist", path="", file=str(file),
                                    hint="Create it, or call `Lab.start(path)`, which creates an empty one.") from None
    except OSError as exc:
        raise ConfigValidationError(f"cannot read config file {str(file)!r}: {exc.strerror}", path="",
                                    file=str(file), hint="Check the path and its permissions.") from None
    return parse_lab_config(text, file, check_stack=check_stack)


def parse_lab_config(text: str, file: str | Path, *, check_stack: bool = True) -> LabConfig:
    """Parse and validate the text of config file ``file`` (older versions migrated in memory)."""
    file = Path(file).expanduser()
    try:
        document = _yaml().load(text)
    except YAMLError as exc:
        where = ""
        if isinstance(exc, MarkedYAMLError) and exc.problem_mark is not None:
            mark = exc.problem_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}: "
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigValidationError(f"{file.name} is not valid YAML: {where}{problem}", path="", file=str(file),
                                    hint="Check the indentation and the `key: value` syntax at that line.") from None
    try:
        return LabConfig.from_mapping(document, path=file.resolve(), document=document, check_stack=check_stack)
    except ConfigValidationError as exc:
        exc.details.setdefault("file", str(file))
        line = _line_of(document, exc.path)
        if line is not None:
            exc.details.setdefault("line", line)
        raise


def ensure_config_file(path: str | Path) -> bool:
    """Create an empty config (``devices: []``) when ``path`` does not exist, atomically; True if created."""
    file = Path(path).expanduser()
    if file.exists():
        return False
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(file, EMPTY_CONFIG, backup=False)
    return True


def _line_of(document: Any, path: str) -> int | None:
    """1-based line of the deepest node of ``path`` found in a round-trip document."""
    node, line = document, None
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        try:
            if part.startswith("["):
                index = int(part[1:-1])
                line = node.lc.item(index)[0] + 1
                node = node[index]
            else:
                line = node.lc.key(part)[0] + 1
                node = node[part]
        except (AttributeError, KeyError, IndexError, TypeError):
            break
    return line


__all__ = ["EMPTY_CONFIG", "DeviceConfig", "LabConfig", "ensure_config_file", "load_lab_config", "parse_lab_config"]
