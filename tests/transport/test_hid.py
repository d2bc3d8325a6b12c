"""HidTransport against a simulated CP2110 at the hidapi API boundary (no HID hardware exists here)."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from ionpy_widgets.errors import (
    PortNotFoundError,
    PortPermissionError,
    TransportClosedError,
    TransportError,
    TransportUnavailableError,
)
from ionpy_widgets.testing.hid_backend import (
    UT61E_MEASURE_REQUEST,
    UT61E_SAMPLE_REPLY,
    FakeCp2110,
    FakeHidBackend,
    Ut61ePlusResponder,
)
from ionpy_widgets.transport import Transport
from ionpy_widgets.transport.address import HidParams
from ionpy_widgets.transport.hid import HidTransport, udev_rule

CP2110 = HidParams(0x10C4, 0xEA80, read_timeout_ms=20)


def uart_report(data: bytes) -> bytes:
    """CP2110 interrupt report: report id = number of UART bytes."""
    return bytes([len(data)]) + data


async def enable_uart(transport: HidTransport) -> None:
    await transport.send_feature_report(bytes.fromhex("41 01"))  # UART enable
    await transport.send_feature_report(bytes.fromhex("50 00 00 25 80 00 00 03 00"))  # 9600 8N1
    await transport.send_feature_report(bytes.fromhex("43 02"))  # purge RX FIFO


async def wait_for_thread_exit(prefix: str, timeout: float = 2.0) -> None:
    """The transport's executor thread ends once the transport is closed."""
    for thread in [t for t in threading.enumerate() if t.name.startswith(prefix)]:
        await asyncio.to_thread(thread.join, timeout)
        assert not thread.is_alive(), f"{thread.name} still running after close"


async def test_loopback_reports_and_feature_reports():
    bridge = FakeCp2110()
    backend = FakeHidBackend(bridge)
    transport = HidTransport(CP2110, backend=backend)
    assert isinstance(transport, Transport)
    async with transport:
        await enable_uart(transport)
        assert await transport.get_feature_report(0x41, 2) == b"\x41\x01"
        assert bridge.config == bytes.fromhex("50 00 00 25 80 00 00 03 00") and bridge.purges == 1
        await transport.write(uart_report(b"abc"))
        assert await asyncio.wait_for(transport.read(), 2.0) == b"\x03abc"
        assert transport.describe() == {"type": "hid", "vendor_id": "10c4", "product_id": "ea80"}
    assert backend.open_handles == 0
    assert backend.threads and all(name.startswith("ionpy-hid") for name in backend.threads)
    await wait_for_thread_exit("ionpy-hid")


async def test_ut61e_plus_measurement_through_cp2110():
    meter = Ut61ePlusResponder()
    async with HidTransport(CP2110, backend=FakeHidBackend(FakeCp2110(responder=meter))) as transport:
        await enable_uart(transport)
        await transport.write(uart_report(UT61E_MEASURE_REQUEST))
        received = b""
        while len(received) < len(UT61E_SAMPLE_REPLY):
            report = await asyncio.wait_for(transport.read(), 2.0)
            assert report[0] == len(report) - 1  # report id = data length
            received += report[1:]
        assert received == UT61E_SAMPLE_REPLY
        assert meter.requests == 1


async def test_uart_disabled_loses_the_bytes_like_the_chip():
    bridge = FakeCp2110()
    async with HidTransport(CP2110, backend=FakeHidBackend(bridge)) as transport:
        await transport.write(uart_report(b"lost"))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(transport.read(), 0.1)
        assert bridge.lost_bytes == 4


async def test_a_cancelled_read_hands_its_report_to_the_next_read():
    bridge = FakeCp2110()
    params = HidParams(0x10C4, 0xEA80, read_timeout_ms=1000)  # one long hidapi read in flight
    async with HidTransport(params, backend=FakeHidBackend(bridge)) as transport:
        await enable_uart(transport)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(transport.read(), 0.05)
        assert transport._inflight is not None and not transport._inflight.done()
        bridge.inject(b"late")  # arrives while the orphaned executor read is still waiting
        assert await asyncio.wait_for(transport.read(), 2.0) == b"\x04late"


