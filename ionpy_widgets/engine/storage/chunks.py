"""Columnar chunks of one series: how samples are packed into (and read back from) BLOB rows.

A chunk holds the samples of one entity with one unit, sorted by time: three little-endian
arrays (``<f8`` timestamps, ``<f8`` values, ``u1`` quality codes) plus, only when some values are
not numbers, a JSON list ``[[index, text], ...]`` of those values (their slot in the value array
is NaN). Numbers are stored as float64 (bools as 1.0/0.0, ``None`` and NaN as NaN).

Everything here is pure numpy/Python on plain data, so the SQLite store only moves bytes, and
the same functions serve queries and the decimation (:func:`decimate`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from operator import attrgetter
from typing import Any

import numpy as np

from ...driver.reading import Reading
from .base import QUALITY_CODE, to_json

F8 = np.dtype("<f8")
U1 = np.dtype("u1")
#: Most samples in one chunk row (a bigger group is split); 64 Ki samples ≈ 1.1 MB of BLOBs.
CHUNK_MAX = 65_536
_TS = attrgetter("timestamp")
_VALUE = attrgetter("value")
_QUALITY = attrgetter("quality")


@dataclass(slots=True)
class Chunk:
    """Samples of one series, oldest first; ``texts`` maps an index to a non-numeric value."""

    ts: np.ndarray[Any, np.dtype[np.float64]]
    value: np.ndarray[Any, np.dtype[np.float64]]
    quality: np.ndarray[Any, np.dtype[np.uint8]]
    texts: dict[int, str]

    def __len__(self) -> int:
        return int(self.ts.size)

    def blobs(self) -> tuple[float, float, int, bytes, bytes, bytes, str | None]:
        """``(t_first, t_last, n, ts, value, quality, texts)`` as stored in a ``chunks`` row."""
        texts = json.dumps(sorted(self.texts.items()), ensure_ascii=False) if self.texts else None
        return (float(self.ts[0]), float(self.ts[-1]), len(self), self.ts.astype(F8).tobytes(),
                self.value.astype(F8).tobytes(), self.quality.tobytes(), texts)

    def split(self, size: int | None = None) -> list[Chunk]:
        """Pieces of at most ``size`` (default :data:`CHUNK_MAX`) samples."""
        size = size or CHUNK_MAX
        if len(self) <= size:
            return [self]
        return [Chunk(self.ts[i:i + size], self.value[i:i + size], self.quality[i:i + size],
                      {k - i: t for k, t in self.texts.items() if i <= k < i + size})
                for i in range(0, len(self), size)]


def from_readings(readings: Sequence[Reading]) -> Chunk:
    """One chunk from readings of one series (any order: sorted by time, stable)."""
    return next(iter(group(readings, np.zeros(len(readings), np.int64)).values()))


def group(readings: Sequence[Reading], codes: np.ndarray[Any, Any]) -> dict[int, Chunk]:
    """The readings of a batch as one chunk per series (``codes[i]`` is reading ``i``'s series),
    each sorted by time (stable). Columns are pulled out with C-level ``map``s and split with numpy:
    no Python statement runs per reading unless a value is not a plain number."""
    n = len(readings)
    ts = np.fromiter(map(_TS, readings), F8, n)
    value, texts = _values(list(map(_VALUE, readings)))
    quals = list(map(_QUALITY, readings))
    first = quals[0] if n else None
    if first is not None and quals.count(first) == n:
        quality = np.full(n, QUALITY_CODE[first], U1)
    else:
        table = QUALITY_CODE
        quality = np.fromiter((table[q] for q in quals), U1, n)
    if n and bool(np.all(codes == codes[0])):
        out = {int(codes[0]): Chunk(ts, value, quality, texts)} if n else {}
    else:
        order = np.argsort(codes, kind="stable")
        ts, value, quality, codes = ts[order], value[order], quality[order], codes[order]
        if texts:
            where = np.empty(n, np.int64)
            where[order] = np.arange(n)
            texts = {int(where[i]): t for i, t in texts.items()}
        bounds = np.concatenate(([0], np.flatnonzero(np.diff(codes)) + 1, [n]))
        out = {}
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            out[int(codes[a])] = Chunk(ts[a:b], value[a:b], quality[a:b],
                                       {i - a: t for i, t in texts.items() if a <= i < b} if texts else {})
    for code, chunk in out.items():
        t = chunk.ts
        if t.size > 1 and not bool(np.all(t[1:] >= t[:-1])):
            out[code] = take(chunk, np.argsort(t, kind="stable"))
    return out


_PLAIN = frozenset({float, int, bool})


def _values(values: list[Any]) -> tuple[np.ndarray[Any, np.dtype[np.float64]], dict[int, str]]:
    """Values as float64 (NaN where not a number) and the non-numeric ones as ``{index: text}``."""
    if set(map(type, values)) <= _PLAIN:
        try:
            return np.array(values, dtype=F8), {}
        except OverflowError:  # an int too big for a float: stored as text, as below
            pass
    numbers: list[float] = []
    texts: dict[int, str] = {}
    for i, v in enumerate(values):
        if type(v) is float:
            numbers.append(v)
            continue
        number, text = split_value(v)
        numbers.append(number)
        if text is not None:
            texts[i] = text
    return np.array(numbers, dtype=F8), texts


def split_value(value: Any) -> tuple[float, str | None]:
    """``(number, text)`` for one value: numbers (bools 1/0) as float, anything else as text."""
    if value is None:
        return math.nan, None
    if isinstance(value, str):
        return math.nan, value
    if isinstance(value, Real):
        try:
            return float(value), None
        except (OverflowError, ValueError):
            return math.nan, str(value)
    return math.nan, to_json(value)


def take(chunk: Chunk, order: np.ndarray[Any, Any]) -> Chunk:
    """The chunk's samples in ``order`` (an index array)."""
    where = {int(old): new for new, old in enumerate(order) if int(old) in chunk.texts} if chunk.texts else {}
    return Chunk(chunk.ts[order], chunk.value[order], chunk.quality[order],
                 {new: chunk.texts[old] for old, new in where.items()})


def concat(chunks: Sequence[Chunk]) -> Chunk:
    """Chunks one after another (their texts re-indexed)."""
    if len(chunks) == 1:
        return chunks[0]
    texts: dict[int, str] = {}
    offset = 0
    for c in chunks:
        texts.update({offset + k: t for k, t in c.texts.items()})
        offset += len(c)
    return Chunk(np.concatenate([c.ts for c in chunks]) if chunks else np.empty(0, F8),
                 np.concatenate([c.value for c in chunks]) if chunks else np.empty(0, F8),
                 np.concatenate([c.quality for c in chunks]) if chunks else np.empty(0, U1), texts)


def from_row(ts: bytes, value: bytes, quality: bytes, texts: str | None) -> Chunk:
    """A chunk from the BLOBs of a ``chunks`` row (read-only views on the bytes)."""
    return Chunk(np.frombuffer(ts, F8), np.frombuffer(value, F8), np.frombuffer(quality, U1),
                 {int(k): t for k, t in json.loads(texts)} if texts else {})


def decimate(ts: np.ndarray[Any, Any], value: np.ndarray[Any, Any], start: float, width: float,
             buckets: int) -> tuple[np.ndarray[Any, Any], ...]:
    """Per non-empty bucket ``[start + b*width, start + (b+1)*width)`` (the last one closed) of
    time-sorted samples within ``[start, end]``: ``(index, min, max, mean, count)``. ``count`` and
    the statistics cover numeric values only (NaN is skipped); a bucket of text/None values only
    is kept with count 0 and NaN statistics."""
    edges = start + np.arange(1, buckets, dtype=F8) * width
    bounds = np.concatenate(([0], np.searchsorted(ts, edges, side="left"), [ts.size]))
    sizes = np.diff(bounds)
    index = np.flatnonzero(sizes)
    if not index.size:
        empty = np.empty(0, F8)
        return index.astype(F8), empty, empty, empty, np.empty(0, np.int64)
    at = bounds[index]
    numeric = ~np.isnan(value)
    count = np.add.reduceat(numeric.astype(np.int64), at)
    total = np.add.reduceat(np.where(numeric, value, 0.0), at)
    low = np.fmin.reduceat(value, at)
    high = np.fmax.reduceat(value, at)
    mean = np.full(index.size, np.nan)
    np.divide(total, count, out=mean, where=count > 0)
    return index.astype(F8), low, high, mean, count


__all__ = ["CHUNK_MAX", "Chunk", "concat", "decimate", "from_readings", "from_row", "group", "split_value", "take"]
