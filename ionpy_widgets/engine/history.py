"""History queries as pandas DataFrames (pandas is imported only when a query is made).

* :func:`samples_frame` — one entity's samples: ``timestamp`` (datetime64, UTC), ``value``,
  ``unit``, ``quality``; the unit is also in ``df.attrs["unit"]``.
* :func:`buckets_frame` — the decimated form: one row per non-empty time bucket with ``timestamp``
  (bucket start), ``min``, ``max``, ``mean``, ``count`` and ``unit``. Charts draw the min/max
  envelope, so a one-sample spike in a night of data still shows.
* :func:`span_frame` — every entity's samples in a span (a run): ``device``, ``entity``,
  ``timestamp``, ``value``, ``unit``, ``quality``.

``start``/``end`` may be epoch seconds, datetimes (naive ones are taken as local time, like
``datetime.now()``), ISO strings or pandas Timestamps.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .journal import MissingDependencyError
from .storage import BucketColumns, SampleColumns

TimeLike = float | int | str | datetime | None


def pandas() -> Any:
    """The pandas module, or a clear error saying how to get it."""
    try:
        import pandas as pd
    except ImportError:
        raise MissingDependencyError("history queries return pandas DataFrames, and pandas is not installed",
                                     hint="`pip install pandas` (a dependency of ionpy_widgets).") from None
    return pd


def to_epoch(value: TimeLike, what: str = "start") -> float | None:
    """Epoch seconds of a time given as seconds, datetime, pandas Timestamp or ISO string."""
    from .storage import HistoryError

    if value is None:
        return None
    if isinstance(value, bool):
        raise HistoryError(f"{what} must be a time, got {value!r}", hint="Use epoch seconds, a datetime or an "
                           "ISO string such as '2024-05-01T08:00'.")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise HistoryError(f"{what} {value!r} is not an ISO time", hint="Write e.g. '2024-05-01T08:00:00' "
                               "or pass a datetime / epoch seconds.") from None
    timestamp = getattr(value, "timestamp", None)
    if callable(timestamp):
        return float(timestamp())
    raise HistoryError(f"{what} must be a time, got {type(value).__name__}",
                       hint="Use epoch seconds, a datetime or an ISO string.")


def _times(pd: Any, seconds: Any) -> Any:
    return pd.to_datetime(seconds, unit="s", utc=True)


def samples_frame(cols: SampleColumns, *, device: str, entity: str) -> Any:
    """One entity's samples as a DataFrame (see the module docstring)."""
    pd = pandas()
    frame = pd.DataFrame({"timestamp": _times(pd, cols.timestamp), "value": cols.value,
                          "unit": pd.Series(cols.unit, dtype=object), "quality": pd.Series(cols.quality, dtype=object)})
    units = list(dict.fromkeys(cols.unit))
    frame.attrs.update(device=device, entity=entity, unit=cols.unit[-1] if cols.unit else "")  # the newest
    if len(units) > 1:
        frame.attrs["units"] = units
    return frame


def buckets_frame(cols: BucketColumns, *, device: str, entity: str, buckets: int) -> Any:
    """The decimated series as a DataFrame (see the module docstring)."""
    pd = pandas()
    frame = pd.DataFrame({"timestamp": _times(pd, cols.timestamp), "min": cols.min, "max": cols.max,
                          "mean": cols.mean, "count": cols.count,
                          "unit": pd.Series([cols.unit] * len(cols), dtype=object)})
    frame.attrs.update(device=device, entity=entity, unit=cols.unit, buckets=buckets, bucket_seconds=cols.width,
                       start=cols.start)
    return frame


def span_frame(cols: SampleColumns) -> Any:
    """Samples of many entities as a DataFrame (see the module docstring)."""
    pd = pandas()
    frame = pd.DataFrame({"device": pd.Series(cols.device, dtype=object),
                          "entity": pd.Series(cols.entity, dtype=object),
                          "timestamp": _times(pd, cols.timestamp), "value": cols.value,
                          "unit": pd.Series(cols.unit, dtype=object), "quality": pd.Series(cols.quality, dtype=object)})
    frame.attrs["units"] = {f"{d}.{e}": u for d, e, u in zip(cols.device, cols.entity, cols.unit, strict=True)}
    return frame


def query_history(store: Any, device: str, entity: str, start: TimeLike = None, end: TimeLike = None, *,
                  buckets: int | None = None, live: Callable[[str, str], bool] | None = None) -> Any:
    """``store``'s samples of ``device.entity`` in ``[start, end]``, decimated when ``buckets`` is given.

    An empty answer for a series the store has never heard of (and that ``live(device, entity)``
    does not know either) is a typo, not "no data": it raises :class:`HistoryError` naming what
    the recording holds."""
    from .storage import HistoryError

    t0, t1 = to_epoch(start, "start"), to_epoch(end, "end")
    if t0 is not None and t1 is not None and t1 < t0:
        raise HistoryError(f"end ({t1}) is before start ({t0})", hint="Swap them, or leave one out for an open end.")
    if buckets is not None and (not isinstance(buckets, int) or isinstance(buckets, bool) or buckets < 1):
        raise HistoryError(f"buckets must be a positive integer, got {buckets!r}",
                           hint="About the plot width in pixels, e.g. buckets=600.")
    if buckets is None:
        cols: Any = store.query(device, entity, t0, t1)
    else:
        cols = store.query_decimated(device, entity, t0, t1, buckets)
    if len(cols) == 0:
        _check_known(store, device, entity, live)
    if buckets is None:
        return samples_frame(cols, device=device, entity=entity)
    return buckets_frame(cols, device=device, entity=entity, buckets=buckets)


def _check_known(store: Any, device: str, entity: str, live: Callable[[str, str], bool] | None) -> None:
    """Raise when neither the recording nor the running lab knows ``device.entity``."""
    from .storage import HistoryError

    if live is not None and live(device, entity):
        return
    recorded = store.entities()
    if any(e.device == device and e.entity == entity for e in recorded):
        return
    where = getattr(store, "location", "this recording")
    names = sorted({e.entity for e in recorded if e.device == device})
    if names:
        raise HistoryError(f"{where} has no entity {entity!r} of device {device!r}",
                           hint=f"Recorded entities of {device}: {', '.join(names)}.")
    devices = sorted({e.device for e in recorded})
    raise HistoryError(f"{where} has no device {device!r}",
                       hint=f"Recorded devices: {', '.join(devices)}." if devices else "Nothing is recorded in it yet.")


__all__ = ["buckets_frame", "pandas", "query_history", "samples_frame", "span_frame", "to_epoch"]
