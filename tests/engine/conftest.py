"""Fixtures for the engine tests (helpers live in engine_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

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
