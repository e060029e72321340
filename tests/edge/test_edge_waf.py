"""End to end with boto3: IP set, regex set, rule group and a web ACL with AWS managed
groups and a rate rule, associated with an edge listener in front of a real app."""

from __future__ import annotations

import http.client
import json
import time
from datetime import timedelta

import pytest
from edge_support import create_alb

UA = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", "Host": "shop.example"}


def vis(name: str, sampled: bool = True) -> dict:
    return {"SampledRequestsEnabled": sampled, "CloudWatchMetricsEnabled": True, "MetricName": name}


def _request(
    port: int,
    path: str,
    headers: dict | None = None,
    method: str = "GET",
    body: bytes | None = None,
):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=body, headers={**UA, **(headers or {})})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def _web_acl(waf, account: str, ip_arn: str, regex_arn: str, group_arn: str) -> dict:
    rules = [
        {
            "Name": "BlockListedIPs",
            "Priority": 0,
            "Statement": {
                "AndStatement": {
                    "Statements": [
                        {"IPSetReferenceStatement": {"ARN": ip_arn}},
                        {
                            "ByteMatchStatement": {
                                "SearchString": b"1",
                                "FieldToMatch": {"SingleHeader": {"Name": "x-block-me"}},
                                "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
                                "PositionalConstraint": "EXACTLY",
                            }
                        },
                    ]
                }
            },
            "Action": {"Block": {}},
            "VisibilityConfig": vis("BlockListedIPs"),
        },
        {
            "Name": "CountSecrets",
            "Priority": 1,
            "Statement": {
                "RegexPatternSetReferenceStatement": {
                    "ARN": regex_arn,
                    "FieldToMatch": {"UriPath": {}},
                    "TextTransformations": [{"Priority": 0, "Type": "LOWERCASE"}],
                }
            },
            "Action": {"Count": {}},
            "RuleLabels": [{"Name": "secret:path"}],
            "VisibilityConfig": vis("CountSecrets"),
        },
        {
            "Name": "MyGroup",
            "Priority": 2,
            "Statement": {"RuleGroupReferenceStatement": {"ARN": group_arn}},
            "OverrideAction": {"None": {}},
            "VisibilityConfig": vis("MyGroup"),
        },
        {
            "Name": "AWS-AWSManagedRulesCommonRuleSet",
            "Priority": 3,
            "Statement": {
                "ManagedRuleGroupStatement": {
                    "VendorName": "AWS",
                    "Name": "AWSManagedRulesCommonRuleSet",
                }
            },
            "OverrideAction": {"None": {}},
            "VisibilityConfig": vis("CRS"),
        },
        {
            "Name": "AWS-AWSManagedRulesSQLiRuleSet",
            "Priority": 4,
            "Statement": {
                "ManagedRuleGroupStatement": {
                    "VendorName": "AWS",
                    "Name": "AWSManagedRulesSQLiRuleSet",
                }
            },
            "OverrideAction": {"None": {}},
            "VisibilityConfig": vis("SQLi"),
        },
        {
            "Name": "RateLimit",
            "Priority": 5,
            "Statement": {
                "RateBasedStatement": {
                    "Limit": 10,
                    "EvaluationWindowSec": 60,
                    "AggregateKeyType": "IP",
                    "ScopeDownStatement": {
                        "ByteMatchStatement": {
                            "SearchString": b"/rate",
                            "FieldToMatch": {"UriPath": {}},
                            "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
                            "PositionalConstraint": "STARTS_WITH",
                        }
                    },
                }
            },
            "Action": {
                "Block": {
                    "CustomResponse": {
                        "ResponseCode": 429,
                        "CustomResponseBodyKey": "slow-down",
                        "ResponseHeaders": [{"Name": "retry-after", "Value": "60"}],
                    }
                }
            },
            "VisibilityConfig": vis("RateLimit"),
        },
    ]
    return waf.create_web_acl(
        Name="shop-acl",
        Scope="REGIONAL",
        DefaultAction={"Allow": {}},
        Rules=rules,
        VisibilityConfig=vis("shop-acl"),
        CustomResponseBodies={
            "slow-down": {"ContentType": "APPLICATION_JSON", "Content": '{"error":"rate limited"}'}
        },
    )["Summary"]


