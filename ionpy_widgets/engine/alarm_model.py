"""The alarm state machine of one numeric entity, sans-IO: values and timestamps in, changes out.

Four limits (HIHI ≥ HI on the high side, LO ≥ LOLO on the low side), a deadband (hysteresis), an
on-delay and an off-delay, and the ISA-18.2 states:

* ``normal`` — not in alarm, nothing to acknowledge;
* ``active_unack`` — in alarm, not acknowledged yet;
* ``active_ack`` — in alarm, acknowledged;
* ``cleared_unack`` — back to normal, but the alarm was never acknowledged.

Rules (one *point* per entity; its ``level`` is the most severe level in force):

* a level is *entered* when the value reaches its limit (``>= hi``, ``<= lo``) and stays there for
  ``on_delay`` seconds; it is *left* only when the value is back beyond the limit by ``deadband``
  (``< hi - deadband``, ``> lo + deadband``) for ``off_delay`` seconds;
* entering a more severe level (HI → HIHI, or normal → anything) is a ``raise``: the state becomes
  ``active_unack`` again, whatever it was; a less severe level that is still an alarm (HIHI → HI)
  is a ``level`` change and keeps the acknowledgement; back to normal is a ``clear``
  (``active_unack`` → ``cleared_unack``, ``active_ack`` → ``normal``);
* ``acknowledge``: ``active_unack`` → ``active_ack``, ``cleared_unack`` → ``normal``;
* ``shelve(seconds)`` hides the point from annunciation until it expires (or ``unshelve``); the
  state machine keeps running meanwhile and changes carry ``shelved=True``;
* ``disable`` takes the point out of service (level ok, state normal, no evaluation) until
  ``enable``, which starts evaluating afresh (on-delay from then on).

Nothing here reads a clock: every call takes ``now`` (seconds, any clock the caller keeps to;
the engine uses wall-clock time) and :meth:`AlarmPoint.next_deadline` says when :meth:`AlarmPoint.tick`
must be called for a delay or a shelve to expire without a new value.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from ..errors import IonpyError
from .events import AlarmLevel

OK = AlarmLevel.OK
HIGH_SIDE = (AlarmLevel.HIHI, AlarmLevel.HI)
LOW_SIDE = (AlarmLevel.LOLO, AlarmLevel.LO)
#: Levels from most to least severe within each side.
LEVELS = (AlarmLevel.HIHI, AlarmLevel.HI, AlarmLevel.LO, AlarmLevel.LOLO)
SEVERITY = {OK: 0, AlarmLevel.HI: 1, AlarmLevel.LO: 1, AlarmLevel.HIHI: 2, AlarmLevel.LOLO: 2}


class AlarmError(IonpyError):
    code = "alarm_error"


class AlarmState(StrEnum):
    NORMAL = "normal"
    ACTIVE_UNACK = "active_unack"
    ACTIVE_ACK = "active_ack"
    CLEARED_UNACK = "cleared_unack"


class Transition(StrEnum):
    RAISE = "raise"
    LEVEL = "level"
    CLEAR = "clear"
    ACKNOWLEDGE = "acknowledge"
    SHELVE = "shelve"
    UNSHELVE = "unshelve"
    DISABLE = "disable"
    ENABLE = "enable"
    #: A safe-state action ran (published by the engine, never produced by a point).
    ACTION = "action"


def side(level: AlarmLevel) -> int:
    """+1 for HI/HIHI, -1 for LO/LOLO, 0 for ok."""
    return 1 if level in HIGH_SIDE else -1 if level in LOW_SIDE else 0


def level_name(level: AlarmLevel | str) -> str:
    """``"NORMAL"``, ``"HI"``, ``"HIHI"``, ``"LO"`` or ``"LOLO"`` (the ``ionpy run --json`` words)."""
    level = AlarmLevel(level)
    return "NORMAL" if level is OK else level.value.upper()


@dataclass(frozen=True, slots=True)
class AlarmAction:
    """A safe-state action: ``output_off`` (this device), ``emergency_stop`` (every device) or
    ``write`` (``params``: entity key -> value, written to this device)."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def to_config(self) -> Any:
        return {self.kind: dict(self.params)} if self.params else self.kind


