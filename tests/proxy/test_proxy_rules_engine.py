"""The pure rules engine (no sockets)."""

from __future__ import annotations

import ipaddress

import pytest

from bastion.rules.proxy_rules import (
    NEED_IP,
    BlockLists,
    RequestView,
    RuleError,
    RuleSet,
    RuleSpec,
    parse_list,
)


def ip(text: str):
    return ipaddress.ip_address(text)


def test_default_denies_private_ranges() -> None:
    rules = RuleSet()
    view = RequestView("example.com", 80)
    for addr in (
        "127.0.0.1",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.0.1",
        "169.254.169.254",
        "::1",
        "fd12::1",
        "fe80::1",
        "0.0.0.0",
        "100.64.1.1",
        "::ffff:127.0.0.1",
    ):
        assert rules.evaluate(view, ip(addr)).rule == "default-private-ranges", addr
    assert rules.evaluate(view, ip("93.184.216.34")).allowed


def test_domain_allow_does_not_unlock_private_address() -> None:
    rules = RuleSet([RuleSpec("ok", "allow", domain="example.com", domain_match="suffix")])
    view = RequestView("www.example.com", 80)
    assert rules.evaluate(view).allowed
    assert not rules.evaluate(view, ip("10.0.0.1")).allowed
    explicit = RuleSet([RuleSpec("lan", "allow", cidr="10.0.0.0/8")])
    assert explicit.evaluate(view) is NEED_IP
    assert explicit.evaluate(view, ip("10.0.0.1")).rule == "lan"


def test_bad_rules_rejected() -> None:
    for spec in (
        RuleSpec("x", "maybe"),
        RuleSpec("x", "deny", cidr="not-a-net"),
        RuleSpec("x", "deny", ports="0"),
        RuleSpec("x", "deny", path="("),
        RuleSpec("x", "deny", domain="a", domain_match="fuzzy"),
    ):
        with pytest.raises(RuleError):
            RuleSet([spec])


def test_parse_lists() -> None:
    text = "# c\n0.0.0.0 a.test b.test\n127.0.0.1 localhost\nc.test # trailing\n\n"
    assert parse_list(text, "domain") == ["a.test", "b.test", "c.test"]
    assert parse_list("1.2.3.4\n10.0.0.0/8 # net\n", "ip") == ["1.2.3.4", "10.0.0.0/8"]
    with pytest.raises(RuleError):
        parse_list("nope\n", "ip")


def test_block_list_subdomains_and_networks() -> None:
    lists = BlockLists()
    lists.add("m", "domain", ["evil.test"])
    lists.add("n", "ip", ["203.0.113.0/24"])
    rules = RuleSet([], lists)
    assert rules.evaluate(RequestView("a.b.evil.test", 80)).rule == "list:m"
    assert rules.evaluate(RequestView("notevil.test", 80)).allowed
    assert rules.evaluate(RequestView("x.test", 80), ip("203.0.113.9")).rule == "list:n"
