"""``lab["DPS5005_1"]``: the object an experiment script talks to.

A handle holds only the manager and the id, never a stale device object: after the device is
removed (or the lab restarted) every call raises :class:`~ionpy_widgets.errors.DeviceNotFoundError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..driver.entity import EntityDescription
from ..driver.reading import Identity, Reading

if TYPE_CHECKING:
    from .device import ManagedDevice
    from .manager import DeviceManager


class DeviceHandle:
    def __init__(self, manager: DeviceManager, device_id: str) -> None:
        self._manager = manager
        self.id = device_id

    @property
    def _device(self) -> ManagedDevice:
        return self._manager.get(self.id)

    # --- actions ----------------------------------------------------------------------------
    async def write(self, key: str, value: Any, *, source: str = "code") -> Any:
        """Validate and write ``value`` to ``key``; returns the value actually written.
        Raises ``LimitError``/``ReadOnlyError``/``EntityError`` before any byte is sent, and
        ``DeviceUnavailableError`` while the device is not online."""
        return await self._manager.write(self.id, key, value, source=source)

    async def poll_now(self, timeout: float | None = None) -> dict[str, Any]:
        """Poll at once (outside the schedule) and return the fresh values."""
        return await self._manager.poll_now(self.id, timeout)

    # --- last known state -------------------------------------------------------------------
    def read(self, key: str) -> Any:
        """The last polled value of ``key`` (None if not polled yet); unknown keys raise ``EntityError``."""
        device = self._device
        reading = device.readings.get(key)
        if reading is None and device.driver is not None:
            device.driver.entity(key)  # raises EntityError with the known keys
        return reading.value if reading is not None else None

    def reading(self, key: str) -> Reading | None:
        """The last :class:`Reading` of ``key`` (value, unit, timestamp, quality)."""
        return self._device.readings.get(key)

    @property
    def values(self) -> dict[str, Any]:
        return self._device.values

    @property
    def restored(self) -> dict[str, Any]:
        """The values the last session saved for this device (setpoints, backlight, poll interval),
        restored in memory only: the instrument was not written to. Outputs are never among them."""
        return dict(self._device.restored)

    async def apply_restored(self, *keys: str) -> dict[str, Any]:
        """Write the restored entity values (all, or ``keys``) to the instrument on request, with
        source ``restore``; returns what was written. Never switches an output (those are not stored)."""
        device = self._device
        table = self.entities
        chosen = keys or tuple(k for k in device.restored if k in table)
        written = {}
        for key in chosen:
            if key in device.restored and key in table:
                written[key] = await self._manager.write(self.id, key, device.restored[key], source="restore")
        return written

    @property
    def readings(self) -> dict[str, Reading]:
        return dict(self._device.readings)

    @property
    def status(self) -> dict[str, Any]:
        return self._device.status()

    @property
    def state(self) -> str:
        return self._device.state.value

    @property
    def online(self) -> bool:
        return self.state == "online"

    @property
    def entities(self) -> Mapping[str, EntityDescription]:
        """The entity table (narrowed to the identified model once connected)."""
        device = self._device
        if device.driver is not None:
            return device.driver.entities
        return device.driver_cls.ENTITIES if device.driver_cls is not None else {}

    @property
    def identity(self) -> Identity | None:
        return self._device.identity

    @property
    def driver_name(self) -> str:
        return self._device.config.driver

    def __getitem__(self, key: str) -> Any:
        return self.read(key)

    def __repr__(self) -> str:
        try:
            device = self._device
        except Exception:
            return f"<DeviceHandle {self.id} (removed)>"
        return f"<DeviceHandle {self.id} {device.config.driver} {device.state.value}>"


__all__ = ["DeviceHandle"]
