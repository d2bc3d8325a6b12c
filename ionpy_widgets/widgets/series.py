"""Time series for live charts: a preallocated ring buffer per series and min/max decimation.

:class:`SeriesBuffer` keeps the newest ``capacity`` samples of one entity as two float64 arrays
(wall-clock seconds and values). Each sample is written twice, at ``i`` and ``i + capacity``
(a *mirrored* ring), so the samples in time order are always one contiguous slice: windows are
numpy views, never copies. Gaps (the device went unavailable) are stored as NaN values, which
break a bqplot line.

:func:`decimate_minmax` shrinks a window to at most ``2 * buckets`` points by keeping, for every
pixel-wide time bucket, the samples holding the bucket's minimum and maximum (in time order), so
a one-sample spike in an hour of data still shows. Buckets are aligned to absolute time, so a
window that slides keeps choosing the same samples and the line does not shimmer.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from numbers import Real
from typing import Any

import numpy as np

from ..driver.reading import Quality

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def as_plot_value(value: Any, quality: Quality | str = Quality.GOOD) -> float | None:
    """The float a chart plots for one reading value, or None to skip the sample.

    Numbers and numeric strings become floats, booleans 0/1 (an output switch plots as a step),
    ``None``, non-finite numbers and ``BAD`` quality become NaN (a gap in the line); ``STALE``
    readings (a repeat of the last good value) and anything non-numeric are skipped.
    """
    if quality == Quality.STALE:
        return None
    if quality == Quality.BAD or value is None:
        return math.nan
    if isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, Real):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else math.nan


class SeriesBuffer:
    """The newest ``capacity`` ``(timestamp, value)`` samples of one series, oldest first.

    Timestamps must not go backwards: a sample older than the newest one is rejected and counted
    in :attr:`out_of_order` (use :meth:`backfill` for older data). :attr:`version` grows with
    every change, so a consumer can tell cheaply whether anything is new.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        self.capacity = capacity
        self._t: FloatArray = np.empty(2 * capacity, dtype=np.float64)
        self._y: FloatArray = np.empty(2 * capacity, dtype=np.float64)
        self._head = 0  # next write position in [0, capacity)
        self._count = 0
        self.version = 0
        #: Grows when samples are removed or inserted before the newest (clear, backfill).
        self.generation = 0
        self.out_of_order = 0
        self.skipped = 0

    def __len__(self) -> int:
        return self._count

    @property
    def last_time(self) -> float | None:
        return float(self._t[self._head - 1 + self.capacity]) if self._count else None

    @property
    def first_time(self) -> float | None:
        return float(self._t[self._head + self.capacity - self._count]) if self._count else None

    def points(self) -> int:
        """Samples held that are not gaps."""
        return int(np.count_nonzero(~np.isnan(self.arrays()[1])))

    def append(self, timestamp: float, value: Any, quality: Quality | str = Quality.GOOD) -> bool:
        """Add one reading (converted by :func:`as_plot_value`); False if it was skipped."""
        number = as_plot_value(value, quality)
        if number is None:
            self.skipped += 1
            return False
        last = self.last_time
        if last is not None and timestamp < last:
            self.out_of_order += 1
            return False
        i = self._head
        self._t[i] = self._t[i + self.capacity] = timestamp
        self._y[i] = self._y[i + self.capacity] = number
        self._head = (i + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)
        self.version += 1
        return True

    def append_gap(self, timestamp: float) -> bool:
        """Break the line at ``timestamp`` (no gap is added twice in a row or into an empty buffer)."""
        if not self._count or math.isnan(self._y[self._head - 1 + self.capacity]):
            return False
        return self.append(timestamp, math.nan)

    def extend(self, t: Any, y: Any) -> int:
        """Add many samples at once (time-sorted, all newer than :attr:`last_time`); returns how many."""
        ts = np.asarray(t, dtype=np.float64).ravel()
        ys = np.asarray(y, dtype=np.float64).ravel()
        if ts.shape != ys.shape:
            raise ValueError(f"t and y differ in length ({ts.size} != {ys.size})")
        last = self.last_time
        if last is not None:
            keep = ts >= last
            self.out_of_order += int(ts.size - np.count_nonzero(keep))
            ts, ys = ts[keep], ys[keep]
        if ts.size > 1 and np.any(np.diff(ts) < 0):
            raise ValueError("timestamps must be sorted")
        ys = np.where(np.isfinite(ys), ys, np.nan)
        n = int(ts.size)
        if n == 0:
            return 0
        ts, ys = ts[-self.capacity:], ys[-self.capacity:]
        idx = (self._head + np.arange(ts.size)) % self.capacity
        self._t[idx] = self._t[idx + self.capacity] = ts
        self._y[idx] = self._y[idx + self.capacity] = ys
        self._head = int((self._head + ts.size) % self.capacity)
        self._count = min(self._count + int(ts.size), self.capacity)
        self.version += 1
        return n

    def backfill(self, t: Any, y: Any) -> int:
        """Insert older samples (from history) before the first one held; newer ones are ignored.
        When the result exceeds the capacity, the oldest samples go. Returns how many were added."""
        ts = np.asarray(t, dtype=np.float64).ravel()
        ys = np.asarray(y, dtype=np.float64).ravel()
        if ts.shape != ys.shape:
            raise ValueError(f"t and y differ in length ({ts.size} != {ys.size})")
        order = np.argsort(ts, kind="stable")
        ts, ys = ts[order], ys[order]
        first = self.first_time
        if first is not None:
            older = ts < first
            ts, ys = ts[older], ys[older]
        if ts.size == 0:
            return 0
        held_t, held_y = (a.copy() for a in self.arrays())
        self.clear()
        self.extend(np.concatenate([ts, held_t]), np.concatenate([ys, held_y]))
        return int(min(ts.size, self.capacity))

    def clear(self) -> None:
        self._head = self._count = 0
        self.version += 1
        self.generation += 1

    def arrays(self) -> tuple[FloatArray, FloatArray]:
        """Views of every sample held, oldest first (valid until the next append)."""
        start = self._head + self.capacity - self._count
        stop = self._head + self.capacity
        return self._t[start:stop], self._y[start:stop]

    def window(self, t0: float, t1: float) -> tuple[FloatArray, FloatArray]:
        """Views of the samples with ``t0 <= t <= t1``."""
        t, y = self.arrays()
        lo, hi = np.searchsorted(t, t0, side="left"), np.searchsorted(t, t1, side="right")
        return t[lo:hi], y[lo:hi]

    def __repr__(self) -> str:
        return f"<SeriesBuffer {self._count}/{self.capacity} samples>"


