"""Fixtures for the engine tests (helpers live in engine_helpers.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import FAST, ScriptedDriver

from ionpy_widgets.driver.registry import register, unregister
from ionpy_widgets.engine.settings import EngineSettings


@pytest.fixture
def scripted() -> Iterator[type[ScriptedDriver]]:
    register(ScriptedDriver)
    yield ScriptedDriver
    unregister(ScriptedDriver.name)


@pytest.fixture
def fast() -> EngineSettings:
    return FAST


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    """A temporary folder on tmpfs when there is one (used by the SIGKILL tests): the real code path
    (fsync included), but fsync costs nothing there, so 1,000 writes stay fast on a busy disk.
    Atomicity against a killed process does not depend on fsync (the page cache outlives the
    process); fsync is for power loss."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="ionpy-test-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
