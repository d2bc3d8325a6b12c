"""What-if variants of ``ionpy_widgets.link.Link``, measured by ``bench_modbus_poll.py --variants``.

They exist to put numbers on proposed changes to the link (a file owned elsewhere) without editing
it. None of them is used by the package. Each changes one thing:

* ``TimeoutLink`` — waits with ``async with asyncio.timeout(...)`` (Python 3.11+) instead of
  ``asyncio.wait_for(coro, ...)``: on 3.11 ``wait_for`` wraps the coroutine in a new Task, so every
  reply costs a Task, a done-callback and two extra loop hops.
* ``PreciseSilenceLink`` — honours t3.5 to within ~20 µs. ``asyncio.sleep(0.003646)`` ends up in
  ``epoll_wait`` with a timeout rounded *up* to whole milliseconds, so the silence is 4.0-4.7 ms
  instead of 3.65 ms. The variant sleeps the whole milliseconds below the deadline and yields to
  the loop (``sleep(0)``) for the sub-millisecond rest; it only ever waits when a request follows
  the previous reply within t3.5 (back-to-back polling).
* ``CallbackLink`` — ``TimeoutLink`` plus bytes delivered by callback: the transport's protocol feeds
  the framer in ``data_received`` and resolves the pending request's future; no reader task, no
  queue. Here it is wired by replacing the serial transport's ``StreamReader.feed_data`` (a private
  detail, fine for a measurement; the real change would be a small optional transport hook).
* ``PatchedLink`` — ``TimeoutLink`` + precise silence: exactly
  ``proposals/link-timeout-precise-silence.patch``.
* ``ProposedLink`` — ``CallbackLink`` with the precise silence (the patch plus the callback hook).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Any

from modbus_clients import AsyncioFloorClient, IonpyRawClient

from ionpy_widgets.errors import TransportError
from ionpy_widgets.link import _CLOSED, Link


class TimeoutLink(Link):
    async def _next_item(self, remaining: float) -> Any:
        if not self._queue.empty():
            return self._queue.get_nowait()
        if not self.transport.streaming:
            return await super()._next_item(remaining)
        try:
            async with asyncio.timeout(remaining):
                return await self._queue.get()
        except TimeoutError:
            return None

    async def _read_loop(self) -> None:
        try:
            while True:
                deadline = self.framer.next_deadline()
                if deadline is None:
                    data = await self.transport.read()
                else:
                    try:
                        async with asyncio.timeout(max(deadline - self.clock(), 0.0)):
                            data = await self.transport.read()
                    except TimeoutError:
                        self._dispatch(self.framer.poll(self.clock()))
                        continue
                self._dispatch(self._feed(data))
        except TransportError as exc:
            self._failure = exc
            self._queue.put_nowait(_CLOSED)


class _PreciseSilence:
    """Mixin: t3.5 without the epoll millisecond round-up."""

    async def _honour_silence(self: Any) -> None:
        silence = getattr(self.framer, "min_silence", 0.0)
        if silence <= 0:
            return
        deadline = self._last_activity + silence
        wait = deadline - self.clock()
        if wait <= 0:
            return
        whole_ms = math.floor(wait * 1000) / 1000  # a whole number of ms: epoll does not round it up
        if whole_ms > 0:
            await asyncio.sleep(whole_ms)
        give_up = time.monotonic() + wait - whole_ms  # bounded even if an injected clock stands still
        while self.clock() < deadline and time.monotonic() < give_up:  # noqa: ASYNC110 - sub-ms wait
            await asyncio.sleep(0)


class PreciseSilenceLink(_PreciseSilence, Link):
    pass


class PatchedLink(_PreciseSilence, TimeoutLink):
    """Exactly what ``proposals/link-timeout-precise-silence.patch`` does to ``Link``."""


class CallbackLink(TimeoutLink):
    _waiter: asyncio.Future[Any] | None = None

    async def open(self) -> None:
        await super().open()
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        self.transport._reader.feed_data = self._on_data  # type: ignore[attr-defined]

    def _on_data(self, data: bytes) -> None:
        for result in self._feed(data):
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(result)

    async def _next_item(self, remaining: float) -> Any:
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(remaining):
                return await waiter
        except TimeoutError:
            return None
        finally:
            self._waiter = None


class ProposedLink(_PreciseSilence, CallbackLink):
    pass


def _client(label: str, link_class: type[Link]) -> type[IonpyRawClient]:
    return type(f"Client_{link_class.__name__}", (IonpyRawClient,), {"name": label, "link_class": link_class})


VARIANTS: dict[str, type] = {
    c.name: c for c in (_client("ionpy+timeout", TimeoutLink), _client("ionpy+precise", PreciseSilenceLink),
                        _client("ionpy+patch", PatchedLink), _client("ionpy+callback", CallbackLink),
                        _client("ionpy+proposed", ProposedLink), AsyncioFloorClient)
}
