"""``ionpy discover`` and ``ionpy probe``: the discovery and connection-test data the widgets show.

* ``ionpy discover serial|usb|hid|visa|tcp [--json]`` — one scanner. ``tcp`` needs ``--targets``
  (only what is typed there is ever probed) and takes ``--ports 5025,5555``; ``visa`` lists local
  buses only unless ``--network`` is given (which broadcasts VXI-11 and mDNS queries).
  ``--json``: the scanner's result (``{"bus", "items", "error", "duration_ms", "note"}``); for
  ``tcp`` a list of ``{"host", "port", "service", "latency_ms", "idn"}``.
* ``ionpy probe --driver NAME --transport TYPE --param key=value … [--framing TYPE]
  [--framing-param key=value …] [--json]`` — the step-by-step probe; steps print as they finish.
  ``--json``: ``{"success", "steps", "first_values", "error", "duration_ms"}``.

Exit codes: 0 success, 1 the probe (or a scanner) failed, 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import IonpyError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
BUSES = ("serial", "usb", "hid", "visa", "tcp")
_INT = re.compile(r"[+-]?(0|[1-9]\d*)")
_FLOAT = re.compile(r"[+-]?((0|[1-9]\d*)(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


class UsageError(IonpyError):
    """A command-line argument that cannot work."""

    code = "cli_usage"


def parse_value(text: str) -> Any:
    """``9600`` → int, ``0.5`` → float, ``true``/``false`` → bool, ``null`` → None, else the string
    (``/dev/ttyUSB0``, ``0012`` and ``10C4`` stay strings)."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    if _INT.fullmatch(text.strip()):
        return int(text)
    if _FLOAT.fullmatch(text.strip()):
        return float(text)
    return text


