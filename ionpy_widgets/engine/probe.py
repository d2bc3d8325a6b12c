"""A live connection probe with a step-by-step log (the wizard's "test connection").

``await probe("DPS5005", "serial", {"port": "/dev/ttyUSB0"})`` builds a *temporary* stack (the
driver's blueprint fills in the framing and defaults), opens it, identifies the instrument, polls
once and closes it again, reporting each step as it finishes::

    Check driver → Open transport (serial /dev/ttyUSB0 @ 9600) → Identify → Read values → Close

Every failed step carries a concrete hint (:mod:`.probe_hints`); after a failed identify the probe
tells which driver the instrument wants when it can find out (:mod:`.probe_checks`). Guarantees:

* a hard time limit (``timeout``, 10 s) for the whole probe, closing included;
* the stack is always closed (``finally``), whatever failed;
* the engine's devices are never disturbed: a port in ``held_ports`` (``port -> device id``, see
  :func:`~.probe_checks.held_ports_of` or ``lab.probe``) is a failed step, never opened.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..driver.base import Driver
from ..driver.reading import Identity
from ..errors import IonpyError, PortBusyError, ProtocolTimeoutError
from .probe_checks import find_holder
from .probe_hints import (
    HintContext,
    connect_timeout_hint,
    held_hint,
    is_config_error,
    no_reply_hint,
    port_keys,
    port_label,
)
from .probe_steps import ProbeSession, as_error, format_value

log = logging.getLogger(__name__)

OnStep = Callable[["ProbeStep"], Any]
DEFAULT_TIMEOUT = 10.0


@dataclass(slots=True)
class ProbeStep:
    """One line of the probe log. ``ok`` is the outcome; ``hint`` says what to try when it failed."""

    message: str
    ok: bool
    detail: str = ""
    hint: str = ""
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "ok": self.ok, "detail": self.detail, "hint": self.hint,
                "duration_ms": round(self.duration_ms, 1)}


@dataclass(slots=True)
class ProbeResult:
    """What a probe found. ``to_dict()`` is the JSON the wizard and ``ionpy probe --json`` show."""

    driver: str
    transport: str
    steps: list[ProbeStep] = field(default_factory=list)
    #: entity -> {"value": ..., "unit": ...} from the one poll.
    first_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: IonpyError | None = None
    duration_ms: float = 0.0
    identity: Identity | None = None
    #: True when the request itself was wrong (unknown driver, bad params): the CLI exits with 2.
    config_error: bool = False

    @property
    def success(self) -> bool:
        return self.error is None and bool(self.steps) and all(s.ok for s in self.steps)

    @property
    def failed_step(self) -> ProbeStep | None:
        return next((s for s in self.steps if not s.ok), None)

    def to_dict(self) -> dict[str, Any]:
        return {"success": self.success, "steps": [s.to_dict() for s in self.steps],
                "first_values": {k: dict(v) for k, v in self.first_values.items()},
                "error": self.error.to_dict() if self.error is not None else None,
                "duration_ms": round(self.duration_ms, 1)}


class StepLog:
    """Collects steps, times them and streams each finished one to ``on_step``."""

    def __init__(self, result: ProbeResult, on_step: OnStep | None) -> None:
        self.result = result
        self.on_step = on_step
        self.current = ""
        self._t0 = time.perf_counter()

    def begin(self, message: str) -> None:
        self.current, self._t0 = message, time.perf_counter()

    async def end(self, ok: bool, detail: str = "", hint: str = "", error: IonpyError | None = None) -> ProbeStep:
        step = ProbeStep(self.current, ok, detail, hint, (time.perf_counter() - self._t0) * 1000.0)
        self.current = ""
        self.result.steps.append(step)
        if error is not None and self.result.error is None:
            self.result.error = error
        if self.on_step is not None:
            try:
                outcome = self.on_step(step)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:  # a widget callback must not break the probe
                log.exception("probe on_step callback failed")
        return step


def _held(held_ports: Mapping[str, str] | Collection[str] | None) -> dict[str, str]:
    if not held_ports:
        return {}
    if isinstance(held_ports, Mapping):
        return {str(k): str(v) for k, v in held_ports.items()}
    return {str(k): "" for k in held_ports}


async def probe(driver: str | type[Driver], transport: str, params: Mapping[str, Any],
                framing: Mapping[str, Any] | None = None, *, on_step: OnStep | None = None,
                held_ports: Mapping[str, str] | Collection[str] | None = None, timeout: float = DEFAULT_TIMEOUT,
                link_options: Mapping[str, Any] | None = None, cross_check: bool = True) -> ProbeResult:
    """Try one connection and report every step (see the module docstring).

    ``framing`` is ``{"type": ..., "params": {...}}`` or None for the driver's blueprint.
    ``on_step`` (sync or async) receives each :class:`ProbeStep` as it finishes. ``held_ports``
    are ports the engine holds (``port -> device id``, or a plain set). ``link_options`` default to
    one attempt with a 1 s reply timeout. ``cross_check=False`` skips asking other drivers after a
    failed identify. Never raises for instrument or config problems: they are failed steps
    (only a non-positive ``timeout`` raises ValueError).
    """
    if not timeout > 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    name = driver if isinstance(driver, str) else driver.name
    result = ProbeResult(name, transport)
    steps = StepLog(result, on_step)
    held = _held(held_ports)
    session = ProbeSession(driver, transport, dict(params), framing, steps, result, held=held,
                           link_options={"timeout": 1.0, "retries": 0, **(link_options or {})})
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    deadline = loop.time() + timeout
    session.deadline = deadline - min(1.0, timeout * 0.2)  # keep time to close
    try:
        try:
            async with asyncio.timeout_at(session.deadline):
                await _run(session, held, cross_check)
        except TimeoutError:
            await _time_limit(session, steps, timeout)
        except Exception as exc:  # a bug, not an instrument problem: still a clean, closed result
            log.exception("probe failed unexpectedly")
            if not steps.current:
                steps.begin("Probe")
            await steps.end(False, f"{type(exc).__name__}: {exc}", as_error(exc).hint, as_error(exc))
    finally:
        await session.close(deadline)
        result.duration_ms = (time.perf_counter() - started) * 1000.0
    result.config_error = result.error is not None and is_config_error(result.error)
    return result


async def _run(session: ProbeSession, held: dict[str, str], cross_check: bool) -> None:
    if not await session.check_driver():
        return
    stack, ctx = session.stack, session.ctx
    assert stack is not None and ctx is not None
    if stack.link is not None:
        session.log.begin(f"Open transport ({port_label(ctx.transport, ctx.params)})")
        holder = find_holder(port_keys(ctx.transport, ctx.params), held)
        if holder is not None:
            port, device = holder
            by = f"device {device}" if device else "a device of the engine"
            error = PortBusyError(f"port {port} is in use by {by}", port=port, device=device,
                                  hint=held_hint(port, device))
            await session.log.end(False, error.message, error.hint, error)
            return
        if not await session.open_transport():
            return
    if not await session.identify(cross_check):
        return
    await session.read_values()


async def _time_limit(session: ProbeSession, steps: StepLog, timeout: float) -> None:
    """The hard limit ran out: the step in progress fails with the matching hint."""
    step = steps.current or "Probe"
    if not steps.current:
        steps.begin(step)
    ctx = session.ctx or HintContext(session.driver_name, session.transport)
    if step.startswith("Open") and ctx.transport == "tcp":
        hint = connect_timeout_hint(str(ctx.params.get("host", "?")), ctx.params.get("port"))
    elif step.startswith("Open"):
        hint = "Opening the port did not finish in time: check the device path and that no program hangs on it."
    else:
        hint = no_reply_hint(ctx)
    error = ProtocolTimeoutError(f"the probe stopped at its {timeout:g} s limit during {step!r}", hint=hint,
                                 step=step)
    await steps.end(False, f"stopped: the probe's time limit of {timeout:g} s ran out during this step", hint, error)


__all__ = ["DEFAULT_TIMEOUT", "OnStep", "ProbeResult", "ProbeStep", "format_value", "probe"]
