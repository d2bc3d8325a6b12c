"""The device manager and a control panel in a real JupyterLab, driven like a person would.

One notebook: simulators (a DPS5005 on a pty, a SCPI supply on 127.0.0.1, a virtual battery), the
device manager, the DPS's control panel, a device added from a later cell and a cell that blocks
the kernel. Then, in the browser: every device online, a setpoint set and read back, an out-of-range
value refused inline with its hint, the output switch asking for confirmation (Escape cancels, Enter
confirms), the emergency stop, and delete behind its dialog.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import SHOTS, open_notebook, run_all, write_notebook

pytestmark = pytest.mark.e2e

SETUP = """
import asyncio, time
import ionpy_widgets as ion
from ionpy_widgets.instruments.rdtech_dps.sim import DpsSimulator
from ionpy_widgets.instruments.scpi_psu.sim import ScpiPsuSimulator
from ionpy_widgets.instruments.simhost import PtyServer, TcpServer

dps_sim = await PtyServer(DpsSimulator("DPS5005", load_ohms=10.0)).start()
psu_sim = await TcpServer(ScpiPsuSimulator("DP832"), "127.0.0.1", 0).start()
lab = await ion.Lab.start({"devices": [
    {"id": "DPS5005_1", "driver": "DPS5005", "poll_interval": 0.2,
     "transport": {"type": "serial", "params": {"port": dps_sim.path, "baudrate": 9600}},
     "framing": {"type": "modbus_rtu", "params": {"slave_id": 1}}},
    {"id": "PSU_1", "driver": "SCPI_PSU", "poll_interval": 0.2,
     "transport": {"type": "tcp", "params": {"host": "127.0.0.1", "port": psu_sim.port}},
     "framing": {"type": "delimiter", "params": {}}},
    {"id": "BATTERY", "driver": "V01_Battery", "options": {"soc": 15}},
]})
await lab.wait_online()
"""
PANEL = "lab.devices_panel()"
CONTROL = 'lab.control("DPS5005_1")'
BATTERY = 'lab.control("BATTERY")'
ADD_LATER = 'await lab.add_device({"id": "EXTRA", "driver": "V01_Battery"})'
BLOCK = "time.sleep(1.5)  # blocks the kernel: polling pauses"

DEVICES = ".ionpy-devices"
CONTROLS = ".ionpy-controls[data-device='DPS5005_1']"


def wait_dom(page, selector: str, prop: str, expected: str, timeout: float = 10_000) -> None:
    """Wait until the element's text (``prop="text"``) or attribute ``prop`` equals ``expected``."""
    page.wait_for_function(
        """([sel, prop, want]) => {
            const el = document.querySelector(sel);
            return !!el && (prop === "text" ? el.textContent : el.getAttribute(prop)) === want;
        }""", arg=[selector, prop, expected], timeout=timeout)


def row(page, device: str):
    return page.locator(f"{DEVICES} tr[data-device='{device}']:not(.ionpy-detail-row)")


