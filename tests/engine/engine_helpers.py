"""Engine test helpers (imported by the engine tests): a scripted link-less driver for fault
injection without I/O, fast engine settings and a condition waiter."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ionpy_widgets.driver.base import Blueprint, Category, Driver
from ionpy_widgets.driver.entity import Access, EntityDescription, Kind, Role, entity_table
from ionpy_widgets.driver.reading import Identity
from ionpy_widgets.engine.settings import EngineSettings

FAST = EngineSettings(backoff_initial=0.02, backoff_max=0.1, backoff_jitter=0.0, connect_timeout=1.0,
                      poll_timeout=1.0, max_poll_failures=2, close_timeout=0.3)


@dataclass
class Script:
    """What the scripted instrument does next; tests flip these fields while it runs."""

    connect_error: BaseException | None = None
    poll_error: BaseException | None = None
    poll_delay: float = 0.0
    hang_on_close: bool = False
    value: float = 1.0
    polls: int = 0
    connects: int = 0
    disconnects: int = 0
    writes: list[tuple[str, Any]] = field(default_factory=list)


class ScriptedDriver(Driver):
    """A software instrument whose failures are scripted through ``options["script"]``."""

    name = "TEST_Scripted"
    category = Category.VIRTUAL
    blueprints = (Blueprint(transport="none", framing="none"),)
    default_poll_interval = 0.05
    ENTITIES = entity_table(
        EntityDescription("value", "Value", "V"),
        EntityDescription("setpoint", "Setpoint", "V", access=Access.RW, role=Role.SETPOINT, min=0.0, max=10.0),
        EntityDescription("output", "Output", kind=Kind.BOOL, access=Access.RW, role=Role.SWITCH),
    )

    def __init__(self, link: Any = None, *, options: dict[str, Any] | None = None) -> None:
        super().__init__(link, options=options)
        self.script: Script = self.options.get("script") or Script()
        self.setpoint = 0.0
        self.output = False

    async def connect(self) -> Identity:
        self.script.connects += 1
        if self.script.connect_error is not None:
            raise self.script.connect_error
        return await super().connect()

    async def disconnect(self) -> None:
        self.script.disconnects += 1
        if self.script.hang_on_close:
            await asyncio.Event().wait()

    async def identify(self) -> Identity:
        return Identity("ionpy tests", "Scripted", "S-1", "1")

    async def poll(self) -> dict[str, Any]:
        if self.script.poll_delay:
            await asyncio.sleep(self.script.poll_delay)
        if self.script.poll_error is not None:
            raise self.script.poll_error
        self.script.polls += 1
        return {"value": self.script.value, "setpoint": self.setpoint, "output": self.output}

    async def _write(self, desc: EntityDescription, value: Any) -> None:
        self.script.writes.append((desc.key, value))
        setattr(self, desc.key, value)


async def wait_until(predicate: Callable[[], bool], timeout: float = 2.0, what: str = "condition") -> None:
    """Wait for ``predicate()`` to become true (checked every 5 ms), failing after ``timeout``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)
