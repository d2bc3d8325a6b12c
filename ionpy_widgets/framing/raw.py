"""Raw framing: every received chunk is a frame and payloads go out unchanged.

For transports that are already message based (HID reports, UDP datagrams, a VISA read that
returns a whole reply) and for terminal-style pass-through. A chunk longer than ``max_frame``
is cut into consecutive frames of at most ``max_frame`` bytes, so no frame is ever unbounded.
Because the transport's chunking *is* the framing here, this is the one framer whose output
depends on how the stream is split.
"""

from __future__ import annotations

from .base import BufferedFramer, Frame, FrameResult


class RawFramer(BufferedFramer):
    """Sans-IO identity framer: ``feed(chunk)`` → one frame per chunk (split at ``max_frame``)."""

    def __init__(self, *, max_frame: int = 4096) -> None:
        super().__init__(max_frame=max_frame)

    def feed(self, data: bytes, now: float) -> list[FrameResult]:
        if not data:
            return []
        self._last_rx = now
        data = bytes(data)
        step = self.max_frame
        if len(data) <= step:
            return [Frame(data, data, now)]
        return [Frame(part, part, now) for part in (data[i : i + step] for i in range(0, len(data), step))]

    def encode(self, payload: bytes) -> bytes:
        return bytes(payload)
