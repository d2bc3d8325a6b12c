"""A simulated hidapi backend: the ``hid`` module's API with a CP2110 HID-to-UART bridge behind it.

Why a fake: no HID device exists on the machines the test-suite runs on, and hidapi cannot create
virtual ones, so :class:`ionpy_widgets.transport.hid.HidTransport` is tested at the hidapi API
boundary instead. This double is allowed only for that reason; everything above it (transport,
framing, drivers) runs unchanged. It follows cython-hidapi's behaviour: ``open``/``open_path``
raise ``OSError("open failed")``, ``read`` returns a list of ints (empty on timeout) and raises
``OSError("read error")`` when the device is gone, ``write``/``send_feature_report`` return -1 on
failure, ``get_feature_report`` raises ``OSError``, and any call on a closed handle raises
``ValueError("not open")``.

The bridge follows the CP2110 report layout (shared/reference/protocols.md §7.2): interrupt OUT
and IN reports carry UART bytes with report id = number of data bytes (1-63); feature report 0x41
enables the UART (bytes written while it is disabled are lost, as on the chip), 0x42 reads the
FIFO status, 0x43 purges the FIFOs, 0x50 sets and reads the line configuration. Behind the UART is
a *responder*: :func:`loopback` echoes, :class:`Ut61ePlusResponder` answers like a UNI-T UT61E+
meter (frame layout §7.3).

Usage::

    bridge = FakeCp2110(responder=Ut61ePlusResponder())
    backend = FakeHidBackend(bridge)
    transport = HidTransport(HidParams(0x10C4, 0xEA80), backend=backend)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

Responder = Callable[[bytes], bytes]

CP2110_VID = 0x10C4
CP2110_PID = 0xEA80
#: UT61E+ "send measurement" request and a measurement reply (DC V, range 0, " 1.2345").
UT61E_MEASURE_REQUEST = bytes.fromhex("AB CD 03 5E 01 D9")
UT61E_SAMPLE_REPLY = bytes.fromhex("AB CD 10 02 31 20 31 2E 32 33 34 35 00 00 30 30 38 03 A0")
_DEFAULT_CONFIG = bytes.fromhex("50 00 00 25 80 00 00 03 00")  # 9600 baud, no parity, no flow, 8 bits, 1 stop


def loopback(data: bytes) -> bytes:
    """Responder whose TX is wired to its RX: every byte comes back."""
    return data


class Ut61ePlusResponder:
    """A scripted UT61E+ meter: each valid measure request is answered with ``reply``; other valid
    frames and bytes with a bad checksum are ignored, as the meter does."""

    def __init__(self, reply: bytes = UT61E_SAMPLE_REPLY) -> None:
        self.reply = reply
        self.requests = 0
        self.ignored = 0
        self._buf = bytearray()

    def __call__(self, data: bytes) -> bytes:
        self._buf.extend(data)
        out = bytearray()
        while True:
            start = self._buf.find(b"\xab\xcd")
            if start < 0:
                keep = 1 if self._buf.endswith(b"\xab") else 0
                del self._buf[:len(self._buf) - keep]
                break
            del self._buf[:start]
            if len(self._buf) < 3 or len(self._buf) < 3 + self._buf[2]:
                break
            frame = bytes(self._buf[:3 + self._buf[2]])
            del self._buf[:len(frame)]
            if frame == UT61E_MEASURE_REQUEST:
                self.requests += 1
                out += self.reply
            else:
                self.ignored += 1
        return bytes(out)


class FakeCp2110:
    """One simulated CP2110 bridge. Thread-safe: hidapi calls come from an executor thread."""

    def __init__(self, *, responder: Responder = loopback, serial: str = "0001A2B3", path: bytes = b"fake-hidraw0",
                 vendor_id: int = CP2110_VID, product_id: int = CP2110_PID, accessible: bool = True) -> None:
        self.responder = responder
        self.serial = serial
        self.path = path
        self.vendor_id = vendor_id
        self.product_id = product_id
        #: False models a device node the user may not open (no udev rule): enumerate sees it, open fails.
        self.accessible = accessible
        self.connected = True
        self.uart_enabled = False
        self.config = _DEFAULT_CONFIG
        self.purges = 0
        self.lost_bytes = 0
        self.uart_tx: list[bytes] = []  # what reached the far side of the UART
        self._reports: deque[bytes] = deque()
        self._cond = threading.Condition()

    def info(self) -> dict[str, Any]:
        return {"path": self.path, "vendor_id": self.vendor_id, "product_id": self.product_id,
                "serial_number": self.serial, "release_number": 0x0100,
                "manufacturer_string": "Silicon Laboratories", "product_string": "CP2110 HID USB-to-UART Bridge",
                "usage_page": 0xFF00, "usage": 1, "interface_number": 0}

    # --- fault injection and scripted input -----------------------------------------------------
    def unplug(self) -> None:
        """Pull the cable: reads and writes on open handles fail, enumerate no longer lists it."""
        with self._cond:
            self.connected = False
            self._cond.notify_all()

    def inject(self, uart_bytes: bytes) -> None:
        """The far side sends ``uart_bytes`` on its own (appears as input reports if the UART is on)."""
        with self._cond:
            self._receive(uart_bytes)

    # --- hidapi-level operations (called by FakeHidDevice) --------------------------------------
    def output_report(self, data: bytes) -> int:
        with self._cond:
            if not self.connected or not data:
                return -1
            count = data[0]
            if not 1 <= count <= 63 or len(data) < count + 1:
                return -1  # not a UART data report: the chip stalls the request
            payload = bytes(data[1:1 + count])
            if not self.uart_enabled:
                self.lost_bytes += count
                return len(data)
            self.uart_tx.append(payload)
            self._receive(self.responder(payload))
            return len(data)

    def set_feature(self, data: bytes) -> int:
        with self._cond:
            if not self.connected or not data:
                return -1
            if data[0] == 0x41 and len(data) >= 2:
                self.uart_enabled = bool(data[1])
            elif data[0] == 0x43 and len(data) >= 2:
                self.purges += 1
                if data[1] & 0x02:
                    self._reports.clear()
            elif data[0] == 0x50 and len(data) >= 9:
                self.config = bytes(data[:9])
            else:
                return -1
            return len(data)

    def get_feature(self, report_id: int, size: int) -> list[int]:
        with self._cond:
            if not self.connected:
                raise OSError("read error")
            if report_id == 0x41:
                report = bytes([0x41, int(self.uart_enabled)])
            elif report_id == 0x42:
                pending = sum(len(r) - 1 for r in self._reports)
                report = bytes([0x42, 0, 0]) + pending.to_bytes(2, "big") + bytes([0, 0])
            elif report_id == 0x50:
                report = self.config
            else:
                raise OSError("read error")
            return list(report[:size])

    def input_report(self, max_length: int, timeout_ms: int) -> list[int]:
        deadline = None if timeout_ms <= 0 else time.monotonic() + timeout_ms / 1000
        with self._cond:
            while self.connected and not self._reports:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return []
                self._cond.wait(remaining)
            if not self.connected:
                raise OSError("read error")
            return list(self._reports.popleft()[:max_length])

    def _receive(self, uart_bytes: bytes) -> None:
        if not self.uart_enabled:
            self.lost_bytes += len(uart_bytes)
            return
        for start in range(0, len(uart_bytes), 63):
            chunk = uart_bytes[start:start + 63]
            self._reports.append(bytes([len(chunk)]) + chunk)
        if uart_bytes:
            self._cond.notify_all()


class FakeHidDevice:
    """Stands in for ``hid.device()``: a handle that opens one :class:`FakeCp2110`."""

    def __init__(self, backend: FakeHidBackend) -> None:
        self._backend = backend
        self._bridge: FakeCp2110 | None = None

    def open(self, vendor_id: int = 0, product_id: int = 0, serial_number: str | None = None) -> None:
        self._backend.note_thread()
        for bridge in self._backend.present():
            if (bridge.vendor_id, bridge.product_id) == (vendor_id, product_id) \
                    and serial_number in (None, bridge.serial):
                self._attach(bridge)
                return
        raise OSError("open failed")

    def open_path(self, path: bytes) -> None:
        self._backend.note_thread()
        for bridge in self._backend.present():
            if bridge.path == path:
                self._attach(bridge)
                return
        raise OSError("open failed")

    def _attach(self, bridge: FakeCp2110) -> None:
        if not bridge.accessible:
            raise OSError("open failed")
        self._bridge = bridge
        self._backend.open_handles += 1

    def _need(self) -> FakeCp2110:
        self._backend.note_thread()
        if self._bridge is None:
            raise ValueError("not open")
        return self._bridge

    def close(self) -> None:
        self._backend.note_thread()
        if self._bridge is not None:
            self._bridge = None
            self._backend.open_handles -= 1

    def read(self, max_length: int, timeout_ms: int = 0) -> list[int]:
        return self._need().input_report(max_length, timeout_ms)

    def write(self, buff: Any) -> int:
        return self._need().output_report(bytes(buff))

    def send_feature_report(self, buff: Any) -> int:
        return self._need().set_feature(bytes(buff))

    def get_feature_report(self, report_num: int, max_length: int) -> list[int]:
        return self._need().get_feature(report_num, max_length)

    def set_nonblocking(self, v: int) -> int:
        self._need()
        return 0

    def error(self) -> str:
        bridge = self._need()
        return "" if bridge.connected else "No such device"

    def get_serial_number_string(self) -> str:
        return self._need().serial


class FakeHidBackend:
    """Stands in for the ``hid`` module: ``device()`` and ``enumerate(vendor_id, product_id)``."""

    def __init__(self, *bridges: FakeCp2110) -> None:
        self.bridges = list(bridges)
        #: Handles currently open; a test checks it returns to 0 after close.
        self.open_handles = 0
        #: Names of the threads that called into the backend (hidapi must never run on the loop's thread).
        self.threads: set[str] = set()

    def note_thread(self) -> None:
        self.threads.add(threading.current_thread().name)

    def present(self) -> list[FakeCp2110]:
        return [b for b in self.bridges if b.connected]

    def device(self) -> FakeHidDevice:
        self.note_thread()
        return FakeHidDevice(self)

    def enumerate(self, vendor_id: int = 0, product_id: int = 0) -> list[dict[str, Any]]:
        self.note_thread()
        return [b.info() for b in self.present()
                if vendor_id in (0, b.vendor_id) and product_id in (0, b.product_id)]
