"""The USB, *IDN? and Modbus-model tables, and *IDN? parsing."""

from __future__ import annotations

import json

import pytest

from ionpy_widgets.discovery.known_devices import (
    KNOWN_DEVICES,
    installed_drivers,
    match_idn,
    match_modbus_model,
    match_usb,
    parse_idn,
    riden_model,
    usb_hints,
)
from ionpy_widgets.driver.reading import Identity


@pytest.mark.parametrize(("vid", "pid", "chip", "kind"), [
    (0x1A86, 0x7523, "CH340", "serial"),
    (0x1A86, 0x5523, "CH341 (serial mode)", "serial"),
    (0x10C4, 0xEA60, "CP210x", "serial"),
    (0x10C4, 0xEA80, "CP2110 HID-UART", "hid"),
    (0x0403, 0x6001, "FT232R", "serial"),
    (0x0403, 0x6010, "FT2232", "serial"),
    (0x0403, 0x6011, "FT4232H", "serial"),
    (0x0403, 0x6014, "FT232H", "serial"),
    (0x0403, 0x6015, "FT-X (FT230X/FT231X)", "serial"),
    (0x067B, 0x2303, "PL2303", "serial"),
    (0x0483, 0x5740, "STM32 Virtual COM Port", "serial"),
    (0x0416, 0x5011, "Virtual COM Port", "serial"),
    (0x2E3C, 0x5740, "FNIRSI DPS-150 (CDC)", "serial"),
    (0x1A86, 0xE429, "WCH HID (UNI-T D-09A cable)", "hid"),
])
def test_match_usb_exact_rows(vid: int, pid: int, chip: str, kind: str) -> None:
    row = match_usb(vid, pid)
    assert row is not None
    assert (row.chip, row.kind, row.vid, row.pid) == (chip, kind, vid, pid)


def test_ch340_hints_name_the_dps_board_and_riden() -> None:
    row = match_usb(0x1A86, 0x7523)
    assert row is not None and row.usb_id == "1A86:7523"
    drivers = [h.driver for h in row.hints]
    assert drivers == ["DPS5005", "RD60xx"]
    assert "DPS5005 (RD Tech USB board) or Riden RD60xx" in row.hints[0].reason
    assert row.hints[0].installed is True  # the DPS driver is in the registry
    assert row.hints[1].installed is ("RD60xx" in installed_drivers())


@pytest.mark.parametrize(("vid", "chip"), [(0x1AB1, "Rigol USBTMC"), (0x0957, "Agilent/Keysight USBTMC"),
                                           (0x2A8D, "Keysight USBTMC"), (0xF4EC, "Siglent USBTMC"),
                                           (0xF4ED, "Siglent USBTMC"), (0x0AAD, "Rohde & Schwarz USBTMC")])
def test_vendor_wide_rows_match_any_product(vid: int, chip: str) -> None:
    row = match_usb(vid, 0xBEEF)
    assert row is not None and row.chip == chip and row.kind == "usbtmc" and row.usb_id.endswith(":*")


def test_exact_row_wins_over_vendor_row_and_unknowns_are_none() -> None:
    rigol_psu = match_usb(0x1AB1, 0x0E11)
    assert rigol_psu is not None and rigol_psu.hints[0].driver == "SCPI_PSU"
    assert match_usb(0x1234, 0x5678) is None
    assert match_usb(None, None) is None


def test_table_has_unique_ids_and_serialises() -> None:
    ids = [(d.vid, d.pid) for d in KNOWN_DEVICES]
    assert len(ids) == len(set(ids))
    json.dumps([d.to_dict() for d in KNOWN_DEVICES])


def test_usb_hints_merge_table_and_driver_usb_ids_without_duplicates() -> None:
    hints = usb_hints(0x1A86, 0x7523)
    assert [h.driver for h in hints].count("DPS5005") == 1
    assert usb_hints(None, None) == []
    assert usb_hints(0x1234, 0x5678) == []


