"""The stack builder: driver + link + transport + framer from config mappings, without any I/O.

``build_stack("DPS5005", transport={"type": "serial", "params": {"port": "/dev/ttyUSB0"}})`` resolves
the driver class, merges the driver's blueprint for that transport type under the user's params
(user wins), builds the transport and the framer through their registries, wraps them in a
:class:`~ionpy_widgets.link.Link` and instantiates the driver. Nothing is opened: ``driver.connect()``
does that later, so building is cheap and safe for validation.

Every failure is a :class:`~ionpy_widgets.errors.DeviceSpawnError` whose ``stage`` says where it
broke (``transport``, ``framing``, ``driver``) and whose ``cause`` is the underlying error
(``ConfigValidationError`` with a field path such as ``transport.params.port``,
``UnknownDriverError``, ``TransportUnavailableError`` ...), hint included.

The ``virtual`` transport takes ``params: {simulator: dps5005, <simulator options>, <virtual
transport options>}``: the named in-process simulator from the instrument catalog is the peer.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigValidationError, DeviceSpawnError, IonpyError, SpawnStage
from ..link import Link
from .base import Blueprint, Driver
from .registry import get_driver

if TYPE_CHECKING:
    from ..framing.base import Framer
    from ..instruments.simhost import Simulator
    from ..transport.base import Transport

log = logging.getLogger(__name__)

NO_TRANSPORT = "none"
LINK_OPTION_KEYS = ("timeout", "retries", "trace")


@dataclass(slots=True)
class DeviceStack:
    """Everything one device is made of. ``link``/``transport``/``framer`` are None for
    pure-software drivers; ``simulator`` is set for the ``virtual`` transport."""

    driver: Driver
    link: Link | None
    transport: Transport | None
    framer: Framer | None
    options: dict[str, Any] = field(default_factory=dict)
    simulator: Simulator | None = None
    device_id: str = ""

    async def close(self) -> None:
        """Disconnect the driver (closes the link and the transport)."""
        await self.driver.disconnect()


def known_transport_types() -> set[str]:
    """Transport type names a config may use (``none`` included)."""
    from ..transport.registry import TRANSPORTS

    return set(TRANSPORTS) | {NO_TRANSPORT}


def _fail(stage: SpawnStage, device_id: str, cause: BaseException, what: str) -> DeviceSpawnError:
    text = cause.message if isinstance(cause, IonpyError) else f"{type(cause).__name__}: {cause}"
    where = f"device {device_id!r}: " if device_id else ""
    return DeviceSpawnError(f"{where}{what} failed: {text}", stage=stage, device_id=device_id, cause=cause)


def _section(value: Mapping[str, Any] | None, name: str) -> tuple[str, dict[str, Any]]:
    if value is None:
        return NO_TRANSPORT, {}
    if not isinstance(value, Mapping) or not isinstance(value.get("type"), str):
        raise ConfigValidationError("must be a mapping with a `type` string and `params`", path=f"{name}.type",
                                    hint=f"For example `{name}: {{type: ..., params: {{...}}}}`.")
    params = value.get("params") or {}
    if not isinstance(params, Mapping):
        raise ConfigValidationError("must be a mapping", path=f"{name}.params", hint="For example `params: {}`.")
    return value["type"], dict(params)


def _resolve_driver(driver: str | type[Driver], device_id: str) -> type[Driver]:
    if isinstance(driver, type) and issubclass(driver, Driver):
        return driver
    try:
        return get_driver(str(driver))
    except Exception as exc:  # unknown name, or a plugin that fails to import
        raise _fail(SpawnStage.DRIVER, device_id, exc, f"loading driver {driver!r}") from exc


def _link_options(options: Mapping[str, Any] | None, device_id: str) -> dict[str, Any]:
    opts = dict(options or {})
    for key in opts:
        if key not in LINK_OPTION_KEYS:
            raise ConfigValidationError(f"unknown link option {key!r}", path=f"link.{key}",
                                        hint=f"Link options: {', '.join(LINK_OPTION_KEYS)}.")
    trace = opts.get("trace")
    if trace is True:
        opts["trace"] = _log_trace(device_id)
    elif trace in (False, None):
        opts.pop("trace", None)
    elif not callable(trace):
        raise ConfigValidationError("must be true/false or a callable (direction, bytes, time)", path="link.trace")
    return opts


def _log_trace(device_id: str) -> Callable[[str, bytes, float], None]:
    def hook(direction: str, data: bytes, when: float) -> None:
        log.debug("%s %s %s", device_id or "link", direction, data.hex(" "))
    return hook


def _virtual_peer(params: dict[str, Any]) -> tuple[dict[str, Any], Simulator | None]:
    """Split ``simulator`` + its options off the virtual transport params; build the simulator."""
    name = params.pop("simulator", None)
    if name is None:
        return params, None
    if not isinstance(name, str):
        raise ConfigValidationError(f"expected a simulator name, got {name!r}", path="transport.params.simulator",
                                    hint="For example `simulator: dps5005`.")
    from ..instruments.catalog import make_simulator, simulator_options
    from ..transport.address import VirtualParams

    transport_keys = {f.name for f in dataclasses.fields(VirtualParams)} - {"peer"}
    sim_kwargs = {k: params.pop(k) for k in list(params) if k not in transport_keys}
    accepted = simulator_options(name)
    if accepted is not None:
        for key in sim_kwargs:
            if key not in accepted:
                raise ConfigValidationError(
                    f"simulator {name!r} has no option {key!r}", path=f"transport.params.{key}",
                    hint=f"Simulator options: {', '.join(sorted(accepted)) or 'none'}; "
                         f"virtual transport options: {', '.join(sorted(transport_keys))}.")
    try:
        sim = make_simulator(name, **sim_kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigValidationError(f"cannot build simulator {name!r}: {exc}", path="transport.params",
                                    hint="Check the simulator options.") from exc
    # the simulator itself is the peer: the virtual transport opens a fresh session per connect
    params["peer"] = sim
    return params, sim


def _framer(ftype: str, fparams: dict[str, Any], baudrate: Any) -> tuple[Framer, dict[str, Any]]:
    from ..framing.registry import FramerConfigError, make_framer

    try:
        kwargs = {"baudrate": baudrate} if baudrate is not None else {}
        framer, leftover = make_framer(ftype, fparams, **kwargs)
    except FramerConfigError as exc:
        # the registry names the framer type itself when it cannot tell which parameter is wrong
        fld = exc.field if exc.field == "type" or exc.field in fparams else ""
        path = "framing.type" if fld == "type" else (f"framing.params.{fld}" if fld else "framing.params")
        raise ConfigValidationError(exc.message, path=path, hint=exc.hint or None) from exc
    return framer, dict(leftover)


def _check_leftover(cls: type[Driver], ftype: str, framer: Framer, leftover: Mapping[str, Any]) -> None:
    """A framing param neither the framer nor the driver takes is a typo (``slave`` for ``slave_id``):
    refuse it instead of passing it on unread. Drivers that declare no ``option_keys`` are not checked."""
    if not cls.option_keys:
        return
    for key in leftover:
        if key not in cls.option_keys:
            own = [name for name, p in inspect.signature(type(framer)).parameters.items()
                   if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
            raise ConfigValidationError(f"unknown parameter {key!r} for {ftype} framing with driver {cls.name}",
                                        path=f"framing.params.{key}",
                                        hint=f"Valid keys: {', '.join([*cls.option_keys, *own])}.")


def build_stack(
    driver: str | type[Driver],
    *,
    transport: Mapping[str, Any] | None,
    framing: Mapping[str, Any] | None = None,
    device_id: str = "",
    link_options: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> DeviceStack:
    """Build (but do not open) a device: see the module docstring. Raises :class:`DeviceSpawnError`."""
    cls = _resolve_driver(driver, device_id)
    sim: Simulator | None = None
    # --- transport ------------------------------------------------------------------------
    try:
        ttype, tparams = _section(transport, "transport")
        if ttype == NO_TRANSPORT:
            if cls.needs_link():
                types = ", ".join(bp.transport for bp in cls.blueprints) or "serial, tcp, ..."
                raise ConfigValidationError(f"driver {cls.name} needs a transport", path="transport.type",
                                            hint=f"Supported transport types: {types}.")
            return _instantiate(cls, None, None, None, dict(options or {}), None, device_id)
        blueprint: Blueprint | None = cls.blueprint_for(ttype)
        if blueprint is not None:
            tparams = {**blueprint.transport_params, **tparams}
        if ttype == "virtual":
            tparams, sim = _virtual_peer(tparams)
        link_kwargs = _link_options(link_options, device_id)
        from ..transport.registry import make_transport

        trans = make_transport(ttype, tparams)
    except DeviceSpawnError:
        raise
    except Exception as exc:
        raise _fail(SpawnStage.TRANSPORT, device_id, exc, "building the transport") from exc
    # --- framing --------------------------------------------------------------------------
    try:
        if framing is None and blueprint is None and ttype == "virtual" and sim is not None and cls.blueprints:
            # a simulator speaks the instrument's native framing: take the first blueprint's
            blueprint = cls.blueprints[0]
            ftype, fparams = blueprint.framing, dict(blueprint.framing_params)
        elif framing is None:
            if blueprint is None:
                supported = ", ".join(f"{bp.transport} ({bp.framing})" for bp in cls.blueprints) or "none"
                raise ConfigValidationError(
                    f"driver {cls.name} has no default framing for transport {ttype!r}", path="framing",
                    hint=f"Give `framing: {{type: ..., params: {{...}}}}`; the driver's blueprints: {supported}.")
            ftype, fparams = blueprint.framing, dict(blueprint.framing_params)
        else:
            ftype, fparams = _section(framing, "framing")
            if blueprint is not None and blueprint.framing == ftype:
                fparams = {**blueprint.framing_params, **fparams}
        framer, leftover = _framer(ftype, fparams, tparams.get("baudrate"))
        _check_leftover(cls, ftype, framer, leftover)
    except Exception as exc:
        raise _fail(SpawnStage.FRAMING, device_id, exc, "building the framer") from exc
    # --- link + driver --------------------------------------------------------------------
    try:
        link = Link(trans, framer, **link_kwargs)
    except ValueError as exc:
        raise _fail(SpawnStage.TRANSPORT, device_id,
                    ConfigValidationError(str(exc), path="link", hint="timeout > 0, retries >= 0."), "building the link"
                    ) from exc
    return _instantiate(cls, link, trans, framer, {**leftover, **(options or {})}, sim, device_id)


def _instantiate(cls: type[Driver], link: Link | None, trans: Transport | None, framer: Framer | None,
                 options: dict[str, Any], sim: Simulator | None, device_id: str) -> DeviceStack:
    try:
        drv = cls(link, options=options)
    except Exception as exc:
        raise _fail(SpawnStage.DRIVER, device_id, exc, f"creating driver {cls.name}") from exc
    return DeviceStack(drv, link, trans, framer, options, sim, device_id)


__all__ = ["NO_TRANSPORT", "DeviceStack", "build_stack", "known_transport_types"]
