"""The journal recorder: turns a lab's system events into journal rows and persisted values.

It reads its own bus subscription to system events (which the bus never drops) from one task,
so every write and every lifecycle event reaches the journal, in publish order, without the
publisher waiting for a disk. :meth:`JournalRecorder.pump` handles whatever is queued at once; the lab
calls it before lifecycle changes, when ``lab.journal`` is read and at shutdown, so nothing
queued is ever lost.

* ``write`` (successful) → ``journal.record_write(device, key, old, new, source, unit, cell)``, and the
  value is kept in the :class:`~.state.StateManager` when the entity is marked ``persist``
  (switches never are); a failed write → a ``write_failed`` event row with the error.
* ``device_added``/``device_removed``/``device_error``/``availability``/``emergency_stop`` → rows of
  the same kind; ``device_updated`` → ``device_enabled``/``device_disabled`` when that was the
  change, else ``device_updated``. Driver manifests are left out of the rows (they are static).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import TYPE_CHECKING, Any

from .bus import EventBus, SubscriptionClosedError
from .events import Event, SystemEvent, SystemKind

if TYPE_CHECKING:
    from .journal import Journal
    from .manager import DeviceManager
    from .state import StateManager

log = logging.getLogger(__name__)

_SOURCE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_JOURNALED = {SystemKind.DEVICE_ADDED, SystemKind.DEVICE_REMOVED, SystemKind.DEVICE_ERROR, SystemKind.AVAILABILITY,
              SystemKind.EMERGENCY_STOP}


def clean_source(source: Any) -> str:
    """A journal-safe source word: ``"Widget"`` → ``"widget"``, ``"my script"`` → ``"my_script"``."""
    word = re.sub(r"[^a-z0-9_]+", "_", str(source).strip().lower()).strip("_")[:64]
    return word if _SOURCE.fullmatch(word) else "code"


class JournalRecorder:
    """Journal and state keeping for one lab (see the module docstring)."""

    def __init__(self, bus: EventBus, manager: DeviceManager, *, journal: Journal | None,
                 state: StateManager | None) -> None:
        self.manager = manager
        self.journal = journal
        self.state = state
        #: Events that could not be recorded (the first failure is logged).
        self.failures = 0
        self._sub = bus.subscribe(kinds=("system",), maxsize=0, name="ionpy-journal-recorder")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ionpy-journal-recorder")

    async def _run(self) -> None:
        while True:
            try:
                event = await self._sub.get()
            except SubscriptionClosedError:
                return
            self._record(event)
            self.pump()

    def pump(self) -> int:
        """Record every queued event now; returns how many."""
        count = 0
        while not self._sub.closed and not self._sub.empty():
            self._record(self._sub.get_nowait())
            count += 1
        return count

    async def stop(self) -> None:
        """Record what is queued, then stop reading. Safe to call twice."""
        self.pump()
        self._sub.close()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- one event --------------------------------------------------------------------------
    def _record(self, event: Event) -> None:
        if not isinstance(event, SystemEvent):
            return
        try:
            if event.kind is SystemKind.WRITE:
                self._write(event)
            elif self.journal is not None:
                self._lifecycle(event, self.journal)
        except Exception as exc:  # a full disk must not stop the recorder (the journal keeps a warning)
            self.failures += 1
            level = logging.ERROR if self.failures == 1 else logging.DEBUG
            log.log(level, "could not record %s of %s: %s", event.kind.value, event.device or "the lab", exc)

    def _write(self, event: SystemEvent) -> None:
        p = event.payload
        key, source = str(p.get("key", "")), clean_source(p.get("source", "code"))
        cell = p.get("cell") if isinstance(p.get("cell"), dict) else None
        if not p.get("ok"):
            if self.journal is not None:
                origin = {"cell": cell} if cell is not None else {}
                self.journal.record_event("write_failed", event.device, key=key, value=p.get("value"),
                                          source=source, error=p.get("error"), **origin)
            return
        device = self.manager.devices.get(event.device)
        entity = None
        if device is not None:
            table = device.driver.entities if device.driver is not None else (
                device.driver_cls.ENTITIES if device.driver_cls is not None else {})
            entity = table.get(key)
        if self.state is not None and entity is not None:
            try:
                self.state.set(event.device, key, p.get("value"), entity=entity)
            except ValueError as exc:  # not a JSON scalar: journaled, not persisted
                log.debug("%s.%s not persisted: %s", event.device, key, exc)
        if self.journal is not None:
            self.journal.record_write(event.device, key, p.get("old"), p.get("value"), source=source,
                                      unit=entity.unit if entity is not None else "", cell=cell)

    def _lifecycle(self, event: SystemEvent, journal: Journal) -> None:
        data = {k: v for k, v in event.payload.items() if k != "manifest"}
        if event.kind is SystemKind.DEVICE_UPDATED:
            change = data.get("change")
            kind = {"enabled": "device_enabled", "disabled": "device_disabled"}.get(str(change), "device_updated")
        elif event.kind in _JOURNALED:
            kind = event.kind.value
        else:
            return
        journal.record_event(kind, event.device or None, **data)


__all__ = ["JournalRecorder", "clean_source"]
