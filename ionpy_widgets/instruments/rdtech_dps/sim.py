"""A behaving RD Tech DPS/DPH simulator that speaks Modbus RTU bytes.

The power stage feeds a resistive load (``load_ohms``; None = open circuit, 0 = short):

* output off → UOUT = IOUT = 0;
* output on → CV at U-SET while U-SET/R <= I-SET, otherwise CC at I-SET with UOUT = I-SET·R;
  UOUT never exceeds ``dropout_ratio`` · UIN (the buck converter needs head-room);
* POWER = UOUT·IOUT; optional relative Gaussian noise from a seeded RNG;
* a measurement above S-OVP / S-OCP / S-OPP of memory group M0 sets PROTECT (1/2/3) and switches
  the output off; switching it on again clears PROTECT.

Registers follow shared/reference/protocols.md §1.2-§1.3: U-SET, I-SET and B_LED mirror M0;
memory groups M0..M9 (0x0050 + 0x10·n) read and write; EXTRACT_M (0x0023) loads group n into M0.
FC03/FC06/FC10 are served; other functions → exception 01, unmapped or read-only addresses → 02,
values out of the model's range → 03. Frames for other slave ids are ignored; broadcast (0)
writes are applied without a reply.
"""

from __future__ import annotations

import random
import struct
import time
from collections.abc import Callable

from ...framing.base import Framer
from ...framing.modbus_rtu import ModbusRtuFramer
from ..simhost import Simulator
from .models import DpsModel, model_by_name
from .protocol import (
    FC_READ_HOLDING,
    FC_WRITE_MULTIPLE,
    FC_WRITE_SINGLE,
    MAX_READ,
    MAX_WRITE,
    MEMORY_BASE,
    MEMORY_GROUPS,
    MEMORY_STRIDE,
    MemOffset,
    Reg,
)

_MEM_END = MEMORY_BASE + MEMORY_GROUPS * MEMORY_STRIDE
_MIRRORS = {Reg.U_SET: MemOffset.U_SET, Reg.I_SET: MemOffset.I_SET, Reg.B_LED: MemOffset.B_LED}
_READ_ONLY = {Reg.U_OUT, Reg.I_OUT, Reg.POWER, Reg.U_IN, Reg.PROTECT, Reg.CV_CC, Reg.MODEL, Reg.VERSION}


