"""One managed device: its stack, its state and the supervised task that connects and polls it.

Each device runs in exactly one task of its own. Nothing is shared between devices (no locks,
no common queue): a device that hangs, times out or sends garbage only ever delays itself.
The task never dies of a device failure: connection losses and repeated poll failures make the
device *unavailable* (published once, with the reason) and it reconnects with exponential
backoff until it is back (published once as recovered).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from ..driver.base import Driver
from ..driver.reading import Identity, Reading
from ..driver.stack import DeviceStack
from ..errors import DeviceUnavailableError, IonpyError
from .bus import EventBus
from .config import DeviceConfig
from .events import ReadingEvent, SystemEvent, SystemKind
from .poller import PollStats, Schedule, Waker, is_connection_loss, normalise_error
from .settings import Backoff, EngineSettings
from .writes import WriteMixin

log = logging.getLogger(__name__)


class DeviceState(StrEnum):
    CONNECTING = "connecting"
    ONLINE = "online"
    UNAVAILABLE = "unavailable"
    #: Could not be built (bad config, transport library missing): needs a config change.
    ERROR = "error"
    DISABLED = "disabled"
    STOPPED = "stopped"


class ManagedDevice(WriteMixin):
    def __init__(self, config: DeviceConfig, bus: EventBus, settings: EngineSettings, *,
                 stack: DeviceStack | None = None, driver_cls: type[Driver] | None = None,
                 error: IonpyError | None = None) -> None:
        self.id = config.id
        self.config = config
        self.bus = bus
        self.settings = settings
        self.stack = stack
        self.driver_cls = driver_cls or (type(stack.driver) if stack is not None else None)
        default = self.driver_cls.default_poll_interval if self.driver_cls is not None else 1.0
        self.poll_interval: float = config.poll_interval or default
        self.state = DeviceState.DISABLED if not config.enabled else DeviceState.CONNECTING
        if error is not None:
            self.state = DeviceState.ERROR
        self.last_error: IonpyError | None = error
        self.identity: Identity | None = None
        self.readings: dict[str, Reading] = {}
        #: Values the last session saved (setpoints...), restored in memory only: never sent by the engine.
        self.restored: dict[str, Any] = {}
        self.stats = PollStats()
        self.online = asyncio.Event()
        self.unavailable_since: float | None = None
        self._task: asyncio.Task[None] | None = None
        #: Set by ``stop``: the loops end even if a cancellation was swallowed somewhere below.
        self._stopping = False
        self._warned = False
        self._waker = Waker()
        self._poll_requests: list[asyncio.Future[dict[str, Any]]] = []
        self._backoff = Backoff.from_settings(settings)

    # --- views ------------------------------------------------------------------------------
    @property
    def driver(self) -> Driver | None:
        return self.stack.driver if self.stack is not None else None

    @property
    def values(self) -> dict[str, Any]:
        return {key: r.value for key, r in self.readings.items()}

    def apply_restored(self, values: Mapping[str, Any] | None) -> None:
        """Remember the values of the last session (memory only). A restored ``poll_interval``
        applies when the config does not set one; entity values are only shown, never written."""
        self.restored = dict(values or {})
        interval = self.restored.get("poll_interval")
        if self.config.poll_interval is None and isinstance(interval, int | float) and not isinstance(interval, bool) \
                and 0.01 <= interval <= 86400:
            self.poll_interval = float(interval)

    def status(self) -> dict[str, Any]:
        return {
            "id": self.id, "driver": self.config.driver, "state": self.state.value, "enabled": self.config.enabled,
            "auto_start": self.config.auto_start, "restored": dict(self.restored), "poll_interval": self.poll_interval,
            "last_error": self.last_error.to_dict() if self.last_error is not None else None,
            "identity": self.identity.to_dict() if self.identity is not None else None,
            "last_values": self.values, "unavailable_since": self.unavailable_since, "stats": self.stats.to_dict(),
        }

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        if self.stack is None or self.state in (DeviceState.ERROR, DeviceState.DISABLED):
            return
        if self._task is None or self._task.done():
            self._stopping = False
            self.state = DeviceState.CONNECTING
            self._task = asyncio.get_running_loop().create_task(self._supervise(), name=f"ionpy-device:{self.id}")

    async def stop(self) -> None:
        """Cancel the task and disconnect, each bounded by ``close_timeout`` (a hung close is abandoned)."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            await _finish(task, self.settings.close_timeout, f"{self.id} task", cancel=True)
        if self.stack is not None:
            await self._disconnect()
        if self.state not in (DeviceState.ERROR, DeviceState.DISABLED):
            self.state = DeviceState.STOPPED
        self.online.clear()
        self._fail_poll_requests(DeviceUnavailableError(f"{self.id} was stopped", device=self.id))

    async def _disconnect(self) -> None:
        assert self.stack is not None
        closing = asyncio.get_running_loop().create_task(self.stack.close(), name=f"ionpy-close:{self.id}")
        try:
            await _finish(closing, self.settings.close_timeout, f"{self.id} close", cancel=False)
        except asyncio.CancelledError:
            closing.cancel()
            raise

    # --- the supervised task ----------------------------------------------------------------
    async def _supervise(self) -> None:
        assert self.stack is not None
        driver = self.stack.driver
        while not self._stopping:
            try:
                async with asyncio.timeout(self.settings.connect_timeout):
                    identity = await driver.connect()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._went_unavailable(exc)
            else:
                self._went_online(identity)
                try:
                    await self._poll_loop(driver)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    await self._went_unavailable(exc)
            await asyncio.sleep(self._backoff.next_delay())

    async def _poll_loop(self, driver: Driver) -> None:
        """Poll on schedule until the connection is lost or polls keep failing (then raise why)."""
        loop = asyncio.get_running_loop()
        schedule = Schedule(self.poll_interval, loop.time())
        while not self._stopping:
            early = await self._waker.sleep_until(schedule.deadline)
            await self._poll_once(driver)
            if not early:
                self.stats.skipped_ticks += schedule.advance(loop.time())

    async def _poll_once(self, driver: Driver) -> None:
        loop = asyncio.get_running_loop()
        requests, self._poll_requests = self._poll_requests, []
        started = loop.time()
        try:
            async with asyncio.timeout(self.settings.poll_timeout):
                values = await driver.poll()
        except asyncio.CancelledError:
            self._poll_requests[:0] = requests
            raise
        except Exception as exc:
            error = normalise_error(exc, self.id, self.config.driver)
            _settle(requests, error=error)
            if not isinstance(exc, IonpyError):  # a driver bug or undecodable bytes: log once per session
                level = logging.DEBUG if self._warned else logging.WARNING
                self._warned = True
                log.log(level, "device %s: unexpected %s in poll: %s", self.id, type(exc).__name__, exc)
            self.stats.record_failure()
            self.last_error = error
            if is_connection_loss(exc) or self.stats.consecutive_failures >= self.settings.max_poll_failures:
                raise
            return
        self.stats.record_success(started, loop.time())
        self._backoff.reset()
        event = ReadingEvent.from_values(self.id, values, {k: e.unit for k, e in driver.entities.items()})
        self.readings.update({r.entity: r for r in event.readings})
        self.bus.publish(event)
        _settle(requests, result=dict(values))

    # --- availability -----------------------------------------------------------------------
    def _went_online(self, identity: Identity) -> None:
        was_unavailable = self.state is DeviceState.UNAVAILABLE
        self.state = DeviceState.ONLINE
        self.stats.connects += 1
        self.stats.consecutive_failures = 0
        self._warned = False
        self.online.set()
        if identity != self.identity:
            self.identity = identity
            self._publish(SystemKind.DEVICE_UPDATED, identity=identity.to_dict(), state=self.state.value)
        payload: dict[str, Any] = {"available": True, "state": self.state.value, "recovered": was_unavailable}
        if was_unavailable and self.unavailable_since is not None:
            payload["downtime"] = round(time.time() - self.unavailable_since, 3)
            log.info("device %s recovered after %.1f s", self.id, payload["downtime"])
        else:
            log.info("device %s online (%s %s)", self.id, identity.manufacturer, identity.model)
        self.unavailable_since = None
        self._publish(SystemKind.AVAILABILITY, **payload)

    async def _went_unavailable(self, exc: BaseException) -> None:
        error = normalise_error(exc, self.id, self.config.driver)
        self.last_error = error
        self.online.clear()
        self._fail_poll_requests(DeviceUnavailableError(f"{self.id} is unavailable: {error.message}",
                                                        device=self.id, hint=error.hint))
        if self.state is not DeviceState.UNAVAILABLE:
            self.state = DeviceState.UNAVAILABLE
            self.unavailable_since = time.time()
            self.stats.outages += 1
            self.stats.reset_rate()
            log.warning("device %s unavailable: %s", self.id, error)
            self._publish(SystemKind.AVAILABILITY, available=False, state=self.state.value, reason=error.message,
                          error=error.to_dict())
        else:
            log.debug("device %s still unavailable: %s", self.id, error)
        await self._disconnect()

    def _publish(self, kind: SystemKind, **payload: Any) -> None:
        self.bus.publish(SystemEvent(kind, self.id, payload))

    # --- on-demand polls --------------------------------------------------------------------
    async def poll_now(self, timeout: float | None = None) -> dict[str, Any]:
        """Run one extra poll as soon as possible and return its values."""
        self._require_online()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._poll_requests.append(future)
        self._waker.wake()
        async with asyncio.timeout(timeout if timeout is not None else self.settings.poll_timeout + 1):
            return await future

    def _fail_poll_requests(self, error: IonpyError) -> None:
        requests, self._poll_requests = self._poll_requests, []
        _settle(requests, error=error)

    def __repr__(self) -> str:
        return f"<ManagedDevice {self.id} {self.config.driver} {self.state.value}>"


