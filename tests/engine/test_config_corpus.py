"""A corpus of invalid config files: each is rejected with the field path of its mistake and a
hint, and no edit through the ConfigManager changes a single byte of it (nor leaves a backup or a
temporary file behind)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ionpy_widgets.engine.atomic import backup_path, temp_prefix
from ionpy_widgets.engine.config_manager import ConfigManager
from ionpy_widgets.errors import ConfigValidationError

V = "version: 1\n"
BAT = "  - id: BAT\n    driver: V01_Battery\n"
DPS = "  - id: DPS\n    driver: DPS5005\n    transport: {type: serial, params: {port: /dev/ttyUSB0}}\n"
PSU = "  - id: PSU\n    driver: SCPI_PSU\n    transport: {type: tcp, params: {host: 127.0.0.1, port: 5025}}\n"


def one(body: str) -> str:
    """A v1 file with a valid battery first and ``body`` (one entry) as devices[1]."""
    return V + "devices:\n" + BAT + body


CORPUS: list[tuple[str, str, str]] = [
    # (name, file text, expected field path)
    ("version newer", "version: 2\ndevices: []\n", "version"),
    ("version text", "version: one\ndevices: []\n", "version"),
    ("version negative", "version: -1\ndevices: []\n", "version"),
    ("version bool", "version: true\ndevices: []\n", "version"),
    ("top level list", "- a\n- b\n", ""),
    ("not yaml", "devices:\n  - id: A\n   driver: X\n", ""),
    ("unknown top-level key", V + "device: []\n", "device"),
    ("devices a mapping", V + "devices: {id: A}\n", "devices"),
    ("engine not a mapping", V + "engine: fast\ndevices: []\n", "engine"),
    ("engine unknown setting", V + "engine: {stall: 1}\ndevices: []\n", "engine.stall"),
    ("engine negative", V + "engine: {backoff_max: -1}\ndevices: []\n", "engine.backoff_max"),
    ("logging level", V + "logging: {level: LOUD}\ndevices: []\n", "logging.level"),
    ("logging unknown key", V + "logging: {colour: red}\ndevices: []\n", "logging.colour"),
    ("logging not a mapping", V + "logging: verbose\ndevices: []\n", "logging"),
    ("storage state", V + "storage: {state: 5}\ndevices: []\n", "storage.state"),
    ("storage autosave", V + "storage: {autosave_interval: 0}\ndevices: []\n", "storage.autosave_interval"),
    ("storage unknown key", V + "storage: {where: x}\ndevices: []\n", "storage.where"),
    ("storage folder", V + "storage: {folder: ''}\ndevices: []\n", "storage.folder"),
    ("history true", V + "history: true\ndevices: []\n", "history"),
    ("history false", V + "history: false\ndevices: []\n", "history"),
    ("history a file name", V + "history: history.sqlite\ndevices: []\n", "history"),
    ("history a list", V + "history: [a.sqlite]\ndevices: []\n", "history"),
    ("history path missing", V + "history: {enabled: true}\ndevices: []\n", "history.path"),
    ("history path empty", V + "history: {path: ''}\ndevices: []\n", "history.path"),
    ("history path blank", V + "history: {path: '   '}\ndevices: []\n", "history.path"),
    ("history path null", V + "history:\n  path:\ndevices: []\n", "history.path"),
    ("history path a number", V + "history: {path: 5}\ndevices: []\n", "history.path"),
    ("history path a folder", V + "history: {path: data/}\ndevices: []\n", "history.path"),
    ("history path a mapping", V + "history: {path: {file: h.sqlite}}\ndevices: []\n", "history.path"),
    ("history unknown key", V + "history: {path: h.sqlite, folder: data}\ndevices: []\n", "history.folder"),
    ("history enabled text", V + "history: {path: h.sqlite, enabled: 'no'}\ndevices: []\n", "history.enabled"),
    ("entry not a mapping", one("  - just a string\n"), "devices[1]"),
    ("missing id", one("  - driver: V01_Battery\n"), "devices[1].id"),
    ("id with a space", one("  - id: my psu\n    driver: V01_Battery\n"), "devices[1].id"),
    ("id a number", one("  - id: 42\n    driver: V01_Battery\n"), "devices[1].id"),
    ("id too long", one(f"  - id: {'A' * 65}\n    driver: V01_Battery\n"), "devices[1].id"),
    ("id look-alike dash", one("  - id: DPS\u20131\n    driver: V01_Battery\n"), "devices[1].id"),
    ("id duplicate", one("  - id: BAT\n    driver: V01_Battery\n"), "devices[1].id"),
    ("missing driver", one("  - id: X\n"), "devices[1].driver"),
    ("unknown driver", one("  - id: X\n    driver: DPS9000\n"), "devices[1].driver"),
    ("unknown device key", one("  - id: X\n    driver: V01_Battery\n    colour: red\n"), "devices[1].colour"),
    ("enabled not a bool", one("  - id: X\n    driver: V01_Battery\n    enabled: maybe\n"), "devices[1].enabled"),
    ("auto_start text", one("  - id: X\n    driver: V01_Battery\n    auto_start: 'yes'\n"), "devices[1].auto_start"),
    ("alias a number", one("  - id: X\n    driver: V01_Battery\n    alias: 5\n"), "devices[1].alias"),
    ("alias empty", one("  - id: X\n    driver: V01_Battery\n    alias: ''\n"), "devices[1].alias"),
    ("icon a list", one("  - id: X\n    driver: V01_Battery\n    icon: [x]\n"), "devices[1].icon"),
    ("description too long", one(f"  - id: X\n    driver: V01_Battery\n    description: {'d' * 501}\n"),
     "devices[1].description"),
    ("location two lines", one('  - id: X\n    driver: V01_Battery\n    location: "a\\nb"\n'), "devices[1].location"),
    ("poll interval zero", one("  - id: X\n    driver: V01_Battery\n    poll_interval: 0\n"),
     "devices[1].poll_interval"),
    ("poll interval text", one("  - id: X\n    driver: V01_Battery\n    poll_interval: fast\n"),
     "devices[1].poll_interval"),
    ("missing transport", one("  - id: X\n    driver: DPS5005\n"), "devices[1].transport"),
    ("transport a string", one("  - id: X\n    driver: SCPI_PSU\n    transport: tcp\n"), "devices[1].transport"),
    ("transport unknown type", one("  - id: X\n    driver: DPS5005\n    transport: {type: usb_magic}\n"),
     "devices[1].transport.type"),
    ("transport unknown key", one("  - id: X\n    driver: SCPI_PSU\n    transport: {type: tcp, kind: x}\n"),
     "devices[1].transport.kind"),
    ("transport params a list", one("  - id: X\n    driver: SCPI_PSU\n    transport: {type: tcp, params: [1]}\n"),
     "devices[1].transport.params"),
    ("baudrate text", V + "devices:\n" + BAT + DPS +
     "  - id: D2\n    driver: DPS5005\n    transport: {type: serial, params: {port: /dev/ttyUSB1, baudrate: fast}}\n",
     "devices[2].transport.params.baudrate"),
    ("baudrate negative", V + "devices:\n" + BAT + DPS +
     "  - id: D2\n    driver: DPS5005\n    transport: {type: serial, params: {port: /dev/ttyUSB1, baudrate: -9600}}\n",
     "devices[2].transport.params.baudrate"),
    ("serial parity", one("  - id: X\n    driver: DPS5005\n    transport: {type: serial, params: {port: /dev/x, "
                          "parity: Q}}\n"), "devices[1].transport.params.parity"),
    ("serial port missing", one("  - id: X\n    driver: DPS5005\n    transport: {type: serial, params: {}}\n"),
     "devices[1].transport.params.port"),
    ("tcp host missing", one("  - id: X\n    driver: SCPI_PSU\n    transport: {type: tcp, params: {port: 5025}}\n"),
     "devices[1].transport.params.host"),
    ("tcp port too big", V + "devices:\n" + BAT + PSU.replace("5025", "99999"), "devices[1].transport.params.port"),
    ("framing unknown type", one(PSU[:-1].replace("PSU", "X", 1) + "\n    framing: {type: morse}\n"),
     "devices[1].framing.type"),
    ("framing bad delimiter", one(PSU.replace("PSU", "X", 1) + "    framing: {type: delimiter, params: {delimiter: "
                                                               "[1, x]}}\n"), "devices[1].framing.params.delimiter"),
    ("options a list", one("  - id: X\n    driver: V01_Battery\n    options: [1]\n"), "devices[1].options"),
    ("driver option out of range", one("  - id: X\n    driver: V01_Battery\n    options: {cells: 100}\n"),
     "devices[1].options.cells"),
    ("link timeout zero", one("  - id: X\n    driver: V01_Battery\n    link: {timeout: 0}\n"),
     "devices[1].link.timeout"),
    ("link retries negative", one("  - id: X\n    driver: V01_Battery\n    link: {retries: -1}\n"),
     "devices[1].link.retries"),
    ("link unknown key", one("  - id: X\n    driver: V01_Battery\n    link: {speed: 1}\n"), "devices[1].link.speed"),
]


def test_the_corpus_is_big_enough_and_names_are_unique() -> None:
    assert len(CORPUS) >= 30
    assert len({name for name, _, _ in CORPUS}) == len(CORPUS)


def leftovers(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(temp_prefix(path)))


@pytest.mark.parametrize(("text", "path"), [pytest.param(text, path, id=name) for name, text, path in CORPUS])
def test_invalid_file_is_rejected_with_its_field_path_and_never_written(tmp_path: Path, text: str, path: str) -> None:
    file = tmp_path / "config.yaml"
    file.write_text(text, encoding="utf-8")
    before = file.read_bytes()
    cm = ConfigManager(file)
    with pytest.raises(ConfigValidationError) as info:
        cm.load()
    assert info.value.path == path, info.value
    assert info.value.hint, f"no hint for {path!r}: {info.value}"
    assert info.value.details["file"].endswith("config.yaml")
    # no edit goes through while the file is invalid, and each one reports the same field
    edits = [lambda: cm.add_device({"id": "NEW", "driver": "V01_Battery"}), cm.save,
             lambda: cm.set_device_enabled("BAT", False), lambda: cm.remove_device("BAT")]
    for edit in edits:
        with pytest.raises(ConfigValidationError) as again:
            edit()
        assert again.value.path == path
    assert file.read_bytes() == before
    assert not backup_path(file).exists() and leftovers(file) == []


INVALID_EDITS: list[tuple[str, dict[str, object], str]] = [
    ("bad baudrate", {"id": "D", "driver": "DPS5005",
                      "transport": {"type": "serial", "params": {"port": "/dev/x", "baudrate": "fast"}}},
     "transport.params.baudrate"),
    ("bad id", {"id": "../etc", "driver": "V01_Battery"}, "id"),
    ("unknown key", {"id": "D", "driver": "V01_Battery", "colour": "red"}, "colour"),
    ("unknown driver", {"id": "D", "driver": "NOPE"}, "driver"),
    ("bad alias", {"id": "D", "driver": "V01_Battery", "alias": ["x"]}, "alias"),
    ("bad tcp port", {"id": "P", "driver": "SCPI_PSU", "transport": {"type": "tcp", "params": {"host": "127.0.0.1",
                                                                                              "port": 0}}},
     "transport.params.port"),
]


@pytest.mark.parametrize(("conf", "path"), [pytest.param(c, p, id=n) for n, c, p in INVALID_EDITS])
def test_invalid_edit_of_a_valid_file_names_the_field_and_writes_nothing(tmp_path: Path, conf: dict[str, object],
                                                                         path: str) -> None:
    file = tmp_path / "config.yaml"
    file.write_text("# mine\n" + V + "devices:\n" + BAT, encoding="utf-8")
    before = file.read_bytes()
    cm = ConfigManager(file)
    for edit in (lambda: cm.add_device(conf), lambda: cm.update_device("BAT", conf)):
        with pytest.raises(ConfigValidationError) as info:
            edit()
        assert info.value.path == path and info.value.hint
    assert file.read_bytes() == before
    assert not backup_path(file).exists() and leftovers(file) == []
    assert cm.load().ids == ["BAT"]
