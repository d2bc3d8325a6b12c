"""Shared resynchronisation machinery for framers that find frames by *measuring* them.

Two pieces:

* :class:`Junk` collects bytes that belong to no frame and reports them as one
  :class:`FrameError` per run (or per ``bound`` bytes). Reporting is deferred until the next
  frame or error, so the reported chunks do not depend on how the stream was split into
  ``feed`` calls.
* :class:`MeasuredFramer` is the parse loop for framers whose frame length is known from its
  first bytes (length header, Modbus function code). A subclass says where a frame may start
  (``_find_start``), how long it is (``_measure``), whether it is intact (``_verify``) and what
  its payload is (``_payload``). On a bad frame the loop reports it once, then slides one byte
  and tries again. Before reporting, it checks whether a valid frame *starts inside* the
  rejected bytes: if so the leading bytes were garbage (an RS-485 turn-around glitch before a
  reply, say) and only they are reported, as ``garbage``. That check may have to wait for
  more bytes; it gives up waiting at the first silence (``silence`` or ``gap_timeout``).

Silence is handled in two levels: level 1 (the protocol's own inter-frame silence, e.g. Modbus
t3.5) ends frames of unknown length; level 2 (``gap_timeout``) declares every partial frame
dead (``incomplete``). Without silence the buffer holds at most ``2 * max_frame`` bytes.

Every decision depends only on the bytes received and on elapsed silence, never on how the
stream was split into ``feed`` calls, so byte-by-byte feeding gives the same results.

The common case, an idle framer handed exactly one whole intact frame (a reply read in one go),
skips the parse loop: one measure, one check (``fast_path``; tests/framing/test_measured_fast_path.py
checks that it agrees with the loop on any stream).
"""

from __future__ import annotations

from .base import BufferedFramer, Frame, FrameError, FrameResult

NEED = 0  #: more bytes are needed to know the frame length
INVALID = -1  #: no frame can start here
SILENCE = -2  #: a frame starts here but only silence tells where it ends

_DETAILS = {
    "garbage": "bytes outside any frame",
    "incomplete": "partial frame followed by silence",
}


