"""The live chart: chosen entities over a sliding time window, drawn with bqplot.

    chart = LiveChart(lab, "DPS5005_1.u_out", "DPS5005_1.i_out", window="5min")
    chart            # show it; chart.close() stops it

Every reading of a charted entity goes into that series' ring buffer as it arrives (also while
paused). At most ``rate_hz`` times a second, and only when something changed, each line gets the
window ``[now - window, now]`` decimated to at most ``2 * buckets`` points (min and max per pixel
bucket), so the bytes per update stay bounded however long the window. One y axis per unit
(``V`` left, ``A`` right, ...). The x domain is pinned by an invisible two-point mark in epoch
milliseconds rather than by ``DateScale.min/max`` (sent as local-time strings), so a kernel and a
browser in different time zones still agree.
"""

from __future__ import annotations

import html
import logging
import re
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import ipywidgets  # type: ignore[import-untyped]
import numpy as np

with warnings.catch_warnings():  # bqscales 0.3 passes trait metadata the pre-4.1 way at import time
    warnings.filterwarnings("ignore", "metadata .* was set from the constructor", DeprecationWarning)
    import bqplot  # type: ignore[import-untyped]

from ..driver.entity import Kind
from ..engine.events import Event, ReadingEvent, SystemEvent, SystemKind
from ..engine.storage import NotRecordingError
from ..errors import ConfigValidationError, EntityError
from .bridge import BUS_CLOSED, WidgetBridge
from .series import SeriesBuffer, WindowDecimator, load_history

log = logging.getLogger(__name__)

