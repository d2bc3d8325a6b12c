"""HID discovery through the hidapi API (FakeHidBackend: no HID device exists on the test machines)."""

from __future__ import annotations

import json
from pathlib import Path

from ionpy_widgets.discovery import discover, discover_hid
from ionpy_widgets.discovery.hid import platform_hint, udev_rule
from ionpy_widgets.testing.hid_backend import FakeCp2110, FakeHidBackend


def _backend(*paths: bytes) -> FakeHidBackend:
    ut_d09 = FakeCp2110(path=paths[0] if paths else b"fake-hidraw0")
    d09a = FakeCp2110(path=b"fake-hidraw1", vendor_id=0x1A86, product_id=0xE429, serial="")
    other = FakeCp2110(path=b"fake-hidraw2", vendor_id=0x046D, product_id=0xC52B)
    return FakeHidBackend(ut_d09, d09a, other)


async def test_known_meter_cables_are_recognised() -> None:
    result = await discover_hid(backend=_backend(), platform="win32")
    assert result.ok and [d.usb_id for d in result.items] == ["10C4:EA80", "1A86:E429", "046D:C52B"]
    cp2110, d09a, other = result.items
    assert cp2110.path == "fake-hidraw0" and cp2110.serial_number == "0001A2B3"
    assert cp2110.product == "CP2110 HID USB-to-UART Bridge" and cp2110.usage_page == 0xFF00
    assert cp2110.known is not None and cp2110.known.chip == "CP2110 HID-UART"
    assert cp2110.hints[0].driver == "UT61E_PLUS" and "UT61E+" in cp2110.hints[0].reason
    assert cp2110.hints[0].installed is True  # the driver is in the registry
    assert d09a.known is not None and "D-09A" in d09a.known.chip and d09a.hints[0].driver == "UT61E_PLUS"
    assert other.known is None and other.hints == []
    assert cp2110.permission_hint == ""  # Windows needs nothing
    json.dumps(result.to_dict())


async def test_unplugged_devices_are_not_listed() -> None:
    backend = _backend()
    backend.bridges[0].unplug()
    result = await discover_hid(backend=backend, platform="linux")
    assert [d.usb_id for d in result.items] == ["1A86:E429", "046D:C52B"]


async def test_linux_node_without_access_gets_the_udev_rule(tmp_path: Path) -> None:
    node = tmp_path / "hidraw0"
    node.write_bytes(b"")
    result = await discover_hid(backend=_backend(str(node).encode()), platform="linux",
                                access=lambda path, mode: path != str(node))
    cp2110 = result.items[0]
    assert cp2110.accessible is False
    assert udev_rule(0x10C4, 0xEA80) in cp2110.permission_hint
    assert 'ATTRS{idVendor}=="10c4", ATTRS{idProduct}=="ea80"' in cp2110.permission_hint
    assert "plugdev" in cp2110.permission_hint and "udevadm" in cp2110.permission_hint
    # a path that is not a device node (libusb backend) cannot be checked: no claim, no hint
    assert result.items[1].accessible is None and result.items[1].permission_hint == ""


def test_platform_hints() -> None:
    assert "Input Monitoring" in platform_hint(0x10C4, 0xEA80, platform="darwin")
    assert platform_hint(0x10C4, 0xEA80, platform="win32") == ""
    assert udev_rule(0x1A86, 0xE429).startswith('SUBSYSTEM=="hidraw"')


async def test_a_failing_backend_is_an_error_in_the_result() -> None:
    class Broken:
        def enumerate(self, vendor_id: int = 0, product_id: int = 0) -> list[dict[str, object]]:
            raise OSError("hidapi: cannot initialise")

    result = await discover_hid(backend=Broken())
    assert not result.ok and result.error is not None and "cannot initialise" in result.error.message


async def test_the_real_hidapi_enumerates_without_error() -> None:
    result = await discover("hid")
    assert result.ok and result.bus == "hid"
