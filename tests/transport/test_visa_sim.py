"""VisaTransport through pyvisa-sim (visa_sim.yaml) and through pyvisa-py against a loopback socket.

No test calls ``list_resources()``: with pyvisa-py it broadcasts on the network.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ionpy_widgets.errors import (
    ConfigValidationError,
    PortNotFoundError,
    ProtocolTimeoutError,
    TransportClosedError,
    TransportUnavailableError,
)
from ionpy_widgets.transport import Transport
from ionpy_widgets.transport.address import VisaParams
from ionpy_widgets.transport.visa import VisaTransport

SIM = f"{Path(__file__).with_name('visa_sim.yaml')}@sim"
RESOURCE = "TCPIP::localhost::5025::SOCKET"


def sim_params(**kwargs) -> VisaParams:
    return VisaParams(RESOURCE, backend=SIM, **kwargs)


async def query(transport: VisaTransport, command: bytes) -> bytes:
    await transport.write(command)
    return await asyncio.wait_for(transport.read(), 2.0)


async def test_round_trips_through_pyvisa_sim():
    transport = VisaTransport(sim_params())
    assert isinstance(transport, Transport) and transport.streaming is False
    async with transport:
        assert await query(transport, b"*IDN?\n") == b"IONPY,SIMPSU,SN0001,1.0\n"
        await transport.write(b"VOLT 12.5\n")
        assert await query(transport, b"VOLT?\n") == b"12.500\n"
        assert await query(transport, b"BOGUS\n") == b"ERROR\n"
        assert transport.describe() == {"type": "visa", "resource": RESOURCE, "backend": SIM}
    assert not transport.is_open


async def test_unknown_resource_is_not_found_with_the_syntax():
    with pytest.raises(PortNotFoundError) as info:
        await VisaTransport(VisaParams("TCPIP::localhost::9999::SOCKET", backend=SIM)).open()
    hint = info.value.hint
    assert "TCPIP::<host>::5025::SOCKET" in hint and "USB0::0x1AB1::0x0E11::<serial>::INSTR" in hint
    assert "ASRL/dev/ttyUSB0::INSTR" in hint


async def test_read_without_a_query_times_out():
    async with VisaTransport(sim_params(timeout_ms=50)) as transport:
        with pytest.raises(ProtocolTimeoutError) as info:
            await transport.read()
        assert "50 ms" in info.value.message
        assert transport.is_open  # a timeout is not a lost connection
        assert await query(transport, b"*IDN?\n") == b"IONPY,SIMPSU,SN0001,1.0\n"


async def test_a_cancelled_read_does_not_shift_later_replies():
    async with VisaTransport(sim_params(timeout_ms=100)) as transport:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(transport.read(), 0.01)  # the link gave up on a reply
        await transport.write(b"VOLT 3.5\n")
        assert await query(transport, b"VOLT?\n") == b"3.500\n"
        assert await query(transport, b"*IDN?\n") == b"IONPY,SIMPSU,SN0001,1.0\n"


async def test_injected_resource_manager_is_left_open():
    import pyvisa

    rm = await asyncio.to_thread(pyvisa.ResourceManager, SIM)
    transport = VisaTransport(VisaParams(RESOURCE), resource_manager=rm)
    async with transport:
        assert await query(transport, b"*IDN?\n") == b"IONPY,SIMPSU,SN0001,1.0\n"
        assert transport.describe()["backend"] == "injected"
    # the manager still works for others after the transport closed its resource
    async with VisaTransport(VisaParams(RESOURCE), resource_manager=rm) as again:
        assert await query(again, b"*IDN?\n") == b"IONPY,SIMPSU,SN0001,1.0\n"


async def test_closed_transport_refuses_io():
    transport = VisaTransport(sim_params())
    await transport.open()
    await transport.close()
    await transport.close()
    with pytest.raises(TransportClosedError):
        await transport.read()
    with pytest.raises(TransportClosedError):
        await transport.write(b"*IDN?\n")


async def test_missing_libraries_and_files(monkeypatch):
    with pytest.raises(ConfigValidationError) as info:
        await VisaTransport(VisaParams(RESOURCE, backend="no-such-file.yaml@sim")).open()
    assert info.value.path == "transport.params.backend"
    monkeypatch.setitem(sys.modules, "pyvisa_py", None)
    with pytest.raises(TransportUnavailableError) as unavailable:
        await VisaTransport(VisaParams(RESOURCE)).open()
    assert "pip install pyvisa-py" in unavailable.value.hint
    monkeypatch.setitem(sys.modules, "pyvisa", None)
    with pytest.raises(TransportUnavailableError) as unavailable:
        await VisaTransport(sim_params()).open()
    assert "pip install pyvisa" in unavailable.value.hint


# --- the default backend (pyvisa-py) against a real loopback SCPI socket ----------------------------

@pytest.fixture
async def scpi_socket() -> AsyncIterator[int]:
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while line := await reader.readline():
            if line.strip() == b"*IDN?":
                writer.write(b"IONPY,LOOPBACK,0,1.0\n")
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


async def test_pyvisa_py_socket_on_loopback(scpi_socket: int):
    # read_termination is left unset: SOCKET resources default to LF, or every read would time out
    transport = VisaTransport(VisaParams(f"TCPIP::127.0.0.1::{scpi_socket}::SOCKET", timeout_ms=1000))
    async with transport:
        assert await query(transport, b"*IDN?\n") == b"IONPY,LOOPBACK,0,1.0\n"
    for thread in [t for t in threading.enumerate() if t.name.startswith("ionpy-visa")]:
        await asyncio.to_thread(thread.join, 2.0)  # the transport's VISA thread ends after close
        assert not thread.is_alive()
