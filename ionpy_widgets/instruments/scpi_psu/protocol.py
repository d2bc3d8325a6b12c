"""SCPI power-supply protocol: command builders and reply parsers. No I/O here.

Everything that turns a value into SCPI text, or SCPI text into a value, lives in this module,
so the driver only sequences requests and the simulator can reuse the same parsers.

Facts (shared/reference/protocols.md §5): ``*IDN?`` answers four comma-separated fields
(manufacturer, model, serial, firmware), some instruments omit the serial and some prefix the
reply with ``IDN``; numbers come back in NR1/NR2/NR3 form (``+5.01234E+00``); ``SYST:ERR?``
answers ``<code>,"<text>"`` with ``0,"No error"`` (Keysight: ``+0,"No error"``) when the queue is
empty.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ...driver.reading import Identity
from ...errors import ProtocolError

#: Regulation modes, in the order used by the ``cv_cc_<n>`` enum entities.
MODES: tuple[str, ...] = ("CV", "CC", "UR")

_IDN_PREFIX = re.compile(r"^\s*\*?IDN\??[\s:,]+", re.IGNORECASE)
_ERROR_RE = re.compile(r'^\s*([+-]?\d+)\s*,\s*"?(.*?)"?\s*$', re.DOTALL)


# --- parsers ----------------------------------------------------------------------------------


def parse_idn(text: str) -> Identity:
    """Parse an IEEE 488.2 ``*IDN?`` reply.

    Four fields are standard; three (no serial number) are tolerated, as is an ``IDN`` prefix.
    Extra commas end up in the firmware field. Raises :class:`ProtocolError` on anything else.
    """
    body = _IDN_PREFIX.sub("", text.strip())
    fields = [f.strip() for f in body.split(",")]
    if len(fields) >= 4:
        return Identity(fields[0], fields[1], fields[2], ",".join(fields[3:]))
    if len(fields) == 3:
        return Identity(fields[0], fields[1], "", fields[2])
    raise ProtocolError(
        f"*IDN? reply {text.strip()!r} is not an IEEE 488.2 identification",
        hint="The instrument may not speak SCPI (Korad/Tenma answer a single string); "
             "pick the matching driver or check the transport.",
        reply=text,
    )


def parse_number(text: str) -> float:
    """Parse an NR1/NR2/NR3 number such as ``5``, ``5.000`` or ``+5.01234E+00``.

    SCPI's "not a number" marker 9.91E37 becomes ``nan``. Raises :class:`ProtocolError` otherwise.
    """
    cleaned = text.strip().rstrip(";").strip()
    for unit in ("V", "A", "W"):  # a few firmwares append a unit letter
        if cleaned.upper().endswith(unit) and len(cleaned) > 1 and cleaned[-2].isdigit():
            cleaned = cleaned[:-1]
            break
    try:
        value = float(cleaned)
    except ValueError:
        raise ProtocolError(f"expected a number, got {text.strip()!r}",
                            hint="The instrument answered something else; check the command set "
                                 "(option 'dialect') and that no earlier reply is left over.",
                            reply=text) from None
    if math.isclose(value, 9.91e37, rel_tol=1e-6):
        return math.nan
    return value


def parse_bool(text: str) -> bool:
    """Parse ``ON``/``OFF``, ``1``/``0`` or ``YES``/``NO`` (Rigol says ON/OFF and YES/NO for trips,
    Keysight 1/0)."""
    word = text.strip().upper()
    if word in ("ON", "1", "+1", "YES"):
        return True
    if word in ("OFF", "0", "+0", "NO"):
        return False
    raise ProtocolError(f"expected ON/OFF or 1/0, got {text.strip()!r}", reply=text,
                        hint="Check the command set (option 'dialect').")


def parse_error(text: str) -> tuple[int, str]:
    """Parse a ``SYST:ERR?`` reply into ``(code, text)``; code 0 means the queue is empty."""
    match = _ERROR_RE.match(text)
    if match is None:
        raise ProtocolError(f"SYST:ERR? reply {text.strip()!r} is not '<code>,\"<text>\"'", reply=text,
                            hint="The instrument may not support SYST:ERR?; pick the right dialect.")
    return int(match.group(1)), match.group(2).strip()


def parse_mode_text(text: str) -> str:
    """Parse a regulation-mode word (``CV``, ``CC``, ``UR``, or a Keysight-style ``CC+``)."""
    word = text.strip().upper().rstrip("+-")
    if word in MODES:
        return word
    raise ProtocolError(f"unknown regulation mode {text.strip()!r}", reply=text,
                        hint="Expected CV, CC or UR.")


def parse_isum(text: str) -> str:
    """Keysight ``STAT:QUES:INST:ISUM<n>:COND?``: bit 0 = CV, bit 1 = CC; neither = unregulated."""
    bits = int(parse_number(text))
    if bits & 0b10:
        return "CC"
    if bits & 0b01:
        return "CV"
    return "UR"


def parse_status_word(text: str, channel: int) -> tuple[bool, str]:
    """Siglent ``SYST:STAT?`` hex word for ``channel`` (1 or 2): ``(output on, mode)``.

    Bit 0/1: CH1/CH2 0 = CV, 1 = CC; bit 4/5: CH1/CH2 output on.
    """
    try:
        word = int(text.strip(), 16)
    except ValueError:
        raise ProtocolError(f"SYST:STAT? reply {text.strip()!r} is not a hex word", reply=text) from None
    index = channel - 1
    return bool(word >> (4 + index) & 1), "CC" if word >> index & 1 else "CV"


# --- builders ---------------------------------------------------------------------------------


def format_number(value: float) -> str:
    """A set-command argument: fixed point, enough digits for 0.1 mA / 0.1 mV resolution."""
    return f"{value:.4f}"


def derive_mode(output: bool, current: float, current_set: float) -> str:
    """Regulation mode when the instrument cannot say: CC once the current reaches its limit."""
    if not output or current_set <= 0:
        return "CV"
    return "CC" if current >= current_set * 0.995 else "CV"


@dataclass(frozen=True, slots=True)
class Dialect:
    """One command set. Templates use ``{ch}`` (channel number), ``{value}`` and ``{state}``.

    ``None`` means the instrument has no such command; the driver then derives the value
    (power = U·I, mode from current vs. limit) or leaves the entity out.
    """

    name: str
    select: str | None = ":INST:NSEL {ch}"
    set_voltage: str = ":SOUR:VOLT {value}"
    set_current: str = ":SOUR:CURR {value}"
    get_voltage: str = ":SOUR:VOLT?"
    get_current: str = ":SOUR:CURR?"
    set_output: str = ":OUTP {state}"
    get_output: str = ":OUTP?"
    meas_voltage: str = ":MEAS:VOLT?"
    meas_current: str = ":MEAS:CURR?"
    meas_power: str | None = None
    #: Mode query and how to read it: ``text`` (CV/CC), ``isum`` (Keysight bits), ``status`` (Siglent word).
    mode: str | None = None
    mode_format: str = "text"
    #: Output state comes from the status word instead of ``get_output`` (Siglent).
    output_from_status: bool = False
    ovp_set: tuple[str, ...] = ()
    ovp_get: str | None = None
    ovp_tripped: str | None = None
    ocp_set: tuple[str, ...] = ()
    ocp_get: str | None = None
    ocp_tripped: str | None = None
    error: str = "SYST:ERR?"

    def cmd(self, template: str, channel: int, value: float | None = None, state: bool | None = None) -> bytes:
        """Fill a template and encode it (ASCII) as a request payload."""
        text = template.format(ch=channel, value="" if value is None else format_number(value),
                               state="" if state is None else ("ON" if state else "OFF"))
        return text.encode("ascii")

    @property
    def has_protection(self) -> bool:
        return bool(self.ovp_set or self.ocp_set or self.ovp_tripped or self.ocp_tripped)


RIGOL = Dialect(
    name="rigol", meas_power=":MEAS:POWE?", mode=":OUTP:MODE?",
    ovp_set=(":OUTP:OVP:VAL {value}", ":OUTP:OVP ON"), ovp_get=":OUTP:OVP:VAL?", ovp_tripped=":OUTP:OVP:QUES?",
    ocp_set=(":OUTP:OCP:VAL {value}", ":OUTP:OCP:STAT ON"), ocp_get=":OUTP:OCP:VAL?",
    ocp_tripped=":OUTP:OCP:QUES?",
)
KEYSIGHT = Dialect(
    name="keysight", mode=":STAT:QUES:INST:ISUM{ch}:COND?", mode_format="isum",
    ovp_set=(":SOUR:VOLT:PROT {value}",), ovp_get=":SOUR:VOLT:PROT?", ovp_tripped=":SOUR:VOLT:PROT:TRIP?",
    ocp_tripped=":SOUR:CURR:PROT:TRIP?",
)
KEYSIGHT_SINGLE = Dialect(
    name="keysight_single", select=None,
    ovp_set=(":SOUR:VOLT:PROT {value}",), ovp_get=":SOUR:VOLT:PROT?", ovp_tripped=":SOUR:VOLT:PROT:TRIP?",
)
SIGLENT = Dialect(
    name="siglent", select=None, set_voltage="CH{ch}:VOLT {value}", set_current="CH{ch}:CURR {value}",
    get_voltage="CH{ch}:VOLT?", get_current="CH{ch}:CURR?", set_output="OUTP CH{ch},{state}",
    get_output="SYST:STAT?", output_from_status=True, meas_voltage="MEAS:VOLT? CH{ch}",
    meas_current="MEAS:CURR? CH{ch}", meas_power="MEAS:POWE? CH{ch}", mode="SYST:STAT?", mode_format="status",
)
#: Plain SCPI-99 PSU subset: works on most instruments that accept ``INST:NSEL``.
GENERIC = Dialect(
    name="generic",
    ovp_set=(":SOUR:VOLT:PROT {value}",), ovp_get=":SOUR:VOLT:PROT?", ovp_tripped=":SOUR:VOLT:PROT:TRIP?",
)

DIALECTS: dict[str, Dialect] = {d.name: d for d in (RIGOL, KEYSIGHT, KEYSIGHT_SINGLE, SIGLENT, GENERIC)}


# --- instrument side: parsing received program messages -----------------------------------------

#: Mnemonics in SCPI notation (upper-case part = short form); extra aliases seen in the field.
_MNEMONICS = (
    "SOURce", "VOLTage", "CURRent", "OUTPut", "MEASure", "POWer", "INSTrument", "NSELect", "SELect", "SYSTem",
    "ERRor", "NEXT", "PROTection", "STATe", "LEVel", "IMMediate", "AMPLitude", "QUEStionable", "VALue", "MODE",
    "APPLy", "TRIPped", "CLEar", "VERSion", "STATus", "CONDition", "ISUMmary", "REMote", "LOCal", "DC",
    "SCALar", "ALL", "OVP", "OCP", "CH", "RWLock",
)
_ALIASES = {"POWE": "POW", "CHANNEL": "CH", "REMOTE": "REM", "LOCAL": "LOC"}
_CANON: dict[str, str] = {}
for _m in _MNEMONICS:
    _short = "".join(c for c in _m if c.isupper())
    _CANON[_short] = _short
    _CANON[_m.upper()] = _short
_CANON.update(_ALIASES)

_OPTIONAL_ANYWHERE = {"LEV", "IMM", "AMPL", "SCAL", "NEXT"}


@dataclass(frozen=True, slots=True)
class ProgramCommand:
    """One received command, canonicalised: ``path`` in short forms with optional nodes removed
    (``:SOURce:VOLTage:LEVel:IMMediate 5`` → ``("VOLT",)``), ``common`` for ``*IDN?``-style headers."""

    path: tuple[str, ...]
    query: bool
    args: tuple[str, ...]
    #: Numeric suffixes by node (``ISUM2`` → {"ISUM": 2}), and a ``CH<n>:`` prefix channel.
    suffix: tuple[tuple[str, int], ...] = ()
    prefix_channel: int | None = None
    common: str = ""

    @property
    def key(self) -> str:
        return (self.common or ":".join(self.path)) + ("?" if self.query else "")


class HeaderError(ValueError):
    """A header the instrument does not know (SCPI -113)."""


def split_message(text: str) -> list[str]:
    """Split a program message on ``;`` outside quoted strings."""
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == ";":
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def parse_program(text: str) -> ProgramCommand:
    """Canonicalise one command; raises :class:`HeaderError` for unknown mnemonics."""
    header, _, rest = text.strip().partition(" ")
    args = tuple(a.strip() for a in rest.split(",")) if rest.strip() else ()
    query = header.endswith("?")
    header = header.rstrip("?")
    if header.startswith("*"):
        return ProgramCommand((), query, args, common=header.upper())
    path: list[str] = []
    suffix: list[tuple[str, int]] = []
    prefix_channel = None
    for index, token in enumerate(header.lstrip(":").split(":")):
        match = re.fullmatch(r"([A-Za-z]+)(\d*)", token)
        if match is None or match.group(1).upper() not in _CANON:
            raise HeaderError(token)
        node = _CANON[match.group(1).upper()]
        if match.group(2):
            if node == "CH" and index == 0:
                prefix_channel = int(match.group(2))
                continue
            suffix.append((node, int(match.group(2))))
        path.append(node)
    return ProgramCommand(_strip_optional(path), query, args, tuple(suffix), prefix_channel)


def _strip_optional(path: list[str]) -> tuple[str, ...]:
    nodes = [n for n in path if n not in _OPTIONAL_ANYWHERE]
    if nodes[:1] == ["SOUR"]:
        nodes = nodes[1:]
    if nodes == ["MEAS"]:
        nodes = ["MEAS", "VOLT"]
    if len(nodes) > 1 and nodes[-1] == "DC":
        nodes = nodes[:-1]
    if len(nodes) > 1 and nodes[-1] == "STAT" and nodes[-2] in ("OUTP", "OVP", "OCP", "PROT"):
        nodes = nodes[:-1]
    if nodes[:2] == ["INST", "SEL"]:
        nodes = ["INST"]
    return tuple(nodes)
