"""Authentication and every filter kind, allowing and denying, through the real proxy."""

from __future__ import annotations

import http.client

import pytest
from proxy_support import Harness, basic, loopback_rules

from bastion.rules.proxy_rules import RuleSpec


def _denied_by(result: tuple[int, dict[str, str], bytes], rule: str) -> bool:
    status, headers, body = result
    return status == 403 and headers.get("x-bastion-rule") == rule and rule.encode() in body


# ------------------------------------------------------------------- authentication


def test_auth_required(harness: Harness) -> None:
    status, headers, _ = harness.get("/small", auth=None)
    assert status == 407
    assert headers["proxy-authenticate"].startswith("Basic")
    assert harness.upstream.hits.get("/small") is None


def test_auth_refused(harness: Harness) -> None:
    assert harness.get("/small", auth=basic(password="wrong"))[0] == 407
    assert harness.get("/small", auth=basic(user="mallory"))[0] == 407
    assert harness.get("/small", auth="Basic !!!notbase64")[0] == 407
    assert harness.get("/small", auth="Bearer abc")[0] == 407


def test_auth_then_retry_on_same_connection(harness: Harness) -> None:
    conn = harness.conn()
    assert harness.get("/small", auth=None, conn=conn)[0] == 407
    assert harness.get("/small", conn=conn)[:3:2] == (200, b"hello")


def test_verification_is_cached(harness: Harness) -> None:
    harness.get("/small")
    known, identity = harness.proxy.auth.cached(basic().encode())
    assert known and identity is not None and identity.user == "alice"
    assert harness.proxy.auth.cached(basic(password="x").encode()) == (False, None)


def test_connect_requires_auth(harness: Harness) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", harness.port, timeout=5)
    conn.set_tunnel("127.0.0.1", harness.upstream.port)
    with pytest.raises(OSError, match="407"):
        conn.request("GET", "/small")


# ------------------------------------------------------------------------ filters


def _with(harness: Harness, *rules: RuleSpec) -> None:
    harness.set_rules(*rules, *loopback_rules(str(harness.upstream.port)))


@pytest.mark.parametrize(
    ("domain", "match", "host_blocked", "host_allowed"),
    [
        ("upstream.test", "exact", "upstream.test", "127.0.0.1"),
        ("test", "suffix", "upstream.test", "127.0.0.1"),
        ("up*.t?st", "wildcard", "upstream.test", "127.0.0.1"),
        (r"^up.*\.test$", "regex", "upstream.test", "127.0.0.1"),
    ],
)
def test_domain_rules(harness: Harness, domain, match, host_blocked, host_allowed) -> None:
    assert harness.get("/small", host=host_blocked)[0] == 200
    _with(harness, RuleSpec("no-dom", "deny", 1, domain=domain, domain_match=match))
    assert _denied_by(harness.get("/small", host=host_blocked), "no-dom")
    assert harness.get("/small", host=host_allowed)[0] == 200


def test_ip_rule_after_dns(harness: Harness) -> None:
    _with(harness, RuleSpec("no-lo", "deny", 1, cidr="127.0.0.0/30"))
    assert _denied_by(harness.get("/small", host="upstream.test"), "no-lo")
    assert _denied_by(harness.get("/small"), "no-lo")


def test_port_rule(harness: Harness) -> None:
    port = harness.upstream.port
    _with(harness, RuleSpec("no-port", "deny", 1, ports=f"{port}"))
    assert _denied_by(harness.get("/small"), "no-port")
    _with(harness, RuleSpec("no-port", "deny", 1, ports=f"1-{port - 1}"))
    assert harness.get("/small")[0] == 200


def test_method_rule(harness: Harness) -> None:
    _with(harness, RuleSpec("no-post", "deny", 1, methods="POST,PUT"))
    assert _denied_by(harness.get("/echo", method="POST", body=b"x"), "no-post")
    assert harness.get("/echo")[0] == 200


def test_path_rule(harness: Harness) -> None:
    _with(harness, RuleSpec("no-malware", "deny", 1, path=r"/malware/|\.exe$"))
    assert _denied_by(harness.get("/malware/x"), "no-malware")
    assert _denied_by(harness.get("/setup.exe"), "no-malware")
    assert harness.get("/small")[0] == 200


