"""The engine inside a REAL ipykernel: polling goes on in the background on the kernel's own loop
while a cell awaits, and re-running the setup cell replaces the running lab.

The notebook is written to tmp_path and executed with nbclient; all assertions run inside the
kernel (widget/engine state saved into a notebook misses background updates).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

SETUP = """\
import asyncio, sys
import ionpy_widgets
from ionpy_widgets.instruments.catalog import make_simulator
from ionpy_widgets.instruments.simhost import PtyServer

assert sys.prefix == {prefix!r}, sys.prefix  # the kernel runs in the project's venv
server = await PtyServer(make_simulator("dps5005"), link_path={link!r}).start()
cfg = {{"devices": [
    {{"id": "DPS5005_1", "driver": "DPS5005", "poll_interval": 0.1,
     "transport": {{"type": "serial", "params": {{"port": {link!r}, "baudrate": 9600}}}}}},
    {{"id": "BAT", "driver": "V01_Battery", "poll_interval": 0.1}},
]}}
lab = await ionpy_widgets.Lab.start(cfg)
readings = lab.subscribe(kinds=["reading"], maxsize=0)
await lab.wait_online(timeout=10)
readings.drain()
polls_before = lab["DPS5005_1"].status["stats"]["polls"]
"""

SLEEP = "await asyncio.sleep(1.5)"

CHECK = """\
during = sum(1 for event in readings.drain() if event.device == "DPS5005_1")
polls = lab["DPS5005_1"].status["stats"]["polls"] - polls_before
assert during >= 7 and polls >= 7, (during, polls)   # nominal: 15 in 1.5 s at 0.1 s
assert lab["DPS5005_1"].status["state"] == "online"
await lab["DPS5005_1"].write("u_set", 3.3)
assert (await lab["DPS5005_1"].poll_now())["u_set"] == 3.3
print("READINGS_DURING_SLEEP", during)
"""

RERUN = """\
previous = lab
lab = await ionpy_widgets.Lab.start(cfg)   # the setup cell, run again
assert not previous.running and lab.running
await lab.wait_online(timeout=10)           # the serial port was released by the old lab
await lab.stop()
await lab.stop()                            # harmless
await server.close()
print("STOPPED", len([t for t in asyncio.all_tasks() if t.get_name().startswith("ionpy-")]))
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_polling_continues_while_a_cell_awaits(tmp_path: Path) -> None:
    link = str(tmp_path / "dps")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in
                (SETUP.format(prefix=sys.prefix, link=link), SLEEP, CHECK, RERUN)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, kernel_name="python3", timeout=60, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = "".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", []))
    during = int(outputs.split("READINGS_DURING_SLEEP ")[1].split()[0])
    assert during >= 7
    assert "STOPPED 0" in outputs
    nbformat.write(nb, tmp_path / "executed.ipynb")
