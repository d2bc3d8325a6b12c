"""Safe-state actions of alarms, run by the engine itself (no widget needed).

* ``output_off`` — the alarmed device's ``driver.outputs_off()`` (every output switch of it off);
* ``emergency_stop`` — ``lab.emergency_stop()``: every output of every device off, at once;
* ``write`` — ``{entity: value, ...}`` written to the alarmed device (e.g. ``{load_current: 0}``).

Writes made by an action carry source ``alarm`` (so the journal says who switched the output
off). Each action runs in a task of its own, so a slow or unreachable instrument never holds up
the alarm engine; its result (or error) is reported back as a history row.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import IonpyError
from . import alarm_records as records
from .alarm_model import AlarmAction, AlarmPoint
from .events import AlarmLevel
from .poller import normalise_error

if TYPE_CHECKING:
    from .manager import DeviceManager

log = logging.getLogger(__name__)

#: The write source of everything an alarm action does.
SOURCE = "alarm"


class ActionRunner:
    """Runs actions in tasks and reports each result to ``done(history_row)``."""

    def __init__(self, manager: DeviceManager, done: Callable[[dict[str, Any]], None], *,
                 clock: Callable[[], float] = time.time) -> None:
        self.manager = manager
        self.done = done
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        #: Actions run so far and how many failed.
        self.count = 0
        self.failures = 0

    def run(self, point: AlarmPoint, level: AlarmLevel, actions: Sequence[AlarmAction]) -> None:
        """Start ``actions`` (in order, one task) for ``point`` raised at ``level``."""
        if not actions:
            return
        task = asyncio.get_running_loop().create_task(self._run(point, level, list(actions)),
                                                      name=f"ionpy-alarm-action:{point.device}.{point.entity}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def wait(self, timeout: float | None = None) -> None:
        """Wait for running actions (at most ``timeout``; what is left is cancelled)."""
        if not self._tasks:
            return
        tasks = set(self._tasks)
        _, late = await asyncio.wait(tasks, timeout=timeout)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=0.5)

    async def _run(self, point: AlarmPoint, level: AlarmLevel, actions: list[AlarmAction]) -> None:
        for action in actions:
            self.count += 1
            try:
                result = await self._one(point, action)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                error = exc if isinstance(exc, IonpyError) else normalise_error(exc, point.device, "")
                log.error("alarm action %s of %s.%s failed: %s", action.kind, point.device, point.entity, error)
                self.done(records.action_row(point, level, action.kind, ok=False, now=self.clock(),
                                             error=error.to_dict()))
            else:
                log.warning("alarm %s.%s %s: %s done", point.device, point.entity, level.value, action.kind)
                self.done(records.action_row(point, level, action.kind, ok=True, now=self.clock(), result=result))

    async def _one(self, point: AlarmPoint, action: AlarmAction) -> Any:
        if action.kind == "emergency_stop":
            return await self.manager.emergency_stop()
        device = self.manager.get(point.device)
        if action.kind == "output_off":
            return await device.outputs_off(source=SOURCE)
        if action.kind == "write":
            written = {}
            for key, value in action.params.items():
                written[key] = await device.write(key, value, source=SOURCE)
            return written
        raise IonpyError(f"unknown alarm action {action.kind!r}", hint="Actions: output_off, emergency_stop, write.")


__all__ = ["SOURCE", "ActionRunner"]
