"""Driver for the RD Tech DPS/DPH programmable power supplies (Modbus RTU).

One poll is one FC03 read of the 13-register block 0x0000..0x000C (44 ms of wire time at
9600 baud); writes are FC06 single-register writes whose echo is checked. ``identify`` reads the
MODEL register and narrows the setpoint limits to the model's full scale, so a setpoint the model
cannot take is refused before any byte is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ...driver.base import Blueprint, Category, Driver
from ...driver.entity import Access, EntityDescription, Kind, Role, entity_table
from ...driver.reading import Identity
from ...errors import ConfigValidationError, LimitError
from ...framing.base import Frame
from . import protocol as p
from .models import DpsModel, model_by_id

if TYPE_CHECKING:
    from ...link import Link

_NUM = Kind.NUMERIC
_V, _A, _W = "V", "A", "W"

ENTITIES = entity_table(
    EntityDescription("u_set", "Voltage setpoint", _V, access=Access.RW, role=Role.SETPOINT, min=0.0, max=50.0,
                      step=0.01, precision=2, persist=True),
    EntityDescription("i_set", "Current limit", _A, access=Access.RW, role=Role.SETPOINT, min=0.0, max=5.0,
                      step=0.001, precision=3, persist=True),
    EntityDescription("u_out", "Output voltage", _V, min=0.0, max=50.0, precision=2),
    EntityDescription("i_out", "Output current", _A, min=0.0, max=5.0, precision=3),
    EntityDescription("p_out", "Output power", _W, min=0.0, max=250.0, precision=2),
    EntityDescription("u_in", "Input voltage", _V, min=0.0, precision=2),
    EntityDescription("lock", "Front-panel keys locked", kind=Kind.BOOL, access=Access.RW, role=Role.CONFIG),
    EntityDescription("protect", "Protection", kind=Kind.ENUM, role=Role.STATUS,
                      options=p.PROTECT_NAMES),
    EntityDescription("cv_cc", "Regulation mode", kind=Kind.ENUM, role=Role.STATUS, options=p.CV_CC_NAMES),
    EntityDescription("output", "Output", kind=Kind.BOOL, access=Access.RW, role=Role.SWITCH, confirm=True),
    EntityDescription("backlight", "Backlight", access=Access.RW, role=Role.CONFIG, min=0, max=5, step=1,
                      precision=0, persist=True),
    EntityDescription("model", "Model", kind=Kind.TEXT, role=Role.INFO),
    EntityDescription("version", "Firmware version", role=Role.INFO, precision=1),
)

#: Writable entity -> register.
_REGISTERS = {"u_set": p.Reg.U_SET, "i_set": p.Reg.I_SET, "lock": p.Reg.LOCK, "output": p.Reg.ONOFF,
              "backlight": p.Reg.B_LED}


def entities_for(model: DpsModel) -> Mapping[str, EntityDescription]:
    """The entity table with ``model``'s full-scale limits, steps and precisions."""
    v, i, pw = model.v_decimals, model.i_decimals, model.p_decimals
    table = dict(ENTITIES)
    table["u_set"] = replace(table["u_set"], max=model.max_v, step=model.v_step, precision=v)
    table["i_set"] = replace(table["i_set"], max=model.max_i, step=model.i_step, precision=i)
    table["u_out"] = replace(table["u_out"], max=model.max_v, precision=v)
    table["i_out"] = replace(table["i_out"], max=model.max_i, precision=i)
    table["p_out"] = replace(table["p_out"], max=model.max_p, precision=pw)
    return table


