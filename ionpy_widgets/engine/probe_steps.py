"""The probe's steps: check the driver, open the transport, identify, read values, close.

:class:`ProbeSession` holds the temporary stack of one probe and runs each step against it,
recording the outcome in the probe's step log (:class:`~.probe.StepLog`). Each step catches what
the instrument or the settings can cause and turns it into a failed step with a hint; only the
probe's hard time limit (a cancellation) passes through.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..discovery.known_devices import Drivers, installed_drivers
from ..discovery.serial import SerialPortInfo, discover_serial
from ..driver.base import Driver
from ..driver.entity import EntityDescription, Kind, Role
from ..driver.reading import Identity
from ..driver.registry import get_driver
from ..driver.stack import DeviceStack, build_stack, known_transport_types
from ..errors import ConfigValidationError, DeviceSpawnError, IonpyError, PortNotFoundError, ProtocolError
from .probe_checks import cross_check, idn_mismatch, modbus_family, params_of
from .probe_hints import HintContext, hint_for, mismatch_hint, wrong_transport_hint

if TYPE_CHECKING:
    from .probe import ProbeResult, StepLog

#: How many values the "Read values" line shows (all of them are in ``first_values``).
SHOWN_VALUES = 4


def as_error(exc: BaseException) -> IonpyError:
    """``exc`` itself when it is an IonpyError, else a ProtocolError naming it."""
    if isinstance(exc, IonpyError):
        return exc
    return ProtocolError(f"{type(exc).__name__}: {exc}", hint="Unexpected error in the driver: see the log.")


def format_value(value: Any, desc: EntityDescription | None = None) -> str:
    """``24.00 V``, ``on``, ``CV``: a value as the widgets show it."""
    if isinstance(value, bool):
        text = "on" if value else "off"
    elif desc is not None and desc.kind is Kind.ENUM and isinstance(value, int) and value in desc.options:
        text = desc.options[value]
    elif isinstance(value, float) and desc is not None and desc.precision is not None and math.isfinite(value):
        text = f"{value:.{desc.precision}f}"
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    unit = desc.unit if desc is not None else ""
    return f"{text} {unit}" if unit else text


def describe_identity(identity: Identity) -> str:
    parts = [" ".join(p for p in (identity.manufacturer, identity.model) if p) or "unnamed instrument"]
    if identity.serial:
        parts.append(f"serial {identity.serial}")
    if identity.firmware:
        parts.append(f"firmware {identity.firmware}")
    return ", ".join(parts)


class ProbeSession:
    """One probe's temporary stack and its steps."""

    def __init__(self, driver: str | type[Driver], transport: str, params: dict[str, Any],
                 framing: Mapping[str, Any] | None, log: StepLog, result: ProbeResult, *,
                 held: Mapping[str, str], link_options: Mapping[str, Any]) -> None:
        self.driver_spec = driver
        self.driver_name = driver if isinstance(driver, str) else driver.name
        self.transport = transport
        self.params = params
        self.framing = framing
        self.log = log
        self.result = result
        self.held = held
        self.link_options = dict(link_options)
        self.cls: type[Driver] | None = None
        self.stack: DeviceStack | None = None
        self.ctx: HintContext | None = None
        #: Loop time when the steps must stop (the probe keeps the rest of its limit for closing).
        self.deadline = math.inf
        self._drivers: Drivers | None = None

    async def drivers(self) -> Drivers:
        """Registry snapshot (loaded once, in an executor: entry points are read from disk)."""
        if self._drivers is None:
            self._drivers = await asyncio.get_running_loop().run_in_executor(None, installed_drivers)
        return self._drivers

    async def fail(self, exc: BaseException, *, hint: str | None = None, ports: list[SerialPortInfo] | None = None,
                   detail: str = "") -> bool:
        error = as_error(exc)
        ctx = self.ctx or HintContext(self.driver_name, self.transport, self.params)
        text = hint if hint is not None else hint_for(exc, ctx, ports=ports or [])
        await self.log.end(False, detail or error.message, text, error)
        return False

    # --- Check driver ------------------------------------------------------------------------
    async def check_driver(self) -> bool:
        self.log.begin("Check driver")
        try:
            cls = self.driver_spec if isinstance(self.driver_spec, type) else get_driver(self.driver_spec)
        except Exception as exc:
            return await self.fail(exc, hint=as_error(exc).hint)
        self.cls = cls
        problem = await self._transport_problem(cls)
        if problem is not None:
            return await self.fail(problem, hint=problem.hint)
        transport = None if self.transport == "none" else {"type": self.transport, "params": dict(self.params)}
        try:
            self.stack = build_stack(cls, transport=transport, framing=self.framing, device_id="probe",
                                     link_options=self.link_options if cls.needs_link() else None)
        except DeviceSpawnError as exc:
            return await self.fail(exc, hint=exc.hint or "Check the transport and framing parameters.")
        ftype, fparams = self._framing(cls)
        params = params_of(self.stack)
        if self.transport == "virtual" and "simulator" in self.params:
            params["simulator"] = self.params["simulator"]
        self.ctx = HintContext(cls.name, self.transport, params, ftype, fparams)
        shown = ", ".join(f"{k} {v}" for k, v in fparams.items())
        detail = f"{cls.name} ({cls.category.value})" + (f": {ftype} framing" if ftype else "") \
            + (f", {shown}" if shown else "")
        await self.log.end(True, detail)
        return True

    async def _transport_problem(self, cls: type[Driver]) -> ConfigValidationError | None:
        transport = self.transport
        if transport not in known_transport_types():
            return ConfigValidationError(f"unknown transport type {transport!r}", path="transport.type",
                                         hint=f"Transport types: {', '.join(sorted(known_transport_types()))}.")
        ways = [f"{bp.transport} ({bp.label or bp.framing})" for bp in cls.blueprints]
        if transport == "none":
            if not cls.needs_link():
                return None
            return ConfigValidationError(f"driver {cls.name} needs a transport", path="transport.type",
                                         hint=wrong_transport_hint(cls.name, ways, transport, []))
        if not cls.needs_link():
            return ConfigValidationError(f"driver {cls.name} is a software instrument without a port",
                                         path="transport.type", hint="Use transport `none` for it.")
        if self.framing is None and transport != "virtual" and cls.blueprint_for(transport) is None:
            drivers = await self.drivers()
            others = [n for n, c in sorted(drivers.items()) if c.blueprint_for(transport) is not None]
            return ConfigValidationError(f"driver {cls.name} does not connect over {transport}",
                                         path="transport.type",
                                         hint=wrong_transport_hint(cls.name, ways, transport, others))
        return None

    def _framing(self, cls: type[Driver]) -> tuple[str, dict[str, Any]]:
        """The effective framing type and params, merged as :func:`build_stack` does."""
        bp = cls.blueprint_for(self.transport)
        if self.framing is None:
            if bp is None and self.transport == "virtual" and cls.blueprints:
                bp = cls.blueprints[0]
            return (bp.framing, dict(bp.framing_params)) if bp is not None else ("", {})
        ftype = str(self.framing.get("type", ""))
        fparams = dict(self.framing.get("params") or {})
        if bp is not None and bp.framing == ftype:
            fparams = {**bp.framing_params, **fparams}
        return ftype, fparams

    # --- Open transport ----------------------------------------------------------------------
    async def open_transport(self) -> bool:
        assert self.stack is not None and self.stack.link is not None
        try:
            await self.stack.link.open()
        except Exception as exc:
            ports = None
            if isinstance(exc, PortNotFoundError):
                found = await discover_serial(in_use=list(self.held))
                ports = found.items
            return await self.fail(exc, ports=ports)
        info = self.stack.link.transport.describe()
        await self.log.end(True, ", ".join(f"{k} {v}" for k, v in info.items() if k != "type"))
        return True

    # --- Identify ----------------------------------------------------------------------------
    async def identify(self, allow_cross_check: bool) -> bool:
        assert self.stack is not None and self.cls is not None
        self.log.begin("Identify")
        driver = self.stack.driver
        try:
            identity = await driver.identify()
        except Exception as exc:
            return await self._identify_failed(exc, allow_cross_check)
        driver.identity = self.result.identity = identity
        match = idn_mismatch(self.cls, identity, await self.drivers()) if self.cls.idn_patterns else None
        if match is not None:
            who = describe_identity(identity)
            error = ProtocolError(f"the instrument identifies as {who}, which {self.cls.name} does not speak",
                                  identity=identity.to_dict(), suggested_driver=match.driver)
            hint = mismatch_hint(self.cls.name, match, f"*IDN? says {who}")
            return await self.fail(error, hint=hint, detail=f"{who} — not a {self.cls.name} instrument")
        await self.log.end(True, describe_identity(identity))
        return True

    async def _identify_failed(self, exc: BaseException, allow_cross_check: bool) -> bool:
        assert self.stack is not None and self.cls is not None and self.ctx is not None
        error = as_error(exc)
        hint = hint_for(exc, self.ctx)
        if "model_id" in error.details:  # a Modbus model register the driver does not know
            match = await modbus_family(self.stack.driver, error.details["model_id"], await self.drivers())
            if match is not None:
                hint = mismatch_hint(self.cls.name, match, f"the model register says {match.model or match.driver}")
            return await self.fail(exc, hint=hint)
        remaining = self.deadline - asyncio.get_running_loop().time() - 0.1
        if allow_cross_check and isinstance(exc, ProtocolError) and remaining > 0.3:
            await self.stack.close()  # serial ports are exclusive: release it for the candidates
            found = await cross_check(self.cls, self.transport, self.params, self.framing, await self.drivers(),
                                      budget=remaining)
            if found is not None:
                hint = f"{found.hint(self.cls.name)} {hint}"
        return await self.fail(exc, hint=hint)

    # --- Read values -------------------------------------------------------------------------
    async def read_values(self) -> bool:
        assert self.stack is not None
        self.log.begin("Read values")
        driver = self.stack.driver
        try:
            values = await driver.poll()
        except Exception as exc:
            return await self.fail(exc)
        entities = driver.entities
        self.result.first_values = {k: {"value": v, "unit": entities[k].unit if k in entities else ""}
                                    for k, v in values.items()}
        order = sorted(values, key=lambda k: 0 if k in entities and entities[k].role is Role.MEASUREMENT else 1)
        shown = [f"{k} {format_value(values[k], entities.get(k))}" for k in order[:SHOWN_VALUES]]
        more = len(values) - len(shown)
        await self.log.end(True, ", ".join(shown) + (f" (+{more} more)" if more > 0 else ""))
        return True

    # --- Close -------------------------------------------------------------------------------
    async def close(self, deadline: float) -> None:
        """Close the stack within the probe's limit; a "Close" step when a stack was built."""
        if self.stack is None:
            return
        self.log.begin("Close")
        try:
            async with asyncio.timeout_at(deadline):
                await self.stack.close()
        except (Exception, TimeoutError) as exc:
            with contextlib.suppress(Exception):
                await self.fail(exc, hint="The port may stay busy until the process exits; unplug and re-plug "
                                          "a USB adapter if it does.")
            return
        await self.log.end(True, "released")


__all__ = ["ProbeSession", "as_error", "describe_identity", "format_value"]
