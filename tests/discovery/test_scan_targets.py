"""Scan-target parsing: CIDR, ranges, lists and host names, with a hard cap."""

from __future__ import annotations

import pytest

from ionpy_widgets.discovery.network import ScanTargetError, ScanTooLargeError, parse_targets


def test_cidr_gives_usable_hosts() -> None:
    hosts = parse_targets("127.0.0.0/24")
    assert len(hosts) == 254 and hosts[0] == "127.0.0.1" and hosts[-1] == "127.0.0.254"
    assert parse_targets("127.0.0.5/32") == ["127.0.0.5"]
    assert parse_targets("127.0.0.4/31") == ["127.0.0.4", "127.0.0.5"]
    assert parse_targets("127.0.0.9/30") == ["127.0.0.9", "127.0.0.10"]  # host bits allowed


def test_ranges_full_and_shorthand() -> None:
    assert parse_targets("127.0.0.1-127.0.0.254") == parse_targets("127.0.0.0/24")
    assert parse_targets("127.0.0.1-20") == [f"127.0.0.{i}" for i in range(1, 21)]
    assert parse_targets("127.0.0.250-127.0.1.2") == ["127.0.0.250", "127.0.0.251", "127.0.0.252", "127.0.0.253",
                                                     "127.0.0.254", "127.0.0.255", "127.0.1.0", "127.0.1.1",
                                                     "127.0.1.2"]
    assert parse_targets("127.0.0.7-7") == ["127.0.0.7"]


def test_lists_hostnames_and_duplicates() -> None:
    hosts = parse_targets("127.0.0.1, 127.0.0.2 127.0.0.1\n localhost,Scope-1.Lab.local. ::1")
    assert hosts == ["127.0.0.1", "127.0.0.2", "localhost", "scope-1.lab.local", "::1"]


@pytest.mark.parametrize(("text", "match"), [
    ("", "no scan targets"),
    (" , ", "no scan targets"),
    ("127.0.0.20-10", "ends before it starts"),
    ("127.0.0.1-300", "above 255"),
    ("127.0.0.1-::1", "mixes IPv4 and IPv6"),
    ("127.0.0.1-abc", "not an IP address"),
    ("127.0.0.0/33", "not a network"),
    ("1.2.3", "neither"),
    ("1.2.3-5", "neither"),
    ("bad_name!", "neither"),
])
def test_bad_targets_raise_with_examples(text: str, match: str) -> None:
    with pytest.raises(ScanTargetError, match=match) as info:
        parse_targets(text)
    assert info.value.path == "targets" and info.value.hint
    assert info.value.to_dict()["code"] == "scan_targets_invalid"


def test_cap_is_checked_before_expanding() -> None:
    with pytest.raises(ScanTooLargeError) as info:
        parse_targets("198.0.0.0/8")  # parsed only: the cap refuses it before any host is listed
    err = info.value
    assert err.code == "scan_too_large" and err.details["max_hosts"] == 1024 and "/24" in err.hint
    assert "16,777,214" in err.message
    with pytest.raises(ScanTooLargeError):
        parse_targets("127.0.0.1-127.0.5.0")
    with pytest.raises(ScanTooLargeError):
        parse_targets("127.0.0.0/24 127.0.1.0/24 127.0.2.0/24 127.0.3.0/24 127.0.4.0/24")
    assert len(parse_targets("127.0.0.0/22")) == 1022
    assert len(parse_targets("127.0.0.0/24 127.0.1.0/24 127.0.2.0/24 127.0.3.0/24 127.0.4.1-7")) == 1023
    assert len(parse_targets("127.0.0.0/24", max_hosts=254)) == 254
    with pytest.raises(ScanTooLargeError):
        parse_targets("127.0.0.1, 127.0.0.2, 127.0.0.3", max_hosts=2)
