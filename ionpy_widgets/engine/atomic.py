"""Crash-safe file writes: a file is always either its old or its new complete content.

The recipe (POSIX; Windows gets the same minus the directory fsync):

1. create a temporary file in the *same* folder (unique name, ``O_CREAT | O_EXCL``), so the final
   rename never crosses a file system;
2. write, flush and ``fsync`` it, and give it the mode of the file it replaces;
3. optionally copy the current file to ``<name>.bak`` with the same recipe;
4. ``os.replace`` it over the target (atomic on POSIX and Windows);
5. ``fsync`` the folder so the rename itself survives a power cut.

On any failure the temporary file is removed, the original is untouched and a
:class:`StorageError` says which file and what to try. A process killed with ``SIGKILL`` may leave a
``.<name>.<random>.tmp`` file behind, never a half-written target.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
import time
from pathlib import Path

from ..errors import IonpyError

__all__ = ["StorageError", "WarningLog", "atomic_write_bytes", "atomic_write_text", "backup_path", "move_aside",
           "remove_stale_temps", "temp_prefix"]


class StorageError(IonpyError):
    """Reading or writing one of the engine's files failed (permissions, disk full, a folder in the way)."""

    code = "storage_error"
    default_hint = "Check that the folder exists, is writable and that the disk is not full."


def backup_path(path: str | os.PathLike[str]) -> Path:
    """Where :func:`atomic_write_bytes` keeps the previous content of ``path``: ``<name>.bak``."""
    p = Path(path)
    return p.with_name(p.name + ".bak")


def temp_prefix(path: str | os.PathLike[str]) -> str:
    """The name prefix of the temporary files written next to ``path`` (for cleanup tools and tests)."""
    return f".{Path(path).name}."


def remove_stale_temps(path: str | os.PathLike[str], *, older_than: float = 3600.0) -> int:
    """Delete temporary files a killed writer of ``path`` left behind, if older than ``older_than``
    seconds (younger ones may belong to a writer still running). Returns how many were removed."""
    target = Path(path)
    prefix, cutoff, removed = temp_prefix(target), time.time() - older_than, 0
    try:
        candidates = [p for p in target.parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(".tmp")]
    except OSError:
        return 0
    for tmp in candidates:
        with contextlib.suppress(OSError):
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()
                removed += 1
    return removed


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable. Not possible on Windows (nor needed there)."""
    if os.name == "nt":
        return
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    fd = os.open(folder, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_temp(folder: Path, name: str) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = folder / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            # 0o666 lets the process umask decide the mode of a new file, like open(path, "w") would
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a unique temporary file in {folder}")


def _write_replace(target: Path, data: bytes, mode: int | None) -> None:
    fd, tmp = _create_temp(target.parent, target.name)
    try:
        try:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if mode is not None and not hasattr(os, "fchmod"):
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _existing_mode(target: Path) -> int | None:
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return None
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else None


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, backup: bool = True) -> Path:
    """Replace the content of ``path`` with ``data`` atomically; return the path written.

    With ``backup=True`` the current content (if the file exists) is first copied, also atomically,
    to ``<name>.bak``. The mode of an existing file is kept; a new file gets the umask default.
    A symlink is followed: the file it points to is replaced, the link stays.
    Raises :class:`StorageError` (with the cause chained) when anything fails; nothing changed then.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"atomic_write_bytes expects bytes, got {type(data).__name__}")
    target = Path(path)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    target = target.absolute()
    try:
        mode = _existing_mode(target)
        if backup and mode is not None:
            bak = backup_path(target)
            _write_replace(bak, target.read_bytes(), mode)
        _write_replace(target, bytes(data), mode)
        _fsync_dir(target.parent)
    except OSError as exc:
        raise StorageError(
            f"could not write {target}: {exc.strerror or exc}",
            hint=_hint_for(exc, target), path=str(target),
        ) from exc
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, *, backup: bool = True,
                      encoding: str = "utf-8") -> Path:
    """:func:`atomic_write_bytes` for text (``encoding`` defaults to UTF-8; newlines are written as given)."""
    if not isinstance(text, str):
        raise TypeError(f"atomic_write_text expects str, got {type(text).__name__}")
    return atomic_write_bytes(path, text.encode(encoding), backup=backup)


def _hint_for(exc: OSError, target: Path) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"The folder {target.parent} does not exist; create it first."
    if isinstance(exc, PermissionError):
        return f"No permission to write in {target.parent}; pick a writable folder or fix its permissions."
    if isinstance(exc, IsADirectoryError):
        return f"{target} is a folder; choose a file name instead."
    if getattr(exc, "errno", None) == 28:  # ENOSPC
        return "The disk is full; free some space and save again."
    return StorageError.default_hint


def move_aside(path: str | os.PathLike[str], label: str = "corrupt") -> Path:
    """Rename an unreadable file to ``<name>.<label>-<UTC time>`` (never overwriting) and return the new path."""
    src = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for n in range(1000):
        dst = src.with_name(f"{src.name}.{label}-{stamp}" + (f"-{n}" if n else ""))
        try:
            _rename_no_clobber(src, dst)
        except FileExistsError:
            continue
        except OSError as exc:
            raise StorageError(f"could not move the unreadable {src} aside: {exc.strerror or exc}",
                               path=str(src)) from exc
        with contextlib.suppress(OSError):
            _fsync_dir(src.parent)
        return dst
    raise StorageError(f"could not find a free name to move {src} aside", path=str(src))


def _rename_no_clobber(src: Path, dst: Path) -> None:
    """Rename that fails with FileExistsError instead of replacing ``dst`` (Windows rename already does)."""
    if os.name == "nt":
        os.rename(src, dst)
        return
    try:
        os.link(src, dst)  # atomic "create if absent"
    except FileExistsError:
        raise
    except OSError:  # file systems without hard links: check, then rename
        if dst.exists():
            raise FileExistsError(dst) from None
        os.rename(src, dst)
        return
    os.unlink(src)


class WarningLog:
    """Warnings a user should *see*: logged with ``logging.warning`` and kept for widgets.

    ``items`` holds the newest ``keep`` messages (oldest first); ``last`` the newest or ``None``.
    Deliberately not ``warnings.warn``: those are easy to miss in a notebook and errors in the tests.
    """

    def __init__(self, logger: logging.Logger, keep: int = 50) -> None:
        self._logger = logger
        self._keep = keep
        self.items: list[str] = []

    @property
    def last(self) -> str | None:
        return self.items[-1] if self.items else None

    def add(self, message: str) -> None:
        self._logger.warning("%s", message)
        self.items.append(message)
        del self.items[: -self._keep]