class _ModbusException(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class DpsSimulator(Simulator):
    """Simulated DPS/DPH power supply (``model`` is a name such as ``"DPS5015"`` or a DpsModel)."""

    def __init__(self, model: str | DpsModel = "DPS5005", *, slave_id: int = 1, load_ohms: float | None = 10.0,
                 u_in: float = 24.0, firmware: int = 16, noise: float = 0.0, seed: int = 0,
                 baudrate: int = 9600, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock=clock)
        self.model = model_by_name(model) if isinstance(model, str) else model
        self.slave_id = slave_id
        #: Load resistance in ohms; None = nothing connected, 0 = short circuit. Settable at any time.
        self.load_ohms = load_ohms
        #: Input (supply) voltage in volts. Settable.
        self.u_in = u_in
        self.firmware = firmware
        #: Relative standard deviation of measurement noise (0 = exact values).
        self.noise = noise
        self.rng = random.Random(seed)
        self.baudrate = baudrate
        #: Highest output voltage as a fraction of UIN.
        self.dropout_ratio = 0.9
        self.lock = False
        self.output = False
        self.protect = 0
        #: Fault injection: answer the next addressed request with this Modbus exception code.
        self.next_exception: int | None = None
        self.extract = 0
        self._mem = [0] * (MEMORY_GROUPS * MEMORY_STRIDE)
        m = self.model
        for group in range(MEMORY_GROUPS):
            base = group * MEMORY_STRIDE
            self._mem[base:base + 8] = [round(5 * 10**m.v_decimals), round(1 * 10**m.i_decimals),
                                        m.raw_limit_v(), m.raw_limit_i(), m.raw_limit_p(), 4, group, 0]
        self._meas = (0, 0, 0, 0)  # raw UOUT, IOUT, POWER, CV/CC

    # --- engineering views (for tests and notebooks) ----------------------------------------
    @property
    def u_set(self) -> float:
        return self._mem[MemOffset.U_SET] / 10**self.model.v_decimals

    @property
    def i_set(self) -> float:
        return self._mem[MemOffset.I_SET] / 10**self.model.i_decimals

    @property
    def u_out(self) -> float:
        self._update()
        return self._meas[0] / 10**self.model.v_decimals

    @property
    def i_out(self) -> float:
        self._update()
        return self._meas[1] / 10**self.model.i_decimals

    @property
    def mode(self) -> str:
        """``"CV"`` or ``"CC"``."""
        self._update()
        return "CC" if self._meas[3] else "CV"

    # --- physics ----------------------------------------------------------------------------
    def _physics(self) -> tuple[float, float, int]:
        if not self.output:
            return 0.0, 0.0, 0
        v_limit = min(self.u_set, self.dropout_ratio * self.u_in)
        i_set, load = self.i_set, self.load_ohms
        if load is None:
            return v_limit, 0.0, 0
        if load <= 0:
            return 0.0, i_set, 1
        if v_limit / load <= i_set:
            return v_limit, v_limit / load, 0
        return i_set * load, i_set, 1

    def _jitter(self, value: float) -> float:
        if self.noise <= 0 or value == 0:
            return value
        return max(0.0, value * (1.0 + self.rng.gauss(0.0, self.noise)))

    def _update(self) -> None:
        """Recompute the measurements and apply the protections of memory group M0."""
        m = self.model
        u, i, cc = self._physics()
        u, i = self._jitter(u), self._jitter(i)
        p = u * i
        if self.output:
            ovp = self._mem[MemOffset.S_OVP] / 10**m.v_decimals
            ocp = self._mem[MemOffset.S_OCP] / 10**m.i_decimals
            opp = self._mem[MemOffset.S_OPP] / 10**m.opp_decimals
            trip = 1 if u > ovp else 2 if i > ocp else 3 if p > opp else 0
            if trip:
                self.protect, self.output = trip, False
                u = i = p = 0.0
                cc = 0
        self._meas = (_u16(u * 10**m.v_decimals), _u16(i * 10**m.i_decimals), _u16(p * 10**m.p_decimals), cc)

    # --- registers --------------------------------------------------------------------------
    def read_register(self, address: int) -> int:
        """Raw value of one holding register (raises for unmapped addresses)."""
        if address in _MIRRORS:
            return self._mem[_MIRRORS[Reg(address)]]
        if MEMORY_BASE <= address < _MEM_END:
            return self._mem[address - MEMORY_BASE]
        live = {Reg.U_OUT: self._meas[0], Reg.I_OUT: self._meas[1], Reg.POWER: self._meas[2],
                Reg.U_IN: _u16(self.u_in * 10**self.model.uin_decimals), Reg.LOCK: int(self.lock),
                Reg.PROTECT: self.protect, Reg.CV_CC: self._meas[3], Reg.ONOFF: int(self.output),
                Reg.MODEL: self.model.model_id, Reg.VERSION: self.firmware, Reg.EXTRACT_M: self.extract}
        if address not in live:
            raise _ModbusException(0x02)
        return live[Reg(address)]

    def _limit(self, address: int) -> int:
        """Largest value a writable register accepts; raises 02 for read-only/unmapped ones."""
        if address in _READ_ONLY:
            raise _ModbusException(0x02)
        if address in _MIRRORS:
            return self._limit(MEMORY_BASE + _MIRRORS[Reg(address)])
        if address in (Reg.LOCK, Reg.ONOFF):
            return 1
        if address == Reg.EXTRACT_M:
            return MEMORY_GROUPS - 1
        if not MEMORY_BASE <= address < _MEM_END:
            raise _ModbusException(0x02)
        m = self.model
        limits = {MemOffset.U_SET: m.raw_limit_v(), MemOffset.I_SET: m.raw_limit_i(),
                  MemOffset.S_OVP: m.raw_limit_v(), MemOffset.S_OCP: m.raw_limit_i(),
                  MemOffset.S_OPP: m.raw_limit_p(), MemOffset.B_LED: 5, MemOffset.M_PRE: MEMORY_GROUPS - 1,
                  MemOffset.S_INI: 1}
        return limits.get((address - MEMORY_BASE) % MEMORY_STRIDE, 0xFFFF)

    def _check_write(self, address: int, value: int) -> None:
        if value > self._limit(address):
            raise _ModbusException(0x03)

    def _store(self, address: int, value: int) -> None:
        if address in _MIRRORS:
            self._mem[_MIRRORS[Reg(address)]] = value
        elif address == Reg.LOCK:
            self.lock = bool(value)
        elif address == Reg.ONOFF:
            if value:
                self.protect = 0
            self.output = bool(value)
        elif address == Reg.EXTRACT_M:
            self.extract = value
            base = value * MEMORY_STRIDE
            self._mem[0:MEMORY_STRIDE] = self._mem[base:base + MEMORY_STRIDE]
        else:
            self._mem[address - MEMORY_BASE] = value

    # --- requests ---------------------------------------------------------------------------
    def make_framer(self) -> Framer:
        return ModbusRtuFramer(role="slave", baudrate=self.baudrate, bits_per_char=self.bits_per_char)

    def handle(self, payload: bytes, now: float) -> bytes | None:
        if len(payload) < 2:
            return None
        slave, function = payload[0], payload[1]
        broadcast = slave == 0
        if slave != self.slave_id and not broadcast:
            return None
        if broadcast and function == FC_READ_HOLDING:
            return None
        self._update()
        try:
            if self.next_exception is not None and not broadcast:
                code, self.next_exception = self.next_exception, None
                raise _ModbusException(code)
            reply = self._dispatch(function, payload[2:])
        except _ModbusException as exc:
            reply = bytes([function | 0x80, exc.code])
        self._update()
        return None if broadcast else bytes([slave]) + reply

    def _dispatch(self, function: int, data: bytes) -> bytes:
        if function == FC_READ_HOLDING:
            if len(data) != 4:
                raise _ModbusException(0x03)
            start, count = struct.unpack(">HH", data)
            if not 1 <= count <= MAX_READ:
                raise _ModbusException(0x03)
            values = [self.read_register(a) for a in range(start, start + count)]
            return struct.pack(f">BB{count}H", function, 2 * count, *values)
        if function == FC_WRITE_SINGLE:
            if len(data) != 4:
                raise _ModbusException(0x03)
            address, value = struct.unpack(">HH", data)
            self._check_write(address, value)
            self._store(address, value)
            return bytes([function]) + data
        if function == FC_WRITE_MULTIPLE:
            if len(data) < 5:
                raise _ModbusException(0x03)
            start, count, nbytes = struct.unpack(">HHB", data[:5])
            if not 1 <= count <= MAX_WRITE or nbytes != 2 * count or len(data) != 5 + nbytes:
                raise _ModbusException(0x03)
            values = struct.unpack(f">{count}H", data[5:])
            for offset, value in enumerate(values):  # validate everything before changing anything
                self._check_write(start + offset, value)
            for offset, value in enumerate(values):
                self._store(start + offset, value)
            return struct.pack(">BHH", function, start, count)
        raise _ModbusException(0x01)


def _u16(value: float) -> int:
    return min(0xFFFF, max(0, round(value)))


__all__ = ["DpsSimulator"]
