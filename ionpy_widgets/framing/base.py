"""The sans-IO framer contract.

A framer turns a byte stream into frames and a payload into wire bytes. It never does I/O,
never sleeps and imports nothing else of the package (not even ``errors``): bytes and a
timestamp go in, :class:`Frame` and :class:`FrameError` values come out. Time only enters
through the ``now`` arguments, so framers are deterministic and fuzzable.

Rules every framer follows:

* ``feed(data, now)`` may be called with any split of the stream (one byte at a time, many
  frames at once); the result is the same frames in the same order.
* Bad bytes never raise: they become :class:`FrameError` items and the framer resynchronises
  within one frame.
* Buffers are bounded by ``max_frame``; overflow is reported and the buffer dropped.
* Framers whose end-of-frame is *silence* (idle gap, Modbus t3.5) report when they want to be
  woken with ``next_deadline()``; the link calls ``poll(now)`` at that time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Frame:
    """One complete frame. ``payload`` is the decoded content (no delimiters, CRC, escaping);
    ``raw`` the exact bytes received; ``timestamp`` when its last byte arrived."""

    payload: bytes
    raw: bytes
    timestamp: float


@dataclass(frozen=True, slots=True)
class FrameError:
    """Bytes that could not form a frame. ``kind`` is one of ``crc``, ``checksum``, ``overflow``,
    ``garbage``, ``incomplete``, ``escape``."""

    kind: str
    raw: bytes
    timestamp: float
    detail: str = ""


FrameResult = Frame | FrameError


@runtime_checkable
class Framer(Protocol):
    """What the link needs from a framer."""

    #: Minimum bus silence (seconds) between the end of one frame and the start of the next
    #: request; 0 for framers without such a rule. The link honours it before every write.
    min_silence: float

    def feed(self, data: bytes, now: float) -> list[FrameResult]:
        """Consume received bytes; return the frames (and errors) they complete."""
        ...

    def poll(self, now: float) -> list[FrameResult]:
        """Tell the framer that time has passed without data (ends silence-delimited frames)."""
        ...

    def next_deadline(self) -> float | None:
        """Monotonic time at which ``poll`` should be called, or None when nothing is pending."""
        ...

    def encode(self, payload: bytes) -> bytes:
        """Wire bytes for one outgoing payload."""
        ...

    def reset(self) -> None:
        """Drop any partial frame (e.g. after a reconnect or before a new request)."""
        ...


class BufferedFramer:
    """Shared plumbing: a bounded receive buffer and the time of the last byte."""

    min_silence: float = 0.0

    def __init__(self, *, max_frame: int = 4096) -> None:
        if max_frame < 1:
            raise ValueError("max_frame must be at least 1")
        self.max_frame = max_frame
        self._buf = bytearray()
        self._last_rx: float | None = None

    def reset(self) -> None:
        self._buf.clear()
        self._last_rx = None

    def poll(self, now: float) -> list[FrameResult]:
        return []

    def next_deadline(self) -> float | None:
        return None

    def _overflow(self, now: float) -> FrameError:
        raw = bytes(self._buf)
        self._buf.clear()
        return FrameError("overflow", raw, now, f"more than {self.max_frame} bytes without a frame end")
