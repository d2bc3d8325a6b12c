"""Frames that announce their own length: ``header, [fields], length, payload, [checksum]``.

Layout and the one formula to remember::

    offset 0                length_offset      length_end = length_offset + length_size
    | header | fields ...  | length field     | rest ...                 | checksum |
    total frame length = length_end + length_value + length_adjust

i.e. the length field counts the bytes that follow it, corrected by ``length_adjust``. The
checksum (if any) is the last ``size`` bytes of the frame and covers every byte from
``checksum_start`` (default 0, the first header byte) up to the checksum. The frame payload is
everything except the header, the length field and the checksum (fields between header and
length field come first); :meth:`LengthPrefixedFramer.encode` rebuilds the frame from it.

Examples (reference §6, §7):

=====================  =========================================================================
UNI-T UT61E+ meter     ``header=b"\\xab\\xcd", length_size=1, checksum="sum16_be"``
                       (LEN = payload + 2 = bytes after LEN; SUM over AB…payload, big-endian)
JK BMS (RS485)         ``header=b"NW", length_size=2, length_adjust=-2, checksum="sum16_be"``
                       (length = total − 2, i.e. counts from the length field itself)
Daly BMS (13 bytes)    ``header=b"\\xa5", length_offset=3, length_size=1, length_adjust=1,
                       checksum="sum8"`` (payload = address, command, 8 data bytes)
=====================  =========================================================================

Garbage before a header is skipped (and reported as ``garbage``); a bad checksum is reported as
``checksum`` and the search restarts one byte after the bad frame's first header byte; a length
above ``max_frame`` is reported as ``overflow``. With ``gap_timeout`` set, a partial frame
followed by that much silence is dropped as ``incomplete`` (JK BMS receivers use 50 ms).
If a header inside a bad frame starts a frame that is not yet complete, the bad frame is
reported only when that frame is decided (more bytes, or ``gap_timeout``): a valid frame there
means the bytes before it were garbage, not a corrupt frame.
"""

from __future__ import annotations

from ._resync import INVALID, NEED, MeasuredFramer
from .checksums import ChecksumSpec, resolve_checksum

LENGTH_SIZES = (1, 2, 4)
BYTEORDERS = ("big", "little")


class LengthPrefixedFramer(MeasuredFramer):
    """Sans-IO framer for header + length + payload + checksum frames (see module docstring)."""

    def __init__(self, *, header: bytes = b"", length_offset: int | None = None, length_size: int = 1,
                 byteorder: str = "big", length_adjust: int = 0, checksum: str | None = None,
                 checksum_start: int = 0, max_frame: int = 4096, gap_timeout: float | None = None) -> None:
        header = bytes(header)
        if length_offset is None:
            length_offset = len(header)
        if length_offset < len(header):
            raise ValueError(f"length_offset must be at least len(header)={len(header)}, got {length_offset}")
        if length_size not in LENGTH_SIZES:
            raise ValueError(f"length_size {length_size!r} is invalid; valid: 1, 2, 4")
        if byteorder not in BYTEORDERS:
            raise ValueError(f"byteorder {byteorder!r} is invalid; valid: big, little")
        self.spec: ChecksumSpec | None = resolve_checksum(checksum) if checksum else None
        size = self.spec.size if self.spec else 0
        length_end = length_offset + length_size
        if not 0 <= checksum_start <= length_end:
            raise ValueError(f"checksum_start must be 0..{length_end} (it may not skip into the payload)")
        if max_frame < length_end + size:
            raise ValueError(f"max_frame must be at least {length_end + size} (header, length and checksum)")
        super().__init__(max_frame=max_frame, gap_timeout=gap_timeout)
        self.header = header
        self.length_offset = length_offset
        self.length_size = length_size
        self.byteorder = byteorder
        self.length_adjust = length_adjust
        self.checksum = checksum
        self.checksum_start = checksum_start
        self._length_end = length_end
        self._check_size = size
        self._oversize_span = length_end

    def encode(self, payload: bytes) -> bytes:
        """Build ``header + fields + length + rest + checksum`` from a payload as :meth:`feed`
        returns it. Raises ValueError when the length does not fit the length field."""
        gap = self.length_offset - len(self.header)
        if len(payload) < gap:
            raise ValueError(f"payload must start with the {gap} byte(s) between header and length field")
        total = len(self.header) + len(payload) + self.length_size + self._check_size
        value = total - self._length_end - self.length_adjust
        if total > self.max_frame or not 0 <= value < 1 << (8 * self.length_size):
            raise ValueError(f"a {len(payload)}-byte payload does not fit (frame {total} bytes, "
                             f"length field {value}, max_frame {self.max_frame})")
        frame = bytearray(self.header)
        frame += payload[:gap]
        frame += value.to_bytes(self.length_size, self.byteorder)
        frame += payload[gap:]
        if self.spec is not None:
            frame += self.spec.compute(frame[self.checksum_start :])
        return bytes(frame)

    # --- MeasuredFramer hooks -----------------------------------------------------------------
    def _find_start(self, buf: bytearray, pos: int) -> int:
        header = self.header
        if not header:
            return pos
        found = buf.find(header, pos)
        if found >= 0:
            return found
        # keep a trailing partial header: the longest suffix that is a prefix of the header
        for m in range(min(len(header) - 1, len(buf) - pos), 0, -1):
            if buf.endswith(header[:m]):
                return len(buf) - m
        return max(pos, len(buf))

    def _measure(self, buf: bytearray, k: int) -> int:
        if len(buf) - k < self._length_end:
            return NEED
        value = int.from_bytes(buf[k + self.length_offset : k + self._length_end], self.byteorder)
        n = self._length_end + value + self.length_adjust
        return n if n >= self._length_end + self._check_size else INVALID

    def _verify(self, buf: bytearray, k: int, n: int) -> bool:
        spec = self.spec
        if spec is None:
            return True
        end = k + n - spec.size
        return spec.matches(buf[k + self.checksum_start : end], buf[end : k + n])

    def _payload(self, raw: bytes) -> bytes:
        body = raw[self._length_end : len(raw) - self._check_size]
        if self.length_offset > len(self.header):
            return raw[len(self.header) : self.length_offset] + body
        return body
