"""What the device wizard computes, without any widget: the driver catalogue, device ids, the
config dict built from the wizard's draft, the equivalent Python call and the ``lab.yaml`` diff.

The draft is what the browser collects over the five steps::

    {"driver": "DPS5005", "id": "DPS5005_1", "alias": "", "icon": "⚡", "description": "",
     "location": "", "auto_start": True,
     "transport": {"type": "serial", "params": {"port": "/dev/ttyUSB0", "baudrate": 9600}},
     "framing": {"type": "modbus_rtu", "params": {"slave_id": 1}}}

:func:`build_config` turns it into the dict ``lab.add_device`` takes. Descriptive fields (alias,
icon, description, location, auto_start) are only put into the config when the engine's validator
accepts them (``engine.validate.DEVICE_KEYS``); otherwise they are reported in ``notes`` and
``auto_start: false`` becomes ``enabled: false``, the closest thing the engine knows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ..driver.base import Category, Driver
from ..driver.registry import driver_classes, get_driver
from ..engine import validate
from ..engine.config import parse_lab_config
from ..engine.config_document import append_entry, dump, make_yaml, new_entry, update_mapping, uses_flow_sections
from ..engine.config_manager import entry_dict
from ..errors import ConfigValidationError
from ..transport.address import PARAMS_TYPES
from ..transport.registry import list_transports

#: English texts produced on the Python side (the browser's own texts are in js/src/wizard/strings.ts).
STRINGS = {
    "id_empty": "the device id is empty",
    "id_empty_hint": "Give the device a short name, e.g. `{suggestion}`.",
    "id_long": "the device id is longer than 64 characters",
    "id_chars": "the device id may only contain letters, digits, `_` and `-`",
    "id_chars_hint": "Replace spaces and other characters with `_`, e.g. `{suggestion}`.",
    "id_taken": "a device with the id {id!r} already exists",
    "id_taken_hint": "Pick another id, e.g. `{suggestion}`, or remove the existing device first.",
    "not_stored": "This version of the engine cannot store {fields}: left out of the device config.",
    "auto_start_enabled": "Auto-start is off: the device is added disabled (`enabled: false`) and not polled.",
    "no_file": "This lab was started without a config file: the YAML shows the lab's devices, nothing is written.",
    "not_in_file": "{id} is not in {file} (added from code?): the file is left as it is.",
    "bad_prefill": "unknown prefill key {key!r}",
    "bad_prefill_hint": "Prefill takes: {keys}.",
}

METADATA_KEYS = ("alias", "icon", "description", "location", "auto_start")
PREFILL_KEYS = ("driver", "id", "transport", "framing", *METADATA_KEYS, "step")
CATEGORY_ORDER = [c.value for c in Category]
MAX_ID = 64


# --- catalogue -----------------------------------------------------------------------------
def driver_info(cls: type[Driver]) -> dict[str, Any]:
    """One catalogue tile: name, category, icon, description and the ways to connect."""
    return {"name": cls.name, "category": str(cls.category), "icon": cls.icon, "description": cls.description,
            "blueprints": [bp.to_dict() for bp in cls.blueprints], "needs_link": cls.needs_link(),
            "usb_ids": [f"{v:04X}:{p:04X}" for v, p in cls.usb_ids]}


def catalogue() -> list[dict[str, Any]]:
    """Every loadable driver, by category (psu, load, bms, meter, virtual) then name."""
    rank = {c: i for i, c in enumerate(CATEGORY_ORDER)}
    items = [driver_info(cls) for cls in driver_classes().values()]
    return sorted(items, key=lambda d: (rank.get(d["category"], 99), d["name"].lower()))


def transport_status() -> dict[str, dict[str, Any]]:
    """``{"serial": {"available": True, "reason": ""}, ...}`` plus ``none`` (always available)."""
    status = {t.name: {"available": t.available, "reason": t.reason} for t in list_transports()}
    status["none"] = {"available": True, "reason": ""}
    return status


# --- ids -----------------------------------------------------------------------------------
def base_id(driver: str) -> str:
    """``DPS5005`` -> ``DPS5005``; characters an id may not hold become ``_``."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "_", driver).strip("_-")
    return base[: MAX_ID - 4] or "device"