def _settle(futures: list[asyncio.Future[Any]], *, result: Any = None, error: BaseException | None = None) -> None:
    for future in futures:
        if not future.done():
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)


async def _finish(task: asyncio.Task[Any], timeout: float, what: str, *, cancel: bool) -> None:
    """Let ``task`` end within ``timeout``. With ``cancel`` it is cancelled at once; otherwise it may
    run until ``timeout`` and is cancelled after that, with a short grace. Cancellation is repeated
    every 50 ms, because some library code swallows a cancellation that races with completion
    (``asyncio.wait_for`` in Python 3.11, ``suppress(CancelledError)`` around awaits). A task that
    still does not end is abandoned (logged) so that shutdown never hangs."""
    loop = asyncio.get_running_loop()
    if not cancel:
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if done:
            _log_failure(task, what)
            return
        log.warning("%s did not finish within %.1f s; cancelling it", what, timeout)
        timeout = min(0.5, timeout)
    end = loop.time() + timeout
    while not task.done() and loop.time() < end:
        task.cancel()
        await asyncio.wait({task}, timeout=max(0.0, min(0.05, end - loop.time())))
    if not task.done():
        log.error("%s ignores cancellation; abandoning it", what)
        return
    _log_failure(task, what)


def _log_failure(task: asyncio.Task[Any], what: str) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("%s failed: %r", what, task.exception())


__all__ = ["DeviceState", "ManagedDevice"]
