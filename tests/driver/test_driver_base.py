from typing import Any

import pytest

from ionpy_widgets.driver import registry
from ionpy_widgets.driver.base import Blueprint, Category, Driver
from ionpy_widgets.driver.entity import Access, EntityDescription, Kind, Role, entity_table
from ionpy_widgets.driver.reading import Identity, Quality, Reading
from ionpy_widgets.errors import EntityError, LimitError, UnknownDriverError


class Bench(Driver):
    name = "TEST_Bench"
    category = Category.VIRTUAL
    blueprints = (Blueprint("none", "none"),)
    idn_patterns = (r"^ACME,BENCH",)
    ENTITIES = entity_table(
        EntityDescription("u_set", "Voltage setpoint", "V", access=Access.RW, role=Role.SETPOINT, min=0, max=30,
                          persist=True),
        EntityDescription("output", "Output", kind=Kind.BOOL, access=Access.RW, role=Role.SWITCH, confirm=True),
        EntityDescription("u_out", "Voltage", "V"),
    )

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.sent: list[tuple[str, Any]] = []

    async def identify(self) -> Identity:
        self.set_entities({**self.ENTITIES, "u_set": self.ENTITIES["u_set"].with_limits(max=20)})
        return Identity("ACME", "BENCH-20", "1", "1.0")

    async def poll(self) -> dict[str, Any]:
        return {"u_out": 1.0}

    async def _write(self, desc: EntityDescription, value: Any) -> None:
        self.sent.append((desc.key, value))


async def test_write_validates_against_identified_model_before_sending():
    drv = Bench(None)
    assert drv.needs_link() is False
    ident = await drv.connect()
    assert ident.model == "BENCH-20"
    assert await drv.write("u_set", 12) == 12.0
    with pytest.raises(LimitError):
        await drv.write("u_set", 25)  # class allows 30, this model only 20
    with pytest.raises(EntityError, match="no entity"):
        await drv.write("nope", 1)
    assert drv.sent == [("u_set", 12.0)]


async def test_outputs_off_switches_every_output():
    drv = Bench(None)
    assert await drv.outputs_off() == ["output"]
    assert drv.sent == [("output", False)]


def test_manifest_and_idn_matching():
    man = Bench.manifest()
    assert man["name"] == "TEST_Bench" and man["category"] == "virtual"
    assert [e["key"] for e in man["entities"]] == ["u_set", "output", "u_out"]
    assert Bench.matches_idn("acme,bench-20,1,1.0") and not Bench.matches_idn("RIGOL,DP832")


def test_link_required_unless_pure_software():
    class NeedsLink(Bench):
        name = "TEST_NeedsLink"
        blueprints = (Blueprint("serial", "modbus_rtu"),)

    with pytest.raises(ValueError, match="needs a link"):
        NeedsLink(None)


def test_registry_register_and_unknown_driver():
    registry.register(Bench)
    try:
        assert registry.get_driver("TEST_Bench") is Bench
        assert any(e.name == "TEST_Bench" and e.source == "registered" for e in registry.list_drivers())
    finally:
        registry.unregister("TEST_Bench")
    with pytest.raises(UnknownDriverError) as info:
        registry.get_driver("NOPE_9000")
    assert "DPS5005" in info.value.hint


def test_reading_dict_shape():
    r = Reading("DPS5005_1", "u_out", 4.98, "V", 1700000000.0)
    assert r.to_dict() == {"device": "DPS5005_1", "entity": "u_out", "value": 4.98, "unit": "V",
                           "timestamp": 1700000000.0, "quality": "good"}
    assert Quality("stale") is Quality.STALE
