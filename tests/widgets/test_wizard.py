"""The device wizard's Python side against real labs: DPS5005 simulators on real ptys, SCPI
simulators on loopback sockets, pyvisa-sim for VISA. Requests go through the widget's router
exactly as the browser sends them; custom messages are recorded instead of sent."""

from __future__ import annotations

import ast
import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets
import pytest
from widget_helpers import FAST, call

from ionpy_widgets.engine.lab import Lab
from ionpy_widgets.errors import ConfigValidationError, DeviceNotFoundError
from ionpy_widgets.instruments.rdtech_dps.sim import DpsSimulator
from ionpy_widgets.instruments.scpi_psu.sim import ScpiPsuSimulator
from ionpy_widgets.instruments.simhost import PtyServer, TcpServer
from ionpy_widgets.widgets import wizard_steps as ws
from ionpy_widgets.widgets.wizard import DeviceWizard, wizard

LAB_YAML = """\
# bench 3 (kept by the wizard's diff)
version: 1
devices:
  - id: BAT
    driver: V01_Battery
"""


async def ok(widget: Any, sent: list[dict[str, Any]], kind: str, payload: dict[str, Any] | None = None) -> Any:
    reply, _ = await call(widget, sent, kind, payload)
    assert reply["ok"], reply
    return reply["result"]


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    path = tmp_path / "lab.yaml"
    path.write_text(LAB_YAML, encoding="utf-8")
    lab = await Lab.start(path, settings=FAST)
    try:
        yield lab
    finally:
        await lab.stop()


@pytest.fixture
async def dps(lab: Lab) -> AsyncIterator[PtyServer]:
    async with PtyServer(DpsSimulator()) as server:
        yield server
        await lab.stop()  # the lab's devices let go of the pty before it closes


@pytest.fixture
def widgets() -> Iterator[list[Any]]:
    made: list[Any] = []
    yield made
    for w in made:
        w.close()


def make(widgets: list[Any], lab: Lab, **kw: Any) -> DeviceWizard:
    w = wizard(lab, **kw)
    widgets.append(w)
    return w


def read(path: Any) -> str:
    return Path(path).read_text(encoding="utf-8")


def dps_draft(port: str, **extra: Any) -> dict[str, Any]:
    draft = ws.complete_draft({"driver": "DPS5005"}, [])
    draft["transport"]["params"]["port"] = port
    draft.update(extra)
    return draft


# --- ids -----------------------------------------------------------------------------------------
def test_ids_are_generated_from_the_driver_name_and_unique() -> None:
    assert ws.suggest_id("DPS5005", []) == "DPS5005_1"
    assert ws.suggest_id("DPS5005", ["DPS5005_1", "DPS5005_2", "BAT"]) == "DPS5005_3"
    assert ws.base_id("My Driver (v2)!") == "My_Driver_v2"
    assert ws.base_id("§§") == "device"


def test_id_check_charset_length_uniqueness_and_edit() -> None:
    taken = ["DPS5005_1", "BAT"]
    assert ws.check_id("DPS5005_2", taken, driver="DPS5005")["ok"]
    empty = ws.check_id("  ", taken, driver="DPS5005")
    assert not empty["ok"] and "empty" in empty["message"] and "DPS5005_2" in empty["hint"]
    chars = ws.check_id("my psu!", taken)
    assert not chars["ok"] and "letters, digits" in chars["message"] and "`my_psu`" in chars["hint"]
    assert not ws.check_id("x" * 65, taken)["ok"]
    dup = ws.check_id("DPS5005_1", taken, driver="DPS5005")
    assert not dup["ok"] and "already exists" in dup["message"] and "DPS5005_2" in dup["hint"]
    assert ws.check_id("DPS5005_1", taken, original="DPS5005_1")["ok"]  # edit mode keeps its own id


