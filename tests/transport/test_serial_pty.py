"""SerialTransport on real pseudo-terminals: the test holds the master side, the transport opens the slave."""

from __future__ import annotations

import asyncio
import errno
import json
import os
from collections.abc import Iterator

import pytest
import serial
from pty_helpers import Pty

from ionpy_widgets.errors import (
    PortBusyError,
    PortNotFoundError,
    PortPermissionError,
    TransportClosedError,
    TransportError,
)
from ionpy_widgets.transport import Transport
from ionpy_widgets.transport.address import SerialParams
from ionpy_widgets.transport.serial import SerialTransport, list_port_names, open_error


@pytest.fixture
def pty() -> Iterator[Pty]:
    pair = Pty()
    yield pair
    pair.hang_up()


async def read_exactly(transport: SerialTransport, count: int) -> bytes:
    data = b""
    while len(data) < count:
        data += await asyncio.wait_for(transport.read(), 2.0)
    return data


async def test_bytes_flow_both_ways(pty: Pty):
    transport = SerialTransport(SerialParams(pty.path, baudrate=115200))
    assert isinstance(transport, Transport) and not transport.is_open
    async with transport:
        assert transport.is_open
        os.write(pty.master, b"*IDN?\n")
        assert await read_exactly(transport, 6) == b"*IDN?\n"
        await transport.write(b"\x01\x03\x00\x00\x00\x01\x84\x0a")
        assert await pty.read(8) == b"\x01\x03\x00\x00\x00\x01\x84\x0a"
        assert transport.describe() == {"type": "serial", "port": pty.path, "baudrate": 115200, "format": "8N1"}
    assert not transport.is_open


async def test_read_returns_at_most_max_bytes_and_survives_cancellation(pty: Pty):
    async with SerialTransport(SerialParams(pty.path)) as transport:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(transport.read(), 0.05)  # what the link does between frames
        os.write(pty.master, b"abcdef")
        first = await asyncio.wait_for(transport.read(2), 2.0)
        assert first == b"ab"
        assert await read_exactly(transport, 4) == b"cdef"


async def test_hang_up_mid_read_raises_closed_with_the_port(pty: Pty):
    transport = SerialTransport(SerialParams(pty.path))
    await transport.open()
    try:
        pending = asyncio.ensure_future(transport.read())
        await asyncio.sleep(0)  # the read is now waiting on the port
        pty.hang_up()
        with pytest.raises(TransportClosedError) as info:
            await asyncio.wait_for(pending, 2.0)
        assert pty.path in info.value.message and info.value.hint
        assert not transport.is_open
        with pytest.raises(TransportClosedError):
            await transport.write(b"x")
        with pytest.raises(TransportClosedError):
            await transport.read()
    finally:
        await transport.close()
        await transport.close()  # idempotent


async def test_reopen_after_close(pty: Pty):
    transport = SerialTransport(SerialParams(pty.path))
    for _ in range(2):
        await transport.open()
        await transport.open()  # no-op when already open
        os.write(pty.master, b"!")
        assert await read_exactly(transport, 1) == b"!"
        await transport.close()
    with pytest.raises(TransportClosedError):
        await transport.read()


async def test_missing_port_lists_the_ports_that_exist(tmp_path):
    missing = str(tmp_path / "ttyUSB-not-there")
    with pytest.raises(PortNotFoundError) as info:
        await SerialTransport(SerialParams(missing)).open()
    err = info.value
    assert missing in err.message and err.code == "port_not_found"
    assert "Ports that exist now:" in err.hint
    existing = list_port_names()
    assert err.details["ports"] == existing
    for name in existing:
        assert name in err.hint


async def test_exclusive_port_opened_twice_is_busy(pty: Pty):
    async with SerialTransport(SerialParams(pty.path, exclusive=True)):
        with pytest.raises(PortBusyError) as info:
            await SerialTransport(SerialParams(pty.path, exclusive=True)).open()
        assert pty.path in info.value.message
        assert "another program, or another ionpy device, holds it" in info.value.message


async def test_non_exclusive_ports_can_share(pty: Pty):
    async with SerialTransport(SerialParams(pty.path, exclusive=False)), \
            SerialTransport(SerialParams(pty.path, exclusive=False)) as second:
        await second.write(b"hi")
        assert await pty.read(2) == b"hi"


# --- a real permission denial on a real pty ---

_OPEN_IN_CHILD = """
import asyncio, json, sys
from ionpy_widgets.errors import IonpyError
from ionpy_widgets.transport.address import SerialParams
from ionpy_widgets.transport.serial import SerialTransport

async def main():
    try:
        async with SerialTransport(SerialParams(sys.argv[1])):
            print(json.dumps({"opened": True}))
    except IonpyError as exc:
        print(json.dumps(exc.to_dict()))

asyncio.run(main())
"""


def test_a_port_the_user_may_not_open_explains_the_dialout_group(pty: Pty):
    # a port owned by someone else with mode 0600, opened by a process without the right: as root, the
    # child keeps uid 0 but loses every capability (no CAP_DAC_OVERRIDE), so the kernel refuses the open
    # exactly as it refuses a user outside the dialout group
    import shutil
    import subprocess
    import sys

    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("setpriv (util-linux) is needed to drop root's capabilities")
        os.chown(pty.path, 65534, 65534)
        os.chmod(pty.path, 0o600)
        command = [setpriv, "--inh-caps=-all", "--bounding-set=-all", sys.executable, "-c", _OPEN_IN_CHILD]
    else:
        os.chmod(pty.path, 0o000)  # our own pty, closed to its owner
        command = [sys.executable, "-c", _OPEN_IN_CHILD]
    result = subprocess.run([*command, pty.path], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    error = json.loads(result.stdout)
    assert error["code"] == "port_permission_denied", error
    assert pty.path in error["message"]
    assert "dialout" in error["hint"]


# --- the open-error mapping, unit-tested (every platform's wording) ---

@pytest.mark.parametrize("exc", [
    PermissionError(errno.EACCES, "Permission denied"),
    serial.SerialException(errno.EACCES, "could not open port /dev/ttyUSB0: [Errno 13] Permission denied"),
    OSError(errno.EPERM, "Operation not permitted"),
])
def test_permission_denied_explains_dialout_and_windows(exc):
    err = open_error(exc, "/dev/ttyUSB0")
    assert isinstance(err, PortPermissionError) and err.code == "port_permission_denied"
    assert "/dev/ttyUSB0" in err.message
    assert "sudo usermod -aG dialout $USER" in err.hint and "log out" in err.hint
    assert "Access is denied" in err.hint


def test_other_mappings():
    busy = open_error(serial.SerialException(errno.EBUSY, "Device or resource busy"), "COM3")
    assert isinstance(busy, PortBusyError) and "COM3" in busy.message
    gone = open_error(FileNotFoundError(errno.ENOENT, "No such file"), "/dev/ttyACM9", ["/dev/ttyS0"])
    assert isinstance(gone, PortNotFoundError) and "/dev/ttyS0" in gone.hint
    assert "none found" in open_error(OSError(errno.ENODEV, "No such device"), "/dev/ttyACM9").hint
    other = open_error(serial.SerialException("Invalid argument"), "/dev/ttyUSB0")
    assert type(other) is TransportError and "Invalid argument" in other.message and other.hint