def test_device_manager_and_control_panel(page, lab_server):
    write_notebook(lab_server.root_dir / "devices.ipynb", SETUP, PANEL, CONTROL, BATTERY, ADD_LATER, BLOCK)
    open_notebook(page, lab_server, "devices.ipynb")
    run_all(page)

    # every device online, including the one added by a later cell (no re-run of the panel cell)
    for device in ("DPS5005_1", "PSU_1", "BATTERY", "EXTRA"):
        row(page, device).locator(".ionpy-badge[data-state='online']").wait_for(timeout=60_000)
    expect(row(page, "PSU_1")).to_contain_text("RIGOL")
    expect(row(page, "PSU_1")).to_contain_text("DP832")
    expect(row(page, "DPS5005_1")).to_contain_text("modbus_rtu slave 1")

    # the blocking cell shows up afterwards as a banner in both widgets
    banner = page.locator(f"{DEVICES} .ionpy-health-warning")
    banner.wait_for(timeout=30_000)
    assert re.search(r"Polling was paused for 1\.\d s at \d\d:\d\d:\d\d \(a cell blocked the kernel\)",
                     banner.inner_text())
    page.locator(f"{CONTROLS} .ionpy-health-warning").wait_for(timeout=10_000)
    page.locator(DEVICES).screenshot(path=str(SHOTS / "devices-manager.png"))

    # a setpoint goes to the instrument and comes back in the next push
    u_set = page.locator(f"{CONTROLS} .ionpy-setpoint[data-key='u_set']")
    u_set.locator("input").fill("7.5")
    u_set.get_by_role("button", name="Set Voltage setpoint").click()
    wait_dom(page, f"{CONTROLS} .ionpy-setpoint[data-key='u_set'] .ionpy-now .ionpy-value", "text", "7.50")

    # out of range: refused before anything is sent, shown inline with its hint
    u_set.locator("input").fill("99")
    u_set.locator("input").press("Enter")
    error = u_set.locator(".ionpy-row-error .ionpy-error")
    error.wait_for(timeout=10_000)
    expect(error).to_have_attribute("data-code", "value_out_of_limits")
    expect(error).to_contain_text("Choose a value between 0 and 50 V")
    page.locator(CONTROLS).screenshot(path=str(SHOTS / "controls-panel.png"))

    # switching the output on asks first: Escape cancels, Enter confirms
    switch = page.locator(f"{CONTROLS} .ionpy-switch-row[data-key='output'] [role=switch]")
    switch.click()
    dialog = page.locator(f"{CONTROLS} [role=dialog]")
    dialog.wait_for()
    expect(dialog).to_contain_text("Switch Output on?")
    dialog.screenshot(path=str(SHOTS / "controls-confirm-dialog.png"))
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    expect(switch).to_have_attribute("aria-checked", "false")
    switch.click()
    dialog.wait_for()
    page.keyboard.press("Enter")
    wait_dom(page, f"{CONTROLS} .ionpy-switch-row[data-key='output'] [role=switch]", "aria-checked", "true")
    u_out = page.locator(f"{CONTROLS} .ionpy-reading[data-key='u_out'] .ionpy-value")
    wait_dom(page, f"{CONTROLS} .ionpy-reading[data-key='u_out'] .ionpy-value", "text", "7.50")
    expect(u_out).to_have_text("7.50")
    assert page.locator(f"{CONTROLS} .ionpy-switch-row[data-key='output'] .ionpy-row-error").is_hidden()
    page.locator(CONTROLS).screenshot(path=str(SHOTS / "controls-output-on.png"))

    # alarm limits from the entity table colour the reading: 15 % state of charge is below LO (20 %)
    battery = page.locator(".ionpy-controls[data-device='BATTERY']")
    battery.locator(".ionpy-reading[data-key='soc'].ionpy-alarm-lo").wait_for(timeout=10_000)
    expect(battery.locator(".ionpy-alarm-lo, .ionpy-alarm-lolo, .ionpy-alarm-hi, .ionpy-alarm-hihi")).to_have_count(1)
    battery.screenshot(path=str(SHOTS / "controls-battery-alarm.png"))

    # the emergency stop switches every output off
    page.locator(f"{CONTROLS} .ionpy-estop").click()
    wait_dom(page, f"{CONTROLS} .ionpy-switch-row[data-key='output'] [role=switch]", "aria-checked", "false")
    expect(page.locator(f"{CONTROLS} .ionpy-estop-notice")).to_contain_text("DPS5005_1 (output)")

    # delete asks first; Escape keeps the device, the dialog's Delete removes it
    delete = row(page, "EXTRA").get_by_role("button", name="Delete EXTRA")
    delete.click()
    dialog = page.locator(f"{DEVICES} [role=dialog]")
    dialog.wait_for()
    dialog.screenshot(path=str(SHOTS / "devices-delete-dialog.png"))
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    expect(row(page, "EXTRA")).to_have_count(1)
    delete.click()
    dialog.get_by_role("button", name="Delete").click()
    row(page, "EXTRA").wait_for(state="detached", timeout=10_000)
    expect(page.locator(f"{DEVICES} .ionpy-summary")).to_contain_text("3 devices · 3 online")

    # edit without a wizard: the error (with its hint) shows under the row
    row(page, "BATTERY").get_by_role("button", name="Edit BATTERY").click()
    notice = page.locator(f"{DEVICES} tr.ionpy-detail-row[data-device='BATTERY'] .ionpy-error")
    notice.wait_for(timeout=10_000)
    expect(notice).to_have_attribute("data-code", "wizard_unavailable")
    page.locator(DEVICES).screenshot(path=str(SHOTS / "devices-after-delete.png"))

    # disable and enable again through the engine (lab.set_enabled)
    battery_row = row(page, "BATTERY")
    battery_row.get_by_role("button", name="Disable BATTERY").click()
    battery_row.locator(".ionpy-badge[data-state='disabled']").wait_for(timeout=10_000)
    page.locator(".ionpy-controls[data-device='BATTERY'] .ionpy-badge[data-state='disabled']").wait_for(timeout=10_000)
    page.locator(DEVICES).screenshot(path=str(SHOTS / "devices-disabled.png"))
    battery_row.get_by_role("button", name="Enable BATTERY").click()
    battery_row.locator(".ionpy-badge[data-state='online']").wait_for(timeout=10_000)
