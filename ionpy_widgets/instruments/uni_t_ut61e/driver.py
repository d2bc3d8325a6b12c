"""Driver ``UT61E_PLUS``: UNI-T UT61E+ / UT61B+ / UT61D+ / UT161 multimeters through their HID cable.

One poll is one measure request (``AB CD 03 5E 01 D9``) answered by a 19-byte frame; the value is
reported in SI units (see :mod:`.protocol`) and the ``value`` entity's unit follows the meter's mode:
the driver swaps in the entity table for that unit (each table is frozen), so readings carry ``V``,
``A``, ``Ω``, ``F``, ``Hz``, ``%``, ``°C`` or ``°F``. An overload ("OL") reads as NaN with
``overload`` = True; non-numeric displays (NCV, Live) read as NaN with ``overload`` = False.

Writes are front-panel key presses, validated against the entity table before a byte is sent:
``key`` presses any key by name; ``hold``, ``rel`` and ``auto_range`` are switches that read the
meter first and press HOLD, REL or AUTO/RANGE only when its state differs. The meter answers a key
with one frame of undocumented content; the driver does not wait for it (a late one is skipped by
the next measure request's match), and the next poll shows the new state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING, Any

from ...driver.base import Blueprint, Category, Driver
from ...driver.entity import Access, EntityDescription, Kind, Role, entity_table
from ...driver.reading import Identity
from ...errors import FramingError, ProtocolTimeoutError
from ...framing.base import Frame
from . import protocol as p

if TYPE_CHECKING:
    from ...link import Link

_B, _STATUS, _CONFIG = Kind.BOOL, Role.STATUS, Role.CONFIG

ENTITIES = entity_table(
    EntityDescription("value", "Reading (SI units; NaN on overload)", "V", precision=6),
    EntityDescription("display", "Display", kind=Kind.TEXT),
    EntityDescription("unit", "Unit", kind=Kind.TEXT, role=_STATUS),
    EntityDescription("mode", "Mode", kind=Kind.ENUM, role=_STATUS, options=p.MODE_NAMES),
    EntityDescription("range", "Range", role=_STATUS, min=0, max=9, precision=0),
    EntityDescription("overload", "Overload (OL)", kind=_B, role=_STATUS),
    EntityDescription("hold", "HOLD", kind=_B, access=Access.RW, role=_CONFIG),
    EntityDescription("rel", "REL (relative)", kind=_B, access=Access.RW, role=_CONFIG),
    EntityDescription("auto_range", "Auto range", kind=_B, access=Access.RW, role=_CONFIG),
    EntityDescription("show_max", "MAX shown", kind=_B, role=_STATUS),
    EntityDescription("show_min", "MIN shown", kind=_B, role=_STATUS),
    EntityDescription("peak_max", "Peak MAX", kind=_B, role=_STATUS),
    EntityDescription("peak_min", "Peak MIN", kind=_B, role=_STATUS),
    EntityDescription("dc", "DC channel (AC/DC mode)", kind=_B, role=_STATUS),
    EntityDescription("low_battery", "Low battery", kind=_B, role=_STATUS),
    EntityDescription("hv_warning", "High-voltage warning", kind=_B, role=_STATUS),
    EntityDescription("key", "Press key", kind=Kind.ENUM, access=Access.WO, role=_CONFIG, options=p.KEY_NAMES),
    EntityDescription("model", "Model", kind=Kind.TEXT, role=Role.INFO),
)

#: Measurement field -> entity key where they differ.
_RENAMED = {"min": "show_min", "max": "show_max"}
_DROPPED = ("bar",)
#: Switch entity -> (measurement field, key pressed to turn it on, key pressed to turn it off).
_SWITCHES = {"hold": ("hold", p.Key.HOLD, p.Key.HOLD), "rel": ("rel", p.Key.REL, p.Key.REL),
             "auto_range": ("auto_range", p.Key.AUTO, p.Key.RANGE)}
UNKNOWN_MODEL = "UT61E+ family"


@cache
def entities_for_unit(unit: str) -> Mapping[str, EntityDescription]:
    """The entity table whose ``value`` carries ``unit`` (one frozen table per unit)."""
    table = dict(ENTITIES)
    table["value"] = replace(table["value"], unit=unit)
    return entity_table(*table.values())


def _is_measurement(frame: Frame) -> bool:
    return len(frame.payload) == p.MEASUREMENT_SIZE and frame.payload[0] < 0x20


def _is_name(frame: Frame) -> bool:
    return p.parse_name(frame.payload) is not None


class Ut61ePlusDriver(Driver):
    """UNI-T UT61E+ family digital multimeter (UT61B+, UT61D+, UT161x) over its CP2110 or D-09A USB cable."""

    name = "UT61E_PLUS"
    category = Category.METER
    icon = "📟"
    description = ("UNI-T UT61E+/B+/D+ and UT161 multimeters through the UT-D09 (CP2110) or D-09A USB cable: "
                   "value with unit, mode, range, HOLD/REL/MIN/MAX flags; key presses. Switch the meter's USB on.")
    blueprints = (
        Blueprint(transport="hid", framing="length_prefixed",
                  transport_params={"vendor_id": 0x10C4, "product_id": 0xEA80, "uart": "auto", "baudrate": 9600},
                  framing_params=p.FRAMING_PARAMS, label="UT-D09 cable (CP2110); D-09A: product 1A86:E429"),
    )
    usb_ids = ((0x10C4, 0xEA80), (0x1A86, 0xE429))
    default_poll_interval = 0.5
    ENTITIES = ENTITIES

    def __init__(self, link: Link | None, *, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(link, options=options)
        self.model = ""
        self.last: p.Measurement | None = None

    def _link(self) -> Link:
        assert self.link is not None  # the base class refuses to build without one
        return self.link

    async def measure(self) -> p.Measurement:
        """One measurement (``AB CD 03 5E 01 D9``); switches the entity table to its unit."""
        frame = await self._link().request(p.MEASURE, match=_is_measurement)
        assert frame is not None
        reading = p.parse_measurement(frame.payload)
        if reading.unit != self.entities["value"].unit:
            self.set_entities(entities_for_unit(reading.unit))
        self.last = reading
        return reading

    async def press(self, key: int | str) -> None:
        """Press a front-panel key (``"HOLD"``, ``p.Key.RANGE`` ...); validated before sending."""
        await self.write("key", key)

    async def identify(self) -> Identity:
        """Ask for the name (two frames come back; the second is the name). Meters that do not
        answer it are still identified by a measurement, as the family."""
        try:
            frame = await self._link().request(p.NAME, match=_is_name, timeout=0.5, retries=0)
        except (ProtocolTimeoutError, FramingError):
            frame = None
        name = p.parse_name(frame.payload) if frame is not None else None
        await self.measure()
        self.model = name or UNKNOWN_MODEL
        return Identity(manufacturer="UNI-T", model=self.model)

    async def poll(self) -> dict[str, Any]:
        values = (await self.measure()).as_dict()
        for old, new in _RENAMED.items():
            values[new] = values.pop(old)
        for key in _DROPPED:
            values.pop(key)
        values["model"] = self.model or UNKNOWN_MODEL
        return values

    async def _write(self, desc: EntityDescription, value: Any) -> None:
        if desc.key == "key":
            await self._link().request(p.key_request(int(value)), expect_reply=False)
            return
        field, on_key, off_key = _SWITCHES[desc.key]
        state = getattr(await self.measure(), field)
        if state != bool(value):
            await self._link().request(p.key_request(on_key if value else off_key), expect_reply=False)


__all__ = ["ENTITIES", "UNKNOWN_MODEL", "Ut61ePlusDriver", "entities_for_unit"]
