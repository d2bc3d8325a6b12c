"""The ``ionpy`` command line: ``info``, ``simulate`` and ``run`` (argparse, no extra dependency).

* ``ionpy info [--json]`` — version, Python, drivers, transports (with the reason when one is
  unavailable) and simulators.
* ``ionpy simulate <family> (--serial [--link PATH] | --tcp 127.0.0.x:PORT)`` — serve a behaving
  simulator on a real pseudo-terminal or a loopback socket until SIGINT/SIGTERM. With ``--json``
  the first stdout line is one JSON object saying where it listens, flushed at once, so scripts
  can wait for it instead of sleeping.
* ``ionpy run <config> [--json] [--duration S] [--record PATH]`` — the engine without a notebook:
  live readings on stdout (``--json``: one object per reading per line, with its ``alarm`` level:
  NORMAL, HI, HIHI, LO or LOLO), availability changes and alarm events on stderr; ``--record``
  keeps everything in a SQLite recording (one run spanning it) and prints how many samples were
  published and stored when it stops.

Every error a user can cause is printed with its code, message and hint, and exits with 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import logging
import platform
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import IonpyError

EXIT_OK = 0
EXIT_ERROR = 2


class CliError(IonpyError):
    """A command-line argument that cannot work (bad address, missing file, wrong flag)."""

    code = "cli_usage"


# --- helpers -------------------------------------------------------------------------------------


def _emit_json(data: dict[str, Any], stream: Any = None) -> None:
    stream = sys.stdout if stream is None else stream
    stream.write(json.dumps(data, separators=(",", ":"), default=str) + "\n")
    stream.flush()


def _print_error(exc: IonpyError, *, as_json: bool) -> None:
    if as_json:
        _emit_json({"error": exc.to_dict()}, sys.stderr)
        return
    sys.stderr.write(f"error [{exc.code}]: {exc.message}\n")
    if exc.hint:
        sys.stderr.write(f"  hint: {exc.hint}\n")
    sys.stderr.flush()


async def _wait_for_stop(duration: float | None) -> str:
    """Wait for SIGINT/SIGTERM (or ``duration`` seconds); return what ended the wait."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reason = {"why": "duration"}

    def _on_signal(name: str) -> None:
        reason["why"] = name
        stop.set()

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not in the main thread / Windows
            loop.add_signal_handler(sig, _on_signal, sig.name)
            installed.append(sig)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    return reason["why"]


