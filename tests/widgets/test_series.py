"""Ring buffer and min/max decimation for the live chart."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ionpy_widgets.driver.reading import Quality
from ionpy_widgets.widgets.series import SeriesBuffer, WindowDecimator, as_plot_value, decimate_minmax

T0 = 1_700_000_000.0  # a realistic wall-clock start


def reference_minmax(t: np.ndarray, y: np.ndarray, t0: float, t1: float, buckets: int) -> list[int]:
    """Plain-Python min/max per aligned bucket (no NaN): indices into the window."""
    sel = [i for i in range(len(t)) if t0 <= t[i] <= t1]
    if len(sel) <= 2 * buckets:
        return sel
    width = (t1 - t0) / (buckets - 1)
    groups: dict[float, list[int]] = {}
    for i in sel:
        groups.setdefault(math.floor(t[i] / width), []).append(i)
    out: list[int] = []
    for members in groups.values():
        lo = min(members, key=lambda i: (y[i], i))
        hi = min(members, key=lambda i: (-y[i], i))
        out.extend(sorted({lo, hi}))
    return out


# --- values -------------------------------------------------------------------------------------
def test_plot_values_convert_or_skip_sensibly() -> None:
    assert as_plot_value(3) == 3.0 and as_plot_value(2.5) == 2.5 and as_plot_value(np.float32(1.5)) == 1.5
    assert as_plot_value(True) == 1.0 and as_plot_value(np.bool_(False)) == 0.0
    assert as_plot_value(" 4.25 ") == 4.25
    assert as_plot_value("DPS5005") is None and as_plot_value([1]) is None and as_plot_value(1j) is None
    assert math.isnan(as_plot_value(None)) and math.isnan(as_plot_value(float("inf")))
    assert math.isnan(as_plot_value(5.0, Quality.BAD))
    assert as_plot_value(5.0, Quality.STALE) is None and as_plot_value(5.0, "uncertain") == 5.0


# --- ring buffer --------------------------------------------------------------------------------
def test_capacity_must_be_positive() -> None:
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="capacity"):
            SeriesBuffer(bad)  # type: ignore[arg-type]


def test_wraps_around_and_stays_contiguous_oldest_first() -> None:
    buf = SeriesBuffer(5)
    assert len(buf) == 0 and buf.last_time is None and buf.first_time is None
    for i in range(12):
        assert buf.append(T0 + i, i)
    t, y = buf.arrays()
    assert len(buf) == 5 and list(y) == [7, 8, 9, 10, 11] and list(t - T0) == [7, 8, 9, 10, 11]
    assert t.flags["C_CONTIGUOUS"] and buf.first_time == T0 + 7 and buf.last_time == T0 + 11
    _wt, wy = buf.window(T0 + 8, T0 + 10)
    assert list(wy) == [8, 9, 10] and np.shares_memory(wy, buf.arrays()[1])  # a view, not a copy
    assert buf.points() == 5 and buf.version == 12


def test_rejects_older_samples_and_skips_text() -> None:
    buf = SeriesBuffer(10)
    buf.append(T0 + 1, 1.0)
    assert not buf.append(T0, 2.0) and buf.out_of_order == 1
    assert not buf.append(T0 + 2, "CV") and buf.skipped == 1
    assert buf.append(T0 + 1, 3.0)  # equal timestamps are fine
    assert list(buf.arrays()[1]) == [1.0, 3.0]


def test_gaps_are_nan_once_and_break_the_line() -> None:
    buf = SeriesBuffer(10)
    assert not buf.append_gap(T0)  # nothing to break yet
    buf.append(T0 + 1, 1.0)
    assert buf.append_gap(T0 + 2) and not buf.append_gap(T0 + 3)
    buf.append(T0 + 4, None)  # a None value is a gap too
    buf.append(T0 + 5, 2.0)
    y = buf.arrays()[1]
    assert y[0] == 1.0 and np.isnan(y[1]) and np.isnan(y[2]) and y[3] == 2.0
    assert buf.points() == 2 and len(buf) == 4


def test_extend_keeps_the_newest_capacity_samples() -> None:
    buf = SeriesBuffer(100)
    buf.append(T0 + 5, 0.0)
    added = buf.extend(T0 + np.arange(1000.0), np.arange(1000.0))
    t, _y = buf.arrays()
    assert added == 995 and buf.out_of_order == 5 and len(buf) == 100
    assert t[0] == T0 + 900 and t[-1] == T0 + 999 and np.all(np.diff(t) > 0)
    buf.extend([T0 + 1000, T0 + 1001], [np.inf, 7.0])
    assert np.isnan(buf.arrays()[1][-2]) and buf.arrays()[1][-1] == 7.0
    with pytest.raises(ValueError, match="sorted"):
        buf.extend([T0 + 2000, T0 + 1999], [1, 2])
    with pytest.raises(ValueError, match="length"):
        buf.extend([T0 + 3000], [1, 2])


def test_backfill_inserts_older_history_before_live_samples() -> None:
    buf = SeriesBuffer(8)
    buf.append(T0 + 10, 10.0)
    buf.append(T0 + 11, 11.0)
    history_t = T0 + np.array([3.0, 1.0, 2.0, 4.0, 10.5])  # unsorted; 10.5 overlaps live data
    assert buf.backfill(history_t, history_t - T0) == 4
    assert list(buf.arrays()[1]) == [1.0, 2.0, 3.0, 4.0, 10.0, 11.0]
    buf.backfill(T0 - np.arange(1.0, 10.0), -np.arange(1.0, 10.0))  # overflow drops the oldest
    t, y = buf.arrays()
    assert len(buf) == 8 and y[-1] == 11.0 and np.all(np.diff(t) > 0) and y[0] == -2.0
    assert buf.backfill([], []) == 0
    buf.clear()
    assert len(buf) == 0 and buf.arrays()[0].size == 0


# --- decimation ---------------------------------------------------------------------------------
def hour_of_noise(rate: float = 10.0, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = T0 + np.arange(0, 3600.0, 1 / rate)
    return t, 5.0 + 0.01 * rng.standard_normal(t.size)


def test_output_is_bounded_whatever_the_input_length() -> None:
    for n in (0, 1, 10, 1199, 1200, 1201, 36_000, 1_000_000):
        t = T0 + np.linspace(0, 3600, n)
        y = np.sin(np.arange(n) / 7.0)
        t_out, y_out = decimate_minmax(t, y, T0, T0 + 3600, 600)
        assert t_out.size == y_out.size <= 1200, n
        assert np.all(np.diff(t_out) >= 0)
        if n <= 1200:
            assert t_out.size == n
    # windows starting anywhere keep the bound (aligned buckets never add one)
    t, y = hour_of_noise()
    for shift in np.linspace(0, 7.3, 17):
        assert decimate_minmax(t, y, T0 + shift, T0 + shift + 1800, 600)[0].size <= 1200


def test_spikes_survive_and_time_is_strictly_increasing() -> None:
    t, y = hour_of_noise()
    y[12_345] = 9.0  # one-sample spike up
    y[30_001] = 1.0  # one-sample spike down
    t_out, y_out = decimate_minmax(t, y, T0, T0 + 3600, 600)
    assert 9.0 in y_out and 1.0 in y_out
    assert t_out[y_out == 9.0][0] == t[12_345] and t_out[y_out == 1.0][0] == t[30_001]
    assert np.all(np.diff(t_out) > 0)
    assert y_out.max() == y.max() and y_out.min() == y.min()


def test_matches_a_plain_python_reference() -> None:
    rng = np.random.default_rng(7)
    for trial in range(20):
        n = int(rng.integers(50, 3000))
        t = np.sort(T0 + rng.uniform(0, 100, n))
        y = rng.integers(0, 20, n).astype(float)  # many ties: first occurrence wins
        t0, t1 = T0 + rng.uniform(0, 20), T0 + rng.uniform(60, 100)
        buckets = int(rng.integers(2, 60))
        lo = int(np.searchsorted(t, t0))
        expected = [lo + i for i in reference_minmax(t[lo:], y[lo:], t0, t1, buckets)]
        t_out, y_out = decimate_minmax(t, y, t0, t1, buckets)
        assert list(t_out) == list(t[expected]) and list(y_out) == list(y[expected]), trial


def test_window_selection_and_small_windows_returned_whole() -> None:
    t = T0 + np.arange(100.0)
    y = np.arange(100.0)
    _t_out, y_out = decimate_minmax(t, y, T0 + 10, T0 + 19, 600)
    assert list(y_out) == list(range(10, 20))
    y_out[0] = -1  # a copy: the buffer is untouched
    assert y[10] == 10
    empty_t, empty_y = decimate_minmax(t, y, T0 + 500, T0 + 600, 10)
    assert empty_t.size == 0 and empty_y.size == 0
    assert decimate_minmax([], [], T0, T0 + 1, 10)[0].size == 0
    for bad in (0, -3, 1.5):
        with pytest.raises(ValueError, match="buckets"):
            decimate_minmax(t, y, T0, T0 + 100, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same length"):
        decimate_minmax(t, y[:5], T0, T0 + 100, 10)


def test_gaps_survive_decimation() -> None:
    t, y = hour_of_noise()
    y[20_000] = np.nan  # the device went away for a while: one NaN marker
    y[20_001:20_050] = 7.0
    t_out, y_out = decimate_minmax(t, y, T0, T0 + 3600, 600)
    assert np.isnan(y_out).sum() == 1 and t_out[np.isnan(y_out)][0] == t[20_000]
    assert 7.0 in y_out and t_out.size <= 1200 and np.all(np.diff(t_out) > 0)
    all_nan = np.full(5000, np.nan)
    t_nan, y_nan = decimate_minmax(T0 + np.arange(5000.0), all_nan, T0, T0 + 5000, 50)
    assert 0 < t_nan.size <= 100 and np.all(np.isnan(y_nan)) and np.all(np.diff(t_nan) > 0)


def test_aligned_buckets_do_not_shimmer_when_the_window_slides() -> None:
    t, y = hour_of_noise()
    a_t, a_y = decimate_minmax(t, y, T0 + 600, T0 + 2400, 300)
    b_t, b_y = decimate_minmax(t, y, T0 + 600.3, T0 + 2400.3, 300)
    inner = (a_t > T0 + 700) & (a_t < T0 + 2300)
    inner_b = (b_t > T0 + 700) & (b_t < T0 + 2300)
    assert np.array_equal(a_t[inner], b_t[inner_b]) and np.array_equal(a_y[inner], b_y[inner_b])
    rel_t, _ = decimate_minmax(t, y, T0 + 600, T0 + 2400, 300, aligned=False)
    assert rel_t.size <= 600


def test_the_incremental_decimator_equals_the_plain_function() -> None:
    """Sliding windows over a ring that overflows, with gaps, pauses (a window left behind),
    span changes and a backfill: every result equals decimate_minmax of the same window."""
    rng = np.random.default_rng(11)
    buf = SeriesBuffer(4000)
    dec = WindowDecimator(buf)
    now = T0
    checked = 0
    for step in range(1500):
        for _ in range(int(rng.integers(0, 8))):
            now += 0.25 * int(rng.integers(1, 4))
            buf.append(now, np.nan if rng.random() < 0.01 else rng.standard_normal())
        span = (60.0, 120.0, 300.0)[(step // 400) % 3]
        buckets = (50, 37, 100)[(step // 500) % 3]
        t1 = now + 0.5 * int(rng.integers(0, 3)) if rng.random() < 0.9 else now - 30.0
        t1 = round(t1 * 2) / 2  # on a 0.5 s grid, so t1 - span is exact
        if step == 900:
            buf.backfill([T0 - 10.0, T0 - 5.0], [1.0, 2.0])
        got_t, got_y = dec.window(t1, span, buckets)
        want_t, want_y = decimate_minmax(*buf.arrays(), t1 - span, t1, buckets)
        assert np.array_equal(got_t, want_t) and np.array_equal(got_y, want_y, equal_nan=True), step
        checked += got_t.size > 2 * 37
    assert len(buf) == 4000 and checked > 750  # the ring overflowed and most windows were decimated
