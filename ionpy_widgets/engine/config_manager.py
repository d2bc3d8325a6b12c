"""``ConfigManager``: the only code that reads and writes the lab's config file (``config.yaml``).

>>> cm = ConfigManager("config.yaml")       # created (empty) when missing
>>> cm.load().ids
['DPS5005_1']
>>> cm.add_device({"id": "BAT", "driver": "V01_Battery"})
>>> cm.set_device_enabled("BAT", False)
>>> cm.remove_device("BAT")

Every edit reads the file afresh (a hand edit made meanwhile is kept, not overwritten), applies
the change to the ruamel round-trip document in place — the user's comments, key order, quoting
and layout survive (:mod:`.config_document`) — validates the *whole* result with the one validator
(:class:`~.config.LabConfig`) and only then writes it: atomically (temporary file in the same
folder, fsync, ``os.replace``) after copying the previous version to ``config.yaml.bak``. An
invalid edit, or a file that is already invalid, raises :class:`ConfigValidationError` naming the
field and writes nothing. Files of an older ``version`` are migrated in memory when loaded and
saved in the new form with the next write (or :meth:`ConfigManager.save`).

The methods are synchronous and thread-safe (one lock); the engine calls them from a worker thread
so that an fsync never stalls the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from ..errors import ConfigValidationError, DeviceDuplicateError, DeviceNotFoundError
from .atomic import atomic_write_text, remove_stale_temps
from .config import DeviceConfig, LabConfig, ensure_config_file, parse_lab_config
from .config_document import append_entry, dump, make_yaml, new_entry, remove_entry, update_mapping, uses_flow_sections
from .validate import plain

T = TypeVar("T")


def entry_dict(conf: Mapping[str, Any] | DeviceConfig) -> dict[str, Any]:
    """The mapping written for ``conf``: a DeviceConfig without its defaults, a dict as given
    (plain values, ``None`` values left out)."""
    if isinstance(conf, DeviceConfig):
        return conf.to_dict()
    if not isinstance(conf, Mapping):
        raise ConfigValidationError("a device entry must be a mapping", path="",
                                    hint="Pass a dict such as {'id': 'BAT', 'driver': 'V01_Battery'}.")
    return {str(k): plain(v) for k, v in conf.items() if v is not None}


class ConfigManager:
    """Reads, validates and edits one config file (see the module docstring)."""

    def __init__(self, path: str | Path, *, create: bool = True, check_stack: bool = True) -> None:
        self.path = Path(path).expanduser().absolute()
        #: Create an empty config when the file is missing (``Lab.start`` does).
        self.create = create
        #: Also build each enabled device's stack (without I/O) to check transport/framing params.
        self.check_stack = check_stack
        self._lock = threading.RLock()
        self._config: LabConfig | None = None
        self._text: str | None = None

    # --- reading ----------------------------------------------------------------------------
    def load(self) -> LabConfig:
        """Read, migrate (in memory) and validate the file; raises ConfigValidationError naming the field."""
        with self._lock:
            remove_stale_temps(self.path)  # left by a writer killed mid-save (the file itself is intact)
            text = self._read_text()
            self._config, self._text = parse_lab_config(text, self.path, check_stack=self.check_stack), text
            return self._config

    @property
    def config(self) -> LabConfig:
        """The last loaded or written configuration (loaded on first use)."""
        with self._lock:
            return self._config if self._config is not None else self.load()

    @property
    def text(self) -> str:
        """The file's text as last read or written by this manager."""
        with self._lock:
            if self._text is None:
                self.load()
            assert self._text is not None
            return self._text

    def get_devices(self) -> list[DeviceConfig]:
        """The validated device entries, in file order."""
        return list(self.config.devices)

    def get_device(self, device_id: str) -> DeviceConfig:
        for device in self.config.devices:
            if device.id == device_id:
                return device
        raise self._not_found(device_id, self.config)

    def file_ids(self) -> list[str]:
        """The device ids in the file as it is now: read and parsed, not validated (a cheap check
        before an edit; the edit itself validates everything)."""
        with self._lock:
            text = self._read_text()
        try:
            document = make_yaml(text).load(text)
        except YAMLError:
            return []
        devices = document.get("devices") if isinstance(document, Mapping) else None
        if not isinstance(devices, list):
            return []
        return [str(e["id"]) for e in devices if isinstance(e, Mapping) and isinstance(e.get("id"), str)]

    def __contains__(self, device_id: object) -> bool:
        return any(d.id == device_id for d in self.config.devices)

    # --- editing ----------------------------------------------------------------------------
    def add_device(self, conf: Mapping[str, Any] | DeviceConfig) -> DeviceConfig:
        """Validate ``conf`` (error paths relative to the entry: ``transport.params.port``) and
        append it to ``devices``. Raises DeviceDuplicateError when the id is taken."""
        data = entry_dict(conf)
        checked = DeviceConfig.from_mapping(data, check_stack=self.check_stack)

        def change(document: CommentedMap, config: LabConfig) -> DeviceConfig:
            if checked.id in config.ids:
                raise DeviceDuplicateError(f"device id {checked.id!r} is already in {self.path.name}",
                                           device=checked.id, file=str(self.path))
            append_entry(document, "devices", new_entry(data, flow=uses_flow_sections(document.get("devices"))))
            return checked

        return self._edit(change)

    def remove_device(self, device_id: str) -> DeviceConfig:
        """Delete the entry of ``device_id`` with its own comment lines; return what it was."""

        def change(document: CommentedMap, config: LabConfig) -> DeviceConfig:
            index = self._index(device_id, config)
            remove_entry(document, "devices", index)
            return config.devices[index]

        return self._edit(change)

    def update_device(self, device_id: str, conf: Mapping[str, Any] | DeviceConfig) -> DeviceConfig:
        """Replace the entry of ``device_id`` by ``conf`` (which may carry a new, unused id),
        editing it in place: unchanged values keep their comments and position."""
        data = entry_dict(conf)
        checked = DeviceConfig.from_mapping(data, check_stack=self.check_stack)

        def change(document: CommentedMap, config: LabConfig) -> DeviceConfig:
            index = self._index(device_id, config)
            if checked.id != device_id and checked.id in config.ids:
                raise DeviceDuplicateError(f"device id {checked.id!r} is already in {self.path.name}",
                                           device=checked.id, file=str(self.path))
            devices = document["devices"]
            update_mapping(devices[index], data, flow=uses_flow_sections(devices))
            return checked

        return self._edit(change)

    def set_device_enabled(self, device_id: str, enabled: bool) -> DeviceConfig:
        """Write ``enabled: false`` (or ``true``; an absent key already means enabled)."""
        if not isinstance(enabled, bool):
            raise ConfigValidationError(f"must be true or false, got {enabled!r}", path="enabled",
                                        hint="Call set_device_enabled(id, True) or (id, False).")

        def change(document: CommentedMap, config: LabConfig) -> DeviceConfig:
            index = self._index(device_id, config)
            entry = document["devices"][index]
            if "enabled" in entry or not enabled:
                update_mapping(entry, {**plain(entry), "enabled": enabled})
            return replace(config.devices[index], enabled=enabled)

        return self._edit(change)

    def save(self) -> Path:
        """Write the file as loaded (migrated to the current version when it was older)."""
        return self._edit(lambda document, config: self.path)

    # --- internals --------------------------------------------------------------------------
    def _read_text(self) -> str:
        if self.create:
            ensure_config_file(self.path)
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigValidationError(f"config file {str(self.path)!r} does not exist", path="", file=str(self.path),
                                        hint="Create it, or use ConfigManager(path, create=True).") from None
        except OSError as exc:
            raise ConfigValidationError(f"cannot read config file {str(self.path)!r}: {exc.strerror}", path="",
                                        file=str(self.path), hint="Check the path and its permissions.") from None

    def _edit(self, change: Callable[[CommentedMap, LabConfig], T]) -> T:
        """Read the file afresh, apply ``change`` to its document, validate the result, write it."""
        with self._lock:
            text = self._read_text()
            config = parse_lab_config(text, self.path, check_stack=self.check_stack)
            document = config.document if isinstance(config.document, CommentedMap) else CommentedMap()
            result = change(document, config)
            new_text = dump(make_yaml(text), document)
            new_config = parse_lab_config(new_text, self.path, check_stack=self.check_stack)
            if new_text != text:
                atomic_write_text(self.path, new_text)
            self._config, self._text = new_config, new_text
            return result

    def _index(self, device_id: str, config: LabConfig) -> int:
        for index, device in enumerate(config.devices):
            if device.id == device_id:
                return index
        raise self._not_found(device_id, config)

    def _not_found(self, device_id: str, config: LabConfig) -> DeviceNotFoundError:
        known = ", ".join(config.ids) or "none"
        return DeviceNotFoundError(f"no device {device_id!r} in {self.path.name}", device=device_id,
                                   file=str(self.path), hint=f"Devices in the file: {known}.")

    def __repr__(self) -> str:
        count = len(self._config.devices) if self._config is not None else "?"
        return f"<ConfigManager {self.path} ({count} devices)>"


__all__ = ["ConfigManager", "entry_dict"]
