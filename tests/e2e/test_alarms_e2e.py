"""Alarms in a real JupyterLab, driven like a person would.

One notebook: a DPS5005 simulator on a pty with alarms on its output voltage (HI 12.5 V, HIHI 13 V
with the safe-state action ``output_off``), the dashboard (alarm badge at the top) and the full
alarm panel. A cell raises U-SET over HI; in the browser the alarm appears in the panel, in the
badge and as the colour of the reading; it is acknowledged with a click in the panel. A later cell
(waiting for that acknowledgement) goes over HIHI: the engine switches the output off by itself,
the opted-in browser notification fires while the tab is in the background, and the cleared alarm
is acknowledged from the panel until the badge shows none.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import SHOTS, open_notebook, run_all, write_notebook

pytestmark = pytest.mark.e2e

SETUP = """
import asyncio
import ionpy_widgets as ion
from ionpy_widgets.instruments.rdtech_dps.sim import DpsSimulator
from ionpy_widgets.instruments.simhost import PtyServer

dps_sim = await PtyServer(DpsSimulator("DPS5005", load_ohms=100.0)).start()
lab = await ion.Lab.start({"devices": [
    {"id": "DPS5005_1", "driver": "DPS5005", "poll_interval": 0.2,
     "transport": {"type": "serial", "params": {"port": dps_sim.path, "baudrate": 9600}},
     "alarms": {"u_out": {"hi": 12.5, "hihi": 13.0, "deadband": 0.1, "on_delay": 0.5,
                          "actions": {"hihi": "output_off"}}},
     "limits": {"u_set": {"max": 14}}},
]})
await lab.wait_online()
psu = lab["DPS5005_1"]
await psu.write("u_set", 12.0)
await psu.write("output", True)
"""
BOARD = "lab.dashboard()"
PANEL = "lab.alarms()"
OVER_HI = 'await psu.write("u_set", 12.8)  # over HI: an alarm without an action'
OVER_HIHI = """
async def acknowledged(timeout=120):
    async with asyncio.timeout(timeout):
        while lab.alarm_state["DPS5005_1.u_out"]["state"] != "active_ack":
            await asyncio.sleep(0.05)

