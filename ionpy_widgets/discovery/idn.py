"""Parsing ``*IDN?`` replies into an :class:`~ionpy_widgets.driver.reading.Identity`.

SCPI instruments answer with four comma-separated fields: manufacturer, model, serial, firmware
(IEEE 488.2). Like sigrok's ``sr_scpi_get_hw_id`` this parser also accepts three fields (the
serial is missing on some GW Instek meters) and strips an ``IDN `` prefix. Korad-protocol power
supplies (Korad, Tenma, RND, Velleman, Stamos) answer with one string without commas, e.g.
``KORAD KD3005P V2.0``, ``TENMA 72-2540 V5.2 SN:12345678`` or ``VELLEMANPS3005DV1.3``, sometimes
followed by a junk byte (0x01 or 0xBC); those are split into manufacturer, model, firmware and
serial on a best-effort basis (protocols.md §4.2, §5.2).
"""

from __future__ import annotations

import re

from ..driver.reading import Identity

#: Manufacturer names that Korad-family supplies glue to the model (``VELLEMANPS3005DV1.3``).
KORAD_VENDORS = ("KORAD", "TENMA", "VELLEMAN", "RND", "STAMOS")

_VERSION = re.compile(r"V\d+(?:\.\d+)*$", re.IGNORECASE)
_SERIAL = re.compile(r"\bSN:\s*(\S+)", re.IGNORECASE)


def clean_reply(text: str | bytes) -> str:
    """Decode (latin-1 for bytes) and drop control characters and non-ASCII junk at the ends."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("latin-1")
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text.strip().strip("\u00bc").strip()


def parse_idn(text: str | bytes) -> Identity:
    """Split an ``*IDN?`` reply into manufacturer, model, serial and firmware.

    Never raises: an empty reply gives an empty :class:`Identity`. Four or more fields map to
    manufacturer, model, serial and firmware (extra fields are kept in ``firmware``); three
    fields mean the serial is missing; two give manufacturer and model; one field is parsed as a
    Korad-style single string.
    """
    reply = clean_reply(text)
    if reply[:4].upper() == "IDN ":
        reply = reply[4:].lstrip()
    if not reply:
        return Identity()
    fields = [f.strip() for f in reply.split(",")]
    if len(fields) >= 4:
        return Identity(fields[0], fields[1], fields[2], ",".join(fields[3:]))
    if len(fields) == 3:
        return Identity(fields[0], fields[1], "", fields[2])
    if len(fields) == 2:
        return Identity(fields[0], fields[1])
    return _parse_single(fields[0])


def _parse_single(reply: str) -> Identity:
    """``KORAD KD3005P V2.0`` style: vendor, model, optional version and ``SN:`` serial."""
    serial = ""
    found = _SERIAL.search(reply)
    if found:
        serial = found.group(1)
        reply = (reply[: found.start()] + reply[found.end():]).strip()
    tokens = reply.split()
    firmware = ""
    # a trailing "V2.0" token, or a version glued to the model ("VELLEMANPS3005DV1.3")
    m = _VERSION.search(tokens[-1]) if tokens else None
    if m is not None and (m.start() > 0 or len(tokens) > 1):
        last = tokens.pop()
        firmware = m.group(0)
        if m.start() > 0:
            tokens.append(last[: m.start()])
    if len(tokens) >= 2:
        return Identity(tokens[0], " ".join(tokens[1:]), serial, firmware)
    word = tokens[0] if tokens else ""
    for vendor in KORAD_VENDORS:
        if word.upper().startswith(vendor) and len(word) > len(vendor):
            return Identity(word[: len(vendor)], word[len(vendor):], serial, firmware)
    return Identity("", word, serial, firmware)