async def test_validate_id_request_knows_the_labs_devices(lab: Lab, sent: list, widgets: list) -> None:
    w = make(widgets, lab)
    assert w.existing == ["BAT"]
    result = await ok(w, sent, "validate_id", {"id": "BAT", "driver": "V01_Battery"})
    assert not result["ok"] and result["suggestion"] == "V01_Battery_1"
    assert (await ok(w, sent, "validate_id", {"id": "BAT_2"}))["ok"]


# --- catalogue and prefill ---------------------------------------------------------------------------
async def test_catalogue_tiles_and_transport_status(lab: Lab, widgets: list) -> None:
    w = make(widgets, lab)
    by_name = {d["name"]: d for d in w.catalogue}
    assert {"DPS5005", "SCPI_PSU", "V01_Battery"} <= set(by_name)
    assert by_name["DPS5005"]["category"] == "psu" and by_name["DPS5005"]["icon"]
    assert [b["transport"] for b in by_name["DPS5005"]["blueprints"]] == ["serial", "tcp"]
    assert by_name["V01_Battery"]["needs_link"] is False
    assert [d["category"] for d in w.catalogue] == sorted((d["category"] for d in w.catalogue),
                                                          key=ws.CATEGORY_ORDER.index)
    assert w.transports["serial"]["available"] and w.transports["none"]["available"]
    assert w.step == 0 and w.draft == {} and w.mode == "add"
    assert w.config_file == "lab.yaml"


async def test_prefill_starts_at_identity_with_blueprint_defaults(lab: Lab, widgets: list) -> None:
    w = make(widgets, lab, prefill={"driver": "DPS5005",
                                    "transport": {"type": "serial", "params": {"port": "/dev/ttyUSB0"}}})
    assert w.step == 1
    assert w.draft["id"] == "DPS5005_1" and w.draft["icon"] == "⚡" and w.draft["auto_start"] is True
    assert w.draft["transport"] == {"type": "serial", "params": {"baudrate": 9600, "port": "/dev/ttyUSB0"}}
    assert w.draft["framing"] == {"type": "modbus_rtu", "params": {"slave_id": 1}}
    # a transport without a driver (a discovery row of unknown origin) stays on the catalogue
    w2 = make(widgets, lab, prefill={"transport": {"type": "tcp", "params": {"host": "127.0.0.1", "port": 5025}}})
    assert w2.step == 0 and w2.draft["transport"]["type"] == "tcp"


async def test_bad_prefill_raises_with_a_hint(lab: Lab, widgets: list) -> None:
    with pytest.raises(ConfigValidationError) as bad_key:
        make(widgets, lab, prefill={"drvier": "DPS5005"})
    assert bad_key.value.path == "prefill.drvier" and "driver" in bad_key.value.hint
    with pytest.raises(ConfigValidationError) as bad_driver:
        make(widgets, lab, prefill={"driver": "NOPE"})
    assert "DPS5005" in bad_driver.value.hint


async def test_complete_switches_blueprints_and_keeps_typed_params(lab: Lab, sent: list, widgets: list) -> None:
    w = make(widgets, lab)
    draft = await ok(w, sent, "complete", {"draft": {"driver": "DPS5005", "transport": {
        "type": "tcp", "params": {"host": "127.0.0.1", "port": 8080}}, "framing": {"type": "modbus_rtu",
                                                                                  "params": {"slave_id": 3}}}})
    assert draft["transport"] == {"type": "tcp", "params": {"host": "127.0.0.1", "port": 8080}}
    assert draft["framing"] == {"type": "modbus_rtu", "params": {"slave_id": 3}}
    battery = await ok(w, sent, "complete", {"draft": {"driver": "V01_Battery"}})
    assert battery["transport"] == {"type": "none", "params": {}} and battery["framing"] is None
    scpi = await ok(w, sent, "complete", {"draft": {"driver": "SCPI_PSU", "transport": {"type": "serial",
                                                                                         "params": {}}}})
    assert scpi["transport"] == {"type": "tcp", "params": {"port": 5025}}  # SCPI_PSU has no serial blueprint


