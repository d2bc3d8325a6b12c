"""The alarm engine: one :class:`~.alarm_model.AlarmPoint` per alarmed entity of every device, fed
from the bus, publishing :class:`~.events.AlarmEvent` (never dropped), keeping the history in the
journal and running the safe-state actions itself — whether or not any widget is open.

* Points come from the driver's default limits (``EntityDescription.alarm``) and the device's
  ``alarms:`` config (:mod:`.alarm_config`); they are rebuilt when a device is added, updated or
  identified, keeping their state.
* Readings arrive on an unbounded subscription (readings are never dropped for the alarm engine),
  processed in publish order. :meth:`AlarmEngine.catch_up` processes what is queued at once, so a
  caller holding a reading (``ionpy run --json``) sees the alarm level *after* that reading.
* Delays and shelving expire on a timer (:meth:`AlarmPoint.next_deadline`), even without new values.
* Every change is a history row (:mod:`.alarm_records`): published on the bus, appended to the
  in-memory history and recorded in the journal (kind ``alarm``). On start the journal is read
  back: the history is reloaded and every point takes its last state again (an unacknowledged
  alarm stays unacknowledged across a restart; an active one is confirmed or cleared by the new
  values, and its actions run again once confirmed).
* Actions (``output_off``, ``emergency_stop``, ``write``) run in tasks of their own when their
  level is raised; their writes carry source ``alarm`` and each result is a history row too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..driver.entity import EntityDescription
from . import alarm_records as records
from .alarm_actions import ActionRunner
from .alarm_config import build_specs
from .alarm_model import AlarmPoint, Change, Transition, level_name
from .bus import EventBus, Subscription, SubscriptionClosedError
from .events import Event, ReadingEvent, SystemEvent, SystemKind

if TYPE_CHECKING:
    from .journal import Journal
    from .manager import DeviceManager

log = logging.getLogger(__name__)

Key = tuple[str, str]
#: Alarm rows read back from the journal on start (the newest ones).
RESTORE_ROWS = 20_000
_KINDS = ("reading", SystemKind.DEVICE_ADDED.value, SystemKind.DEVICE_REMOVED.value, SystemKind.DEVICE_UPDATED.value)


class AlarmEngine:
    """Alarm points of every device of one lab (see the module docstring)."""

    def __init__(self, bus: EventBus, manager: DeviceManager, *, clock: Callable[[], float] = time.time,
                 history_size: int = 1000) -> None:
        self.bus = bus
        self.manager = manager
        self.clock = clock
        self.points: dict[Key, AlarmPoint] = {}
        self.history: deque[dict[str, Any]] = deque(maxlen=history_size)
        self.journal: Journal | None = None
        self.actions = ActionRunner(manager, self._action_done, clock=clock)
        self._restored: dict[Key, dict[str, Any]] = {}
        self._rearm: set[Key] = set()
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    # --- lifecycle --------------------------------------------------------------------------
    def start(self, journal: Journal | None = None) -> None:
        """Reload the history and states from ``journal``, build the points of the devices known so
        far and follow the bus (needs the running loop)."""
        self.journal = journal
        if journal is not None:
            try:
                rows = [r for e in journal.entries(kind=records.JOURNAL_KIND, limit=RESTORE_ROWS)
                        if (r := records.from_journal(e)) is not None]
            except Exception as exc:  # a damaged journal must not stop the alarms
                log.error("alarm history could not be read from the journal: %s", exc)
                rows = []
            self.history.extend(rows)
            self._restored = records.last_snapshots(rows)
        self._sub = self.bus.subscribe(maxsize=0, kinds=_KINDS, name="ionpy-alarms")
        for device_id in self.manager.ids:
            self._build(device_id)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ionpy-alarms")

    async def stop(self) -> None:
        """Process what is queued, let running actions finish (bounded), stop following the bus."""
        self.catch_up()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.actions.wait(timeout=self.manager.settings.poll_timeout + 1)
        if self._sub is not None:
            self._sub.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        assert self._sub is not None
        with contextlib.suppress(SubscriptionClosedError):
            while True:
                self.process(await self._sub.get())

    def catch_up(self, until: Event | None = None) -> None:
        """Process every queued event now (or up to and including ``until``)."""
        if self._sub is None or self._sub.closed:
            return
        while True:
            try:
                event = self._sub.get_nowait()
            except (asyncio.QueueEmpty, SubscriptionClosedError):
                return
            self.process(event)
            if event is until:
                return

    # --- events -----------------------------------------------------------------------------
    def process(self, event: Event) -> None:
        """Account one bus event (readings update points; device events rebuild them)."""
        if isinstance(event, ReadingEvent):
            for reading in event.readings:
                point = self.points.get((event.device, reading.entity))
                if point is not None:
                    self._apply(point, point.update(reading.value, reading.timestamp))
            self._confirm_restored(event.device)
        elif isinstance(event, SystemEvent):
            if event.kind is SystemKind.DEVICE_REMOVED:
                self._drop(event.device)
            elif event.device in self.manager.devices:
                self._build(event.device)
        self._schedule()

    def _entities(self, device_id: str) -> dict[str, EntityDescription]:
        device = self.manager.devices.get(device_id)
        if device is None:
            return {}
        if device.driver is not None:
            return dict(device.driver.entities)
        return dict(device.driver_cls.ENTITIES) if device.driver_cls is not None else {}

    def _build(self, device_id: str) -> None:
        """(Re)build the points of one device from its entity table and config, keeping states."""
        device = self.manager.devices.get(device_id)
        if device is None:
            return
        entities = self._entities(device_id)
        specs = build_specs(entities, device.config.alarms)
        for key in [k for k in self.points if k[0] == device_id and k[1] not in specs]:
            del self.points[key]
        now = self.clock()
        for entity, spec in specs.items():
            key = (device_id, entity)
            point = self.points.get(key)
            if point is not None:
                if spec.enabled != point.spec.enabled:  # `enabled:` changed in the config
                    self._apply(point, point.enable(now, "config") if spec.enabled else point.disable(now, "config"))
                point.reconfigure(spec)
                continue
            desc = entities[entity]
            point = self.points[key] = AlarmPoint(device_id, entity, spec, unit=desc.unit, label=desc.label)
            snap = self._restored.pop(key, None)
            if snap is not None:
                point.restore(snap, now)
                if point.active and self._actions_for(point, point.level):
                    self._rearm.add(key)

    def _drop(self, device_id: str) -> None:
        for key in [k for k in self.points if k[0] == device_id]:
            del self.points[key]
            self._rearm.discard(key)

    def _confirm_restored(self, device_id: str) -> None:
        """Run the actions of an alarm restored as active once the new values confirm it."""
        for key in [k for k in self._rearm if k[0] == device_id]:
            point = self.points.get(key)
            if point is None or point.value is None or (point.active and point.leaving):
                continue  # no value yet, or it is on its way back to normal: wait and see
            self._rearm.discard(key)
            if point.active and point.enabled:
                self.actions.run(point, point.level, self._actions_for(point, point.level))

    # --- changes ----------------------------------------------------------------------------
    def _apply(self, point: AlarmPoint, changes: list[Change]) -> None:
        for change in changes:
            self._record(records.row(point, change))
            if change.transition is Transition.RAISE:
                self._rearm.discard((point.device, point.entity))
                actions = self._actions_for(point, change.level)
                if actions:
                    self.actions.run(point, change.level, actions)

    @staticmethod
    def _actions_for(point: AlarmPoint, level: Any) -> list[Any]:
        """The actions of ``level`` and of the less severe levels on its side (the value passed them)."""
        order = ("hi", "hihi") if level.value in ("hi", "hihi") else ("lo", "lolo")
        chosen: list[Any] = []
        for name in order[: order.index(level.value) + 1]:
            for lv, acts in point.spec.actions.items():
                if lv.value == name:
                    chosen += [a for a in acts if a not in chosen]
        return chosen

    def _action_done(self, data: dict[str, Any]) -> None:
        self._record(data)

    def _record(self, data: dict[str, Any]) -> None:
        self.history.append(data)
        self.bus.publish(records.event(data))
        if self.journal is not None and not self.journal.closed:
            try:
                self.journal.record_event(records.JOURNAL_KIND, data["device"], **records.journal_data(data))
            except Exception as exc:  # never lose the alarm itself because the journal failed
                log.error("alarm could not be journaled: %s", exc)

    def _schedule(self) -> None:
        deadlines = [d for p in self.points.values() if (d := p.next_deadline()) is not None]
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadlines and self._sub is not None and not self._sub.closed:
            delay = max(0.0, min(deadlines) - self.clock()) + 0.001
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.catch_up()  # values first, in order
        now = self.clock()
        for point in list(self.points.values()):
            self._apply(point, point.tick(now))
        self._schedule()

    # --- operator actions -------------------------------------------------------------------
    def _operate(self, fn: Callable[[AlarmPoint, float], list[Change]], points: list[AlarmPoint]) -> int:
        self.catch_up()
        now = self.clock()
        count = 0
        for point in points:
            changes = fn(point, now)
            count += bool(changes)
            self._apply(point, changes)
        self._schedule()
        return count

    def point(self, device: str, entity: str) -> AlarmPoint:
        from .alarm_api import AlarmNotFoundError

        point = self.points.get((device, entity))
        if point is None:
            known = ", ".join(f"{d}.{e}" for d, e in self.points) or "none"
            raise AlarmNotFoundError(f"no alarm on {device}.{entity}", device=device, entity=entity,
                                     hint=f"Alarmed entities: {known}. Configure one under `alarms:` of the device.")
        return point

    def select(self, device: str | None = None, entity: str | None = None) -> list[AlarmPoint]:
        if device is not None and entity is not None:
            return [self.point(device, entity)]
        if device is not None and device not in self.manager.devices:
            self.manager.get(device)  # DeviceNotFoundError with the known ids
        return [p for (d, e), p in self.points.items() if device is None or d == device]

    def acknowledge(self, device: str | None = None, entity: str | None = None, *, who: str = "code") -> int:
        """Acknowledge one alarm, every alarm of a device, or all (no arguments); returns how many."""
        return self._operate(lambda p, now: p.acknowledge(now, who), self.select(device, entity))

    def shelve(self, device: str, entity: str, seconds: float, *, who: str = "code") -> None:
        point = self.point(device, entity)
        self._operate(lambda p, now: p.shelve(seconds, now, who), [point])

    def unshelve(self, device: str, entity: str, *, who: str = "code") -> None:
        self._operate(lambda p, now: p.unshelve(now, who), [self.point(device, entity)])

    def set_enabled(self, device: str, entity: str, enabled: bool, *, who: str = "code") -> None:
        point = self.point(device, entity)
        self._operate(lambda p, now: p.enable(now, who) if enabled else p.disable(now, who), [point])

    # --- views ------------------------------------------------------------------------------
    def status(self, point: AlarmPoint) -> dict[str, Any]:
        now = self.clock()
        return {"device": point.device, "entity": point.entity, "label": point.label, "unit": point.unit,
                "level": point.level.value, "alarm": level_name(point.level), "state": point.state.value,
                "raised": point.raised.value, "value": point.value, "since": point.since,
                "limit": point.spec.limit(point.level if point.level.value != "ok" else point.raised),
                "shelved": point.shelved(now), "shelved_until": point.shelved_until if point.shelved(now) else None,
                "enabled": point.enabled, "limits": point.spec.limits(), "deadband": point.spec.deadband,
                "on_delay": point.spec.on_delay, "off_delay": point.spec.off_delay}

    def state(self) -> dict[str, dict[str, Any]]:
        """``"device.entity" -> status`` of every point."""
        self.catch_up()
        return {f"{d}.{e}": self.status(p) for (d, e), p in self.points.items()}

    def alarm_list(self) -> list[dict[str, Any]]:
        """Points not in state ``normal`` (active, or cleared but unacknowledged), most severe first."""
        self.catch_up()
        rows = [self.status(p) for p in self.points.values() if p.state.value != "normal"]
        rank = {"hihi": 0, "lolo": 0, "hi": 1, "lo": 1, "ok": 2}
        return sorted(rows, key=lambda r: (r["shelved"], rank[r["level"]], -(r["since"] or 0)))

    def counts(self) -> dict[str, Any]:
        """``active``/``unacked`` (not shelved), ``shelved``, ``disabled`` and the ``highest`` level."""
        now = self.clock()
        shown = [p for p in self.points.values() if not p.shelved(now)]
        active = [p for p in shown if p.active]
        highest = max((p.level for p in active), key=lambda lv: ("ok", "lo", "hi", "lolo", "hihi").index(lv.value),
                      default=None)
        return {"active": len(active), "unacked": sum(p.unacknowledged for p in shown),
                "shelved": sum(p.shelved(now) for p in self.points.values()),
                "disabled": sum(not p.enabled for p in self.points.values()),
                "highest": highest.value if highest is not None else None}

    def level_name(self, device: str, entity: str) -> str:
        """``NORMAL``/``HI``/``HIHI``/``LO``/``LOLO`` of one entity (``NORMAL`` when it has no alarm)."""
        point = self.points.get((device, entity))
        return level_name(point.level) if point is not None else "NORMAL"


__all__ = ["RESTORE_ROWS", "AlarmEngine"]
