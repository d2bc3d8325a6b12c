"""Event bus: delivery order, drop-oldest for readings with counters, lossless system/alarm events."""

from __future__ import annotations

import asyncio

import pytest

from ionpy_widgets.driver.reading import Reading
from ionpy_widgets.engine.bus import EventBus, SubscriptionClosedError
from ionpy_widgets.engine.events import AlarmEvent, ReadingEvent, SystemEvent, SystemKind
from ionpy_widgets.errors import ConfigValidationError


def reading(device: str, n: int) -> ReadingEvent:
    return ReadingEvent.from_values(device, {"u": float(n)}, {"u": "V"}, timestamp=float(n))


def system(kind: str = "availability", device: str = "D1", **payload: object) -> SystemEvent:
    return SystemEvent(SystemKind(kind), device, payload)


def test_reading_event_shape() -> None:
    ev = ReadingEvent.from_values("PSU", {"u_out": 5.0, "output": True}, {"u_out": "V"}, timestamp=12.5)
    assert ev.category == "reading" and ev.kind == "reading"
    assert ev.values == {"u_out": 5.0, "output": True}
    assert [r.unit for r in ev] == ["V", ""]
    assert all(isinstance(r, Reading) and r.timestamp == 12.5 for r in ev.readings)
    data = ev.to_dict()
    assert data["device"] == "PSU" and data["readings"][0] == {
        "device": "PSU", "entity": "u_out", "value": 5.0, "unit": "V", "timestamp": 12.5, "quality": "good"}


def test_system_event_payload_is_read_only() -> None:
    ev = SystemEvent("availability", "D1", {"available": False})
    assert ev.kind is SystemKind.AVAILABILITY
    with pytest.raises(TypeError):
        ev.payload["available"] = True  # type: ignore[index]
    assert ev.to_dict()["payload"] == {"available": False}
    with pytest.raises(ValueError):
        SystemEvent("no_such_kind")  # type: ignore[arg-type]


def test_publish_order_is_kept_across_categories() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    events = [reading("D1", 1), system(), reading("D1", 2), AlarmEvent("D1", "u", "hi", 5.0), reading("D1", 3)]
    for ev in events:
        bus.publish(ev)
    assert sub.drain() == events
    assert sub.delivered == 5


def test_full_subscriber_drops_oldest_readings_and_counts() -> None:
    bus = EventBus()
    slow = bus.subscribe(maxsize=3, name="slow")
    fast = bus.subscribe(maxsize=100, name="fast")
    for n in range(10):
        bus.publish(reading("D1", n))
    got = slow.drain()
    assert [ev.values["u"] for ev in got] == [7.0, 8.0, 9.0]
    assert slow.dropped == 7 and fast.dropped == 0
    assert len(fast.drain()) == 10
    stats = bus.stats()
    assert stats["dropped"] == 7 and stats["published"]["reading"] == 10
    assert {s["name"]: s["dropped"] for s in stats["subscribers"]} == {"slow": 7, "fast": 0}


def test_system_and_alarm_events_are_never_dropped() -> None:
    bus = EventBus()
    sub = bus.subscribe(maxsize=2)
    for n in range(50):
        bus.publish(reading("D1", n))
        bus.publish(system(n=n))
    bus.publish(AlarmEvent("D1", "u", "lolo", 0.1))
    got = sub.drain()
    systems = [ev for ev in got if ev.category == "system"]
    assert [ev.payload["n"] for ev in systems] == list(range(50))
    assert sum(ev.category == "alarm" for ev in got) == 1
    assert [ev.values["u"] for ev in got if ev.category == "reading"] == [48.0, 49.0]
    assert sub.dropped == 48


def test_maxsize_zero_is_unbounded() -> None:
    bus = EventBus()
    sub = bus.subscribe(maxsize=0)
    for n in range(5000):
        bus.publish(reading("D1", n))
    assert sub.qsize() == 5000 and sub.dropped == 0


