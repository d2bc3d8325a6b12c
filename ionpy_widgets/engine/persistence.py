"""The lab's runtime files: the state file, the journal and the log level, opened at start and
closed at shutdown (part of :class:`~.lab.Lab`).

Where they live: next to the config file by default (``device_state.json``, ``journal.sqlite``),
or as the config's ``storage:`` section says (:class:`~.config_schema.StorageConfig`). A lab
started from a dict keeps no files unless its dict has a ``storage:`` section.

Restoring after a restart puts the saved values in memory only (``lab[id].restored``); nothing is
sent to any instrument and output switches are never stored, so nothing switches itself on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import StorageError
from .journal import Journal
from .journal_recorder import JournalRecorder
from .state import StateManager

if TYPE_CHECKING:
    from .bus import EventBus
    from .config import DeviceConfig, LabConfig
    from .config_manager import ConfigManager
    from .manager import DeviceManager

log = logging.getLogger(__name__)
PACKAGE_LOGGER = "ionpy_widgets"


class PersistenceMixin:
    """State file, journal and log level of a :class:`~.lab.Lab`."""

    config: LabConfig
    key: str
    bus: EventBus
    manager: DeviceManager
    config_manager: ConfigManager | None
    _state: StateManager | None
    _journal: Journal | None
    _recorder: JournalRecorder | None
    _log_level: int | None

    def _init_storage(self) -> None:
        self.config_manager = None
        self._state = None
        self._journal = None
        self._recorder = None
        self._log_level = None

    def _open_storage(self) -> None:
        """Open the state file and the journal (after any previous lab on the same files stopped)."""
        storage = self.config.storage
        state_path, journal_path = storage.paths(self.config.path)
        for path in (state_path, journal_path):
            if path is not None:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StorageError(f"cannot create the folder {path.parent}: {exc.strerror or exc}",
                                       path=str(path.parent), hint="Fix `storage.folder` in the config file.") from exc
        if state_path is not None:
            self._state = StateManager(state_path, autosave_interval=storage.autosave_interval)
        if journal_path is not None:
            self._journal = Journal(journal_path)
        if self._state is not None or self._journal is not None:
            self._recorder = JournalRecorder(self.bus, self.manager, journal=self._journal, state=self._state)
            self._recorder.start()
        if self._state is not None:
            self._state.start_autosave()
        level = self.config.logging.level
        if level is not None:
            logger = logging.getLogger(PACKAGE_LOGGER)
            self._log_level = logger.level
            logger.setLevel(level)
        if self._journal is not None:
            self._journal.record_event("lab_started", config=str(self.config.path) if self.config.path else None,
                                       devices=self.config.ids, config_version_read=self.config.migrated_from)

    def restored_for(self, config: DeviceConfig) -> dict[str, Any]:
        """The values saved for ``config.id`` by an earlier session, filtered by its driver's entity
        table (switches never come back). Memory only: the engine sends none of them."""
        if self._state is None:
            return {}
        from ..driver.registry import get_driver

        try:
            entities = get_driver(config.driver).ENTITIES
        except Exception:  # the device will show why its driver cannot load; restore only settings
            entities = None
        return self._state.restore(config.id, entities)

    @property
    def state(self) -> StateManager | None:
        """The persisted runtime values (setpoints...; None when the lab keeps no state file),
        up to date with every write made so far."""
        if self._recorder is not None:
            self._recorder.pump()
        return self._state

    @property
    def journal(self) -> Journal | None:
        """The journal of every write and lifecycle event (None when the lab keeps none). Shows as a
        table in a notebook; ``lab.journal.entries(device=...)``, ``.to_dataframe()``."""
        if self._recorder is not None:
            self._recorder.pump()
        return self._journal

    @property
    def storage_paths(self) -> dict[str, Path | None]:
        """Where the runtime files are: ``{"config", "state", "journal"}``."""
        return {"config": self.config.path, "state": self._state.path if self._state is not None else None,
                "journal": self._journal.path if self._journal is not None else None}

    @property
    def warnings(self) -> list[str]:
        """Warnings a user should see: a state file or journal that was unreadable and moved aside..."""
        found: list[str] = []
        for source in (self._state, self._journal):
            if source is not None:
                found.extend(source.warnings_list)
        return found

    def save_state(self) -> Path | None:
        """Write the state file now (synchronous; the autosave does it every few seconds anyway)."""
        if self._recorder is not None:
            self._recorder.pump()
        return self._state.save_now() if self._state is not None else None

    def _forget_state(self, device_id: str) -> None:
        if self._recorder is not None:
            self._recorder.pump()
        if self._state is not None:
            self._state.remove_device(device_id)

    async def _close_storage(self) -> None:
        """Record what is queued, save the state, close the journal, restore the log level. Never raises."""
        if self._recorder is not None:
            await self._recorder.stop()
        if self._state is not None:
            await self._state.stop()  # saves when dirty; a failure becomes a visible warning
        if self._journal is not None and not self._journal.closed:
            try:
                self._journal.record_event("lab_stopped", devices=self.manager.ids)
                self._journal.close()
            except StorageError as exc:
                log.error("the journal of lab %s could not be closed cleanly: %s", self.key, exc)
        if self._log_level is not None:
            logging.getLogger(PACKAGE_LOGGER).setLevel(self._log_level)
            self._log_level = None


__all__ = ["PersistenceMixin"]
