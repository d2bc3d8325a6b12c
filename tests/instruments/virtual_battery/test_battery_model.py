"""The discharge model: OCV curve shape, I·R sag, coulomb counting, heating, cutoff, charge."""

from __future__ import annotations

import itertools

import pytest

from ionpy_widgets.instruments.virtual_battery.model import (
    NMC_OCV,
    BatteryModel,
    BatteryParams,
    State,
    ocv_cell,
)


def _discharge(model: BatteryModel, amps: float, step: float = 60.0, limit_s: float = 30 * 3600) -> list[float]:
    model.load_current = amps
    model.set_output(True)
    volts = [model.voltage]
    while model.state is not State.CUTOFF and model.elapsed_s < limit_s:
        model.advance(step)
        if model.state is not State.CUTOFF:
            volts.append(model.voltage)
    return volts


def test_ocv_table_is_a_real_nmc_curve() -> None:
    assert ocv_cell(1.0) == pytest.approx(4.2)
    assert ocv_cell(0.0) == pytest.approx(3.0)
    socs = [i / 200 for i in range(201)]
    values = [ocv_cell(s) for s in socs]
    assert all(a < b for a, b in itertools.pairwise(values))
    # the knee: the bottom 10 % drops far more per % than the middle of the curve
    bottom = (ocv_cell(0.10) - ocv_cell(0.0)) / 10
    middle = (ocv_cell(0.60) - ocv_cell(0.40)) / 20
    assert bottom > 4 * middle
    assert ocv_cell(-1) == ocv_cell(0) and ocv_cell(2) == ocv_cell(1)
    assert NMC_OCV[0][0] == 0.0 and NMC_OCV[-1][0] == 1.0


def test_discharge_curve_is_monotonic_with_knee_and_cutoff() -> None:
    model = BatteryModel()
    volts = _discharge(model, 1.25)  # C/2
    assert model.state is State.CUTOFF and not model.output_on and model.current == 0.0
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(volts))
    n = len(volts)
    first_half_drop = volts[0] - volts[n // 2]
    last_tenth_drop = volts[9 * n // 10] - volts[-1]
    assert last_tenth_drop > first_half_drop  # the knee at the end
    assert volts[-1] >= 4 * 3.0 - 0.1  # cutoff stops it at about 3.0 V/cell under load
    # at rest the pack rebounds above the cutoff voltage
    assert model.voltage > 4 * 3.0


def test_low_current_delivers_about_the_rated_capacity() -> None:
    model = BatteryModel(BatteryParams(cells=4, capacity_ah=2.5))
    _discharge(model, 0.125, step=120.0)  # C/20
    assert model.delivered_ah == pytest.approx(2.5, rel=0.02)
    # energy ≈ capacity × mean cell voltage (~3.7 V) × cells
    assert 2.5 * 4 * 3.55 < model.delivered_wh < 2.5 * 4 * 3.85


def test_high_current_sags_and_delivers_less() -> None:
    light, heavy = BatteryModel(), BatteryModel()
    light.load_current, heavy.load_current = 0.5, 10.0
    light.set_output(True)
    heavy.set_output(True)
    assert light.ocv - light.voltage == pytest.approx(0.5 * light.resistance)
    assert heavy.voltage < light.voltage - 1.5  # 10 A × 0.2 Ω
    _discharge(heavy, 10.0, step=5.0)
    assert heavy.delivered_ah < 0.97 * 2.5


def test_temperature_rises_with_current_and_cools_to_ambient() -> None:
    model = BatteryModel(BatteryParams(ambient_c=25.0))
    model.load_current = 8.0
    model.set_output(True)
    model.advance(300)
    hot = model.temperature_c
    assert hot > 35.0
    model.set_output(False)
    model.advance(3 * 3600)
    assert model.temperature_c == pytest.approx(25.0, abs=0.5)
    assert model.state is State.IDLE


def test_cutoff_relatches_when_switched_on_while_empty() -> None:
    model = BatteryModel(soc=0.02)
    model.load_current = 5.0
    model.set_output(True)
    assert model.state is State.CUTOFF
    model.load_current = 0.0
    model.set_output(True)  # no load: nothing to cut off
    assert model.state is State.IDLE and model.output_on


def test_charge_with_negative_current_tapers_and_ends() -> None:
    model = BatteryModel(soc=0.5)
    model.load_current = -2.5
    model.set_output(True)
    assert model.state is State.CHARGE and model.voltage > model.ocv
    model.advance(1800)
    assert model.soc > 0.8
    model.advance(4 * 3600)
    assert model.soc == pytest.approx(1.0, abs=0.01)
    assert model.voltage <= 4 * 4.2 + 1e-6
    assert model.state is State.IDLE and model.current == 0.0


def test_invalid_parameters_are_rejected() -> None:
    with pytest.raises(ValueError):
        BatteryParams(cells=0)
    with pytest.raises(ValueError):
        BatteryModel(soc=1.5)
    with pytest.raises(ValueError):
        BatteryModel().advance(-1)
