"""``ionpy run <config> [--json] [--duration S] [--record PATH]``: the engine without a notebook.

Live readings on stdout (``--json``: one object per reading per line, with its ``alarm`` level:
NORMAL, HI, HIHI, LO or LOLO), availability changes and alarm events on stderr; ``--record`` keeps
everything in a SQLite recording (one run spanning it) and prints how many samples were published
and stored when it stops. Without ``--record``, a config with ``history: {path: ...}`` records there
(``Lab.start`` reads the section) with the same run and summary; ``--record`` wins over the file."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

from .common import EXIT_OK, CliError, emit_json, wait_for_stop
from .run_output import pump_events


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
    from ..engine.lab import Lab

    lab = await Lab.start(config, record=record)
    if not lab.devices:  # a silent run that polls nothing looks like a hang
        _warn(f"{config} has no devices, so there is nothing to poll",
              "Add entries under `devices:` (`ionpy info` lists the drivers).", as_json)
    recorder = lab.history_recorder
    if recorder is not None:  # one run spanning the whole recording (ionpy_widgets.open_run(PATH))
        try:
            await lab.run(config.stem, notes=f"ionpy run {config.name}", start=recorder.started_at).begin()
        except BaseException:  # the devices are polling already: stop them before the error is printed
            await lab.stop()
            raise
    sub = lab.subscribe(kinds=["reading", "availability", "device_error", "alarm"], name="ionpy-run")

    def entities(device: str) -> Any:
        return lab[device].entities if device in lab else {}

    printer = asyncio.get_running_loop().create_task(pump_events(sub, as_json, lab.alarm_engine, entities),
                                                     name="ionpy-run-printer")
    try:
        stopper = asyncio.ensure_future(wait_for_stop(duration))
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


def _warn(message: str, hint: str, as_json: bool) -> None:
    if as_json:
        emit_json({"warning": {"code": "no_devices", "message": message, "hint": hint}}, sys.stderr)
    else:
        print(f"warning: {message}\n  hint: {hint}", file=sys.stderr, flush=True)


def _print_recording(stats: dict[str, Any], published_events: int, as_json: bool) -> None:
    """The recording summary on stderr: samples published on the bus vs stored in the file."""
    summary = {"recorded": stats["location"], "published_events": published_events,
               "received_events": stats["received_events"], "published_samples": stats["received_samples"],
               "stored_samples": stats["stored_samples"], "stored_events": stats["stored_events"],
               "error": stats["error"]}
    if as_json:
        emit_json(summary, sys.stderr)
        return
    print(f"recorded {summary['stored_samples']:,} of {summary['published_samples']:,} samples and "
          f"{summary['stored_events']:,} events to {summary['recorded']}"
          + (f" (error: {summary['error']})" if summary["error"] else ""), file=sys.stderr, flush=True)


# --- parser ----------------------------------------------------------------------------------------


def add_parser(sub: Any) -> None:
    run = sub.add_parser("run", help="run a lab config headless and print live readings")
    run.add_argument("config", help="lab config file (YAML or JSON)")
    run.add_argument("--json", action="store_true", help="one JSON object per reading per line")
    run.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl+C)")
    run.add_argument("--record", metavar="PATH", help="record every reading, write and event into the SQLite file "
                     "PATH (reopen it with ionpy_widgets.open_run(PATH)); default: the config's "
                     "history.path, if it has one")
    run.set_defaults(handler=_run)
