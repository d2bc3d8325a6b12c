"""Field-by-field validation of one device entry; every error names its path.

Used by :mod:`.config` for ``lab.yaml`` entries (paths ``devices[i].…``) and by
``lab.add_device`` for a single dict (paths ``transport.params.port``…).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from ..driver.base import Driver
from ..driver.registry import get_driver
from ..driver.stack import build_stack, known_transport_types
from ..errors import ConfigValidationError, DeviceSpawnError, UnknownDriverError
from .alarm_config import check_alarms, check_limits

log = logging.getLogger(__name__)

DEVICE_KEYS = ("id", "driver", "enabled", "auto_start", "alias", "icon", "description", "location", "poll_interval",
               "transport", "framing", "options", "link", "alarms", "limits")
#: Descriptive text fields of a device entry and their longest allowed length.
TEXT_KEYS = {"alias": 64, "icon": 32, "description": 500, "location": 120}
SECTION_KEYS = ("type", "params")
LINK_KEYS = ("timeout", "retries", "trace")
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def plain(value: Any) -> Any:
    """Deep copy of YAML round-trip values as plain dicts, lists and scalars."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def check_device_id(value: Any, path: str = "id") -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise ConfigValidationError(f"invalid device id {value!r}", path=path,
                                    hint="Use 1-64 letters, digits, `_` or `-`, e.g. `DPS5005_1`.")
    return value


def _section(data: Mapping[str, Any], key: str, prefix: str) -> dict[str, Any] | None:
    raw = data.get(key)
    where = _join(prefix, key)
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigValidationError("must be a mapping with `type` and `params`", path=where,
                                    hint=f"For example `{key}: {{type: ..., params: {{...}}}}`.")
    for sub in raw:
        if sub not in SECTION_KEYS:
            raise ConfigValidationError(f"unknown key {sub!r}", path=f"{where}.{sub}",
                                        hint=f"`{key}` takes only `type` and `params`.")
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind:
        raise ConfigValidationError("missing or invalid `type`", path=f"{where}.type",
                                    hint=f"Give the {key} type as a string, e.g. `type: serial`.")
    params = raw.get("params")
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ConfigValidationError("must be a mapping", path=f"{where}.params", hint="For example `params: {}`.")
    return {"type": kind, "params": plain(params)}


def _mapping(data: Mapping[str, Any], key: str, prefix: str) -> dict[str, Any]:
    raw = data.get(key)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigValidationError("must be a mapping", path=_join(prefix, key), hint=f"For example `{key}: {{}}`.")
    return plain(raw)


def _check_link(link: Mapping[str, Any], prefix: str) -> None:
    where = _join(prefix, "link")
    for key, value in link.items():
        if key not in LINK_KEYS:
            raise ConfigValidationError(f"unknown key {key!r}", path=f"{where}.{key}",
                                        hint=f"Link options: {', '.join(LINK_KEYS)}.")
        if key == "timeout" and (not _is_number(value) or value <= 0):
            raise ConfigValidationError(f"must be a positive number of seconds, got {value!r}",
                                        path=f"{where}.timeout", hint="For example `timeout: 1.0`.")
        if key == "retries" and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ConfigValidationError(f"must be an integer >= 0, got {value!r}", path=f"{where}.retries",
                                        hint="For example `retries: 1`.")


