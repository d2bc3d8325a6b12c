"""The Driver base class: class metadata, identify, poll and validated writes.

A driver turns entity keys into protocol requests over a :class:`~ionpy_widgets.link.Link`.
It never opens ports itself (the stack builder does) and validates every write against the
entity table (including the identified model's limits) *before* any byte is sent.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import EntityError
from .entity import EntityDescription, Kind, Role
from .reading import Identity

if TYPE_CHECKING:
    from ..link import Link


class Category(StrEnum):
    PSU = "psu"
    LOAD = "load"
    BMS = "bms"
    METER = "meter"
    VIRTUAL = "virtual"


@dataclass(frozen=True, slots=True)
class Blueprint:
    """One way to reach the instrument: a transport type with its framing and defaults.
    ``transport == "none"`` means a pure-software instrument (no link)."""

    transport: str
    framing: str
    transport_params: Mapping[str, Any] = field(default_factory=dict)
    framing_params: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"transport": self.transport, "framing": self.framing,
                "transport_params": dict(self.transport_params),
                "framing_params": dict(self.framing_params), "label": self.label}


class Driver(ABC):
    # --- class metadata (shown in the wizard's catalogue and used by discovery) ---------------
    name: ClassVar[str]
    category: ClassVar[Category]
    icon: ClassVar[str] = "🔌"
    description: ClassVar[str] = ""
    blueprints: ClassVar[tuple[Blueprint, ...]] = ()
    #: (vendor id, product id) pairs of USB bridges this instrument is often behind.
    usb_ids: ClassVar[tuple[tuple[int, int], ...]] = ()
    #: Regexes matched (case-insensitive) against the raw ``*IDN?`` reply.
    idn_patterns: ClassVar[tuple[str, ...]] = ()
    #: The entity table before identification (model-specific limits may narrow it).
    ENTITIES: ClassVar[Mapping[str, EntityDescription]] = MappingProxyType({})
    default_poll_interval: ClassVar[float] = 0.5
    #: Option keys the driver reads from the framing params / options (e.g. ``slave_id``).
    option_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, link: Link | None, *, options: Mapping[str, Any] | None = None) -> None:
        if self.needs_link() and link is None:
            raise ValueError(f"driver {self.name} needs a link")
        self.link = link
        self.options: dict[str, Any] = dict(options or {})
        self.identity: Identity | None = None
        self._entities: Mapping[str, EntityDescription] = self.ENTITIES

    # --- metadata helpers -------------------------------------------------------------------
    @classmethod
    def needs_link(cls) -> bool:
        return not cls.blueprints or any(bp.transport != "none" for bp in cls.blueprints)

    @classmethod
    def blueprint_for(cls, transport: str) -> Blueprint | None:
        return next((bp for bp in cls.blueprints if bp.transport == transport), None)

    @classmethod
    def matches_idn(cls, idn: str) -> bool:
        return any(re.search(p, idn, re.IGNORECASE) for p in cls.idn_patterns)

    @classmethod
    def manifest(cls) -> dict[str, Any]:
        return {
            "name": cls.name, "category": cls.category.value, "icon": cls.icon,
            "description": cls.description, "blueprints": [bp.to_dict() for bp in cls.blueprints],
            "usb_ids": [f"{v:04X}:{p:04X}" for v, p in cls.usb_ids], "idn_patterns": list(cls.idn_patterns),
            "entities": [e.to_dict() for e in cls.ENTITIES.values()],
            "default_poll_interval": cls.default_poll_interval,
        }

    # --- entity table -----------------------------------------------------------------------
    @property
    def entities(self) -> Mapping[str, EntityDescription]:
        """The entity table for the identified model (class table before ``identify``)."""
        return self._entities

    def set_entities(self, table: Mapping[str, EntityDescription]) -> None:
        self._entities = MappingProxyType(dict(table))

    def entity(self, key: str) -> EntityDescription:
        try:
            return self._entities[key]
        except KeyError:
            known = ", ".join(self._entities)
            raise EntityError(f"{self.name} has no entity {key!r}", entity=key,
                              hint=f"Known entities: {known}.") from None

    # --- lifecycle --------------------------------------------------------------------------
    async def connect(self) -> Identity:
        """Open the link (if any) and identify the instrument."""
        if self.link is not None and not self.link.is_open:
            await self.link.open()
        self.identity = await self.identify()
        return self.identity

    async def disconnect(self) -> None:
        if self.link is not None:
            await self.link.close()

    @abstractmethod
    async def identify(self) -> Identity:
        """Ask the instrument who it is; narrow ``entities`` to the model's limits."""

    @abstractmethod
    async def poll(self) -> dict[str, Any]:
        """Read every readable entity; return key -> value (engineering units)."""

    async def write(self, key: str, value: Any) -> Any:
        """Validate ``value`` against the entity (and model) limits, then send it.
        Returns the value actually written. Raises before any byte goes out when invalid."""
        desc = self.entity(key)
        checked = desc.validate(value)
        await self._write(desc, checked)
        return checked

    @abstractmethod
    async def _write(self, desc: EntityDescription, value: Any) -> None:
        """Send a validated value."""

    async def outputs_off(self) -> list[str]:
        """Emergency stop: switch every output off; returns the keys switched."""
        switched = []
        for desc in self._entities.values():
            if desc.role is Role.SWITCH and desc.kind is Kind.BOOL and desc.writable and desc.ui.get("output", True):
                await self._write(desc, False)
                switched.append(desc.key)
        return switched
