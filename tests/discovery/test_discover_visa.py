"""VISA discovery with pyvisa-sim (list_resources is safe there) and the local-bus path that
replaces pyvisa-py's broadcasting list_resources when network=False."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pyvisa
from serial.tools.list_ports_common import ListPortInfo

from ionpy_widgets.discovery import discover, discover_visa, visa
from ionpy_widgets.discovery.visa import LOCAL_NOTE, VisaResourceInfo, asrl_name, backend_kind

SIM_YAML = Path(__file__).with_name("visa_discovery.yaml")


@pytest.fixture
def sim_rm() -> Iterator[pyvisa.ResourceManager]:
    rm = pyvisa.ResourceManager(f"{SIM_YAML}@sim")
    try:
        yield rm
    finally:
        rm.close()


@pytest.fixture
def no_broadcast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything calls pyvisa-py's list_resources (it broadcasts)."""
    from pyvisa_py.highlevel import PyVisaLibrary

    def forbidden(*args: Any, **kwargs: Any) -> None:
        pytest.fail("pyvisa-py list_resources was called: it broadcasts VXI-11 and mDNS")

    monkeypatch.setattr(PyVisaLibrary, "list_resources", forbidden)
    monkeypatch.setattr(pyvisa.ResourceManager, "list_resources", forbidden)


@pytest.fixture
def usbtmc_sysfs(tmp_path: Path) -> str:
    root = tmp_path / "devices"
    dev = root / "1-1"
    intf = root / "1-1:1.0"
    dev.mkdir(parents=True)
    intf.mkdir()
    for key, value in {"idVendor": "1ab1", "idProduct": "0e11", "serial": "DP8C0001", "bDeviceClass": "00"}.items():
        (dev / key).write_text(value + "\n")
    for key, value in {"bInterfaceNumber": "00", "bInterfaceClass": "fe", "bInterfaceSubClass": "03",
                       "bInterfaceProtocol": "01"}.items():
        (intf / key).write_text(value + "\n")
    return str(root)


@pytest.fixture
def pty_port() -> Iterator[ListPortInfo]:
    master, slave = os.openpty()
    try:
        yield ListPortInfo(os.ttyname(slave), skip_link_detection=True)
    finally:
        os.close(master)
        os.close(slave)


async def test_sim_resources_are_listed_and_identified(sim_rm: pyvisa.ResourceManager) -> None:
    result = await discover_visa(resource_manager=sim_rm, idn_timeout_ms=300, idn_serial=True)
    assert result.ok and result.note == ""
    by_name = {item.resource: item for item in result.items}
    assert set(by_name) == {"USB0::0x1AB1::0x0E11::DP8C000000001::0::INSTR", "TCPIP0::127.0.0.1::5555::SOCKET",
                            "TCPIP0::127.0.0.2::inst0::INSTR", "ASRL1::INSTR", "USB0::0x0957::0x0001::MUTE01::0::INSTR"}
    socket_item = by_name["TCPIP0::127.0.0.1::5555::SOCKET"]  # query "?*" keeps raw sockets
    assert socket_item.resource_class == "SOCKET" and socket_item.identity is not None
    assert socket_item.identity.model == "DP832" and socket_item.hints[0].driver == "SCPI_PSU"
    keysight = by_name["TCPIP0::127.0.0.2::inst0::INSTR"].identity
    assert keysight is not None and (keysight.manufacturer, keysight.serial) == ("Keysight Technologies", "MY59000001")
    korad = by_name["ASRL1::INSTR"]
    assert korad.identity is not None and (korad.identity.manufacturer, korad.identity.model) == ("KORAD", "KD3005P")
    assert korad.hints[0].driver == "KA3005P"
    mute = by_name["USB0::0x0957::0x0001::MUTE01::0::INSTR"]  # one silent resource does not spoil the others
    assert mute.identity is None and mute.error is not None and mute.error.code == "protocol_timeout"
    assert all(i.source == "list_resources" for i in result.items)
    data = json.loads(json.dumps(result.to_dict()))
    assert {d["idn"]["model"] for d in data["items"] if d["idn"]} == {"DP832", "E36312A", "KD3005P"}