def parse_pairs(pairs: Sequence[str], flag: str) -> dict[str, Any]:
    """``["port=/dev/ttyUSB0", "baudrate=9600"]`` → ``{"port": "/dev/ttyUSB0", "baudrate": 9600}``."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} expects KEY=VALUE, got {pair!r}", hint=f"For example {flag} port=/dev/ttyUSB0.")
        out[key.strip()] = parse_value(value)
    return out


def _ports(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(p) for p in text.replace(" ", "").split(",") if p]
    except ValueError:
        raise UsageError(f"--ports expects comma-separated port numbers, got {text!r}",
                         hint="For example --ports 5025,5555,502.") from None


def _emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")
    sys.stdout.flush()


# --- discover ------------------------------------------------------------------------------------


def _check_discover_args(args: argparse.Namespace) -> None:
    if args.bus == "tcp" and not args.targets:
        raise UsageError("discover tcp needs --targets", hint="Only what you type is scanned, e.g. --targets "
                         "192.168.1.50 or --targets 192.168.1.0/24 (at most 1024 hosts).")
    if args.bus != "tcp" and (args.targets or args.ports or args.idn_all):
        raise UsageError("--targets, --ports and --idn-all apply to `discover tcp` only",
                         hint=f"Leave them out for `discover {args.bus}`.")
    if args.bus != "visa" and (args.network or args.visa_library):
        raise UsageError("--network and --visa-library apply to `discover visa` only",
                         hint=f"Leave them out for `discover {args.bus}`.")
    if args.bus != "serial" and args.path:
        raise UsageError("--path applies to `discover serial` only", hint="Leave it out.")


async def _scan(args: argparse.Namespace) -> Any:
    from ..discovery import discover

    if args.bus == "tcp":
        ports = _ports(args.ports)
        kw: dict[str, Any] = {"targets": args.targets, "ports": ports, "timeout": args.timeout}
        if args.idn_all and ports:
            kw["idn_ports"] = ports
        return await discover("network", **kw)
    if args.bus == "serial":
        return await discover("serial", extra_paths=args.path)
    if args.bus == "visa":
        rm = _resource_manager(args.visa_library) if args.visa_library else None
        try:
            return await discover("visa", network=args.network, resource_manager=rm)
        finally:
            if rm is not None:
                rm.close()
    return await discover(args.bus)


def _resource_manager(spec: str) -> Any:
    """A pyvisa ResourceManager for ``spec`` (``devices.yaml@sim``, ``@py``, ``@ivi``); never lists anything."""
    try:
        import pyvisa

        return pyvisa.ResourceManager(spec)
    except Exception as exc:  # missing backend, unreadable YAML, no VISA library
        raise UsageError(f"--visa-library {spec!r} cannot be used: {exc}",
                         hint="For example --visa-library path/to/devices.yaml@sim, or pip install pyvisa-py "
                              "for @py.") from None


def _likely(hints: list[dict[str, Any]]) -> str:
    return hints[0]["driver"] if hints else ""


def _rows(bus: str, items: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    if bus == "serial":
        return ["DEVICE", "USB ID", "DESCRIPTION", "LIKELY", "NOTE"], [
            [i["by_id"] or i["device"], i["usb_id"], i["description"] or i["product"], _likely(i["hints"]),
             "in use" if i["in_use"] else i["permission_hint"]] for i in items]
    if bus == "usb":
        return ["USB ID", "BUS-PORT", "PRODUCT", "CLASSES", "LIKELY"], [
            [i["usb_id"], i["sysfs_name"], " ".join(p for p in (i["manufacturer"], i["product"]) if p),
             ", ".join(i["interface_classes"]), _likely(i["hints"])] for i in items]
    if bus == "hid":
        return ["PATH", "USB ID", "PRODUCT", "LIKELY", "NOTE"], [
            [i["path"], i["usb_id"], i["product"], _likely(i["hints"]), i["permission_hint"]] for i in items]
    if bus == "visa":
        return ["RESOURCE", "IDN", "LIKELY", "NOTE"], [
            [i["resource"], " ".join(v for v in (i["idn"] or {}).values() if v), _likely(i["hints"]),
             (i["error"] or {}).get("message", "") or i["note"]] for i in items]
    return ["HOST", "PORT", "SERVICE", "LATENCY", "IDN"], [
        [i["host"], str(i["port"]), i["service"], f"{i['latency_ms']:.1f} ms" if i["latency_ms"] is not None else "",
         " ".join(v for v in (i["idn"] or {}).values() if v)] for i in items]


def table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns, two spaces apart."""
    widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header))]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
                     for r in [header, *rows])


def discover_command(args: argparse.Namespace) -> int:
    _check_discover_args(args)
    result = asyncio.run(_scan(args))
    data = result.to_dict()
    if args.bus == "tcp":
        data["items"] = [item.to_dict() for item in result.items]
    if args.json:
        _emit(data["items"] if args.bus == "tcp" else data)
    else:
        header, rows = _rows(args.bus, data["items"])
        print(table(header, rows) if rows else f"no {args.bus} devices found")
        if data["note"]:
            print(f"note: {data['note']}")
        print(f"({len(rows)} found in {data['duration_ms']:.0f} ms)")
    if result.error is not None:
        err = result.error
        sys.stderr.write(f"error [{err.code}]: {err.message}\n" + (f"  hint: {err.hint}\n" if err.hint else ""))
        return EXIT_FAILED
    return EXIT_OK


# --- probe ---------------------------------------------------------------------------------------


def _framing(args: argparse.Namespace) -> dict[str, Any] | None:
    fparams = parse_pairs(args.framing_param, "--framing-param")
    if args.framing is None and not fparams:
        return None
    ftype = args.framing
    if ftype is None:  # parameters for the driver's own framing
        from ..driver.registry import get_driver

        blueprint = get_driver(args.driver).blueprint_for(args.transport)
        if blueprint is None:
            raise UsageError(f"driver {args.driver} has no default framing for {args.transport}",
                             hint="Name it with --framing TYPE (e.g. modbus_rtu, delimiter).")
        ftype = blueprint.framing
    return {"type": ftype, "params": fparams}


