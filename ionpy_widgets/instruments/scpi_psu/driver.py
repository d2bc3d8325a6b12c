"""Driver for SCPI bench power supplies (Rigol DP800, Keysight E36xx, Siglent SPD, generic SCPI).

``identify`` sends ``*IDN?``, picks the model (channel count, per-channel limits, command
dialect) and rebuilds the entity table, so a setpoint the model cannot take is refused before
any byte is sent. ``poll`` selects each channel and reads setpoints, output state, measurements,
regulation mode and protection state. Set commands get no reply in SCPI, so every write is
followed by ``SYST:ERR?``; a non-zero code raises :class:`ExceptionResponseError` carrying the
instrument's own error text.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...driver.base import Blueprint, Category, Driver
from ...driver.entity import Access, EntityDescription, Kind, Role, entity_table
from ...driver.reading import Identity
from ...errors import ExceptionResponseError
from . import protocol as p
from .models import GENERIC, ModelSpec, apply_options, find_model, model_by_name

if TYPE_CHECKING:
    from ...link import Link

MODE_OPTIONS = {i: name for i, name in enumerate(p.MODES)}
TRIP_OPTIONS = {0: "none", 1: "OVP", 2: "OCP"}
#: How many queued errors one check drains at most (a SCPI queue holds about 20).
_MAX_ERRORS = 20

_HINTS = {
    -113: "The instrument does not know this command: set the option 'dialect' to its command set "
          "(rigol, keysight, keysight_single, siglent, generic).",
    -221: "The instrument refused because of its state (often a latched OVP/OCP trip): clear the trip on the "
          "front panel or with the protection-clear command, then retry.",
    -222: "The value is outside what the instrument accepts: check its rating and the options max_voltage / "
          "max_current.",
}


def entities_for(model: ModelSpec) -> Mapping[str, EntityDescription]:
    """The entity table for ``model``: seven entities per channel (plus protection where the
    dialect has it), keyed ``<name>_<channel>`` with ``channel`` set."""
    dialect = model.command_set
    ents: list[EntityDescription] = []
    for n, spec in enumerate(model.channels, start=1):
        ch = f"CH{n}"
        v_prec = max(0, -math.floor(math.log10(spec.v_step)))
        i_prec = max(0, -math.floor(math.log10(spec.i_step)))
        p_max = spec.v_max * spec.i_max
        ents += [
            EntityDescription(f"u_set_{n}", f"{ch} voltage setpoint", "V", access=Access.RW, role=Role.SETPOINT,
                              min=0.0, max=spec.v_max, step=spec.v_step, precision=v_prec, persist=True, channel=n),
            EntityDescription(f"i_set_{n}", f"{ch} current limit", "A", access=Access.RW, role=Role.SETPOINT,
                              min=0.0, max=spec.i_max, step=spec.i_step, precision=i_prec, persist=True, channel=n),
            EntityDescription(f"u_out_{n}", f"{ch} output voltage", "V", min=0.0, max=spec.v_max, precision=v_prec,
                              channel=n),
            EntityDescription(f"i_out_{n}", f"{ch} output current", "A", min=0.0, max=spec.i_max, precision=i_prec,
                              channel=n),
            EntityDescription(f"p_out_{n}", f"{ch} output power", "W", min=0.0, max=p_max, precision=3, channel=n),
            EntityDescription(f"output_{n}", f"{ch} output", kind=Kind.BOOL, access=Access.RW, role=Role.SWITCH,
                              confirm=True, channel=n),
            EntityDescription(f"cv_cc_{n}", f"{ch} regulation mode", kind=Kind.ENUM, role=Role.STATUS,
                              options=MODE_OPTIONS, channel=n),
        ]
        if dialect.ovp_set:
            ents.append(EntityDescription(f"ovp_{n}", f"{ch} over-voltage protection level", "V", access=Access.RW,
                                          role=Role.CONFIG, min=0.01, max=round(spec.v_max * 1.1, 4),
                                          step=spec.v_step, precision=v_prec, persist=True, channel=n))
        if dialect.ocp_set:
            ents.append(EntityDescription(f"ocp_{n}", f"{ch} over-current protection level", "A", access=Access.RW,
                                          role=Role.CONFIG, min=0.001, max=round(spec.i_max * 1.1, 4),
                                          step=spec.i_step, precision=i_prec, persist=True, channel=n))
        if dialect.ovp_tripped or dialect.ocp_tripped:
            ents.append(EntityDescription(f"trip_{n}", f"{ch} protection tripped", kind=Kind.ENUM, role=Role.STATUS,
                                          options=TRIP_OPTIONS, channel=n))
    return entity_table(*ents)


def _split_key(key: str) -> tuple[str, int]:
    base, _, number = key.rpartition("_")
    return base, int(number)


class ScpiPsuDriver(Driver):
    """Any SCPI power supply; known models get their exact limits and command dialect."""

    name = "SCPI_PSU"
    category = Category.PSU
    icon = "⚡"
    description = ("SCPI bench power supply over LAN (raw socket, port 5025; Rigol uses 5555) or VISA: Rigol DP832/"
                   "DP821A, Keysight E36312A/E36313A/E36103B, Siglent SPD3303X, or any SCPI PSU with options.")
    blueprints = (
        Blueprint(transport="tcp", framing="delimiter", transport_params={"port": 5025},
                  label="LAN raw SCPI socket"),
        Blueprint(transport="visa", framing="delimiter",
                  transport_params={"resource": "TCPIP::127.0.0.1::5025::SOCKET"}, label="VISA resource"),
    )
    idn_patterns = (
        r"^RIGOL TECHNOLOGIES,DP8\d\d",
        r"^(Keysight|Agilent) Technologies,E36\d\d",
        r"^Siglent Technologies,SPD\d",
        r"^[^,]+,[^,]*(PSU|POWER ?SUPPLY)[^,]*,",
    )
    option_keys = ("model", "channels", "max_voltage", "max_current", "dialect")
    default_poll_interval = 0.5
    ENTITIES = entities_for(GENERIC)

    def __init__(self, link: Link | None, *, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(link, options=options)
        forced = self.options.get("model")
        self._forced: ModelSpec | None = model_by_name(str(forced)) if forced else None
        #: The model in use: options applied, narrowed by ``identify``.
        self.model: ModelSpec = self._initial_model()
        self._identified = False
        #: Held across "select channel, then talk to it" sequences, so a write never re-selects
        #: the channel in the middle of another channel's poll (the link only serialises requests).
        self._sequence = asyncio.Lock()
        self.set_entities(entities_for(self.model))

    def _initial_model(self) -> ModelSpec:
        """Before ``*IDN?``: the forced model, else the generic one sized by the options (``channels``
        or the length of a per-channel ``max_voltage``/``max_current`` list)."""
        if self._forced is not None:
            return apply_options(self._forced, self.options)
        lists = [v for v in (self.options.get("max_voltage"), self.options.get("max_current"))
                 if isinstance(v, list | tuple)]
        count = max((len(v) for v in lists), default=1) or 1
        return apply_options(GENERIC, {"channels": min(count, 8), **self.options})

    @property
    def dialect(self) -> p.Dialect:
        return self.model.command_set

    # --- SCPI helpers -----------------------------------------------------------------------
    def _link(self) -> Link:
        assert self.link is not None  # the base class refuses to build without one
        return self.link

    async def query(self, command: str | bytes) -> str:
        """Send a query and return the reply text (without the newline)."""
        payload = command.encode("ascii") if isinstance(command, str) else command
        frame = await self._link().request(payload)
        assert frame is not None
        return frame.payload.decode("ascii", errors="replace").strip()

    async def send(self, command: str | bytes) -> None:
        """Send a command that gets no reply (SCPI set commands)."""
        await self._link().send(command.encode("ascii") if isinstance(command, str) else command)

    async def check_errors(self, context: str = "", **details: Any) -> None:
        """Drain ``SYST:ERR?``; raise :class:`ExceptionResponseError` if the instrument reported any."""
        errors: list[tuple[int, str]] = []
        for _ in range(_MAX_ERRORS):
            code, text = p.parse_error(await self.query(self.dialect.error))
            if code == 0:
                break
            errors.append((code, text))
        if not errors:
            return
        code, text = errors[0]
        where = f" after {context}" if context else ""
        raise ExceptionResponseError(
            f"{self.model.model} reported error {code}, \"{text}\"{where}",
            hint=_HINTS.get(code, f"See the instrument's programming manual for error {code}."),
            scpi_errors=[f'{c},"{t}"' for c, t in errors], **details)

    async def _select(self, channel: int) -> None:
        if self.dialect.select is not None and self.model.channel_count > 1:
            await self.send(self.dialect.cmd(self.dialect.select, channel))

    # --- Driver API -------------------------------------------------------------------------
    async def identify(self) -> Identity:
        async with self._sequence:
            identity = p.parse_idn(await self.query("*IDN?"))
            model = apply_options(self._forced or find_model(identity), self.options)
            await self.send("*CLS")  # start from an empty error queue so write checks see only their own errors
        self.model = model
        self._identified = True
        self.set_entities(entities_for(model))
        return identity

    async def write(self, key: str, value: Any) -> Any:
        """Identify first if needed (so the model's limits apply), then validate and send."""
        if not self._identified:
            await self.identify()
        return await super().write(key, value)

    async def poll(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for channel in range(1, self.model.channel_count + 1):
            async with self._sequence:
                await self._select(channel)
                values.update(await self._poll_channel(channel))
        return values

    async def _poll_channel(self, n: int) -> dict[str, Any]:
        d = self.dialect

        async def number(template: str) -> float:
            return p.parse_number(await self.query(d.cmd(template, n)))

        u_set, i_set = await number(d.get_voltage), await number(d.get_current)
        status = await self.query(d.cmd(d.get_output, n)) if d.output_from_status else ""
        output = p.parse_status_word(status, n)[0] if status else p.parse_bool(
            await self.query(d.cmd(d.get_output, n)))
        u_out, i_out = await number(d.meas_voltage), await number(d.meas_current)
        p_out = await number(d.meas_power) if d.meas_power else u_out * i_out
        if d.mode is None:
            mode = p.derive_mode(output, i_out, i_set)
        elif d.mode_format == "status":
            mode = p.parse_status_word(status or await self.query(d.cmd(d.mode, n)), n)[1]
        else:
            reply = await self.query(d.cmd(d.mode, n))
            mode = p.parse_isum(reply) if d.mode_format == "isum" else p.parse_mode_text(reply)
        values: dict[str, Any] = {
            f"u_set_{n}": u_set, f"i_set_{n}": i_set, f"u_out_{n}": u_out, f"i_out_{n}": i_out,
            f"p_out_{n}": p_out, f"output_{n}": output, f"cv_cc_{n}": p.MODES.index(mode),
        }
        if d.ovp_get and f"ovp_{n}" in self.entities:
            values[f"ovp_{n}"] = await number(d.ovp_get)
        if d.ocp_get and f"ocp_{n}" in self.entities:
            values[f"ocp_{n}"] = await number(d.ocp_get)
        if f"trip_{n}" in self.entities:
            ovp = p.parse_bool(await self.query(d.cmd(d.ovp_tripped, n))) if d.ovp_tripped else False
            ocp = p.parse_bool(await self.query(d.cmd(d.ocp_tripped, n))) if d.ocp_tripped else False
            values[f"trip_{n}"] = 1 if ovp else 2 if ocp else 0
        return values

    async def _write(self, desc: EntityDescription, value: Any) -> None:
        base, n = _split_key(desc.key)
        d = self.dialect
        if base == "u_set":
            commands = [d.cmd(d.set_voltage, n, value)]
        elif base == "i_set":
            commands = [d.cmd(d.set_current, n, value)]
        elif base == "output":
            commands = [d.cmd(d.set_output, n, state=bool(value))]
        elif base == "ovp":
            commands = [d.cmd(t, n, value) for t in d.ovp_set]
        elif base == "ocp":
            commands = [d.cmd(t, n, value) for t in d.ocp_set]
        else:  # the entity table only has writable keys of the kinds above
            raise AssertionError(f"no command for {desc.key}")
        sent = "; ".join(c.decode() for c in commands)
        async with self._sequence:
            await self._select(n)
            for command in commands:
                await self.send(command)
            await self.check_errors(f"{desc.key} = {value!r} ({sent})", entity=desc.key, value=value)


__all__ = ["ScpiPsuDriver", "entities_for"]
