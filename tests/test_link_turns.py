"""The link's bus turns (one request at a time, first come first served, cancellation-safe) and its
request deadlines (one lazily re-armed watchdog timer), on real ptys: the DPS simulator served by
PtyServer, or a raw pty that nobody answers."""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import tty
from collections.abc import AsyncIterator

import pytest

from ionpy_widgets.errors import ProtocolTimeoutError
from ionpy_widgets.framing import ModbusRtuFramer
from ionpy_widgets.instruments.rdtech_dps.sim import DpsSimulator
from ionpy_widgets.instruments.simhost import PtyServer
from ionpy_widgets.link import Link
from ionpy_widgets.transport._finetimer import FineTimer
from ionpy_widgets.transport.address import SerialParams
from ionpy_widgets.transport.serial import SerialTransport

READ_13 = bytes.fromhex("0103 0000 000d")
READ_1 = bytes.fromhex("0103 000b 0001")  # the model register


@pytest.fixture
async def dps_link() -> AsyncIterator[tuple[Link, list[tuple[str, bytes, float]]]]:
    trace: list[tuple[str, bytes, float]] = []
    async with PtyServer(DpsSimulator()) as server:
        link = Link(SerialTransport(SerialParams(server.path, baudrate=115200)), ModbusRtuFramer(baudrate=115200),
                    timeout=0.5, retries=0, trace=lambda d, b, t: trace.append((d, b, t)))
        async with link:
            yield link, trace


@pytest.fixture
async def silent_link() -> AsyncIterator[Link]:
    """A link on a pty whose far end never answers."""
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        link = Link(SerialTransport(SerialParams(os.ttyname(slave), baudrate=115200)),
                    ModbusRtuFramer(baudrate=115200), timeout=0.15, retries=0)
        async with link:
            yield link
    finally:
        os.close(slave)
        os.close(master)


async def test_concurrent_requests_take_turns_in_order(dps_link):
    link, trace = dps_link
    payloads = [READ_13 if i % 2 else READ_1 for i in range(8)]
    replies = await asyncio.gather(*(link.request(p) for p in payloads))
    assert [r.payload[2] for r in replies] == [26 if p == READ_13 else 2 for p in payloads]
    assert replies[0].payload[3:5] == (5005).to_bytes(2, "big")
    directions = [d for d, _, _ in trace]
    tx = [i for i, d in enumerate(directions) if d == "tx"]
    assert len(tx) == 8 and all("rx" in directions[a:b] for a, b in itertools.pairwise(tx))
    assert [b[:6] for d, b, _ in trace if d == "tx"] == payloads  # sent in the order asked
    assert not link._busy and not link._turns


async def test_a_request_cancelled_while_waiting_does_not_hold_up_the_others(silent_link):
    link = silent_link
    first = asyncio.ensure_future(link.request(READ_13))
    second = asyncio.ensure_future(link.request(READ_13))
    third = asyncio.ensure_future(link.request(READ_1))
    await asyncio.sleep(0)
    second.cancel()
    results = await asyncio.gather(first, second, third, return_exceptions=True)
    assert isinstance(results[0], ProtocolTimeoutError) and isinstance(results[2], ProtocolTimeoutError)
    assert isinstance(results[1], asyncio.CancelledError)
    assert link.stats.requests == 2 and not link._busy and not link._turns


async def test_a_request_cancelled_just_after_its_turn_came_passes_the_bus_on(silent_link):
    link = silent_link
    second: asyncio.Future[object] | None = None

    async def first_then_cancel_second() -> None:
        with pytest.raises(ProtocolTimeoutError):
            await link.request(READ_13)
        assert second is not None
        second.cancel()  # its turn was handed over a moment ago; it has not run yet

    first = asyncio.ensure_future(first_then_cancel_second())
    await asyncio.sleep(0)
    second = asyncio.ensure_future(link.request(READ_13))
    third = asyncio.ensure_future(link.request(READ_1, timeout=0.05))
    await asyncio.sleep(0)
    results = await asyncio.wait_for(asyncio.gather(first, second, third, return_exceptions=True), 2)
    assert results[0] is None and isinstance(results[1], asyncio.CancelledError)
    assert isinstance(results[2], ProtocolTimeoutError)
    assert link.stats.requests == 2 and not link._busy and not link._turns


async def test_timeouts_end_on_time_whatever_timer_is_armed(silent_link):
    link = silent_link
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ProtocolTimeoutError) as info:
        await link.request(READ_13, timeout=0.2)
    assert 0.2 <= loop.time() - started < 0.4 and "0.2 s" in info.value.message
    long = asyncio.ensure_future(link.request(READ_13, timeout=30.0))  # arms the watchdog 30 s ahead
    await asyncio.sleep(0.02)
    long.cancel()
    with pytest.raises(asyncio.CancelledError):
        await long
    started = loop.time()
    with pytest.raises(ProtocolTimeoutError):
        await link.request(READ_13, timeout=0.1)  # must not wait for the 30 s timer
    assert 0.1 <= loop.time() - started < 0.3
    assert link.stats.timeouts == 2


async def test_answered_requests_share_one_watchdog_timer(dps_link):
    link, trace = dps_link
    link.trace = None  # the path without a trace hook
    await link.request(READ_13)
    watchdog = link._watchdog
    assert watchdog is not None
    for _ in range(10):
        frame = await link.request(READ_13)
        assert frame is not None and len(frame.raw) == 31
    assert link._watchdog is watchdog and not watchdog.cancelled()  # re-used, not re-armed
    assert link.stats.replies == 11 and link.stats.bytes_in == 11 * 31 and link.stats.bytes_out == 11 * 8
    assert len(trace) == 0
    await link.close()
    assert link._watchdog is None and watchdog.cancelled()


async def test_back_to_back_requests_keep_t35_with_the_fine_timer_and_close_releases_it():
    trace: list[tuple[str, float]] = []
    async with PtyServer(DpsSimulator()) as server:
        framer = ModbusRtuFramer(baudrate=9600)
        link = Link(SerialTransport(SerialParams(server.path, baudrate=9600)), framer, timeout=0.5,
                    trace=lambda d, b, t: trace.append((d, t)))
        async with link:
            for _ in range(6):
                await link.request(READ_13)
            fine = link._fine
            if sys.platform.startswith("linux"):
                assert isinstance(fine, FineTimer) and fine.fd >= 0
        assert link._fine is False and (not isinstance(fine, FineTimer) or fine.fd == -1)
    gaps = [t - last for (d0, last), (d, t) in itertools.pairwise(trace) if d0 == "rx" and d == "tx"]
    assert len(gaps) == 5 and min(gaps) >= framer.min_silence
    assert sorted(gaps)[2] < framer.min_silence + 0.001  # not rounded up to whole milliseconds
