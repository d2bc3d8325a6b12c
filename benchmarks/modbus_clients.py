"""The Modbus RTU clients the poll benchmark compares, behind one tiny interface.

Each client reads the DPS5005 status block (FC03, start 0x0000, 13 registers, slave 1).
``open``/``read``/``close`` are coroutines for the asyncio clients (ionpy, pymodbus); minimalmodbus
is synchronous and is driven by a plain loop, so it pays no event-loop cost it would not pay in real
use. ``check(result)`` validates one result (the model register must read 5005).
"""

from __future__ import annotations

import logging
from typing import Any

START, COUNT, SLAVE = 0x0000, 13, 1
MODEL_REGISTER, MODEL_ID = 11, 5005


def _registers(result: Any) -> list[int]:
    return list(result)


class IonpyRawClient:
    """ionpy's stack: SerialTransport -> ModbusRtuFramer -> Link, one raw FC03 request per read
    (the reply's 26 data bytes decoded to 13 integers, as the other clients do)."""

    name = "ionpy"
    is_async = True
    #: Link class to build (a subclass can measure a changed link).
    link_class: Any = None

    def __init__(self, port: str, baud: int) -> None:
        self.port, self.baud = port, baud
        self.link: Any = None
        self._request = bytes([SLAVE, 0x03, START >> 8, START & 0xFF, COUNT >> 8, COUNT & 0xFF])

    async def open(self) -> None:
        from ionpy_widgets.framing.modbus_rtu import ModbusRtuFramer
        from ionpy_widgets.link import Link
        from ionpy_widgets.transport.address import SerialParams
        from ionpy_widgets.transport.serial import SerialTransport

        link_class = self.link_class or Link
        transport = SerialTransport(SerialParams(self.port, baudrate=self.baud))
        self.trace: list[tuple[str, float]] = []
        # the trace hook only when the wire timing is asked for: it is the benchmark's instrument,
        # not part of a read (pymodbus and the floor carry none), and the link skips it when unset
        self.link = link_class(transport, ModbusRtuFramer(baudrate=self.baud), timeout=1.0, retries=0,
                               trace=self._on_trace if self.tracing else None)
        await self.link.open()

    def _on_trace(self, direction: str, data: bytes, when: float) -> None:
        self.trace.append((direction, when))

    #: Record tx/rx times (``timing()``); off unless the benchmark asks (it costs a little CPU).
    tracing = False

    def timing(self) -> dict[str, float]:
        """Medians from the link trace: request -> last reply byte, and last reply byte -> next request
        (the inter-frame silence as actually kept)."""
        import statistics

        reply, silence = [], []
        last_tx = last_rx = None
        for direction, when in self.trace:
            if direction == "tx":
                if last_tx is not None and last_rx is not None and last_rx > last_tx:
                    reply.append(last_rx - last_tx)
                    silence.append(when - last_rx)
                last_tx = when
            else:
                last_rx = when
        if not reply:
            return {}
        return {"reply_ms_p50": round(1e3 * statistics.median(reply), 3),
                "silence_ms_p50": round(1e3 * statistics.median(silence), 3),
                "silence_ms_min": round(1e3 * min(silence), 3)}

    async def read(self) -> Any:
        frame = await self.link.request(self._request)
        data = frame.payload[3:]
        return [int.from_bytes(data[i:i + 2], "big") for i in range(0, 2 * COUNT, 2)]

    def check(self, result: Any) -> None:
        regs = _registers(result)
        if len(regs) != COUNT or regs[MODEL_REGISTER] != MODEL_ID:
            raise RuntimeError(f"{self.name}: unexpected reply {regs!r}")

    async def close(self) -> None:
        if self.link is not None:
            await self.link.close()