def parse_loopback(text: str) -> tuple[str, int]:
    """``"127.0.0.x:PORT"`` (or ``localhost:PORT``) -> (host, port); anything else is refused."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise CliError(f"--tcp expects HOST:PORT, got {text!r}", hint="Use e.g. --tcp 127.0.0.1:5025 "
                       "(port 0 picks a free port and prints it).")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise CliError(f"--tcp host {host!r} is not an IP address", hint="Simulators listen on "
                       "127.0.0.0/8 only: use e.g. --tcp 127.0.0.1:5025.") from None
    if addr not in ipaddress.ip_network("127.0.0.0/8"):
        raise CliError(f"refusing to serve a simulator on {host}: only loopback addresses (127.0.0.0/8) are "
                       "allowed", hint="Use e.g. --tcp 127.0.0.1:5025; a simulator must never be reachable "
                       "from the network.", host=host)
    return host, int(port_text)


# --- info ----------------------------------------------------------------------------------------


def _driver_rows() -> list[dict[str, Any]]:
    from .driver.registry import get_driver, list_drivers

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
    from .transport.registry import list_transports

    return [{"name": t.name, "available": t.available, "reason": t.reason, "description": t.description}
            for t in list_transports()]


def _info(args: argparse.Namespace) -> int:
    from .instruments.catalog import list_simulators

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
        _emit_json(data)
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


# --- simulate ------------------------------------------------------------------------------------


def _sim_options(args: argparse.Namespace) -> dict[str, Any]:
    from .instruments.catalog import simulator_options

    options: dict[str, Any] = {}
    if args.model is not None:
        options["model"] = args.model
    if args.load_ohms is not None:
        options["load_ohms"] = args.load_ohms
    if args.baud_emulate and "baudrate" in (simulator_options(args.family) or ()):
        options["baudrate"] = args.baud_emulate  # the simulator's own t3.5 follows the emulated rate
    return options


def _sim_model_name(sim: Any, family: str) -> str:
    model = getattr(sim, "model", None)
    name = getattr(model, "name", model)
    return str(name) if name else family.upper()


def _simulate(args: argparse.Namespace) -> int:
    from .instruments.catalog import make_simulator

    tcp = parse_loopback(args.tcp) if args.tcp else None
    if args.baud_emulate is not None and args.baud_emulate <= 0:
        raise CliError(f"--baud-emulate must be a positive baud rate, got {args.baud_emulate}",
                       hint="Use e.g. --baud-emulate 9600, or leave it out for no wire-time emulation.")
    try:
        sim = make_simulator(args.family, **_sim_options(args))
    except TypeError as exc:
        raise CliError(str(exc), hint=f"Leave that flag out for {args.family}.") from None
    return asyncio.run(_serve(sim, args, tcp))


async def _start_server(sim: Any, args: argparse.Namespace, tcp: tuple[str, int] | None) -> Any:
    from .instruments.simhost import PtyServer, TcpServer

    if tcp is not None:
        host, port = tcp
        try:
            return await TcpServer(sim, host, port, baud=args.baud_emulate).start()
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", host=host, port=port,
                           hint="Pick another port (port 0 picks a free one) or stop whatever uses it.") from None
    try:
        return await PtyServer(sim, link_path=args.link, baud=args.baud_emulate).start()
    except OSError as exc:
        raise CliError(f"cannot create the pseudo-terminal or link {args.link}: {exc.strerror or exc}",
                       hint="--link needs a writable directory that exists, e.g. --link /tmp/ttyDPS.") from None


async def _serve(sim: Any, args: argparse.Namespace, tcp: tuple[str, int] | None) -> int:
    server = await _start_server(sim, args, tcp)
    family = args.family.lower()
    name = _sim_model_name(sim, family)
    try:
        info: dict[str, Any] = {"family": family, "model": name, "transport": "tcp" if tcp else "serial"}
        if tcp is not None:
            info.update(host=server.host, port=server.port)
            where = f"{server.host}:{server.port}"
        else:
            info.update(path=server.path, tty=server.tty_path)
            where = server.path if server.path == server.tty_path else f"{server.path} -> {server.tty_path}"
        info["baud_emulate"] = args.baud_emulate
        slave = getattr(sim, "slave_id", None)
        if slave is not None:
            info["slave"] = slave
        detail = []
        if tcp is None:
            baud = args.baud_emulate or getattr(sim, "baudrate", None) or 9600
            detail.append(f"{baud} 8N1" + (", wire time emulated" if args.baud_emulate else ""))
        elif args.baud_emulate:
            detail.append(f"{args.baud_emulate} baud wire time emulated")
        if slave is not None:
            detail.append(f"slave {slave}")
        human = f"{name} simulator on {where}" + (f" ({', '.join(detail)})" if detail else "") \
            + " — Ctrl+C to stop"
        if args.json:
            _emit_json(info)
            print(human, file=sys.stderr, flush=True)
        else:
            print(human, flush=True)
        why = await _wait_for_stop(None)
        if not args.json:
            print(f"{why}: simulator stopped after {sim.requests} request(s)", flush=True)
    finally:
        await server.close()
    return EXIT_OK



# --- run -----------------------------------------------------------------------------------------


def _format_value(value: Any, desc: Any = None) -> str:
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


def _clock(timestamp: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(timestamp)) + f".{int(timestamp % 1 * 1000):03d}"


def _print_readings(event: Any, as_json: bool, alarms: Any = None, entities: Any = None) -> None:
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
            text = f"{r.entity}={_format_value(r.value, table.get(r.entity))}{(' ' + r.unit) if r.unit else ''}"
            text = text if level(r) == "NORMAL" else f"{text} [{level(r)}]"
            parts.append(text if str(r.quality) == "good" else f"{text} ({r.quality})")
        sys.stdout.write(f"{_clock(event.timestamp)} {event.device}  {'  '.join(parts)}\n")
    sys.stdout.flush()


def _print_system(event: Any, as_json: bool) -> None:
    if as_json:
        _emit_json(event.to_dict(), sys.stderr)
        return
    payload = event.payload
    if str(event.kind) == "availability":
        state = "available" if payload.get("available") else "unavailable"
        reason = payload.get("reason") or payload.get("state") or ""
        line = f"{event.device} is {state}" + (f": {reason}" if reason and state == "unavailable" else "")
    else:
        error = payload.get("error") or {}
        line = f"{event.device} error [{error.get('code', '?')}]: {error.get('message', '')}"
        if error.get("hint"):
            line += f" (hint: {error['hint']})"
    print(f"{_clock(event.timestamp)} {line}", file=sys.stderr, flush=True)


def _print_alarm(event: Any, as_json: bool) -> None:
    if as_json:
        _emit_json(event.to_dict(), sys.stderr)
    else:
        print(f"{_clock(event.timestamp)} ALARM {event.device}.{event.entity} {event.state or event.level}: "
              f"{event.message}", file=sys.stderr, flush=True)


async def _pump_events(sub: Any, as_json: bool, alarms: Any = None, entities: Any = None) -> None:
    async for event in sub:
        if event.category == "reading":
            _print_readings(event, as_json, alarms, entities)
        elif event.category == "alarm":
            _print_alarm(event, as_json)
        elif event.category == "system":
            _print_system(event, as_json)


def _run(args: argparse.Namespace) -> int:
    config = Path(args.config)
    if not config.is_file():
        raise CliError(f"config file {config} does not exist", path=str(config),
                       hint="Give the path of a lab YAML/JSON file (see README: 'A lab.yaml for those two "
                            "simulators').")
    if args.duration is not None and args.duration <= 0:
        raise CliError(f"--duration must be positive, got {args.duration}", hint="Leave it out to run until Ctrl+C.")
    return asyncio.run(_run_lab(config, args.json, args.duration, getattr(args, "record", None)))


async def _run_lab(config: Path, as_json: bool, duration: float | None, record: str | None = None) -> int:
    from .engine.lab import Lab

    lab = await Lab.start(config, record=record)
    recorder = lab.history_recorder
    if recorder is not None:  # one run spanning the whole recording (ionpy_widgets.open_run(PATH))
        await lab.run(config.stem, notes=f"ionpy run {config.name}", start=recorder.started_at).begin()
    sub = lab.subscribe(kinds=["reading", "availability", "device_error", "alarm"], name="ionpy-run")

    def entities(device: str) -> Any:
        return lab[device].entities if device in lab else {}

    printer = asyncio.get_running_loop().create_task(_pump_events(sub, as_json, lab.alarm_engine, entities),
                                                     name="ionpy-run-printer")
    try:
        stopper = asyncio.ensure_future(_wait_for_stop(duration))
        done, _ = await asyncio.wait({stopper, printer}, return_when=asyncio.FIRST_COMPLETED)
        if printer in done:
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopper
            printer.result()  # a broken stdout raises here
    finally:
        await lab.stop()
        sub.close()
        printer.cancel()
        with contextlib.suppress(asyncio.CancelledError, BrokenPipeError):
            await printer
        if recorder is not None:
            _print_recording(recorder.stats(), sum(lab.bus.published.values()), as_json)
    return EXIT_OK


def _print_recording(stats: dict[str, Any], published_events: int, as_json: bool) -> None:
    """The recording summary on stderr: samples published on the bus vs stored in the file."""
    summary = {"recorded": stats["location"], "published_events": published_events,
               "received_events": stats["received_events"], "published_samples": stats["received_samples"],
               "stored_samples": stats["stored_samples"], "stored_events": stats["stored_events"],
               "error": stats["error"]}
    if as_json:
        _emit_json(summary, sys.stderr)
        return
    print(f"recorded {summary['stored_samples']:,} of {summary['published_samples']:,} samples and "
          f"{summary['stored_events']:,} events to {summary['recorded']}"
          + (f" (error: {summary['error']})" if summary["error"] else ""), file=sys.stderr, flush=True)


# --- parser and entry point ----------------------------------------------------------------------


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (as ``logging.lastResort`` does)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


@contextlib.contextmanager
def _engine_logging(level: str) -> Any:
    """Show the package's log records at ``level`` and above on stderr for one command, then restore.

    Device problems reach the user as printed events already, so the default is ``error``. A handler
    is added only when the application has configured none (the console script)."""
    logger = logging.getLogger("ionpy_widgets")
    saved = logger.level
    handler = None
    logger.setLevel(level.upper())
    if not logging.getLogger().handlers and not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    try:
        yield
    finally:
        logger.setLevel(saved)
        if handler is not None:
            logger.removeHandler(handler)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ionpy", description="ionpy_widgets: lab instruments from Python.")
    parser.add_argument("--version", action="version", version=f"ionpy_widgets {__version__}")
    parser.add_argument("--log-level", default="error", choices=["debug", "info", "warning", "error"],
                        help="engine log messages on stderr (default: error; device events are printed anyway)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser("info", help="version, drivers, transports and simulators")
    info.add_argument("--json", action="store_true", help="one JSON object instead of text")
    info.set_defaults(handler=_info)

    sim = sub.add_parser("simulate", help="serve a simulated instrument on a pty or a loopback socket")
    sim.add_argument("family", help="simulator name, e.g. dps5005 or scpi_psu (see `ionpy info`)")
    where = sim.add_mutually_exclusive_group(required=True)
    where.add_argument("--serial", action="store_true", help="serve on a new pseudo-terminal")
    where.add_argument("--tcp", metavar="127.0.0.x:PORT", help="serve on a loopback TCP address (port 0: any)")
    sim.add_argument("--link", metavar="PATH", help="with --serial: also create a stable symlink to the pty")
    sim.add_argument("--model", help="instrument model, e.g. DPS5015")
    sim.add_argument("--baud-emulate", type=int, metavar="BAUD", help="hold replies back by their wire time")
    sim.add_argument("--load-ohms", type=float, metavar="OHMS", help="resistive load on the output")
    sim.add_argument("--json", action="store_true", help="first stdout line: where the simulator listens, as JSON")
    sim.set_defaults(handler=_simulate)

    run = sub.add_parser("run", help="run a lab config headless and print live readings")
    run.add_argument("config", help="lab config file (YAML or JSON)")
    run.add_argument("--json", action="store_true", help="one JSON object per reading per line")
    run.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl+C)")
    run.add_argument("--record", metavar="PATH", help="record every reading, write and event into the SQLite file "
                     "PATH (reopen it with ionpy_widgets.open_run(PATH))")
    run.set_defaults(handler=_run)

    from .cli_discovery import add_parsers  # discover, probe

    add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ionpy`` script and ``python -m ionpy_widgets``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    if getattr(args, "link", None) and not getattr(args, "serial", False):
        parser.error("--link only applies to --serial")
    with _engine_logging(args.log_level):
        try:
            return int(args.handler(args))
        except IonpyError as exc:
            _print_error(exc, as_json=getattr(args, "json", False))
            return EXIT_ERROR
        except KeyboardInterrupt:  # a Ctrl+C before the signal handlers were installed
            return 130
