"""USB discovery over a fake sysfs tree laid out like /sys/bus/usb/devices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ionpy_widgets.discovery import discover_usb
from ionpy_widgets.discovery.usb import class_name


def _device(root: Path, name: str, vid: int, pid: int, *, dev_class: int = 0, **attrs: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    values = {"idVendor": f"{vid:04x}", "idProduct": f"{pid:04x}", "bDeviceClass": f"{dev_class:02x}",
              "busnum": name[0] if name[0].isdigit() else "1", "devnum": "5", "speed": "12", **attrs}
    for key, value in values.items():
        (folder / key).write_text(value + "\n")
    return folder


def _interface(root: Path, name: str, cls: int, sub: int = 0, proto: int = 0, *, driver: str = "",
               nodes: tuple[str, ...] = ()) -> Path:
    folder = root / name
    folder.mkdir()
    for key, value in {"bInterfaceNumber": name.rsplit(".", 1)[1], "bInterfaceClass": f"{cls:02x}",
                       "bInterfaceSubClass": f"{sub:02x}", "bInterfaceProtocol": f"{proto:02x}"}.items():
        (folder / key).write_text(f"{int(value):02x}\n" if key == "bInterfaceNumber" else value + "\n")
    if driver:
        target = root.parent / "drivers" / driver
        target.mkdir(parents=True, exist_ok=True)
        (folder / "driver").symlink_to(target)
    for node in nodes:
        (folder / node).mkdir(parents=True)
    return folder


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    root = tmp_path / "bus" / "usb" / "devices"
    root.mkdir(parents=True)
    _device(root, "usb1", 0x1D6B, 0x0002, dev_class=0x09, product="xHCI Host Controller")
    _interface(root, "1-0:1.0", 0x09, driver="hub")
    _device(root, "1-1", 0x05E3, 0x0610, dev_class=0x09, product="USB2.0 Hub")
    _interface(root, "1-1:1.0", 0x09, driver="hub")
    _device(root, "1-1.2", 0x1A86, 0x7523, dev_class=0xFF, product="USB Serial")
    _interface(root, "1-1.2:1.0", 0xFF, 1, 2, driver="ch341", nodes=("ttyUSB0",))
    _device(root, "1-1.3", 0x1AB1, 0x0E11, manufacturer="Rigol Technologies", product="DP800 Serials",
            serial="DP8C0001")
    _interface(root, "1-1.3:1.0", 0xFE, 3, 1, driver="usbtmc", nodes=("usbmisc/usbtmc0",))
    _device(root, "1-1.4", 0x10C4, 0xEA80, product="CP2110 HID USB-to-UART Bridge", serial="0001")
    _interface(root, "1-1.4:1.0", 0x03, driver="usbhid", nodes=("0003:10C4:EA80.0001/hidraw/hidraw2",))
    odd = _device(root, "1-1.5", 0x0483, 0x5740, dev_class=0x02)
    (odd / "product").mkdir()  # reading it fails like a stalled string descriptor (EIO) would
    _interface(root, "1-1.5:1.0", 0x02, 2, 1, driver="cdc_acm", nodes=("tty/ttyACM0",))
    _interface(root, "1-1.5:1.1", 0x0A, driver="cdc_acm")
    _device(root, "2-1", 0x0781, 0x5581, product="Ultra")
    _interface(root, "2-1:1.0", 0x08, 6, 0x50, driver="usb-storage")
    return root


async def test_devices_with_classes_nodes_and_hints(sysfs: Path) -> None:
    result = await discover_usb(sysfs_root=str(sysfs), platform="linux")
    assert result.ok and result.note == "2 hub(s) not listed."
    by_name = {d.sysfs_name: d for d in result.items}
    assert sorted(by_name) == ["1-1.2", "1-1.3", "1-1.4", "1-1.5", "2-1"]

    ch340 = by_name["1-1.2"]
    assert (ch340.usb_id, ch340.bus, ch340.address, ch340.speed_mbps) == ("1A86:7523", 1, 5, 12.0)
    assert ch340.nodes == ["/dev/ttyUSB0"] and ch340.interfaces[0].driver == "ch341"
    assert ch340.class_name == "vendor specific" and ch340.known is not None and ch340.known.chip == "CH340"
    assert ch340.hints[0].driver == "DPS5005"

    rigol = by_name["1-1.3"]
    assert rigol.is_usbtmc and rigol.interface_classes == ["USBTMC"] and rigol.nodes == ["/dev/usbtmc0"]
    assert rigol.visa_resource() == "USB0::0x1AB1::0x0E11::DP8C0001::INSTR"
    assert rigol.manufacturer == "Rigol Technologies" and rigol.class_name == "per-interface"

    cp2110 = by_name["1-1.4"]
    assert cp2110.interface_classes == ["HID"] and cp2110.nodes == ["/dev/hidraw2"]
    assert cp2110.known is not None and cp2110.known.kind == "hid" and cp2110.visa_resource() == ""

    stm = by_name["1-1.5"]
    assert stm.product == "" and stm.nodes == ["/dev/ttyACM0"]
    assert stm.interface_classes == ["CDC (communications)", "CDC data"]

    assert by_name["2-1"].interface_classes == ["mass storage"] and by_name["2-1"].known is None
    data = json.loads(json.dumps(result.to_dict()))
    assert data["items"][1]["visa_resource"] == "USB0::0x1AB1::0x0E11::DP8C0001::INSTR"


def test_class_names() -> None:
    assert class_name(0xFE, 3) == "USBTMC"
    assert class_name(0xFE, 1) == "DFU"
    assert class_name(0xFE, 9) == "application specific"
    assert class_name(0x03) == "HID"
    assert class_name(0x42) == "class 0x42"
    assert class_name(None) == ""


async def test_non_linux_gives_an_empty_result_with_a_reason(sysfs: Path) -> None:
    result = await discover_usb(sysfs_root=str(sysfs), platform="darwin")
    assert result.ok and result.items == [] and "Linux sysfs" in result.note


async def test_missing_sysfs_is_a_note_not_an_error(tmp_path: Path) -> None:
    result = await discover_usb(sysfs_root=str(tmp_path / "nope"), platform="linux")
    assert result.ok and result.items == [] and "does not exist" in result.note


async def test_a_file_where_the_folder_should_be_is_a_note(tmp_path: Path) -> None:
    root = tmp_path / "devices"
    root.write_text("not a directory")
    result = await discover_usb(sysfs_root=str(root), platform="linux")
    assert result.ok and "does not exist" in result.note


async def test_a_failing_read_is_an_error_in_the_result(sysfs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ionpy_widgets.discovery import usb

    def broken(root: str) -> None:
        raise PermissionError(13, "Permission denied", root)

    monkeypatch.setattr(usb, "read_sysfs", broken)
    result = await discover_usb(sysfs_root=str(sysfs), platform="linux")
    assert not result.ok and result.error is not None and "Permission denied" in result.error.message


async def test_a_device_without_ids_is_skipped(sysfs: Path) -> None:
    (sysfs / "3-1").mkdir()
    (sysfs / "3-1" / "idVendor").write_text("zzzz\n")
    result = await discover_usb(sysfs_root=str(sysfs), platform="linux")
    assert "3-1" not in {d.sysfs_name for d in result.items}