async def test_a_report_arriving_during_close_is_not_returned():
    bridge = FakeCp2110()
    transport = HidTransport(HidParams(0x10C4, 0xEA80, read_timeout_ms=1000), backend=FakeHidBackend(bridge))
    await transport.open()
    await enable_uart(transport)
    pending = asyncio.ensure_future(transport.read())
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(transport.close())  # waits for the running hidapi read
    await asyncio.sleep(0)
    bridge.inject(b"x")
    await asyncio.wait_for(closing, 2.0)
    with pytest.raises(TransportClosedError):
        await asyncio.wait_for(pending, 2.0)


async def test_device_absent_lists_what_enumerate_found():
    with pytest.raises(PortNotFoundError) as info:
        await HidTransport(CP2110, backend=FakeHidBackend()).open()
    err = info.value
    assert "10c4:ea80" in err.message
    assert "No HID device 10c4:ea80 is connected" in err.hint and "plugdev" in err.hint

    other = FakeCp2110(serial="OTHER123")
    with pytest.raises(PortNotFoundError) as info:
        await HidTransport(HidParams(0x10C4, 0xEA80, serial="WANTED"), backend=FakeHidBackend(other)).open()
    assert "serial OTHER123" in info.value.hint and "WANTED" in info.value.message


async def test_permission_problem_gives_the_udev_rule():
    backend = FakeHidBackend(FakeCp2110(accessible=False))
    with pytest.raises(PortPermissionError) as info:
        await HidTransport(CP2110, backend=backend).open()
    hint = info.value.hint
    assert ('SUBSYSTEM=="hidraw", ATTRS{idVendor}=="10c4", ATTRS{idProduct}=="ea80", MODE="0660", '
            'GROUP="plugdev"') in hint
    assert udev_rule(0x10C4, 0xEA80) in hint and "Input Monitoring" in hint
    assert backend.open_handles == 0
    await wait_for_thread_exit("ionpy-hid")


async def test_unplug_mid_read_closes_the_transport():
    bridge = FakeCp2110()
    async with HidTransport(CP2110, backend=FakeHidBackend(bridge)) as transport:
        await enable_uart(transport)
        pending = asyncio.ensure_future(transport.read())
        await asyncio.sleep(0)  # the read job is queued or running; either way it meets the unplugged device
        bridge.unplug()
        with pytest.raises(TransportClosedError) as info:
            await asyncio.wait_for(pending, 2.0)
        assert "10c4:ea80" in info.value.message and info.value.hint
        assert not transport.is_open
        with pytest.raises(TransportClosedError):
            await transport.write(uart_report(b"x"))


async def test_open_by_path_and_write_failure():
    bridge = FakeCp2110(path=b"/dev/hidraw7")
    params = HidParams(0x10C4, 0xEA80, path="/dev/hidraw7", read_timeout_ms=20)
    async with HidTransport(params, backend=FakeHidBackend(bridge)) as transport:
        assert transport.describe()["path"] == "/dev/hidraw7"
        with pytest.raises(TransportError) as info:
            await transport.send_feature_report(b"\x7f\x00")  # not a CP2110 feature report
        assert "0x7f" in info.value.message
        with pytest.raises(TransportError):
            await transport.get_feature_report(0x7F, 8)
        with pytest.raises(TransportClosedError):
            await transport.write(b"\x00")  # report id 0 is not a UART report: the chip stalls


async def test_concurrent_reads_are_refused_and_close_is_idempotent():
    transport = HidTransport(CP2110, backend=FakeHidBackend(FakeCp2110()))
    await transport.open()
    first = asyncio.ensure_future(transport.read())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await transport.read()
    await transport.close()
    with pytest.raises(TransportClosedError):
        await asyncio.wait_for(first, 2.0)
    await transport.close()
    with pytest.raises(TransportClosedError):
        await transport.read()


async def test_missing_hidapi_is_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "hid", None)
    monkeypatch.setitem(sys.modules, "hidraw", None)
    with pytest.raises(TransportUnavailableError) as info:
        await HidTransport(CP2110).open()
    assert "pip install hidapi" in info.value.hint
