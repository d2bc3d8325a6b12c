"""``V01_Battery``: a pure-software Li-ion pack with an electronic load, no hardware needed.

The :class:`~.model.BatteryModel` is the instrument: every ``poll`` and ``write`` first advances
it to "now" (the injectable ``clock`` times the ``time_scale`` option), so a demo can discharge
a pack in minutes and a test can step a fake clock by hours.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ...driver.base import Blueprint, Category, Driver
from ...driver.entity import Access, AlarmLimits, EntityDescription, Kind, Role, entity_table
from ...driver.reading import Identity
from ...errors import ConfigValidationError
from .model import BatteryModel, BatteryParams, State

if TYPE_CHECKING:
    from ...link import Link

STATE_OPTIONS = {s.value: s.name.lower() for s in State}
VERSION = "1.0"


def entities_for(params: BatteryParams, *, max_load: float = 10.0, max_charge: float = 0.0,
                 temperature_hi: float = 45.0, temperature_hihi: float = 60.0) -> Mapping[str, EntityDescription]:
    """The entity table for a pack; ``max_charge`` > 0 lets ``load_current`` go negative (charge)."""
    v_max = params.charge_v_cell * params.cells
    return entity_table(
        EntityDescription("voltage", "Pack voltage", "V", min=0.0, max=v_max, precision=3),
        EntityDescription("current", "Current (+ discharge, − charge)", "A", min=-max_charge, max=max_load,
                          precision=3),
        EntityDescription("power", "Power to the load", "W", precision=2),
        EntityDescription("soc", "State of charge", "%", min=0.0, max=100.0, precision=1,
                          alarm=AlarmLimits(lo=20.0, lolo=10.0)),
        EntityDescription("capacity_remaining", "Remaining capacity", "Ah", min=0.0, max=params.capacity_ah,
                          precision=3),
        EntityDescription("temperature", "Pack temperature", "°C", precision=1,
                          alarm=AlarmLimits(hi=temperature_hi, hihi=temperature_hihi)),
        EntityDescription("load_current", "Load current setpoint", "A", access=Access.RW, role=Role.SETPOINT,
                          min=-max_charge, max=max_load, step=0.01, precision=2, persist=True),
        EntityDescription("output", "Output", kind=Kind.BOOL, access=Access.RW, role=Role.SWITCH, confirm=True),
        EntityDescription("state", "State", kind=Kind.ENUM, role=Role.STATUS, options=STATE_OPTIONS),
        EntityDescription("cells", "Cells in series", role=Role.INFO, precision=0),
        EntityDescription("capacity", "Rated capacity", "Ah", role=Role.INFO, precision=2),
    )


def _number(options: Mapping[str, Any], key: str, default: float, *, low: float, high: float,
            integer: bool = False) -> Any:
    value = options.get(key, default)
    ok = not isinstance(value, bool) and isinstance(value, int | float) and low <= value <= high
    if integer:
        ok = ok and float(value).is_integer()
    if not ok:
        kind = "an integer" if integer else "a number"
        raise ConfigValidationError(f"{key} must be {kind} in {low:g}…{high:g}, got {value!r}",
                                    path=f"options.{key}", hint=f"Leave it out for the default {default:g}.")
    return int(value) if integer else float(value)


class VirtualBatteryDriver(Driver):
    """A simulated Li-ion pack on an electronic load (discharge, charge, heating, cutoff)."""

    name = "V01_Battery"
    category = Category.VIRTUAL
    icon = "🔋"
    description = ("Virtual Li-ion battery on an electronic load: NMC voltage curve, I·R sag, coulomb counting, "
                   "heating and under-voltage cutoff. No hardware; options cells, capacity, time_scale.")
    blueprints = (Blueprint(transport="none", framing="none", label="Software only"),)
    option_keys = ("cells", "capacity", "soc", "ambient", "r_cell", "time_scale", "max_charge_current",
                   "temperature_hi", "temperature_hihi")
    default_poll_interval = 1.0
    ENTITIES = entities_for(BatteryParams())

    def __init__(self, link: Link | None = None, *, options: Mapping[str, Any] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(link, options=options)
        opts = self.options
        self.params = BatteryParams(
            cells=_number(opts, "cells", 4, low=1, high=32, integer=True),
            capacity_ah=_number(opts, "capacity", 2.5, low=0.01, high=1000.0),
            r_cell=_number(opts, "r_cell", 0.05, low=0.0001, high=10.0),
            ambient_c=_number(opts, "ambient", 25.0, low=-40.0, high=60.0),
        )
        self.time_scale = _number(opts, "time_scale", 1.0, low=0.0, high=1e6)
        max_charge = _number(opts, "max_charge_current", 0.0, low=0.0, high=10.0)
        soc = _number(opts, "soc", 100.0, low=0.0, high=100.0)
        self.model = BatteryModel(self.params, soc=soc / 100.0)
        self.clock = clock
        self._last = clock()
        self.set_entities(entities_for(
            self.params, max_charge=max_charge,
            temperature_hi=_number(opts, "temperature_hi", 45.0, low=-40.0, high=200.0),
            temperature_hihi=_number(opts, "temperature_hihi", 60.0, low=-40.0, high=200.0)))

    def sync(self) -> None:
        """Advance the model to now (``clock`` × ``time_scale``)."""
        now = self.clock()
        elapsed, self._last = max(0.0, now - self._last), now
        if elapsed and self.time_scale:
            self.model.advance(elapsed * self.time_scale)

    async def identify(self) -> Identity:
        p = self.params
        return Identity(manufacturer="ionpy_widgets", model="V01 virtual Li-ion battery",
                        serial=f"V01-{p.cells}S-{p.capacity_ah:g}Ah", firmware=VERSION)

    async def poll(self) -> dict[str, Any]:
        self.sync()
        m = self.model
        return {
            "voltage": m.voltage, "current": m.current, "power": m.power, "soc": m.soc * 100.0,
            "capacity_remaining": m.charge_ah, "temperature": m.temperature_c, "load_current": m.load_current,
            "output": m.output_on, "state": int(m.state), "cells": self.params.cells,
            "capacity": self.params.capacity_ah,
        }

    async def _write(self, desc: EntityDescription, value: Any) -> None:
        self.sync()  # the old setting applies up to now, the new one from now on
        if desc.key == "load_current":
            self.model.load_current = float(value)
            self.model.set_output(self.model.output_on)
        elif desc.key == "output":
            self.model.set_output(bool(value))
        else:  # only the two writable entities reach here
            raise AssertionError(f"no write for {desc.key}")


__all__ = ["VirtualBatteryDriver", "entities_for"]
