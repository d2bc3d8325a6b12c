"""Parsing what a user types as scan targets into a bounded list of hosts.

Accepted, separated by commas and/or whitespace: single addresses (``127.0.0.5``, ``::1``), CIDR
blocks (``127.0.0.0/24`` -> the 254 usable hosts), ranges (``127.0.0.1-127.0.0.254`` or the
last-octet shorthand ``127.0.0.1-20``) and host names (``scope.lab.local``, kept as typed and
resolved only when probed). The expansion is capped (1,024 hosts by default) *before* any list is
built, so a typo like ``/8`` fails fast with a hint instead of scanning 16 million addresses.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ..errors import ConfigValidationError

DEFAULT_MAX_HOSTS = 1024
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]"
                       r"(?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
_EXAMPLES = "Examples: 192.168.1.0/24, 192.168.1.10-192.168.1.40, 192.168.1.10-40, 10.0.0.5, scope.lab.local."


class ScanTargetError(ConfigValidationError):
    """A scan target the parser cannot read."""

    code = "scan_targets_invalid"

    def __init__(self, message: str, *, hint: str | None = None, **details: Any) -> None:
        super().__init__(message, path="targets", hint=hint or _EXAMPLES, **details)


class ScanTooLargeError(ScanTargetError):
    """The targets expand to more hosts than the cap allows."""

    code = "scan_too_large"


def _address(text: str, token: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ScanTargetError(f"{text!r} in {token!r} is not an IP address", token=token) from None


def _range(token: str) -> tuple[int, int, int]:
    """(first, last, version) of ``a-b``; ``b`` may be a full address or an IPv4 last octet."""
    left, _, right = token.partition("-")
    first = _address(left.strip(), token)
    right = right.strip()
    if first.version == 4 and right.isdigit():
        octet = int(right)
        if octet > 255:
            raise ScanTargetError(f"last octet {octet} in {token!r} is above 255", token=token)
        last_int = (int(first) & ~0xFF) | octet
    else:
        last = _address(right, token)
        if last.version != first.version:
            raise ScanTargetError(f"{token!r} mixes IPv4 and IPv6", token=token)
        last_int = int(last)
    if last_int < int(first):
        raise ScanTargetError(f"range {token!r} ends before it starts", token=token,
                              hint="Write the lower address first, e.g. 192.168.1.10-192.168.1.40.")
    return int(first), last_int, first.version


def _too_large(count: int, cap: int, token: str) -> ScanTooLargeError:
    return ScanTooLargeError(
        f"the targets expand to at least {count:,} hosts, above the limit of {cap:,}", token=token, hosts=count,
        max_hosts=cap, hint="Scan a smaller block (a /24 is 254 hosts) or a range of the addresses your instruments "
                            "use; raise max_hosts only if you really mean it.")


def parse_targets(text: str, *, max_hosts: int = DEFAULT_MAX_HOSTS) -> list[str]:
    """Expand ``text`` into host strings (order kept, duplicates removed), at most ``max_hosts``.

    Raises :class:`ScanTargetError` for unreadable input and :class:`ScanTooLargeError` when the
    expansion would exceed ``max_hosts``.
    """
    tokens = [t for t in re.split(r"[,\s]+", text.strip()) if t]
    if not tokens:
        raise ScanTargetError("no scan targets given")
    hosts: dict[str, None] = {}

    def add(host: str, token: str) -> None:
        hosts[host] = None
        if len(hosts) > max_hosts:
            raise _too_large(len(hosts), max_hosts, token)

    for token in tokens:
        if "/" in token:
            try:
                net = ipaddress.ip_network(token, strict=False)
            except ValueError as exc:
                raise ScanTargetError(f"{token!r} is not a network: {exc}", token=token) from None
            usable = net.num_addresses - (2 if net.version == 4 and net.prefixlen < 31 else 0)
            if len(hosts) + usable > max_hosts:
                raise _too_large(len(hosts) + usable, max_hosts, token)
            for ip in net.hosts():
                add(str(ip), token)
        elif "-" in token and _is_ip(token.partition("-")[0]):
            first, last, version = _range(token)
            if len(hosts) + last - first + 1 > max_hosts:
                raise _too_large(len(hosts) + last - first + 1, max_hosts, token)
            for value in range(first, last + 1):
                add(str(ipaddress.ip_address(value) if version == 4 else ipaddress.IPv6Address(value)), token)
        elif _is_ip(token):
            add(str(ipaddress.ip_address(token)), token)
        elif _HOSTNAME.match(token) and not re.fullmatch(r"[\d-]+", token.rstrip(".").rsplit(".", 1)[-1]):
            add(token.lower().rstrip("."), token)
        else:
            raise ScanTargetError(f"{token!r} is neither an address, a network, a range nor a host name", token=token)
    return list(hosts)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
