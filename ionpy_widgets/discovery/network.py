"""Network discovery: scan jobs over targets the user typed, plus the probe API they use.

Scan jobs run host x port probes in the background with progress, streaming, cancel and a cache.

:meth:`ScanManager.start_scan` parses the targets the user typed (nothing else is ever probed),
then runs at most ``concurrency`` (<= 50) probes at once as worker tasks of one job task on the
running loop. Open ports are streamed (``async for result in job`` or the ``on_result``
callback) as they are found; ``job.done``/``job.total`` give progress. ``job.cancel()`` cancels
the workers mid-connect; ``await job.wait()`` returns once every task has finished.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from ..errors import ConfigValidationError
from .known_devices import Drivers, installed_drivers
from .probe import (
    DEFAULT_SCAN_PORTS,
    KNOWN_PORTS,
    SCPI_PORTS,
    Probe,
    ProbeResult,
    ResultCache,
    probe_host,
    service_name,
)
from .targets import DEFAULT_MAX_HOSTS, ScanTargetError, ScanTooLargeError, parse_targets

__all__ = ["DEFAULT_SCAN_PORTS", "KNOWN_PORTS", "MAX_CONCURRENCY", "SCPI_PORTS", "ProbeResult", "ResultCache",
           "ScanJob", "ScanManager", "ScanTargetError", "ScanTooLargeError", "parse_targets", "probe_host",
           "service_name"]

log = logging.getLogger(__name__)
MAX_CONCURRENCY = 50


def _sort_key(result: ProbeResult) -> tuple[int, int, str, int]:
    try:
        ip = ipaddress.ip_address(result.host)
        return (ip.version, int(ip), "", result.port)
    except ValueError:
        return (9, 0, result.host, result.port)


class ScanJob:
    """One scan. Read ``state`` (running, done, cancelled, failed), ``done``/``total``, ``results``."""

    def __init__(self, scan_id: str, targets: str, hosts: list[str], ports: list[int], *, concurrency: int,
                 timeout: float, idn: bool, idn_ports: frozenset[int], cache: ResultCache, use_cache: bool,
                 probe: Probe,
                 on_result: Callable[[ProbeResult], Any] | None = None,
                 on_progress: Callable[[ScanJob], Any] | None = None) -> None:
        self.id = scan_id
        self.targets = targets
        self.hosts = hosts
        self.ports = ports
        self.total = len(hosts) * len(ports)
        self.done = 0
        self.cached = 0
        self.found: list[ProbeResult] = []
        self.state = "running"
        self.error = ""
        self.started_at = time.time()
        self._t0 = time.perf_counter()
        self._t1: float | None = None
        self._concurrency, self._timeout, self._idn, self._idn_ports = concurrency, timeout, idn, idn_ports
        self._cache, self._use_cache, self._probe = cache, use_cache, probe
        self._on_result, self._on_progress = on_result, on_progress
        self._changed = asyncio.Event()
        self._drivers: Drivers | None = None
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"ionpy-{scan_id}")

    # --- running ---------------------------------------------------------------------------
    async def _run(self) -> None:
        pairs = itertools.product(self.hosts, self.ports)
        try:
            if self._idn:  # one registry snapshot for every probe's driver hints
                self._drivers = await asyncio.get_running_loop().run_in_executor(None, installed_drivers)
            async with asyncio.TaskGroup() as group:
                for n in range(min(self._concurrency, self.total)):
                    group.create_task(self._worker(pairs), name=f"ionpy-{self.id}-w{n}")
            self.state = "done"
        except asyncio.CancelledError:
            self.state = "cancelled"
            raise
        except Exception as exc:  # a bug in a probe or callback; the job reports it
            self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("scan %s failed", self.id)
        finally:
            self._t1 = time.perf_counter()
            self._notify()

    async def _worker(self, pairs: Iterator[tuple[str, int]]) -> None:
        for host, port in pairs:  # one shared iterator: each pair goes to exactly one worker
            want_idn = self._idn and port in self._idn_ports
            result = self._cache.get(host, port) if self._use_cache else None
            if result is not None and want_idn and result.open and result.idn is None and not result.error:
                result = None  # cached by a scan that did not ask *IDN?
            if result is not None:
                self.cached += 1
            else:
                result = await self._probe(host, port, timeout=self._timeout, idn=self._idn, scpi=want_idn,
                                           drivers=self._drivers)
                self._cache.put(result)
            self.done += 1
            if result.open:
                self.found.append(result)
                self._notify()
                self._call(self._on_result, result)
            self._call(self._on_progress, self)

    def _call(self, callback: Callable[[Any], Any] | None, arg: Any) -> None:
        if callback is None:
            return
        try:
            callback(arg)
        except Exception:  # a widget callback must not stop the scan
            log.exception("scan %s: callback %r failed", self.id, callback)

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    # --- control and results ---------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self._task.done()

    @property
    def progress(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def duration_ms(self) -> float:
        return ((self._t1 if self._t1 is not None else time.perf_counter()) - self._t0) * 1000.0

    @property
    def results(self) -> list[ProbeResult]:
        """Open ports found so far, sorted by address then port."""
        return sorted(self.found, key=_sort_key)

    def results_json(self) -> list[dict[str, Any]]:
        """``[{"host", "port", "service", "latency_ms", "idn": {...} | None}, ...]``."""
        return [r.to_dict() for r in self.results]

    def cancel(self) -> None:
        """Stop the scan: in-flight probes are cancelled; ``await wait()`` to see it finished."""
        self._task.cancel()

    async def wait(self) -> ScanJob:
        """Wait until the job finished (done, cancelled or failed); never raises."""
        await asyncio.wait([self._task])
        return self

    async def stream(self) -> AsyncIterator[ProbeResult]:
        """Open ports as they are found (those found before the call first); ends with the job."""
        sent = 0
        while True:
            while sent < len(self.found):
                yield self.found[sent]
                sent += 1
            if self.finished:
                return
            await self._changed.wait()

    def __aiter__(self) -> AsyncIterator[ProbeResult]:
        return self.stream()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "targets": self.targets, "hosts": len(self.hosts), "ports": self.ports,
                "state": self.state, "done": self.done, "total": self.total, "cached": self.cached,
                "found": len(self.found), "duration_ms": round(self.duration_ms, 1), "error": self.error}

    def __repr__(self) -> str:
        return f"<ScanJob {self.id} {self.state} {self.done}/{self.total} found={len(self.found)}>"


def _check_ports(ports: Iterable[int]) -> list[int]:
    checked: list[int] = []
    for port in ports:
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ConfigValidationError(f"port {port!r} is not a TCP port", path="ports",
                                        hint="Ports are integers 1..65535, e.g. [5025, 5555, 502].")
        if port not in checked:
            checked.append(port)
    if not checked:
        raise ConfigValidationError("no ports to scan", path="ports", hint="Pass e.g. [5025, 5555] or None "
                                    f"for the defaults {list(DEFAULT_SCAN_PORTS)}.")
    return checked


class ScanManager:
    """Starts and keeps scan jobs, and the (host, port) result cache they share."""

    def __init__(self, *, cache_ttl: float = 300.0, clock: Callable[[], float] = time.monotonic,
                 max_hosts: int = DEFAULT_MAX_HOSTS, probe: Probe = probe_host, keep: int = 20) -> None:
        self.cache = ResultCache(cache_ttl, clock=clock)
        self.max_hosts = max_hosts
        self._probe = probe
        self._keep = keep
        self._jobs: dict[str, ScanJob] = {}
        self._ids = itertools.count(1)

    def start_scan(self, targets: str, ports: list[int] | None = None, *, concurrency: int = MAX_CONCURRENCY,
                   timeout: float = 0.5, idn: bool = True, idn_ports: Iterable[int] = SCPI_PORTS,
                   use_cache: bool = True,
                   on_result: Callable[[ProbeResult], Any] | None = None,
                   on_progress: Callable[[ScanJob], Any] | None = None) -> ScanJob:
        """Parse ``targets`` and start probing every host x port in the background (needs a running
        loop). ``*IDN?`` is sent on open ports in ``idn_ports`` (5025, 5555) when ``idn`` is true.
        Raises :class:`~.targets.ScanTargetError` / ConfigValidationError before any probe."""
        hosts = parse_targets(targets, max_hosts=self.max_hosts)
        checked = _check_ports(DEFAULT_SCAN_PORTS if ports is None else ports)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ConfigValidationError(f"concurrency {concurrency!r} is outside 1..{MAX_CONCURRENCY}",
                                        path="concurrency", hint=f"At most {MAX_CONCURRENCY} connections at once.")
        if not timeout > 0:
            raise ConfigValidationError(f"timeout {timeout!r} must be above 0 s", path="timeout",
                                        hint="0.3-1 s suits a LAN; loopback answers in well under 0.1 s.")
        job = ScanJob(f"scan-{next(self._ids)}", targets, hosts, checked, concurrency=concurrency, timeout=timeout,
                      idn=idn, idn_ports=frozenset(idn_ports), cache=self.cache, use_cache=use_cache,
                      probe=self._probe, on_result=on_result, on_progress=on_progress)
        self._jobs[job.id] = job
        self._forget_old()
        return job

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.finished]
        for job in finished[: max(0, len(self._jobs) - self._keep)]:
            del self._jobs[job.id]

    def list_scans(self) -> list[ScanJob]:
        """Jobs, oldest first (running ones and the last ``keep`` finished ones)."""
        return list(self._jobs.values())

    def get_scan(self, scan_id: str) -> ScanJob:
        try:
            return self._jobs[scan_id]
        except KeyError:
            raise ConfigValidationError(f"no scan {scan_id!r}", path="scan_id",
                                        hint=f"Known scans: {', '.join(self._jobs) or 'none'}.") from None

    async def close(self) -> None:
        """Cancel every running scan and wait for them."""
        jobs = [j for j in self._jobs.values() if not j.finished]
        for job in jobs:
            job.cancel()
        for job in jobs:
            await job.wait()
