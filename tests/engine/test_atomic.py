"""atomic_write_*: old-or-new content only, also when the writer is killed with SIGKILL mid-write."""

from __future__ import annotations

import os
import random
import stat
import time
from pathlib import Path

import pytest
from kill_harness import KillRig, kill_versions
from ruamel.yaml import YAML

from ionpy_widgets.engine.atomic import (
    StorageError,
    WarningLog,
    atomic_write_bytes,
    atomic_write_text,
    backup_path,
    move_aside,
    remove_stale_temps,
    temp_prefix,
)

# The content of version n: long for even n, short for odd n, so a torn write cannot look complete.
CONTENT_SRC = '''
def content(n):
    count = 40 if n % 2 == 0 else 3
    items = "".join(f"  - item-{n}-{i}: {'x' * (i % 13)}\\n" for i in range(count))
    return f"version: {n}\\nparity: {'even' if n % 2 == 0 else 'odd'}\\nitems:\\n{items}end: {n}\\n"
'''
_ns: dict = {}
exec(CONTENT_SRC, _ns)
content = _ns["content"]

# A fork server: imports once, then forks one writer per line "<first version>" read from stdin.
# Each writer prints "pid <pid>", then every version it completed; the server prints "exit <pid>"
# once the writer is dead, so everything between those two lines is what that writer finished.
ZYGOTE = CONTENT_SRC + '''
import os, sys
from ionpy_widgets.engine.atomic import atomic_write_text
path = sys.argv[1]
for line in sys.stdin:
    n = int(line)
    pid = os.fork()
    if pid == 0:
        try:
            os.write(1, f"pid {os.getpid()}\\n".encode())  # one write() each: a kill cannot split a line
            while True:
                atomic_write_text(path, content(n))
                os.write(1, f"{n}\\n".encode())
                n += 1
        finally:
            os._exit(1)
    os.waitpid(pid, 0)
    print("exit", pid, flush=True)
'''


def _leftover_temps(folder: Path, target: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(temp_prefix(target))]


def test_write_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a.yaml"
    assert atomic_write_text(target, "one\n") == target
    assert target.read_text() == "one\n"
    assert not backup_path(target).exists()  # nothing to back up the first time
    atomic_write_text(target, "two\n")
    assert target.read_text() == "two\n"
    assert backup_path(target).read_text() == "one\n"
    atomic_write_text(target, "three\n", backup=False)
    assert backup_path(target).read_text() == "one\n"
    assert _leftover_temps(tmp_path, target) == []


def test_bytes_and_type_checks(tmp_path: Path) -> None:
    target = tmp_path / "b.bin"
    atomic_write_bytes(target, bytes(range(256)))
    assert target.read_bytes() == bytes(range(256))
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        atomic_write_text(target, b"bytes")  # type: ignore[arg-type]


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_mode_of_existing_file_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "secret.json"
    target.write_text("{}")
    os.chmod(target, 0o600)
    atomic_write_text(target, '{"a": 1}')
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(backup_path(target).stat().st_mode) == 0o600


@pytest.mark.skipif(os.name == "nt", reason="symlinks")
def test_symlink_is_followed(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    atomic_write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_failure_leaves_original_and_no_temp(tmp_path: Path) -> None:
    # a folder where the file should be: the final replace fails after the temp file was written
    target = tmp_path / "taken"
    target.mkdir()
    with pytest.raises(StorageError) as info:
        atomic_write_text(target, "data")
    assert info.value.code == "storage_error" and "folder" in info.value.hint
    assert target.is_dir() and _leftover_temps(tmp_path, target) == []


def test_failure_midway_keeps_old_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "c.txt"
    atomic_write_text(target, "old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(StorageError) as info:
        atomic_write_text(target, "new")
    monkeypatch.undo()
    assert "disk is full" in info.value.hint
    assert target.read_text() == "old"
    assert _leftover_temps(tmp_path, target) == []


def test_missing_folder_has_a_hint(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as info:
        atomic_write_text(tmp_path / "nope" / "x.txt", "x")
    assert "does not exist" in info.value.hint


def test_stale_temps_are_removed_fresh_ones_kept(tmp_path: Path) -> None:
    target = tmp_path / "s.json"
    old, fresh = tmp_path / f"{temp_prefix(target)}aaaa.tmp", tmp_path / f"{temp_prefix(target)}bbbb.tmp"
    other = tmp_path / ".other.json.cccc.tmp"
    for p in (old, fresh, other):
        p.write_text("partial")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    os.utime(other, (time.time() - 7200, time.time() - 7200))
    assert remove_stale_temps(target) == 1
    assert not old.exists() and fresh.exists() and other.exists()
    assert remove_stale_temps(tmp_path / "missing" / "x.json") == 0


def test_move_aside_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "s.json"
    names = []
    for i in range(3):
        target.write_text(str(i))
        names.append(move_aside(target))
    assert len(set(names)) == 3 and not target.exists()
    assert sorted(p.read_text() for p in names) == ["0", "1", "2"]
    assert all(".corrupt-" in p.name for p in names)


def test_warning_log_keeps_newest(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    wl = WarningLog(logging.getLogger("t"), keep=3)
    assert wl.last is None
    for i in range(5):
        wl.add(f"w{i}")
    assert wl.items == ["w2", "w3", "w4"] and wl.last == "w4"
    assert "w4" in caplog.text


def _version_of(path: Path, yaml: YAML | None = None) -> int | None:
    """Check the file is exactly one complete version and return it; parse it as YAML when ``yaml`` is given
    (ruamel is pure Python here, so the backup is only compared as text)."""
    if not path.exists():
        return None
    text = path.read_text()
    n = yaml.load(text)["version"] if yaml is not None else int(text.split("\n", 1)[0].removeprefix("version: "))
    assert text == content(n), f"{path.name} is not a complete version {n}"
    return n


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL")
def test_sigkill_during_1000_writes_leaves_old_or_new(fast_dir: Path) -> None:
    """A child writes versions 0, 1, 2, ... and reports each completed one; it is killed at random
    moments, over and over. After each kill the file must be exactly version k or k + 1, where k is
    the last version the child reported (k + 1: replaced but killed before it could report)."""
    target = fast_dir / "bench.yaml"
    yaml = YAML(typ="safe")

    def backup_not_newer(found: int | None) -> None:
        bak = _version_of(backup_path(target))
        assert bak is None or (found is not None and bak <= found)  # == when killed between backup and replace

    _, writes = kill_versions(KillRig(ZYGOTE, target), random.Random(1234), lambda: _version_of(target, yaml),
                              what="writes", check=backup_not_newer)
    assert writes >= 1000
    for tmp in _leftover_temps(fast_dir, target):  # killed writers may leave temp files, never a torn target
        tmp.unlink()
