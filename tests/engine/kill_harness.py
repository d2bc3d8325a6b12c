"""SIGKILL test harness shared by the atomic-write, state and config tests: a fork-server driver
that starts a writer child at version ``n``, kills it with SIGKILL after a delay and returns the
versions the child reported as completed.

The fork server is the test's own Python source (passed to ``python -c``); it must read one
"<first version>" per stdin line, fork a writer that prints "pid <pid>" and then every version it
finished, and print "exit <pid>" once that writer is dead. One interpreter start serves all kills."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


class KillRig:
    """Drives a fork server: start a writer at version ``n``, SIGKILL it after ``delay`` seconds,
    return the versions it reported as completed. One interpreter start for all the kills."""

    def __init__(self, source: str, target: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        self.proc = subprocess.Popen([sys.executable, "-c", source, str(target)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"fork server died (exit code {self.proc.poll()})"
        return line

    def round(self, n: int, delay: float) -> list[int]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        tag, pid = self._line().split()
        assert tag == "pid"
        time.sleep(delay)  # the random kill point (not a readiness wait)
        os.kill(int(pid), signal.SIGKILL)
        reported = []
        while (line := self._line()) != f"exit {pid}\n":
            reported.append(int(line))
        return reported

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


def kill_versions(rig: KillRig, rng: random.Random, version_of: Callable[[], int | None], *, what: str,
                  writes: int = 1000, kills: int = 60, limit: float = 60.0,
                  check: Callable[[int | None], None] | None = None) -> tuple[int | None, int]:
    """Kill writers at random moments until at least ``writes`` versions were written over at least
    ``kills`` kills. After each kill the file (``version_of()``) must hold version k or k + 1, where k
    is the last version the child reported (k + 1: replaced but killed before it could report);
    ``check(found)`` adds per-kill checks. Returns the last version found and the writes counted.
    Closes the rig."""
    current: int | None = None
    written = killed = 0
    started = time.monotonic()
    try:
        while written < writes or killed < kills:
            assert time.monotonic() - started < limit, f"too slow: {written} {what} in {killed} kills"
            start_n = 0 if current is None else current + 1
            reported = rig.round(start_n, rng.uniform(0.0, 0.02))
            written += len(reported)
            killed += 1
            allowed = {reported[-1], reported[-1] + 1} if reported else {current, start_n}
            found = version_of()
            assert found in allowed, f"kill {killed}: the file holds version {found}, expected one of {allowed}"
            if check is not None:
                check(found)
            current = found
    finally:
        rig.close()
    return current, written