def _print_step(step: Any) -> None:
    mark = "ok  " if step.ok else "FAIL"
    line = f"  {mark}  {step.message}" + (f" — {step.detail}" if step.detail else "")
    print(f"{line}  ({step.duration_ms:.0f} ms)", flush=True)
    if step.hint:
        print(f"        hint: {step.hint}", flush=True)


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def probe_command(args: argparse.Namespace) -> int:
    from ..engine.probe import probe

    params = parse_pairs(args.param, "--param")
    framing = _framing(args)
    if not args.timeout > 0:
        raise UsageError(f"--timeout must be positive, got {args.timeout}", hint="The default is 10 s.")
    if not args.json:
        from ..engine.probe_hints import port_label

        print(f"Probing {args.driver} over {port_label(args.transport, params)} …", flush=True)
    result = asyncio.run(probe(args.driver, args.transport, params, framing, timeout=args.timeout,
                               on_step=None if args.json else _print_step))
    if args.json:
        _emit(result.to_dict())
    else:
        if result.first_values:
            print("First values:")
            print(table(["ENTITY", "VALUE", "UNIT"],
                        [[k, _format(v["value"]), v["unit"]] for k, v in result.first_values.items()]))
        failed = result.failed_step
        outcome = "succeeded" if result.success else f"failed at {failed.message!r}" if failed else "failed"
        print(f"Probe {outcome} in {result.duration_ms:.0f} ms")
    if result.success:
        return EXIT_OK
    return EXIT_USAGE if result.config_error else EXIT_FAILED


# --- parsers -------------------------------------------------------------------------------------


def add_parsers(sub: Any) -> None:
    """Register ``discover`` and ``probe`` on the ``ionpy`` subparsers."""
    disc = sub.add_parser("discover", help="list serial ports, USB/HID devices, VISA resources or TCP instruments")
    disc.add_argument("bus", choices=BUSES, help="what to list")
    disc.add_argument("--targets", help="tcp: hosts to scan exactly as typed (192.168.1.50, 192.168.1.0/24, "
                                        "10.0.0.1-20, comma-separated)")
    disc.add_argument("--ports", help="tcp: comma-separated ports (default 5025,5555,502,4880,111)")
    disc.add_argument("--timeout", type=float, default=0.5, help="tcp: seconds per connection attempt")
    disc.add_argument("--idn-all", action="store_true", help="tcp: ask *IDN? on every open port, not only 5025/5555")
    disc.add_argument("--network", action="store_true",
                      help="visa: also list network instruments (broadcasts VXI-11 and mDNS on every interface)")
    disc.add_argument("--visa-library", metavar="SPEC", help="visa: pyvisa library, e.g. devices.yaml@sim")
    disc.add_argument("--path", action="append", default=[], help="serial: also describe this path (repeatable)")
    disc.add_argument("--json", action="store_true", help="JSON instead of a table")
    disc.set_defaults(handler=discover_command)

    probe = sub.add_parser("probe", help="test one connection step by step (open, identify, read)")
    probe.add_argument("--driver", required=True, help="driver name, e.g. DPS5005 (see `ionpy info`)")
    probe.add_argument("--transport", required=True, help="serial, tcp, visa, hid, virtual or none")
    probe.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                       help="transport parameter, repeatable: port=/dev/ttyUSB0 baudrate=9600 host=… ")
    probe.add_argument("--framing", metavar="TYPE", help="framing type (default: the driver's)")
    probe.add_argument("--framing-param", action="append", default=[], metavar="KEY=VALUE",
                       help="framing parameter, repeatable: slave_id=1")
    probe.add_argument("--timeout", type=float, default=10.0, help="hard limit for the whole probe (s)")
    probe.add_argument("--json", action="store_true", help="the probe result as one JSON object")
    probe.set_defaults(handler=probe_command)


__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "UsageError", "add_parsers", "discover_command", "parse_pairs",
           "parse_value", "probe_command", "table"]