def suggest_id(driver: str, taken: Iterable[str]) -> str:
    """The first free ``<driver>_<n>`` (``DPS5005_1``, ``DPS5005_2``, ...)."""
    used = set(taken)
    base = base_id(driver)
    n = 1
    while f"{base}_{n}" in used:
        n += 1
    return f"{base}_{n}"


def taken_ids(lab: Any) -> list[str]:
    """Ids of the lab's devices, of its config's entries and of the config file as it is now."""
    ids = list(getattr(lab, "devices", []))
    config = getattr(lab, "config", None)
    extra = list(getattr(config, "ids", []))
    manager = getattr(lab, "config_manager", None)
    if manager is not None:
        with contextlib.suppress(Exception):  # an unreadable file: the engine reports it when adding
            extra += manager.file_ids()
    for device_id in extra:
        if device_id not in ids:
            ids.append(device_id)
    return ids


def check_id(value: Any, taken: Iterable[str], *, original: str | None = None,
             driver: str = "device") -> dict[str, Any]:
    """Live check of a typed id: ``{"ok", "id", "message", "hint", "suggestion"}`` (never raises)."""
    used = [t for t in taken if t != original]
    text = value.strip() if isinstance(value, str) else ""
    suggestion = suggest_id(driver, used)
    out = {"ok": False, "id": text, "message": "", "hint": "", "suggestion": suggestion}
    if not text:
        out.update(message=STRINGS["id_empty"], hint=STRINGS["id_empty_hint"].format(suggestion=suggestion))
    elif len(text) > MAX_ID:
        out.update(message=STRINGS["id_long"], hint=STRINGS["id_chars_hint"].format(suggestion=text[:MAX_ID]))
    elif not validate.ID_PATTERN.match(text):
        fixed = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or suggestion
        out.update(message=STRINGS["id_chars"], hint=STRINGS["id_chars_hint"].format(suggestion=fixed[:MAX_ID]))
    elif text in used:
        out.update(message=STRINGS["id_taken"].format(id=text), hint=STRINGS["id_taken_hint"].format(
            suggestion=suggest_id(text.rsplit("_", 1)[0] if re.search(r"_\d+$", text) else text, used)))
    else:
        out["ok"] = True
    return out


