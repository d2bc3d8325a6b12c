"""Helpers shared by the framer tests (imported by name; tests/ has no packages): feeding a framer
a byte stream split at chosen points, and naming what came out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from ionpy_widgets.framing import FrameError


def feed_chunks(framer: Any, chunks: Iterable[bytes], now: float = 1.0) -> list[Any]:
    """Feed ``chunks`` one after the other at time ``now``; return every frame and error, in order."""
    out = []
    for chunk in chunks:
        out += framer.feed(chunk, now)
    return out


def kinds(results: Iterable[Any]) -> list[str]:
    """The error kind of each result, or "frame" for a decoded frame."""
    return [r.kind if isinstance(r, FrameError) else "frame" for r in results]


def settle(framer: Any, now: float) -> list[Any]:
    """Call poll at every deadline up to ``now``, like the link's reader does; must terminate."""
    out: list[Any] = []
    for _ in range(6):
        deadline = framer.next_deadline()
        if deadline is None or deadline > now:
            return out
        out += framer.poll(deadline)
    pytest.fail("next_deadline() does not advance after poll()")