@dataclass(frozen=True, slots=True)
class AlarmSpec:
    """The limits and timing of one point (built by :mod:`.alarm_config` from the driver's
    defaults and the user's config)."""

    hihi: float | None = None
    hi: float | None = None
    lo: float | None = None
    lolo: float | None = None
    deadband: float = 0.0
    on_delay: float = 0.0
    off_delay: float = 0.0
    enabled: bool = True
    #: Level -> actions run when that level is raised.
    actions: Mapping[AlarmLevel, tuple[AlarmAction, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def limit(self, level: AlarmLevel) -> float | None:
        return None if level is OK else getattr(self, level.value)

    @property
    def levels(self) -> tuple[AlarmLevel, ...]:
        """The levels that have a limit, most severe first per side."""
        return tuple(lv for lv in LEVELS if self.limit(lv) is not None)

    def limits(self) -> dict[str, float]:
        return {lv.value: lim for lv in LEVELS if (lim := self.limit(lv)) is not None}

    def to_dict(self) -> dict[str, Any]:
        return {**self.limits(), "deadband": self.deadband, "on_delay": self.on_delay, "off_delay": self.off_delay,
                "enabled": self.enabled,
                "actions": {lv.value: [a.to_config() for a in acts] for lv, acts in self.actions.items()}}


@dataclass(frozen=True, slots=True)
class Change:
    """One transition of one point."""

    transition: Transition
    level: AlarmLevel
    previous: AlarmLevel
    state: AlarmState
    value: float | None
    timestamp: float
    who: str = "engine"
    limit: float | None = None
    #: The point was shelved when this happened (not annunciated).
    shelved: bool = False
    shelved_until: float | None = None


class AlarmPoint:
    """The alarm state machine of ``device.entity`` (see the module docstring)."""

    def __init__(self, device: str, entity: str, spec: AlarmSpec, *, unit: str = "", label: str = "") -> None:
        self.device = device
        self.entity = entity
        self.unit = unit
        self.label = label or entity
        self.spec = spec
        self.level: AlarmLevel = OK
        #: The level of the last raise (what a cleared, unacknowledged alarm was about).
        self.raised: AlarmLevel = OK
        self.state = AlarmState.NORMAL
        self.value: float | None = None
        #: When the current level was entered (None while ok).
        self.since: float | None = None
        self.shelved_until: float | None = None
        self.enabled = spec.enabled
        self._cond_since: dict[AlarmLevel, float] = {}
        self._leave_since: float | None = None
        #: The latest ``now`` seen (deadlines at or before it are not reported again).
        self._now = -math.inf

    # --- inputs -----------------------------------------------------------------------------
    def update(self, value: Any, now: float) -> list[Change]:
        """A new value at ``now``; non-numeric and non-finite values are ignored."""
        self._now = max(self._now, now)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return self._expire(now)
        self.value = float(value)
        return self._expire(now) + self._evaluate(now)

    def tick(self, now: float) -> list[Change]:
        """Let delays and shelving expire at ``now`` (no new value)."""
        self._now = max(self._now, now)
        changes = self._expire(now)
        if self.value is not None:
            changes += self._evaluate(now)
        return changes

    def next_deadline(self) -> float | None:
        """When :meth:`tick` should run next (a delay maturing, a shelve expiring), or None."""
        times = [self.shelved_until] if self.shelved_until is not None else []
        if self.enabled and self.value is not None:
            for lv, since in self._cond_since.items():
                if SEVERITY[lv] > SEVERITY[self.level] or side(lv) != side(self.level):
                    times.append(since + self.spec.on_delay)
            if self._leave_since is not None:
                times.append(self._leave_since + self.spec.off_delay)
        future = [t for t in times if t > self._now]
        return min(future) if future else None

    # --- operator actions -------------------------------------------------------------------
    def acknowledge(self, now: float, who: str = "code") -> list[Change]:
        if self.state is AlarmState.ACTIVE_UNACK:
            self.state = AlarmState.ACTIVE_ACK
        elif self.state is AlarmState.CLEARED_UNACK:
            self.state = AlarmState.NORMAL
        else:
            return []
        return [self._change(Transition.ACKNOWLEDGE, self.level, now, who)]

    def shelve(self, seconds: float, now: float, who: str = "code") -> list[Change]:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds <= 7 * 86400:
            raise AlarmError(f"shelve time must be a number of seconds in (0, 604800], got {seconds!r}",
                             hint="For example `lab.shelve(device, entity, 600)` for ten minutes.",
                             device=self.device, entity=self.entity)
        self.shelved_until = now + float(seconds)
        return [self._change(Transition.SHELVE, self.level, now, who)]

    def unshelve(self, now: float, who: str = "code") -> list[Change]:
        if self.shelved_until is None:
            return []
        self.shelved_until = None
        return [self._change(Transition.UNSHELVE, self.level, now, who)]

    def disable(self, now: float, who: str = "code") -> list[Change]:
        if not self.enabled:
            return []
        previous = self.level
        self.enabled = False
        self.level, self.state, self.since = OK, AlarmState.NORMAL, None
        self._cond_since.clear()
        self._leave_since = None
        return [self._change(Transition.DISABLE, previous, now, who)]

    def enable(self, now: float, who: str = "code") -> list[Change]:
        if self.enabled:
            return []
        self.enabled = True
        changes = [self._change(Transition.ENABLE, OK, now, who)]
        if self.value is not None:
            changes += self._evaluate(now)
        return changes

    def reconfigure(self, spec: AlarmSpec) -> None:
        """New limits or timing; the state is kept and re-evaluated with the next value or tick."""
        self.spec = spec
        self._cond_since = {lv: t for lv, t in self._cond_since.items() if spec.limit(lv) is not None}
        if self.level is not OK and spec.limit(self.level) is None:
            self._cond_since.pop(self.level, None)

    # --- views ------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.state in (AlarmState.ACTIVE_UNACK, AlarmState.ACTIVE_ACK)

    @property
    def unacknowledged(self) -> bool:
        return self.state in (AlarmState.ACTIVE_UNACK, AlarmState.CLEARED_UNACK)

    @property
    def leaving(self) -> bool:
        """The value is back beyond the deadband and the off-delay is running."""
        return self._leave_since is not None

    def shelved(self, now: float) -> bool:
        return self.shelved_until is not None and now < self.shelved_until

    def snapshot(self) -> dict[str, Any]:
        """What survives a restart (restored with :meth:`restore`)."""
        return {"level": self.level.value, "state": self.state.value, "since": self.since,
                "shelved_until": self.shelved_until, "enabled": self.enabled, "value": self.value,
                "raised": self.raised.value}

    def restore(self, snap: Mapping[str, Any], now: float) -> None:
        """Take over a snapshot of an earlier session: level, state, shelving and enablement. An
        expired shelve is dropped; the level is confirmed or cleared by the next values."""
        try:
            level, state = AlarmLevel(snap.get("level", "ok")), AlarmState(snap.get("state", "normal"))
        except ValueError:
            return
        if level is not OK and self.spec.limit(level) is None:
            level = OK
            state = AlarmState.CLEARED_UNACK if state is AlarmState.ACTIVE_UNACK else state
            state = AlarmState.NORMAL if state is AlarmState.ACTIVE_ACK else state
        self.level, self.state = level, state
        with contextlib.suppress(ValueError):
            self.raised = AlarmLevel(snap.get("raised") or level.value)
        self.since = snap.get("since") if level is not OK else None
        until = snap.get("shelved_until")
        self.shelved_until = float(until) if isinstance(until, int | float) and until > now else None
        self.enabled = bool(snap.get("enabled", True))
        if level is not OK:
            self._cond_since[level] = float(self.since or now)

    # --- the machine ------------------------------------------------------------------------
    def _expire(self, now: float) -> list[Change]:
        if self.shelved_until is not None and now >= self.shelved_until:
            self.shelved_until = None
            return [self._change(Transition.UNSHELVE, self.level, now, "expiry")]
        return []

    def _held(self, lv: AlarmLevel) -> bool:
        """``lv`` is in force: the current level is on its side and at least as severe."""
        return side(lv) == side(self.level) and SEVERITY[self.level] >= SEVERITY[lv]

    def _condition(self, lv: AlarmLevel, value: float) -> bool:
        limit = self.spec.limit(lv)
        assert limit is not None
        band = self.spec.deadband if self._held(lv) else 0.0
        if side(lv) > 0:
            return value > limit - band if band else value >= limit
        return value < limit + band if band else value <= limit

    def _target(self, now: float) -> AlarmLevel:
        """The most severe level whose condition holds and is in force or has waited its on-delay."""
        assert self.value is not None
        best = OK
        for lv in self.spec.levels:
            if self._condition(lv, self.value):
                since = self._cond_since.setdefault(lv, now)
                matured = self._held(lv) or now - since >= self.spec.on_delay
                if matured and (SEVERITY[lv] > SEVERITY[best] or (SEVERITY[lv] == SEVERITY[best]
                                                                   and side(lv) == side(self.level))):
                    best = lv
            else:
                self._cond_since.pop(lv, None)
        return best

    def _evaluate(self, now: float) -> list[Change]:
        if not self.enabled or self.value is None:
            return []
        target = self._target(now)
        current = self.level
        if target is current:
            self._leave_since = None
            return []
        if target is not OK and (SEVERITY[target] > SEVERITY[current] or side(target) != side(current)):
            self._leave_since = None
            self.level, self.state, self.since = target, AlarmState.ACTIVE_UNACK, now
            self.raised = target
            return [self._change(Transition.RAISE, current, now)]
        if self._leave_since is None:
            self._leave_since = now
        if now - self._leave_since < self.spec.off_delay:
            return []
        self._leave_since = None
        self.level = target
        if target is OK:
            self.since = None
            self.state = AlarmState.CLEARED_UNACK if self.state is AlarmState.ACTIVE_UNACK else AlarmState.NORMAL
            return [self._change(Transition.CLEAR, current, now)]
        return [self._change(Transition.LEVEL, current, now)]

    def _change(self, transition: Transition, previous: AlarmLevel, now: float, who: str = "engine") -> Change:
        return Change(transition, self.level, previous, self.state, self.value, now, who,
                      self.spec.limit(self.level if self.level is not OK else previous), self.shelved(now),
                      self.shelved_until)

    def __repr__(self) -> str:
        return f"<AlarmPoint {self.device}.{self.entity} {self.level.value} {self.state.value}>"


__all__ = ["LEVELS", "AlarmAction", "AlarmError", "AlarmPoint", "AlarmSpec", "AlarmState", "Change", "Transition",
           "level_name", "side"]
