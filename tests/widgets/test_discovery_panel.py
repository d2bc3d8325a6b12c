"""The discovery panel: tabs backed by the real scanners (ptys for serial, loopback sockets for the
network scan, pyvisa-sim for VISA), in-use marks from a running lab, and a row opening the wizard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import ipywidgets
import pytest
from widget_helpers import FAST, call

from ionpy_widgets.engine.lab import Lab
from ionpy_widgets.errors import ConfigValidationError
from ionpy_widgets.instruments.rdtech_dps.sim import DpsSimulator
from ionpy_widgets.instruments.scpi_psu.sim import ScpiPsuSimulator
from ionpy_widgets.instruments.simhost import PtyServer, TcpServer
from ionpy_widgets.widgets.discovery_panel import DiscoveryBox, DiscoveryPanel, discovery_panel, prefill_for
from ionpy_widgets.widgets.wizard import DeviceWizard

VISA_YAML = Path(__file__).parents[1] / "discovery" / "visa_discovery.yaml"


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with Lab.start({"devices": []}, settings=FAST) as lab:
        yield lab


@pytest.fixture
def closing() -> Iterator[list[Any]]:
    made: list[Any] = []
    yield made
    for w in made:
        w.close()


# --- prefill per row -----------------------------------------------------------------------------
def test_prefill_for_every_tab() -> None:
    hint = [{"driver": "DPS5005", "confidence": 0.7, "installed": True}]
    serial = prefill_for("serial", {"device": "/dev/ttyUSB0", "by_id": "/dev/serial/by-id/usb-1a86", "hints": hint})
    assert serial == {"transport": {"type": "serial", "params": {"port": "/dev/serial/by-id/usb-1a86"}},
                      "driver": "DPS5005"}
    assert prefill_for("serial", {"device": "/dev/pts/3", "by_id": "", "hints": []}) == {
        "transport": {"type": "serial", "params": {"port": "/dev/pts/3"}}}
    usb_tty = prefill_for("usb", {"nodes": ["/dev/ttyUSB1"], "vid": 0x1A86, "pid": 0x7523, "hints": []})
    assert usb_tty["transport"] == {"type": "serial", "params": {"port": "/dev/ttyUSB1"}}
    usbtmc = prefill_for("usb", {"nodes": [], "visa_resource": "USB0::0x1AB1::0x0E11::X::INSTR", "hints": []})
    assert usbtmc["transport"] == {"type": "visa", "params": {"resource": "USB0::0x1AB1::0x0E11::X::INSTR"}}
    hid = prefill_for("hid", {"path": "/dev/hidraw0", "vid": 0x10C4, "pid": 0xEA80, "serial_number": "0001",
                              "hints": [{"driver": "UT61E", "installed": False}]})
    assert hid == {"transport": {"type": "hid", "params": {"vendor_id": 0x10C4, "product_id": 0xEA80,
                                                           "serial": "0001"}}}  # no driver: not installed
    net = prefill_for("network", {"host": "127.0.0.1", "port": 5025, "hints": [
        {"driver": "SCPI_PSU", "installed": True}]})
    assert net == {"transport": {"type": "tcp", "params": {"host": "127.0.0.1", "port": 5025}}, "driver": "SCPI_PSU"}
    visa = prefill_for("visa", {"resource": "TCPIP0::127.0.0.2::inst0::INSTR", "hints": []})
    assert visa["transport"]["type"] == "visa"
    with pytest.raises(ConfigValidationError) as exc:
        prefill_for("bluetooth", {})
    assert "serial" in exc.value.hint


# --- tabs ----------------------------------------------------------------------------------------
async def test_serial_tab_lists_ptys_with_in_use_marks(lab: Lab, sent: list, closing: list) -> None:
    async with PtyServer(DpsSimulator()) as held, PtyServer(DpsSimulator()) as free:
        await lab.add_device({"id": "PSU", "driver": "DPS5005", "transport": {"type": "serial",
                                                                              "params": {"port": held.path}}})
        panel = DiscoveryPanel(lab, extra_ports=[free.path])
        closing.append(panel)
        assert panel.buses == ["serial", "usb", "hid", "network", "visa"]
        reply, _ = await call(panel, sent, "list", {"bus": "serial"})
        items = {i["device"]: i for i in reply["result"]["items"]}
        assert items[held.path]["in_use_by"] == "PSU"  # listed although only the lab knows it
        assert items[free.path]["in_use_by"] == "" and items[free.path]["exists"]
        await lab.remove_device("PSU")  # let go of the pty before it closes


async def test_usb_and_hid_tabs_answer_even_without_devices(lab: Lab, sent: list, closing: list) -> None:
    panel = DiscoveryPanel(lab)
    closing.append(panel)
    for bus in ("usb", "hid"):
        reply, _ = await call(panel, sent, "list", {"bus": bus})
        assert reply["ok"], reply
        data = reply["result"]
        assert data["bus"] == bus and isinstance(data["items"], list)
        assert data["error"] is None or data["error"]["hint"]  # a missing library is an error with a hint


async def test_visa_tab_uses_pyvisa_sim_and_never_broadcasts(lab: Lab, sent: list, closing: list,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import pyvisa

    from ionpy_widgets.discovery import visa

    def forbidden(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("pyvisa-py's list_resources broadcasts: it must not be called without network=True")

    monkeypatch.setattr(visa, "_open_rm", lambda spec: forbidden())  # no "@py" manager may be opened
    rm = pyvisa.ResourceManager(f"{VISA_YAML}@sim")
    try:
        panel = DiscoveryPanel(lab, visa_resource_manager=rm)
        closing.append(panel)
        reply, _ = await call(panel, sent, "list", {"bus": "visa", "idn_timeout_ms": 300})
        models = {(i["idn"] or {}).get("model") for i in reply["result"]["items"]}
        assert {"DP832", "E36312A"} <= models
        local = DiscoveryPanel(lab)  # no resource manager: local buses only, nothing opened
        closing.append(local)
        reply, _ = await call(local, sent, "list", {"bus": "visa"})
        assert reply["ok"] and "Local buses only" in reply["result"]["note"]
    finally:
        rm.close()


async def test_unknown_tab_is_an_error_reply(lab: Lab, sent: list, closing: list) -> None:
    panel = DiscoveryPanel(lab)
    closing.append(panel)
    reply, _ = await call(panel, sent, "list", {"bus": "bluetooth"})
    assert not reply["ok"] and reply["error"]["code"] == "config_invalid" and "serial" in reply["error"]["hint"]


async def test_network_scan_streams_progress_and_can_be_cancelled(lab: Lab, sent: list, closing: list,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    async with TcpServer(ScpiPsuSimulator(), host="127.0.0.1") as server:
        panel = DiscoveryPanel(lab)
        closing.append(panel)
        reply, items = await call(panel, sent, "scan", {"targets": "127.0.0.1", "ports": [server.port]})
        assert reply["result"]["scan"]["state"] == "done"
        assert next(i for i in items if i["kind"] == "found")["result"]["port"] == server.port
        latency, _ = await call(panel, sent, "latency", {"host": "127.0.0.1", "port": server.port})
        assert latency["result"]["state"] == "open"
    # cancel: the browser sends cancel_scan with the id from the "started" item
    started: list[dict[str, Any]] = []
    seen = asyncio.Event()
    recorder = ipywidgets.Widget._send

    def record(self: ipywidgets.Widget, msg: dict[str, Any], buffers: Any = None) -> None:
        recorder(self, msg, buffers)
        item = msg.get("content", {}).get("item") or {}
        if item.get("kind") == "started":
            started.append(item)
            seen.set()

    monkeypatch.setattr(ipywidgets.Widget, "_send", record)
    task = panel.router.handle({"type": "request", "id": "big", "kind": "scan", "timeout": 15_000,
                                "payload": {"targets": "127.0.0.1-127.0.0.254", "ports": [9, 10, 11]}})
    await asyncio.wait_for(seen.wait(), 2)
    cancel, _ = await call(panel, sent, "cancel_scan", {"scan_id": started[0]["scan"]["id"]})
    assert cancel["ok"]
    await task
    final = next(m for m in sent if m.get("id") == "big" and m["type"] == "reply")
    assert final["ok"] and final["result"]["scan"]["state"] == "cancelled"
    assert final["result"]["scan"]["done"] < final["result"]["scan"]["total"]
    unknown, _ = await call(panel, sent, "cancel_scan", {"scan_id": "scan-99"})
    assert not unknown["ok"] and "scan-" in unknown["error"]["hint"]


# --- a row opens the wizard --------------------------------------------------------------------------
async def test_open_calls_back_with_the_prefill_and_emits_an_event(lab: Lab, sent: list, closing: list) -> None:
    opened: list[dict[str, Any]] = []
    panel = discovery_panel(lab, on_open=opened.append)
    assert isinstance(panel, DiscoveryPanel)
    closing.append(panel)
    row = {"host": "127.0.0.1", "port": 5025, "hints": [{"driver": "SCPI_PSU", "installed": True}]}
    reply, _ = await call(panel, sent, "open", {"bus": "network", "item": row})
    prefill = {"transport": {"type": "tcp", "params": {"host": "127.0.0.1", "port": 5025}}, "driver": "SCPI_PSU"}
    assert reply["result"] == {"prefill": prefill} and opened == [prefill]
    assert panel.opened == {"bus": "network", "prefill": prefill}
    assert {"type": "event", "kind": "opened", "data": {"bus": "network", "prefill": prefill}} in sent


async def test_without_a_callback_the_wizard_opens_under_the_panel(lab: Lab, sent: list, closing: list) -> None:
    async with PtyServer(DpsSimulator()) as server:
        box = discovery_panel(lab, extra_ports=[server.path])
        assert isinstance(box, DiscoveryBox)
        closing.append(box)
        row = {"device": server.path, "by_id": "", "hints": [{"driver": "DPS5005", "installed": True}]}
        await call(box.panel, sent, "open", {"bus": "serial", "item": row})
        (wiz,) = box.slot.children
        assert isinstance(wiz, DeviceWizard) and wiz is box.wizard
        assert wiz.step == 1 and wiz.draft["id"] == "DPS5005_1"
        assert wiz.draft["transport"]["params"] == {"baudrate": 9600, "port": server.path}
        assert server.path in wiz.service.extra_ports
        first = wiz
        await call(box.panel, sent, "open", {"bus": "serial", "item": row})
        assert box.wizard is not first and box.slot.children == (box.wizard,)
        await asyncio.sleep(0)
