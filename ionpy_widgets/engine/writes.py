"""Validated writes and emergency stop for a managed device.

A write is checked against the user's own limits (``limits:`` of the device's config, see
:mod:`.limits`) and validated against the entity table (and the identified model's limits) *before* the
device is asked for anything, so an out-of-range value fails the same way whether the instrument
is online or not, and no byte is ever sent for an invalid value. Every attempt is published as a
``write`` system event carrying its ``source`` (for the journal), successful or not; a write from
code made inside a notebook cell also carries ``cell`` (its ``In [N]`` and cell id, see
:mod:`.provenance`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..errors import DeviceUnavailableError, IonpyError
from .events import SystemEvent, SystemKind, jsonable
from .limits import apply_user_limits
from .poller import normalise_error
from .provenance import current_cell

if TYPE_CHECKING:
    from ..driver.base import Driver
    from .bus import EventBus
    from .config import DeviceConfig
    from .settings import EngineSettings


class WriteMixin:
    """Write support for :class:`~.device.ManagedDevice` (uses its state, driver, bus and settings)."""

    id: str
    config: DeviceConfig
    bus: EventBus
    settings: EngineSettings
    state: Any
    last_error: IonpyError | None
    driver: Driver | None
    readings: dict[str, Any]

    def _require_online(self) -> Driver:
        driver = self.driver
        state = str(self.state)
        if driver is None or state != "online":
            if state == "disabled":
                hint = f"Device {self.id} is disabled in the config; set `enabled: true` to use it."
            elif state == "error" and self.last_error is not None:
                hint = self.last_error.hint or "Fix the device configuration."
            elif state == "stopped":  # nothing reconnects a stopped device: waiting would hang
                hint = f"Nothing polls {self.id} now: `await lab.start_device({self.id!r})` starts it again."
            else:
                reason = f" ({self.last_error.message})" if self.last_error is not None else ""
                hint = f"The engine keeps reconnecting{reason}; `await lab.wait_online({self.id!r})` waits for it."
            raise DeviceUnavailableError(f"device {self.id} is {state}", device=self.id, state=state, hint=hint)
        return driver

    async def write(self, key: str, value: Any, *, source: str = "code") -> Any:
        """Validate, then write ``value`` to entity ``key``; returns the value actually written.
        The event carries ``old``: the last polled value of ``key`` (None when not polled yet), and
        for ``source="code"`` inside a notebook the ``cell`` the call came from."""
        cell = current_cell() if source == "code" else None
        origin = {"cell": cell} if cell is not None else {}
        last = self.readings.get(key)
        old = last.value if last is not None else None
        requested = value
        try:
            driver = self.driver
            if driver is not None:
                desc = driver.entity(key)  # before anything else: unknown key, read-only, limits
                value = apply_user_limits(self.config.limits, desc, value, device=self.id)  # may clamp
                desc.validate(value)
            driver = self._require_online()
            async with asyncio.timeout(self.settings.poll_timeout):
                written = await driver.write(key, value)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = exc if isinstance(exc, IonpyError) else normalise_error(exc, self.id, self.config.driver)
            self._publish_write(key, requested, source, ok=False, old=old, error=error.to_dict(), **origin)
            if error is exc:
                raise
            raise error from exc
        self._publish_write(key, written, source, ok=True, old=old, requested=requested, **origin)
        return written

    async def outputs_off(self, *, source: str = "emergency_stop") -> list[str]:
        """Switch every output of this device off (emergency stop, or ``source="alarm"`` for an alarm's
        safe-state action); returns the keys switched."""
        driver = self._require_online()
        async with asyncio.timeout(self.settings.poll_timeout):
            switched = await driver.outputs_off()
        for key in switched:
            last = self.readings.get(key)
            self._publish_write(key, False, source, ok=True, old=last.value if last is not None else None)
        return switched

    def _publish_write(self, key: str, value: Any, source: str, *, ok: bool, **extra: Any) -> None:
        payload = {"key": key, "value": jsonable(value), "source": source, "ok": ok}
        payload.update(jsonable(extra))
        self.bus.publish(SystemEvent(SystemKind.WRITE, self.id, payload))


__all__ = ["WriteMixin"]
