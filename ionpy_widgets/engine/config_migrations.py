"""Config file migrations: each step turns version ``n`` into ``n + 1``, in place.

The steps edit the ruamel round-trip mapping in place (so the user's comments elsewhere survive)
and also work on plain dicts. :func:`migrate` runs every step from the file's version up to
:data:`~.config_schema.CONFIG_VERSION` and returns what it changed; nothing is written to disk
here — the :class:`~.config_manager.ConfigManager` saves the migrated form with its next write.

**Version 0** (files without ``version:``) described a device's connection with flat keys, or with
a ``params`` mapping and a ``type``/``transport`` string::

    - id: DPS5005_1               - id: PSU_1
      driver: DPS5005               driver: SCPI_PSU
      port: /dev/ttyUSB0            transport: tcp
      baudrate: 9600                params: {host: 10.0.0.5, port: 5025}
      slave_id: 1

Version 1 nests them: ``transport: {type, params}`` and ``framing: {type, params}`` (``slave_id``
goes to the framing the driver's blueprint names for that transport). Entries already in the
version 1 shape pass unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from ruamel.yaml.comments import CommentedMap

from .config_schema import CONFIG_VERSION, check_version

#: Flat v0 keys that belong in ``transport.params``, and the transport type each one implies.
TRANSPORT_KEYS: dict[str, str | None] = {
    "port": None, "baudrate": "serial", "bytesize": "serial", "parity": "serial", "stopbits": "serial",
    "host": "tcp", "connect_timeout": "tcp", "resource": "visa", "timeout_ms": "visa",
    "vendor_id": "hid", "product_id": "hid",
}
#: Flat v0 keys that belong in ``framing.params``.
FRAMING_KEYS = ("slave_id",)

Migration = Callable[[MutableMapping[str, Any]], list[str]]


def _guess_type(params: MutableMapping[str, Any]) -> str:
    for key in params:
        kind = TRANSPORT_KEYS.get(key)
        if kind is not None:
            return kind
    return "serial" if isinstance(params.get("port"), str) else "tcp"


def _put(entry: MutableMapping[str, Any], key: str, value: Any, position: int) -> None:
    if isinstance(entry, CommentedMap):
        entry.insert(min(position, len(entry)), key, value)
    else:
        items = list(entry.items())
        items.insert(position, (key, value))
        entry.clear()
        entry.update(items)


def _section(kind: str, params: dict[str, Any]) -> MutableMapping[str, Any]:
    section: MutableMapping[str, Any] = CommentedMap()
    section["type"] = kind
    section["params"] = CommentedMap(params)
    section["params"].fa.set_flow_style()
    section.fa.set_flow_style()
    return section


def _framing_type(driver: Any, transport: str) -> str | None:
    from ..driver.registry import get_driver

    try:
        blueprint = get_driver(str(driver)).blueprint_for(transport)
    except Exception:  # an unknown driver is reported by validation, with its path
        return None
    return blueprint.framing if blueprint is not None and blueprint.framing != "none" else None


def _device_v0_to_v1(entry: MutableMapping[str, Any]) -> bool:
    keys = list(entry)
    flat = [k for k in keys if k in TRANSPORT_KEYS]
    legacy_params = entry.get("params")
    type_name = entry.get("type")
    transport = entry.get("transport")
    if isinstance(transport, str):
        type_name = transport
    if not flat and legacy_params is None and not isinstance(transport, str) and type_name is None:
        return False
    moved = [k for k in (*flat, "params", "type") if k in entry]
    if isinstance(transport, str):
        moved.append("transport")
    position = min(keys.index(k) for k in moved)
    params: dict[str, Any] = dict(legacy_params) if isinstance(legacy_params, MutableMapping) else {}
    params.update({k: entry[k] for k in flat})
    for key in moved:
        del entry[key]
    kind = str(type_name) if isinstance(type_name, str) and type_name else _guess_type(params)
    _put(entry, "transport", _section(kind, params), position)
    framing_params = {k: entry[k] for k in FRAMING_KEYS if k in entry}
    framing_type = _framing_type(entry.get("driver"), kind)
    if framing_params and framing_type is not None and "framing" not in entry:
        for key in framing_params:
            del entry[key]
        _put(entry, "framing", _section(framing_type, framing_params), list(entry).index("transport") + 1)
    return True


def v0_to_v1(data: MutableMapping[str, Any]) -> list[str]:
    """Nest each device's flat connection keys under ``transport``/``framing`` (see module docstring)."""
    notes = []
    devices = data.get("devices")
    if isinstance(devices, list):
        for index, entry in enumerate(devices):
            if isinstance(entry, MutableMapping) and _device_v0_to_v1(entry):
                notes.append(f"devices[{index}]: connection keys moved under `transport`")
    return notes


#: ``from version -> step``; each step is followed by ``version: from + 1``.
MIGRATIONS: dict[int, Migration] = {0: v0_to_v1}


def migrate(data: MutableMapping[str, Any]) -> tuple[int, list[str]]:
    """Bring ``data`` (edited in place) to :data:`CONFIG_VERSION`; returns ``(old version, notes)``.
    A file newer than this code, or a malformed ``version``, raises ConfigValidationError."""
    start = version = check_version(data)
    notes: list[str] = []
    while version < CONFIG_VERSION:
        notes.extend(MIGRATIONS[version](data))
        version += 1
    if start != CONFIG_VERSION:
        if "version" in data:
            data["version"] = CONFIG_VERSION
        else:
            _put(data, "version", CONFIG_VERSION, 0)
    return start, notes


__all__ = ["FRAMING_KEYS", "MIGRATIONS", "TRANSPORT_KEYS", "migrate", "v0_to_v1"]
