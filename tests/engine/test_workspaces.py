"""Workspaces: hostile names never leave the folder; valid layouts round-trip."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ionpy_widgets.engine.atomic import backup_path
from ionpy_widgets.engine.workspaces import MAX_NAME_LENGTH, WorkspaceNotFoundError, Workspaces, check_name
from ionpy_widgets.errors import ConfigValidationError

HOSTILE = [
    "", ".", "..", "...", "../x", "..\\x", "x/..", "/etc/passwd", "C:\\x", "C:", "c:x", "\\\\server\\share",
    "a\\b", "a/b", "x\x00y", "\x00", "\t", "a\nb", "\x1b[31m", "\x7f",
    "CON", "con", "Con.json", "PRN", "AUX", "NUL", "nul.txt", "NUL .txt", "COM1", "com9", "LPT9.json", "LPT1",
    "COM\u00b9", "clock$",
    "a" * 300, "a" * (MAX_NAME_LENGTH + 1),
    "．．∕x", "..／x", "x\u2215y", "x\u29f8y", "x\uff3cy", "x\u2044y", "x\u2216y", "x\ufe68y",
    "\uff0e\uff0e", "x\u2024y", "\u2025", "a\u2026", "\u202e...", "ab\u202ecod.exe", "a\u200bb", "a\u00adb", "\ufeffa",
    " ", "  ", "name.", "name ", " name", ".hidden", ".bak", "name\u00a0", "x\u3000y",
    "a:b", "a*b", "a?b", 'a"b', "a<b", "a>b", "a|b", "~user", "$HOME", "a%2fb", "a;b", "a'b", "a\u0338",
    "x" + "\ud800",
]


@pytest.mark.parametrize("name", HOSTILE, ids=lambda n: repr(n)[:40])
def test_hostile_names_are_rejected(name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigValidationError) as info:
        check_name(name)
    err = info.value
    assert err.path == "workspace.name" and err.code == "config_invalid"
    assert "letters, digits" in err.hint
    ws = Workspaces(tmp_path / "ws")
    with pytest.raises(ConfigValidationError):
        ws.save(name, {"a": 1})
    with pytest.raises(ConfigValidationError):
        ws.load(name)
    with pytest.raises(ConfigValidationError):
        ws.delete(name)
    assert name not in ws
    assert sorted(p.name for p in tmp_path.rglob("*")) == []  # nothing was created anywhere


def test_there_are_enough_hostile_cases() -> None:
    assert len(HOSTILE) >= 20


def test_non_text_name() -> None:
    with pytest.raises(ConfigValidationError, match="text"):
        check_name(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("name, normal", [
    ("bench A", "bench A"), ("battery_test-2", "battery_test-2"), ("v1.2", "v1.2"), ("a..b", "a..b"),
    ("Messplatz Ä", "Messplatz Ä"), ("実験台", "実験台"), ("Ｂｅｎｃｈ１", "Bench1"), ("e\u0301t\u00e9", "été"),
    ("CONFIG", "CONFIG"), ("COM10", "COM10"), ("console", "console"), ("a" * MAX_NAME_LENGTH, "a" * MAX_NAME_LENGTH),
    ("x", "x"), ("-dash", "-dash"),
])
def test_valid_names_round_trip(name: str, normal: str, tmp_path: Path) -> None:
    assert check_name(name) == normal
    ws = Workspaces(tmp_path / "ws")
    layout = {"panels": [{"device": "psu1", "x": 0, "y": 1.5}], "title": name, "dark": True, "extra": None}
    path = ws.save(name, layout)
    assert path.parent == (tmp_path / "ws").absolute() and path.name == f"{normal}.json"
    assert ws.load(name) == layout and ws.load(normal) == layout
    assert ws.list() == [normal] and name in ws
    assert ws.delete(name) is True and ws.list() == [] and ws.delete(name) is False


def test_save_replaces_keeps_backup_and_file_format(tmp_path: Path) -> None:
    ws = Workspaces(tmp_path / "deep" / "ws")
    assert ws.list() == []
    ws.save("bench", {"v": 1})
    path = ws.save("bench", {"v": 2})
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and doc["name"] == "bench" and doc["layout"] == {"v": 2} and "saved_at" in doc
    assert json.loads(backup_path(path).read_text())["layout"] == {"v": 1}
    ws.save("Alpha", {})
    ws.save("beta", {})
    assert ws.list() == ["Alpha", "bench", "beta"]
    ws.delete("bench")
    assert not backup_path(path).exists()


def test_load_missing_lists_saved_names(tmp_path: Path) -> None:
    ws = Workspaces(tmp_path)
    ws.save("one", {})
    with pytest.raises(WorkspaceNotFoundError) as info:
        ws.load("two")
    assert isinstance(info.value, KeyError) and "'one'" in info.value.hint
    assert str(info.value).startswith("no workspace named 'two'")


def test_bad_layouts(tmp_path: Path) -> None:
    ws = Workspaces(tmp_path)
    for layout in ([1, 2], "text", None):
        with pytest.raises(ConfigValidationError, match="dict"):
            ws.save("x", layout)  # type: ignore[arg-type]
    for layout in ({"n": float("nan")}, {"o": object()}):
        with pytest.raises(ConfigValidationError) as info:
            ws.save("x", layout)
        assert info.value.path == "workspace.layout"
    assert ws.list() == []


def test_damaged_file_is_a_clear_error(tmp_path: Path) -> None:
    ws = Workspaces(tmp_path)
    ws.save("bench", {"v": 1})
    ws.save("bench", {"v": 2})
    (tmp_path / "bench.json").write_text("{broken")
    with pytest.raises(ConfigValidationError) as info:
        ws.load("bench")
    assert "bench.json.bak" in info.value.hint
    (tmp_path / "bench.json").write_text('{"version": 1, "layout": []}')
    with pytest.raises(ConfigValidationError, match="layout"):
        ws.load("bench")


def test_foreign_files_are_not_listed(tmp_path: Path) -> None:
    ws = Workspaces(tmp_path)
    ws.save("ok", {})
    for junk in (".hidden.json", "CON.json", "notes.txt", "ok.json.bak", "sp ace .json"):
        (tmp_path / junk).write_text("{}")
    (tmp_path / "dir.json").mkdir()
    assert ws.list() == ["ok"]


@pytest.mark.skipif(os.name == "nt", reason="symlinks")
def test_symlink_leading_outside_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"version": 1, "layout": {"secret": True}}))
    folder = tmp_path / "ws"
    folder.mkdir()
    (folder / "evil.json").symlink_to(outside)
    ws = Workspaces(folder)
    with pytest.raises(ConfigValidationError, match="outside"):
        ws.load("evil")
    with pytest.raises(ConfigValidationError, match="outside"):
        ws.save("evil", {"overwrite": True})
    assert json.loads(outside.read_text())["layout"] == {"secret": True}
