"""What every ``ionpy`` subcommand shares: exit codes, the usage error, JSON and error output,
waiting for Ctrl+C, and the engine's log records on stderr."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from typing import Any

from ..errors import IonpyError

EXIT_OK = 0
EXIT_ERROR = 2


class CliError(IonpyError):
    """A command-line argument that cannot work (bad address, missing file, wrong flag)."""

    code = "cli_usage"


# --- helpers -------------------------------------------------------------------------------------


def emit_json(data: dict[str, Any], stream: Any = None) -> None:
    stream = sys.stdout if stream is None else stream
    stream.write(json.dumps(data, separators=(",", ":"), default=str) + "\n")
    stream.flush()


def print_error(exc: IonpyError, *, as_json: bool) -> None:
    if as_json:
        emit_json({"error": exc.to_dict()}, sys.stderr)
        return
    sys.stderr.write(f"error [{exc.code}]: {exc.message}\n")
    if exc.hint:
        sys.stderr.write(f"  hint: {exc.hint}\n")
    sys.stderr.flush()


async def wait_for_stop(duration: float | None) -> str:
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


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (as ``logging.lastResort`` does)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


@contextlib.contextmanager
def engine_logging(level: str) -> Any:
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

