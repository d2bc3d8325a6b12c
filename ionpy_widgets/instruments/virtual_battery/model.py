"""A believable Li-ion pack: NMC open-circuit curve, I·R sag, coulomb counting, heating, cutoff.

The pack is ``cells`` identical NMC cells in series. Per cell:

* open-circuit voltage from a piecewise-linear table of a typical NMC 18650 cell at rest
  (4.20 V full, a long gentle slope through the middle, the knee below ~10 % and 3.00 V empty);
* internal resistance ``r_cell`` (≈ 50 mΩ), rising towards empty and in the cold; the terminal
  voltage is ``OCV − I·R`` (current positive when discharging, negative when charging);
* charge by coulomb counting; a charge is tapered so the terminal voltage never exceeds
  4.20 V/cell (the constant-voltage phase of CC/CV charging) and ends below C/50;
* a lumped thermal model: ``C·dT/dt = I²R − (T − T_ambient)/R_th``;
* an under-voltage cutoff: when the loaded terminal voltage falls below ``cutoff_v_cell`` the
  protection opens the output (state ``cutoff``) until the output is switched on again.

Time only enters through :meth:`BatteryModel.advance`, so tests run hours of discharge in
milliseconds and the driver can run it faster than real time.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from enum import IntEnum

#: Typical NMC cell at rest, low rate, 25 °C: (state of charge, open-circuit volts).
NMC_OCV: tuple[tuple[float, float], ...] = (
    (0.00, 3.00), (0.02, 3.30), (0.05, 3.45), (0.10, 3.55), (0.15, 3.60), (0.20, 3.63),
    (0.30, 3.68), (0.40, 3.73), (0.50, 3.79), (0.60, 3.86), (0.70, 3.93), (0.80, 4.00),
    (0.90, 4.08), (0.95, 4.13), (1.00, 4.20),
)
_SOC = [s for s, _ in NMC_OCV]
_OCV = [v for _, v in NMC_OCV]

#: Longest integration step in model seconds (keeps cutoff and temperature accurate).
MAX_STEP = 2.0


class State(IntEnum):
    IDLE = 0
    DISCHARGE = 1
    CHARGE = 2
    CUTOFF = 3


def ocv_cell(soc: float) -> float:
    """Open-circuit voltage of one cell at ``soc`` (0…1), linear between table points."""
    soc = min(1.0, max(0.0, soc))
    i = bisect.bisect_right(_SOC, soc)
    if i >= len(_SOC):
        return _OCV[-1]
    s0, s1, v0, v1 = _SOC[i - 1], _SOC[i], _OCV[i - 1], _OCV[i]
    return v0 + (v1 - v0) * (soc - s0) / (s1 - s0)


@dataclass(frozen=True, slots=True)
class BatteryParams:
    cells: int = 4
    capacity_ah: float = 2.5
    r_cell: float = 0.050
    ambient_c: float = 25.0
    #: Heat capacity of one cell (J/K): ~45 g at ~1 J/(g·K).
    heat_capacity: float = 45.0
    #: Thermal resistance cell → ambient (K/W) for still air.
    thermal_resistance: float = 12.0
    cutoff_v_cell: float = 3.0
    charge_v_cell: float = 4.2

    def __post_init__(self) -> None:
        if self.cells < 1:
            raise ValueError("cells must be at least 1")
        if self.capacity_ah <= 0 or self.r_cell <= 0 or self.heat_capacity <= 0 or self.thermal_resistance <= 0:
            raise ValueError("capacity, resistance and thermal constants must be positive")


class BatteryModel:
    """The pack's state and physics. Set :attr:`load_current` (A, + discharge, − charge) and
    :meth:`set_output`, then :meth:`advance` by model seconds and read the properties."""

    def __init__(self, params: BatteryParams | None = None, *, soc: float = 1.0,
                 temperature_c: float | None = None) -> None:
        self.params = params or BatteryParams()
        if not 0.0 <= soc <= 1.0:
            raise ValueError("soc must be within 0…1")
        self.charge_ah = soc * self.params.capacity_ah
        self.temperature_c = self.params.ambient_c if temperature_c is None else temperature_c
        self.load_current = 0.0
        self.output_on = False
        self.cut_off = False
        #: Totals since construction (discharge positive): ampere-hours and watt-hours.
        self.delivered_ah = 0.0
        self.delivered_wh = 0.0
        self.elapsed_s = 0.0

    # --- controls ---------------------------------------------------------------------------
    def set_output(self, on: bool) -> None:
        """Close or open the output; closing clears a cutoff (it re-trips if the pack is still low)."""
        self.output_on = bool(on)
        if on:
            self.cut_off = False
            self._check_cutoff()

    # --- observables ------------------------------------------------------------------------
    @property
    def soc(self) -> float:
        return self.charge_ah / self.params.capacity_ah

    @property
    def ocv(self) -> float:
        return ocv_cell(self.soc) * self.params.cells

    @property
    def resistance(self) -> float:
        """Pack resistance now: higher near empty and in the cold."""
        p = self.params
        low_soc = 1.0 + max(0.0, 0.15 - self.soc) / 0.15
        cold = max(0.5, 1.0 + 0.01 * (25.0 - self.temperature_c))
        return p.r_cell * p.cells * low_soc * cold

    @property
    def current(self) -> float:
        """The current actually flowing (A): 0 when open or cut off, tapered when charging."""
        if not self.output_on or self.cut_off:
            return 0.0
        wanted = self.load_current
        if wanted < 0:
            headroom = (self.params.charge_v_cell * self.params.cells - self.ocv) / self.resistance
            amps = min(-wanted, max(0.0, headroom))
            # charge terminates once the constant-voltage taper falls below C/50
            return -amps if amps >= self.params.capacity_ah / 50.0 else 0.0
        if self.charge_ah <= 0:
            return 0.0
        return wanted

    @property
    def voltage(self) -> float:
        """Terminal voltage (V): OCV minus the I·R sag (plus the rise when charging)."""
        return self.ocv - self.current * self.resistance

    @property
    def power(self) -> float:
        """Power delivered to the load (W); negative while charging."""
        return self.voltage * self.current

    @property
    def state(self) -> State:
        if self.cut_off:
            return State.CUTOFF
        amps = self.current
        if amps > 1e-9:
            return State.DISCHARGE
        if amps < -1e-9:
            return State.CHARGE
        return State.IDLE

    # --- time -------------------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Integrate ``seconds`` of model time (in steps of at most :data:`MAX_STEP`)."""
        if seconds < 0:
            raise ValueError("time does not run backwards")
        remaining = seconds
        while remaining > 1e-12:
            dt = min(MAX_STEP, remaining)
            self._step(dt)
            remaining -= dt

    def _step(self, dt: float) -> None:
        p = self.params
        amps, volts, ohms = self.current, self.voltage, self.resistance
        self.charge_ah = min(p.capacity_ah, max(0.0, self.charge_ah - amps * dt / 3600.0))
        self.delivered_ah += amps * dt / 3600.0
        self.delivered_wh += volts * amps * dt / 3600.0
        heat_w = amps * amps * ohms / p.cells  # per cell
        cooling_w = (self.temperature_c - p.ambient_c) / p.thermal_resistance
        self.temperature_c += (heat_w - cooling_w) * dt / p.heat_capacity
        self.elapsed_s += dt
        self._check_cutoff()

    def _check_cutoff(self) -> None:
        if not self.output_on or self.cut_off or self.load_current <= 0:
            return
        if self.charge_ah <= 0 or self.voltage < self.params.cutoff_v_cell * self.params.cells:
            self.cut_off = True
            self.output_on = False


__all__ = ["MAX_STEP", "NMC_OCV", "BatteryModel", "BatteryParams", "State", "ocv_cell"]
