"""Delimiter framing: a frame ends at ``delimiter`` (``\\n`` for SCPI).

* Multi-byte delimiters (``b"\\r\\n"``) are allowed. The search remembers how far it already
  looked (like h11's receive buffer), so feeding one byte at a time costs O(1) per byte, not a
  rescan of the whole partial line.
* ``strip`` is a *set* of bytes removed from the end of each payload (``bytes.rstrip``); the
  default ``b"\\r"`` makes ``\\n`` framing accept ``\\r\\n`` lines too. The raw frame keeps them.
* A frame longer than ``max_frame`` bytes (delimiter not counted) is reported once as
  ``overflow`` with its first ``max_frame + 1`` bytes; the rest up to the next delimiter is
  dropped, and framing resumes after it. The report is the same however the stream is split.
* :meth:`DelimiterFramer.encode` appends the delimiter unless the payload already ends with
  it (or ``append_on_encode`` is False).
"""

from __future__ import annotations

from .base import BufferedFramer, Frame, FrameError, FrameResult


class DelimiterFramer(BufferedFramer):
    """Sans-IO framer for delimiter-terminated messages (SCPI, ASCII protocols)."""

    def __init__(self, delimiter: bytes = b"\n", *, strip: bytes | None = b"\r", append_on_encode: bool = True,
                 max_frame: int = 4096) -> None:
        super().__init__(max_frame=max_frame)
        delimiter = bytes(delimiter)
        if not delimiter:
            raise ValueError("delimiter must not be empty (e.g. b'\\n')")
        self.delimiter = delimiter
        self.strip = bytes(strip) if strip else b""
        self.append_on_encode = append_on_encode
        self._scan = 0  # buffer offset before which no delimiter can start
        self._skipping = False  # dropping an overflowed frame up to its delimiter

    def reset(self) -> None:
        super().reset()
        self._scan = 0
        self._skipping = False

    def encode(self, payload: bytes) -> bytes:
        """``payload`` plus the delimiter (see module docstring)."""
        payload = bytes(payload)
        if self.append_on_encode and not payload.endswith(self.delimiter):
            return payload + self.delimiter
        return payload

    def feed(self, data: bytes, now: float) -> list[FrameResult]:
        out: list[FrameResult] = []
        if not data:
            return out
        buf = self._buf
        buf += data
        self._last_rx = now
        delim = self.delimiter
        width = len(delim)
        limit = self.max_frame
        pos = 0
        scan = self._scan
        while True:
            end = buf.find(delim, max(scan, pos))
            if self._skipping:
                if end < 0:
                    # keep only what could be the start of a delimiter
                    pos = max(pos, len(buf) - width + 1)
                    scan = pos
                    break
                self._skipping = False
                pos = scan = end + width
                continue
            if end < 0:
                if len(buf) - pos - (width - 1) > limit:
                    self._overflow_at(pos, now, out)
                    pos += limit + 1
                    self._skipping = True
                    continue
                scan = max(pos, len(buf) - width + 1)
                break
            if end - pos > limit:
                self._overflow_at(pos, now, out)
                pos = scan = end + width
                continue
            raw = bytes(buf[pos : end + width])
            payload = raw[: end - pos]
            if self.strip:
                payload = payload.rstrip(self.strip)
            out.append(Frame(payload, raw, now))
            pos = scan = end + width
        del buf[:pos]
        self._scan = scan - pos
        return out

    def _overflow_at(self, pos: int, now: float, out: list[FrameResult]) -> None:
        raw = bytes(self._buf[pos : pos + self.max_frame + 1])
        out.append(FrameError("overflow", raw, now, f"more than {self.max_frame} bytes without a delimiter"))
