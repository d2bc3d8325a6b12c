"""VISA resources through pyvisa (pyvisa-py by default, pyvisa-sim in tests).

VISA sessions are message based (``streaming = False``): the link reads only after a write that
expects a reply, and each ``read`` returns one whole message, termination included. pyvisa is
blocking, so the resource manager, the open and every read/write run in a single-thread executor
owned by the transport; the loop never waits on VISA.

Two rules:

* ``list_resources()`` is never called: with pyvisa-py it broadcasts on every network interface.
  The user names the resource; discovery lives elsewhere and runs only on request.
* A read whose waiter was cancelled is *discarded* when it completes: a message that arrives
  after the link gave up answers the abandoned request, and handing it to the next read would
  shift every later reply by one. (Compare HID, where reports are a stream and are kept.)

Resource managers are shared: pyvisa returns the same manager for the same backend, so the
transport closes only its own resource, never the manager.

Known limit: pyvisa-py's ``SOCKET`` sessions do not notice that the instrument closed the
connection; reads then end in ``ProtocolTimeoutError`` rather than ``TransportClosedError``, and
only closing and reopening the transport recovers.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib.util
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import (
    ConfigValidationError,
    PortNotFoundError,
    PortPermissionError,
    ProtocolTimeoutError,
    TransportClosedError,
    TransportError,
    TransportUnavailableError,
)
from .address import VisaParams
from .base import TransportBase

RESOURCE_SYNTAX = ("TCPIP::<host>::5025::SOCKET (raw SCPI; 5555 on Rigol), TCPIP::<host>::INSTR (VXI-11), "
                   "USB0::0x1AB1::0x0E11::<serial>::INSTR (USBTMC), ASRL/dev/ttyUSB0::INSTR or ASRL3::INSTR (serial)")
_BACKEND_MODULES = {"@py": ("pyvisa_py", "pip install pyvisa-py"), "@sim": ("pyvisa_sim", "pip install pyvisa-sim")}


def _backend_module(backend: str) -> tuple[str, str] | None:
    for suffix, module in _BACKEND_MODULES.items():
        if backend.strip().endswith(suffix):
            return module
    return None


def _importable(module: str) -> bool:
    if module in sys.modules:
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None


class VisaTransport(TransportBase):
    """One VISA resource. ``resource_manager`` (a ``pyvisa.ResourceManager``) overrides ``params.backend``."""

    type_name = "visa"
    streaming = False

    def __init__(self, params: VisaParams, *, resource_manager: Any = None) -> None:
        super().__init__()
        self.params = params
        self._rm = resource_manager
        self._pool: ThreadPoolExecutor | None = None
        self._res: Any = None

    async def open(self) -> None:
        if self._open:
            return
        await self.close()
        try:
            import pyvisa
        except ImportError as exc:
            raise TransportUnavailableError("pyvisa is not installed", hint="pip install pyvisa pyvisa-py") from exc
        needed = None if self._rm is not None else _backend_module(self.params.backend)
        if needed is not None and not _importable(needed[0]):
            raise TransportUnavailableError(f"VISA backend {self.params.backend} needs {needed[0]}", hint=needed[1])
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ionpy-visa")
        try:
            self._res = await self._run(self._open_blocking, pyvisa)
        except Exception as exc:
            await self.close()
            raise self._open_error(exc, pyvisa) from exc
        self._open = True

    def _open_blocking(self, pyvisa: Any) -> Any:
        p = self.params
        rm = self._rm if self._rm is not None else pyvisa.ResourceManager(p.backend)
        res = rm.open_resource(p.resource, open_timeout=p.timeout_ms)
        try:
            if getattr(res, "session", None) == 0:  # pyvisa-sim reports "not found" by a null session
                raise LookupError(p.resource)
            res.timeout = p.timeout_ms
            socket_like = p.resource.upper().endswith("::SOCKET") or p.resource.upper().startswith("ASRL")
            if p.read_termination is not None or socket_like:
                # SOCKET and ASRL sessions have no end-of-message signal: without a termination
                # character every read would run into the timeout.
                res.read_termination = p.read_termination if p.read_termination is not None else "\n"
            if p.write_termination is not None:
                res.write_termination = p.write_termination
        except BaseException:
            with contextlib.suppress(Exception):
                res.close()
            raise
        return res

    def _open_error(self, exc: BaseException, pyvisa: Any) -> Exception:
        p = self.params
        code = getattr(exc, "error_code", None)
        constants = pyvisa.constants.StatusCode
        if isinstance(exc, LookupError) or code in (constants.error_resource_not_found,
                                                    constants.error_invalid_resource_name):
            return PortNotFoundError(f"VISA resource {p.resource} not found",
                                     hint=f"Check the resource string; the syntax is {RESOURCE_SYNTAX}.",
                                     resource=p.resource)
        if getattr(exc, "errno", None) in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
            return PortNotFoundError(f"VISA resource {p.resource}: {exc}",
                                     hint=f"The device does not exist; the syntax is {RESOURCE_SYNTAX}.",
                                     resource=p.resource)
        if isinstance(exc, PermissionError) or getattr(exc, "errno", None) in (errno.EACCES, errno.EPERM):
            return PortPermissionError(f"no permission to open VISA resource {p.resource}",
                                       hint="Linux: join the dialout group (serial) or add a udev rule for the "
                                            "USB instrument, then log out and back in.", resource=p.resource)
        if isinstance(exc, FileNotFoundError):  # pyvisa-sim definition file
            return ConfigValidationError(f"VISA backend file not found: {p.backend}", path="transport.params.backend",
                                         hint="Give the path of the pyvisa-sim YAML file followed by @sim.")
        if isinstance(exc, ValueError) and ("install" in str(exc).lower() or "wrapper" in str(exc).lower()):
            return TransportUnavailableError(f"VISA cannot open {p.resource}: {exc}",
                                             hint="Install the missing package (pyvisa-py; pyusb for USB, "
                                                  "pyserial for ASRL resources).")
        return TransportError(f"could not open VISA resource {p.resource}: {exc}",
                              hint="Check that the instrument is on and reachable, and the resource string "
                                   f"({RESOURCE_SYNTAX}).", resource=p.resource)

    async def close(self) -> None:
        """Close the resource (idempotent; waits for a running VISA call to finish)."""
        self._open = False
        pool, self._pool = self._pool, None
        res, self._res = self._res, None
        if pool is None:
            return
        try:
            if res is not None:
                with contextlib.suppress(Exception):
                    await asyncio.get_running_loop().run_in_executor(pool, res.close)
        finally:
            pool.shutdown(wait=False)

    async def read(self, max_bytes: int = 4096) -> bytes:
        """One message (termination included). ``max_bytes`` does not split messages."""
        return bytes(await self._call("read_raw"))

    async def write(self, data: bytes) -> None:
        """Write ``data`` exactly as given (the framer already added the termination)."""
        await self._call("write_raw", bytes(data))

    def describe(self) -> dict[str, Any]:
        backend = self.params.backend if self._rm is None else "injected"
        return {"type": self.type_name, "resource": self.params.resource, "backend": backend}

    def _run(self, fn: Any, *args: Any) -> asyncio.Future[Any]:
        if self._pool is None:
            raise TransportClosedError(f"VISA resource {self.params.resource} is not open")
        return asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _call(self, method: str, *args: Any) -> Any:
        res = self._res
        if res is None or not self._open:
            raise TransportClosedError(f"VISA resource {self.params.resource} is not open")
        try:
            return await self._run(getattr(res, method), *args)
        except asyncio.CancelledError:
            raise  # the executor future is cancelled too: a queued call never runs, a running one is discarded
        except Exception as exc:
            raise self._io_error(exc) from exc

    def _io_error(self, exc: Exception) -> Exception:
        import pyvisa

        if getattr(exc, "error_code", None) == pyvisa.constants.StatusCode.error_timeout:
            return ProtocolTimeoutError(f"VISA resource {self.params.resource}: no reply within "
                                        f"{self.params.timeout_ms} ms")
        self._open = False
        return TransportClosedError(f"VISA resource {self.params.resource} failed: {exc}",
                                    hint="The instrument was switched off, unplugged or reset the connection; it is "
                                         "reopened on the next connect.", resource=self.params.resource)
