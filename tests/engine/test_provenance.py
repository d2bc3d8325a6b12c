"""Cell provenance: which notebook cell a write from code came from.

A fake IPython (a module in ``sys.modules`` with ``get_ipython``) and a fake kernel that keeps its
parent message in a ContextVar, as ipykernel does, drive the mapping logic; the real kernel is
exercised in tests/test_notebook_kernel_provenance.py.
"""

from __future__ import annotations

import asyncio
import sys
import types
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import FAST

from ionpy_widgets.engine.journal import Journal
from ionpy_widgets.engine.lab import Lab
from ionpy_widgets.engine.provenance import CellCounts, cell_label, cell_of, current_cell, install_cell_tracking
from ionpy_widgets.engine.runs import JOURNAL_COLUMNS


def request(cell_id: str | None = None, msg_type: str = "execute_request", **content: Any) -> dict[str, Any]:
    metadata = {"cellId": cell_id} if cell_id is not None else {}
    return {"header": {"msg_id": uuid.uuid4().hex, "msg_type": msg_type}, "metadata": metadata,
            "content": {"code": "", **content}}


class FakeKernel:
    def __init__(self) -> None:
        self.parent: ContextVar[dict[str, Any]] = ContextVar("fake_shell_parent")
        self.parent.set({})

    def get_parent(self, channel: str = "shell") -> dict[str, Any]:
        return self.parent.get()


class FakeEvents:
    def __init__(self) -> None:
        self.callbacks: dict[str, list[Callable[..., Any]]] = {"pre_run_cell": []}

    def register(self, event: str, function: Callable[..., Any]) -> None:
        if function not in self.callbacks[event]:
            self.callbacks[event].append(function)


class FakeShell:
    """What matters of an ipykernel shell: ``execution_count``, ``events`` and ``kernel``."""

    def __init__(self) -> None:
        self.kernel = FakeKernel()
        self.events = FakeEvents()
        self.execution_count = 1

    def start_cell(self, parent: dict[str, Any], *, store_history: bool = True) -> int | None:
        """Like ipykernel + IPython: set the parent, count the cell, then fire ``pre_run_cell``."""
        self.kernel.parent.set(parent)
        number = self.execution_count if store_history else None
        if store_history:
            self.execution_count += 1
        info = types.SimpleNamespace(store_history=store_history, silent=False)
        for callback in self.events.callbacks["pre_run_cell"]:
            callback(info)
        return number


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch) -> FakeShell:
    fake = FakeShell()
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: fake))
    return fake


def test_no_kernel_no_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert current_cell() is None and install_cell_tracking() is False
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    assert current_cell() is None and install_cell_tracking() is False
    terminal = types.SimpleNamespace(events=FakeEvents(), execution_count=3)  # IPython in a terminal: no kernel
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: terminal))
    assert current_cell() is None and install_cell_tracking() is False
    assert terminal.events.callbacks["pre_run_cell"] == []


def test_install_is_idempotent_and_records_the_running_cell(shell: FakeShell) -> None:
    first = request("cell-a")
    number = shell.start_cell(first)  # the cell that starts the lab ran before the hook existed
    assert current_cell() == {"execution_count": None, "cell_id": "cell-a"}
    assert install_cell_tracking() and install_cell_tracking()
    assert len(shell.events.callbacks["pre_run_cell"]) == 1
    assert current_cell() == {"execution_count": number, "cell_id": "cell-a"}
    later = shell.start_cell(request("cell-b"))
    assert current_cell() == {"execution_count": later, "cell_id": "cell-b"} and later == number + 1


def test_uncounted_and_non_cell_parents(shell: FakeShell) -> None:
    install_cell_tracking()
    shell.start_cell(request("quiet"), store_history=False)
    assert current_cell() == {"execution_count": None, "cell_id": "quiet"}
    shell.start_cell(request(None))  # a client that sends no cell id still gets In [N]
    assert current_cell() == {"execution_count": shell.execution_count - 1, "cell_id": None}
    shell.kernel.parent.set(request("widget", msg_type="comm_msg"))  # a widget message is no cell
    assert current_cell() is None
    shell.kernel.parent.set({})
    assert current_cell() is None
    assert cell_of(None) is None and cell_of({"header": "odd"}) is None


