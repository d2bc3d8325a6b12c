"""History on the lab: recording, ``lab.history`` and ``async with lab.run(...)``.

    lab = await Lab.start("bench.yaml", record="bench.sqlite")    # or: await lab.record(path)
    # or in bench.yaml:  history: {path: bench.sqlite}  (every start records; record= wins)
    df = lab.history("BAT", "voltage", start=time.time() - 600)   # timestamp, value, unit, quality
    async with lab.run("iv-sweep", notes="red LED") as run:
        await psu.write("u_set", 1.0)
    run.samples, run.journal                                       # DataFrames

A run records its start and stop, a snapshot of the configuration, the drivers' versions, the
instruments' identities, every write with its source, alarms and availability changes, and the
samples in its span. A lab that is not recording when a run begins records for the run's duration
into ``path`` (default ``runs.sqlite`` beside the config file, else in the working directory).
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import logging
import sys
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import StorageError
from .history import TimeLike, query_history
from .recorder import Recorder
from .runs import RunRecord
from .storage import EntityInfo, HistoryError, HistoryStore, NotRecordingError, RunInfo, open_store

if TYPE_CHECKING:
    from .bus import EventBus
    from .config import LabConfig
    from .manager import DeviceManager
    from .settings import EngineSettings

log = logging.getLogger(__name__)
DEFAULT_RUNS_FILE = "runs.sqlite"


class HistoryMixin:
    """Recording and runs for :class:`~.lab.Lab` (uses its bus, manager, config and settings)."""

    bus: EventBus
    manager: DeviceManager
    config: LabConfig
    settings: EngineSettings
    #: The history recorder while this lab records (not the journal's recorder).
    history_recorder: Recorder | None = None
    _active_runs: list[Run]

    def _init_history(self) -> None:
        self.history_recorder = None
        self._active_runs = []
        #: Where this lab recorded last (kept after it stops, for the error that points there).
        self._last_recording: str | None = None

    # --- recording --------------------------------------------------------------------------
    async def record(self, path: str | Path, *, flush_interval: float = 0.25, batch_size: int = 50_000) -> Recorder:
        """Record every reading and event of this lab into the SQLite file ``path`` (created when
        missing, appended to otherwise) until the lab stops or :meth:`stop_recording`."""
        target = _resolve(path)
        if self.history_recorder is not None:
            if _resolve(self.history_recorder.store.location) == target:
                return self.history_recorder
            raise HistoryError(f"this lab already records to {self.history_recorder.store.location}",
                               hint="`await lab.stop_recording()` first to record somewhere else.")
        loop = asyncio.get_running_loop()
        store = await loop.run_in_executor(None, open_store, target)
        self.history_recorder = Recorder.start(self.bus, store, flush_interval=flush_interval,
                                               batch_size=batch_size, describe=self._describe_device)
        for device_id in self.manager.ids:  # devices added before recording began
            infos = self._describe_device(device_id)
            if infos:
                await self.history_recorder.call(store.describe, infos)
        log.info("recording to %s", target)
        return self.history_recorder

    async def stop_recording(self) -> None:
        """Commit everything recorded so far and close the file (no-op when not recording)."""
        recorder, self.history_recorder = self.history_recorder, None
        if recorder is not None:
            self._last_recording = recorder.store.location
            await recorder.stop()

    def _describe_device(self, device_id: str) -> list[EntityInfo]:
        device = self.manager.devices.get(device_id)
        if device is None:
            return []
        table = device.driver.entities if device.driver is not None else (
            device.driver_cls.ENTITIES if device.driver_cls is not None else {})
        return [EntityInfo(device_id, key, d.unit, str(d.kind), d.label,
                           {"access": str(d.access), "role": str(d.role), "min": d.min, "max": d.max})
                for key, d in table.items()]

    def _store_or_raise(self) -> Any:
        if self.history_recorder is None:
            if self._last_recording is not None:  # stopped (or stop_recording): the file is still there
                raise NotRecordingError(f"this lab no longer records; its history is in {self._last_recording}",
                                        hint=f"Read it offline with `ionpy_widgets.open_run({self._last_recording!r})`"
                                             f" (its .history(device, entity)), or start a lab that records.")
            raise NotRecordingError("this lab is not recording, so it has no history")
        return self.history_recorder.store

    # --- queries ----------------------------------------------------------------------------
    def history(self, device: str, entity: str, start: TimeLike = None, end: TimeLike = None, *,
                buckets: int | None = None) -> Any:
        """Samples of ``device.entity`` between ``start`` and ``end`` (epoch seconds, datetimes or
        ISO strings; ``None``: open end) as a DataFrame ``timestamp`` (UTC), ``value``, ``unit``,
        ``quality`` (unit also in ``df.attrs["unit"]``). With ``buckets``: one row per time bucket
        with ``min``, ``max``, ``mean``, ``count``. Committed data only (at most ~0.25 s behind)."""
        return query_history(self._store_or_raise(), device, entity, start, end, buckets=buckets,
                             live=self._live_entity)

    async def history_async(self, device: str, entity: str, start: TimeLike = None, end: TimeLike = None, *,
                            buckets: int | None = None) -> Any:
        """:meth:`history` in a worker thread, after committing what was published so far."""
        store = self._store_or_raise()
        assert self.history_recorder is not None
        await self.history_recorder.flush()
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: query_history(store, device, entity, start, end, buckets=buckets, live=self._live_entity))

    def _live_entity(self, device: str, entity: str) -> bool:
        """Whether the running lab has ``device.entity`` (its entities may not be in the file yet)."""
        return any(info.entity == entity for info in self._describe_device(device))

    # --- runs -------------------------------------------------------------------------------
    def run(self, name: str, *, notes: str = "", path: str | Path | None = None, start: float | None = None) -> Run:
        """A run to use as ``async with lab.run("name", notes="...") as run:`` (or ``await
        run.begin()`` / ``await run.end()``). ``start`` backdates the run (epoch seconds)."""
        if not isinstance(name, str) or not name.strip():
            raise HistoryError(f"a run needs a name, got {name!r}", hint='e.g. lab.run("iv-sweep-led")')
        return Run(self, name.strip(), notes=notes, path=path, start=start)

    @property
    def active_runs(self) -> list[Run]:
        return list(self._active_runs)

    async def _close_history(self) -> None:
        """At lab stop (devices already stopped): end open runs, then stop recording."""
        for run in list(self._active_runs):
            try:
                await run.end(status="stopped")
            except Exception:
                log.exception("could not end run %s", run.name)
        await self.stop_recording()

    def _runs_file(self) -> Path:
        """``runs.sqlite`` in the lab's storage folder (beside the config file), else the working directory."""
        storage = getattr(self.config, "storage", None)
        folder = storage.folder_for(self.config.path) if storage is not None else None
        if folder is None:
            folder = self.config.path.parent if self.config.path is not None else Path.cwd()
        return folder / DEFAULT_RUNS_FILE

    def _snapshot(self, providers: dict[str, list[str]]) -> dict[str, Any]:
        """Configuration, driver versions and identities, JSON-friendly (on the loop's thread)."""
        from .events import jsonable

        source = self.config.path
        text = None
        if source is not None:
            try:
                text = source.read_text(encoding="utf-8")
            except OSError:
                text = None
        config = {"source": None if source is None else str(source), "text": text,
                  "devices": [jsonable(d.to_dict()) for d in self.config.devices],
                  "engine": jsonable(self.settings.to_dict())}
        return {"config": config, "drivers": _driver_versions(self.manager, providers),
                "identities": _identities(self.manager)}


