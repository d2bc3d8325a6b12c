"""Shared scaffolding for the widget tests (imported by name; tests/ has no packages): fast engine
settings, the simulated devices the labs are made of, a lab that is started and stopped around a
test, a condition waiter, and the two ways of sending a request through a widget's router exactly
as the browser would (``ask`` for one reply, ``call`` for a reply with its stream items)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from ionpy_widgets.engine.lab import Lab as EngineLab
from ionpy_widgets.engine.settings import EngineSettings
from ionpy_widgets.widgets.lab_ui import Lab

# Fast reconnects and short timeouts (no watchdog tuning): bridge, chart, discovery and wizard tests.
FAST = EngineSettings(backoff_initial=0.02, backoff_max=0.1, backoff_jitter=0.0, connect_timeout=1.0,
                      poll_timeout=1.0, close_timeout=0.3)
# Shorter timeouts for the labs of the widget-factory tests.
FAST_UI = EngineSettings(backoff_initial=0.02, backoff_max=0.1, backoff_jitter=0.0, connect_timeout=0.5,
                         poll_timeout=0.5, close_timeout=0.3)
# As FAST_UI, plus a quick stall watchdog: the panels that show the loop-health banner.
FAST_WATCHDOG = EngineSettings(backoff_initial=0.02, backoff_max=0.1, backoff_jitter=0.0, connect_timeout=0.5,
                               poll_timeout=0.5, close_timeout=0.3, stall_threshold=0.3, watchdog_interval=0.05)

# A DPS5005 simulator on the virtual transport and a virtual battery, both polled at 20 Hz.
DPS = {"id": "DPS", "driver": "DPS5005", "poll_interval": 0.05,
       "transport": {"type": "virtual", "params": {"simulator": "dps5005"}}}
BATTERY = {"id": "BAT", "driver": "V01_Battery", "poll_interval": 0.05}

_ids = itertools.count()


async def wait_until(predicate: Callable[[], bool], timeout: float = 3.0, what: str = "condition",
                     interval: float = 0.01) -> None:
    """Wait for ``predicate()`` to become true (checked every ``interval`` s), failing after ``timeout``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


async def wait_until_fast(predicate: Callable[[], bool], timeout: float = 2.0, what: str = "condition") -> None:
    """``wait_until`` with a 2 s default and 5 ms checks (the bridge and chart tests' rate-sensitive waits)."""
    await wait_until(predicate, timeout, what, interval=0.005)


@asynccontextmanager
async def running_lab(conf: Any, *, lab_class: type[EngineLab] = Lab, online_timeout: float | None = 10.0,
                      **start: Any) -> AsyncIterator[Any]:
    """Start ``lab_class`` with ``conf`` (keyword arguments go to ``start``), wait until every device is
    online, yield the lab and stop it afterwards, also when the test or the wait fails."""
    lab = await lab_class.start(conf, **start)
    try:
        await lab.wait_online(timeout=online_timeout)
        yield lab
    finally:
        await lab.stop()


async def ask(widget: Any, kind: str, **payload: Any) -> dict[str, Any]:
    """Send one request as the browser would; return its (single) reply."""
    sent: list[dict[str, Any]] = []
    widget.router._send = sent.append
    task = widget.router.handle({"type": "request", "id": "r1", "kind": kind, "payload": payload, "timeout": 5000})
    if task is not None:
        await task
    replies = [m for m in sent if m["type"] == "reply"]
    assert len(replies) == 1, sent
    return replies[0]


async def call(widget: Any, sent: list[dict[str, Any]], kind: str, payload: dict[str, Any] | None = None,
               timeout: int = 15_000) -> tuple[dict[str, Any], list[Any]]:
    """Send one request with a fresh id; return its reply and the stream items that came before it
    (``sent`` is the list of custom messages the ``sent`` fixture records)."""
    rid = f"r{next(_ids)}"
    task = widget.router.handle({"type": "request", "id": rid, "kind": kind, "payload": payload or {},
                                 "timeout": timeout})
    if task is not None:
        await task
    mine = [m for m in sent if m.get("id") == rid]
    replies = [m for m in mine if m["type"] == "reply"]
    assert len(replies) == 1, f"expected exactly one reply, got {mine}"
    return replies[0], [m["item"] for m in mine if m["type"] == "stream"]
