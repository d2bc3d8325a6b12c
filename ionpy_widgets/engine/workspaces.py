"""Named workspaces: saved dashboard layouts, one JSON file per name in one folder.

Names come from users (a text box in a widget), so :func:`check_name` treats them as hostile:
after Unicode NFKC normalisation a name may only hold letters, digits, spaces, ``-``, ``_`` and
``.`` (not first, not last), at most 64 characters, and must not be a Windows device name. Look-alike
punctuation (fullwidth or "one dot leader" dots, division or fullwidth slashes, ...) is refused
rather than silently turned into a dot or a slash, and the final path is checked to stay inside the
folder. Files are written atomically (see :mod:`.atomic`) with a ``.bak`` of the previous version.

File format::

    {"version": 1, "name": "bench A", "saved_at": "2025-01-31T12:00:00Z", "layout": {...}}
"""

from __future__ import annotations

import builtins
import json
import time
import unicodedata
from pathlib import Path
from typing import Any

from ..errors import ConfigValidationError, IonpyError
from .atomic import StorageError, atomic_write_text, backup_path

__all__ = ["MAX_NAME_LENGTH", "WORKSPACE_VERSION", "WorkspaceNotFoundError", "Workspaces", "check_name"]

WORKSPACE_VERSION = 1
MAX_NAME_LENGTH = 64
SUFFIX = ".json"
_ALLOWED_PUNCTUATION = frozenset(" -_.")
_LETTER_OR_DIGIT = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd"})
_DEVICE_NAMES = frozenset({"CON", "PRN", "AUX", "NUL", "CLOCK$", "CONIN$", "CONOUT$"}
                          | {f"{p}{d}" for p in ("COM", "LPT") for d in "0123456789¹²³"})
_HINT = (f"Use 1-{MAX_NAME_LENGTH} letters, digits, spaces, '-', '_' or '.' (a dot or space may not come first "
         "or last); no slashes, colons or control characters, and not a Windows device name such as CON, NUL, "
         "COM1 or LPT1. Example: 'bench A' or 'battery_test-2'.")


class WorkspaceNotFoundError(IonpyError, KeyError):
    """No workspace of that name is saved."""

    code = "workspace_not_found"

    def __str__(self) -> str:  # KeyError would add quotes
        return IonpyError.__str__(self)


def _reject(name: object, reason: str) -> ConfigValidationError:
    shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "..."
    return ConfigValidationError(f"workspace name {shown} is not allowed: {reason}", path="workspace.name",
                                 hint=_HINT)


def check_name(name: str) -> str:
    """Return the normalised (NFKC) workspace name, or raise ConfigValidationError saying why not."""
    if not isinstance(name, str):
        raise _reject(name, f"it must be text, not {type(name).__name__}")
    if not name:
        raise _reject(name, "it is empty")
    if len(name) > 4 * MAX_NAME_LENGTH:
        raise _reject(name, f"it is longer than {MAX_NAME_LENGTH} characters")
    for ch in name:
        category = unicodedata.category(ch)
        if category[0] == "C":
            raise _reject(name, f"it contains the control or invisible character U+{ord(ch):04X}")
        if category[0] in "PSZ" and ch not in _ALLOWED_PUNCTUATION:
            what = "a path separator" if ch in "/\\" else f"the character {ch!r} (U+{ord(ch):04X})"
            raise _reject(name, f"it contains {what}; only letters, digits, space, '-', '_' and '.' are allowed")
    norm = unicodedata.normalize("NFKC", name)
    bad = [ch for ch in norm if ch not in _ALLOWED_PUNCTUATION and unicodedata.category(ch) not in _LETTER_OR_DIGIT]
    if bad:
        raise _reject(name, f"it contains {bad[0]!r} (U+{ord(bad[0]):04X}) after normalisation")
    if len(norm) > MAX_NAME_LENGTH:
        raise _reject(name, f"it is longer than {MAX_NAME_LENGTH} characters")
    if norm[0] in ". " or norm[-1] in ". ":
        raise _reject(name, "it starts or ends with a dot or a space")
    if norm.split(".")[0].rstrip(" ").upper() in _DEVICE_NAMES:
        raise _reject(name, "it is a reserved Windows device name")
    return norm


class Workspaces:
    """Saved layouts in ``folder`` (created on the first save)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path_for(self, name: str) -> Path:
        """The file of workspace ``name`` after :func:`check_name`; refuses anything resolving outside the folder."""
        clean = check_name(name)
        target = self.folder / f"{clean}{SUFFIX}"
        root = self.folder.resolve()
        resolved = target.resolve()
        if resolved.parent != root or resolved.name != target.name:
            raise _reject(name, f"it would resolve to {resolved}, outside {root}")
        return target

    def save(self, name: str, layout: dict[str, Any]) -> Path:
        """Save ``layout`` (a JSON-able dict) under ``name``, replacing an older one atomically."""
        target = self.path_for(name)
        if not isinstance(layout, dict):
            raise ConfigValidationError(f"a layout must be a dict, not {type(layout).__name__}",
                                        path="workspace.layout", hint="Pass the dashboard layout as a dict.")
        doc = {"version": WORKSPACE_VERSION, "name": check_name(name),
               "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "layout": layout}
        try:
            text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:
            raise ConfigValidationError(f"the layout cannot be saved as JSON: {exc}", path="workspace.layout",
                                        hint="Use only dicts, lists, text, finite numbers, booleans and None.") from exc
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the workspace folder {self.folder}: {exc.strerror or exc}",
                               path=str(self.folder)) from exc
        return atomic_write_text(target, text)

    def load(self, name: str) -> dict[str, Any]:
        """The layout saved under ``name``; WorkspaceNotFoundError when there is none."""
        target = self.path_for(name)
        try:
            raw = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            saved = ", ".join(repr(n) for n in self.list()) or "none yet"
            raise WorkspaceNotFoundError(f"no workspace named {check_name(name)!r}", name=check_name(name),
                                         hint=f"Saved workspaces: {saved}.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise StorageError(f"cannot read {target}: {exc}", path=str(target)) from exc
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict) or doc.get("version") != WORKSPACE_VERSION:
                raise ValueError(f"expected an object with version {WORKSPACE_VERSION}")
            layout = doc.get("layout")
            if not isinstance(layout, dict):
                raise ValueError("'layout' is not an object")
        except ValueError as exc:
            bak = backup_path(target)
            extra = f" or restore the previous version from {bak.name}" if bak.exists() else ""
            raise ConfigValidationError(f"{target.name} is damaged: {exc}", path=f"workspaces/{target.name}",
                                        hint=f"Delete the workspace and save it again{extra}.") from exc
        return layout

    def delete(self, name: str) -> bool:
        """Delete workspace ``name`` (and its ``.bak``); return whether it existed."""
        target = self.path_for(name)
        backup_path(target).unlink(missing_ok=True)
        try:
            target.unlink()
        except FileNotFoundError:
            return False
        return True

    def __contains__(self, name: object) -> bool:
        try:
            return isinstance(name, str) and self.path_for(name).is_file()
        except ConfigValidationError:
            return False

    def list(self) -> builtins.list[str]:
        """Names of the saved workspaces, sorted case-insensitively (files with unsafe names are skipped)."""
        if not self.folder.is_dir():
            return []
        names = []
        for path in self.folder.iterdir():
            if not path.name.endswith(SUFFIX) or not path.is_file():
                continue
            stem = path.name[: -len(SUFFIX)]
            try:
                if check_name(stem) == stem:
                    names.append(stem)
            except ConfigValidationError:
                continue
        return sorted(names, key=lambda n: (n.casefold(), n))
