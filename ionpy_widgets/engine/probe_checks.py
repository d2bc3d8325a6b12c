"""The probe's diagnostics: who holds a port, and which driver an instrument really wants.

* :func:`held_ports_of` — the ports the engine's devices hold (or will take again while
  reconnecting), keyed the way :func:`~.probe_hints.port_keys` names a probed port.
* :func:`idn_mismatch` — after a successful ``*IDN?``: another driver's pattern fits and the chosen
  one's does not (``discovery.known_devices.match_idn``).
* :func:`modbus_family` — a Modbus instrument whose model register is not the chosen driver's:
  the RD Tech MODEL register (0x000B) or the Riden ID register (0x0000) tells which family it is
  (``discovery.known_devices.match_modbus_model``).
* :func:`cross_check` — after nothing (or garbage) answered: ask once more with the chosen
  driver's own defaults (e.g. slave id 1 instead of 7) and with each other installed driver that
  connects over the same transport. Only ``identify`` is called (read-only: ``*IDN?``, a model
  register read), each bounded by a short timeout, and every temporary stack is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from ..discovery.known_devices import Drivers, match_idn, match_modbus_model
from ..discovery.results import DriverMatch
from ..driver.base import Driver
from ..driver.reading import Identity
from ..driver.stack import DeviceStack, build_stack
from .probe_hints import port_keys

log = logging.getLogger(__name__)

#: How long one cross-check candidate may take (connect + identify).
CROSS_CHECK_TIMEOUT = 1.0
#: At most this many candidates are tried after a failed identify.
MAX_CANDIDATES = 4


def params_of(stack: DeviceStack) -> dict[str, Any]:
    """The effective transport params of a built stack (blueprint defaults merged in)."""
    params = getattr(stack.transport, "params", None)
    if params is None or not is_dataclass(params):
        return {}
    return {f.name: getattr(params, f.name) for f in fields(params)}


def held_ports_of(source: Any) -> dict[str, str]:
    """``port key -> device id`` for every device of a Lab or DeviceManager that holds its port
    or will take it again (connecting, online, unavailable and reconnecting)."""
    manager = getattr(source, "manager", source)
    held: dict[str, str] = {}
    for device_id, device in manager.devices.items():
        if not device.config.enabled or str(device.state) in ("error", "stopped", "disabled"):
            continue
        transport = device.config.transport or {}
        params = params_of(device.stack) if device.stack is not None else dict(transport.get("params") or {})
        for key in port_keys(str(transport.get("type", "")), params):
            held.setdefault(key, device_id)
    return held


def find_holder(keys: list[str], held: Mapping[str, str]) -> tuple[str, str] | None:
    """``(port, device id)`` when one of ``keys`` is held (serial paths compared resolved)."""
    resolved = {os.path.realpath(k) if k.startswith("/") else k: dev for k, dev in held.items()}
    for key in keys:
        device = held.get(key) or resolved.get(os.path.realpath(key) if key.startswith("/") else key)
        if device is not None:
            return key, device
    return None


def idn_text(identity: Identity) -> str:
    """The ``*IDN?`` line an identity was parsed from (near enough for pattern matching)."""
    return ",".join([identity.manufacturer, identity.model, identity.serial, identity.firmware])


def idn_mismatch(cls: type[Driver], identity: Identity, drivers: Drivers) -> DriverMatch | None:
    """The better driver when ``cls`` has ``*IDN?`` patterns, none fits and another driver's does."""
    if not cls.idn_patterns or not (identity.manufacturer or identity.model):
        return None
    text = idn_text(identity)
    if cls.matches_idn(text):
        return None
    matches = [m for m in match_idn(text, drivers=drivers) if m.confidence >= 0.6]
    if not matches or any(m.driver == cls.name for m in matches):
        return None
    return matches[0]


async def modbus_family(driver: Driver, model_id: Any, drivers: Drivers) -> DriverMatch | None:
    """Which Modbus family reports ``model_id`` in the MODEL register, or (Riden) in register 0."""
    if isinstance(model_id, int):
        match = match_modbus_model(model_id, drivers=drivers)
        if match is not None and match.driver != driver.name:
            return match
    read = getattr(driver, "read_registers", None)
    if read is None:
        return None
    try:
        (first,) = await read(0, 1)
    except Exception as exc:  # the diagnosis is best effort
        log.debug("probe: reading register 0 for a family check failed: %s", exc)
        return None
    match = match_modbus_model(first, drivers=drivers)
    return match if match is not None and match.driver != driver.name else None


@dataclass(frozen=True, slots=True)
class CrossCheck:
    """One candidate that answered: the driver, how it differs from the probe, what it said."""

    driver: str
    identity: Identity
    changed: dict[str, Any]

    def hint(self, chosen: str) -> str:
        who = " ".join(p for p in (self.identity.manufacturer, self.identity.model) if p) or "an instrument"
        if self.driver == chosen:
            settings = ", ".join(f"{k}: {v}" for k, v in self.changed.items())
            return f"Found it: {who} answers with {chosen}'s defaults — set {settings}."
        return f"Found it: {who} answers to the {self.driver} driver — choose {self.driver}, not {chosen}."


def _candidates(cls: type[Driver], transport: str, framing: Mapping[str, Any] | None,
                drivers: Drivers) -> list[tuple[type[Driver], dict[str, Any]]]:
    found: list[tuple[type[Driver], dict[str, Any]]] = []
    own = cls.blueprint_for(transport)
    user = dict((framing or {}).get("params") or {})
    if own is not None and framing is not None:
        changed = {k: v for k, v in own.framing_params.items() if k in user and user[k] != v}
        if changed or framing.get("type", own.framing) != own.framing:
            found.append((cls, changed or {"framing": own.framing}))
    for _name, other in sorted(drivers.items()):
        if other is not cls and other.blueprint_for(transport) is not None:
            found.append((other, {}))
    return found[:MAX_CANDIDATES]


async def _try(cls: type[Driver], transport: str, params: Mapping[str, Any], timeout: float) -> Identity | None:
    stack: DeviceStack | None = None
    try:
        async with asyncio.timeout(timeout):
            stack = build_stack(cls, transport={"type": transport, "params": dict(params)},
                                device_id="probe-cross-check",
                                link_options={"timeout": max(0.1, timeout * 0.6), "retries": 0})
            return await stack.driver.connect()
    except Exception as exc:  # any failure only means "not this one"
        log.debug("probe cross-check with %s failed: %s", cls.name, exc)
        return None
    finally:
        if stack is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await stack.close()


async def cross_check(cls: type[Driver], transport: str, params: Mapping[str, Any],
                      framing: Mapping[str, Any] | None, drivers: Drivers, *, budget: float) -> CrossCheck | None:
    """The first candidate (see the module docstring) that identifies within ``budget`` seconds.
    ``params`` are the transport params as the user gave them (each candidate merges its own
    blueprint under them). The probe's own stack must be closed first (serial ports are exclusive)."""
    if transport not in ("serial", "tcp", "visa"):
        return None
    loop = asyncio.get_running_loop()
    end = loop.time() + budget
    for candidate, changed in _candidates(cls, transport, framing, drivers):
        remaining = end - loop.time()
        if remaining < 0.2:
            break
        identity = await _try(candidate, transport, params, min(CROSS_CHECK_TIMEOUT, remaining))
        if identity is not None:
            return CrossCheck(candidate.name, identity, changed)
    return None


__all__ = ["CrossCheck", "cross_check", "find_holder", "held_ports_of", "idn_mismatch", "idn_text",
           "modbus_family", "params_of"]
