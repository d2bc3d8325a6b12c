"""The ``ionpy`` command line: ``info``, ``simulate`` and ``run`` (argparse, no extra dependency).

* ``ionpy discover …`` and ``ionpy probe …`` — see :mod:`ionpy_widgets.cli.discovery`.
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
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import IonpyError
from . import discovery, info, run, simulate
from .common import EXIT_ERROR, EXIT_OK, CliError, engine_logging, print_error

__all__ = ["EXIT_ERROR", "EXIT_OK", "CliError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ionpy", description="ionpy_widgets: lab instruments from Python.")
    parser.add_argument("--version", action="version", version=f"ionpy_widgets {__version__}")
    parser.add_argument("--log-level", default="error", choices=["debug", "info", "warning", "error"],
                        help="engine log messages on stderr (default: error; device events are printed anyway)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    info.add_parser(sub)
    simulate.add_parser(sub)
    run.add_parser(sub)
    discovery.add_parsers(sub)  # discover, probe
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
    with engine_logging(args.log_level):
        try:
            return int(args.handler(args))
        except IonpyError as exc:
            print_error(exc, as_json=getattr(args, "json", False))
            return EXIT_ERROR
        except KeyboardInterrupt:  # a Ctrl+C before the signal handlers were installed
            return 130
        except BrokenPipeError:  # whoever read our output left (`ionpy run --json | head`): not our error
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not raise again
            os.close(devnull)
            return 128 + 13  # what a shell reports for SIGPIPE
