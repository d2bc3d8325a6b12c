"""Idle-gap framing: a reply ends after ``gap`` seconds of silence, or at a known byte count.

This is how Korad/Tenma KA3005P-family supplies talk (reference §4): bare ASCII commands with no
terminator, replies with no terminator either. A reply of known size (``VSET1?`` → 5 bytes,
``STATUS?`` → 1 byte) can be announced with :meth:`IdleGapFramer.expect` before the request, so
it is delivered as soon as its last byte arrives instead of one ``gap`` later.

* ``next_deadline()`` is ``last byte + gap`` while a partial reply is buffered; ``poll(now)`` at
  or after that time emits it (timestamped with its last byte). ``feed`` checks the same rule
  first, so a late ``poll`` never merges two replies.
* With an expected length, a reply cut short by the gap is reported as ``incomplete``; bytes
  beyond the expected length start the next frame. ``expect(n)`` applies to the next frame
  only; afterwards the constructor's ``expected_length`` applies again.
* More than ``max_frame`` bytes without a gap is an ``overflow``: the first ``max_frame + 1``
  bytes are reported and the rest is dropped until the next gap.
* ``encode`` is the identity (the commands carry no framing).
"""

from __future__ import annotations

from .base import BufferedFramer, Frame, FrameError, FrameResult


class IdleGapFramer(BufferedFramer):
    """Sans-IO framer whose frames end with silence (or after ``expected_length`` bytes)."""

    def __init__(self, gap: float = 0.05, *, max_frame: int = 4096, expected_length: int | None = None) -> None:
        super().__init__(max_frame=max_frame)
        if not gap > 0:
            raise ValueError(f"gap must be a positive number of seconds, got {gap!r}")
        self.gap = gap
        self.expected_length = self._checked(expected_length)
        self._expected: int | None = None  # one-shot override from expect()
        self._skipping = False

    def _checked(self, n: int | None) -> int | None:
        if n is not None and not 1 <= n <= self.max_frame:
            raise ValueError(f"expected_length must be 1..max_frame ({self.max_frame}) or None, got {n!r}")
        return n

    def expect(self, n: int | None) -> None:
        """Expect the next frame to be exactly ``n`` bytes (None: end it by the gap only)."""
        self._expected = self._checked(n)

    def reset(self) -> None:
        super().reset()
        self._expected = None
        self._skipping = False

    def encode(self, payload: bytes) -> bytes:
        return bytes(payload)

    def next_deadline(self) -> float | None:
        if self._last_rx is None or not (self._buf or self._skipping):
            return None
        return self._last_rx + self.gap

    def poll(self, now: float) -> list[FrameResult]:
        out: list[FrameResult] = []
        last = self._last_rx
        if last is not None and (self._buf or self._skipping) and now >= last + self.gap:
            self._end_by_gap(last, now, out)
        return out

    def feed(self, data: bytes, now: float) -> list[FrameResult]:
        out = self.poll(now)
        if not data:
            return out
        buf = self._buf
        buf += data
        self._last_rx = now
        if self._skipping:
            buf.clear()
            return out
        while buf:
            want = self._expected if self._expected is not None else self.expected_length
            if want is not None:
                if len(buf) < want:
                    break
                raw = bytes(buf[:want])
                del buf[:want]
                self._expected = None
                out.append(Frame(raw, raw, now))
            elif len(buf) > self.max_frame:
                raw = bytes(buf[: self.max_frame + 1])
                out.append(FrameError("overflow", raw, now, f"more than {self.max_frame} bytes without a gap"))
                buf.clear()
                self._skipping = True
            else:
                break
        return out

    def _end_by_gap(self, last: float, now: float, out: list[FrameResult]) -> None:
        raw = bytes(self._buf)
        self._buf.clear()
        self._skipping = False
        if not raw:
            return
        want = self._expected if self._expected is not None else self.expected_length
        self._expected = None
        if want is not None:
            out.append(FrameError("incomplete", raw, now, f"expected {want} bytes, got {len(raw)} before the gap"))
        else:
            out.append(Frame(raw, raw, last))
