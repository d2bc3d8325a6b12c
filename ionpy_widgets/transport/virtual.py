"""An in-process pipe to a simulator session, with fault injection on the reply direction.

The peer is duck-typed, like :class:`ionpy_widgets.instruments.simhost.SimSession`:

* ``feed(data: bytes, now: float) -> list[bytes]`` receives written bytes, returns reply chunks;
* optional ``poll(now) -> list[bytes]`` and ``next_deadline() -> float | None`` for simulators whose
  frames end with silence (idle gap, Modbus t3.5). The transport arms one loop timer at the
  deadline, so nothing busy-waits.

A peer object that has ``session()`` instead of ``feed`` (a simulator) gets a fresh session on
every :meth:`VirtualTransport.open`, like a new connection.

Faults, all applied to replies and deterministic for a given ``seed``:

* ``drop``: each reply is lost with this probability;
* ``garble``: each surviving reply has one random bit flipped with this probability;
* ``chunk_size``: replies are split into chunks of this size, and ``read`` never returns bytes of
  two chunks at once, so a framer really sees the split;
* ``delay``: each chunk is delivered this many seconds after the previous one (the first one
  ``delay`` after the write); with 0 chunks are delivered at once;
* ``disconnect_after=N``: the connection drops right after the N-th write reached the peer (its
  reply is lost), as does :meth:`VirtualTransport.disconnect`; reads and writes then raise
  :class:`~ionpy_widgets.errors.TransportClosedError`.

``stats`` and the write count behind ``disconnect_after`` are per connection: ``open`` resets them.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import TransportClosedError
from .address import VirtualParams
from .base import TransportBase


@dataclass(slots=True)
class VirtualStats:
    writes: int = 0
    replies: int = 0
    dropped: int = 0
    garbled: int = 0
    chunks: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class LoopbackPeer:
    """The simplest peer: every write comes straight back. ``received`` keeps what was written."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    def feed(self, data: bytes, now: float) -> list[bytes]:
        self.received.append(bytes(data))
        return [bytes(data)]


class VirtualTransport(TransportBase):
    """A byte pipe to ``peer``; see the module docstring for the fault options."""

    type_name = "virtual"
    streaming = True

    def __init__(self, peer: Any, *, chunk_size: int | None = None, delay: float = 0.0, drop: float = 0.0,
                 garble: float = 0.0, seed: int | None = None, disconnect_after: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        # validation (ranges, peer shape) is shared with config files
        self.params = VirtualParams(peer, chunk_size=chunk_size, delay=delay, drop=drop, garble=garble,
                                    seed=seed, disconnect_after=disconnect_after)
        self.clock = clock
        self.stats = VirtualStats()
        self.session: Any = None
        self._rng = random.Random(seed)
        self._rx: deque[bytearray] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._timers: deque[asyncio.TimerHandle] = deque()  # chunk deliveries, in firing order
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._busy_until = 0.0
        self._lost = False

    @classmethod
    def from_params(cls, params: VirtualParams) -> VirtualTransport:
        return cls(params.peer, chunk_size=params.chunk_size, delay=params.delay, drop=params.drop,
                   garble=params.garble, seed=params.seed, disconnect_after=params.disconnect_after)

    # --- lifecycle ------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._open:
            return
        self._cancel_timers()
        peer = self.params.peer
        self.session = peer if callable(getattr(peer, "feed", None)) else peer.session()
        self._rx.clear()
        self._lost = False
        self._busy_until = 0.0
        self.stats = VirtualStats()
        self._open = True

    async def close(self) -> None:
        """Close the pipe (idempotent); a pending read raises TransportClosedError."""
        self._open = False
        self._cancel_timers()
        self._rx.clear()
        self._wake()

    def disconnect(self) -> None:
        """Fault injection: the peer hangs up. Pending and later reads and writes raise."""
        self._lost = True
        self._open = False
        self._cancel_timers()
        self._rx.clear()
        self._wake()

    # --- data -----------------------------------------------------------------------------------
    async def read(self, max_bytes: int = 4096) -> bytes:
        while not self._rx:
            self._raise_if_closed()
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = self._rx[0]
        data = bytes(chunk[:max_bytes])
        del chunk[:max_bytes]
        if not chunk:
            self._rx.popleft()
        return data

    async def write(self, data: bytes) -> None:
        self._raise_if_closed()
        self.stats.writes += 1
        replies = self.session.feed(bytes(data), self.clock())
        if self.params.disconnect_after is not None and self.stats.writes >= self.params.disconnect_after:
            self.disconnect()
            return
        self._deliver(replies)
        self._arm_deadline()

    def describe(self) -> dict[str, Any]:
        p = self.params
        desc: dict[str, Any] = {"type": self.type_name, "peer": type(p.peer).__name__}
        faults = {"chunk_size": p.chunk_size, "delay": p.delay, "drop": p.drop, "garble": p.garble,
                  "disconnect_after": p.disconnect_after}
        desc.update({k: v for k, v in faults.items() if v})
        return desc

    # --- internals ------------------------------------------------------------------------------
    def _raise_if_closed(self) -> None:
        if self._lost:
            raise TransportClosedError("virtual peer disconnected", peer=type(self.params.peer).__name__)
        if not self._open:
            raise TransportClosedError("virtual transport is not open")

    def _deliver(self, replies: list[bytes]) -> None:
        p = self.params
        loop = asyncio.get_running_loop()
        for reply in replies:
            if not reply:
                continue
            if p.drop and self._rng.random() < p.drop:
                self.stats.dropped += 1
                continue
            data = bytearray(reply)
            if p.garble and self._rng.random() < p.garble:
                data[self._rng.randrange(len(data))] ^= 1 << self._rng.randrange(8)
                self.stats.garbled += 1
            self.stats.replies += 1
            size = p.chunk_size or len(data)
            for start in range(0, len(data), size):
                chunk = data[start:start + size]
                self.stats.chunks += 1
                if p.delay <= 0:
                    self._push(chunk)
                    continue
                self._busy_until = max(loop.time(), self._busy_until) + p.delay
                self._timers.append(loop.call_at(self._busy_until, self._timed_push, chunk))

    def _timed_push(self, chunk: bytearray) -> None:
        if self._timers:
            self._timers.popleft()  # deliveries fire in the order they were scheduled
        self._push(chunk)

    def _push(self, chunk: bytearray) -> None:
        if not self._open:
            return
        self._rx.append(chunk)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _arm_deadline(self) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        next_deadline = getattr(self.session, "next_deadline", None)
        deadline = next_deadline() if callable(next_deadline) else None
        if deadline is None or not self._open:
            return
        loop = asyncio.get_running_loop()
        self._deadline_timer = loop.call_later(max(0.0, deadline - self.clock()), self._on_deadline)

    def _on_deadline(self) -> None:
        self._deadline_timer = None
        if not self._open:
            return
        poll = getattr(self.session, "poll", None)
        if callable(poll):
            self._deliver(poll(self.clock()))
        self._arm_deadline()

    def _cancel_timers(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