# --- drafts --------------------------------------------------------------------------------
def _section(value: Any, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not isinstance(value.get("type"), str):
        raise ConfigValidationError(f"{name} must be a mapping with a `type`", path=name,
                                    hint=f"For example {{'type': 'serial', 'params': {{...}}}} for {name}.")
    params = value.get("params") or {}
    if not isinstance(params, Mapping):
        raise ConfigValidationError("must be a mapping", path=f"{name}.params", hint="For example `params: {}`.")
    return {"type": value["type"], "params": dict(params)}


def normalise_prefill(prefill: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check a ``prefill=`` mapping (driver, id, transport, framing, descriptive fields, step)."""
    out: dict[str, Any] = {}
    for key, value in dict(prefill or {}).items():
        if key not in PREFILL_KEYS:
            raise ConfigValidationError(STRINGS["bad_prefill"].format(key=key), path=f"prefill.{key}",
                                        hint=STRINGS["bad_prefill_hint"].format(keys=", ".join(PREFILL_KEYS)))
        out[key] = _section(value, key) if key in ("transport", "framing") else value
    if "driver" in out:
        try:
            get_driver(str(out["driver"]))
        except Exception as exc:
            raise ConfigValidationError(f"unknown driver {out['driver']!r}", path="prefill.driver",
                                        hint=getattr(exc, "hint", "") or "`ionpy info` lists the drivers.") from None
    return out


def draft_from_device(lab: Any, device_id: str) -> dict[str, Any]:
    """The draft of an existing device (edit mode): its config plus any descriptive fields."""
    lab[device_id]  # DeviceNotFoundError naming the known ids
    config = lab.manager.get(device_id).config
    data = config.to_dict()
    draft: dict[str, Any] = {"driver": data["driver"], "id": data["id"], "transport": data.get("transport"),
                             "framing": data.get("framing"), "auto_start": bool(getattr(config, "auto_start", True))}
    for key in METADATA_KEYS:
        value = getattr(config, key, None)
        if value is not None:
            draft[key] = value
    if draft["framing"] is None and draft["transport"] is not None:
        bp = get_driver(draft["driver"]).blueprint_for(draft["transport"]["type"])
        if bp is not None and bp.framing != "none":
            draft["framing"] = {"type": bp.framing, "params": dict(bp.framing_params)}
    return draft


def complete_draft(draft: Mapping[str, Any], taken: Iterable[str]) -> dict[str, Any]:
    """Fill what the chosen driver implies: a free id, its icon, auto-start, the first (or the
    given) blueprint's transport with its defaults under the given params, and its framing."""
    out = dict(draft)
    cls = get_driver(str(out.get("driver", "")))
    if not str(out.get("id") or "").strip():
        out["id"] = suggest_id(cls.name, taken)
    if not out.get("icon"):
        out["icon"] = cls.icon
    out.setdefault("auto_start", True)
    given = _section(out.get("transport"), "transport")
    types = [bp.transport for bp in cls.blueprints]
    if given is None or (types and given["type"] not in types):
        given = {"type": types[0] if types else "none", "params": {}}
    blueprint = cls.blueprint_for(given["type"])
    params = {**(blueprint.transport_params if blueprint else {}), **given["params"]}
    out["transport"] = {"type": given["type"], "params": params}
    framing = _section(out.get("framing"), "framing")
    if blueprint is None or blueprint.framing == "none":
        out["framing"] = framing if blueprint is None else None
    elif framing is None or framing["type"] != blueprint.framing:
        out["framing"] = {"type": blueprint.framing, "params": dict(blueprint.framing_params)}
    else:
        out["framing"] = {"type": framing["type"], "params": {**blueprint.framing_params, **framing["params"]}}
    return out


def engine_keys() -> set[str]:
    """The device keys the engine's validator accepts."""
    return set(validate.DEVICE_KEYS)


def _clean(params: Mapping[str, Any], kind: str = "") -> dict[str, Any]:
    """Params without empty values, in the transport dataclass's field order (port before baudrate)."""
    cls = PARAMS_TYPES.get(kind)
    order = {f.name: i for i, f in enumerate(dataclasses.fields(cls))} if cls is not None else {}
    kept = [(k, v) for k, v in params.items() if v is not None and v != ""]
    return dict(sorted(kept, key=lambda kv: order.get(kv[0], len(order))))


def _driver_icon(name: str) -> str | None:
    try:
        return get_driver(name).icon
    except Exception:  # an unknown driver is reported by the config check, not here
        return None


#: Keys the wizard edits; an edited device keeps every other key of its entry (enabled, options...).
MANAGED_KEYS = ("id", "driver", *METADATA_KEYS, "transport", "framing")


def build_config(draft: Mapping[str, Any], keys: set[str] | None = None, *,
                 base: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The ``lab.add_device`` dict for a draft, and notes about fields the engine cannot store.
    ``base``: the entry being edited; the keys the wizard does not manage are kept from it."""
    keys = engine_keys() if keys is None else keys
    config: dict[str, Any] = {"id": str(draft.get("id", "")).strip(), "driver": str(draft.get("driver", ""))}
    kept = {k: v for k, v in (base or {}).items() if k not in MANAGED_KEYS}
    notes: list[str] = []
    dropped: list[str] = []
    for key in METADATA_KEYS:
        value = draft.get(key)
        if key == "auto_start":
            if value is None or value is True:
                continue
            if key in keys:
                config[key] = False
            else:
                config["enabled"] = False
                notes.append(STRINGS["auto_start_enabled"])
            continue
        if key == "icon" and value == _driver_icon(config["driver"]):
            continue
        if isinstance(value, str) and value.strip():
            if key in keys:
                config[key] = value.strip()
            else:
                dropped.append(key)
    transport = _section(draft.get("transport"), "transport")
    if transport is not None and transport["type"] != "none":
        config["transport"] = {"type": transport["type"], "params": _clean(transport["params"], transport["type"])}
        framing = _section(draft.get("framing"), "framing")
        if framing is not None and framing["type"] != "none":
            config["framing"] = {"type": framing["type"], "params": _clean(framing["params"])}
    if dropped:
        notes.insert(0, STRINGS["not_stored"].format(fields=", ".join(dropped)))
    for key, value in kept.items():
        config.setdefault(key, value)
    return config, notes


# --- Python call -------------------------------------------------------------------------------
def py_literal(value: Any) -> str:
    """A Python literal with double-quoted strings (``{"port": "/dev/ttyUSB0", "exclusive": True}``)."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{py_literal(str(k))}: {py_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(py_literal(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def python_call(config: Mapping[str, Any], *, edit: str | None = None, update: bool = False) -> str:
    """``await lab.add_device({...})`` as the user would type it (edit mode: update or remove + add)."""
    items = [f"{py_literal(k)}: {py_literal(v)}" for k, v in config.items()]
    head = "await lab.update_device(" + py_literal(edit) + ", {" if edit and update else "await lab.add_device({"
    lines = [head + ", ".join(items[:2])]
    for item in items[2:]:
        lines[-1] += ","
        lines.append(" " * len(head) + item)
    code = "\n".join(lines) + "})"
    if edit and not update:
        code = f"await lab.remove_device({py_literal(edit)})\n" + code
    return code


# --- lab.yaml diff ------------------------------------------------------------------------------
def _document(lab: Any) -> tuple[Any, str, str, Path | None]:
    """The config document as the engine edits it (older files migrated), its text before, a label
    and the file (None for a lab started from a dict: its devices rendered as a file would be)."""
    config = getattr(lab, "config", None)
    path = getattr(config, "path", None)
    if path is not None and Path(path).exists():
        text = Path(path).read_text(encoding="utf-8")
        try:
            document = parse_lab_config(text, path, check_stack=False).document
        except ConfigValidationError:  # a hand-edited file the engine will refuse anyway: show it raw
            document = make_yaml(text).load(text)
        return (document if document is not None else CommentedMap()), text, Path(path).name, Path(path)
    document = CommentedMap()
    document["devices"] = CommentedSeq([new_entry(d.to_dict()) for d in getattr(config, "devices", [])])
    return document, dump(make_yaml(), document), "lab.yaml", None


def yaml_change(lab: Any, config: Mapping[str, Any], *, edit: str | None = None) -> dict[str, Any]:
    """The config file before and after adding ``config`` (or replacing device ``edit`` by it),
    edited exactly as the engine's ConfigManager will, and the unified diff:
    ``{"file", "path", "before", "after", "diff", "note"}``."""
    document, before, name, path = _document(lab)
    if not isinstance(document, CommentedMap):
        raise ConfigValidationError(f"{name} does not hold a mapping", path="",
                                    hint="Start the file with `devices:` followed by `- id: ...` entries.")
    devices = document.get("devices")
    data = entry_dict(dict(config))
    flow = uses_flow_sections(devices)
    index = next((i for i, d in enumerate(devices or []) if isinstance(d, Mapping) and d.get("id") == edit), None)
    note = "" if path else STRINGS["no_file"]
    if edit is not None and index is not None:
        update_mapping(devices[index], data, flow=flow)
    elif edit is not None and path is not None:
        note = STRINGS["not_in_file"].format(id=edit, file=name)
    else:
        append_entry(document, "devices", new_entry(data, flow=flow))
    after = dump(make_yaml(before if path else ""), document)
    diff = "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        fromfile=f"a/{name}", tofile=f"b/{name}"))
    return {"file": name, "path": str(path) if path else None, "before": before, "after": after, "diff": diff,
            "note": note}


def file_has_device(path: str | None, device_id: str) -> bool | None:
    """Whether the config file lists ``device_id`` (None when the lab has no file)."""
    if not path or not Path(path).exists():
        return None
    text = Path(path).read_text(encoding="utf-8")
    document = make_yaml(text).load(text) or {}
    devices = document.get("devices") if isinstance(document, Mapping) else None
    return any(isinstance(d, Mapping) and d.get("id") == device_id for d in devices or [])


__all__ = ["MANAGED_KEYS", "METADATA_KEYS", "PREFILL_KEYS", "STRINGS", "base_id", "build_config", "catalogue",
           "check_id", "complete_draft", "draft_from_device", "driver_info", "engine_keys", "file_has_device",
           "normalise_prefill", "py_literal", "python_call", "suggest_id", "taken_ids", "transport_status",
           "yaml_change"]
