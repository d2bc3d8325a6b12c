"""Which notebook cell made a write: its execution count (``In [7]``) and its nbformat cell id.

Inside an ipykernel every piece of code runs on behalf of a *parent* message. For a cell that is
its ``execute_request``, which the kernel keeps in a :class:`contextvars.ContextVar`
(``kernel.get_parent("shell")``). An asyncio task copies the context it was created in, so a
background task started by cell 5 still sees cell 5's request while cell 7 runs — a write it makes
is attributed to cell 5, not to whatever cell happens to be running.

The request carries the cell id (``parent["metadata"]["cellId"]``, sent by JupyterLab and Notebook
7; nbclient 0.11 sends none, so a notebook executed by it gets ``In [N]`` only) but not the
execution count. IPython numbers a cell when it starts it: it increments ``shell.execution_count``
*before* running the code and then fires ``pre_run_cell``, so during that event
``shell.execution_count - 1`` is the cell's ``In [N]``. A ``pre_run_cell`` hook, registered once by
:func:`install_cell_tracking` (called by ``Lab.start`` inside a kernel), keeps a bounded map from
the request's ``msg_id`` to that number; the cell that installs the hook has already passed its
``pre_run_cell`` and is recorded at install time.

This module never imports IPython or ipykernel: it only looks for them in :data:`sys.modules`.
Outside a kernel (a plain script, ``ionpy run``, the tests) :func:`current_cell` returns ``None``.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

#: How many cells' execution counts are remembered (a write from a task started longer ago than
#: this many cells keeps its cell id but loses its ``In [N]``).
MAX_CELLS = 2048


class CellCounts:
    """A bounded, thread-safe map ``execute_request msg_id -> execution count`` (oldest dropped first)."""

    def __init__(self, maxsize: int = MAX_CELLS) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = maxsize
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def remember(self, msg_id: str, count: int) -> None:
        with self._lock:
            self._counts.pop(msg_id, None)
            self._counts[msg_id] = count
            while len(self._counts) > self.maxsize:
                del self._counts[next(iter(self._counts))]

    def get(self, msg_id: str) -> int | None:
        with self._lock:
            return self._counts.get(msg_id)

    def __contains__(self, msg_id: object) -> bool:
        with self._lock:
            return msg_id in self._counts

    def __len__(self) -> int:
        with self._lock:
            return len(self._counts)


_COUNTS = CellCounts()


def _shell() -> Any:
    """The running IPython shell, if IPython is imported and one is running (never imports it)."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    if get_ipython is None:
        return None
    try:
        return get_ipython()
    except Exception:  # a half-imported or exotic IPython: no provenance rather than a failed write
        return None


def _kernel(shell: Any) -> Any:
    """The ipykernel kernel behind ``shell`` (``None`` for a terminal IPython)."""
    kernel = getattr(shell, "kernel", None)
    return kernel if callable(getattr(kernel, "get_parent", None)) else None


def _parent(kernel: Any) -> Mapping[str, Any] | None:
    try:
        parent = kernel.get_parent("shell")
    except Exception:  # no parent set yet in this context
        return None
    return parent if isinstance(parent, Mapping) else None


def _execute_msg_id(parent: Mapping[str, Any] | None) -> str | None:
    """The ``msg_id`` of ``parent`` when it is an ``execute_request`` (a comm message is no cell)."""
    header = parent.get("header") if parent is not None else None
    if not isinstance(header, Mapping) or header.get("msg_type") != "execute_request":
        return None
    msg_id = header.get("msg_id")
    return str(msg_id) if msg_id else None


def cell_of(parent: Mapping[str, Any] | None, counts: CellCounts = _COUNTS) -> dict[str, Any] | None:
    """``{"execution_count": N | None, "cell_id": str | None}`` for an ``execute_request`` parent
    message, ``None`` for anything else or when neither is known."""
    msg_id = _execute_msg_id(parent)
    if parent is None or msg_id is None:
        return None
    metadata = parent.get("metadata")
    cell_id = metadata.get("cellId") if isinstance(metadata, Mapping) else None
    count = counts.get(msg_id)
    if count is None and not cell_id:
        return None
    return {"execution_count": count, "cell_id": str(cell_id) if cell_id else None}


def current_cell() -> dict[str, Any] | None:
    """The notebook cell the calling code runs on behalf of (see the module docstring), or ``None``
    outside a kernel or outside a cell."""
    kernel = _kernel(_shell())
    if kernel is None:
        return None
    return cell_of(_parent(kernel))


def _on_pre_run_cell(info: Any) -> None:
    """IPython ``pre_run_cell`` hook: remember the starting cell's execution count."""
    try:
        shell = _shell()
        kernel = _kernel(shell)
        # a cell run without history (store_history=False) gets no number
        if kernel is None or not getattr(info, "store_history", False):
            return
        msg_id = _execute_msg_id(_parent(kernel))
        if msg_id is not None:
            _COUNTS.remember(msg_id, int(shell.execution_count) - 1)
    except Exception as exc:  # a hook must never break the user's cell
        log.debug("cell provenance: pre_run_cell hook failed: %s", exc)


def install_cell_tracking() -> bool:
    """Register the ``pre_run_cell`` hook once (idempotent) and record the cell running now.
    Returns whether the calling code runs inside an ipykernel."""
    shell = _shell()
    kernel = _kernel(shell)
    events = getattr(shell, "events", None)
    if kernel is None or events is None:
        return False
    try:
        events.register("pre_run_cell", _on_pre_run_cell)  # a no-op when already registered
        parent = _parent(kernel)
        msg_id = _execute_msg_id(parent)
        content = parent.get("content") if parent is not None else None
        numbered = isinstance(content, Mapping) and not content.get("silent") and content.get("store_history", True)
        if msg_id is not None and numbered and msg_id not in _COUNTS:
            # this cell passed its pre_run_cell before the hook existed; the shell already counted it
            _COUNTS.remember(msg_id, int(shell.execution_count) - 1)
    except Exception as exc:  # provenance is best effort: a lab starts without it
        log.warning("cell provenance unavailable: %s", exc)
        return False
    return True


def cell_label(cell: Mapping[str, Any] | None) -> str:
    """``"In [7]"`` for a cell with an execution count, ``"cell <id>"`` with only an id, else ``""``."""
    if not isinstance(cell, Mapping):
        return ""
    count = cell.get("execution_count")
    if count is not None:
        return f"In [{count}]"
    cell_id = cell.get("cell_id")
    return f"cell {cell_id}" if cell_id else ""


__all__ = ["MAX_CELLS", "CellCounts", "cell_label", "cell_of", "current_cell", "install_cell_tracking"]
