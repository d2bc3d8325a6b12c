"""RD Tech DPS model table: identity values, decimals and full-scale limits (protocols.md §1.4)."""

from __future__ import annotations

import pytest

from ionpy_widgets.errors import DeviceError
from ionpy_widgets.instruments.rdtech_dps.models import MODELS, MODELS_BY_ID, model_by_id, model_by_name


@pytest.mark.parametrize(("name", "model_id", "v", "i", "pw", "max_v", "max_i", "max_p"), [
    ("DPS3005", 3005, 2, 3, 2, 30, 5, 160),
    ("DPS5005", 5005, 2, 3, 2, 50, 5, 250),
    ("DPH5005", 5205, 2, 3, 2, 50, 5, 250),
    ("DPS5015", 5015, 2, 2, 1, 50, 15, 750),
    ("DPS5020", 5020, 2, 2, 1, 50, 20, 1000),
    ("DPS8005", 8005, 2, 3, 2, 80, 5, 408),
])
def test_model_table(name, model_id, v, i, pw, max_v, max_i, max_p):
    model = model_by_id(model_id)
    assert model is MODELS[name] is model_by_name(name.lower())
    assert (model.v_decimals, model.i_decimals, model.p_decimals) == (v, i, pw)
    assert (model.max_v, model.max_i, model.max_p) == (max_v, max_i, max_p)


def test_full_scale_fits_in_sixteen_bits():
    for model in MODELS.values():
        assert model.raw_limit_v() <= 0xFFFF
        assert model.raw_limit_i() <= 0xFFFF
        assert round(model.max_p * 10**model.p_decimals) <= 0xFFFF
        assert model.raw_limit_p() <= 0xFFFF


def test_steps():
    assert MODELS["DPS5005"].i_step == pytest.approx(0.001)
    assert MODELS["DPS5020"].i_step == pytest.approx(0.01)
    assert MODELS["DPS8005"].v_step == pytest.approx(0.01)


def test_unknown_model_id_lists_supported_models():
    with pytest.raises(DeviceError) as info:
        model_by_id(6006)
    err = info.value
    assert err.code == "dps_model_unknown"
    assert "6006" in err.message
    for model_id in MODELS_BY_ID:
        assert str(model_id) in err.hint
    assert "DPS5015" in err.hint


def test_unknown_model_name():
    with pytest.raises(DeviceError, match="DPS9999") as info:
        model_by_name("DPS9999")
    assert "DPH5005" in info.value.hint


def test_models_are_frozen():
    with pytest.raises(AttributeError):
        MODELS["DPS5005"].max_v = 60.0  # type: ignore[misc]