await acknowledged()                 # the browser acknowledges it first
await psu.write("u_set", 13.4)       # over HIHI: the engine switches the output off
"""

#: A stand-in for the browser's Notification API (recorded, permission asked on click) and a
#: controllable document.hidden, installed before JupyterLab loads.
INIT = """
window.__ionpyNotes = [];
window.__ionpyHidden = false;
Object.defineProperty(document, "hidden", { configurable: true, get: () => window.__ionpyHidden === true });
class FakeNotification {
  constructor(title, opts) { window.__ionpyNotes.push({ title, body: opts && opts.body }); }
  static requestPermission() { FakeNotification.permission = "granted"; return Promise.resolve("granted"); }
}
FakeNotification.permission = "default";
window.Notification = FakeNotification;
"""

FULL = ".ionpy-alarms:not(.ionpy-alarms-compact)"
BADGE_PANEL = ".ionpy-alarms.ionpy-alarms-compact"
CONTROLS = ".ionpy-controls[data-device='DPS5005_1']"


def alarm_row(page, state: str, level: str):
    return page.locator(f"{FULL} tr.ionpy-sev-row[data-device='DPS5005_1'][data-entity='u_out']"
                        f"[data-state='{state}'][data-level='{level}']")


def test_an_alarm_appears_in_the_panel_and_the_badge_and_is_acknowledged_there(page, lab_server):
    page.add_init_script(INIT)
    write_notebook(lab_server.root_dir / "alarms.ipynb", SETUP, BOARD, PANEL, OVER_HI, OVER_HIHI)
    open_notebook(page, lab_server, "alarms.ipynb")
    run_all(page)

    # HI is raised after its on-delay: the panel lists it, the badge counts it, the reading is coloured
    row = alarm_row(page, "active_unack", "hi")
    row.wait_for(timeout=90_000)
    expect(row).to_contain_text("12.8")
    expect(row).to_contain_text("Active · unacknowledged")
    badge = page.locator(f"{BADGE_PANEL} .ionpy-alarm-badge")
    page.locator(f"{BADGE_PANEL} .ionpy-alarm-badge[data-count='1'][data-severity='hi']").wait_for(timeout=10_000)
    expect(page.locator(f"{BADGE_PANEL} .ionpy-alarm-toggle")).to_have_attribute("aria-expanded", "true")  # opened
    expect(page.locator(f"{BADGE_PANEL} .ionpy-summary")).to_contain_text("1 unacknowledged")
    reading = page.locator(f"{CONTROLS} .ionpy-reading[data-key='u_out']")
    page.locator(f"{CONTROLS} .ionpy-reading[data-key='u_out'].ionpy-alarm-hi.ionpy-alarm-unack").wait_for(
        timeout=10_000)
    # text_content, not inner_text: the unacknowledged tag blinks and must be read whatever its phase
    assert reading.locator(".ionpy-alarm-tag").text_content() == "HI alarm"
    expect(reading).to_contain_text("HI alarm")  # blinking by opacity keeps the words in the rendered text
    page.locator(".ionpy-dashboard").first.screenshot(path=str(SHOTS / "alarms-dashboard-badge.png"))
    page.locator(FULL).screenshot(path=str(SHOTS / "alarms-panel-active.png"))

    # opt in to notifications with a click, then put the tab in the background
    page.locator(f"{FULL} [data-action='notify']").click()
    page.locator(f"{FULL} [data-action='notify']:has-text('Notifications on')").wait_for(timeout=5_000)
    assert page.evaluate("window.__ionpyNotes.length") == 0  # nothing before the opt-in, nothing while visible

    # acknowledge with a click in the panel: the state changes everywhere
    page.evaluate("window.__ionpyHidden = true")
    page.locator(FULL).get_by_role("button", name="Acknowledge DPS5005_1.u_out").click()
    alarm_row(page, "active_ack", "hi").wait_for(timeout=10_000)
    page.locator(f"{CONTROLS} .ionpy-reading[data-key='u_out'].ionpy-alarm-hi:not(.ionpy-alarm-unack)").wait_for(
        timeout=10_000)
    assert page.locator(f"{FULL} .ionpy-history-table tr[data-transition='acknowledge']").count() >= 1

    # the next cell goes over HIHI: the engine switches the output off by itself and the alarm clears
    cleared = alarm_row(page, "cleared_unack", "ok")
    cleared.wait_for(timeout=30_000)
    action = page.locator(f"{FULL} .ionpy-history-table tr[data-transition='action']")
    action.wait_for(timeout=10_000)
    expect(action).to_contain_text("outputs switched off")
    page.locator(f"{CONTROLS} .ionpy-switch-row[data-key='output'] [role=switch][aria-checked='false']").wait_for(
        timeout=10_000)
    notes = page.evaluate("window.__ionpyNotes")
    assert [n["title"] for n in notes] == ["HIHI · DPS5005_1.u_out"], notes
    assert "Output voltage HIHI" in notes[0]["body"]
    page.evaluate("window.__ionpyHidden = false")
    page.locator(FULL).screenshot(path=str(SHOTS / "alarms-panel-after-hihi.png"))

    # acknowledging the cleared alarm empties the list; the badge shows none
    page.locator(FULL).get_by_role("button", name="Acknowledge DPS5005_1.u_out").click()
    page.locator(f"{FULL} .ionpy-empty:has-text('No alarms.')").wait_for(timeout=10_000)
    page.locator(f"{BADGE_PANEL} .ionpy-alarm-badge[data-count='0'][data-severity='none']").wait_for(timeout=10_000)
    expect(badge).to_have_text("0")
    history = page.locator(f"{FULL} .ionpy-history-table tbody tr")
    transitions = [history.nth(i).get_attribute("data-transition") for i in range(history.count())]
    assert transitions[:5] == ["acknowledge", "clear", "action", "raise", "acknowledge"], transitions
    page.locator(FULL).screenshot(path=str(SHOTS / "alarms-panel-all-acknowledged.png"))
