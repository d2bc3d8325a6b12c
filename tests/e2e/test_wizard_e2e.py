"""User journey 2 in a real JupyterLab: a new user adds a simulated DPS5005 on a pty with the
device wizard, and a failing probe shows its hint. The simulator runs inside the kernel (started
by the notebook's first cell); every step is screenshotted to tests/e2e/screenshots/wizard-*.png."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import SHOTS, open_notebook, run_all, write_notebook

pytestmark = pytest.mark.e2e

SETUP = """
import asyncio
import ionpy_widgets as ion
from ionpy_widgets.instruments.rdtech_dps.sim import DpsSimulator
from ionpy_widgets.instruments.simhost import PtyServer

server = await PtyServer(DpsSimulator()).start()
print("PTY", server.path)
"""
START = 'lab = await ion.Lab.start("{name}.yaml")\nlab'
WIZARD = "wiz = lab.wizard()\nwiz"
MANAGER = "lab.devices_panel()"
CHECK = 'print("DEVICES", lab.devices, [lab[d].state for d in lab.devices])'
T = 30_000


def shot(locator, name: str) -> None:
    locator.screenshot(path=str(SHOTS / f"wizard-{name}.png"))


def setup(page, lab_server, name: str, *extra: str):
    write_notebook(lab_server.root_dir / f"{name}.ipynb", SETUP, START.format(name=name), WIZARD, *extra)
    open_notebook(page, lab_server, f"{name}.ipynb")
    run_all(page)
    wizard = page.locator(".ionpy-wizard")
    wizard.wait_for(timeout=60_000)
    out = page.locator(".jp-OutputArea-output", has_text="PTY /dev/")
    out.wait_for(timeout=T)
    pty = re.search(r"PTY (\S+)", out.inner_text()).group(1)
    return wizard, pty


def choose_dps_and_port(page, wizard, pty: str) -> None:
    tile = wizard.locator('.ionpy-tile[data-name="DPS5005"]')
    tile.click()
    wizard.locator(".ionpy-next").click()
    id_input = wizard.locator(".ionpy-input-id")
    id_input.wait_for(timeout=T)
    wizard.locator(".ionpy-msg-ok", has_text="available").wait_for(timeout=T)
    id_input.press("Enter")  # Enter = next
    port = wizard.locator(".ionpy-input-port")
    port.wait_for(timeout=T)
    port.fill(pty)
    port.press("Tab")  # a typed port is looked up and listed with its status


def test_new_user_adds_a_simulated_dps5005_with_the_wizard(page, lab_server):
    wizard, pty = setup(page, lab_server, "wizard_add", MANAGER, CHECK)
    # step 1: the catalogue
    tiles = wizard.locator(".ionpy-tile")
    tiles.first.wait_for(timeout=T)
    assert {"DPS5005", "SCPI_PSU", "V01_Battery"} <= set(tiles.evaluate_all("ts => ts.map(t => t.dataset.name)"))
    shot(wizard, "1-catalogue")
    wizard.locator(".ionpy-tab", has_text="Simulated").click()
    expect(wizard.locator(".ionpy-tile")).to_have_count(1)
    shot(wizard, "1b-filtered")
    wizard.locator(".ionpy-tab", has_text="All").click()
    wizard.locator(".ionpy-search").fill("rd tech")
    assert wizard.locator(".ionpy-tile").evaluate_all("ts => ts.map(t => t.dataset.name)") == ["DPS5005"]
    wizard.locator(".ionpy-search").fill("")
    tile = wizard.locator('.ionpy-tile[data-name="DPS5005"]')
    tile.click()
    expect(tile).to_have_attribute("aria-selected", "true")
    shot(wizard, "1c-selected")
    wizard.locator(".ionpy-next").click()
    # step 2: identity, the generated id is accepted
    id_input = wizard.locator(".ionpy-input-id")
    id_input.wait_for(timeout=T)
    assert id_input.input_value() == "DPS5005_1"
    wizard.locator(".ionpy-msg-ok", has_text="available").wait_for(timeout=T)
    id_input.fill("bad id")
    wizard.locator(".ionpy-msg-error", has_text="letters, digits").wait_for(timeout=T)
    shot(wizard, "2a-identity-invalid")
    id_input.fill("DPS5005_1")
    wizard.locator(".ionpy-msg-ok", has_text="available").wait_for(timeout=T)
    shot(wizard, "2-identity")
    id_input.press("Enter")
    # step 3: the port typed from the notebook's output; it shows up in the list, free
    port = wizard.locator(".ionpy-input-port")
    port.wait_for(timeout=T)
    assert wizard.locator("select.ionpy-baud").input_value() == "9600"
    port.fill(pty)
    port.press("Tab")
    row = wizard.locator(".ionpy-ports tbody tr", has_text=pty)
    row.wait_for(timeout=T)
    expect(row).to_contain_text("free")
    row.click()
    expect(row).to_have_attribute("aria-selected", "true")
    wizard.locator(".ionpy-advanced summary").click()
    assert wizard.locator('input[data-param="slave_id"]').input_value() == "1"
    shot(wizard, "3-connection")
    wizard.locator(".ionpy-next").click()
    # step 4: the probe runs by itself, green steps and u_in in volts
    wizard.locator(".ionpy-probe-status.ionpy-msg-ok").wait_for(timeout=T)
    expect(wizard.locator(".ionpy-probe-step.ionpy-ok")).to_have_count(5)
    expect(wizard.locator(".ionpy-probe-step.ionpy-bad")).to_have_count(0)
    u_in = wizard.locator('.ionpy-value-cell[data-key="u_in"] .ionpy-value')
    assert re.fullmatch(r"24(\.0+)?\s*V", u_in.inner_text().strip()), u_in.inner_text()
    shot(wizard, "4-probe-ok")
    wizard.locator(".ionpy-next").click()
    # step 5: summary, python call and yaml diff, then add
    diff = wizard.locator(".ionpy-diff")
    diff.wait_for(timeout=T)
    expect(diff).to_contain_text("+  - id: DPS5005_1")
    python = wizard.locator(".ionpy-python").inner_text()
    assert 'await lab.add_device({"id": "DPS5005_1", "driver": "DPS5005"' in python
    shot(wizard, "5-confirm")
    wizard.locator(".ionpy-add-button").click()
    done = wizard.locator(".ionpy-done")
    done.wait_for(timeout=T)
    expect(done).to_contain_text("DPS5005_1 added and online")
    shot(wizard, "5b-added")
    # the device manager (a later cell) shows it live, and the lab knows it
    manager = page.locator(".ionpy-devices")
    manager.locator("text=DPS5005_1").first.wait_for(timeout=T)
    manager.screenshot(path=str(SHOTS / "wizard-6-device-manager.png"))
    check_cell = page.locator(".jp-Cell", has_text="print(\"DEVICES\"").last
    check_cell.locator(".jp-InputArea-prompt").click()
    page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:run-cell'); }")
    check_cell.locator(".jp-OutputArea-output", has_text="'DPS5005_1'").wait_for(timeout=T)
    assert "['BAT'" not in check_cell.inner_text()
    expect(check_cell).to_contain_text("DEVICES ['DPS5005_1'] ['online']")
    # "add another" starts over at the catalogue with the id counter moved on
    wizard.locator(".ionpy-add-another").click()
    wizard.locator(".ionpy-tile").first.wait_for(timeout=T)
    wizard.locator('.ionpy-tile[data-name="DPS5005"]').click()
    wizard.locator(".ionpy-next").click()
    wizard.locator(".ionpy-input-id").wait_for(timeout=T)
    assert wizard.locator(".ionpy-input-id").input_value() == "DPS5005_2"
    # edit mode from a new cell: prefilled at the identity step, the connection is not probed again
    check_cell.locator(".jp-InputArea-prompt").click()
    page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:insert-cell-below'); }")
    page.locator(".jp-Cell.jp-mod-active .cm-content").last.wait_for(timeout=T)
    page.locator(".jp-Cell.jp-mod-active .cm-content").last.click()
    page.keyboard.type('lab.wizard(edit="DPS5005_1")')
    page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:run-cell'); }")
    editor = page.locator(".ionpy-wizard", has_text="Edit DPS5005_1")
    editor.wait_for(timeout=T)
    assert editor.locator(".ionpy-input-id").input_value() == "DPS5005_1"
    editor.locator("input[placeholder^='e.g. Bench 2']").fill("bench 2")
    shot(editor, "e1-edit-identity")
    editor.locator(".ionpy-next").click()
    editor.locator(".ionpy-input-port").wait_for(timeout=T)
    assert editor.locator(".ionpy-input-port").input_value() == pty
    editor.locator(".ionpy-next").click()
    editor.locator(".ionpy-probe-status", has_text="unchanged").wait_for(timeout=T)
    editor.locator(".ionpy-next").click()
    editor.locator(".ionpy-diff").wait_for(timeout=T)
    expect(editor.locator(".ionpy-diff")).to_contain_text("+    location: bench 2")
    expect(editor.locator(".ionpy-python")).to_contain_text('await lab.update_device("DPS5005_1"')
    editor.locator(".ionpy-add-button", has_text="Save changes").click()
    editor.locator(".ionpy-done", has_text="DPS5005_1 updated (state: online)").wait_for(timeout=T)
    shot(editor, "e2-edit-saved")


def test_a_failing_probe_shows_its_hint(page, lab_server):
    wizard, pty = setup(page, lab_server, "wizard_fail")
    choose_dps_and_port(page, wizard, pty)
    wizard.locator(".ionpy-advanced summary").click()
    slave = wizard.locator('input[data-param="slave_id"]')
    slave.fill("7")
    shot(wizard, "f1-wrong-slave")
    wizard.locator(".ionpy-next").click()
    bad = wizard.locator(".ionpy-probe-step.ionpy-bad")
    bad.wait_for(timeout=T)
    expect(bad).to_contain_text("Identify")
    expect(bad.locator(".ionpy-probe-hint")).to_contain_text("slave_id: 1")
    assert wizard.locator(".ionpy-next").is_disabled()
    expect(wizard.locator("button", has_text="Try 19200 baud")).to_have_count(1)
    shot(wizard, "f2-probe-failed-slave")
    # the probe found the instrument with slave id 1: one click applies it and probes again
    wizard.locator("button", has_text="Use slave_id 1 and retry").click()
    wizard.locator(".ionpy-probe-status.ionpy-msg-ok").wait_for(timeout=T)
    expect(wizard.locator(".ionpy-probe-step.ionpy-bad")).to_have_count(0)
    shot(wizard, "f2b-probe-fixed")
    # Escape goes back; a port that does not exist fails at "Open transport" with its hint
    wizard.locator(".ionpy-probe-status").press("Escape")
    port = wizard.locator(".ionpy-input-port")
    port.wait_for(timeout=T)
    port.fill("/dev/ionpy-no-such-port")
    port.press("Tab")
    wizard.locator(".ionpy-ports tbody tr", has_text="ionpy-no-such-port").locator("text=missing").wait_for(timeout=T)
    shot(wizard, "f3-missing-port")
    port.press("Enter")  # Enter = next from a text field
    bad = wizard.locator(".ionpy-probe-step.ionpy-bad")
    bad.wait_for(timeout=T)
    expect(bad).to_contain_text("Open transport")
    expect(bad).to_contain_text("does not exist")
    shot(wizard, "f4-probe-failed-port")
    # skip: the offline device can still be configured
    wizard.locator("button", has_text="Skip").click()
    wizard.locator(".ionpy-diff").wait_for(timeout=T)
    expect(wizard.locator('.ionpy-summary-list dd[data-key="test"]')).to_contain_text("skipped")
    shot(wizard, "f5-confirm-offline")
    wizard.locator(".ionpy-add-button").click()
    done = wizard.locator(".ionpy-done")
    done.wait_for(timeout=T)
    assert "DPS5005_1 added (state:" in done.inner_text() and wizard.locator(".ionpy-back").is_disabled()
    shot(wizard, "f6-added-offline")


def focused(page) -> dict:
    return page.evaluate("() => { const e = document.activeElement; return {tag: e.tagName, name: e.dataset.name || '',"
                         " cls: e.className || '', text: (e.textContent || '').trim().slice(0, 40)}; }")


def test_the_wizard_works_from_the_keyboard(page, lab_server):
    wizard, pty = setup(page, lab_server, "wizard_keys")
    first = wizard.locator('.ionpy-tile[data-name="DPS5005"]')
    first.wait_for(timeout=T)
    first.focus()
    page.keyboard.press("ArrowRight")
    assert focused(page)["name"] == "SCPI_PSU"
    page.keyboard.press("ArrowLeft")
    assert focused(page)["name"] == "DPS5005"
    shot(wizard, "k1-tile-focus")
    page.keyboard.press("Enter")  # picks the tile and moves on
    id_input = wizard.locator(".ionpy-input-id")
    id_input.wait_for(timeout=T)
    assert "ionpy-input-id" in focused(page)["cls"]
    page.keyboard.press("Escape")  # back to the catalogue, the choice kept
    wizard.locator('.ionpy-tile[aria-selected="true"][data-name="DPS5005"]').wait_for(timeout=T)
    assert focused(page)["name"] == "DPS5005"
    page.keyboard.press("Enter")
    id_input.wait_for(timeout=T)
    wizard.locator(".ionpy-msg-ok", has_text="available").wait_for(timeout=T)
    page.keyboard.press("Tab")  # id -> alias: the tab order follows the form
    assert "ionpy-input" in focused(page)["cls"] and focused(page)["tag"] == "INPUT"
    page.keyboard.press("Enter")
    port = wizard.locator(".ionpy-input-port")
    port.wait_for(timeout=T)
    assert "ionpy-input-port" in focused(page)["cls"]
    page.keyboard.type(pty)
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Refresh"
    row = wizard.locator(".ionpy-ports tbody tr", has_text=pty)
    row.wait_for(timeout=T)
    row.focus()
    shot(wizard, "k2-row-focus")
    page.keyboard.press("Enter")  # picks the row and moves on to the test
    wizard.locator(".ionpy-probe-status.ionpy-msg-ok").wait_for(timeout=T)
    page.keyboard.press("Enter")
    wizard.locator(".ionpy-diff").wait_for(timeout=T)
    page.keyboard.press("Enter")  # Enter on the last step adds the device
    wizard.locator(".ionpy-done", has_text="DPS5005_1 added and online").wait_for(timeout=T)
    shot(wizard, "k3-added")
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=T)
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=T)  # the theme switch overlay
    expect(wizard.locator(".ionpy-stepbar-link")).to_have_count(0)  # once added, no way back into the steps
    shot(wizard, "k4-dark-added")
    wizard.locator(".ionpy-add-another").click()
    wizard.locator(".ionpy-tile").first.wait_for(timeout=T)
    shot(wizard, "k5-dark-catalogue")


DISCOVERY_SETUP = """
import ionpy_widgets as ion
from ionpy_widgets.instruments.scpi_psu.sim import ScpiPsuSimulator
from ionpy_widgets.instruments.simhost import TcpServer