class Run(RunRecord):
    """A run being recorded (a :class:`RunRecord` once begun: ``samples``, ``journal``... read the
    data recorded so far)."""

    def __init__(self, lab: HistoryMixin, name: str, *, notes: str, path: str | Path | None,
                 start: float | None) -> None:
        self._lab = lab
        self._path = path
        self._start = start
        self._owns_recorder = False
        self._ended = False
        self._pending = RunInfo(0, name, start or 0.0, notes=notes)
        self._begun = False
        # the RunRecord side until begin(): no store yet
        self._info = self._pending
        self._span = (start, None)
        self._cache = {}
        self._owns_store = False
        self._store = None

    async def begin(self) -> Run:
        if self._begun:
            raise HistoryError(f"run {self._pending.name!r} has already begun", hint="Make a new one with lab.run().")
        lab = self._lab
        if getattr(lab, "_stopped", False):
            raise HistoryError("this lab is stopped", hint="Start a new one with `lab = await Lab.start(...)`.")
        recorder = lab.history_recorder
        if recorder is None:
            recorder = await lab.record(self._path if self._path is not None else lab._runs_file())
            self._owns_recorder = True
        elif self._path is not None and _resolve(self._path) != _resolve(recorder.store.location):
            raise HistoryError(f"this lab records to {recorder.store.location}, not {self._path}",
                               hint="Leave `path` out (the run goes into the lab's recording) or stop recording.")
        loop = asyncio.get_running_loop()
        snapshot = lab._snapshot(await loop.run_in_executor(None, _providers))
        started = self._start if self._start is not None else time.time()
        info = self._pending
        run_id = await recorder.call(lambda: recorder.store.create_run(
            info.name, started, notes=info.notes, config=snapshot["config"], drivers=snapshot["drivers"],
            identities=snapshot["identities"]))
        self._recorder = recorder
        super().__init__(_shared_reader(recorder.store.location),
                         RunInfo(run_id, info.name, started, None, info.notes, "running", snapshot["config"],
                                 snapshot["drivers"], snapshot["identities"]))
        self._begun = True
        lab._active_runs.append(self)
        log.info("run %s (#%d) began, recording to %s", info.name, run_id, recorder.store.location)
        return self

    async def end(self, status: str = "completed", *, error: BaseException | None = None) -> None:
        """Record the stop (after committing every sample published until now). Idempotent."""
        if not self._begun or self._ended:
            return
        self._ended = True
        stopped = time.time()  # every reading stamped before this instant is already on the bus
        recorder = self._recorder
        identities = _identities(self._lab.manager)
        meta = {"error": repr(error)} if error is not None else None
        try:
            await recorder.flush()
            await recorder.call(lambda: recorder.store.finish_run(self.id, stopped, status, identities=identities,
                                                                  meta=meta))
        finally:
            if self in self._lab._active_runs:
                self._lab._active_runs.remove(self)
            info = self._info
            self._info = RunInfo(info.id, info.name, info.started, stopped, info.notes, status, info.config,
                                 info.drivers, identities, meta or {})
            self._span = (info.started, stopped)
            if self._owns_recorder and self._lab.history_recorder is recorder:
                await self._lab.stop_recording()
        log.info("run %s (#%d) %s after %.1f s", info.name, info.id, status, stopped - info.started)

    async def __aenter__(self) -> Run:
        return await self.begin()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            status = "completed"
        else:
            status = "cancelled" if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt) else "failed"
        await self.end(status, error=exc)

    def __repr__(self) -> str:
        if not self._begun:
            return f"<Run {self._pending.name!r} not begun: use `async with lab.run(...) as run:`>"
        return super().__repr__()