def _text(data: Mapping[str, Any], key: str, prefix: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    longest = TEXT_KEYS[key]
    if not isinstance(value, str) or not value.strip() or len(value) > longest or "\n" in value:
        raise ConfigValidationError(f"must be one line of text (1-{longest} characters), got {value!r}",
                                    path=_join(prefix, key), hint=f"For example `{key}: {_EXAMPLES[key]}`.")
    return str(value)


_EXAMPLES = {"alias": "Left supply", "icon": "⚡", "description": "Heater supply", "location": "Bench 2, shelf A"}


def _flag(data: Mapping[str, Any], key: str, prefix: str) -> bool:
    value = data.get(key, True)
    if not isinstance(value, bool):
        raise ConfigValidationError(f"must be true or false, got {value!r}", path=_join(prefix, key),
                                    hint=f"Write `{key}: true` or `{key}: false`.")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _driver_class(name: Any, prefix: str) -> type[Driver] | None:
    where = _join(prefix, "driver")
    if not isinstance(name, str) or not name:
        raise ConfigValidationError("missing driver name", path=where,
                                    hint="Give the driver name, e.g. `driver: DPS5005` (`ionpy info` lists them).")
    try:
        return get_driver(name)
    except UnknownDriverError as exc:
        raise ConfigValidationError(f"unknown driver {name!r}", path=where, hint=exc.hint) from None
    except Exception as exc:  # installed but broken: the device will show the spawn error
        log.warning("driver %s cannot be loaded: %s", name, exc)
        return None


def check_device_mapping(data: Any, *, path: str = "", check_stack: bool = True) -> dict[str, Any]:
    """Validate one device entry; returns the keyword arguments of ``DeviceConfig``."""
    if not isinstance(data, Mapping):
        raise ConfigValidationError("a device entry must be a mapping", path=path,
                                    hint="Each entry needs at least `id`, `driver` and `transport`.")
    for key in data:
        if key not in DEVICE_KEYS:
            raise ConfigValidationError(f"unknown key {key!r}", path=_join(path, str(key)),
                                        hint=f"Allowed keys: {', '.join(DEVICE_KEYS)}.")
    if "id" not in data:
        raise ConfigValidationError("missing `id`", path=_join(path, "id"),
                                    hint="Give every device a unique id, e.g. `id: DPS5005_1`.")
    device_id = check_device_id(data["id"], _join(path, "id"))
    cls = _driver_class(data.get("driver"), path)
    transport = _section(data, "transport", path)
    framing = _section(data, "framing", path)
    if transport is None and (cls is None or cls.needs_link()):
        types = ", ".join(bp.transport for bp in cls.blueprints) if cls is not None else "serial, tcp, ..."
        raise ConfigValidationError("missing `transport`", path=_join(path, "transport"),
                                    hint=f"Give `transport: {{type: ..., params: {{...}}}}`; "
                                         f"this driver supports: {types}.")
    if transport is not None:
        known = known_transport_types()
        if transport["type"] not in known:
            raise ConfigValidationError(f"unknown transport type {transport['type']!r}",
                                        path=_join(path, "transport.type"),
                                        hint=f"Known transport types: {', '.join(sorted(known))}.")
    enabled = _flag(data, "enabled", path)
    auto_start = _flag(data, "auto_start", path)
    texts = {key: _text(data, key, path) for key in TEXT_KEYS}
    interval = data.get("poll_interval")
    if interval is not None and (not _is_number(interval) or not 0.01 <= interval <= 86400):
        raise ConfigValidationError(f"must be a number of seconds between 0.01 and 86400, got {interval!r}",
                                    path=_join(path, "poll_interval"), hint="For example `poll_interval: 0.5`.")
    options = _mapping(data, "options", path)
    link = _mapping(data, "link", path)
    _check_link(link, path)
    table = cls.ENTITIES if cls is not None else None
    alarms = check_alarms(plain(data.get("alarms")), _join(path, "alarms"), table)
    limits = check_limits(plain(data.get("limits")), _join(path, "limits"), table)
    kwargs = {"id": device_id, "driver": data["driver"], "transport": transport, "framing": framing,
              "enabled": enabled, "poll_interval": None if interval is None else float(interval),
              "options": options, "link": link, "auto_start": auto_start, "alarms": alarms, "limits": limits, **texts}
    if check_stack and cls is not None and enabled:
        _dry_build(cls, kwargs, path)
    return kwargs


def _dry_build(cls: type[Driver], kwargs: Mapping[str, Any], prefix: str) -> None:
    """Build the stack without opening anything, to surface params errors with their field path."""
    try:
        build_stack(cls, transport=kwargs["transport"], framing=kwargs["framing"], device_id=kwargs["id"],
                    link_options=kwargs["link"], options=kwargs["options"])
    except DeviceSpawnError as exc:
        cause = exc.cause
        if isinstance(cause, ConfigValidationError):
            message = cause.message.partition(": ")[2] if cause.path else cause.message
            raise ConfigValidationError(message, path=_join(prefix, cause.path) if cause.path else prefix,
                                        hint=cause.hint, stage=exc.stage.value) from None
        log.debug("device %s: stack not checked (%s)", kwargs["id"], exc)


__all__ = ["DEVICE_KEYS", "ID_PATTERN", "TEXT_KEYS", "check_device_id", "check_device_mapping", "plain"]
