"""The simulator's command table: canonical header → handler.

Keys are :attr:`ProgramCommand.key` values (short forms, optional nodes removed, ``?`` for
queries). Handlers get the simulator, the parsed command and a mutable argument list, return
the reply text (queries) or ``None`` and raise :class:`ScpiError` for SCPI errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...errors import ProtocolError
from .protocol import ProgramCommand, parse_number

if TYPE_CHECKING:
    from .sim import ChannelState, ScpiPsuSimulator

Handler = Callable[["ScpiPsuSimulator", ProgramCommand, list[str]], "str | None"]


class ScpiError(Exception):
    """A SCPI error to push on the queue (``code``, ``text``)."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code},{text}")
        self.code = code
        self.text = text


COMMANDS: dict[str, Handler] = {}


def command(*keys: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        for key in keys:
            COMMANDS[key] = func
        return func
    return register


# --- argument helpers -------------------------------------------------------------------------


def _number(args: list[str], low: float, high: float) -> float:
    if not args or not args[0]:
        raise ScpiError(-109, "Missing parameter")
    word = args.pop(0).upper()
    if word in ("MAX", "MAXIMUM"):
        return high
    if word in ("MIN", "MINIMUM", "DEF", "DEFAULT"):
        return low
    try:
        value = parse_number(word)
    except ProtocolError:
        raise ScpiError(-104, "Data type error") from None
    if not low - 1e-9 <= value <= high + 1e-9:
        raise ScpiError(-222, "Data out of range")
    return value


def _switch(args: list[str]) -> bool:
    if not args or not args[0]:
        raise ScpiError(-109, "Missing parameter")
    word = args.pop(0).upper()
    if word in ("ON", "1"):
        return True
    if word in ("OFF", "0"):
        return False
    raise ScpiError(-224, "Illegal parameter value")


def _state(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> tuple[int, ChannelState]:
    number = sim.resolve_channel(cmd, args)
    return number, sim.channels[number - 1]


def _bool_text(sim: ScpiPsuSimulator, value: bool, rigol: tuple[str, str] = ("ON", "OFF")) -> str:
    if sim.keysight_style:
        return "1" if value else "0"
    return rigol[0] if value else rigol[1]


# --- IEEE 488.2 common commands ---------------------------------------------------------------


@command("*IDN?")
def _idn(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> str:
    return sim.idn


@command("*RST")
def _rst(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> None:
    sim.reset()


@command("*CLS")
def _cls(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> None:
    sim.errors.clear()
    sim.esr = 0


@command("*OPC?", "*TST?")
def _opc(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> str:
    return "1" if cmd.common == "*OPC" else "0"


@command("*OPC", "*WAI", "*ESE", "*SRE", "SYST:REM", "SYST:LOC", "SYST:RWL")
def _accept(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> None:
    return None


@command("*ESR?")
def _esr(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> str:
    value, sim.esr = sim.esr, 0
    return str(value)


@command("*STB?")
def _stb(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> str:
    return str((4 if sim.errors else 0) | (32 if sim.esr else 0))


@command("SYST:ERR?")
def _error(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> str:
    code, text = sim.errors.popleft() if sim.errors else (0, "No error")
    sign = "+" if sim.keysight_style and code >= 0 else ""
    return f'{sign}{code},"{text}"'


@command("SYST:VERS?")
def _version(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> str:
    return "1999.0"


# --- channel selection ------------------------------------------------------------------------


@command("INST:NSEL")
def _nsel(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> None:
    sim.selected = int(_number(args, 1, len(sim.channels)))


@command("INST:NSEL?")
def _nsel_q(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> str:
    return str(sim.selected)


@command("INST")
def _inst(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> None:
    if not args:
        raise ScpiError(-109, "Missing parameter")
    match = re.fullmatch(r"(?i)(CH|OUTP(UT)?|CHAN(NEL)?)?(\d)", args[0])
    if match is None or not 1 <= int(match.group(4)) <= len(sim.channels):
        raise ScpiError(-224, "Illegal parameter value")
    sim.selected = int(match.group(4))


@command("INST?")
def _inst_q(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> str:
    return f"CH{sim.selected}"


# --- setpoints and output ---------------------------------------------------------------------


@command("VOLT", "CURR")
def _set_level(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> None:
    _, state = _state(sim, cmd, args)
    if cmd.path[0] == "VOLT":
        state.v_set = _number(args, 0.0, state.v_max)
    else:
        state.i_set = _number(args, 0.0, state.i_max)


@command("VOLT?", "CURR?")
def _get_level(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> str:
    _, state = _state(sim, cmd, args)
    return sim.fmt(state.v_set if cmd.path[0] == "VOLT" else state.i_set)


@command("APPL")
def _apply(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> None:
    _, state = _state(sim, cmd, args)
    volts = _number(args, 0.0, state.v_max)
    amps = _number(args, 0.0, state.i_max) if args else state.i_set
    state.v_set, state.i_set = volts, amps


@command("APPL?")
def _apply_q(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> str:
    number, state = _state(sim, cmd, args)
    return f"CH{number}:{state.v_max:g}V/{state.i_max:g}A,{sim.fmt(state.v_set)},{sim.fmt(state.i_set)}"


@command("OUTP")
def _output(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> None:
    _, state = _state(sim, cmd, args)
    wanted = _switch(args)
    if wanted and (state.ovp_tripped or state.ocp_tripped):
        raise ScpiError(-221, "Settings conflict; protection tripped, clear it first")
    state.output = wanted


@command("OUTP?")
def _output_q(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> str:
    _, state = _state(sim, cmd, args)
    return _bool_text(sim, state.output)


@command("OUTP:MODE?")
def _mode(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> str:
    number, _ = _state(sim, cmd, args)
    return sim.measure(number)[2]


@command("STAT:QUES:INST:ISUM:COND?")
def _isum(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> str:
    number = dict(cmd.suffix).get("ISUM", sim.selected)
    if not 1 <= number <= len(sim.channels):
        raise ScpiError(-114, "Header suffix out of range")
    state = sim.channels[number - 1]
    if not state.output:
        return "0"
    return "2" if sim.measure(number)[2] == "CC" else "1"


@command("SYST:STAT?")
def _status_word(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> str:
    word = 0
    for index, state in enumerate(sim.channels[:2]):
        if sim.measure(index + 1)[2] == "CC" and state.output:
            word |= 1 << index
        if state.output:
            word |= 1 << (4 + index)
    return f"0x{word:04X}"


# --- measurements -----------------------------------------------------------------------------


@command("MEAS:VOLT?", "MEAS:CURR?", "MEAS:POW?", "MEAS:ALL?")
def _measure(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> str:
    number, _ = _state(sim, cmd, args)
    volts, amps, _mode = sim.measure(number)
    volts, amps = sim.noisy(volts), sim.noisy(amps)
    values = {"VOLT": [volts], "CURR": [amps], "POW": [volts * amps], "ALL": [volts, amps, volts * amps]}
    return ",".join(sim.fmt(v) for v in values[cmd.path[1]])


# --- protection (Rigol OUTP:OVP/OCP, Keysight VOLT:PROT / CURR:PROT) ---------------------------


def _kind(cmd: ProgramCommand) -> str:
    return "OVP" if "OVP" in cmd.path or cmd.path[0] == "VOLT" else "OCP"


@command("OUTP:OVP:VAL", "OUTP:OCP:VAL", "VOLT:PROT")
def _prot_level(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> None:
    _, state = _state(sim, cmd, args)
    if _kind(cmd) == "OVP":
        state.ovp_level = _number(args, 0.01, state.v_max * 1.1)
        if cmd.path[0] == "VOLT":  # Keysight OVP is always armed
            state.ovp_on = True
    else:
        state.ocp_level = _number(args, 0.001, state.i_max * 1.1)


@command("OUTP:OVP:VAL?", "OUTP:OCP:VAL?", "VOLT:PROT?")
def _prot_level_q(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> str:
    _, state = _state(sim, cmd, args)
    return sim.fmt(state.ovp_level if _kind(cmd) == "OVP" else state.ocp_level)


@command("OUTP:OVP", "OUTP:OCP", "CURR:PROT")
def _prot_switch(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> None:
    _, state = _state(sim, cmd, args)
    on = _switch(args)
    if _kind(cmd) == "OVP":
        state.ovp_on = on
    else:
        state.ocp_on = on
        state.ocp_at_limit = on and cmd.path[0] == "CURR"


@command("OUTP:OVP?", "OUTP:OCP?", "CURR:PROT?")
def _prot_switch_q(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> str:
    _, state = _state(sim, cmd, args)
    return _bool_text(sim, state.ovp_on if _kind(cmd) == "OVP" else state.ocp_on)


@command("OUTP:OVP:QUES?", "OUTP:OCP:QUES?", "VOLT:PROT:TRIP?", "CURR:PROT:TRIP?")
def _prot_tripped(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> str:
    number, state = _state(sim, cmd, args)
    sim.measure(number)
    tripped = state.ovp_tripped if _kind(cmd) == "OVP" else state.ocp_tripped
    return _bool_text(sim, tripped, ("YES", "NO"))


@command("OUTP:OVP:CLE", "OUTP:OCP:CLE", "VOLT:PROT:CLE", "CURR:PROT:CLE", "OUTP:PROT:CLE")
def _prot_clear(sim: ScpiPsuSimulator, cmd: ProgramCommand, args: list[str]) -> None:
    _, state = _state(sim, cmd, args)
    if cmd.path[1] == "PROT" and cmd.path[0] == "OUTP":
        state.ovp_tripped = state.ocp_tripped = False
    elif _kind(cmd) == "OVP":
        state.ovp_tripped = False
    else:
        state.ocp_tripped = False