def decimate_minmax(t: Any, y: Any, t0: float, t1: float, buckets: int, *,
                    aligned: bool = True) -> tuple[FloatArray, FloatArray]:
    """At most ``2 * buckets`` samples of ``(t, y)`` within ``[t0, t1]`` that draw the same picture.

    ``t`` must be sorted. A window with no more than ``2 * buckets`` samples is returned whole.
    Otherwise the window is cut into time buckets (one per pixel) and each bucket keeps its
    minimum and its maximum sample, in time order, so spikes survive and times stay monotonic.
    Gaps survive too: a bucket holding a NaN keeps that NaN plus the one finite sample farthest
    from the bucket mean. With ``aligned`` (the default) bucket edges sit at multiples of
    ``(t1 - t0) / (buckets - 1)`` from the epoch, so they stay put while the window slides.
    Returns new arrays (never views of the input).
    """
    if not isinstance(buckets, int) or isinstance(buckets, bool) or buckets < 1:
        raise ValueError(f"buckets must be a positive integer, got {buckets!r}")
    ts = np.asarray(t, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if ts.shape != ys.shape or ts.ndim != 1:
        raise ValueError(f"t and y must be 1-d arrays of the same length, got {ts.shape} and {ys.shape}")
    lo = int(np.searchsorted(ts, t0, side="left"))
    hi = int(np.searchsorted(ts, t1, side="right"))
    tw, yw = ts[lo:hi], ys[lo:hi]
    if tw.size <= 2 * buckets or t1 <= t0:
        return tw[: 2 * buckets].copy(), yw[: 2 * buckets].copy()

    if aligned and buckets > 1:
        ids = np.floor(tw / ((t1 - t0) / (buckets - 1)))
        ids = np.minimum(ids - ids[0], buckets - 1)  # rounding can never add a bucket
    else:
        ids = np.minimum(np.floor((tw - t0) * (buckets / (t1 - t0))), buckets - 1)
    idx = _bucket_extremes(yw, ids)
    return tw[idx], yw[idx]


def _bucket_extremes(y: FloatArray, ids: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Indices (increasing) of the samples each bucket keeps; ``ids`` is each sample's bucket, sorted."""
    if y.size == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    lengths = np.diff(np.append(starts, y.size))
    seg = np.repeat(np.arange(starts.size), lengths)
    nan = np.isnan(y)
    any_nan = bool(nan.any())
    lows = np.where(nan, np.inf, y) if any_nan else y
    highs = np.where(nan, -np.inf, y) if any_nan else y
    mins = np.minimum.reduceat(lows, starts)
    maxs = np.maximum.reduceat(highs, starts)
    i_min = _first_where(lows == mins[seg], seg, starts.size)
    i_max = _first_where(highs == maxs[seg], seg, starts.size)
    if any_nan:
        nans = np.add.reduceat(nan.astype(np.int64), starts)
        has_nan = nans > 0
        finite = lengths - nans
        sums = np.add.reduceat(np.where(nan, 0.0, y), starts)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = sums / finite
        i_nan = _first_where(nan, seg, starts.size)
        spike = np.where(np.abs(maxs - mean) > np.abs(mins - mean), i_max, i_min)
        spike = np.where(finite > 0, spike, i_nan)  # an all-NaN bucket keeps one NaN
        i_min = np.where(has_nan, i_nan, i_min)
        i_max = np.where(has_nan, spike, i_max)
    pairs = np.sort(np.stack([i_min, i_max], axis=1), axis=1).ravel()
    return pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]


class WindowDecimator:
    """``decimate_minmax`` of a :class:`SeriesBuffer`'s sliding window, done incrementally.

    Aligned buckets that are complete (older than the newest sample's bucket) never change, so
    their min/max samples are computed once and cached; a push then only decimates the partial
    bucket at each edge of the window plus the samples that arrived since the last push. The
    result equals ``decimate_minmax(t, y, t1 - span, t1, buckets)``. A new span, a cleared or
    backfilled buffer or a window that moved back before the cache starts the cache afresh.
    """

    def __init__(self, buffer: SeriesBuffer) -> None:
        self.buffer = buffer
        self._reset(None)

    def _reset(self, key: tuple[float, int] | None) -> None:
        self._key = key
        self._t: FloatArray = np.empty(0)
        self._y: FloatArray = np.empty(0)
        self._b: np.ndarray[Any, Any] = np.empty(0, dtype=np.int64)  # bucket id of each cached sample
        self._from = 0  # cached buckets: [_from, _to), complete
        self._to: int | None = None

    def window(self, t1: float, span: float, buckets: int) -> tuple[FloatArray, FloatArray]:
        """At most ``2 * buckets`` samples drawing ``[t1 - span, t1]`` (new arrays)."""
        t0 = t1 - span
        t, y = self.buffer.arrays()
        lo = int(np.searchsorted(t, t0, side="left"))
        hi = int(np.searchsorted(t, t1, side="right"))
        if hi - lo <= 2 * buckets or buckets < 2:
            return decimate_minmax(t, y, t0, t1, buckets)
        width = span / (buckets - 1)
        first, last = math.floor(t[lo] / width), math.floor(t[hi - 1] / width)
        key = (width, self.buffer.generation)
        if key != self._key or (self._to is not None and first + 1 < self._from):
            self._reset(key)
        if last - first + 1 > buckets:  # float rounding at the edges: let the plain function merge
            return decimate_minmax(t, y, t0, t1, buckets)
        self._extend(t, y, width, first)
        cut = int(np.searchsorted(self._b, first, side="right"))  # the partial first bucket is redone
        self._t, self._y, self._b = self._t[cut:], self._y[cut:], self._b[cut:]
        self._from = max(self._from, first + 1)
        assert self._to is not None
        fresh_from = max(first + 1, min(self._to, last))
        j = _bucket_start(t, width, first + 1, lo, hi)
        r = _bucket_start(t, width, fresh_from, j, hi)
        m = int(np.searchsorted(self._b, fresh_from, side="left"))
        head = lo + _bucket_extremes(y[lo:j], np.zeros(j - lo))
        tail = r + _bucket_extremes(y[r:hi], np.floor(t[r:hi] / width))
        return (np.concatenate([t[head], self._t[:m], t[tail]]), np.concatenate([y[head], self._y[:m], y[tail]]))

    def _extend(self, t: FloatArray, y: FloatArray, width: float, first: int) -> None:
        """Cache every complete bucket not cached yet (those before the newest sample's bucket)."""
        newest = math.floor(t[-1] / width)
        if self._to is None:
            self._from = self._to = first + 1
        if newest <= self._to:
            return
        s0 = _bucket_start(t, width, self._to, 0, t.size)
        s1 = _bucket_start(t, width, newest, s0, t.size)
        ids = np.floor(t[s0:s1] / width)
        idx = s0 + _bucket_extremes(y[s0:s1], ids)
        self._t = np.concatenate([self._t, t[idx]])
        self._y = np.concatenate([self._y, y[idx]])
        self._b = np.concatenate([self._b, np.floor(t[idx] / width).astype(np.int64)])
        self._to = newest


def _bucket_start(t: FloatArray, width: float, bucket: int, lo: int, hi: int) -> int:
    """The first index in ``[lo, hi)`` whose sample is in ``bucket`` or later (by ``floor(t / width)``)."""
    i = int(np.searchsorted(t[lo:hi], bucket * width, side="left")) + lo
    while i > lo and math.floor(t[i - 1] / width) >= bucket:
        i -= 1
    while i < hi and math.floor(t[i] / width) < bucket:
        i += 1
    return i


def _first_where(mask: np.ndarray[Any, Any], seg: np.ndarray[Any, Any], nseg: int) -> np.ndarray[Any, Any]:
    """Per segment, the index of the first True of ``mask`` (segments are contiguous and sorted;
    a segment without a True gets -1)."""
    hits = np.flatnonzero(mask)
    out = np.full(nseg, -1, dtype=np.int64)
    if hits.size:
        first = np.concatenate(([True], seg[hits][1:] != seg[hits][:-1]))
        out[seg[hits][first]] = hits[first]
    return out


_TIME_COLUMNS = ("timestamp", "time", "t", "ts")


def history_arrays(result: Any, entity: str = "") -> tuple[FloatArray, FloatArray]:
    """``(t, y)`` float64 arrays (epoch seconds, values) from what a history query returned: a
    DataFrame (time in a ``timestamp``/``time`` column or the index; value in ``value``, the
    entity's name or the first other column; a decimated frame with ``min``/``max`` columns gives
    their envelope), a mapping of columns, or a ``(t, y)`` pair."""
    if result is None:
        return np.empty(0), np.empty(0)
    columns = getattr(result, "columns", None)
    if columns is not None or isinstance(result, Mapping):
        names = [str(c) for c in (columns if columns is not None else result.keys())]
        time_name = next((n for n in _TIME_COLUMNS if n in names), None)
        rest = [n for n in names if n != time_name]
        value_name = next((n for n in ("value", entity, "y") if n in rest), rest[0] if rest else None)
        if value_name is None:
            raise ValueError(f"history has no value column (columns: {', '.join(names) or 'none'})")
        times = result[time_name] if time_name is not None else getattr(result, "index", None)
        if times is None:
            raise ValueError(f"history has no time column (expected one of {', '.join(_TIME_COLUMNS)})")
        if "min" in rest and "max" in rest and "value" not in rest:  # decimated: draw the min/max envelope
            return _envelope(_seconds(times), result["min"], result["max"])
        values = result[value_name]
    else:
        times, values = result
    return _seconds(times), np.asarray(values, dtype=np.float64).ravel()


def _envelope(t: FloatArray, lo: Any, hi: Any) -> tuple[FloatArray, FloatArray]:
    """Each bucket's min then max at the bucket's time (one point where they are equal)."""
    low = np.asarray(lo, dtype=np.float64).ravel()
    high = np.asarray(hi, dtype=np.float64).ravel()
    keep = np.ones(2 * t.size, dtype=bool)
    keep[1::2] = ~((low == high) | (np.isnan(low) & np.isnan(high)))
    return np.repeat(t, 2)[keep], np.column_stack([low, high]).ravel()[keep]


def _seconds(times: Any) -> FloatArray:
    if getattr(getattr(times, "dt", None), "tz", None) is not None:  # tz-aware pandas column
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    if getattr(times, "tz", None) is not None:  # tz-aware pandas index
        times = times.tz_convert("UTC").tz_localize(None)
    arr = np.asarray(times)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[ns]").astype(np.int64) / 1e9
    if arr.dtype.kind == "O":
        return np.array([x.timestamp() if hasattr(x, "timestamp") else float(x) for x in arr], dtype=np.float64)
    return arr.astype(np.float64).ravel()


async def load_history(query: Callable[..., Any], device: str, entity: str, start: float, end: float, *,
                       max_points: int) -> tuple[FloatArray, FloatArray]:
    """Call ``query(device, entity, start, end)`` (sync or async) and convert its result. A query
    that accepts ``buckets`` (the decimated form) is asked for ``max_points // 2`` buckets."""
    kwargs: dict[str, Any] = {}
    try:
        params: Mapping[str, Any] = inspect.signature(query).parameters
    except (TypeError, ValueError):
        params = {}
    if "buckets" in params:
        kwargs["buckets"] = max(1, max_points // 2)
    elif "max_points" in params:
        kwargs["max_points"] = max_points
    result = query(device, entity, start, end, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return history_arrays(result, entity)


__all__ = ["SeriesBuffer", "WindowDecimator", "as_plot_value", "decimate_minmax", "history_arrays", "load_history"]
