"""The three log formats, parsed back."""

from __future__ import annotations

from proxy_support import Harness

from bastion.dataplane.proxy.logs import (
    DNS_FIELDS,
    FLOW_FIELDS,
    parse_access_line,
    parse_dns_line,
    parse_flow_line,
)


def test_access_log(harness: Harness) -> None:
    harness.get("/small")
    harness.get("/small", auth=None)
    harness.get("/small", host="private.test")
    lines = [parse_access_line(line) for line in harness.flush_logs()["access"]]
    ok, auth, denied = lines
    assert ok["code"] == "TCP_MISS" and ok["status"] == 200 and ok["bytes"] == 5
    assert ok["user"] == "alice" and ok["method"] == "GET"
    assert ok["url"] == f"http://127.0.0.1:{harness.upstream.port}/small"
    assert ok["hierarchy"] == "HIER_DIRECT/127.0.0.1" and ok["type"] == "text/plain"
    assert ok["rule"] == "allow-test-upstream" and ok["client"] == "127.0.0.1"
    assert (auth["code"], auth["status"], auth["user"]) == ("TCP_DENIED", 407, "-")
    assert (denied["code"], denied["status"]) == ("TCP_DENIED", 403)
    assert denied["rule"] == "default-private-ranges"
    assert abs(ok["time"] - harness.clock.now().timestamp()) < 1


def test_flow_log(harness: Harness) -> None:
    conn = harness.conn()
    harness.get("/small", conn=conn)
    harness.get("/small", host="private.test", conn=conn)
    conn.close()
    lines = harness.log_lines("flow", lambda line: f" {harness.port} " in line)
    records = [parse_flow_line(line) for line in lines]
    assert all(tuple(r) == FLOW_FIELDS and r["version"] == "2" for r in records)
    assert all(r["interface-id"].startswith("eni-") and r["protocol"] == "6" for r in records)
    assert all(r["account-id"] == "000000000000" for r in records)
    rejected = [r for r in records if r["action"] == "REJECT"]
    assert (
        rejected
        and rejected[0]["dstaddr"] == "10.0.0.5"
        and rejected[0]["dstport"] == str(harness.upstream.port)
    )
    to_proxy = [r for r in records if r["dstport"] == str(harness.port)]
    assert to_proxy and to_proxy[0]["action"] == "ACCEPT" and int(to_proxy[0]["bytes"]) > 0
    assert int(to_proxy[0]["start"]) <= int(to_proxy[0]["end"])
    assert all(r["log-status"] == "OK" for r in records)


def test_resolver_query_log(harness: Harness) -> None:
    harness.get("/small", host="upstream.test")
    harness.get("/small", host="upstream.test")  # cached: no second lookup
    harness.get("/small", host="nxdomain.test")
    records = [parse_dns_line(line) for line in harness.flush_logs()["dns"]]
    assert all(set(DNS_FIELDS) <= set(r) for r in records)
    a = [r for r in records if r["query_name"] == "upstream.test." and r["query_type"] == "A"]
    assert len(a) == 1
    assert a[0]["rcode"] == "NOERROR" and a[0]["query_class"] == "IN"
    assert a[0]["answers"] == [{"Rdata": "127.0.0.1", "Type": "A", "Class": "IN"}]
    assert a[0]["query_timestamp"].endswith("Z") and a[0]["version"] == "1.100000"
    nx = [r for r in records if r["query_name"] == "nxdomain.test."]
    assert nx and nx[0]["rcode"] == "NXDOMAIN" and nx[0]["answers"] == []
