"""Network probes: one host:port, open or not, with ``*IDN?`` on SCPI ports, and a result cache.

Nothing here runs on its own: a probe or a scan touches exactly the hosts and ports passed in
(discovery is advisory; the user starts every scan). :func:`probe_host` opens a TCP connection,
measures the connect latency and, on SCPI raw-socket ports (5025, 5555) or when asked, sends
``*IDN?\\n`` and parses the reply. :class:`ResultCache` keeps results per (host, port) for a
while; the background scan jobs that use both live in :mod:`.network`.

Known ports (protocols.md §2.4, §5.5): 5025 scpi-raw, 5555 scpi-raw (Rigol), 5024 Keysight SCPI
telnet, 502 modbus-tcp, 111 VXI-11 portmapper, 4880 HiSLIP, 8080 the Riden WiFi server port, and
23/1000/3000 telnet/serial bridges (ESP-link style modules; ports chosen by the module's firmware).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..driver.reading import Identity
from .idn import clean_reply, parse_idn
from .known_devices import Drivers, installed_drivers, match_idn
from .results import DriverMatch, identity_dict

#: port -> (service name, description)
KNOWN_PORTS: dict[int, tuple[str, str]] = {
    5025: ("scpi-raw", "SCPI raw socket (Keysight, Siglent, riden-dongle)"),
    5555: ("scpi-raw", "SCPI raw socket (Rigol)"),
    5024: ("scpi-telnet", "Keysight SCPI telnet"),
    502: ("modbus-tcp", "Modbus/TCP"),
    111: ("vxi11-portmapper", "ONC-RPC portmapper (VXI-11 instruments)"),
    4880: ("hislip", "HiSLIP (IVI high-speed LAN instrument protocol)"),
    8080: ("riden-wifi", "Riden WiFi server port (Modbus RTU over TCP)"),
    23: ("telnet", "telnet / serial bridge (e.g. ESP-link RTU-over-TCP)"),
    1000: ("serial-bridge", "TCP-serial bridge"),
    3000: ("serial-bridge", "TCP-serial bridge"),
}
#: Ports where ``*IDN?\n`` is sent by default.
SCPI_PORTS = frozenset({5025, 5555})
#: What a scan tries when no ports are given.
DEFAULT_SCAN_PORTS: tuple[int, ...] = (5025, 5555, 502, 4880, 111)
IDN_QUERY = b"*IDN?\n"
_MAX_REPLY = 4096


def service_name(port: int) -> str:
    """``scpi-raw`` for 5025, ..., ``unknown`` for ports not in :data:`KNOWN_PORTS`."""
    return KNOWN_PORTS.get(port, ("unknown", ""))[0]


@dataclass(slots=True)
class ProbeResult:
    """One host:port. ``state`` is ``open``, ``closed`` (refused), ``timeout`` or ``error``."""

    host: str
    port: int
    state: str
    service: str = "unknown"
    latency_ms: float | None = None
    idn: Identity | None = None
    idn_raw: str = ""
    error: str = ""
    hints: list[DriverMatch] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.state == "open"

    def to_dict(self) -> dict[str, Any]:
        """The scan-result shape: exactly host, port, service, latency_ms and idn (or None)."""
        return {"host": self.host, "port": self.port, "service": self.service, "latency_ms": self.latency_ms,
                "idn": identity_dict(self.idn)}

    def detail_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` plus state, error, the raw ``*IDN?`` reply and driver hints."""
        return {**self.to_dict(), "state": self.state, "error": self.error, "idn_raw": self.idn_raw,
                "hints": [h.to_dict() for h in self.hints]}


async def _query_idn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float,
                     result: ProbeResult, drivers: Drivers | None) -> None:
    try:
        async with asyncio.timeout(timeout):
            writer.write(IDN_QUERY)
            await writer.drain()
            data = await reader.readuntil(b"\n")
    except TimeoutError:
        result.error = f"no reply to *IDN? within {timeout:g} s (not a SCPI port, or remote control is off)"
        return
    except asyncio.IncompleteReadError as exc:
        data = exc.partial
    except (ConnectionResetError, BrokenPipeError):
        data = b""
    except (asyncio.LimitOverrunError, OSError) as exc:
        result.error = f"*IDN? failed: {type(exc).__name__}: {exc}"
        return
    result.idn_raw = clean_reply(data[:_MAX_REPLY])
    if result.idn_raw:
        result.idn = parse_idn(result.idn_raw)
        if drivers is None:  # loading the registry blocks: not on the loop
            drivers = await asyncio.get_running_loop().run_in_executor(None, installed_drivers)
        result.hints = match_idn(result.idn_raw, drivers=drivers)
    else:
        result.error = "the port closed without answering *IDN?"


async def probe_host(host: str, port: int, *, timeout: float = 1.0, idn: bool = True, scpi: bool | None = None,
                     idn_timeout: float | None = None, drivers: Drivers | None = None) -> ProbeResult:
    """Connect to ``host:port`` (``timeout`` seconds), report open/closed and the connect latency.

    With ``idn`` true, ``*IDN?\\n`` is sent when the port speaks SCPI: ``scpi=None`` decides by the
    port (5025, 5555), ``scpi=True`` forces the query. ``drivers`` is a registry snapshot for the
    driver hints (:func:`~.known_devices.installed_drivers`; loaded in an executor when None).
    Never raises for network errors.
    """
    result = ProbeResult(host, port, "error", service_name(port))
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, limit=_MAX_REPLY)
    except TimeoutError:
        result.state, result.error = "timeout", f"no answer within {timeout:g} s"
        return result
    except ConnectionRefusedError:
        result.state = "closed"
        return result
    except OSError as exc:  # unreachable network, unknown host name, ...
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    result.state = "open"
    result.latency_ms = round((time.perf_counter() - start) * 1000.0, 3)
    try:
        if idn and (scpi if scpi is not None else port in SCPI_PORTS):
            await _query_idn(reader, writer, idn_timeout if idn_timeout is not None else timeout, result, drivers)
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(0.5):
                await writer.wait_closed()
    return result


Probe = Callable[..., Awaitable[ProbeResult]]


class ResultCache:
    """Probe results by (host, port), forgotten ``ttl`` seconds after they were stored.
    Only definite answers (open, closed) are kept; timeouts and errors are retried next time."""

    def __init__(self, ttl: float = 300.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._items: dict[tuple[str, int], tuple[float, ProbeResult]] = {}

    def get(self, host: str, port: int) -> ProbeResult | None:
        entry = self._items.get((host, port))
        if entry is None:
            return None
        if self.clock() - entry[0] >= self.ttl:
            del self._items[(host, port)]
            return None
        return entry[1]

    def put(self, result: ProbeResult) -> None:
        if result.state in ("open", "closed"):
            self._items[(result.host, result.port)] = (self.clock(), result)

    def results(self, *, open_only: bool = True) -> list[ProbeResult]:
        """Every fresh entry (open ones only by default)."""
        fresh = [self.get(h, p) for h, p in list(self._items)]
        return [r for r in fresh if r is not None and (r.open or not open_only)]

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self.results(open_only=False))
