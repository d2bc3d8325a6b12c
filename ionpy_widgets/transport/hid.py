"""USB HID devices through hidapi (HID-to-UART bridges such as the CP2110 in UNI-T meter cables).

hidapi is blocking, so every call runs in a single-thread executor owned by the transport: one
thread per device keeps hidapi calls on a handle strictly sequential and never blocks the loop.
``read`` issues ``device.read(report_size, read_timeout_ms)`` jobs until a report arrives, so a
write waits at most ``read_timeout_ms`` for the thread. Each ``read`` returns exactly one input
report (report id first, for numbered reports); ``max_bytes`` does not split reports.

``read`` is cancellation-safe: when the waiter is cancelled (the link wraps reads in
``asyncio.wait_for``) the executor job keeps running and its report is handed to the next
``read`` instead of being lost. Only one ``read`` may wait at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import (
    PortNotFoundError,
    PortPermissionError,
    TransportClosedError,
    TransportError,
    TransportUnavailableError,
)
from .address import HidParams
from .base import TransportBase


def _import_hid() -> Any:
    """The hidapi module: on Linux its ``hidraw`` flavour, elsewhere ``hid``.

    The hidapi wheel ships two builds with the same API. On Linux ``hid`` is the libusb backend: it
    initialises libusb on import, needs access to /dev/bus/usb and detaches the kernel driver;
    ``hidraw`` talks to /dev/hidraw* like every other HID program, which is what the udev rule in
    our hints grants. Other platforms only have ``hid``.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(ImportError):
            import hidraw

            return hidraw
    try:
        import hid
    except ImportError as exc:
        raise TransportUnavailableError(
            "hidapi is not installed", hint="pip install hidapi (Linux: the wheel bundles libhidapi; "
                                            "source builds need libhidapi-hidraw0)") from exc
    return hid


def udev_rule(vendor_id: int, product_id: int) -> str:
    """The udev rule that lets members of ``plugdev`` open this device's hidraw node."""
    return (f'SUBSYSTEM=="hidraw", ATTRS{{idVendor}}=="{vendor_id:04x}", ATTRS{{idProduct}}=="{product_id:04x}", '
            'MODE="0660", GROUP="plugdev"')


def _retrieve(fut: asyncio.Future[Any]) -> None:
    """Mark an orphaned job's exception as seen (it is re-raised to the next reader if any)."""
    if not fut.cancelled():
        fut.exception()


