"""``lab.yaml``: loading and validating the lab configuration, with field-path errors.

Shape::

    engine: {backoff_max: 10}          # optional, see EngineSettings
    devices:
      - id: DPS5005_1
        driver: DPS5005
        poll_interval: 0.5             # optional; default: the driver's default_poll_interval
        enabled: true                  # optional
        transport: {type: serial, params: {port: /dev/ttyUSB0, baudrate: 9600}}
        framing: {type: modbus_rtu, params: {slave_id: 1}}   # optional: the driver's blueprint
        options: {}                    # optional driver options
        link: {timeout: 1.0, retries: 1}                     # optional

Every problem raises :class:`~ionpy_widgets.errors.ConfigValidationError` whose ``path`` names the
field (``devices[1].transport.params.port``) and whose hint says what to write instead. The file is
read with ruamel.yaml's round-trip loader and the document is kept on :attr:`LabConfig.document`,
so a later writer can keep the user's comments and ordering.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from ..errors import ConfigValidationError
from .settings import EngineSettings
from .validate import check_device_mapping, plain

TOP_LEVEL_KEYS = ("devices", "engine")
EMPTY_CONFIG = "# ionpy_widgets lab configuration: one entry per instrument under `devices`.\ndevices: []\n"


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
        return data


@dataclass(slots=True)
class LabConfig:
    devices: list[DeviceConfig] = field(default_factory=list)
    engine: EngineSettings = field(default_factory=EngineSettings)
    #: The file it came from (None for a dict config).
    path: Path | None = None
    #: The ruamel round-trip document (comments and order preserved), None for dict configs.
    document: Any = None

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
        """Validate a whole lab config mapping (``{"devices": [...], "engine": {...}}``)."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigValidationError("the top level must be a mapping with a `devices` list", path="",
                                        hint="Start the file with `devices:` followed by `- id: ...` entries.")
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
        return cls(devices, engine, path, document)


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
    """Create an empty config (``devices: []``) when ``path`` does not exist; True if created."""
    file = Path(path).expanduser()
    if file.exists():
        return False
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(EMPTY_CONFIG, encoding="utf-8")
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


__all__ = ["DeviceConfig", "LabConfig", "ensure_config_file", "load_lab_config"]
