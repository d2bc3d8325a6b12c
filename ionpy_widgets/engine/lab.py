"""``Lab``: the facade a notebook uses. It runs on the loop that awaits it (the kernel's own loop
inside Jupyter, the ``asyncio.run`` loop in a script) and returns at once while polling goes on
in the background::

    lab = await Lab.start("lab.yaml")        # creates the file if missing
    psu = lab["DPS5005_1"]
    await psu.write("u_set", 5.0)            # journaled; u_set persisted (device_state.json)
    await lab.add_device({"id": "BAT", "driver": "V01_Battery"})   # live, saved to lab.yaml
    lab.journal                              # every write and lifecycle event, as a table
    async with lab.run("sweep") as run: ...  # a recorded run (Lab.start(..., record=PATH) records all)
    await lab.stop()                         # saves state, closes the journal, disconnects all

Re-running a notebook's setup cell is safe: labs are registered by the resolved config path
(or by ``name=``; every dict config without a name shares the key ``"<dict>"``), and starting a
lab stops the previous one with the same key first — no duplicate pollers, no port left open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Generator, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DeviceError
from .alarm_api import AlarmsMixin
from .alarms import AlarmEngine
from .bus import Callback, CallbackSubscription, EventBus, Subscription
from .config import LabConfig
from .config_manager import ConfigManager
from .handle import DeviceHandle
from .lab_history import HistoryMixin, declared_recording
from .lifecycle import LifecycleMixin
from .manager import DeviceManager
from .persistence import PersistenceMixin
from .provenance import install_cell_tracking
from .settings import EngineSettings
from .watchdog import LoopWatchdog

if TYPE_CHECKING:
    from .probe import ProbeResult

log = logging.getLogger(__name__)

ConfigSource = str | Path | Mapping[str, Any] | LabConfig | None

#: Running labs by key (resolved config path, ``name=``, or ``"<dict>"``).
_RUNNING: dict[str, Lab] = {}
DICT_KEY = "<dict>"


class _Starting:
    """What ``Lab.start(...)`` returns: await it for the lab, or use it as ``async with``."""

    def __init__(self, config: ConfigSource, name: str | None, settings: EngineSettings | None,
                 cls: type[Lab] | None = None, record: str | Path | None = None) -> None:
        self._args = (config, name, settings, record)
        #: The class to build (a subclass's ``start`` builds the subclass).
        self._cls: type[Lab] = cls or Lab
        self._lab: Lab | None = None

    def __await__(self) -> Generator[Any, None, Lab]:
        return self._cls._open(*self._args).__await__()

    async def __aenter__(self) -> Lab:
        self._lab = await self._cls._open(*self._args)
        return self._lab

    async def __aexit__(self, *exc: object) -> None:
        if self._lab is not None:
            await self._lab.stop()

    def __repr__(self) -> str:
        return "<Lab starting: use `lab = await Lab.start(...)` or `async with Lab.start(...) as lab`>"


class Lab(LifecycleMixin, PersistenceMixin, AlarmsMixin, HistoryMixin):
    """A running set of instruments: devices, bus, config file, state file and journal."""

    def __init__(self, config: LabConfig, *, key: str, settings: EngineSettings) -> None:
        self._init_storage()
        self._init_history()
        self.config = config
        self.key = key
        self.settings = settings
        self.bus = EventBus()
        self.manager = DeviceManager(self.bus, settings)
        #: Alarm points of every device, safe-state actions, alarm history (see :mod:`.alarms`).
        self.alarm_engine = AlarmEngine(self.bus, self.manager)
        self.watchdog = LoopWatchdog(self.bus, interval=settings.watchdog_interval,
                                     threshold=settings.stall_threshold)
        self._loop = asyncio.get_running_loop()
        self._stopped = False
        self._stopping: asyncio.Task[None] | None = None
        self._lifecycle_lock = asyncio.Lock()
        #: Ids this lab removed, and removals in progress (a second call waits for the first).
        self._removed: set[str] = set()
        self._removing: dict[str, asyncio.Task[None]] = {}

    # --- starting ---------------------------------------------------------------------------
    @classmethod
    def start(cls, config: ConfigSource = None, *, name: str | None = None,
              settings: EngineSettings | None = None, record: str | Path | None = None) -> _Starting:
        """Start a lab from a ``lab.yaml`` path, a config dict (``{"devices": [...]}``), a
        :class:`LabConfig` or nothing (an empty lab). ``settings`` override the file's ``engine:``.

        ``record=PATH`` records everything into the SQLite file PATH (relative: to the working
        directory). Without it, the config's ``history: {path: ...}`` section names the file
        (relative: to the config file's folder; for a dict config, to the working directory), and
        its folder must exist. ``record=`` wins over the section."""
        return _Starting(config, name, settings, cls, record)

    @classmethod
    async def _open(cls, source: ConfigSource, name: str | None, settings: EngineSettings | None,
                    record: str | Path | None = None) -> Lab:
        config_manager, config = await _load(source)
        if record is None:  # checked before a previous lab is stopped: a bad folder changes nothing
            record = await asyncio.to_thread(declared_recording, config)
        key = name or (str(config.path) if config.path is not None else DICT_KEY)
        previous = _RUNNING.get(key)
        if previous is not None:
            await previous._replace()
        lab = cls(config, key=key, settings=settings or config.engine)
        lab.config_manager = config_manager
        install_cell_tracking()  # inside a kernel: writes from code name their notebook cell
        _RUNNING[key] = lab
        try:
            lab._open_storage()  # after the previous lab saved its state and closed its journal
            if record is not None:  # before the devices: the recording holds their first readings
                await lab.record(record)
            lab.alarm_engine.start(journal=lab._journal)  # before the devices: sees their first readings
            for device in config.devices:
                await lab.manager.add(device, strict=False, restored=lab.restored_for(device))
            lab.watchdog.start()
        except BaseException:
            await lab.stop()
            raise
        log.info("lab %s started with %d device(s)", key, len(config.devices))
        return lab

    async def _replace(self) -> None:
        """Stop this lab because a new one with the same key is starting."""
        if self._stopped:
            return
        log.info("stopping the previous lab %s before starting it again", self.key)
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            await self.stop()
        elif self._loop.is_closed():
            self._stopped = True
        elif self._loop.is_running():  # another thread's loop: ask it to stop and wait a little
            future = asyncio.run_coroutine_threadsafe(self.stop(), self._loop)
            await asyncio.wait({asyncio.wrap_future(future)}, timeout=self.settings.close_timeout + 1)
        else:
            log.warning("the previous lab %s belongs to a loop that is not running; dropping it", self.key)
            self._stopped = True
        if _RUNNING.get(self.key) is self:
            del _RUNNING[self.key]

    # --- devices ----------------------------------------------------------------------------
    @property
    def devices(self) -> list[str]:
        return self.manager.ids

    def __getitem__(self, device_id: str) -> DeviceHandle:
        self.manager.get(device_id)  # DeviceNotFoundError with the known ids
        return DeviceHandle(self.manager, device_id)

    def __contains__(self, device_id: object) -> bool:
        return device_id in self.manager.devices

    async def wait_online(self, *ids: str, timeout: float | None = 10.0) -> None:
        """Wait until the devices (default: every enabled one) are online, or raise with the reasons."""
        await self.manager.wait_online(*ids, timeout=timeout)

    async def write(self, device_id: str, key: str, value: Any, *, source: str = "code") -> Any:
        return await self.manager.write(device_id, key, value, source=source)

    async def emergency_stop(self) -> dict[str, Any]:
        """Every device's outputs off, concurrently; ``{"switched": {...}, "errors": {...}}``."""
        return await self.manager.emergency_stop()

    async def probe(self, driver: str, transport: str, params: Mapping[str, Any],
                    framing: Mapping[str, Any] | None = None, **kw: Any) -> ProbeResult:
        """Try a connection without adding a device (:func:`~.probe.probe`); a port one of this lab's
        devices holds is reported as a failed step and never opened."""
        from .probe import probe
        from .probe_checks import held_ports_of

        return await probe(driver, transport, params, framing, held_ports=held_ports_of(self.manager), **kw)

    # --- events and status ------------------------------------------------------------------
    def subscribe(self, *, maxsize: int = 1000, kinds: Iterable[str] | None = None,
                  devices: Iterable[str] | None = None, name: str = "") -> Subscription:
        """Subscribe to the lab's events (see :meth:`EventBus.subscribe`)."""
        return self.bus.subscribe(maxsize=maxsize, kinds=kinds, devices=devices, name=name)

    def subscribe_callback(self, fn: Callback, *, maxsize: int = 1000, kinds: Iterable[str] | None = None,
                           devices: Iterable[str] | None = None, name: str = "") -> CallbackSubscription:
        return self.bus.subscribe_callback(fn, maxsize=maxsize, kinds=kinds, devices=devices, name=name)

    @property
    def stalls(self) -> list[tuple[float, float]]:
        """``(start_time, duration)`` of every event-loop stall longer than ``stall_threshold``."""
        return self.watchdog.stalls

    @property
    def running(self) -> bool:
        return not self._stopped

    def status(self) -> dict[str, Any]:
        return {
            "key": self.key, "config_path": str(self.config.path) if self.config.path else None,
            "running": self.running, "devices": self.manager.status(), "bus": self.bus.stats(),
            "loop": {"stalls": list(self.stalls), "max_lag": round(self.watchdog.max_lag, 4),
                     "last_lag": round(self.watchdog.last_lag, 4)},
        }

    # --- stopping ---------------------------------------------------------------------------
    async def stop(self) -> None:
        """Stop polling, disconnect every device (each bounded by ``close_timeout``), save the state
        file, record what is queued and close the journal, then close the bus subscriptions.
        Idempotent; concurrent calls wait for the same shutdown."""
        if self._stopping is None:
            self._stopped = True
            self._stopping = asyncio.get_running_loop().create_task(self._shutdown(), name=f"ionpy-lab-stop:{self.key}")
        await asyncio.shield(self._stopping)

    async def _shutdown(self) -> None:
        try:
            await self.watchdog.stop()
            await self.alarm_engine.stop()  # running safe-state actions finish while the devices are connected
            await self.manager.stop()
        finally:
            try:
                await self._close_history()  # ends open runs, commits every sample, closes the recording
            finally:
                await self._close_storage()
                self.bus.close()
            if _RUNNING.get(self.key) is self:
                del _RUNNING[self.key]
            log.info("lab %s stopped", self.key)

    def _require_running(self) -> None:
        if self._stopped:
            raise DeviceError("this lab is stopped", hint="Start a new one with `lab = await Lab.start(...)`.")

    async def __aenter__(self) -> Lab:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __repr__(self) -> str:
        states = [d.state.value for d in self.manager.devices.values()]
        online = states.count("online")
        where = self.config.path.name if self.config.path is not None else self.key
        run = "running" if self.running else "stopped"
        return f"<Lab {where} {run}: {len(states)} device(s), {online} online>"


async def _load(source: ConfigSource) -> tuple[ConfigManager | None, LabConfig]:
    """The config (validated, migrated in memory) and, for a file, its ConfigManager; a missing
    file is created (atomically) with an empty device list."""
    if source is None:
        return None, LabConfig()
    if isinstance(source, LabConfig):
        manager = ConfigManager(source.path) if source.path is not None else None
        return manager, source
    if isinstance(source, str | Path):
        return await asyncio.to_thread(_open_file, source)
    return None, LabConfig.from_mapping(source)


def _open_file(source: str | Path) -> tuple[ConfigManager, LabConfig]:
    manager = ConfigManager(Path(source).expanduser().resolve())
    existed = manager.path.exists()
    config = manager.load()
    if not existed:
        log.info("created an empty lab config at %s", manager.path)
    return manager, config


def running_labs() -> dict[str, Lab]:
    """The labs started and not yet stopped, by key."""
    return dict(_RUNNING)


__all__ = ["Lab", "running_labs"]
