"""Transport tests must not leak file descriptors: every port, socket and pty they open is closed.

The check compares the process's open descriptors before and after each test (Linux /proc). If
new ones show up, garbage is collected and the check repeated, so only descriptors that are still
referenced count.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

_FD_DIR = Path("/proc/self/fd")


def _open_fds() -> dict[int, str]:
    fds = {}
    for entry in os.listdir(_FD_DIR):
        try:
            fds[int(entry)] = os.readlink(_FD_DIR / entry)
        except OSError:  # the descriptor listdir itself used, already closed
            continue
    return fds


@pytest.fixture(autouse=True)
def _no_leaked_fds():
    if not _FD_DIR.is_dir():
        yield
        return
    before = _open_fds()
    yield
    leaked = {fd: target for fd, target in _open_fds().items() if before.get(fd) != target}
    if leaked:
        gc.collect()
        leaked = {fd: target for fd, target in _open_fds().items() if before.get(fd) != target}
    assert not leaked, f"test leaked file descriptors: {leaked}"