def test_kind_and_device_filters() -> None:
    bus = EventBus()
    only_avail = bus.subscribe(kinds=["availability"])
    only_readings = bus.subscribe(kinds="reading", devices=["D2"])
    bus.publish(reading("D1", 1))
    bus.publish(reading("D2", 2))
    bus.publish(system("device_added", "D2"))
    bus.publish(system("availability", "D1"))
    bus.publish(system("loop_stall", ""))
    assert [ev.device for ev in only_avail.drain()] == ["D1"]
    assert [ev.device for ev in only_readings.drain()] == ["D2"]
    with pytest.raises(ConfigValidationError) as info:
        bus.subscribe(kinds=["readings"])
    assert info.value.path == "kinds" and "reading" in info.value.hint


async def test_async_iteration_and_close_wakes_waiters() -> None:
    bus = EventBus()
    sub = bus.subscribe(name="it")
    seen: list[float] = []

    async def consume() -> None:
        async for ev in sub:
            seen.append(ev.values["u"])

    task = asyncio.create_task(consume())
    for n in range(3):
        bus.publish(reading("D1", n))
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    sub.close()
    await asyncio.wait_for(task, 1)
    assert seen == [0.0, 1.0, 2.0]
    assert sub.closed and bus.subscriptions == ()
    with pytest.raises(SubscriptionClosedError):
        await sub.get()
    bus.publish(reading("D1", 9))  # no subscribers left: nothing to deliver, nothing raised


async def test_get_waits_then_get_nowait_raises_when_empty() -> None:
    bus = EventBus()
    with bus.subscribe() as sub:
        with pytest.raises(asyncio.QueueEmpty):
            sub.get_nowait()
        getter = asyncio.create_task(sub.get())
        await asyncio.sleep(0)
        assert not getter.done()
        bus.publish(system())
        ev = await asyncio.wait_for(getter, 1)
        assert ev.kind is SystemKind.AVAILABILITY
    assert sub.closed


async def test_cancelled_get_leaves_no_waiter_behind() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(sub.get(), 0.01)
    assert not sub._waiters
    bus.publish(reading("D1", 1))
    assert (await sub.get()).values == {"u": 1.0}
    sub.close()


async def test_callback_subscription_sync_and_async_and_errors() -> None:
    bus = EventBus()
    got: list[str] = []
    done = asyncio.Event()

    def sync_cb(ev: object) -> None:
        got.append(f"sync:{ev.device}")  # type: ignore[attr-defined]
        if ev.device == "boom":  # type: ignore[attr-defined]
            raise RuntimeError("callback bug")

    async def async_cb(ev: object) -> None:
        await asyncio.sleep(0)
        got.append(f"async:{ev.device}")  # type: ignore[attr-defined]
        if ev.device == "D2":  # type: ignore[attr-defined]
            done.set()

    cb1 = bus.subscribe_callback(sync_cb, kinds=["system"])
    cb2 = bus.subscribe_callback(async_cb)
    bus.publish(system(device="boom"))
    bus.publish(system(device="D1"))
    bus.publish(reading("D2", 1))
    await asyncio.wait_for(done.wait(), 1)
    assert got.count("sync:boom") == 1 and "sync:D1" in got and "sync:D2" not in got
    assert [g for g in got if g.startswith("async")] == ["async:boom", "async:D1", "async:D2"]
    assert cb1.errors == 1 and isinstance(cb1.last_error, RuntimeError)
    await cb1.aclose()
    cb2.close()
    await asyncio.sleep(0)
    assert bus.subscriptions == ()


async def test_publish_never_waits_for_a_stuck_subscriber() -> None:
    bus = EventBus()
    stuck = bus.subscribe(maxsize=10)
    waiting = asyncio.create_task(bus.subscribe(kinds=["alarm"]).get())  # a reader parked on get()
    await asyncio.sleep(0)
    for n in range(5000):  # synchronous: no await, so nothing here can block on a subscriber
        assert bus.publish(reading("D1", n)) is None
    assert stuck.qsize() == 10 and stuck.dropped == 4990
    assert not waiting.done()
    bus.close()
    assert stuck.closed
    with pytest.raises(SubscriptionClosedError):
        await waiting
