"""The device manager: spawns devices from config, supervises one task per device, shuts down.

>>> manager = DeviceManager(EventBus())
>>> await manager.add({"id": "BAT", "driver": "V01_Battery"})
>>> await manager.write("BAT", "load_current", 1.0)
>>> await manager.stop()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from ..driver.registry import get_driver
from ..driver.stack import build_stack
from ..errors import DeviceDuplicateError, DeviceNotFoundError, DeviceSpawnError, DeviceUnavailableError, IonpyError
from .bus import EventBus
from .config import DeviceConfig
from .device import DeviceState, ManagedDevice
from .events import SystemEvent, SystemKind, jsonable
from .poller import normalise_error
from .settings import EngineSettings

log = logging.getLogger(__name__)


class WaitOnlineTimeoutError(DeviceUnavailableError, TimeoutError):
    code = "wait_online_timeout"


class DeviceManager:
    def __init__(self, bus: EventBus | None = None, settings: EngineSettings | None = None) -> None:
        self.bus = bus if bus is not None else EventBus()
        self.settings = settings or EngineSettings()
        self._devices: dict[str, ManagedDevice] = {}
        self._stopped = False

    # --- views ------------------------------------------------------------------------------
    @property
    def devices(self) -> Mapping[str, ManagedDevice]:
        """Read-only ``id -> ManagedDevice`` view (``.status()`` on each for state and stats)."""
        return MappingProxyType(self._devices)

    @property
    def ids(self) -> list[str]:
        return list(self._devices)

    def get(self, device_id: str) -> ManagedDevice:
        try:
            return self._devices[device_id]
        except KeyError:
            known = ", ".join(self._devices) or "none yet"
            raise DeviceNotFoundError(f"no device {device_id!r}", device=device_id,
                                      hint=f"Known devices: {known}.") from None

    def status(self) -> dict[str, dict[str, Any]]:
        return {device_id: dev.status() for device_id, dev in self._devices.items()}

    # --- lifecycle --------------------------------------------------------------------------
    async def add(self, conf: Mapping[str, Any] | DeviceConfig, *, strict: bool = True,
                  restored: Mapping[str, Any] | None = None, start: bool = True) -> ManagedDevice:
        """Validate ``conf``, build its stack and start polling it (unless ``auto_start: false``).

        Config mistakes raise :class:`ConfigValidationError`; a stack that cannot be built raises
        :class:`DeviceSpawnError` when ``strict``, otherwise the device is kept in state ``error``
        (with ``last_error``) so that one broken entry does not stop a whole lab from starting.
        ``restored``: values saved by the last session, kept in memory only (nothing is sent).
        ``start=False``: registered and announced, but polling starts only with :meth:`launch`.
        """
        config = _config(conf)
        if config.id in self._devices:
            raise DeviceDuplicateError(f"device id {config.id!r} is already in use", device=config.id)
        device = self._spawn(config, strict=strict)
        device.apply_restored(restored)
        self._devices[config.id] = device
        self._announce(SystemKind.DEVICE_ADDED, device)
        if start:
            self._launch(device)
        return device

    def launch(self, device_id: str) -> None:
        """Start polling ``device_id`` as its config says (not when ``auto_start: false``)."""
        self._launch(self.get(device_id))

    async def replace(self, device_id: str, conf: Mapping[str, Any] | DeviceConfig, *, strict: bool = True,
                      restored: Mapping[str, Any] | None = None, change: str = "config") -> ManagedDevice:
        """Stop ``device_id`` (task and connection, bounded by ``close_timeout``) and put a device
        built from ``conf`` in its place. Publishes ``device_updated`` (payload ``change``), or
        ``device_removed`` + ``device_added`` when the id changes. If the new device cannot be
        built (``strict``), the old one is built again from its config and the error re-raised."""
        old = self.get(device_id)
        config = _config(conf)
        if config.id != device_id and config.id in self._devices:
            raise DeviceDuplicateError(f"device id {config.id!r} is already in use", device=config.id)
        await old.stop()
        try:
            device = self._spawn(config, strict=strict)
        except BaseException:
            again = self._spawn(old.config, strict=False)
            again.apply_restored(old.restored)
            self._devices[device_id] = again
            self._launch(again)
            raise
        device.apply_restored(restored)
        if config.id == device_id:
            self._devices[device_id] = device
            self._announce(SystemKind.DEVICE_UPDATED, device, change=change)
        else:
            items = [(config.id, device) if key == device_id else (key, dev) for key, dev in self._devices.items()]
            self._devices.clear()
            self._devices.update(items)
            self.bus.publish(SystemEvent(SystemKind.DEVICE_REMOVED, device_id,
                                         {"driver": old.config.driver, "renamed_to": config.id}))
            self._announce(SystemKind.DEVICE_ADDED, device, renamed_from=device_id)
        self._launch(device)
        return device

    def _announce(self, kind: SystemKind, device: ManagedDevice, **extra: Any) -> None:
        """Publish ``kind`` with the device's config, driver manifest, state and restored values."""
        manifest = device.driver_cls.manifest() if device.driver_cls is not None else None
        payload = {"driver": device.config.driver, "state": device.state.value,
                   "config": jsonable(device.config.to_dict()), "manifest": jsonable(manifest),
                   "restored": jsonable(device.restored), **extra}
        self.bus.publish(SystemEvent(kind, device.id, payload))
        if device.state is DeviceState.ERROR and device.last_error is not None:
            self.bus.publish(SystemEvent(SystemKind.DEVICE_ERROR, device.id, {"error": device.last_error.to_dict()}))

    def _launch(self, device: ManagedDevice) -> None:
        """Start polling unless the manager is stopped or the device is not to start by itself."""
        if not device.config.auto_start:
            if device.state is DeviceState.CONNECTING:
                device.state = DeviceState.STOPPED
        elif not self._stopped:
            device.start()

    def _spawn(self, config: DeviceConfig, *, strict: bool) -> ManagedDevice:
        if not config.enabled:
            cls = None
            try:
                cls = get_driver(config.driver)
            except Exception as exc:  # a disabled device's driver may be missing; only report it
                log.debug("disabled device %s: driver %s not loadable: %s", config.id, config.driver, exc)
            return ManagedDevice(config, self.bus, self.settings, driver_cls=cls)
        try:
            stack = build_stack(config.driver, transport=config.transport, framing=config.framing,
                                device_id=config.id, link_options=config.link, options=config.options)
        except DeviceSpawnError as exc:
            if strict:
                raise
            log.error("device %s cannot be started: %s", config.id, exc)
            return ManagedDevice(config, self.bus, self.settings, error=exc)
        return ManagedDevice(config, self.bus, self.settings, stack=stack)

    async def add_many(self, configs: Iterable[Mapping[str, Any] | DeviceConfig], *,
                       strict: bool = False) -> list[ManagedDevice]:
        return [await self.add(conf, strict=strict) for conf in configs]

    async def remove(self, device_id: str) -> None:
        """Stop the device (bounded by ``close_timeout``) and forget it."""
        device = self.get(device_id)
        del self._devices[device_id]
        await device.stop()
        self.bus.publish(SystemEvent(SystemKind.DEVICE_REMOVED, device_id, {"driver": device.config.driver}))

    def start(self) -> None:
        """(Re)start the tasks of every device that can run (used after construction with ``add``)."""
        self._stopped = False
        for device in self._devices.values():
            if device.config.auto_start:
                device.start()

    async def stop(self) -> None:
        """Cancel every device task and disconnect every device concurrently; each device is bounded
        by ``close_timeout``, so one that hangs on close cannot hold up shutdown. Idempotent."""
        self._stopped = True
        devices = list(self._devices.values())
        if devices:
            await asyncio.gather(*(d.stop() for d in devices), return_exceptions=True)

    # --- actions ----------------------------------------------------------------------------
    async def write(self, device_id: str, key: str, value: Any, *, source: str = "code") -> Any:
        """Validated write through ``driver.write`` (nothing is sent for an invalid value)."""
        try:
            return await self.get(device_id).write(key, value, source=source)
        except DeviceUnavailableError as exc:
            if not self._stopped:
                raise
            # a handle kept from a lab that stopped (or that a newer Lab.start for the same file replaced)
            raise DeviceUnavailableError(f"device {device_id}'s lab is stopped", device=device_id, state="stopped",
                                         hint="Use the lab from your newest `lab = await Lab.start(...)` "
                                              "(re-running the setup cell stops the previous lab).") from exc

    async def poll_now(self, device_id: str, timeout: float | None = None) -> dict[str, Any]:
        return await self.get(device_id).poll_now(timeout)

    async def wait_online(self, *ids: str, timeout: float | None = 10.0) -> None:
        """Wait until the given devices (default: every enabled one) are online."""
        targets = [self.get(i) for i in ids] if ids else [d for d in self._devices.values() if d.config.enabled]
        try:
            async with asyncio.timeout(timeout):
                for device in targets:
                    if device.state is DeviceState.ERROR:
                        raise DeviceUnavailableError(f"device {device.id} cannot start", device=device.id,
                                                     hint=device.last_error.hint if device.last_error else None)
                    await device.online.wait()
        except TimeoutError:
            waiting = [d for d in targets if d.state is not DeviceState.ONLINE]
            reasons = "; ".join(f"{d.id}: {d.state.value}" + (f" ({d.last_error.message})" if d.last_error else "")
                                for d in waiting)
            raise WaitOnlineTimeoutError(f"not online after {timeout} s: {reasons}",
                                         devices=[d.id for d in waiting],
                                         hint="Check cables, ports and addresses; `lab.status()` shows each "
                                              "device's last error.") from None

    async def emergency_stop(self, timeout: float | None = None) -> dict[str, Any]:
        """``driver.outputs_off()`` on every device at once; errors are collected, never raised.

        Returns ``{"switched": {id: [keys]}, "errors": {id: error dict}}``."""
        limit = timeout if timeout is not None else self.settings.poll_timeout
        devices = [d for d in self._devices.values() if d.state is not DeviceState.DISABLED]

        async def one(device: ManagedDevice) -> list[str]:
            async with asyncio.timeout(limit):
                return await device.outputs_off()

        results = await asyncio.gather(*(one(d) for d in devices), return_exceptions=True)
        switched: dict[str, list[str]] = {}
        errors: dict[str, dict[str, Any]] = {}
        for device, result in zip(devices, results, strict=True):
            if isinstance(result, BaseException):
                error = result if isinstance(result, IonpyError) else normalise_error(result, device.id,
                                                                                      device.config.driver)
                errors[device.id] = error.to_dict()
                log.error("emergency stop of %s failed: %s", device.id, error)
            else:
                switched[device.id] = result
        self.bus.publish(SystemEvent(SystemKind.EMERGENCY_STOP, "", {"switched": switched, "errors": errors}))
        return {"switched": switched, "errors": errors}


def _config(conf: Mapping[str, Any] | DeviceConfig) -> DeviceConfig:
    return conf if isinstance(conf, DeviceConfig) else DeviceConfig.from_mapping(conf, check_stack=False)


__all__ = ["DeviceManager", "WaitOnlineTimeoutError"]