# --- connection step -------------------------------------------------------------------------------
async def test_list_ports_marks_ports_held_by_running_devices(lab: Lab, dps: PtyServer, sent: list,
                                                              widgets: list) -> None:
    async with PtyServer(DpsSimulator()) as free:
        await lab.add_device({"id": "PSU_A", "driver": "DPS5005", "transport": {"type": "serial",
                                                                                "params": {"port": dps.path}}})
        w = make(widgets, lab, extra_ports=[free.path])
        data = await ok(w, sent, "list_ports", {"extra": ["/dev/ionpy-typed-missing"]})
        by_path = {item["device"]: item for item in data["items"]}
        assert by_path[dps.path]["in_use_by"] == "PSU_A" and by_path[dps.path]["in_use"]
        assert by_path[free.path]["in_use_by"] == "" and by_path[free.path]["source"] == "extra"
        assert by_path[free.path]["accessible"]
        missing = by_path["/dev/ionpy-typed-missing"]
        assert not missing["exists"] and "does not exist" in missing["permission_hint"]
        assert data["error"] is None


@dataclass
class ListedPort:
    """What pyserial's comports() reports for a USB-serial board (no such board on a test machine)."""

    device: str
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    manufacturer: str | None = None
    product: str | None = None
    description: str = ""
    hwid: str = ""


