"""A UART byte stream over a HID-to-UART bridge: the CP2110 (UNI-T UT-D09 cable) and the WCH D-09A cable.

These cables are HID devices, not serial ports: the bytes of the meter's UART travel inside HID
reports. :class:`HidUartTransport` is a :class:`~ionpy_widgets.transport.hid.HidTransport` that packs
written bytes into output reports and unpacks input reports, so the link above sees a plain byte
stream and the framer stays unaware of HID (decision 0007). Build it with ``HidParams(uart=...)``;
the ``hid`` transport type returns it whenever ``uart`` is set.

CP2110 (shared/reference/protocols.md §7.2): interrupt reports carry UART data with report id =
number of data bytes (1-63) followed by the bytes. On open the transport enables the UART (feature
report ``41 01``), configures it (``50`` + baud rate u32 big-endian, no parity, no flow control,
8 data bits, 1 stop bit, as in the USB trace of the vendor software) and purges the receive FIFO
(``43 02``).

D-09A (WCH ``1A86:E429``, per olegv142's ``adapters/ut61xp.py``): output report id 0, then a length
byte, then the bytes; an input report's first byte is the number of data bytes that follow. It
needs no set-up reports (its UART runs at the meter's fixed rate; ``baudrate`` is not used).
This packing is written from that source alone, not checked against a cable.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigValidationError, TransportError
from .address import HidParams
from .hid import HidTransport

CP2110_ID = (0x10C4, 0xEA80)
D09A_ID = (0x1A86, 0xE429)
#: Most UART bytes one report carries (CP2110: report ids 1..63; D-09A: kept to the same bound).
MAX_CHUNK = 63
#: CP2110 feature report ids.
CP2110_UART_ENABLE = 0x41
CP2110_PURGE = 0x43
CP2110_UART_CONFIG = 0x50
PURGE_RX = 0x02


def cp2110_setup_reports(baudrate: int) -> list[bytes]:
    """The feature reports that enable and configure a CP2110 UART at ``baudrate`` 8N1, then purge RX."""
    config = bytes([CP2110_UART_CONFIG]) + baudrate.to_bytes(4, "big") + bytes([0x00, 0x00, 0x03, 0x00, 0x00])
    return [bytes([CP2110_UART_ENABLE, 0x01]), config, bytes([CP2110_PURGE, PURGE_RX])]


def _chunks(data: bytes) -> list[bytes]:
    return [data[i:i + MAX_CHUNK] for i in range(0, len(data), MAX_CHUNK)]


def pack_cp2110(data: bytes) -> list[bytes]:
    """Output reports for ``data``: ``[n, byte1 … byte_n]`` per chunk of at most 63 bytes."""
    return [bytes([len(chunk)]) + chunk for chunk in _chunks(bytes(data))]


def unpack_cp2110(report: bytes) -> bytes:
    """The UART bytes in one input report (empty for anything that is not a data report)."""
    if not report or not 1 <= report[0] <= MAX_CHUNK:
        return b""
    return bytes(report[1:1 + report[0]])


def pack_d09a(data: bytes) -> list[bytes]:
    """Output reports for ``data``: ``[0x00 (report id), n, byte1 … byte_n]`` per chunk."""
    return [bytes([0x00, len(chunk)]) + chunk for chunk in _chunks(bytes(data))]


def unpack_d09a(report: bytes) -> bytes:
    """The UART bytes in one input report: the first byte counts the bytes after it."""
    if not report:
        return b""
    return bytes(report[1:1 + min(report[0], len(report) - 1)])


_CODECS = {"cp2110": (pack_cp2110, unpack_cp2110), "d09a": (pack_d09a, unpack_d09a)}


def resolve_uart(params: HidParams) -> str:
    """The bridge ``params`` names (``auto``: chosen by USB id). Raises ConfigValidationError for an unknown id."""
    uart = params.uart or "auto"
    if uart != "auto":
        return uart
    ident = (params.vendor_id, params.product_id)
    if ident == CP2110_ID:
        return "cp2110"
    if ident == D09A_ID:
        return "d09a"
    raise ConfigValidationError(
        f"uart=auto cannot tell the bridge of HID device {ident[0]:04x}:{ident[1]:04x}",
        path="transport.params.uart",
        hint="Set uart: cp2110 (SiLabs CP2110, 10C4:EA80) or uart: d09a (WCH D-09A, 1A86:E429).")


class HidUartTransport(HidTransport):
    """A HID-UART bridge as a byte stream: ``write`` takes UART bytes, ``read`` returns UART bytes
    (those of one input report; reports without data are skipped)."""

    def __init__(self, params: HidParams, *, backend: Any = None) -> None:
        super().__init__(params, backend=backend)
        self.uart = resolve_uart(params)
        self._pack, self._unpack = _CODECS[self.uart]

    async def open(self) -> None:
        if self._open:
            return
        await super().open()
        if self.uart != "cp2110":
            return
        try:
            for report in cp2110_setup_reports(self.params.baudrate):
                await self.send_feature_report(report)
        except TransportError as exc:
            await self.close()
            raise TransportError(
                f"{self._name} did not accept the CP2110 UART set-up: {exc.message}",
                hint="Is this really a CP2110 HID-UART bridge (UNI-T UT-D09 cable)? For the newer D-09A cable "
                     "use uart: d09a; re-plug the cable if it was in use by another program.") from exc

    async def read(self, max_bytes: int = 4096) -> bytes:
        while True:
            data = self._unpack(await super().read(max_bytes))
            if data:
                return data

    async def write(self, data: bytes) -> None:
        for report in self._pack(bytes(data)):
            await super().write(report)

    def describe(self) -> dict[str, Any]:
        desc = super().describe()
        desc["uart"] = self.uart
        if self.uart == "cp2110":
            desc["baudrate"] = self.params.baudrate
        return desc