@pytest.fixture
def protected(edge_server, upstream):
    alb = create_alb(edge_server, [upstream.port], name="shop")
    waf = edge_server.client("wafv2")
    account = edge_server.runtime.settings.account_id
    ip_set = waf.create_ip_set(
        Name="blocked",
        Scope="REGIONAL",
        IPAddressVersion="IPV4",
        Addresses=["127.0.0.1/32", "192.0.2.0/24"],
    )["Summary"]
    regex = waf.create_regex_pattern_set(
        Name="secrets",
        Scope="REGIONAL",
        RegularExpressionList=[{"RegexString": "^/secret"}, {"RegexString": r"\.env$"}],
    )["Summary"]
    group = waf.create_rule_group(
        Name="evil",
        Scope="REGIONAL",
        Capacity=50,
        VisibilityConfig=vis("evil"),
        CustomResponseBodies={"nope": {"ContentType": "TEXT_PLAIN", "Content": "nope"}},
        Rules=[
            {
                "Name": "EvilHeader",
                "Priority": 0,
                "Statement": {
                    "ByteMatchStatement": {
                        "SearchString": b"evil",
                        "FieldToMatch": {"SingleHeader": {"Name": "x-evil"}},
                        "TextTransformations": [{"Priority": 0, "Type": "LOWERCASE"}],
                        "PositionalConstraint": "CONTAINS",
                    }
                },
                "Action": {
                    "Block": {
                        "CustomResponse": {"ResponseCode": 418, "CustomResponseBodyKey": "nope"}
                    }
                },
                "RuleLabels": [{"Name": "evil:header"}],
                "VisibilityConfig": vis("EvilHeader"),
            }
        ],
    )["Summary"]
    acl = _web_acl(waf, account, ip_set["ARN"], regex["ARN"], group["ARN"])
    waf.put_logging_configuration(
        LoggingConfiguration={
            "ResourceArn": acl["ARN"],
            "LogDestinationConfigs": [
                f"arn:aws:logs:us-east-1:{account}:log-group:aws-waf-logs-shop"
            ],
            "RedactedFields": [{"SingleHeader": {"Name": "authorization"}}],
        }
    )
    waf.associate_web_acl(WebACLArn=acl["ARN"], ResourceArn=alb["lb"])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if _request(alb["port"], "/", {"x-block-me": "1"})[0].status == 403:
            break
        time.sleep(0.05)
    return {
        "alb": alb,
        "acl": acl,
        "waf": waf,
        "account": account,
        "app": upstream,
        "server": edge_server,
    }


