import math

import pytest

from ionpy_widgets.driver.entity import Access, AlarmLimits, EntityDescription, Kind, Role, entity_table
from ionpy_widgets.errors import LimitError, ReadOnlyError

U_SET = EntityDescription("u_set", "Voltage setpoint", "V", access=Access.RW, role=Role.SETPOINT,
                          min=0.0, max=50.0, step=0.01, precision=2, persist=True)


def test_numeric_validation_inside_and_outside_limits():
    assert U_SET.validate(12.5) == 12.5
    assert U_SET.validate("3.3") == 3.3
    with pytest.raises(LimitError) as info:
        U_SET.validate(60)
    err = info.value
    assert "outside the allowed range" in err.message and "0 and 50 V" in err.hint
    assert err.details["entity"] == "u_set"
    for bad in (math.nan, math.inf, "abc", None, True):
        with pytest.raises(LimitError):
            U_SET.validate(bad)


def test_model_limits_narrow_a_copy():
    narrowed = U_SET.with_limits(max=30.0)
    assert narrowed.max == 30.0 and U_SET.max == 50.0
    with pytest.raises(LimitError):
        narrowed.validate(31)


def test_bool_and_enum_and_read_only():
    out = EntityDescription("output", "Output", kind=Kind.BOOL, access=Access.RW, role=Role.SWITCH, confirm=True)
    assert out.validate("on") is True and out.validate(0) is False
    with pytest.raises(LimitError):
        out.validate(2)
    mode = EntityDescription("mode", "Mode", kind=Kind.ENUM, access=Access.RW, role=Role.CONFIG,
                             options={0: "CV", 1: "CC"})
    assert mode.validate("cc") == 1 and mode.validate(0) == 0
    with pytest.raises(LimitError, match="not one of"):
        mode.validate("CP")
    meas = EntityDescription("u_out", "Voltage", "V")
    with pytest.raises(ReadOnlyError):
        meas.validate(1.0)


def test_persist_rule_measurements_and_switches_never_persist():
    with pytest.raises(ValueError, match="never persist"):
        EntityDescription("u_out", "Voltage", "V", persist=True)
    with pytest.raises(ValueError, match="never persist"):
        EntityDescription("output", "Output", kind=Kind.BOOL, access=Access.RW, role=Role.SWITCH, persist=True)


def test_table_rejects_duplicates_and_is_immutable():
    table = entity_table(U_SET, EntityDescription("u_out", "Voltage", "V", alarm=AlarmLimits(hi=12.5, hihi=13)))
    assert list(table) == ["u_set", "u_out"]
    with pytest.raises(TypeError):
        table["x"] = U_SET  # type: ignore[index]
    with pytest.raises(ValueError, match="duplicate"):
        entity_table(U_SET, U_SET)
    assert table["u_out"].to_dict()["alarm"] == {"hihi": 13, "hi": 12.5}
