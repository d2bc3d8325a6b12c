"""The engine → widget bridge: every event handled, pushes throttled and batched, one task, clean stop."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import ipywidgets
import pytest
from widget_helpers import FAST, running_lab
from widget_helpers import wait_until_fast as wait_until

from ionpy_widgets.engine.bus import EventBus
from ionpy_widgets.engine.events import ReadingEvent, SystemEvent, SystemKind
from ionpy_widgets.engine.lab import Lab
from ionpy_widgets.errors import ConfigValidationError
from ionpy_widgets.widgets.bridge import BUS_CLOSED, Throttle, WidgetBridge, WidgetLoopError


def bridge_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("ionpy-bridge:")]


@pytest.fixture
async def battery_lab() -> AsyncIterator[Lab]:
    conf = {"devices": [{"id": "BAT", "driver": "V01_Battery", "poll_interval": 0.01}]}
    async with running_lab(conf, lab_class=Lab, online_timeout=2, name="bridge-tests", settings=FAST) as lab:
        yield lab


@pytest.fixture
def comm_messages(monkeypatch: pytest.MonkeyPatch) -> list[tuple[ipywidgets.Widget, dict[str, Any]]]:
    """Every state message a widget sends (what would go to the browser)."""
    sent: list[tuple[ipywidgets.Widget, dict[str, Any]]] = []
    monkeypatch.setattr(ipywidgets.Widget, "_send", lambda self, msg, buffers=None: sent.append((self, msg)))
    return sent


# --- Throttle (sans-IO) -------------------------------------------------------------------------
def test_throttle_coalesces_and_limits_the_rate() -> None:
    throttle = Throttle(10)
    assert not throttle.due(0.0)  # nothing marked: never due
    throttle.mark("a")
    throttle.mark("a", "b")
    assert throttle.due(0.0) and throttle.take(0.0) == {"a", "b"} and throttle.pending == frozenset()
    throttle.mark("c")
    assert not throttle.due(0.05) and throttle.wait_time(0.05) == pytest.approx(0.05)
    assert throttle.due(0.1) and throttle.take(0.1) == {"c"} and throttle.count == 2
    throttle.mark()
    assert throttle.pending == {"*"}
    for bad in (0, -1, 100, "10", True):
        with pytest.raises(ConfigValidationError, match="rate_hz"):
            Throttle(bad)  # type: ignore[arg-type]


# --- against a real lab ---------------------------------------------------------------------------
async def test_every_reading_is_handled_and_pushes_stay_under_the_rate(battery_lab: Lab) -> None:
    loop = asyncio.get_running_loop()
    bridge = WidgetBridge(battery_lab, rate_hz=10, kinds=["reading"])
    seen: list[ReadingEvent] = []
    pushes: list[float] = []

    @bridge.on_event
    def handle(event: Any) -> str:
        seen.append(event)
        return "data"

    bridge.add_flush(lambda changed: pushes.append(loop.time()))
    published = battery_lab.bus.published["reading"]
    bridge.start()
    started = loop.time()
    await wait_until(lambda: loop.time() - started > 1.2, timeout=3)
    bridge.drain()
    received = battery_lab.bus.published["reading"] - published
    await bridge.aclose()

    assert received > 50  # the battery polls at 100 Hz (or as fast as the loop allows)
    assert len(seen) == bridge.events and received == len(seen) and bridge.stats()["dropped"] == 0
    assert 8 <= len(pushes) <= 14
    for i in range(len(pushes)):  # at most rate_hz + 1 pushes in any one-second span
        assert sum(1 for t in pushes if pushes[i] <= t < pushes[i] + 1.0) <= 11
    gaps = [b - a for a, b in itertools.pairwise(pushes)]
    assert min(gaps) >= 0.09
    assert bridge_tasks() == []


async def test_nothing_changed_nothing_pushed() -> None:
    bus = EventBus()
    bridge = WidgetBridge(bus, rate_hz=50).start()
    pushes: list[frozenset[str]] = []
    bridge.on_event(lambda event: None)  # events that change nothing
    bridge.add_flush(pushes.append)
    for _ in range(5):
        bus.publish(ReadingEvent.from_values("X", {"v": 1.0}, {}))
    await wait_until(lambda: bridge.events == 5)
    await asyncio.sleep(0.1)  # several ticks pass on purpose: still nothing to push
    assert pushes == [] and bridge.pushes == 0
    bridge.mark("button")
    await wait_until(lambda: pushes == [frozenset({"button"})])
    assert len(bridge_tasks()) == 1
    bridge.close()
    bridge.close()  # idempotent


async def test_a_push_is_one_message_per_widget_and_respects_keys(comm_messages: list[Any]) -> None:
    bus = EventBus()
    slider = ipywidgets.FloatSlider()
    other = ipywidgets.Label()
    bridge = WidgetBridge(bus, rate_hz=20)
    calls: list[str] = []

    def set_both(changed: frozenset[str]) -> None:
        slider.max = 1000.0
        slider.value = 500.0
        slider.description = "u_out"

    bridge.add_flush(set_both, widgets=[slider], keys={"slider"})
    bridge.add_flush(lambda changed: calls.append("label"), widgets=[other], keys={"label"})
    bridge.start()
    bridge.mark("slider")
    await wait_until(lambda: bridge.pushes == 1)
    bridge.close()
    assert calls == []  # its key did not change
    sent = [msg for widget, msg in comm_messages if widget is slider]
    assert len(sent) == 1 and set(sent[0]["state"]) == {"max", "value", "description"}
    slider.close()
    other.close()


async def test_failures_are_counted_and_the_task_lives_on() -> None:
    bus = EventBus()
    bridge = WidgetBridge(bus, rate_hz=50)
    pushes: list[frozenset[str]] = []

    def bad_handler(event: Any) -> str:
        raise RuntimeError("handler bug")

    def bad_flush(changed: frozenset[str]) -> None:
        raise RuntimeError("flush bug")

    async def bad_startup() -> None:
        raise RuntimeError("history is down")

    started: list[bool] = []
    bridge.on_event(bad_handler)
    bridge.on_event(lambda event: "ok")
    bridge.add_flush(bad_flush)
    bridge.add_flush(pushes.append)
    bridge.add_startup(bad_startup)
    bridge.add_startup(lambda: started.append(True))
    bridge.start()
    bus.publish(ReadingEvent.from_values("X", {"v": 1.0}, {}))
    await wait_until(lambda: pushes == [frozenset({"ok"})])
    assert started == [True] and bridge.errors == 3 and str(bridge.last_error) in {"flush bug", "handler bug"}
    assert bridge.running
    await bridge.aclose()
    assert not bridge.running and "closed" in repr(bridge)


async def test_lab_stop_gives_one_final_push_and_ends_the_task(battery_lab: Lab) -> None:
    bridge = WidgetBridge(battery_lab, rate_hz=10, kinds=["system"])
    pushes: list[frozenset[str]] = []
    bridge.add_flush(pushes.append)
    bridge.start()
    await battery_lab.stop()
    await wait_until(lambda: not bridge.running)
    assert pushes[-1] == frozenset({BUS_CLOSED}) and bridge_tasks() == []
    bridge.close()


async def test_system_events_reach_the_handlers_in_order() -> None:
    bus = EventBus()
    bridge = WidgetBridge(bus, kinds=["loop_stall", "reading"], devices=["A"]).start()
    kinds: list[str] = []
    bridge.on_event(lambda event: kinds.append(str(event.kind)) and None)
    bus.publish(ReadingEvent.from_values("A", {"v": 1}, {}))
    bus.publish(ReadingEvent.from_values("B", {"v": 1}, {}))  # another device: filtered out
    bus.publish(SystemEvent(SystemKind.LOOP_STALL, "", {"started": 0.0, "duration": 1.0}))
    bus.publish(SystemEvent(SystemKind.AVAILABILITY, "A", {"available": False}))  # kind not chosen
    await wait_until(lambda: bridge.events == 2)
    assert kinds == ["reading", "loop_stall"]
    await bridge.aclose()


def test_start_needs_a_running_loop() -> None:
    bridge = WidgetBridge(EventBus())
    with pytest.raises(WidgetLoopError) as info:
        bridge.start()
    assert info.value.code == "widget_no_event_loop" and "notebook cell" in info.value.hint


async def test_a_closed_bridge_cannot_restart() -> None:
    bridge = WidgetBridge(EventBus()).start()
    assert bridge.start() is bridge and len(bridge_tasks()) == 1  # idempotent while running
    await bridge.aclose()
    with pytest.raises(WidgetLoopError, match="closed"):
        bridge.start()
