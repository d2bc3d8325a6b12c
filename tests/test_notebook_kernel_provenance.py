"""Cell provenance in a REAL ipykernel: a write from code is journaled with the cell that made it.

nbclient runs a notebook in the project's venv kernel against a DPS5005 simulator on a pty: the
setup cell (which starts the lab) writes, cell A writes, cell B starts a background task, cell C
lets that task write while C runs and then writes itself. The write from B's task must name B,
not C. The checks run inside the kernel (``In[N]`` is the source of cell N there) and again
outside, against the execution counts nbclient stored in the executed notebook.

nbclient 0.11 sends no ``cellId`` in the ``execute_request`` metadata (JupyterLab, Notebook 7 and
VS Code do). :class:`LabLikeClient` adds it exactly where those front ends put it; everything
else — the kernel, ipykernel's parent ContextVar, IPython's ``pre_run_cell`` — is the real thing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

SETUP = """\
import asyncio, json, sys
import ionpy_widgets
from ionpy_widgets.instruments.catalog import make_simulator
from ionpy_widgets.instruments.simhost import PtyServer

assert sys.prefix == {prefix!r}, sys.prefix  # the kernel runs in the project's venv
server = await PtyServer(make_simulator("dps5005"), link_path={link!r}).start()
lab = await ionpy_widgets.Lab.start({config!r}, record={record!r})
await lab.wait_online(timeout=10)
run = lab.run("provenance")
await run.begin()
psu = lab["DPS5005_1"]
await psu.write("u_set", 1.0)  # CELL-SETUP: the cell that installed the hook
"""

CELL_A = 'await psu.write("u_set", 1.5)  # CELL-A'

CELL_B = """\
go = asyncio.Event()

async def later():
    await go.wait()
    await psu.write("u_set", 2.5)  # CELL-B: written later, from this cell's task

background = asyncio.create_task(later())
"""

CELL_C = """\
go.set()
await asyncio.wait_for(background, 10)  # CELL-C: B's task writes while this cell runs
await psu.write("u_set", 3.5)
await psu.write("u_set", 4.0, source="widget")
"""

CHECK = """\
expected = {{1.0: ({setup_id!r}, "CELL-SETUP"), 1.5: ({a_id!r}, "CELL-A"), 2.5: ({b_id!r}, "CELL-B"),
            3.5: ({c_id!r}, "CELL-C")}}
writes = {{e.new: e for e in lab.journal.entries(kind="write", entity="u_set")}}
assert sorted(writes) == [1.0, 1.5, 2.5, 3.5, 4.0], sorted(writes)
for value, (cell_id, marker) in expected.items():
    cell = writes[value].cell
    assert writes[value].source == "code" and cell["cell_id"] == cell_id, (value, cell)
    assert marker in In[cell["execution_count"]], (value, cell, In[cell["execution_count"]])
assert writes[4.0].source == "widget" and writes[4.0].cell is None
await run.end()
frame = run.journal[run.journal.entity == "u_set"]
rows = frame[["value", "source", "cell", "cell_id"]].values.tolist()
assert rows == [[v, "code", f"In [{{writes[v].cell['execution_count']}}]", expected[v][0]] for v in expected] + [
    [4.0, "widget", "", ""]], rows
events = [e["data"].get("cell") for e in run.events.to_dict("records") if e["kind"] == "write"]
assert events == [writes[v].cell for v in expected] + [None], events
await lab.stop()
await server.close()
print("PROVENANCE", json.dumps({{str(v): writes[v].cell for v in expected}}))
"""


class LabLikeClient(NotebookClient):
    """An nbclient that puts the cell id into each ``execute_request``'s metadata (``cellId``), as
    JupyterLab does; nbclient 0.11 leaves it out."""

    _cell_id: str | None = None

    async def async_execute_cell(self, cell: Any, cell_index: int, execution_count: int | None = None,
                                 store_history: bool = True) -> Any:
        self._cell_id = cell.get("id")
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

    async def async_start_new_kernel_client(self) -> Any:
        kc = await super().async_start_new_kernel_client()
        plain = kc.session.msg

        def msg(msg_type: str, content: dict[str, Any] | None = None, parent: Any = None, header: Any = None,
                metadata: dict[str, Any] | None = None) -> dict[str, Any]:
            if msg_type == "execute_request" and self._cell_id:
                metadata = {**(metadata or {}), "cellId": self._cell_id}
            return plain(msg_type, content, parent, header, metadata)

        kc.session.msg = msg
        return kc


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_writes_name_their_cell_in_a_real_kernel(tmp_path: Path) -> None:
    link = str(tmp_path / "dps")
    config = tmp_path / "lab.yaml"
    config.write_text("devices:\n  - id: DPS5005_1\n    driver: DPS5005\n    poll_interval: 0.1\n"
                      f"    transport: {{type: serial, params: {{port: '{link}', baudrate: 9600}}}}\n")
    nb = nbformat.v4.new_notebook()
    setup, a, b, c = (nbformat.v4.new_code_cell(src) for src in (
        SETUP.format(prefix=sys.prefix, link=link, config=str(config), record=str(tmp_path / "run.sqlite")),
        CELL_A, CELL_B, CELL_C))
    assert all(cell.get("id") for cell in (setup, a, b, c))  # nbformat 4.5 cells have ids
    check = nbformat.v4.new_code_cell(CHECK.format(setup_id=setup.id, a_id=a.id, b_id=b.id, c_id=c.id))
    nb.cells = [setup, a, b, c, check]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = LabLikeClient(nb, kernel_name="python3", timeout=60, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    nbformat.write(nb, tmp_path / "executed.ipynb")
    outputs = "".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", []))
    cells = json.loads(outputs.split("PROVENANCE ", 1)[1].splitlines()[0])
    # the kernel's In [N] is the number nbclient got back for that cell (and stored in the notebook)
    assert cells == {value: {"execution_count": cell.execution_count, "cell_id": cell.id}
                     for value, cell in (("1.0", setup), ("1.5", a), ("2.5", b), ("3.5", c))}
    assert cells["2.5"]["execution_count"] == b.execution_count != c.execution_count
