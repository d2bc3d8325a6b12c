"""What an alarm change looks like outside the state machine: the history row (also the journal
row's data and the widget's table row), the human message, and the snapshot read back from the
journal after a restart.

A history row is a plain, JSON-friendly dict::

    {"time": 1718000000.25, "device": "DPS5005_1", "entity": "u_out", "label": "Output voltage",
     "unit": "V", "transition": "raise", "level": "hihi", "previous": "hi", "state": "active_unack",
     "value": 13.2, "limit": 13.0, "who": "engine", "shelved": false, "shelved_until": null,
     "message": "Output voltage HIHI: 13.2 V (limit 13 V)"}

Action rows (``transition == "action"``) add ``action``, ``ok``, ``result`` or ``error``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .alarm_model import AlarmPoint, Change, Transition, level_name
from .events import AlarmEvent, AlarmLevel, jsonable

if TYPE_CHECKING:
    from .journal import JournalEntry

#: Journal event kind of alarm rows.
JOURNAL_KIND = "alarm"
#: Keys of a history row kept in a point's snapshot (what a restart restores).
SNAPSHOT_KEYS = ("level", "state", "since", "shelved_until", "enabled", "value", "raised")


def _fmt(value: Any, unit: str) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else "—" if value is None else str(value)
    return f"{text} {unit}".rstrip()


def message(point: AlarmPoint, change: Change) -> str:
    """One readable line, e.g. ``Output voltage HIHI: 13.2 V (limit 13 V)``."""
    name, unit = point.label, point.unit
    value = _fmt(change.value, unit)
    limit = f" (limit {_fmt(change.limit, unit)})" if change.limit is not None else ""
    t = change.transition
    if t is Transition.RAISE:
        return f"{name} {level_name(change.level)}: {value}{limit}"
    if t is Transition.LEVEL:
        return f"{name} back to {level_name(change.level)} from {level_name(change.previous)}: {value}"
    if t is Transition.CLEAR:
        return f"{name} back to normal: {value}"
    if t is Transition.ACKNOWLEDGE:
        return f"{name} acknowledged by {change.who}"
    if t is Transition.SHELVE:
        return f"{name} shelved by {change.who}"
    if t is Transition.UNSHELVE:
        return f"{name} shelving ended" + (" (expired)" if change.who == "expiry" else f" by {change.who}")
    if t is Transition.DISABLE:
        return f"{name} alarm disabled by {change.who}"
    if t is Transition.ENABLE:
        return f"{name} alarm enabled by {change.who}"
    return f"{name} {t.value}"


def row(point: AlarmPoint, change: Change) -> dict[str, Any]:
    """The history row of one change (see the module docstring)."""
    return {"time": change.timestamp, "device": point.device, "entity": point.entity, "label": point.label,
            "unit": point.unit, "transition": change.transition.value, "level": change.level.value,
            "previous": change.previous.value, "state": change.state.value, "value": change.value,
            "limit": change.limit, "who": change.who, "shelved": change.shelved,
            "shelved_until": change.shelved_until, "since": point.since, "enabled": point.enabled,
            "raised": point.raised.value, "message": message(point, change)}


def action_row(point: AlarmPoint, level: AlarmLevel, action: str, *, ok: bool, now: float,
               result: Any = None, error: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The history row of one safe-state action."""
    what = {"output_off": "outputs switched off", "emergency_stop": "emergency stop of every device",
            "write": "safe values written"}.get(action, action)
    text = f"{point.label} {level_name(level)}: {what}" if ok else \
        f"{point.label} {level_name(level)}: {action} FAILED: {(error or {}).get('message', '')}"
    data: dict[str, Any] = {"time": now, "device": point.device, "entity": point.entity, "label": point.label,
                            "unit": point.unit, "transition": Transition.ACTION.value, "level": level.value,
                            "previous": level.value, "state": point.state.value, "value": point.value,
                            "limit": point.spec.limit(level), "who": "engine", "shelved": point.shelved(now),
                            "shelved_until": point.shelved_until, "action": action, "ok": ok, "message": text}
    if ok:
        data["result"] = jsonable(result)
    else:
        data["error"] = dict(error or {})
    return data


def event(data: Mapping[str, Any]) -> AlarmEvent:
    """The bus event of a history row."""
    extra = {k: data[k] for k in ("previous", "limit", "shelved", "shelved_until", "label", "unit", "action", "ok",
                                  "result", "error", "since", "enabled", "raised") if k in data}
    return AlarmEvent(data["device"], data["entity"], AlarmLevel(data["level"]), data.get("value"),
                      data.get("message", ""), data["time"], data["transition"], data["state"], data.get("who", ""),
                      extra)


def journal_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments for ``journal.record_event(JOURNAL_KIND, device, **...)``."""
    return {k: v for k, v in data.items() if k != "device"}


def from_journal(entry: JournalEntry) -> dict[str, Any] | None:
    """A history row back from a journal entry (None when it is not a complete alarm row)."""
    data = dict(entry.data)
    if entry.kind != JOURNAL_KIND or not entry.device or "entity" not in data or "transition" not in data:
        return None
    data["device"] = entry.device
    data.setdefault("time", entry.timestamp)
    return data


def last_snapshots(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The newest state of every point in ``rows`` (oldest first), for :meth:`AlarmPoint.restore`."""
    snaps: dict[tuple[str, str], dict[str, Any]] = {}
    for data in rows:
        if data.get("transition") == Transition.ACTION.value:
            continue
        key = (str(data["device"]), str(data["entity"]))
        snaps[key] = {k: data.get(k) for k in SNAPSHOT_KEYS}
        if data.get("transition") in (Transition.DISABLE.value, Transition.ENABLE.value):
            snaps[key]["enabled"] = data["transition"] == Transition.ENABLE.value
    return snaps


__all__ = ["JOURNAL_KIND", "action_row", "event", "from_journal", "journal_data", "last_snapshots", "message", "row"]