@pytest.mark.parametrize(("reply", "expected"), [
    ("Keysight Technologies,E36103B,MY61001983,1.0.2-1.02",
     Identity("Keysight Technologies", "E36103B", "MY61001983", "1.0.2-1.02")),
    ("RIGOL TECHNOLOGIES,DL3021A,DL3A000000000,00.01.00.00.00\n",
     Identity("RIGOL TECHNOLOGIES", "DL3021A", "DL3A000000000", "00.01.00.00.00")),
    ("IDN GW,GDM8341,1.01", Identity("GW", "GDM8341", "", "1.01")),  # 3 fields, IDN prefix
    ("ACME,PSU,SN1,1.0,extra", Identity("ACME", "PSU", "SN1", "1.0,extra")),
    ("ACME,PSU", Identity("ACME", "PSU")),
    ("KORAD KD3005P V2.0", Identity("KORAD", "KD3005P", "", "V2.0")),
    ("TENMA 72-2540 V5.2 SN:12345678", Identity("TENMA", "72-2540", "12345678", "V5.2")),
    ("RND 320-KA3005P V5.5", Identity("RND", "320-KA3005P", "", "V5.5")),
    ("VELLEMANPS3005DV1.3", Identity("VELLEMAN", "PS3005D", "", "V1.3")),
    ("KORAD KA3005P V5.4\x01", Identity("KORAD", "KA3005P", "", "V5.4")),
    (b"TENMA 72-2535 V2.0\xbc", Identity("TENMA", "72-2535", "", "V2.0")),
    ("  ", Identity()),
])
def test_parse_idn(reply: str | bytes, expected: Identity) -> None:
    assert parse_idn(reply) == expected


def test_match_idn_uses_installed_driver_patterns_and_builtins() -> None:
    rigol = match_idn("RIGOL TECHNOLOGIES,DP832,DP8C0001,00.01.14")
    assert rigol[0].driver == "SCPI_PSU" and rigol[0].model == "DP832" and rigol[0].confidence >= 0.9
    korad = match_idn("TENMA 72-2540 V5.2 SN:1")
    assert korad[0].driver == "KA3005P" and korad[0].model == "72-2540"
    assert match_idn("SIGLENT TECHNOLOGIES,SDL1020X-E,SDL1,1.1")[0].driver == "SDL1000X"
    assert match_idn("ACME,Toaster,1,1") == []
    assert match_idn("") == []


def test_match_idn_sees_a_registered_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    from ionpy_widgets.discovery import known_devices

    class FakeDriver:
        idn_patterns = ("^ACME,TOASTER",)

        @classmethod
        def matches_idn(cls, idn: str) -> bool:
            return idn.upper().startswith("ACME,TOASTER")

    monkeypatch.setattr(known_devices, "driver_classes", lambda: {"TOASTER": FakeDriver})
    (hit,) = match_idn("ACME,Toaster,7,1.0")
    assert (hit.driver, hit.confidence, hit.installed, hit.model) == ("TOASTER", 0.9, True, "Toaster")
    (snap,) = match_idn("ACME,Toaster,7,1.0", drivers={"TOASTER": FakeDriver})  # type: ignore[dict-item]
    assert snap == hit
    assert match_idn("ACME,Toaster,7,1.0", drivers={}) == []


@pytest.mark.parametrize(("value", "model"), [(3005, "DPS3005"), (5005, "DPS5005"), (5205, "DPH5005"),
                                              (5015, "DPS5015"), (5020, "DPS5020"), (8005, "DPS8005")])
def test_match_modbus_model_dps(value: int, model: str) -> None:
    hit = match_modbus_model(value)
    assert hit is not None and hit.driver == "DPS5005" and hit.model == model and hit.installed


@pytest.mark.parametrize(("value", "model"), [(60062, "RD6006"), (60065, "RD6006P"), (60121, "RD6012"),
                                              (60125, "RD6012P"), (60181, "RD6018"), (60241, "RD6024")])
def test_match_modbus_model_riden_is_a_hint_without_driver(value: int, model: str) -> None:
    hit = match_modbus_model(value)
    assert hit is not None and hit.driver == "RD60xx" and hit.model == model
    assert riden_model(value) == model


def test_match_modbus_model_unknown() -> None:
    assert match_modbus_model(0) is None
    assert match_modbus_model(1234) is None
