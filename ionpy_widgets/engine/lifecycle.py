"""Adding, changing, disabling and removing devices while the others keep polling (part of
:class:`~.lab.Lab`).

Each operation touches only its own device's task (the others never wait for it), is serialised
with the other lifecycle operations of the lab, and keeps the running lab and the config file in
step: the file is written (through the :class:`~.config_manager.ConfigManager`, atomically) only
when the device side succeeded, and a device side that fails after the old device was stopped is
rolled back to the old device. Events (``device_added``, ``device_removed``, ``device_updated``,
``device_error``) are published on the bus, which never drops system events, and journaled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import DeviceDuplicateError, DeviceNotFoundError, IonpyError
from .config import DeviceConfig
from .config_manager import entry_dict
from .events import SystemEvent, SystemKind
from .handle import DeviceHandle

if TYPE_CHECKING:
    from .bus import EventBus
    from .config import LabConfig
    from .config_manager import ConfigManager
    from .manager import DeviceManager

log = logging.getLogger(__name__)
DeviceConf = Mapping[str, Any] | DeviceConfig


class LifecycleMixin:
    """Live device lifecycle of a :class:`~.lab.Lab`."""

    config: LabConfig
    bus: EventBus
    manager: DeviceManager
    config_manager: ConfigManager | None
    _lifecycle_lock: asyncio.Lock
    _removed: set[str]
    _removing: dict[str, asyncio.Task[None]]

    if TYPE_CHECKING:  # provided by Lab and PersistenceMixin
        def _require_running(self) -> None: ...
        def restored_for(self, config: DeviceConfig) -> dict[str, Any]: ...
        def _forget_state(self, device_id: str) -> None: ...

    async def add_device(self, conf: DeviceConf, *, connect_timeout: float | None = None) -> DeviceHandle:
        """Validate ``conf`` (errors name the field: ``transport.params.port``), build the device,
        start polling it and save it to the config file; returns its handle.

        With ``connect_timeout`` the device must come online within that many seconds, otherwise it
        is removed again and nothing is saved. Raises ConfigValidationError, DeviceDuplicateError,
        DeviceSpawnError (nothing saved), WaitOnlineTimeoutError or StorageError (device removed)."""
        self._require_running()
        config = _validated(conf)
        async with self._lifecycle_lock:
            self._require_running()
            if config.id in self.manager.devices:
                raise DeviceDuplicateError(f"device id {config.id!r} is already in use", device=config.id)
            in_file = await self._file_ids()
            if config.id in in_file:
                raise DeviceDuplicateError(f"device id {config.id!r} is already in the config file", device=config.id,
                                           hint="Pick another id, or remove the entry from the file first.")
            try:
                await self.manager.add(config, strict=True, restored=self.restored_for(config), start=False)
            except IonpyError as exc:
                self._failed("add", config.id, exc)
                raise
            try:
                if connect_timeout is not None:  # connect first, save once it answered
                    self.manager.launch(config.id)
                    await self._wait_for(config, connect_timeout)
                if self.config_manager is not None:
                    await asyncio.to_thread(self.config_manager.add_device, entry_dict(conf))
                if connect_timeout is None:
                    self.manager.launch(config.id)
            except BaseException as exc:
                await self.manager.remove(config.id)
                self._failed("add", config.id, exc)
                raise
            self._removed.discard(config.id)
            self._sync_config()
        return DeviceHandle(self.manager, config.id)

    async def remove_device(self, device_id: str) -> None:
        """Stop the device (poll task cancelled, disconnect bounded by ``close_timeout``), forget it
        in the registry, the state file and the config file, and publish ``device_removed``.
        A second call while the first is running (a double click) waits for it and returns; once
        removed, the id raises DeviceNotFoundError like any unknown id."""
        running = self._removing.get(device_id)
        if running is not None:
            await asyncio.shield(running)
            return
        self._require_running()
        if device_id not in self.manager.devices:
            self._raise_unknown(device_id)
        task = asyncio.get_running_loop().create_task(self._remove(device_id), name=f"ionpy-remove:{device_id}")
        self._removing[device_id] = task
        task.add_done_callback(lambda t: self._removing.pop(device_id, None) if self._removing.get(device_id) is t
                               else None)
        await asyncio.shield(task)

    async def _remove(self, device_id: str) -> None:
        async with self._lifecycle_lock:
            if device_id not in self.manager.devices:
                self._raise_unknown(device_id)
            if self.config_manager is not None and device_id in await self._file_ids():
                await asyncio.to_thread(self.config_manager.remove_device, device_id)
            await self.manager.remove(device_id)
            self._forget_state(device_id)
            self._removed.add(device_id)
            self._sync_config()

    def _raise_unknown(self, device_id: str) -> None:
        if device_id in self._removed:
            known = ", ".join(self.manager.ids) or "none"
            raise DeviceNotFoundError(f"device {device_id!r} was already removed", device=device_id,
                                      hint=f"Known devices: {known}.")
        self.manager.get(device_id)  # DeviceNotFoundError naming the known ids

    async def update_device(self, device_id: str, conf: DeviceConf, *,
                            connect_timeout: float | None = None) -> DeviceHandle:
        """Replace the configuration of ``device_id`` by ``conf`` (which may rename it): the old
        device is stopped, the new one built and started, then the config file is updated in
        place (comments kept). If building fails, the new device does not come online within
        ``connect_timeout`` (when given) or the file cannot be written, the old device is put back
        with its old configuration and the file is left as it was; the error says so."""
        self._require_running()
        config = _validated(conf)
        async with self._lifecycle_lock:
            self._require_running()
            old = self.manager.get(device_id)
            if config.id != device_id and config.id in self.manager.devices:
                raise DeviceDuplicateError(f"device id {config.id!r} is already in use", device=config.id)
            in_file = device_id in await self._file_ids()
            try:
                await self.manager.replace(device_id, config, strict=True, restored=self.restored_for(config))
            except IonpyError as exc:  # the manager already rebuilt the old device
                self._failed("update", device_id, exc, rolled_back=True)
                raise
            try:
                await self._wait_for(config, connect_timeout)
                if in_file and self.config_manager is not None:
                    await asyncio.to_thread(self.config_manager.update_device, device_id, entry_dict(conf))
            except BaseException as exc:
                await self.manager.replace(config.id, old.config, strict=False, restored=old.restored,
                                           change="rolled_back")
                self._failed("update", device_id, exc, rolled_back=True)
                raise
            if config.id != device_id:
                self._forget_state(device_id)
                self._removed.add(device_id)
            self._sync_config()
        return DeviceHandle(self.manager, config.id)

    async def set_enabled(self, device_id: str, enabled: bool) -> None:
        """Enable (build and start polling) or disable (stop polling, disconnect) a device and save
        ``enabled`` in the config file. Enabling an enabled device starts it if it was stopped."""
        self._require_running()
        async with self._lifecycle_lock:
            device = self.manager.get(device_id)
            if device.config.enabled == bool(enabled):
                if enabled and device.state.value == "stopped" and device.stack is not None:
                    device.start()
                return
            if self.config_manager is not None and device_id in await self._file_ids():
                await asyncio.to_thread(self.config_manager.set_device_enabled, device_id, bool(enabled))
            new = replace(device.config, enabled=bool(enabled))
            await self.manager.replace(device_id, new, strict=False, restored=self.restored_for(new),
                                       change="enabled" if enabled else "disabled")
            self._sync_config()

    async def start_device(self, device_id: str) -> None:
        """Start polling a device that is enabled but not running (``auto_start: false``, or after
        :meth:`stop_device`). Not saved in the config file."""
        self._require_running()
        device = self.manager.get(device_id)
        if device.stack is None:
            state = device.state.value
            hint = (device.last_error.hint if device.last_error is not None else None) if state == "error" else \
                f"Enable it first: `await lab.set_enabled({device_id!r}, True)`."
            raise IonpyError(f"device {device_id} is {state} and cannot start", hint=hint, device=device_id)
        device.start()

    async def stop_device(self, device_id: str) -> None:
        """Stop polling a device and disconnect it, for now (not saved; ``set_enabled`` is)."""
        await self.manager.get(device_id).stop()

    # --- helpers ----------------------------------------------------------------------------
    async def _file_ids(self) -> list[str]:
        """The device ids in the config file as it is now (read afresh; empty for a dict config)."""
        if self.config_manager is None:
            return []
        return await asyncio.to_thread(self.config_manager.file_ids)

    async def _wait_for(self, config: DeviceConfig, timeout: float | None) -> None:
        if timeout is not None and config.enabled and config.auto_start:
            await self.manager.wait_online(config.id, timeout=timeout)

    def _failed(self, operation: str, device_id: str, exc: BaseException, *, rolled_back: bool = False) -> None:
        """Publish ``device_error`` for a failed lifecycle operation and say what was undone."""
        if not isinstance(exc, IonpyError):
            return
        if rolled_back:
            note = f"The previous configuration of {device_id} was restored; the config file is unchanged."
        else:
            note = f"{device_id} was not added; the config file is unchanged."
        if note not in (exc.hint or ""):
            exc.hint = f"{exc.hint} {note}".strip()
        self.bus.publish(SystemEvent(SystemKind.DEVICE_ERROR, device_id,
                                     {"operation": operation, "rolled_back": rolled_back, "error": exc.to_dict()}))

    def _sync_config(self) -> None:
        """Make ``lab.config`` match: the file's config when there is one, else the running devices."""
        if self.config_manager is not None:
            self.config = self.config_manager.config
        else:
            self.config.devices = [d.config for d in self.manager.devices.values()]


def _validated(conf: DeviceConf) -> DeviceConfig:
    return conf if isinstance(conf, DeviceConfig) else DeviceConfig.from_mapping(conf)


__all__ = ["LifecycleMixin"]