async def test_query_and_serial_policy(sim_rm: pyvisa.ResourceManager) -> None:
    result = await discover_visa(resource_manager=sim_rm, query="?*::INSTR", idn_timeout_ms=300)
    names = [i.resource for i in result.items]
    assert "TCPIP0::127.0.0.1::5555::SOCKET" not in names and "ASRL1::INSTR" in names
    korad = next(i for i in result.items if i.interface == "ASRL")
    assert korad.identity is None and korad.error is None and "idn_serial=True" in korad.note


async def test_without_idn_nothing_is_opened(sim_rm: pyvisa.ResourceManager) -> None:
    result = await discover("visa", resource_manager=sim_rm, idn=False)
    assert len(result) == 5 and all(i.identity is None and i.error is None for i in result.items)


async def test_pyvisa_py_without_network_lists_local_buses_only(
        no_broadcast: None, usbtmc_sysfs: str, pty_port: ListPortInfo) -> None:
    rm = pyvisa.ResourceManager("@py")  # creating it sends nothing; list_resources would
    try:
        assert backend_kind(rm) == "py"
        result = await discover_visa(resource_manager=rm, list_ports=lambda: [pty_port], sysfs_root=usbtmc_sysfs,
                                     platform="linux", idn_timeout_ms=200)
    finally:
        rm.close()
    assert result.ok and result.note == LOCAL_NOTE
    assert [i.resource for i in result.items] == [f"ASRL{pty_port.device}::INSTR",
                                                  "USB0::0x1AB1::0x0E11::DP8C0001::INSTR"]
    assert all(i.source == "local" for i in result.items)
    usb = result.items[1]  # the fake sysfs device does not exist: opening it fails, tolerated
    assert usb.identity is None and usb.error is not None


async def test_default_backend_without_network_never_lists(no_broadcast: None, usbtmc_sysfs: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr(visa, "_open_rm", lambda spec: opened.append(spec))
    result = await discover_visa(list_ports=lambda: [], sysfs_root=usbtmc_sysfs, platform="linux", idn=False)
    assert [i.resource for i in result.items] == ["USB0::0x1AB1::0x0E11::DP8C0001::INSTR"] and opened == []


async def test_network_true_lists_through_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    # stand the sim in for "@py" so the explicit network path runs without broadcasting
    sim = pyvisa.ResourceManager(f"{SIM_YAML}@sim")
    monkeypatch.setattr(visa, "_open_rm", lambda spec: sim)
    result = await discover_visa(network=True, idn=False)
    assert result.ok and len(result) == 5 and result.note == ""
    assert sim._session is None  # discover_visa closed the manager it opened


async def test_a_failing_listing_is_an_error_in_the_result() -> None:
    def broken() -> list[ListPortInfo]:
        raise OSError("no ports for you")

    result = await discover_visa(list_ports=broken, platform="linux", idn=False)
    assert not result.ok and result.error is not None and "no ports for you" in result.error.message


def test_asrl_names() -> None:
    assert asrl_name("/dev/ttyUSB0", "linux") == "ASRL/dev/ttyUSB0::INSTR"
    assert asrl_name("COM3", "win32") == "ASRL3::INSTR"
    assert asrl_name("/dev/cu.usbserial-1", "darwin") == "ASRL/dev/cu.usbserial-1::INSTR"


async def test_local_listing_honours_the_query(no_broadcast: None, usbtmc_sysfs: str,
                                               pty_port: ListPortInfo) -> None:
    result = await discover_visa(list_ports=lambda: [pty_port], sysfs_root=usbtmc_sysfs, platform="linux",
                                 query="USB?*::INSTR", idn=False)
    assert [i.resource for i in result.items] == ["USB0::0x1AB1::0x0E11::DP8C0001::INSTR"]


@pytest.mark.parametrize(("resource", "interface"), [
    ("ASRL/dev/ttyS0::INSTR", "ASRL"), ("ASRL/dev/ttyUSB12::INSTR", "ASRL"), ("ASRL3::INSTR", "ASRL"),
    ("TCPIP0::127.0.0.1::5025::SOCKET", "TCPIP"), ("USB0::0x1AB1::0x0E11::DP8C1::INSTR", "USB"),
    ("GPIB0::8::INSTR", "GPIB"),
])
def test_interface_ignores_board_number_and_device_path(resource, interface):
    item = VisaResourceInfo(resource=resource, source="test")
    assert item.interface == interface