async def test_a_ch340_port_is_marked_as_likely_dps5005(lab: Lab, sent: list, widgets: list,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from ionpy_widgets.discovery import serial as serial_discovery

    board = ListedPort("/dev/ttyUSB0", 0x1A86, 0x7523, description="USB Serial", hwid="USB VID:PID=1A86:7523")
    monkeypatch.setattr(serial_discovery, "default_list_ports", lambda: [board])
    w = make(widgets, lab)
    (item,) = (await ok(w, sent, "list_ports", {}))["items"]
    assert item["usb_id"] == "1A86:7523" and item["known"]["chip"].startswith("CH340")
    assert item["hints"][0]["driver"] == "DPS5005" and item["hints"][0]["installed"]


async def test_check_reports_the_field_path_and_hint(lab: Lab, sent: list, widgets: list) -> None:
    w = make(widgets, lab)
    good = await ok(w, sent, "check", {"draft": dps_draft("/dev/ttyUSB0")})
    assert good == {"ok": True}
    bad = dps_draft("/dev/ttyUSB0")
    bad["transport"]["params"]["baudrate"] = -5
    result = await ok(w, sent, "check", {"draft": bad})
    assert not result["ok"] and result["path"] == "transport.params.baudrate" and "9600" in result["hint"]
    host = {"driver": "SCPI_PSU", "id": "X", "transport": {"type": "tcp", "params": {"host": "bad host!",
                                                                                    "port": 5025}}}
    result = await ok(w, sent, "check", {"draft": host})
    assert result["path"] == "transport.params.host" and "IP address" in result["hint"]


async def test_latency_and_scan_of_typed_loopback_targets(lab: Lab, sent: list, widgets: list) -> None:
    async with TcpServer(ScpiPsuSimulator()) as server:
        w = make(widgets, lab)
        latency = await ok(w, sent, "latency", {"host": "127.0.0.1", "port": server.port})
        assert latency["state"] == "open" and latency["latency_ms"] >= 0
        assert latency["idn"] is None  # not a SCPI port number: *IDN? is not sent on its own
        reply, items = await call(w, sent, "scan", {"targets": "127.0.0.1", "ports": [server.port]})
        assert reply["ok"], reply
        assert items[0]["kind"] == "started" and items[-1]["kind"] == "progress"
        assert any(i["kind"] == "found" and i["result"]["port"] == server.port for i in items)
        assert reply["result"]["scan"]["state"] == "done" and reply["result"]["scan"]["done"] == 1
        assert [(r["host"], r["port"]) for r in reply["result"]["results"]] == [("127.0.0.1", server.port)]


async def test_scan_of_unreadable_targets_is_an_error_reply(lab: Lab, sent: list, widgets: list) -> None:
    w = make(widgets, lab)
    reply, items = await call(w, sent, "scan", {"targets": "not a target!", "ports": [5025]})
    assert not reply["ok"] and items == []
    assert reply["error"]["code"] and reply["error"]["hint"]


async def test_visa_listing_through_pyvisa_sim(lab: Lab, sent: list, widgets: list) -> None:
    import pyvisa

    rm = pyvisa.ResourceManager(f"{Path(__file__).parents[1] / 'discovery' / 'visa_discovery.yaml'}@sim")
    try:
        w = make(widgets, lab, visa_resource_manager=rm)
        data = await ok(w, sent, "list_visa", {"network": False, "idn_timeout_ms": 300})
        rigol = next(i for i in data["items"] if i["resource"].startswith("USB0::0x1AB1::0x0E11"))
        assert rigol["idn"]["model"] == "DP832" and rigol["hints"][0]["driver"] == "SCPI_PSU"
        mute = next(i for i in data["items"] if "MUTE01" in i["resource"])
        assert mute["error"]["code"] == "protocol_timeout" and mute["error"]["hint"]
    finally:
        rm.close()


# --- probe -----------------------------------------------------------------------------------------
async def test_probe_streams_each_step_against_a_dps_on_a_pty(lab: Lab, dps: PtyServer, sent: list,
                                                              widgets: list) -> None:
    w = make(widgets, lab)
    reply, items = await call(w, sent, "probe", {"draft": dps_draft(dps.path)})
    assert reply["ok"], reply
    result = reply["result"]
    assert result["success"] and result["error"] is None
    streamed = [i["step"]["message"] for i in items]
    assert streamed == [s["message"] for s in result["steps"]]
    assert streamed[0] == "Check driver" and streamed[1].startswith("Open transport (serial")
    assert all(i["kind"] == "step" and i["step"]["ok"] for i in items)
    assert result["first_values"]["u_in"] == {"value": 24.0, "unit": "V", "text": "24.00 V"}
    assert result["first_values"]["output"]["text"] == "off"
    assert result["identity"]["model"] == "DPS5005"


async def test_failing_probes_return_their_hints(lab: Lab, dps: PtyServer, sent: list, widgets: list) -> None:
    w = make(widgets, lab)
    wrong = dps_draft(dps.path)
    wrong["framing"]["params"]["slave_id"] = 7
    reply, items = await call(w, sent, "probe", {"draft": wrong, "timeout": 5})
    result = reply["result"]
    assert reply["ok"] and not result["success"]
    failed = next(s for s in result["steps"] if not s["ok"])
    assert failed["message"] == "Identify" and "slave_id: 1" in failed["hint"]
    assert any(not i["step"]["ok"] and i["step"]["hint"] == failed["hint"] for i in items)
    missing = await ok(w, sent, "probe", {"draft": dps_draft("/dev/ionpy-no-such-port")})
    failed = next(s for s in missing["steps"] if not s["ok"])
    assert failed["message"].startswith("Open transport") and "does not exist" in failed["hint"]


async def test_probe_of_a_held_port_fails_without_opening_it(lab: Lab, dps: PtyServer, sent: list,
                                                             widgets: list) -> None:
    await lab.add_device({"id": "PSU_A", "driver": "DPS5005", "transport": {"type": "serial",
                                                                            "params": {"port": dps.path}}})
    w = make(widgets, lab)
    result = await ok(w, sent, "probe", {"draft": dps_draft(dps.path)})
    failed = next(s for s in result["steps"] if not s["ok"])
    assert "in use by device PSU_A" in failed["detail"] and "PSU_A" in failed["hint"]


# --- confirm ---------------------------------------------------------------------------------------
async def test_confirm_adds_a_dps_on_a_pty_to_the_running_lab(lab: Lab, dps: PtyServer, sent: list,
                                                              widgets: list) -> None:
    done: list[str] = []
    w = make(widgets, lab, on_done=done.append)
    draft = dps_draft(dps.path, alias="left supply")
    reply, items = await call(w, sent, "confirm", {"draft": draft})
    assert reply["ok"], reply
    assert [i["stage"] for i in items] == ["validate", "add", "online"]
    result = reply["result"]
    assert result["id"] == "DPS5005_1" and result["state"] == "online" and result["last_error"] is None
    assert lab.devices == ["BAT", "DPS5005_1"] and lab["DPS5005_1"].online
    assert lab.manager.get("DPS5005_1").config.transport == {"type": "serial", "params": {
        "port": dps.path, "baudrate": 9600}}
    assert w.added == ["DPS5005_1"] and done == ["DPS5005_1"] and "DPS5005_1" in w.existing
    assert result["file"] == "lab.yaml" and result["saved"] in (True, False)
    if "alias" not in ws.engine_keys():
        assert any("alias" in n for n in result["notes"])
    again, _ = await call(w, sent, "confirm", {"draft": draft})
    assert not again["ok"] and again["error"]["code"] == "config_invalid"
    assert "DPS5005_2" in again["error"]["hint"]


async def test_confirm_adds_a_software_battery_and_auto_start_off(lab: Lab, sent: list, widgets: list) -> None:
    w = make(widgets, lab)
    draft = await ok(w, sent, "complete", {"draft": {"driver": "V01_Battery", "auto_start": False}})
    assert draft["id"] == "V01_Battery_1"
    config, notes = ws.build_config(draft)
    assert "transport" not in config and "framing" not in config
    result = await ok(w, sent, "confirm", {"draft": draft})
    if "auto_start" in ws.engine_keys():
        assert config["auto_start"] is False
    else:
        assert config["enabled"] is False and any("enabled: false" in n for n in notes)
        assert result["state"] == "disabled"
    assert "V01_Battery_1" in lab


async def test_confirm_error_replies(lab: Lab, sent: list, widgets: list) -> None:
    w = make(widgets, lab)
    bad_id, _ = await call(w, sent, "confirm", {"draft": dps_draft("/dev/ttyUSB0", id="two words")})
    assert not bad_id["ok"] and bad_id["error"]["details"]["path"] == "id" and "step 2" in bad_id["error"]["hint"]
    bad_baud = dps_draft("/dev/ttyUSB0")
    bad_baud["transport"]["params"]["baudrate"] = "fast"
    reply, _ = await call(w, sent, "confirm", {"draft": bad_baud})
    assert not reply["ok"] and reply["error"]["details"]["path"] == "transport.params.baudrate"
    unknown, _ = await call(w, sent, "nope")
    assert unknown["error"]["code"] == "unknown_request" and "confirm" in unknown["error"]["hint"]
    missing_arg, _ = await call(w, sent, "probe", {})
    assert not missing_arg["ok"] and missing_arg["error"]["code"] == "internal_error"
    assert lab.devices == ["BAT"]


# --- preview: python call and yaml diff ---------------------------------------------------------------
async def test_preview_python_call_and_yaml_diff(lab: Lab, sent: list, widgets: list) -> None:
    w = make(widgets, lab)
    before = read(lab.config.path)
    preview = await ok(w, sent, "preview", {"draft": dps_draft("/dev/ttyUSB0")})
    assert preview["python"] == (
        'await lab.add_device({"id": "DPS5005_1", "driver": "DPS5005",\n'
        '                      "transport": {"type": "serial", "params": {"port": "/dev/ttyUSB0", "baudrate": 9600}},\n'
        '                      "framing": {"type": "modbus_rtu", "params": {"slave_id": 1}}})')
    diff = preview["yaml"]["diff"]
    assert diff.startswith("--- a/lab.yaml\n+++ b/lab.yaml\n@@")
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert added == ["  - id: DPS5005_1", "    driver: DPS5005",
                     "    transport: {type: serial, params: {port: /dev/ttyUSB0, baudrate: 9600}}",
                     "    framing: {type: modbus_rtu, params: {slave_id: 1}}"]
    assert not [line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    assert preview["yaml"]["before"].startswith("# bench 3 (kept by the wizard's diff)")
    assert preview["check"] == {"ok": True} and preview["id_check"]["ok"]
    assert read(lab.config.path) == before  # preview writes nothing


async def test_yaml_diff_of_an_empty_file_and_a_dict_lab(tmp_path: Path, sent: list, widgets: list) -> None:
    path = tmp_path / "new.yaml"
    async with Lab.start(path, settings=FAST) as lab:  # created as `devices: []`
        w = make(widgets, lab)
        change = (await ok(w, sent, "preview", {"draft": {"driver": "V01_Battery", "id": "B1"}}))["yaml"]
        assert "-devices: []" in change["diff"] and "+  - id: B1" in change["diff"]
        assert change["file"] == "new.yaml" and change["note"] == ""
    async with Lab.start({"devices": [{"id": "BAT", "driver": "V01_Battery"}]}, settings=FAST) as lab:
        w = make(widgets, lab)
        change = (await ok(w, sent, "preview", {"draft": {"driver": "V01_Battery", "id": "B2"}}))["yaml"]
        assert " devices:\n   - id: BAT\n" in change["diff"] and "+  - id: B2\n" in change["diff"]
        assert change["path"] is None and "without a config file" in change["note"]
        assert w.config_file == ""


def test_py_literal_is_python() -> None:
    value = {"a": True, "b": None, "c": [1, 2.5, "x\"y"], "d": "µ"}
    assert ast.literal_eval(ws.py_literal(value)) == value


# --- edit mode ---------------------------------------------------------------------------------------
async def test_edit_mode_is_prefilled_and_updates_the_device(lab: Lab, dps: PtyServer, sent: list,
                                                             widgets: list) -> None:
    await lab.add_device({"id": "DPS5005_1", "driver": "DPS5005", "poll_interval": 0.2,
                          "transport": {"type": "serial", "params": {"port": dps.path}}})
    await lab.wait_online("DPS5005_1", timeout=3)
    await lab["DPS5005_1"].poll_now()
    w = make(widgets, lab, edit="DPS5005_1")
    assert w.mode == "edit" and w.edit_id == "DPS5005_1" and w.step == 1
    assert w.draft["id"] == "DPS5005_1" and w.draft["transport"]["params"]["port"] == dps.path
    assert w.draft["framing"] == {"type": "modbus_rtu", "params": {"slave_id": 1}}
    assert (await ok(w, sent, "validate_id", {"id": "DPS5005_1"}))["ok"]  # its own id is fine
    unchanged = await ok(w, sent, "probe", {"draft": w.draft})
    assert unchanged["unchanged"] and unchanged["success"] and unchanged["first_values"]["u_in"]["unit"] == "V"
    renamed = {**w.draft, "id": "PSU_LEFT", "location": "bench 2"}
    preview = await ok(w, sent, "preview", {"draft": renamed})
    assert preview["python"].startswith('await lab.update_device("DPS5005_1", {"id": "PSU_LEFT"')
    assert '"poll_interval": 0.2' in preview["python"]  # what the wizard does not edit is kept
    diff = preview["yaml"]["diff"]
    assert "-  - id: DPS5005_1\n" in diff and "+  - id: PSU_LEFT\n" in diff and "+    location: bench 2\n" in diff
    result = await ok(w, sent, "confirm", {"draft": renamed})
    assert result["mode"] == "edit" and result["id"] == "PSU_LEFT" and result["state"] == "online"
    assert "PSU_LEFT" in lab and "DPS5005_1" not in lab and w.edit_id == "PSU_LEFT"
    assert lab.manager.get("PSU_LEFT").config.poll_interval == 0.2
    assert result["saved"] is True and "DPS5005_1" not in read(lab.config.path)


class NoUpdateLab(Lab):
    """An engine without ``update_device``: the wizard removes and adds instead."""

    update_device = None  # type: ignore[assignment]


async def test_edit_without_update_device_removes_and_adds(sent: list, widgets: list) -> None:
    async with NoUpdateLab.start({"devices": [{"id": "BAT", "driver": "V01_Battery"}]}, settings=FAST) as lab:
        w = make(widgets, lab, edit="BAT")
        draft = {**w.draft, "id": "BAT_2"}
        preview = await ok(w, sent, "preview", {"draft": draft})
        assert preview["python"] == ('await lab.remove_device("BAT")\n'
                                     'await lab.add_device({"id": "BAT_2", "driver": "V01_Battery"})')
        await ok(w, sent, "confirm", {"draft": draft})
        assert lab.devices == ["BAT_2"]
        bad = {**draft, "transport": {"type": "serial", "params": {"port": "/dev/ttyUSB0"}}}
        w2 = make(widgets, lab, edit="BAT_2")
        reply, _ = await call(w2, sent, "confirm", {"draft": bad})
        assert not reply["ok"] and lab.devices == ["BAT_2"]  # the old device is still there


async def test_edit_restores_the_old_device_when_the_new_one_cannot_start(lab: Lab, sent: list,
                                                                          widgets: list) -> None:
    w = make(widgets, lab, edit="BAT")
    draft = {**w.draft, "transport": {"type": "serial", "params": {"port": "/dev/ttyUSB0"}}}
    reply, _ = await call(w, sent, "confirm", {"draft": draft})
    assert not reply["ok"]  # V01_Battery has no serial transport
    assert "BAT" in lab and lab.manager.get("BAT").config.transport is None


class UpdatingLab(Lab):
    """A lab whose engine can update a device in place (as the persistence work adds)."""

    updates: list[tuple[str, dict[str, Any]]]

    async def update_device(self, device_id: str, conf: dict[str, Any]) -> None:
        self.updates = [*getattr(self, "updates", []), (device_id, conf)]
        await self.remove_device(device_id)
        await self.add_device(conf)


async def test_edit_calls_update_device_when_the_engine_has_it(sent: list, widgets: list) -> None:
    async with UpdatingLab.start({"devices": [{"id": "BAT", "driver": "V01_Battery"}]}, settings=FAST) as lab:
        w = make(widgets, lab, edit="BAT")
        preview = await ok(w, sent, "preview", {"draft": w.draft})
        assert preview["python"].startswith('await lab.update_device("BAT", {"id": "BAT"')
        await ok(w, sent, "confirm", {"draft": w.draft})
        assert lab.updates == [("BAT", {"id": "BAT", "driver": "V01_Battery"})]


async def test_edit_of_an_unknown_device(lab: Lab, widgets: list) -> None:
    with pytest.raises(DeviceNotFoundError) as exc:
        make(widgets, lab, edit="NOPE")
    assert "BAT" in exc.value.hint


async def test_closing_the_wizard_stops_a_running_scan(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    w = wizard(lab)

    def record(self: ipywidgets.Widget, msg: dict[str, Any], buffers: Any = None) -> None:
        item = msg.get("content", {}).get("item") or {}
        if item.get("kind") == "started":
            w.close()  # the user closed the wizard while the scan runs

    monkeypatch.setattr(ipywidgets.Widget, "_send", record)
    task = w.router.handle({"type": "request", "id": "s", "kind": "scan", "timeout": 10_000,
                            "payload": {"targets": "127.0.0.1-127.0.0.254", "ports": [9]}})
    await asyncio.gather(task, return_exceptions=True)
    (job,) = w.service.scans.list_scans()
    assert job.finished and job.state == "cancelled" and job.done < job.total