def test_source_rule(harness: Harness) -> None:
    _with(harness, RuleSpec("no-lo-clients", "deny", 1, source="127.0.0.0/8"))
    assert _denied_by(harness.get("/small"), "no-lo-clients")
    _with(harness, RuleSpec("no-lan-clients", "deny", 1, source="192.168.0.0/16"))
    assert harness.get("/small")[0] == 200


def test_per_user_rule(harness: Harness) -> None:
    _with(harness, RuleSpec("alice-no", "deny", 1, users="alice"))
    assert _denied_by(harness.get("/small"), "alice-no")
    _with(harness, RuleSpec("bob-no", "deny", 1, users="bob"))
    assert harness.get("/small")[0] == 200


def test_allow_list_mode(harness: Harness) -> None:
    harness.set_rules(*loopback_rules(str(harness.upstream.port)), default_action="deny")
    assert harness.get("/small")[0] == 200  # explicitly allowed
    assert _denied_by(harness.get("/small", host="upstream.test", port=1), "default")


def test_rule_order_first_match_wins(harness: Harness) -> None:
    _with(
        harness,
        RuleSpec("allow-small", "allow", 1, path="^/small$", cidr="127.0.0.1/32"),
        RuleSpec("deny-all-paths", "deny", 2, path="."),
    )
    assert harness.get("/small")[0] == 200
    assert _denied_by(harness.get("/echo"), "deny-all-paths")


def test_connect_filtered(harness: Harness) -> None:
    _with(harness, RuleSpec("no-tunnels", "deny", 1, methods="CONNECT"))
    conn = http.client.HTTPConnection("127.0.0.1", harness.port, timeout=5)
    conn.set_tunnel("127.0.0.1", harness.upstream.port, headers={"Proxy-Authorization": basic()})
    with pytest.raises(OSError, match="403"):
        conn.request("GET", "/small")


# ------------------------------------------------------- SSRF and DNS rebinding


@pytest.mark.parametrize("name", ["rebind.test", "private.test", "meta.test", "v6.test"])
def test_names_resolving_to_private_ranges_denied(harness: Harness, name: str) -> None:
    before = harness.upstream.connections
    result = harness.get("/small", host=name)
    assert _denied_by(result, "default-private-ranges")
    assert harness.upstream.connections == before  # denied before any connect


def test_mixed_answers_connect_only_to_checked_address(harness: Harness) -> None:
    # mixed.test -> [10.0.0.5, 127.0.0.1]: 10.0.0.5 is dropped, 127.0.0.1 is not named
    # by the allow rule either (which allows only the name upstream.test and 127.0.0.1)
    assert _denied_by(harness.get("/small", host="mixed.test"), "default-private-ranges")


def test_private_literals_denied_without_connecting(harness: Harness) -> None:
    for host in ("10.1.2.3", "192.168.1.1", "169.254.169.254", "[fd00::1]", "100.64.0.1"):
        assert _denied_by(harness.get("/small", host=host, port=80), "default-private-ranges")


def test_connect_to_private_name_denied(harness: Harness) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", harness.port, timeout=5)
    conn.set_tunnel("private.test", 443, headers={"Proxy-Authorization": basic()})
    with pytest.raises(OSError, match="403"):
        conn.request("GET", "/")


def test_unknown_name(harness: Harness) -> None:
    assert harness.get("/small", host="nxdomain.test")[0] == 503


# --------------------------------------------------------------------- block lists


def test_block_lists(harness: Harness, tmp_path) -> None:
    from bastion.rules.proxy_rules import BlockLists, RuleSet, parse_list

    hosts = "# malware\n0.0.0.0 upstream.test other.test\n127.0.0.1 localhost\n"
    lists = BlockLists()
    lists.add("malware", "domain", parse_list(hosts, "domain"))
    lists.add("bad-ips", "ip", parse_list("127.0.0.1\n", "ip"))
    rules = RuleSet(loopback_rules(str(harness.upstream.port)), lists)
    harness.lt.call(lambda: harness.proxy.set_rules(rules))
    assert _denied_by(harness.get("/small", host="upstream.test"), "list:malware")
    assert _denied_by(harness.get("/small"), "list:bad-ips")