WINDOW_CHOICES = ("30s", "1min", "5min", "15min", "1h", "6h")
_UNITS = {"ms": 1e-3, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hr": 3600.0, "d": 86400.0}
_WINDOW_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$")
#: Open charts by (lab key, name): a chart made again (a re-run cell) replaces the previous one.
_OPEN: dict[tuple[Any, str], LiveChart] = {}
#: Seconds between status-line refreshes when only the point counts changed.
STATUS_PERIOD = 1.0
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def parse_window(window: float | str, path: str = "window") -> float:
    """Seconds of ``"30s"``, ``"5min"``, ``"1.5h"``, ``"2d"`` or a number of seconds."""
    seconds: float | None = None
    if isinstance(window, int | float) and not isinstance(window, bool):
        seconds = float(window)
    elif isinstance(window, str) and (match := _WINDOW_RE.match(window.lower())):
        unit = match[2].rstrip("s") if match[2] not in ("s", "ms") else match[2]
        unit = {"": "s", "second": "s", "minute": "min", "hour": "h", "day": "d", "mi": "min"}.get(unit, unit)
        if unit in _UNITS:
            seconds = float(match[1]) * _UNITS[unit]
    if seconds is None or not np.isfinite(seconds) or seconds <= 0:
        raise ConfigValidationError(f"not a time window: {window!r}", path=path,
                                    hint='Use e.g. "30s", "5min", "1h" or a positive number of seconds.')
    return seconds


def format_window(seconds: float) -> str:
    """The shortest of ``"30s"``, ``"5min"``, ``"1h"``, ``"2d"`` that is exact."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    return f"{seconds:g}s"


def _to_dates(t: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.rint(t * 1e3).astype(np.int64).view("datetime64[ms]")


@dataclass(eq=False)
class ChartSeries:
    """One charted entity: its buffer, its bqplot line and what was last sent for it."""

    device: str
    entity: str
    unit: str
    buffer: SeriesBuffer
    mark: bqplot.Lines
    sent: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] = field(default_factory=lambda: (np.empty(0),) * 2)
    decimator: WindowDecimator = field(init=False)

    def __post_init__(self) -> None:
        self.decimator = WindowDecimator(self.buffer)

    @property
    def key(self) -> str:
        return f"{self.device}.{self.entity}"

    @property
    def label(self) -> str:
        return f"{self.key} [{self.unit}]" if self.unit else self.key


class LiveChart(ipywidgets.VBox):  # type: ignore[misc]
    """Entities of a lab's devices against time; see the module docstring.

    ``series``: ``"DEVICE.entity"`` strings. ``window``: ``"30s"``, ``"5min"``, ``"1h"`` or seconds.
    ``buckets``: pixel buckets (points per line ≤ ``2 * buckets``). ``rate_hz``: pushes per second
    at most. ``capacity``: samples kept per series (the longest window that can be shown).
    ``clock``: "now" in wall-clock seconds (benchmarks and tests replay time faster than real).
    ``name``: re-running a cell is safe — a new chart with the same name (default: the same lab and
    series) closes the previous one, so its task does not keep running unseen.
    """

    def __init__(self, lab: Any, *series: str, window: float | str = "5min", buckets: int = 600,
                 rate_hz: float = 10.0, capacity: int = 100_000, title: str = "", height: str = "420px",
                 clock: Callable[[], float] = time.time, name: str | None = None) -> None:
        if not series:
            raise ConfigValidationError("no series to chart", path="series",
                                        hint='Name entities as "DEVICE.entity", e.g. "DPS5005_1.u_out".')
        if not isinstance(buckets, int) or isinstance(buckets, bool) or not 2 <= buckets <= 20_000:
            raise ConfigValidationError(f"must be an integer in 2…20000, got {buckets!r}", path="buckets",
                                        hint="About the plot width in pixels; 600 suits a notebook.")
        resolved = [resolve_series(lab, spec, i) for i, spec in enumerate(series)]  # before any widget exists
        for i, spec in enumerate(series):
            if spec in series[:i]:
                raise ConfigValidationError(f"{spec} is listed twice", path=f"series[{i}]",
                                            hint="Name each entity once.")
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 2:
            raise ConfigValidationError(f"must be an integer >= 2, got {capacity!r}", path="capacity",
                                        hint="Samples kept per series: window × poll rate (36000 = 1 h at 10 Hz).")
        self.lab = lab
        self.clock = clock
        self.window = parse_window(window)
        self.buckets = buckets
        self.paused_at: float | None = None
        self.stall: tuple[float, float] | None = None
        self.lab_stopped = False
        self.history_error: str | None = None
        self._status_notes: list[str] | None = None
        self._status_empty: tuple[bool, ...] | None = None
        self._status_at = 0.0
        self.bridge = WidgetBridge(lab, rate_hz=rate_hz, kinds=("reading", "availability", "device_removed",
                                                                "loop_stall"),
                                   devices={device for device, _, _ in resolved}, name=f"chart:{','.join(series)}")
        self.x_scale = bqplot.DateScale()
        self._y_scales: dict[str, bqplot.LinearScale] = {}
        self.series = [self._make_series(*names, i, capacity) for i, names in enumerate(resolved)]
        self._by_key = {(s.device, s.entity): s for s in self.series}
        self._frame = bqplot.Lines(x=_to_dates(np.zeros(2)), y=np.zeros(2), opacities=[0.0], stroke_width=0,
                                   scales={"x": self.x_scale, "y": bqplot.LinearScale(min=0.0, max=1.0)})
        self.axes = self._make_axes()
        self.figure = bqplot.Figure(marks=[self._frame, *(s.mark for s in self.series)], axes=self.axes,
                                    title=title, animation_duration=0, legend_location="top-left",
                                    auto_layout=len(self._y_scales) > 2,
                                    fig_margin={"top": 40 if title else 20, "bottom": 40, "left": 64, "right": 64},
                                    layout=ipywidgets.Layout(width="100%", height=height))
        label = format_window(self.window)
        options = list(WINDOW_CHOICES) if label in WINDOW_CHOICES else [label, *WINDOW_CHOICES]
        self.window_select = ipywidgets.Dropdown(options=options, value=label, description="Window",
                                                 layout=ipywidgets.Layout(width="170px"))
        self.pause_button = ipywidgets.ToggleButton(value=False, description="Pause", icon="pause",
                                                    tooltip="Freeze the view; data keeps being recorded")
        self.status = ipywidgets.HTML(layout=ipywidgets.Layout(margin="0 0 0 8px"))
        self.window_select.observe(self._on_window, names="value")
        self.pause_button.observe(self._on_pause, names="value")
        super().__init__(children=[ipywidgets.HBox([self.pause_button, self.window_select]), self.figure,
                                   self.status])
        self.bridge.on_event(self._on_event)
        self.bridge.add_flush(self._flush, widgets=[self.x_scale, self._frame, *(s.mark for s in self.series),
                                                    *self.axes, self.status])
        if callable(getattr(lab, "history", None)):
            self.bridge.add_startup(self._backfill)
        self.bridge.mark("view")
        self._update_status()
        self.key = (getattr(lab, "key", id(lab)), name or ",".join(series))
        previous = _OPEN.get(self.key)
        if previous is not None:
            previous.close()
        _OPEN[self.key] = self
        self.bridge.start()

    # --- construction -----------------------------------------------------------------------
    def _make_series(self, device: str, entity: str, unit: str, index: int, capacity: int) -> ChartSeries:
        scale = self._y_scales.setdefault(unit, bqplot.LinearScale())
        color = _COLORS[index % len(_COLORS)]
        mark = bqplot.Lines(x=_to_dates(np.empty(0)), y=np.empty(0), scales={"x": self.x_scale, "y": scale},
                            colors=[color], display_legend=True, stroke_width=1.5)
        item = ChartSeries(device, entity, unit, SeriesBuffer(capacity), mark)
        mark.labels = [item.label]
        return item

    def _make_axes(self) -> list[bqplot.Axis]:
        axes = [bqplot.Axis(scale=self.x_scale, side="bottom", label="time", tick_format="%H:%M:%S",
                            grid_lines="solid")]
        for i, (unit, scale) in enumerate(self._y_scales.items()):
            axes.append(bqplot.Axis(scale=scale, side="left" if i % 2 == 0 else "right",
                                    label=unit or "value", grid_lines="solid" if i == 0 else "none",
                                    label_offset="42px"))  # clear of the tick labels on both sides
        return axes

    # --- events (every reading, as it arrives) ----------------------------------------------
    def _on_event(self, event: Event) -> Iterable[str] | None:
        if isinstance(event, ReadingEvent):
            changed = False
            for reading in event.readings:
                item = self._by_key.get((event.device, reading.entity))
                if item is not None:
                    changed = item.buffer.append(reading.timestamp, reading.value, reading.quality) or changed
            return ("data",) if changed else None
        if isinstance(event, SystemEvent):
            if event.kind is SystemKind.LOOP_STALL:
                self.stall = (float(event.payload.get("started", event.timestamp)),
                              float(event.payload.get("duration", 0.0)))
                return ("status",)
            unavailable = event.kind is SystemKind.DEVICE_REMOVED or (
                event.kind is SystemKind.AVAILABILITY and not event.payload.get("available", True))
            if unavailable:
                gaps = [s.buffer.append_gap(event.timestamp) for s in self.series if s.device == event.device]
                return ("data",) if any(gaps) else None
        return None

    # --- pushes (at most rate_hz per second) ------------------------------------------------
    def _flush(self, changed: frozenset[str]) -> None:
        if BUS_CLOSED in changed:
            self.lab_stopped = True
        if self.paused_at is None and changed & {"data", "view", "*"}:
            self.redraw(self.clock())
        elif self.paused_at is not None and "view" in changed:
            self.redraw(self.paused_at)
        self._update_status()

    def redraw(self, t1: float) -> None:
        """Show the window ending at ``t1`` (wall-clock seconds); lines that did not change are not sent."""
        for item in self.series:
            t, y = item.decimator.window(t1, self.window, self.buckets)
            old_t, old_y = item.sent
            if np.array_equal(t, old_t) and np.array_equal(y, old_y, equal_nan=True):
                continue
            with item.mark.hold_sync():  # x and y in one message (also when called outside a push)
                item.mark.x, item.mark.y = _to_dates(t), y
            item.sent = (t, y)
        self._frame.x = _to_dates(np.array([t1 - self.window, t1]))

    def _update_status(self) -> None:
        """Point counts at most once a second; notes (pause, stall, errors) and a series' first or
        last point (a line appearing or emptying) at once."""
        notes = self._notes()
        now = self.clock()
        empty = tuple(len(s.buffer) == 0 for s in self.series)
        if notes == self._status_notes and empty == self._status_empty and abs(now - self._status_at) < STATUS_PERIOD:
            return
        self._status_notes, self._status_empty, self._status_at = notes, empty, now
        parts = [f"{html.escape(s.key)}: {len(s.buffer):,} pts" for s in self.series]
        self.status.value = " · ".join(parts + notes)

    def _notes(self) -> list[str]:
        notes: list[str] = []
        if self.paused_at is not None:
            notes.append(f"paused at {_clock(self.paused_at)} (still recording)")
        if self.stall is not None:
            started, duration = self.stall
            notes.append(f"<b>polling was paused for {duration:.1f} s at {_clock(started)}</b>")
        dropped = self.bridge.stats()["dropped"]
        if dropped:
            notes.append(f"{dropped:,} readings dropped (the kernel was busy)")
        if self.history_error:
            notes.append(f"no history: {html.escape(self.history_error)}")
        if self.lab_stopped:
            notes.append("the lab stopped")
        return notes

    # --- controls ---------------------------------------------------------------------------
    def _on_pause(self, change: dict[str, Any]) -> None:
        self.pause(bool(change["new"]))

    def pause(self, paused: bool = True) -> None:
        """Freeze the view (data keeps being recorded) or, with False, resume at "now"."""
        if paused == (self.paused_at is not None):
            return
        self.paused_at = self.clock() if paused else None
        self.pause_button.value = paused
        self.pause_button.description, self.pause_button.icon = ("Resume", "play") if paused else ("Pause", "pause")
        self.bridge.mark("status" if paused else "view")

    def resume(self) -> None:
        self.pause(False)

    def _on_window(self, change: dict[str, Any]) -> None:
        self.set_window(change["new"])

    def set_window(self, window: float | str) -> None:
        """Show a different time span (``"30s"``, ``"1h"``, seconds)."""
        self.window = parse_window(window)
        label = format_window(self.window)
        if label not in self.window_select.options:
            self.window_select.options = [label, *WINDOW_CHOICES]
        self.window_select.value = label
        self.bridge.mark("view")

    # --- history ----------------------------------------------------------------------------
    async def _backfill(self) -> None:
        """Fill the buffers from ``lab.history`` for the window before "now" (runs in the bridge task)."""
        end = self.clock()
        for item in self.series:
            try:
                t, y = await load_history(self.lab.history, item.device, item.entity, end - self.window, end,
                                            max_points=item.buffer.capacity)
            except NotRecordingError:  # nothing to backfill from: a normal state, not an error
                return
            except Exception as exc:
                self.history_error = str(exc) or type(exc).__name__
                log.warning("chart: no history for %s: %s", item.key, exc)
                continue
            if item.buffer.backfill(t, y):
                self.bridge.mark("data")
        self.bridge.mark("status")

    # --- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the bridge (no task left) and close every child widget."""
        if not hasattr(self, "figure"):  # construction failed half-way (ipywidgets closes on __del__)
            super().close()
            return
        self.bridge.close()
        key = getattr(self, "key", None)
        if key is not None and _OPEN.get(key) is self:
            del _OPEN[key]
        for widget in (*self.children, self.figure, *self.figure.marks, *self.figure.axes, self.x_scale,
                       *self._y_scales.values(), self._frame.scales["y"], self.window_select, self.pause_button,
                       self.status):
            widget.close()
        super().close()

    def __repr__(self) -> str:
        keys = ", ".join(s.key for s in self.series)
        return f"<LiveChart {keys} window={format_window(self.window)} {'paused' if self.paused_at else 'live'}>"


def resolve_series(lab: Any, spec: str, index: int = 0) -> tuple[str, str, str]:
    """``(device, entity, unit)`` of ``"DEVICE.entity"``; the unit comes from the entity table, else
    from the last reading. Raises (with hints) for a malformed name, an unknown device or entity,
    and for text entities."""
    device, dot, entity = spec.partition(".") if isinstance(spec, str) else ("", "", "")
    if not (device and dot and entity):
        raise ConfigValidationError(f"not a series name: {spec!r}", path=f"series[{index}]",
                                    hint='Name entities as "DEVICE.entity", e.g. "DPS5005_1.u_out".')
    handle = lab[device]  # DeviceNotFoundError with the known ids
    entities = handle.entities
    unit = ""
    if entities:
        desc = entities.get(entity)
        if desc is None:
            raise EntityError(f"{device} has no entity {entity!r}", device=device, entity=entity,
                              hint=f"Known entities: {', '.join(entities)}.")
        if desc.kind is Kind.TEXT:
            raise ConfigValidationError(f"{spec} is text and cannot be plotted", path=f"series[{index}]",
                                        hint="Chart numeric, on/off or enum entities.")
        unit = desc.unit
    if not unit and (last := handle.reading(entity)) is not None:
        unit = last.unit
    return device, entity, unit


def _clock(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%H:%M:%S")


def lab_chart(lab: Any, *series: str, **kwargs: Any) -> LiveChart:
    """``LiveChart(lab, *series, **kwargs)``: a live chart of ``"DEVICE.entity"`` series."""
    return LiveChart(lab, *series, **kwargs)


__all__ = ["WINDOW_CHOICES", "ChartSeries", "LiveChart", "format_window", "lab_chart", "parse_window",
           "resolve_series"]
