"""Runtime values that survive a kernel restart: setpoints, limits, backlight, poll interval.

Only what the driver's entity table marks ``persist=True`` is kept, plus a few device settings
that have no entity (``poll_interval``). **Output switches are never stored and never restored**:
a restart must not switch anything on by itself.

Refusal policy (chosen on purpose): :meth:`StateManager.set` never raises for a value that must not
persist; it returns ``False`` and counts it in :attr:`StateManager.refused`, so the engine can call
it after every successful write without checking the entity first.

:meth:`StateManager.restore` only *returns* values; sending them to the instrument is the
engine's job. It filters against the entity table passed in, because a hand-edited file cannot be
trusted to say what is a switch.

File format (JSON, written atomically with a ``.bak`` of the previous version)::

    {"version": 1, "saved_at": "2025-01-31T12:00:00Z",
     "devices": {"psu1": {"u_set": 5.0, "i_set": 1.0, "poll_interval": 0.5}}}

A file that is not valid JSON or has the wrong shape is renamed to
``<name>.corrupt-<UTC time>`` and the manager starts empty, with a visible warning in
:attr:`StateManager.warnings_list` / :attr:`StateManager.last_warning` (and ``logging``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..driver.entity import EntityDescription, Role
from .atomic import StorageError, WarningLog, atomic_write_text, backup_path, move_aside, remove_stale_temps

__all__ = ["DEVICE_SETTINGS", "STATE_VERSION", "StateManager", "persistable"]

log = logging.getLogger(__name__)

STATE_VERSION = 1
#: Device-level settings without an entity description that may persist.
DEVICE_SETTINGS: frozenset[str] = frozenset({"poll_interval"})
_NEVER = (Role.SWITCH, Role.MEASUREMENT, Role.STATUS, Role.INFO)
_Scalar = (str, int, float, bool, type(None))


def persistable(entity: EntityDescription) -> bool:
    """True when ``entity`` may be stored: ``persist=True``, writable, and not a switch or reading."""
    return bool(entity.persist) and entity.writable and entity.role not in _NEVER


def _valid_value(value: Any) -> bool:
    return isinstance(value, _Scalar) and not (isinstance(value, float) and not math.isfinite(value))


class StateManager:
    """Per-device persisted values in one JSON file; see the module docstring for the rules."""

    def __init__(self, path: str | Path = "device_state.json", *, autosave_interval: float = 5.0,
                 settings: frozenset[str] | set[str] = DEVICE_SETTINGS) -> None:
        if autosave_interval <= 0:
            raise ValueError("autosave_interval must be > 0 seconds")
        self.path = Path(path)
        self.autosave_interval = float(autosave_interval)
        self.settings = frozenset(settings)
        #: How often a value was refused, by ``"device.key"``.
        self.refused: Counter[str] = Counter()
        self._warnings = WarningLog(log)
        self._lock = threading.RLock()  # guards the values (held for microseconds)
        self._write_lock = threading.RLock()  # one file write at a time (re-entrant for signal handlers)
        self._data: dict[str, dict[str, Any]] = {}
        self._generation = 0
        self._saved_generation = 0
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._load()

    # --- warnings ---------------------------------------------------------------------------
    @property
    def warnings_list(self) -> list[str]:
        """Warnings a widget should show (newest last; at most 50 kept)."""
        return self._warnings.items

    @property
    def last_warning(self) -> str | None:
        return self._warnings.last

    # --- values -----------------------------------------------------------------------------
    def set(self, device_id: str, key: str, value: Any, *, entity: EntityDescription | None = None) -> bool:
        """Remember ``value`` for ``device_id.key``; return whether it was stored.

        With ``entity``, the value is stored only when :func:`persistable` says so. Without it,
        ``key`` must be one of :attr:`settings` (e.g. ``poll_interval``). Refusals return ``False``
        and are counted in :attr:`refused`. A value that is not a finite JSON scalar raises ValueError.
        """
        if entity is not None and entity.key != key:
            raise ValueError(f"key {key!r} does not match entity {entity.key!r}")
        allowed = persistable(entity) if entity is not None else key in self.settings
        if not allowed:
            self.refused[f"{device_id}.{key}"] += 1
            return False
        if not _valid_value(value):
            raise ValueError(f"{device_id}.{key}: only finite numbers, text, booleans and None persist, got {value!r}")
        with self._lock:
            values = self._data.setdefault(device_id, {})
            if key in values and values[key] == value and type(values[key]) is type(value):
                return True
            values[key] = value
            self._generation += 1
        return True

    def get(self, device_id: str) -> dict[str, Any]:
        """A copy of everything stored for ``device_id`` (empty dict when nothing is)."""
        with self._lock:
            return dict(self._data.get(device_id, {}))

    def restore(self, device_id: str, entities: Mapping[str, EntityDescription] | None) -> dict[str, Any]:
        """The values to re-apply after a restart, filtered by the driver's entity table.

        Entity values come back only when ``entities`` says they are :func:`persistable` (switches
        never, even if a hand-edited file contains them). Device settings come back always.
        ``entities=None`` means "no table at hand": only device settings are returned.
        Nothing is sent to any instrument here.
        """
        table = entities or {}
        out: dict[str, Any] = {}
        for key, value in self.get(device_id).items():
            ent = table.get(key)
            if (ent is not None and persistable(ent)) or (ent is None and key in self.settings):
                out[key] = value
        return out

    def remove_device(self, device_id: str) -> bool:
        """Forget everything about ``device_id``; return whether there was anything."""
        with self._lock:
            if self._data.pop(device_id, None) is None:
                return False
            self._generation += 1
            return True

    @property
    def devices(self) -> list[str]:
        """Ids of the devices with stored values."""
        with self._lock:
            return sorted(self._data)

    @property
    def dirty(self) -> bool:
        """True when memory holds changes that are not on disk yet."""
        return self._generation != self._saved_generation

    # --- saving -----------------------------------------------------------------------------
    def save_now(self) -> Path:
        """Write the file now (atomically, keeping a ``.bak``). Synchronous: callable from plain
        code, ``atexit`` or a signal handler, with or without a running loop. The disk work happens
        outside the data lock, so :meth:`set` never waits for a slow disk.
        Raises :class:`~ionpy_widgets.engine.atomic.StorageError` when the file cannot be written."""
        with self._write_lock:
            with self._lock:
                generation = self._generation
                doc = {"version": STATE_VERSION, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "devices": {dev: dict(sorted(vals.items())) for dev, vals in sorted(self._data.items())}}
            atomic_write_text(self.path, json.dumps(doc, indent=2, allow_nan=False) + "\n")
            with self._lock:
                self._saved_generation = max(self._saved_generation, generation)
        return self.path

    def save_if_dirty(self) -> bool:
        """Save when there are unsaved changes; return whether a write happened."""
        return self.dirty and bool(self.save_now())

    def start_autosave(self) -> asyncio.Task[None]:
        """Start the background task that saves every ``autosave_interval`` seconds when dirty.
        Needs a running loop; calling it again returns the task already running."""
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done():
            return self._task
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._autosave_loop(self._wake), name=f"ionpy-state-autosave:{self.path.name}")
        return self._task

    async def stop(self) -> None:
        """Stop the autosave task (if any) and save once more when dirty. Safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            if self._wake is not None:
                self._wake.set()
            await task
        if self.dirty:
            try:
                await asyncio.to_thread(self.save_now)
            except StorageError as exc:
                self._warnings.add(f"device state not saved on stop: {exc}")

    async def _autosave_loop(self, wake: asyncio.Event) -> None:
        while not wake.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self.autosave_interval)
            if wake.is_set():
                return
            try:
                # the fsyncs run in a thread so a slow disk never stalls the loop
                await asyncio.to_thread(self.save_if_dirty)
            except StorageError as exc:
                self._warnings.add(f"device state autosave failed: {exc}")

    # --- loading ----------------------------------------------------------------------------
    def _load(self) -> None:
        remove_stale_temps(self.path)  # left by a process killed mid-save (the file itself is intact)
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(f"cannot read {self.path}: {exc.strerror or exc}", path=str(self.path)) from exc
        try:
            self._data = _parse(raw.decode("utf-8"))
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors too
            aside = move_aside(self.path)
            bak = backup_path(self.path)
            extra = f" The previous version is in {bak.name}." if bak.exists() else ""
            self._warnings.add(f"{self.path.name} was unreadable ({exc}); moved to {aside.name} and started "
                               f"with defaults.{extra}")
            self._data = {}


def _parse(raw: str) -> dict[str, dict[str, Any]]:
    """Validate the file shape; raise ValueError with the reason."""
    doc = json.loads(raw, parse_constant=_reject_constant)
    if not isinstance(doc, dict):
        raise ValueError("top level is not an object")
    if doc.get("version") != STATE_VERSION:
        raise ValueError(f"unsupported version {doc.get('version')!r} (expected {STATE_VERSION})")
    devices = doc.get("devices", {})
    if not isinstance(devices, dict):
        raise ValueError("'devices' is not an object")
    data: dict[str, dict[str, Any]] = {}
    for dev, values in devices.items():
        if not isinstance(values, dict):
            raise ValueError(f"device {dev!r} is not an object")
        for key, value in values.items():
            if not _valid_value(value):
                raise ValueError(f"{dev}.{key} holds {value!r}, not a JSON scalar")
        data[dev] = dict(values)
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid value")