scpi = await TcpServer(ScpiPsuSimulator()).start()
print("SCPI", scpi.port)
lab = await ion.Lab.start("discovery.yaml")
panel = lab.discovery()
panel
"""


def test_discovery_panel_opens_the_wizard_prefilled(page, lab_server):
    write_notebook(lab_server.root_dir / "discovery.ipynb", DISCOVERY_SETUP)
    open_notebook(page, lab_server, "discovery.ipynb")
    run_all(page)
    panel = page.locator(".ionpy-discovery")
    panel.wait_for(timeout=60_000)
    out = page.locator(".jp-OutputArea-output", has_text="SCPI ")
    port = re.search(r"SCPI (\d+)", out.inner_text()).group(1)
    panel.locator(".ionpy-discovery-serial tbody tr").first.wait_for(timeout=T)
    shot(panel, "d1-serial")
    panel.locator(".ionpy-tab", has_text="VISA").click()
    panel.locator("text=Local buses only").wait_for(timeout=T)
    panel.locator("button", has_text="Include network").click()
    warning = panel.locator(".ionpy-banner-warn")
    expect(warning).to_contain_text("broadcasts")
    shot(panel, "d2-visa-warning")
    warning.locator("button", has_text="Cancel").click()  # never broadcast in a test
    panel.locator(".ionpy-tab", has_text="Network").click()
    panel.locator("input[placeholder^='192.168']").fill("127.0.0.1")
    panel.locator(".ionpy-input-ports").fill(port)
    panel.locator("button", has_text="Scan").first.click()
    row = panel.locator(".ionpy-scan-table tbody tr", has_text=f"127.0.0.1:{port}")
    row.wait_for(timeout=T)
    panel.locator(".ionpy-progress-text", has_text="done").wait_for(timeout=T)
    shot(panel, "d3-network-scan")
    row.click()
    wizard = page.locator(".ionpy-wizard")
    wizard.wait_for(timeout=T)
    expect(wizard).to_contain_text("Connection from discovery")
    shot(wizard, "d4-wizard-prefilled")
    wizard.locator('.ionpy-tile[data-name="SCPI_PSU"]').click()
    wizard.locator(".ionpy-next").click()
    wizard.locator(".ionpy-msg-ok", has_text="available").wait_for(timeout=T)
    assert wizard.locator(".ionpy-input-id").input_value() == "SCPI_PSU_1"
    wizard.locator(".ionpy-next").click()
    host = wizard.locator("input.ionpy-input-host")
    host.wait_for(timeout=T)
    assert host.input_value() == "127.0.0.1"
    wizard.locator("button", has_text="Test connection").click()
    wizard.locator(".ionpy-latency .ionpy-msg-ok", has_text="open").wait_for(timeout=T)
    shot(wizard, "d5-tcp")
    wizard.locator(".ionpy-tab", has_text="VISA").click()  # the driver's other blueprint
    wizard.locator("button", has_text="List local resources").click()
    wizard.locator(".ionpy-visa tbody tr").first.wait_for(timeout=T)
    shot(wizard, "d5b-visa")
    wizard.locator(".ionpy-tab", has_text="TCP").click()  # typed params come back with the tab
    assert wizard.locator("input.ionpy-input-host").input_value() == "127.0.0.1"
    wizard.locator(".ionpy-next").click()
    wizard.locator(".ionpy-probe-status.ionpy-msg-ok").wait_for(timeout=T)
    shot(wizard, "d6-probe")