class DPSDriver(Driver):
    """RD Tech DPS3005/5005/5015/5020/8005 and DPH5005 over Modbus RTU (serial or RTU-over-TCP)."""

    name = "DPS5005"
    category = Category.PSU
    icon = "⚡"
    description = ("RD Tech (Ruideng) DPS/DPH programmable buck power supply: DPS3005, DPS5005, DPH5005, "
                   "DPS5015, DPS5020, DPS8005. Modbus RTU, 9600 8N1, slave 1; COMM must be ON.")
    blueprints = (
        Blueprint(transport="serial", framing="modbus_rtu", transport_params={"baudrate": 9600},
                  framing_params={"slave_id": 1}, label="USB / TTL serial (CH340 board)"),
        Blueprint(transport="tcp", framing="modbus_rtu", framing_params={"slave_id": 1},
                  label="RTU over TCP (WiFi bridge)"),
    )
    usb_ids = ((0x1A86, 0x7523), (0x1A86, 0x5523))
    option_keys = ("slave_id",)
    default_poll_interval = 0.5
    ENTITIES = ENTITIES

    def __init__(self, link: Link | None, *, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(link, options=options)
        slave = self.options.get("slave_id", 1)
        if isinstance(slave, bool) or not isinstance(slave, int) or not 1 <= slave <= 247:
            raise ConfigValidationError(f"slave_id must be an integer 1..247, got {slave!r}", path="options.slave_id",
                                        hint="The DPS default is 1; the instrument shows its ADDR setting when "
                                             "powered on with the ↑ key held.")
        self.slave_id: int = slave
        self.model: DpsModel | None = None

    # --- Modbus helpers ---------------------------------------------------------------------
    def _link(self) -> Link:
        assert self.link is not None  # the base class refuses to build without one
        return self.link

    def _matcher(self, function: int) -> Any:
        slave = self.slave_id

        def match(frame: Frame) -> bool:
            return p.reply_matches(frame.payload, slave, function)

        return match

    async def read_registers(self, start: int, count: int) -> tuple[int, ...]:
        """Raw FC03 read (e.g. memory groups at 0x0050 + 0x10·n)."""
        frame = await self._link().request(p.read_request(self.slave_id, start, count),
                                           match=self._matcher(p.FC_READ_HOLDING))
        assert frame is not None
        return p.parse_read_reply(frame.payload, self.slave_id, count)

    async def write_register(self, address: int, raw: int) -> None:
        """Raw FC06 write of one register; checks the echo."""
        request = p.write_single_request(self.slave_id, address, raw)
        frame = await self._link().request(request, match=self._matcher(p.FC_WRITE_SINGLE))
        assert frame is not None
        p.parse_write_single_reply(frame.payload, request)

    async def write_registers(self, start: int, values: list[int] | tuple[int, ...]) -> None:
        """Raw FC10 write of consecutive registers."""
        frame = await self._link().request(p.write_multiple_request(self.slave_id, start, values),
                                           match=self._matcher(p.FC_WRITE_MULTIPLE))
        assert frame is not None
        p.parse_write_multiple_reply(frame.payload, self.slave_id, start, len(values))

    # --- Driver API -------------------------------------------------------------------------
    async def write(self, key: str, value: Any) -> Any:
        """Validate against the identified model's limits (identifying first if needed), then send."""
        if self.model is None and self.entity(key).writable:
            await self.identify()
        return await super().write(key, value)

    async def identify(self) -> Identity:
        model_id, version = await self.read_registers(p.Reg.MODEL, 2)
        self._set_model(model_by_id(model_id))
        assert self.model is not None
        return Identity(manufacturer="RD Tech", model=self.model.name, serial="",
                        firmware=f"{p.from_raw(version, 1):.1f}")

    def _set_model(self, model: DpsModel) -> None:
        if model is not self.model:
            self.model = model
            self.set_entities(entities_for(model))

    async def poll(self) -> dict[str, Any]:
        registers = await self.read_registers(p.BLOCK_START, p.BLOCK_COUNT)
        self._set_model(model_by_id(registers[p.Reg.MODEL]))
        assert self.model is not None
        values = p.decode_block(registers, self.model).as_dict()
        values["model"] = self.model.name
        return values

    async def _write(self, desc: EntityDescription, value: Any) -> None:
        if self.model is None:
            await self.identify()
        model = self.model
        assert model is not None
        register = _REGISTERS[desc.key]
        if desc.key == "u_set":
            raw = p.to_raw(value, model.v_decimals)
        elif desc.key == "i_set":
            raw = p.to_raw(value, model.i_decimals)
        elif desc.key == "backlight":
            if float(value) != int(value):
                raise LimitError(f"Backlight = {value:g} is not a whole number", entity=desc.key, value=value,
                                 hint="Choose a brightness step 0 (darkest) … 5 (brightest).")
            raw = int(value)
        else:
            raw = int(bool(value))
        await self.write_register(register, raw)


__all__ = ["ENTITIES", "DPSDriver", "entities_for"]
