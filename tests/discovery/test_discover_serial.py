"""Serial discovery on real ptys, with pyserial ListPortInfo objects for the USB identity."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from serial.tools.list_ports_common import ListPortInfo

from ionpy_widgets.discovery import discover, discover_serial
from ionpy_widgets.discovery.serial import permission_hint


@pytest.fixture
def pty_path() -> Iterator[str]:
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


def _usb_port(device: str, vid: int, pid: int, serial: str = "A1B2") -> ListPortInfo:
    port = ListPortInfo(device, skip_link_detection=True)
    port.vid, port.pid, port.serial_number = vid, pid, serial
    port.manufacturer, port.product = "wch.cn", "USB Serial"
    port.description = "USB Serial"
    port.hwid = f"USB VID:PID={vid:04X}:{pid:04X} SER={serial} LOCATION=1-1:1.0"
    return port


async def test_a_pty_path_the_user_typed_is_listed(pty_path: str, tmp_path: Path) -> None:
    result = await discover_serial(list_ports=lambda: [], extra_paths=[pty_path], by_id_dir=str(tmp_path))
    assert result.ok and result.duration_ms >= 0
    (port,) = result.items
    assert (port.device, port.source, port.exists, port.accessible) == (pty_path, "extra", True, True)
    assert port.vid is None and port.usb_id == "" and port.known is None and port.hints == []
    json.dumps(result.to_dict())


async def test_usb_identity_known_device_by_id_and_in_use(pty_path: str, tmp_path: Path) -> None:
    link = tmp_path / "usb-1a86_USB_Serial-if00-port0"
    link.symlink_to(pty_path)
    (tmp_path / "dangling").symlink_to(tmp_path / "nothing-here")
    result = await discover_serial(list_ports=lambda: [_usb_port(pty_path, 0x1A86, 0x7523)],
                                   by_id_dir=str(tmp_path), in_use={str(link)})
    (port,) = result.items
    assert port.by_id == str(link)
    assert (port.vid, port.pid, port.usb_id, port.serial_number) == (0x1A86, 0x7523, "1A86:7523", "A1B2")
    assert port.manufacturer == "wch.cn" and port.hwid.startswith("USB VID:PID=1A86:7523")
    assert port.known is not None and port.known.chip == "CH340"
    assert [h.driver for h in port.hints][:2] == ["DPS5005", "RD60xx"]
    assert port.in_use is True  # held under its by-id name, found under its real name
    data = port.to_dict()
    assert data["known"]["usb_id"] == "1A86:7523" and data["hints"][0]["driver"] == "DPS5005"


async def test_extra_path_already_enumerated_is_not_listed_twice(pty_path: str, tmp_path: Path) -> None:
    link = tmp_path / "stable"
    link.symlink_to(pty_path)
    result = await discover_serial(list_ports=lambda: [_usb_port(pty_path, 0x10C4, 0xEA60)],
                                   extra_paths=[pty_path, str(link)], by_id_dir=str(tmp_path / "none"))
    assert [p.device for p in result.items] == [pty_path]
    assert result.items[0].known is not None and result.items[0].known.chip == "CP210x"


async def test_missing_path_is_reported_not_raised(tmp_path: Path) -> None:
    missing = str(tmp_path / "ttyUSB9")
    result = await discover_serial(list_ports=lambda: [], extra_paths=[missing], by_id_dir=str(tmp_path))
    (port,) = result.items
    assert port.exists is False and port.accessible is False and "does not exist" in port.permission_hint


async def test_no_permission_gives_the_group_hint(pty_path: str, tmp_path: Path) -> None:
    # running as root here, so os.access would always say yes: inject the answer instead
    result = await discover_serial(list_ports=lambda: [_usb_port(pty_path, 0x0403, 0x6001)],
                                   by_id_dir=str(tmp_path), access=lambda path, mode: False, platform="linux")
    (port,) = result.items
    assert port.accessible is False
    assert "sudo usermod -aG" in port.permission_hint and "log out and in" in port.permission_hint


def test_permission_hint_wording_per_platform() -> None:
    linux = permission_hint("/dev/ttyUSB0", platform="linux")
    assert linux.endswith("add your user to the dialout group: sudo usermod -aG dialout $USER, then log out and in")
    assert "another program" in permission_hint("COM3", platform="win32")
    assert "ls -l" in permission_hint("/dev/cu.usbserial", platform="darwin")


async def test_windows_ports_are_not_stat_ed(tmp_path: Path) -> None:
    result = await discover_serial(list_ports=lambda: [_usb_port("COM3", 0x067B, 0x2303)], platform="win32",
                                   by_id_dir=str(tmp_path))
    (port,) = result.items
    assert port.device == "COM3" and port.exists and port.accessible and port.known is not None


async def test_a_failing_lister_is_an_error_in_the_result() -> None:
    def broken() -> list[ListPortInfo]:
        raise RuntimeError("udev is gone")

    result = await discover_serial(list_ports=broken)
    assert not result.ok and result.items == []
    assert result.error is not None and "udev is gone" in result.error.message and result.error.hint
    assert result.to_dict()["error"]["code"] == "transport_error"


async def test_dispatcher_runs_the_serial_scanner(pty_path: str, tmp_path: Path) -> None:
    result = await discover("serial", list_ports=lambda: [], extra_paths=[pty_path], by_id_dir=str(tmp_path))
    assert result.bus == "serial" and len(result) == 1
