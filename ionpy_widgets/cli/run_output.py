"""How ``ionpy run`` prints the engine's events: readings on stdout (one JSON object per reading,
or one human line per poll), availability changes, device errors and alarms on stderr."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from .common import emit_json


def format_value(value: Any, desc: Any = None) -> str:
    """``value`` for a human: enum labels, numbers rounded to the entity's precision, on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if desc is not None:
        options = getattr(desc, "options", None) or {}
        if isinstance(value, int) and value in options:
            return str(options[value])
        precision = getattr(desc, "precision", None)
        if isinstance(value, float) and precision is not None:  # rounded to the entity, trailing zeros cut
            return f"{value:.{precision}f}".rstrip("0").rstrip(".") if precision > 0 else f"{value:.0f}"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def clock(timestamp: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(timestamp)) + f".{int(timestamp % 1 * 1000):03d}"


def print_readings(event: Any, as_json: bool, alarms: Any = None, entities: Any = None) -> None:
    """One line per reading (``--json``, with ``alarm``: NORMAL/HI/HIHI/LO/LOLO after that reading),
    or one line per poll; ``alarms`` is the lab's alarm engine, ``entities(device)`` its entity table."""
    if alarms is not None:
        alarms.catch_up(event)  # the alarm levels as of this very reading

    def level(r: Any) -> str:
        return alarms.level_name(r.device, r.entity) if alarms is not None else "NORMAL"

    if as_json:
        sys.stdout.write("".join(json.dumps({**r.to_dict(), "alarm": level(r)}, separators=(",", ":"), default=str)
                                 + "\n" for r in event.readings))
    else:
        parts = []
        table = entities(event.device) if entities is not None else {}
        for r in event.readings:
            text = f"{r.entity}={format_value(r.value, table.get(r.entity))}{(' ' + r.unit) if r.unit else ''}"
            text = text if level(r) == "NORMAL" else f"{text} [{level(r)}]"
            parts.append(text if str(r.quality) == "good" else f"{text} ({r.quality})")
        sys.stdout.write(f"{clock(event.timestamp)} {event.device}  {'  '.join(parts)}\n")
    sys.stdout.flush()


def print_system(event: Any, as_json: bool) -> None:
    if as_json:
        emit_json(event.to_dict(), sys.stderr)
        return
    payload = event.payload
    if str(event.kind) == "availability":
        if payload.get("available"):
            downtime = payload.get("downtime")
            line = f"{event.device} is available" + (
                f" again after {downtime:.1f} s" if payload.get("recovered") and downtime is not None else "")
        else:
            reason = payload.get("reason") or payload.get("state") or ""
            hint = (payload.get("error") or {}).get("hint")  # e.g. the ports that exist, the dialout group
            line = f"{event.device} is unavailable" + (f": {reason}" if reason else "") + (
                f" (hint: {hint})" if hint else "")
    else:
        error = payload.get("error") or {}
        line = f"{event.device} error [{error.get('code', '?')}]: {error.get('message', '')}"
        if error.get("hint"):
            line += f" (hint: {error['hint']})"
    print(f"{clock(event.timestamp)} {line}", file=sys.stderr, flush=True)


def print_alarm(event: Any, as_json: bool) -> None:
    if as_json:
        emit_json(event.to_dict(), sys.stderr)
    else:
        print(f"{clock(event.timestamp)} ALARM {event.device}.{event.entity} {event.state or event.level}: "
              f"{event.message}", file=sys.stderr, flush=True)


async def pump_events(sub: Any, as_json: bool, alarms: Any = None, entities: Any = None) -> None:
    async for event in sub:
        if event.category == "reading":
            print_readings(event, as_json, alarms, entities)
        elif event.category == "alarm":
            print_alarm(event, as_json)
        elif event.category == "system":
            print_system(event, as_json)