class Junk:
    """Accumulates unframed bytes of one kind and reports them in chunks of at most ``bound``."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.data = bytearray()
        self.kind = ""

    def __bool__(self) -> bool:
        return bool(self.data)

    def add(self, data: bytes | bytearray, kind: str, out: list[FrameResult], now: float) -> None:
        if self.data and kind != self.kind:
            self.flush(out, now)
        self.kind = kind
        self.data += data
        while len(self.data) >= self.bound:
            out.append(FrameError(kind, bytes(self.data[: self.bound]), now, _DETAILS.get(kind, "")))
            del self.data[: self.bound]

    def flush(self, out: list[FrameResult], now: float) -> None:
        if self.data:
            out.append(FrameError(self.kind, bytes(self.data), now, _DETAILS.get(self.kind, "")))
            self.data.clear()

    def emit(self, out: list[FrameResult], item: FrameResult, now: float) -> None:
        """Append ``item`` after reporting whatever junk came before it."""
        self.flush(out, now)
        out.append(item)

    def clear(self) -> None:
        self.data.clear()


class MeasuredFramer(BufferedFramer):
    """Parse loop for length-measured frames; see the module docstring for the hooks."""

    #: ``FrameError.kind`` for a frame that fails its integrity check.
    check_kind = "checksum"

    def __init__(self, *, max_frame: int, gap_timeout: float | None, silence: float | None = None) -> None:
        super().__init__(max_frame=max_frame)
        if gap_timeout is not None and gap_timeout <= 0:
            raise ValueError("gap_timeout must be positive (seconds) or None")
        self.gap_timeout = gap_timeout
        self._silence = silence
        self._junk = Junk(max_frame)
        self._covered = 0  # leading buffer bytes already reported inside an error
        self._level = 0  # silence level already processed for the current buffer
        self._stalled = False  # a rejected candidate waits for the frames inside it to be decided
        self._oversize_span = 1  # bytes reported when a frame announces a length > max_frame
        #: Take the one-whole-frame shortcut in :meth:`feed` (same results; False forces the parse loop).
        self.fast_path = True

    # --- hooks --------------------------------------------------------------------------------
    def _find_start(self, buf: bytearray, pos: int) -> int:
        return pos

    def _measure(self, buf: bytearray, k: int) -> int:
        raise NotImplementedError

    def _verify(self, buf: bytearray, k: int, n: int) -> bool:
        raise NotImplementedError

    def _payload(self, raw: bytes) -> bytes:
        raise NotImplementedError

    # --- Framer API -----------------------------------------------------------------------------
    def reset(self) -> None:
        super().reset()
        self._junk.clear()
        self._covered = 0
        self._level = 0
        self._stalled = False

    def feed(self, data: bytes, now: float) -> list[FrameResult]:
        if self.fast_path and data and not self._buf and not self._junk.data:
            # The common case, an idle framer handed exactly one whole intact frame: one measure
            # and one check instead of the parse loop, leaving the state the loop would leave.
            n = self._measure(data, 0)
            if 0 < n == len(data) <= self.max_frame and self._find_start(data, 0) == 0 and self._verify(data, 0, n):
                self._last_rx = now
                self._level = 0
                self._stalled = False
                raw = bytes(data)
                return [Frame(self._payload(raw), raw, now)]
        out = self._expire(now)
        if data:
            self._buf += data
            self._last_rx = now
            self._level = 0
            self._parse(out, now, 0, now)
        return out

    def poll(self, now: float) -> list[FrameResult]:
        return self._expire(now)

    def next_deadline(self) -> float | None:
        last = self._last_rx
        if last is None or not (self._buf or self._junk.data):
            return None
        if self._level == 0 and self._silence is not None and (
                self._stalled or (self._buf and self._measure(self._buf, 0) == SILENCE)):
            return last + self._silence
        if self._level < 2 and self.gap_timeout is not None:
            return last + self.gap_timeout
        return None

    # --- machinery --------------------------------------------------------------------------------
    def _expire(self, now: float) -> list[FrameResult]:
        out: list[FrameResult] = []
        last = self._last_rx
        if last is None or not (self._buf or self._junk):
            return out
        level = 0
        if self.gap_timeout is not None and now >= last + self.gap_timeout:
            level = 2
        elif self._silence is not None and now >= last + self._silence:
            level = 1
        if level > self._level:
            self._level = level
            self._parse(out, now, level, last)
        return out

    def _parse(self, out: list[FrameResult], now: float, level: int, stamp: float) -> None:
        buf = self._buf
        self._stalled = False
        while buf:
            start = self._find_start(buf, 0)
            if start:
                self._drop(start, "garbage", out, now, level)
                continue
            n = self._measure(buf, 0)
            if n == INVALID:
                self._drop(1, "garbage", out, now, level)
            elif n == SILENCE:
                size = len(buf)
                if size > self.max_frame:
                    if not self._reject(self.max_frame + 1, "overflow", "frame longer than max_frame", out, now,
                                        level):
                        return
                elif level >= 1 and self._verify(buf, 0, size):
                    self._accept(size, stamp, out, now)
                elif level < 2:
                    return
                else:
                    self._reject(size, self.check_kind, "check failed at end of silence", out, now, level)
            elif n > self.max_frame:
                if not self._reject(min(self._oversize_span, len(buf)), "overflow",
                                    f"frame announces {n} bytes, more than max_frame={self.max_frame}", out, now,
                                    level):
                    return
            elif n == NEED or n > len(buf):
                if level < 2:
                    return
                # a dead partial frame: keep only a complete valid frame that may lie inside it
                self._drop(self._inner_frame(len(buf), level) or len(buf), "incomplete", out, now, level)
            elif self._verify(buf, 0, n):
                self._accept(n, stamp, out, now)
            elif not self._reject(n, self.check_kind, f"{self.check_kind} mismatch", out, now, level):
                return
        if level >= 2:
            self._junk.flush(out, now)

    def _accept(self, n: int, stamp: float, out: list[FrameResult], now: float) -> None:
        raw = bytes(self._buf[:n])
        del self._buf[:n]
        self._covered = max(0, self._covered - n)
        self._junk.emit(out, Frame(self._payload(raw), raw, stamp), now)

    def _drop(self, n: int, kind: str, out: list[FrameResult], now: float, level: int) -> None:
        if n > self._covered:
            self._junk.add(self._buf[self._covered : n], "incomplete" if level >= 2 else kind, out, now)
        self._covered = max(0, self._covered - n)
        del self._buf[:n]

    def _reject(self, span: int, kind: str, detail: str, out: list[FrameResult], now: float, level: int) -> bool:
        """The candidate ``buf[:span]`` is bad: report it once, then slide by one byte.

        Returns False (and does nothing) while a frame starting inside the candidate is still
        undecided: if it turns out valid, the leading bytes were garbage, not a corrupt frame."""
        if span > self._covered:
            inner = self._inner_frame(span, level)
            if inner < 0:
                self._stalled = True
                return False
            if inner:
                self._drop(inner, "garbage", out, now, level)
                return True
            self._junk.emit(out, FrameError(kind, bytes(self._buf[:span]), now, detail), now)
            self._covered = span
        self._drop(1, "garbage", out, now, level)
        return True

    def _inner_frame(self, span: int, level: int) -> int:
        """Offset of the first valid frame starting inside ``buf[1:span]``; 0 if there is none;
        -1 if a candidate there needs more bytes to be decided (never once silence was seen)."""
        buf = self._buf
        k = self._find_start(buf, 1)
        while k < span:
            n = self._measure(buf, k)
            if n == NEED or (0 < n <= self.max_frame and k + n > len(buf)):
                if level < 1:
                    return -1
            elif 0 < n <= self.max_frame and self._verify(buf, k, n):
                return k
            k = self._find_start(buf, k + 1)
        return 0