def test_allowed_blocked_counted_with_labels_logs_and_samples(protected, clock):
    port = protected["alb"]["port"]
    app = protected["app"]
    seen_before = len(app.seen)

    resp, data = _request(port, "/products?page=2", {"Authorization": "Bearer secret"})
    assert resp.status == 200 and json.loads(data)["path"] == "/products?page=2"

    resp, data = _request(port, "/search?q=1%27%20OR%20%271%27%3D%271")
    assert resp.status == 403 and b"403 Forbidden" in data

    resp, data = _request(port, "/", {"X-Evil": "Very EVIL"})
    assert (resp.status, data) == (418, b"nope")

    resp, data = _request(port, "/secret/plans")
    assert resp.status == 200  # counted, not blocked

    resp, _ = _request(port, "/", {"x-block-me": "1"})
    assert resp.status == 403

    statuses = [_request(port, "/rate/x")[0].status for _ in range(12)]
    assert statuses[:10] == [200] * 10
    assert statuses[10:] == [429, 429]
    resp, data = _request(port, "/rate/x")
    assert json.loads(data) == {"error": "rate limited"}
    assert resp.getheader("retry-after") == "60"

    resp, _ = _request(port, "/", {"User-Agent": ""})
    assert resp.status == 403  # CRS NoUserAgent_HEADER

    # blocked requests never reached the app
    paths = [r["path"] for r in app.seen[seen_before:]]
    assert "/search?q=1%27%20OR%20%271%27%3D%271" not in paths
    assert paths.count("/rate/x") == 10

    # --- WAF logs, as AWS writes them
    log_path = protected["server"].settings.data_dir / "waf-logs" / "shop-acl.jsonl"
    deadline = time.monotonic() + 5
    records = []
    while time.monotonic() < deadline:
        if log_path.exists():
            records = [json.loads(line) for line in log_path.read_text().splitlines()]
            if len(records) >= 20:
                break
        time.sleep(0.05)
    by_uri = {}
    for rec in records:
        by_uri.setdefault(rec["httpRequest"]["uri"], []).append(rec)
    allowed = by_uri["/products"][0]
    assert allowed["action"] == "ALLOW"
    assert allowed["terminatingRuleId"] == "Default_Action"
    assert allowed["formatVersion"] == 1
    assert allowed["webaclId"] == protected["acl"]["ARN"]
    assert allowed["httpSourceName"] == "ALB"
    assert allowed["httpSourceId"].startswith(f"{protected['account']}-app/shop/")
    assert allowed["httpRequest"]["args"] == "page=2"
    assert allowed["httpRequest"]["httpMethod"] == "GET"
    assert allowed["httpRequest"]["clientIp"] == "127.0.0.1"
    headers = {h["name"].lower(): h["value"] for h in allowed["httpRequest"]["headers"]}
    assert headers["authorization"] == "REDACTED"
    assert allowed["httpRequest"]["requestId"].startswith("Root=1-")

    sqli = by_uri["/search"][0]
    assert sqli["action"] == "BLOCK"
    assert sqli["terminatingRuleId"] == "AWS-AWSManagedRulesSQLiRuleSet"
    assert sqli["terminatingRuleType"] == "MANAGED_RULE_GROUP"
    assert any(lab["name"].startswith("awswaf:managed:aws:sql-database:") for lab in sqli["labels"])
    group_entry = next(g for g in sqli["ruleGroupList"] if "SQLi" in g["ruleGroupId"])
    assert group_entry["terminatingRule"]["action"] == "BLOCK"

    counted = by_uri["/secret/plans"][0]
    assert counted["action"] == "ALLOW"
    assert counted["nonTerminatingMatchingRules"][0]["ruleId"] == "CountSecrets"
    assert {"name": f"awswaf:{protected['account']}:webacl:shop-acl:secret:path"} in (
        counted["labels"]
    )

    evil = next(r for r in by_uri["/"] if r["terminatingRuleId"] == "MyGroup")
    assert evil["responseCodeSent"] == 418
    assert {"name": f"awswaf:{protected['account']}:rulegroup:evil:evil:header"} in evil["labels"]
    rate = [r for r in by_uri["/rate/x"] if r["action"] == "BLOCK"]
    assert rate and rate[0]["terminatingRuleType"] == "RATE_BASED"

    # --- sampled requests and counters (reported by the edge to storage)
    waf = protected["waf"]
    now = clock.now()
    window = {"StartTime": now - timedelta(minutes=5), "EndTime": now + timedelta(minutes=1)}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        sampled = waf.get_sampled_requests(
            WebAclArn=protected["acl"]["ARN"],
            RuleMetricName="SQLi",
            Scope="REGIONAL",
            TimeWindow=window,
            MaxItems=100,
        )
        if sampled["SampledRequests"]:
            break
        time.sleep(0.1)
    sample = sampled["SampledRequests"][0]
    assert sample["Action"] == "BLOCK"
    assert sample["Request"]["URI"] == "/search"
    assert sample["Request"]["ClientIP"] == "127.0.0.1"
    assert sample["RuleNameWithinRuleGroup"].startswith("SQLi_")
    assert sampled["PopulationSize"] >= 1
    default = waf.get_sampled_requests(
        WebAclArn=protected["acl"]["ARN"],
        RuleMetricName="shop-acl",
        Scope="REGIONAL",
        TimeWindow=window,
        MaxItems=500,
    )
    assert default["SampledRequests"] and all(
        s["Action"] == "ALLOW" for s in default["SampledRequests"]
    )

    resp, body = _request(port, "/__bastion/edge/metrics")
    text = body.decode()
    assert 'BlockedRequests{WebACL="shop-acl",Rule="ALL",Region="us-east-1"}' in text
    assert 'AllowedRequests{WebACL="shop-acl",Rule="ALL",Region="us-east-1"}' in text
    assert 'CountedRequests{WebACL="shop-acl",Rule="CountSecrets",Region="us-east-1"} 1' in text
    assert 'BlockedRequests{WebACL="shop-acl",Rule="RateLimit",Region="us-east-1"} 3' in text


def test_disassociate_stops_filtering(protected):
    port = protected["alb"]["port"]
    waf = protected["waf"]
    lb = protected["alb"]["lb"]
    assert waf.get_web_acl_for_resource(ResourceArn=lb)["WebACL"]["Name"] == "shop-acl"
    assert waf.list_resources_for_web_acl(WebACLArn=protected["acl"]["ARN"])["ResourceArns"] == [lb]
    waf.disassociate_web_acl(ResourceArn=lb)
    deadline = time.monotonic() + 5
    status = 403
    while time.monotonic() < deadline and status == 403:
        status = _request(port, "/", {"x-block-me": "1"})[0].status
        time.sleep(0.05)
    assert status == 200
    assert "WebACL" not in waf.get_web_acl_for_resource(ResourceArn=lb)
