"""The timerfd sleeper the link uses for the sub-millisecond part of the Modbus t3.5 silence."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest

from ionpy_widgets.transport._finetimer import FineTimer, fine_timer

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="timerfd is Linux only")


@pytest.fixture
def timer():
    made = fine_timer()
    assert isinstance(made, FineTimer)
    yield made
    made.close()


async def test_wakes_at_the_time_never_before_and_without_whole_millisecond_rounding(timer):
    lateness = []
    for _ in range(20):
        target = time.monotonic() + 0.0036
        await timer.sleep_until(target)
        lateness.append(time.monotonic() - target)
    assert min(lateness) >= 0
    assert sorted(lateness)[len(lateness) // 2] < 0.0009  # epoll alone would round 3.6 ms up to 4+ ms


async def test_a_time_already_past_returns_at_once(timer):
    started = time.monotonic()
    await timer.sleep_until(started - 1.0)
    await timer.sleep_until(0.0)
    assert time.monotonic() - started < 0.1


async def test_a_cancelled_sleep_does_not_end_the_next_one_early(timer):
    first = asyncio.ensure_future(timer.sleep_until(time.monotonic() + 0.02))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    target = time.monotonic() + 0.06  # the cancelled one's expiry passes while this one waits
    await timer.sleep_until(target)
    assert time.monotonic() >= target


async def test_close_is_idempotent_and_releases_the_descriptor(timer):
    await timer.sleep_until(time.monotonic() + 0.001)
    fd = timer.fd
    timer.close()
    timer.close()
    assert timer.fd == -1
    with pytest.raises(OSError):
        os.fstat(fd)


def test_a_failed_timerfd_create_gives_none_and_leaves_nothing_to_clean_up(monkeypatch):
    from ionpy_widgets.transport import _finetimer

    class NoTimerfd:  # timerfd_create fails, e.g. EMFILE: too many descriptors open
        def timerfd_create(self, clock: int, flags: int) -> int:
            return -1

    monkeypatch.setattr(_finetimer, "_libc", NoTimerfd)
    assert fine_timer() is None  # and its half-made FineTimer is collected without an error in __del__