def declared_recording(config: LabConfig) -> Path | None:
    """The file the config's ``history:`` section names, resolved (None when it names none), after
    checking that its folder exists: a typo in a folder must stop the start, not create folders."""
    history = getattr(config, "history", None)
    target = history.target(config.path) if history is not None else None
    if target is None:
        return None
    where = config.path.name if config.path is not None else "the config"
    base = "the config file's folder" if config.path is not None else "the working directory"
    if not target.parent.is_dir():
        raise StorageError(f"history.path in {where}: the folder {target.parent} does not exist",
                           path=str(target), field="history.path",
                           hint=f"Create the folder (mkdir -p {target.parent}) or change `history.path` in {where} "
                                f"(a relative path starts at {base}).")
    if target.is_dir():
        raise StorageError(f"history.path in {where}: {target} is a folder, not a file", path=str(target),
                           field="history.path", hint=f"Name a file in it, e.g. `path: {target.name}/history.sqlite`.")
    return target


#: One reading store per recording file for every run object of this process (a sweep that keeps
#: hundreds of runs must not keep hundreds of SQLite connections, ~4 descriptors each). Keyed by path
#: and inode, so a file deleted and recorded anew gets a new store; dropped with the last run using it.
_READERS: weakref.WeakValueDictionary[tuple[str, int, int], HistoryStore] = weakref.WeakValueDictionary()


def _shared_reader(location: str | Path) -> HistoryStore:
    path = _resolve(location)
    stat = path.stat()
    key = (str(path), stat.st_dev, stat.st_ino)
    store = _READERS.get(key)
    if store is None:
        store = _READERS[key] = open_store(path, create=False)
    return store


def _resolve(path: str | Path) -> Path:
    """An absolute path (a file that does not exist yet resolves too); no I/O beyond ``resolve``."""
    return Path(path).expanduser().resolve()


def _identities(manager: DeviceManager) -> dict[str, Any]:
    return {device_id: {"driver": device.config.driver, "state": device.state.value,
                        "identity": device.identity.to_dict() if device.identity is not None else None}
            for device_id, device in manager.devices.items()}


@functools.cache
def _providers() -> dict[str, list[str]]:
    """Top-level module -> distributions (scans the installed metadata once per process)."""
    try:
        return dict(importlib.metadata.packages_distributions())
    except Exception:  # broken metadata must not stop a run
        return {}


def _driver_versions(manager: DeviceManager, providers: dict[str, list[str]]) -> dict[str, Any]:
    """Per driver name: its class, the distribution that provides it and that distribution's version."""
    out: dict[str, Any] = {}
    for device in manager.devices.values():
        cls = device.driver_cls
        name = device.config.driver
        if name in out:
            continue
        if cls is None:
            out[name] = {"class": None, "package": None, "version": None}
            continue
        top = cls.__module__.partition(".")[0]
        dists = providers.get(top, [])
        version = None
        for dist in dists:
            try:
                version = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
        if version is None:  # an editable install maps no module to its distribution
            try:
                version = importlib.metadata.version(top)
            except (importlib.metadata.PackageNotFoundError, ValueError):
                version = getattr(sys.modules.get(top), "__version__", None)
        out[name] = {"class": f"{cls.__module__}.{cls.__qualname__}", "package": dists[0] if dists else top,
                     "version": version, "driver_version": getattr(cls, "version", None)}
    return out


__all__ = ["DEFAULT_RUNS_FILE", "HistoryMixin", "Run", "declared_recording"]