async def test_a_task_keeps_the_cell_that_started_it(shell: FakeShell) -> None:
    install_cell_tracking()
    release = asyncio.Event()
    seen: list[dict[str, Any] | None] = []

    async def background() -> None:
        await release.wait()
        seen.append(current_cell())

    b = shell.start_cell(request("cell-b"))
    task = asyncio.create_task(background())  # copies the context: cell B's parent
    c = shell.start_cell(request("cell-c"))  # a later cell sets its own parent in this context
    assert current_cell() == {"execution_count": c, "cell_id": "cell-c"}
    release.set()
    await task
    assert seen == [{"execution_count": b, "cell_id": "cell-b"}]


def test_counts_are_bounded() -> None:
    counts = CellCounts(maxsize=3)
    for n in range(5):
        counts.remember(f"m{n}", n)
    assert len(counts) == 3 and "m0" not in counts and counts.get("m1") is None and counts.get("m4") == 4
    counts.remember("m2", 9)  # remembered again: now the newest
    counts.remember("m5", 5)
    assert counts.get("m2") == 9 and counts.get("m3") is None
    with pytest.raises(ValueError):
        CellCounts(maxsize=0)


def test_labels() -> None:
    assert cell_label({"execution_count": 7, "cell_id": "x"}) == "In [7]"
    assert cell_label({"execution_count": None, "cell_id": "x"}) == "cell x"
    assert cell_label(None) == "" and cell_label({}) == ""


def test_journal_keeps_the_cell_and_old_rows_read_as_before(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal(path) as j:
        j.record_write("psu1", "u_set", 0.0, 5.0, source="widget", unit="V")
        j.record_write("psu1", "u_set", 5.0, 6.0, unit="V", detail={"why": "sweep"},
                       cell={"execution_count": 7, "cell_id": "abc"})
    with Journal(path) as again:
        old, new = again.entries()
        assert old.cell is None and old.data == {} and old.to_row()["cell"] == ""
        assert new.cell == {"execution_count": 7, "cell_id": "abc"} and new.detail == {"why": "sweep"}
        assert new.summary() == "psu1.u_set 5.0 → 6.0 V (code, In [7])"
        assert again.to_dataframe()["cell"].tolist() == ["", "In [7]"]


async def test_lab_writes_carry_their_cell(tmp_path: Path, shell: FakeShell) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text("devices:\n  - id: BAT\n    driver: V01_Battery\n    poll_interval: 0.05\n")
    number = shell.start_cell(request("setup-cell"))
    async with Lab.start(str(path), settings=FAST, record=tmp_path / "run.sqlite") as lab:
        assert len(shell.events.callbacks["pre_run_cell"]) == 1
        writes = lab.subscribe(kinds=["system"], maxsize=0)
        await lab.wait_online(timeout=2)
        async with lab.run("sweep") as run:
            await lab["BAT"].write("load_current", 1.0)
            await lab["BAT"].write("load_current", 2.0, source="widget")
        payloads = [e.payload for e in writes.drain() if e.kind.value == "write"]
        assert payloads[0]["cell"] == {"execution_count": number, "cell_id": "setup-cell"}
        assert "cell" not in payloads[1] and payloads[1]["source"] == "widget"
        entries = lab.journal.entries(kind="write")  # type: ignore[union-attr]
        assert [e.cell for e in entries] == [{"execution_count": number, "cell_id": "setup-cell"}, None]
        journal = run.journal
        assert tuple(journal.columns) == JOURNAL_COLUMNS
        assert journal[["source", "cell", "cell_id"]].values.tolist() == [
            ["code", f"In [{number}]", "setup-cell"], ["widget", "", ""]]