class IonpyDriverClient(IonpyRawClient):
    """The same stack under the real driver: ``DPSDriver.poll()`` (reply matching, model lookup,
    scaling to volts/amps/watts, enum decoding) — what the engine runs every poll."""

    name = "ionpy-driver"

    async def open(self) -> None:
        from ionpy_widgets.instruments.rdtech_dps.driver import DPSDriver

        await super().open()
        self.driver = DPSDriver(self.link, options={"slave_id": SLAVE})
        await self.driver.connect()

    async def read(self) -> Any:
        return await self.driver.poll()

    def check(self, result: Any) -> None:
        if result.get("model") != "DPS5005" or abs(result.get("u_in", 0) - 24.0) > 1e-9:
            raise RuntimeError(f"{self.name}: unexpected poll result {result!r}")


class PymodbusClient:
    """pymodbus 3.x ``AsyncModbusSerialClient`` (RTU framer)."""

    name = "pymodbus"
    is_async = True

    def __init__(self, port: str, baud: int) -> None:
        self.port, self.baud = port, baud
        self.client: Any = None

    async def open(self) -> None:
        from pymodbus import FramerType
        from pymodbus.client import AsyncModbusSerialClient

        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
        self.client = AsyncModbusSerialClient(self.port, framer=FramerType.RTU, baudrate=self.baud,
                                              timeout=1.0, retries=0, reconnect_delay=0)
        if not await self.client.connect():
            raise RuntimeError(f"pymodbus could not open {self.port}")

    async def read(self) -> Any:
        reply = await self.client.read_holding_registers(START, count=COUNT, device_id=SLAVE)
        if reply.isError():
            raise RuntimeError(f"pymodbus error reply: {reply}")
        return reply.registers

    check = IonpyRawClient.check

    async def close(self) -> None:
        if self.client is not None:
            self.client.close()


class MinimalmodbusClient:
    """minimalmodbus 2.x ``Instrument.read_registers`` (synchronous pyserial)."""

    name = "minimalmodbus"
    is_async = False

    def __init__(self, port: str, baud: int) -> None:
        self.port, self.baud = port, baud
        self.inst: Any = None

    def open(self) -> None:
        import minimalmodbus

        self.inst = minimalmodbus.Instrument(self.port, SLAVE)
        self.inst.serial.baudrate = self.baud
        self.inst.serial.timeout = 1.0

    def read(self) -> Any:
        return self.inst.read_registers(START, COUNT, functioncode=3)

    check = IonpyRawClient.check

    def close(self) -> None:
        if self.inst is not None:
            self.inst.serial.close()


class AsyncioFloorClient:
    """A reference, not a library: the least an asyncio client can do per read on a pty — one
    ``os.write`` of a precomputed request, ``loop.add_reader`` and one future, no CRC check, no
    timeout. Its CPU per read is the floor under every asyncio client here."""

    name = "asyncio-floor"
    is_async = True
    _REQUEST = bytes.fromhex("0103 0000 000d 840f")  # FC03 0x0000 x13 with its CRC (low byte first)
    _REPLY_LEN = 5 + 2 * COUNT

    def __init__(self, port: str, baud: int) -> None:
        self.port = port
        self.fd = -1
        self.buf = bytearray()
        self.waiter: Any = None

    async def open(self) -> None:
        import asyncio
        import os
        import tty

        self.fd = os.open(self.port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        import os

        self.buf += os.read(self.fd, 4096)
        if len(self.buf) >= self._REPLY_LEN and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(bytes(self.buf))

    async def read(self) -> Any:
        import os

        self.buf.clear()
        self.waiter = self.loop.create_future()
        os.write(self.fd, self._REQUEST)
        data = await self.waiter
        return [int.from_bytes(data[i:i + 2], "big") for i in range(3, 3 + 2 * COUNT, 2)]

    check = IonpyRawClient.check

    async def close(self) -> None:
        import os

        if self.fd >= 0:
            self.loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1


CLIENTS: dict[str, type] = {c.name: c for c in (IonpyRawClient, IonpyDriverClient, PymodbusClient,
                                                   MinimalmodbusClient, AsyncioFloorClient)}
