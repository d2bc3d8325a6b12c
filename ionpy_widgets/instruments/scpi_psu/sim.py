"""A behaving multi-channel SCPI power supply that speaks newline-terminated SCPI.

Per channel it keeps setpoints, output state, OVP/OCP levels and trips, and drives a resistive
load (``load_ohms``): the output regulates CV until the load wants more than the current limit,
then CC. Protection trips switch the channel off until cleared. It accepts short and long forms
in any case (``:SOURce:VOLTage``, ``volt``), several commands per line (``VOLT 5;CURR 1``), the
Rigol (``:INST:NSEL``, ``:OUTP CH1,ON``, ``:MEAS:VOLT? CH1``), Keysight (``(@1)``, ``VOLT:PROT``,
``STAT:QUES:INST:ISUM1:COND?``) and Siglent (``CH1:VOLT``, ``SYST:STAT?``) spellings, and keeps a
SCPI error queue (``-113,"Undefined header"``, ``-222,"Data out of range"``, ...).

Behaviour and fault controls (plain attributes): ``load_ohms`` (list, ``None`` = open circuit,
0 = short), ``noise`` (relative measurement noise), ``mute`` (stay silent), ``push_error()``,
``force_trip()``; ``channels`` exposes each output's state and ``history`` the received commands.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ...framing.base import Framer
from ..simhost import Simulator
from .models import ModelSpec, model_by_name
from .protocol import HeaderError, ProgramCommand, parse_program, split_message
from .sim_commands import COMMANDS, ScpiError

_QUEUE_DEPTH = 20


@dataclass(slots=True)
class ChannelState:
    """One output as the simulator sees it."""

    v_max: float
    i_max: float
    v_set: float = 0.0
    i_set: float = 0.0
    output: bool = False
    ovp_level: float = 0.0
    ovp_on: bool = False
    ocp_level: float = 0.0
    ocp_on: bool = False
    #: Keysight-style OCP: trips as soon as the output goes into CC.
    ocp_at_limit: bool = False
    ovp_tripped: bool = False
    ocp_tripped: bool = False

    def reset(self) -> None:
        self.v_set, self.i_set, self.output = 0.0, self.i_max, False
        self.ovp_level, self.ovp_on = self.v_max * 1.1, False
        self.ocp_level, self.ocp_on, self.ocp_at_limit = self.i_max * 1.1, False, False
        self.ovp_tripped = self.ocp_tripped = False


class ScpiPsuSimulator(Simulator):
    """Behaving multi-channel SCPI power supply (CV/CC into a resistive load, OVP/OCP, error queue).

    ``model`` is a name from :mod:`.models` (``"DP832"``, ``"DP821A"``, ``"E36312A"``, ``"E36313A"``,
    ``"E36103B"``, ``"SPD3303X"``, ``"SCPI PSU"``) or a :class:`ModelSpec`; ``load_ohms`` one
    resistance for every channel or a per-channel list (default 10 Ω each; ``None`` = open).
    """

    def __init__(self, model: str | ModelSpec = "DP832", *,
                 load_ohms: float | Sequence[float | None] | None = None,
                 noise: float = 0.0, seed: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock=clock)
        self.model = model_by_name(model) if isinstance(model, str) else model
        count = self.model.channel_count
        self.channels = [ChannelState(c.v_max, c.i_max) for c in self.model.channels]
        for ch in self.channels:
            ch.reset()
        if load_ohms is None or isinstance(load_ohms, int | float):
            load_ohms = [10.0 if load_ohms is None else float(load_ohms)] * count
        self.load_ohms: list[float | None] = list(load_ohms)
        if len(self.load_ohms) != count:
            raise ValueError(f"load_ohms needs {count} entries for {self.model.model}")
        self.noise = noise
        self._rng = random.Random(seed)
        self.selected = 1
        self.errors: deque[tuple[int, str]] = deque()
        self.esr = 0
        self.history: deque[str] = deque(maxlen=1000)
        self.idn = self.model.idn()
        self.keysight_style = self.model.dialect.startswith("keysight")

    # --- Simulator API ----------------------------------------------------------------------
    def make_framer(self) -> Framer:
        from ...framing.delimiter import DelimiterFramer

        return DelimiterFramer(b"\n", strip=b"\r")

    def handle(self, payload: bytes, now: float) -> bytes | None:
        text = payload.decode("ascii", errors="replace")
        replies = []
        for part in split_message(text):
            self.history.append(part)
            reply = self._execute(part)
            if reply is not None:
                replies.append(reply)
        return ";".join(replies).encode("ascii") if replies else None

    # --- fault / behaviour controls ---------------------------------------------------------
    def push_error(self, code: int, text: str) -> None:
        """Queue an instrument error (what ``SYST:ERR?`` reports next); sets the matching ESR bit."""
        if len(self.errors) >= _QUEUE_DEPTH:
            self.errors[-1] = (-350, "Queue overflow")
            return
        self.errors.append((code, text))
        if -199 <= code <= -100:
            self.esr |= 32
        elif -299 <= code <= -200:
            self.esr |= 16
        elif -499 <= code <= -400:
            self.esr |= 4
        elif code:
            self.esr |= 8

    def force_trip(self, channel: int, kind: str = "OVP") -> None:
        """Trip a channel's protection as if the hardware had (``kind`` = ``OVP`` or ``OCP``)."""
        state = self.channels[channel - 1]
        if kind.upper() == "OVP":
            state.ovp_tripped = True
        else:
            state.ocp_tripped = True
        state.output = False

    def reset(self) -> None:
        """``*RST``: outputs off, 0 V, current limit at the rating, protections off; errors kept."""
        for ch in self.channels:
            ch.reset()
        self.selected = 1

    # --- physics ----------------------------------------------------------------------------
    def measure(self, channel: int) -> tuple[float, float, str]:
        """``(volts, amps, mode)`` at the terminals of ``channel`` right now (protections applied)."""
        self._check_protection(channel)
        return self._solve(channel)

    def _solve(self, channel: int) -> tuple[float, float, str]:
        state = self.channels[channel - 1]
        if not state.output:
            return 0.0, 0.0, "CV"
        load = self.load_ohms[channel - 1]
        if load is None or math.isinf(load):
            return state.v_set, 0.0, "CV"
        if load <= 0:
            return 0.0, state.i_set, "CC"
        wanted = state.v_set / load
        if wanted <= state.i_set:
            return state.v_set, wanted, "CV"
        return state.i_set * load, state.i_set, "CC"

    def _check_protection(self, channel: int) -> None:
        state = self.channels[channel - 1]
        volts, amps, mode = self._solve(channel)
        if not state.output:
            return
        if state.ovp_on and volts > state.ovp_level + 1e-9:
            state.ovp_tripped, state.output = True, False
        elif state.ocp_on and (amps > state.ocp_level + 1e-9 or (state.ocp_at_limit and mode == "CC")):
            state.ocp_tripped, state.output = True, False

    def noisy(self, value: float) -> float:
        if not self.noise or not value:
            return value
        return value * (1.0 + self._rng.gauss(0.0, self.noise))

    def fmt(self, value: float) -> str:
        return f"{value:+.5E}" if self.keysight_style else f"{value:.4f}"

    # --- command execution ------------------------------------------------------------------
    def _execute(self, text: str) -> str | None:
        try:
            cmd = parse_program(text)
        except HeaderError:
            self.push_error(-113, "Undefined header")
            return None
        handler = COMMANDS.get(cmd.key)
        if handler is None:
            self.push_error(-113, "Undefined header")
            return None
        try:
            reply = handler(self, cmd, list(cmd.args))
        except ScpiError as exc:
            self.push_error(exc.code, exc.text)
            return None
        for number in range(1, len(self.channels) + 1):
            self._check_protection(number)
        return reply

    def resolve_channel(self, cmd: ProgramCommand, args: list[str]) -> int:
        """The channel a command addresses: a leading ``CH<n>``/``OUTP<n>`` argument, a trailing
        ``(@n)`` list, a ``CH<n>:`` header prefix, or the selected channel. Pops what it used."""
        number = None
        if args and re.fullmatch(r"(?i)(CH|OUTP(UT)?|CHAN(NEL)?)\d", args[0]):
            number = int(args.pop(0)[-1])
        elif args and re.fullmatch(r"\(@\d\)", args[-1].replace(" ", "")):
            number = int(args.pop().strip()[-2])
        elif cmd.prefix_channel is not None:
            number = cmd.prefix_channel
        if number is None:
            return self.selected
        if not 1 <= number <= len(self.channels):
            raise ScpiError(-224, "Illegal parameter value")
        return number
