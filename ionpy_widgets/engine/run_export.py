"""Exporting and plotting a recorded run (CSV, Parquet, matplotlib)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigValidationError
from .atomic import StorageError
from .journal import MissingDependencyError

if TYPE_CHECKING:
    from .runs import RunRecord

TABLES = ("samples", "journal", "events", "alarms", "entities")


def _jsonish(series: Any) -> Any:
    """A column Parquet can hold: values of mixed types (or dicts) become JSON text."""
    return series.map(lambda v: None if v is None else json.dumps(v, ensure_ascii=False, default=str))


def _for_parquet(name: str, frame: Any) -> Any:
    import pandas as pd

    frame = frame.copy()
    if name == "samples" and frame["value"].dtype == object:
        # text entities: numbers stay in `value`, text goes to its own column
        frame["text"] = pd.Series([v if isinstance(v, str) else None for v in frame["value"]], index=frame.index,
                                  dtype=object)
        frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    for column in frame.columns:
        if frame[column].dtype == object:
            kinds = {type(v) for v in frame[column] if v is not None and not (isinstance(v, float) and v != v)}
            if kinds - {str}:
                frame[column] = _jsonish(frame[column])
    return frame


def export_run(run: RunRecord, folder: Path, fmt: str) -> list[Path]:
    """Write each table of ``run`` plus ``run.json`` into ``folder`` as ``fmt`` (csv/parquet)."""
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise MissingDependencyError("Parquet export needs pyarrow, which is not installed",
                                         hint="`pip install pyarrow` (or `pip install 'ionpy_widgets[parquet]'`), "
                                              "or use run.to_csv(folder).") from None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create {folder}: {exc.strerror or exc}", path=str(folder)) from exc
    written: list[Path] = []
    try:
        for name in TABLES:
            frame = getattr(run, name)
            target = folder / f"{name}.{fmt}"
            if fmt == "csv":
                out = frame.copy()
                for column in out.columns:
                    if out[column].dtype == object and any(isinstance(v, dict | list) for v in out[column]):
                        out[column] = _jsonish(out[column])
                out.to_csv(target, index=False)
            else:
                _for_parquet(name, frame).to_parquet(target, index=False)
            written.append(target)
        info = folder / "run.json"
        info.write_text(json.dumps(run.info, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        written.append(info)
    except OSError as exc:
        raise StorageError(f"cannot write the run export into {folder}: {exc.strerror or exc}",
                           path=str(folder)) from exc
    return written


def plot_run(run: RunRecord, series: Sequence[str], *, buckets: int = 1000, figsize: tuple[float, float] | None = None,
             title: str | None = None) -> Any:
    """A matplotlib figure: one panel per unit, each series drawn as its min/max envelope per bucket
    with the bucket mean as a line."""
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError("run.plot() draws with matplotlib, which is not installed",
                                     hint="`pip install matplotlib`, or plot run.samples / run.history(...) with "
                                          "any library you like.") from None
    del matplotlib
    entities = run.entities
    known = {(d, e): (u, k) for d, e, u, k in entities[["device", "entity", "unit", "kind"]].itertuples(index=False)}
    chosen: list[tuple[str, str]] = []
    for i, spec in enumerate(series):
        device, dot, entity = spec.partition(".")
        if not dot or (device, entity) not in known:
            names = ", ".join(f"{d}.{e}" for d, e in known) or "none recorded"
            raise ConfigValidationError(f"no recorded series {spec!r}", path=f"series[{i}]",
                                        hint=f"Name one as DEVICE.entity; recorded: {names}.")
        chosen.append((device, entity))
    if not chosen:
        chosen = [key for key, (_, kind) in known.items() if kind in ("numeric", "")]
    units = list(dict.fromkeys(known[key][0] for key in chosen)) or [""]
    fig = Figure(figsize=figsize or (10, 2.6 * len(units) + 0.6), layout="constrained")
    axes = fig.subplots(len(units), 1, sharex=True, squeeze=False)[:, 0]
    for device, entity in chosen:
        unit = known[(device, entity)][0]
        ax = axes[units.index(unit)]
        frame = run.history(device, entity, buckets=buckets)
        t = frame["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
        line = ax.plot(t, frame["mean"], label=f"{device}.{entity}", linewidth=1.2)[0]
        ax.fill_between(t, frame["min"], frame["max"], color=line.get_color(), alpha=0.25, linewidth=0)
        ax.set_ylabel(unit or "value")
    for ax in axes:
        if ax.lines:
            ax.legend(loc="best", fontsize="small")
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("time (UTC)")
    fig.suptitle(title if title is not None else f"{run.name} ({run.status})")
    return fig


__all__ = ["export_run", "plot_run"]
