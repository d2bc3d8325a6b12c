"""Start/stop-byte framing with byte stuffing, e.g. the OpenDPS "uframe" protocol (reference §3).

Wire layout (OpenDPS defaults)::

    7E  <escaped payload>  <escaped CRC hi> <escaped CRC lo>  7F

* A byte equal to ``start``, ``stop`` or ``escape`` is sent as ``escape, byte ^ xor`` — in the
  payload *and* in the CRC bytes.
* The CRC (``crc16_xmodem`` by default, high byte first) covers the *unescaped* payload.
* Any ``start`` byte restarts collection (the partial frame before it is reported as
  ``incomplete``, or ``escape`` if it ended in a dangling escape byte).
* With ``start == stop`` (HDLC-like flags) one flag both ends a frame and starts the next;
  empty frames between two flags are ignored.

Errors: ``crc`` (mismatch), ``escape`` (escape byte right before ``stop``/``start``),
``incomplete`` (restarted, or too short to hold the CRC), ``overflow`` (more than ``max_frame``
wire bytes without a stop; everything up to the next start is then dropped), ``garbage`` (bytes
outside frames, reported in chunks of at most ``max_frame`` bytes and only once the next frame
or error shows where they end, so the report does not depend on how the stream was split).
Unescaping is lenient: ``escape, b`` always decodes to ``b ^ xor``, as the OpenDPS firmware does.
"""

from __future__ import annotations

import re

from ._resync import Junk
from .base import BufferedFramer, Frame, FrameError, FrameResult
from .checksums import ChecksumSpec, resolve_checksum

BYTEORDERS = ("big", "little")


class StartStopFramer(BufferedFramer):
    """Sans-IO framer for ``start … stop`` frames with escaping and an optional CRC.

    ``max_frame`` bounds the wire length of one frame (start to stop inclusive, escapes
    counted); OpenDPS itself buffers 128 bytes.
    """

    def __init__(self, start: int = 0x7E, stop: int = 0x7F, escape: int = 0x7D, xor: int = 0x20, *,
                 crc: str | None = "crc16_xmodem", crc_byteorder: str = "big", max_frame: int = 256) -> None:
        for name, value in (("start", start), ("stop", stop), ("escape", escape), ("xor", xor)):
            if not isinstance(value, int) or not 0 <= value <= 0xFF:
                raise ValueError(f"{name} must be a byte value 0..255, got {value!r}")
        if escape in (start, stop):
            raise ValueError("escape must differ from start and stop")
        specials = {start, stop, escape}
        if any(b ^ xor in specials for b in specials):
            raise ValueError(f"xor 0x{xor:02X} maps a special byte onto a special byte; use e.g. 0x20")
        if crc_byteorder not in BYTEORDERS:
            raise ValueError(f"crc_byteorder {crc_byteorder!r} is invalid; valid: big, little")
        self.spec: ChecksumSpec | None = resolve_checksum(crc, crc_byteorder) if crc else None  # type: ignore[arg-type]
        if max_frame < 2 + (self.spec.size if self.spec else 0):
            raise ValueError("max_frame is too small to hold start, stop and CRC")
        super().__init__(max_frame=max_frame)
        self.start, self.stop, self.escape, self.xor = start, stop, escape, xor
        self.crc, self.crc_byteorder = crc, crc_byteorder
        self._specials = re.compile(b"[" + re.escape(bytes(sorted(specials))) + b"]")
        self._terminators = re.compile(b"[" + re.escape(bytes(sorted({start, stop}))) + b"]")
        self._junk = Junk(max_frame)
        self._in_frame = False  # buf[0] is the start byte of a partial frame
        self._skipping = False  # after an overflow: drop everything up to the next start byte

    def reset(self) -> None:
        super().reset()
        self._junk.clear()
        self._in_frame = False
        self._skipping = False

    def encode(self, payload: bytes) -> bytes:
        """``start + escape(payload + crc) + stop``."""
        body = bytes(payload) + (self.spec.compute(payload) if self.spec else b"")
        if self._specials.search(body):
            body = self._specials.sub(lambda m: bytes((self.escape, m.group()[0] ^ self.xor)), body)
        return bytes((self.start,)) + body + bytes((self.stop,))

    def feed(self, data: bytes, now: float) -> list[FrameResult]:
        out: list[FrameResult] = []
        if not data:
            return out
        buf = self._buf
        scan = len(buf)
        buf += data
        self._last_rx = now
        pos = 0
        size = len(buf)
        while pos < size:
            if not self._in_frame:
                begin = buf.find(self.start, pos)
                end = size if begin < 0 else begin
                if end > pos and not self._skipping:
                    self._junk.add(buf[pos:end], "garbage", out, now)
                if begin < 0:
                    pos = size
                    break
                self._skipping = False
                self._in_frame = True
                pos, scan = begin, begin + 1
                continue
            match = self._terminators.search(buf, max(scan, pos + 1))
            end = match.start() if match else size
            if end - pos >= self.max_frame:
                self._emit(out, FrameError("overflow", bytes(buf[pos : pos + self.max_frame]), now,
                                           f"more than {self.max_frame} bytes without a stop byte"))
                self._in_frame, self._skipping = False, True
                pos += self.max_frame
                continue
            if match is None:
                break
            if buf[end] == self.stop:
                self._complete(buf, pos, end, now, out)
                if self.start == self.stop:
                    pos, scan = end, end + 1
                else:
                    self._in_frame = False
                    pos = end + 1
            else:  # a start byte inside a frame restarts collection
                if end - pos > 1:
                    kind = "escape" if self._dangling(buf[pos + 1 : end]) else "incomplete"
                    self._emit(out, FrameError(kind, bytes(buf[pos:end]), now, "frame restarted by a start byte"))
                pos, scan = end, end + 1
        del buf[:pos]
        return out

    # --- helpers ----------------------------------------------------------------------------------
    def _emit(self, out: list[FrameResult], item: FrameResult) -> None:
        self._junk.emit(out, item, item.timestamp)

    def _dangling(self, body: bytearray) -> bool:
        """True when ``body`` ends in an escape byte that escapes nothing."""
        count = len(body) - len(body.rstrip(bytes((self.escape,))))
        return count % 2 == 1

    def _complete(self, buf: bytearray, pos: int, end: int, now: float, out: list[FrameResult]) -> None:
        body = buf[pos + 1 : end]
        if not body and self.start == self.stop:
            return
        raw = bytes(buf[pos : end + 1])
        if self._dangling(body):
            self._emit(out, FrameError("escape", raw, now, "escape byte directly before the stop byte"))
            return
        data = self._unescape(body)
        spec = self.spec
        if spec is None:
            self._emit(out, Frame(data, raw, now))
        elif len(data) < spec.size:
            self._emit(out, FrameError("incomplete", raw, now, "frame shorter than its CRC"))
        elif spec.matches(data[: -spec.size], data[-spec.size :]):
            self._emit(out, Frame(data[: -spec.size], raw, now))
        else:
            self._emit(out, FrameError("crc", raw, now, "crc mismatch"))

    def _unescape(self, body: bytearray) -> bytes:
        escape = self.escape
        first = body.find(escape)
        if first < 0:
            return bytes(body)
        out = bytearray(body[:first])
        pos = first
        while pos >= 0:
            out.append(body[pos + 1] ^ self.xor)
            nxt = body.find(escape, pos + 2)
            out += body[pos + 2 : nxt if nxt >= 0 else len(body)]
            pos = nxt
        return bytes(out)
