"""Run ``ionpy simulate`` in a separate process and wait for the line that says where it listens.

Readiness is the first stdout line of ``--json`` output (printed and flushed once the pty or
socket exists), never a fixed sleep. The process gets SIGTERM on exit, then SIGKILL if it has not
stopped within a few seconds.
"""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import time
from types import TracebackType
from typing import Any


class SimProcess:
    """``with SimProcess(family="dps5005") as sim: sim.path`` — a simulator in its own process."""

    def __init__(self, family: str = "dps5005", *, tcp: str | None = None, baud_emulate: int | None = None,
                 extra: tuple[str, ...] = (), ready_timeout: float = 15.0) -> None:
        where = ["--tcp", tcp] if tcp else ["--serial"]
        self.argv = [sys.executable, "-m", "ionpy_widgets", "simulate", family, *where, "--json", *extra]
        if baud_emulate:
            self.argv += ["--baud-emulate", str(baud_emulate)]
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    @property
    def path(self) -> str:
        return str(self.info["path"])

    def start(self) -> SimProcess:
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + self.ready_timeout
            while not sel.select(max(0.0, deadline - time.monotonic())):
                if time.monotonic() >= deadline:
                    self.stop()
                    raise RuntimeError(f"simulator did not report readiness within {self.ready_timeout} s")
        line = self.proc.stdout.readline()
        if not line:
            err = self.stop()
            raise RuntimeError(f"simulator exited before it was ready: {err.strip()}")
        self.info = json.loads(line)
        return self

    def stop(self) -> str:
        """Stop the process (SIGTERM, then SIGKILL); return what it wrote on stderr."""
        proc, self.proc = self.proc, None
        if proc is None:
            return ""
        if proc.poll() is None:
            proc.terminate()
        try:
            _, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        return err or ""

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
