"""The ``alarms:`` and ``limits:`` sections of a device entry: accepted shapes, merged specs, every
mistake rejected with its field path, round trips through the ConfigManager, and the user's
limits applied to values (refused with a hint naming the limit, or clamped)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ionpy_widgets.driver.registry import get_driver
from ionpy_widgets.engine.alarm_config import build_specs
from ionpy_widgets.engine.alarm_model import AlarmAction
from ionpy_widgets.engine.config import LabConfig, load_lab_config
from ionpy_widgets.engine.config_manager import ConfigManager
from ionpy_widgets.engine.events import AlarmLevel
from ionpy_widgets.engine.limits import apply_user_limits, narrowed
from ionpy_widgets.errors import ConfigValidationError, LimitError

DPS = get_driver("DPS5005").ENTITIES
BATTERY = get_driver("V01_Battery").ENTITIES


def device(**extra: Any) -> dict[str, Any]:
    serial = {"type": "serial", "params": {"port": "/dev/x"}}
    return {"devices": [{"id": "BAT", "driver": "V01_Battery"},
                        {"id": "DPS", "driver": "DPS5005", "transport": serial, **extra}]}


def test_the_issue_example_is_accepted_and_builds_a_spec() -> None:
    config = LabConfig.from_mapping(device(alarms={"u_out": {"hihi": 13.0, "hi": 12.5, "lo": 1.0, "deadband": 0.1,
                                                             "on_delay": 0.5, "actions": {"hihi": "output_off"}}},
                                           limits={"u_set": {"max": 12}}))
    dps = config.devices[1]
    assert dps.limits == {"u_set": {"max": 12}}
    spec = build_specs(DPS, dps.alarms)["u_out"]
    assert (spec.hihi, spec.hi, spec.lo, spec.lolo) == (13.0, 12.5, 1.0, None)
    assert (spec.deadband, spec.on_delay, spec.off_delay, spec.enabled) == (0.1, 0.5, 0.0, True)
    assert spec.actions == {AlarmLevel.HIHI: (AlarmAction("output_off"),)}
    assert dps.to_dict()["alarms"]["u_out"]["actions"] == {"hihi": "output_off"}  # written back as given


def test_driver_defaults_give_points_without_config_and_can_be_overridden_or_removed() -> None:
    specs = build_specs(BATTERY, {})
    assert set(specs) == {"soc", "temperature"}
    assert (specs["soc"].lo, specs["soc"].lolo) == (20.0, 10.0)
    specs = build_specs(BATTERY, {"soc": {"lo": 30, "lolo": None, "actions": {"lo": [{"write": {"load_current": 0}},
                                                                                       "output_off"]}},
                                  "temperature": {"enabled": False}})
    assert (specs["soc"].lo, specs["soc"].lolo) == (30.0, None)
    assert specs["soc"].actions[AlarmLevel.LO] == (AlarmAction("write", {"load_current": 0}), AlarmAction("output_off"))
    assert specs["temperature"].enabled is False


@pytest.mark.parametrize(("alarms", "path", "words"), [
    ([1], "devices[1].alarms", "mapping"),
    ({"u_outt": {"hi": 1}}, "devices[1].alarms.u_outt", "unknown entity"),
    ({"output": {"hi": 1}}, "devices[1].alarms.output", "not one of the numeric"),
    ({"u_out": 5}, "devices[1].alarms.u_out", "mapping"),
    ({"u_out": {"hi": 1, "high": 2}}, "devices[1].alarms.u_out.high", "unknown key"),
    ({"u_out": {"hihi": "13"}}, "devices[1].alarms.u_out.hihi", "number"),
    ({"u_out": {"hi": True}}, "devices[1].alarms.u_out.hi", "number"),
    ({"u_out": {"hi": 13, "hihi": 12}}, "devices[1].alarms.u_out.hihi", "above hi"),
    ({"u_out": {"lo": 5, "hi": 5}}, "devices[1].alarms.u_out.hi", "above lo"),
    ({"u_out": {"lolo": 2, "lo": 1}}, "devices[1].alarms.u_out.lo", "above lolo"),
    ({"u_out": {"deadband": 0.1}}, "devices[1].alarms.u_out", "no alarm limit"),
    ({"u_out": {"hi": 5, "deadband": -1}}, "devices[1].alarms.u_out.deadband", ">= 0"),
    ({"u_out": {"hi": 5, "lo": 4, "deadband": 1}}, "devices[1].alarms.u_out.deadband", "wider"),
    ({"u_out": {"hi": 5, "on_delay": -0.1}}, "devices[1].alarms.u_out.on_delay", "seconds"),
    ({"u_out": {"hi": 5, "off_delay": 1e9}}, "devices[1].alarms.u_out.off_delay", "seconds"),
    ({"u_out": {"hi": 5, "enabled": "yes"}}, "devices[1].alarms.u_out.enabled", "true or false"),
    ({"u_out": {"hi": 5, "actions": "output_off"}}, "devices[1].alarms.u_out.actions", "mapping"),
    ({"u_out": {"hi": 5, "actions": {"high": "output_off"}}}, "devices[1].alarms.u_out.actions.high", "level"),
    ({"u_out": {"hi": 5, "actions": {"hihi": "output_off"}}}, "devices[1].alarms.u_out.actions.hihi", "no hihi"),
    ({"u_out": {"hi": 5, "actions": {"hi": "explode"}}}, "devices[1].alarms.u_out.actions.hi", "unknown action"),
    ({"u_out": {"hi": 5, "actions": {"hi": []}}}, "devices[1].alarms.u_out.actions.hi", "at least one"),
    ({"u_out": {"hi": 5, "actions": {"hi": ["output_off", "x"]}}}, "devices[1].alarms.u_out.actions.hi[1]",
     "unknown action"),
    ({"u_out": {"hi": 5, "actions": {"hi": {"write": {"u_out": 0}}}}},
     "devices[1].alarms.u_out.actions.hi.write.u_out", "not a writable"),
    ({"u_out": {"hi": 5, "actions": {"hi": {"write": {"u_set": 99}}}}},
     "devices[1].alarms.u_out.actions.hi.write.u_set", "outside"),
])
def test_alarm_mistakes_name_their_field(alarms: Any, path: str, words: str) -> None:
    with pytest.raises(ConfigValidationError) as info:
        LabConfig.from_mapping(device(alarms=alarms), check_stack=False)
    assert info.value.path == path
    assert words in info.value.message and info.value.hint


@pytest.mark.parametrize(("limits", "path", "words"), [
    ("12", "devices[1].limits", "mapping"),
    ({"u_out": {"max": 1}}, "devices[1].limits.u_out", "writable numeric"),
    ({"nope": {"max": 1}}, "devices[1].limits.nope", "unknown entity"),
    ({"u_set": {}}, "devices[1].limits.u_set", "min and/or max"),
    ({"u_set": {"clamp": True}}, "devices[1].limits.u_set", "needs min"),
    ({"u_set": {"max": "12"}}, "devices[1].limits.u_set.max", "number"),
    ({"u_set": {"max": 12, "clamp": 1}}, "devices[1].limits.u_set.clamp", "true or false"),
    ({"u_set": {"maximum": 12}}, "devices[1].limits.u_set.maximum", "unknown key"),
    ({"u_set": {"min": 5, "max": 1}}, "devices[1].limits.u_set.max", "below min"),
])
def test_limit_mistakes_name_their_field(limits: Any, path: str, words: str) -> None:
    with pytest.raises(ConfigValidationError) as info:
        LabConfig.from_mapping(device(limits=limits), check_stack=False)
    assert info.value.path == path
    assert words in info.value.message


def test_a_file_error_also_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("version: 1\ndevices:\n  - id: BAT\n    driver: V01_Battery\n    alarms:\n"
                    "      soc: {lo: 30, lolo: 40}\n")
    with pytest.raises(ConfigValidationError) as info:
        load_lab_config(path)
    assert info.value.path == "devices[0].alarms.soc.lo" and info.value.details["line"] == 6


def test_alarms_and_limits_survive_config_manager_edits_with_comments(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("version: 1\ndevices:\n  - id: BAT  # the pack\n    driver: V01_Battery\n"
                    "    alarms:\n      soc: {lo: 30}   # warn early\n")
    cm = ConfigManager(path)
    cm.add_device({"id": "B2", "driver": "V01_Battery", "alarms": {"temperature": {"hi": 40, "on_delay": 2}},
                   "limits": {"load_current": {"max": 2, "clamp": True}}})
    text = path.read_text()
    assert "# warn early" in text and "# the pack" in text
    again = load_lab_config(path)
    assert again.device("BAT").alarms == {"soc": {"lo": 30}}
    assert again.device("B2").alarms == {"temperature": {"hi": 40, "on_delay": 2}}
    assert again.device("B2").limits == {"load_current": {"max": 2, "clamp": True}}
    with pytest.raises(ConfigValidationError) as info:
        cm.add_device({"id": "B3", "driver": "V01_Battery", "alarms": {"soc": {"lo": "low"}}})
    assert info.value.path.endswith("alarms.soc.lo")
    assert "B3" not in path.read_text()


def test_user_limits_refuse_with_a_hint_naming_the_limit_or_clamp() -> None:
    u_set = DPS["u_set"]
    with pytest.raises(LimitError) as info:
        apply_user_limits({"u_set": {"max": 12}}, u_set, 12.5, device="DPS")
    assert info.value.message == "Voltage setpoint = 12.5 V is above your limit 12 V"
    assert "max: 12 V" in info.value.hint and "limits" in info.value.hint and "nothing was sent" in info.value.hint
    assert info.value.details["user_limit"] == {"max": 12}
    with pytest.raises(LimitError, match="below your limit 1 V"):
        apply_user_limits({"u_set": {"min": 1}}, u_set, 0.5)
    assert apply_user_limits({"u_set": {"max": 12}}, u_set, 11.0) == 11.0
    assert apply_user_limits({"u_set": {"max": 12, "clamp": True}}, u_set, 30) == 12.0
    assert apply_user_limits({"u_set": {"min": 2, "clamp": True}}, u_set, "1") == 2.0
    assert apply_user_limits({"u_set": {"max": 12}}, u_set, "abc") == "abc"  # the entity's own check reports it
    assert apply_user_limits({}, u_set, 99) == 99
    assert narrowed(u_set, {"u_set": {"max": 12, "min": -3}}) == (0.0, 12)
