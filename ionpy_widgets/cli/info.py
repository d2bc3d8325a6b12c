"""``ionpy info [--json]``: version, Python, drivers, transports (with the reason when one is
unavailable) and simulators."""

from __future__ import annotations

import argparse
import platform
import sys
from typing import Any

from .. import __version__
from .common import EXIT_OK, emit_json


def _driver_rows() -> list[dict[str, Any]]:
    from ..driver.registry import get_driver, list_drivers

    rows = []
    for entry in list_drivers():
        row: dict[str, Any] = {"name": entry.name, "target": entry.target, "source": entry.source}
        if entry.error:
            row["error"] = entry.error
        else:
            cls = get_driver(entry.name)
            row.update(category=cls.category.value, description=cls.description)
        rows.append(row)
    return rows


def _transport_rows() -> list[dict[str, Any]]:
    from ..transport.registry import list_transports

    return [{"name": t.name, "available": t.available, "reason": t.reason, "description": t.description}
            for t in list_transports()]


def _info(args: argparse.Namespace) -> int:
    from ..instruments.catalog import list_simulators

    data = {
        "version": __version__,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "drivers": _driver_rows(),
        "transports": _transport_rows(),
        "simulators": [s.to_dict() for s in list_simulators()],
    }
    if args.json:
        emit_json(data)
        return EXIT_OK
    out = [f"ionpy_widgets {data['version']} on Python {data['python']} ({data['implementation']}, "
           f"{data['platform']})", "", "Drivers:"]
    for d in data["drivers"]:
        what = f"ERROR {d['error']}" if "error" in d else f"[{d['category']}] {d['description']}"
        out.append(f"  {d['name']:<14} {what}")
    out += ["", "Transports:"]
    for t in data["transports"]:
        state = f"available      {t['description']}" if t["available"] else f"unavailable: {t['reason']}"
        out.append(f"  {t['name']:<14} {state}")
    out += ["", "Simulators (ionpy simulate <name>):"]
    for s in data["simulators"]:
        out.append(f"  {s['name']:<14} {('ERROR ' + s['error']) if 'error' in s else s['description']}")
    print("\n".join(out))
    return EXIT_OK




def add_parser(sub: Any) -> None:
    info = sub.add_parser("info", help="version, drivers, transports and simulators")
    info.add_argument("--json", action="store_true", help="one JSON object instead of text")
    info.set_defaults(handler=_info)
