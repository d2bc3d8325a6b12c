"""``ionpy_widgets.Lab``: the engine's lab with widgets — the public name, start/re-start, the
widget factories and the dashboard following devices added and removed later."""

from __future__ import annotations

from collections.abc import AsyncIterator

import ipywidgets
import pytest
from widget_helpers import BATTERY, DPS, running_lab, wait_until
from widget_helpers import FAST_UI as FAST

import ionpy_widgets as ion
from ionpy_widgets.engine import lab as engine_lab
from ionpy_widgets.widgets.controls import ControlPanel
from ionpy_widgets.widgets.devices import DeviceManagerWidget
from ionpy_widgets.widgets.lab_ui import Dashboard, Lab


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with running_lab({"devices": [DPS, BATTERY]}, lab_class=ion.Lab, name="test-lab-ui", settings=FAST) as lab:
        yield lab


def test_the_public_lab_is_the_widget_subclass() -> None:
    assert ion.Lab is Lab and issubclass(Lab, engine_lab.Lab)
    assert "Lab" in dir(ion)


async def test_start_builds_the_subclass_every_way() -> None:
    lab = await ion.start({"devices": [BATTERY]}, name="test-lab-ui-start", settings=FAST)
    assert type(lab) is Lab
    again = await Lab.start({"devices": [BATTERY]}, name="test-lab-ui-start", settings=FAST)  # re-run the cell
    assert not lab.running and again.running and type(again) is Lab
    await again.stop()
    async with Lab.start(None, name="test-lab-ui-ctx", settings=FAST) as ctx:
        assert type(ctx) is Lab and ctx.devices == []
    assert not ctx.running
    assert "await" in repr(Lab.start(None))


async def test_widget_factories(lab: Lab) -> None:
    panel, control, chart = lab.devices_panel(), lab.control("DPS"), lab.chart("DPS.u_out", "DPS.i_out",
                                                                               window="30s")
    try:
        assert isinstance(panel, DeviceManagerWidget) and [r["id"] for r in panel.devices] == ["DPS", "BAT"]
        assert isinstance(control, ControlPanel) and control.device == "DPS"
        assert type(chart).__name__ == "LiveChart" and chart.window == 30.0
        assert lab.psu_series() == ["DPS.u_out", "DPS.i_out"]
    finally:
        for widget in (panel, control, chart):
            widget.close()


async def test_the_dashboard_follows_devices_added_and_removed(lab: Lab) -> None:
    board = lab.dashboard(window="1min")
    try:
        assert isinstance(board, Dashboard) and isinstance(board, ipywidgets.VBox)
        assert board.tabs.titles == ("DPS", "BAT") and [p.device for p in board.tabs.children] == ["DPS", "BAT"]
        assert board.chart is not None and board.chart_box.children == (board.chart,)
        assert [s.key for s in board.chart.series] == ["DPS.u_out", "DPS.i_out"]
        assert board.children[0] is board.alarms_panel and board.children[1] is board.devices_panel

        await lab.add_device({**DPS, "id": "DPS2"})
        await wait_until(lambda: board.tabs.titles == ("DPS", "BAT", "DPS2"), what="a DPS2 tab")
        await wait_until(lambda: board.chart is not None and len(board.chart.series) == 4, what="DPS2 charted")
        await lab.remove_device("DPS")
        await wait_until(lambda: board.tabs.titles == ("BAT", "DPS2"), what="the DPS tab gone")
        await wait_until(lambda: [s.key for s in board.chart.series] == ["DPS2.u_out", "DPS2.i_out"],
                         what="the chart without DPS")
        await lab.remove_device("DPS2")
        await wait_until(lambda: board.chart is None and board.chart_box.children == (), what="no chart")
    finally:
        board.close()


async def test_the_dashboard_shows_the_wizard_returned_by_on_edit(lab: Lab) -> None:
    editor = ipywidgets.Label("wizard")
    board = lab.dashboard(on_edit=lambda device_id: editor)
    try:
        sent: list[dict] = []
        board.devices_panel.router._send = sent.append
        task = board.devices_panel.router.handle({"type": "request", "id": "e", "kind": "edit",
                                                  "payload": {"device": "BAT"}})
        assert task is not None
        await task
        assert sent[-1]["ok"] is True and board.editor.children == (editor,)
    finally:
        board.close()
        editor.close()


async def test_the_dashboards_edit_button_opens_the_device_wizard(lab: Lab) -> None:
    board = lab.dashboard()
    try:
        sent: list[dict] = []
        board.devices_panel.router._send = sent.append
        for device in ("BAT", "DPS"):
            task = board.devices_panel.router.handle({"type": "request", "id": device, "kind": "edit",
                                                      "payload": {"device": device}})
            assert task is not None
            await task
        assert [m["ok"] for m in sent] == [True, True]
        (wizard,) = board.editor.children  # the second Edit replaced the first wizard
        assert type(wizard).__name__ == "DeviceWizard" and wizard.edit_id == "DPS"
    finally:
        board.close()


async def test_an_empty_lab_gets_a_note_and_no_chart() -> None:
    lab = await Lab.start(None, name="test-lab-ui-empty", settings=FAST)
    board = lab.dashboard()
    try:
        assert board.tabs.children == () and board.chart is None and "add_device" in board.note.value
    finally:
        board.close()
        await lab.stop()