class HidTransport(TransportBase):
    """One HID device by vendor/product id (and serial or path). ``backend`` defaults to hidapi (see
    :func:`_import_hid`); tests pass :class:`ionpy_widgets.testing.hid_backend.FakeHidBackend`."""

    type_name = "hid"
    streaming = True

    def __init__(self, params: HidParams, *, backend: Any = None) -> None:
        super().__init__()
        self.params = params
        self._backend = backend
        self._pool: ThreadPoolExecutor | None = None
        self._dev: Any = None
        self._inflight: asyncio.Future[bytes] | None = None
        self._reading = False
        self._lost = False

    @classmethod
    def from_params(cls, params: HidParams) -> HidTransport:
        """The transport for ``params``: a UART byte stream when ``params.uart`` names a bridge
        (:class:`~ionpy_widgets.transport.hid_uart.HidUartTransport`), raw reports otherwise."""
        if params.uart is None:
            return cls(params)
        from .hid_uart import HidUartTransport

        return HidUartTransport(params)

    @property
    def _name(self) -> str:
        p = self.params
        ident = f"{p.vendor_id:04x}:{p.product_id:04x}"
        if p.serial:
            ident += f" serial {p.serial}"
        if p.path:
            ident += f" at {p.path}"
        return f"HID device {ident}"

    # --- lifecycle ------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._open:
            return
        await self.close()  # release anything left over from a lost device
        backend = self._backend if self._backend is not None else _import_hid()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ionpy-hid")
        self._lost = False
        try:
            self._dev = await self._run(self._open_blocking, backend)
        except (OSError, ValueError) as exc:
            try:
                found = await self._run(self._enumerate_blocking, backend)
            except (OSError, ValueError):
                found = []
            await self.close()
            raise self._open_error(exc, found) from exc
        self._open = True

    def _open_blocking(self, backend: Any) -> Any:
        p = self.params
        dev = backend.device()
        if p.path:
            dev.open_path(p.path.encode())
        else:
            dev.open(p.vendor_id, p.product_id, p.serial)
        return dev

    def _enumerate_blocking(self, backend: Any) -> list[dict[str, Any]]:
        return list(backend.enumerate(self.params.vendor_id, self.params.product_id))

    def _open_error(self, exc: BaseException, found: list[dict[str, Any]]) -> TransportError:
        p = self.params
        rule = udev_rule(p.vendor_id, p.product_id)
        matching = [d for d in found if (p.serial is None or d.get("serial_number") == p.serial)
                    and (p.path is None or _text(d.get("path")) == p.path)]
        if matching:
            return PortPermissionError(
                f"{self._name} is connected but could not be opened ({exc})",
                hint=f"Linux: allow access with a udev rule in /etc/udev/rules.d/60-ionpy.rules: {rule} ; then "
                     "`sudo udevadm control --reload && sudo udevadm trigger`, add yourself to plugdev and re-plug. "
                     "macOS: allow the terminal/Jupyter app under System Settings > Privacy & Security > "
                     "Input Monitoring. Also close other programs that hold the device.",
                vendor_id=p.vendor_id, product_id=p.product_id)
        others = ", ".join(f"serial {d.get('serial_number') or '?'} at {_text(d.get('path'))}" for d in found)
        seen = f"Matching HID devices found: {others}." if found else \
            f"No HID device {p.vendor_id:04x}:{p.product_id:04x} is connected."
        return PortNotFoundError(
            f"{self._name} not found",
            hint=f"{seen} Check the cable (UNI-T meters: switch the meter's USB/PC mode on). On Linux a device you "
                 f"may not open still enumerates; for access add the udev rule {rule} and join plugdev.",
            vendor_id=p.vendor_id, product_id=p.product_id, found=[_text(d.get("path")) for d in found])

    async def close(self) -> None:
        """Close the device (idempotent). Waits for a running hidapi call (at most ``read_timeout_ms``)."""
        self._open = False
        pool, self._pool = self._pool, None
        dev, self._dev = self._dev, None
        self._inflight = None
        if pool is None:
            return
        try:
            if dev is not None:
                with contextlib.suppress(Exception):
                    # queued behind any running read job, so the handle is never closed under it
                    await asyncio.get_running_loop().run_in_executor(pool, dev.close)
        finally:
            pool.shutdown(wait=False)

    # --- data -----------------------------------------------------------------------------------
    async def read(self, max_bytes: int = 4096) -> bytes:
        if self._reading:
            raise RuntimeError("HidTransport.read() is already waiting in another task")
        self._reading = True
        try:
            while True:
                self._check()
                if self._inflight is None:
                    self._inflight = self._run(self._read_blocking)
                    self._inflight.add_done_callback(_retrieve)
                job = self._inflight
                try:
                    report = await asyncio.shield(job)
                except asyncio.CancelledError:
                    raise  # the job stays in self._inflight: its report belongs to the next read()
                except (OSError, ValueError) as exc:
                    self._inflight = None
                    self._check()  # closed by us meanwhile: report that, not the handle error
                    self._lost, self._open = True, False
                    raise TransportClosedError(f"{self._name} was lost: {exc}",
                                               hint="The device was unplugged or reset; it is reopened on the "
                                                    "next connect.") from exc
                if job is self._inflight:
                    self._inflight = None
                self._check()  # closed while the job ran: its report goes with the connection
                if report:
                    return report
        finally:
            self._reading = False

    def _read_blocking(self) -> bytes:
        dev = self._dev
        if dev is None:
            return b""
        return bytes(dev.read(self.params.report_size, self.params.read_timeout_ms))

    async def write(self, data: bytes) -> None:
        """Send one output report; ``data[0]`` is the report id (0 for devices without numbered reports)."""
        result = await self._call("write", bytes(data))
        if result < 0:
            self._lost, self._open = True, False
            raise TransportClosedError(f"{self._name}: writing an output report failed",
                                       hint="The device was unplugged, or it rejected the report (check the "
                                            "report id in data[0]).")

    async def send_feature_report(self, data: bytes) -> int:
        """Send one feature report (``data[0]`` = report id); returns the byte count hidapi reports."""
        result: int = await self._call("send_feature_report", bytes(data))
        if result < 0:
            raise TransportError(f"{self._name} rejected feature report 0x{data[0]:02x}",
                                 hint="Check the report id and length against the device's datasheet.")
        return result

    async def get_feature_report(self, report_id: int, size: int) -> bytes:
        """Read feature report ``report_id`` (at most ``size`` bytes, report id included)."""
        try:
            return bytes(await self._call("get_feature_report", report_id, size))
        except OSError as exc:
            raise TransportError(f"{self._name}: reading feature report 0x{report_id:02x} failed: {exc}",
                                 hint="Check the report id and size against the device's datasheet.") from exc

    def describe(self) -> dict[str, Any]:
        p = self.params
        desc: dict[str, Any] = {"type": self.type_name, "vendor_id": f"{p.vendor_id:04x}",
                                "product_id": f"{p.product_id:04x}"}
        if p.serial:
            desc["serial"] = p.serial
        if p.path:
            desc["path"] = p.path
        return desc

    # --- internals ------------------------------------------------------------------------------
    def _check(self) -> None:
        if self._lost:
            raise TransportClosedError(f"{self._name} was lost")
        if not self._open or self._dev is None:
            raise TransportClosedError(f"{self._name} is not open")

    def _run(self, fn: Any, *args: Any) -> asyncio.Future[Any]:
        if self._pool is None:
            raise TransportClosedError(f"{self._name} is not open")
        return asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _call(self, method: str, *args: Any) -> Any:
        self._check()
        try:
            return await self._run(getattr(self._dev, method), *args)
        except ValueError as exc:  # hidapi: "not open"
            raise TransportClosedError(f"{self._name} is not open") from exc


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
