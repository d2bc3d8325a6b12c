"""notebooks/quickstart.ipynb in a real JupyterLab: run all, then the dashboard shows the simulated
bench online, the supply's output (switched on from code) and its values in the control panel,
the recorded run's journal, and the live chart draws its lines. Also screenshots the dashboard in the dark theme."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import SHOTS, open_notebook, run_all

pytestmark = pytest.mark.e2e

DEVICES = ".ionpy-devices"
T = 30_000


def test_quickstart_runs_and_shows_the_bench(page, lab_server):
    page.set_viewport_size({"width": 1400, "height": 2600})  # the whole dashboard on screen for its screenshots
    open_notebook(page, lab_server, "notebooks/quickstart.ipynb")
    run_all(page)

    for device in ("DPS5005_1", "PSU_1", "BATTERY"):
        page.locator(f"{DEVICES} tr[data-device='{device}'] .ionpy-badge[data-state='online']").wait_for(
            timeout=60_000)
    # the last cell switched the output on from code and printed the values following it
    page.locator(".jp-OutputArea-output >> text=/u_out = +5.00 V +i_out = 0.500 A/").first.wait_for(timeout=60_000)
    # the run cell stepped u_set 1 -> 5 V inside lab.run(): its journal lists the five writes made from code
    page.locator(".jp-OutputArea-output >> text=/\\d+ samples and 5 writes in .*runs\\.sqlite/").wait_for(
        timeout=60_000)
    journal = page.locator(".jp-OutputArea-output table.dataframe").last
    expect(journal.locator("tbody tr")).to_have_count(5)
    assert [c.strip() for c in journal.locator("tbody tr td:nth-of-type(4)").all_inner_texts()] == [
        "1.0", "2.0", "3.0", "4.0", "5.0"]
    assert set(journal.locator("tbody tr td:nth-of-type(6)").all_inner_texts()) == {"code"}
    # ... each with the cell that made it: this cell's own In [N] prompt (JupyterLab sends the cell id)
    prompt = page.locator(".jp-CodeCell", has=journal).locator(".jp-InputPrompt").inner_text()  # "[6]:"
    assert set(journal.locator("tbody tr td:nth-of-type(7)").all_inner_texts()) == {f"In {prompt.rstrip(':')}"}
    panel = page.locator(".ionpy-controls").first  # the first tab: DPS5005_1
    page.wait_for_function(
        """() => {
            const p = document.querySelector(".ionpy-controls");
            return p?.querySelector(".ionpy-switch-row[data-key='output'] [role=switch]")
                      ?.getAttribute("aria-checked") === "true"
                && p?.querySelector(".ionpy-reading[data-key='u_out'] .ionpy-value")?.textContent === "5.00"
                && p?.querySelector(".ionpy-reading[data-key='i_out'] .ionpy-value")?.textContent === "0.500";
        }""", timeout=20_000)
    expect(panel).to_contain_text("DPS5005_1")
    # the chart: one line per series (u_out/i_out of both supplies), drawn
    page.locator(".bqplot g.curve path.line").nth(3).wait_for(state="attached", timeout=30_000)
    tabs = page.locator(".ionpy-dashboard .lm-TabBar-tab")
    assert [t.strip() for t in tabs.all_inner_texts()] == ["DPS5005_1", "PSU_1", "BATTERY"]

    dashboard = page.locator(".ionpy-dashboard")
    dashboard.scroll_into_view_if_needed()
    dashboard.screenshot(path=str(SHOTS / "quickstart-dashboard.png"))

    # set u_set in the control panel: u_out follows in the panel and on the chart's first line
    # curve 0 is the chart's invisible x-range pin; curve 1 is the first series, DPS5005_1.u_out
    last_y = """() => {
        const d = document.querySelectorAll(".bqplot g.curve path.line")[1]?.getAttribute("d") || "";
        const nums = d.match(/-?[0-9.]+(e-?[0-9]+)?/g) || [];
        return nums.length >= 2 ? parseFloat(nums[nums.length - 1]) : NaN;
    }"""
    before = page.evaluate(last_y)
    dps = page.locator(".ionpy-dashboard .ionpy-controls >> visible=true")
    u_set = dps.locator(".ionpy-setpoint[data-key='u_set']")
    u_set.locator("input").fill("2.5")
    u_set.locator("input").press("Enter")
    page.wait_for_function(
        """() => document.querySelector(".ionpy-controls .ionpy-reading[data-key='u_out'] .ionpy-value")
                 ?.textContent === "2.50" """, timeout=20_000)
    # 2.5 V sits lower on the V axis than 5 V: the line's newest point moves down (larger pixel y)
    page.wait_for_function(f"() => ({last_y})() > {before} + 5", timeout=20_000)
    dashboard.screenshot(path=str(SHOTS / "quickstart-u_set-followed.png"))
    tabs.nth(1).click()
    psu = page.locator(".ionpy-dashboard .ionpy-controls >> visible=true")
    psu.locator(".ionpy-channel-card").nth(2).wait_for()
    expect(psu.locator(".ionpy-panel-title")).to_contain_text("RIGOL")
    psu.screenshot(path=str(SHOTS / "quickstart-controls-psu.png"))
    tabs.nth(2).click()
    battery = page.locator(".ionpy-dashboard .ionpy-controls >> visible=true")
    battery.locator(".ionpy-reading[data-key='soc']").wait_for()
    battery.screenshot(path=str(SHOTS / "quickstart-controls-battery.png"))

    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=20_000)
    tabs.nth(0).click()
    dashboard.screenshot(path=str(SHOTS / "quickstart-dashboard-dark.png"))


def test_quickstart_wizard_adds_a_supply_that_is_then_controlled_and_charted(page, lab_server):
    # the journey in one notebook: the quickstart, a simulated DPS5005 added on a pty through the
    # wizard, the device manager listing it, u_set set in its control panel and u_out following in its chart
    page.set_viewport_size({"width": 1400, "height": 2600})
    open_notebook(page, lab_server, "notebooks/quickstart.ipynb")
    run_all(page)
    out = page.locator(".jp-OutputArea-output", has_text="A DPS5015 is waiting on /dev/")
    out.wait_for(timeout=90_000)
    pty = re.search(r"waiting on (\S+)", out.inner_text()).group(1)
    hint = page.locator(".jp-OutputArea-output", has_text="Add DPS5005_2 with the wizard above first")
    hint.wait_for(timeout=30_000)  # run-all reached the last cell, which says what to do first

    wizard = page.locator(".ionpy-wizard")
    wizard.scroll_into_view_if_needed()
    wizard.locator('.ionpy-tile[data-name="DPS5005"]').click()
    wizard.locator(".ionpy-next").click()
    id_input = wizard.locator(".ionpy-input-id")
    expect(id_input).to_have_value("DPS5005_2", timeout=T)  # DPS5005_1 is taken: the next free id
    wizard.locator(".ionpy-msg-ok", has_text="available").wait_for(timeout=T)
    id_input.press("Enter")
    port = wizard.locator(".ionpy-input-port")
    port.fill(pty)
    port.press("Tab")
    row = wizard.locator(".ionpy-ports tbody tr", has_text=pty)
    expect(row).to_contain_text("free", timeout=T)
    row.click()
    wizard.locator(".ionpy-next").click()
    wizard.locator(".ionpy-probe-status.ionpy-msg-ok").wait_for(timeout=T)
    expect(wizard.locator(".ionpy-probe-step.ionpy-ok")).to_have_count(5)
    wizard.locator(".ionpy-next").click()
    wizard.locator(".ionpy-add-button").click()
    expect(wizard.locator(".ionpy-done")).to_contain_text("DPS5005_2 added and online", timeout=T)
    wizard.screenshot(path=str(SHOTS / "quickstart-wizard-added.png"))

    # the dashboard's device manager lists it, online, without re-running anything
    page.locator(f"{DEVICES} tr[data-device='DPS5005_2'] .ionpy-badge[data-state='online']").wait_for(timeout=T)
    expect(page.locator(f"{DEVICES} tr[data-device='DPS5005_2']:not(.ionpy-detail-row)")).to_contain_text("DPS5015")
    # ... and the dashboard's control panels gained a tab for it
    expect(page.locator(".ionpy-dashboard .lm-TabBar-tab", has_text="DPS5005_2")).to_have_count(1)

    # the next cell, run again, now shows its control panel and its chart
    cell = page.locator(".jp-CodeCell", has_text='if "DPS5005_2" in lab')  # its source, not its output
    cell.locator(".jp-InputArea-prompt").click()
    page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:run-cell'); }")
    panel = cell.locator(".ionpy-controls[data-device='DPS5005_2']")
    panel.wait_for(timeout=T)
    output = panel.locator(".ionpy-switch-row[data-key='output'] [role=switch]")
    expect(output).to_have_attribute("aria-checked", "false")  # a device added live starts with its output off
    u_set = panel.locator(".ionpy-setpoint[data-key='u_set']")
    u_set.locator("input").fill("4.2")
    u_set.locator("input").press("Enter")
    output.click()
    dialog = panel.locator("[role=dialog]")  # switching an output on is confirmed first
    expect(dialog).to_contain_text("Switch Output on?")
    page.keyboard.press("Enter")
    expect(output).to_have_attribute("aria-checked", "true", timeout=T)
    reading = panel.locator(".ionpy-reading[data-key='u_out'] .ionpy-value")
    expect(reading).to_have_text("4.20", timeout=T)
    # its chart: u_out's line (curve 1; curve 0 is the window pin) is drawn
    chart = cell.locator(".bqplot")
    chart.locator("g.curve path.line").nth(1).wait_for(state="attached", timeout=T)
    cell.scroll_into_view_if_needed()
    page.wait_for_function(
        """(root) => {
            const d = root.querySelectorAll("g.curve path.line")[1]?.getAttribute("d") || "";
            return (d.match(/L/g) || []).length >= 2;
        }""", arg=cell.element_handle(), timeout=T)
    cell.screenshot(path=str(SHOTS / "quickstart-wizard-device-charted.png"))
