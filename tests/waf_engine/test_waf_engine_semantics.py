"""Web ACL evaluation semantics: priorities, terminating actions, labels, groups."""

from __future__ import annotations

import pytest

from bastion.rules.waf import (
    MemoryRateCounter,
    WafConfigError,
    WafRequest,
    compile_web_acl,
    issue_token,
)

ACCT = "123456789012"


def req(
    path="/",
    query="",
    headers=(("Host", "example.com"), ("User-Agent", "t")),
    body=b"",
    ip="203.0.113.5",
    method="GET",
):
    return WafRequest(ip, method, path, query, tuple(headers), body, len(body))


def byte_rule(name, prio, search, action, field=None, pos="CONTAINS", labels=None):
    r = {
        "Name": name,
        "Priority": prio,
        "Action": {action: {}},
        "Statement": {
            "ByteMatchStatement": {
                "SearchString": search.encode(),
                "FieldToMatch": field or {"UriPath": {}},
                "PositionalConstraint": pos,
                "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
            }
        },
        "VisibilityConfig": {},
    }
    if labels:
        r["RuleLabels"] = [{"Name": x} for x in labels]
    return r


def acl(rules, default="Allow", **extra):
    return compile_web_acl(
        {"Name": "acl", "ARN": "arn:acl", "DefaultAction": {default: {}}, "Rules": rules, **extra},
        account_id=ACCT,
    )


def ev(a, r, now=1000.0, counter=None):
    return a.evaluate(r, now=now, rate_counter=counter or MemoryRateCounter())


def test_default_action_and_priority_order():
    a = acl([byte_rule("B", 2, "/x", "Block"), byte_rule("A", 1, "/x", "Allow")])
    d = ev(a, req("/x"))
    assert (d.action, d.terminating_rule_id, d.terminating_rule_type) == ("ALLOW", "A", "REGULAR")
    d = ev(a, req("/y"))
    assert (d.action, d.terminating_rule_id) == ("ALLOW", "Default_Action")
    assert ev(acl([], default="Block"), req()).action == "BLOCK"


def test_count_is_not_terminating_and_labels_feed_label_match():
    label_rule = {
        "Name": "L",
        "Priority": 2,
        "Action": {"Block": {}},
        "Statement": {"LabelMatchStatement": {"Scope": "LABEL", "Key": "tagged"}},
        "VisibilityConfig": {},
    }
    a = acl([byte_rule("C", 1, "/admin", "Count", labels=["tagged"]), label_rule])
    d = ev(a, req("/admin"))
    assert d.action == "BLOCK" and d.terminating_rule_id == "L"
    assert f"awswaf:{ACCT}:webacl:acl:tagged" in d.labels
    assert d.non_terminating[0]["ruleId"] == "C"
    assert d.matched_rule_names == ("C", "L")
    # A label from a later rule is not visible to an earlier one.
    a2 = acl(
        [{**label_rule, "Priority": 0}, byte_rule("C", 1, "/admin", "Count", labels=["tagged"])]
    )
    assert ev(a2, req("/admin")).action == "ALLOW"


def test_custom_response_and_request_headers():
    block = byte_rule("B", 1, "/bad", "Block")
    block["Action"] = {
        "Block": {
            "CustomResponse": {
                "ResponseCode": 429,
                "CustomResponseBodyKey": "k",
                "ResponseHeaders": [{"Name": "Retry-After", "Value": "5"}],
            }
        }
    }
    allow = byte_rule("A", 2, "/ok", "Allow")
    allow["Action"] = {
        "Allow": {"CustomRequestHandling": {"InsertHeaders": [{"Name": "checked", "Value": "yes"}]}}
    }
    a = acl(
        [block, allow],
        CustomResponseBodies={
            "k": {"ContentType": "APPLICATION_JSON", "Content": '{"slow": "down"}'}
        },
    )
    d = ev(a, req("/bad"))
    assert d.custom_response == {
        "status": 429,
        "headers": [("Retry-After", "5")],
        "body": b'{"slow": "down"}',
        "content_type": "application/json",
    }
    assert ev(a, req("/ok")).insert_headers == (("x-amzn-waf-checked", "yes"),)


def test_captcha_and_challenge_tokens():
    cap = byte_rule("Cap", 1, "/login", "Captcha")
    a = acl([cap])
    d = ev(a, req("/login"))
    assert d.action == "CAPTCHA" and d.custom_response["status"] == 405
    assert ("x-amzn-waf-action", "captcha") in d.custom_response["headers"]
    tok = issue_token(1000.0)
    ok = ev(a, req("/login", headers=(("Cookie", f"aws-waf-token={tok}"),)), now=1100.0)
    assert ok.action == "ALLOW" and "awswaf:managed:token:accepted" in ok.labels
    expired = ev(a, req("/login", headers=(("Cookie", f"aws-waf-token={tok}"),)), now=2000.0)
    assert expired.action == "CAPTCHA"
    ch = acl([byte_rule("Ch", 1, "/", "Challenge", pos="STARTS_WITH")])
    assert ev(ch, req("/")).custom_response["status"] == 202


def test_rule_group_reference_override_and_excluded():
    arn = "arn:aws:wafv2:us-east-1:1:regional/rulegroup/g/1"
    group = {
        "Name": "g",
        "Capacity": 10,
        "Rules": [byte_rule("GB", 1, "/x", "Block", labels=["gl"])],
    }
    rule = {
        "Name": "Ref",
        "Priority": 1,
        "OverrideAction": {"None": {}},
        "Statement": {"RuleGroupReferenceStatement": {"ARN": arn}},
        "VisibilityConfig": {},
    }
    a = compile_web_acl(
        {"Name": "acl", "DefaultAction": {"Allow": {}}, "Rules": [rule]},
        account_id=ACCT,
        rule_groups={arn: group},
    )
    d = ev(a, req("/x"))
    assert (d.action, d.terminating_rule_id, d.terminating_rule_type) == ("BLOCK", "Ref", "GROUP")
    assert f"awswaf:{ACCT}:rulegroup:g:gl" in d.labels
    assert d.rule_group_list[0]["terminatingRule"]["ruleId"] == "GB"
    assert a.capacity == 10
    counted = {**rule, "OverrideAction": {"Count": {}}}
    a = compile_web_acl(
        {"Name": "acl", "DefaultAction": {"Allow": {}}, "Rules": [counted]},
        account_id=ACCT,
        rule_groups={arn: group},
    )
    assert ev(a, req("/x")).action == "ALLOW"
    excl = {
        **rule,
        "Statement": {
            "RuleGroupReferenceStatement": {"ARN": arn, "ExcludedRules": [{"Name": "GB"}]}
        },
    }
    a = compile_web_acl(
        {"Name": "acl", "DefaultAction": {"Allow": {}}, "Rules": [excl]},
        account_id=ACCT,
        rule_groups={arn: group},
    )
    d = ev(a, req("/x"))
    assert d.action == "ALLOW" and d.rule_group_list[0]["excludedRules"]


def managed(name, **kw):
    return {
        "Name": f"AWS-{name}",
        "Priority": 1,
        "OverrideAction": {"None": {}},
        "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": name, **kw}},
        "VisibilityConfig": {},
    }


def test_managed_group_block_override_and_scope_down():
    sqli = req("/search", "q=1%27%20or%20%271%27%3D%271")
    a = acl([managed("AWSManagedRulesSQLiRuleSet")])
    d = ev(a, sqli)
    assert d.action == "BLOCK" and d.terminating_rule_type == "MANAGED_RULE_GROUP"
    assert "awswaf:managed:aws:sql-database:SQLi_QueryArguments" in d.labels
    a = acl(
        [
            managed(
                "AWSManagedRulesSQLiRuleSet",
                RuleActionOverrides=[
                    {"Name": "SQLi_QUERYARGUMENTS", "ActionToUse": {"Count": {}}},
                    {"Name": "SQLiExtendedPatterns_QUERYARGUMENTS", "ActionToUse": {"Count": {}}},
                ],
            )
        ]
    )
    d = ev(a, sqli)
    assert d.action == "ALLOW" and d.rule_group_list[0]["nonTerminatingMatchingRules"]
    scoped = acl(
        [
            managed(
                "AWSManagedRulesSQLiRuleSet",
                ScopeDownStatement={
                    "ByteMatchStatement": {
                        "SearchString": b"/api",
                        "FieldToMatch": {"UriPath": {}},
                        "PositionalConstraint": "STARTS_WITH",
                        "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
                    }
                },
            )
        ]
    )
    assert ev(scoped, sqli).action == "ALLOW"
    assert acl([managed("AWSManagedRulesSQLiRuleSet")]).capacity == 200


def test_config_errors():
    with pytest.raises(WafConfigError):
        acl([], default="Count")
    with pytest.raises(WafConfigError):
        acl(
            [
                {
                    "Name": "r",
                    "Priority": 1,
                    "Action": {"Block": {}},
                    "VisibilityConfig": {},
                    "Statement": {
                        "RegexMatchStatement": {
                            "RegexString": "(",
                            "FieldToMatch": {"UriPath": {}},
                            "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
                        }
                    },
                }
            ]
        )
    with pytest.raises(WafConfigError):
        acl(
            [
                {
                    "Name": "r",
                    "Priority": 1,
                    "Action": {"Block": {}},
                    "VisibilityConfig": {},
                    "Statement": {"IPSetReferenceStatement": {"ARN": "arn:missing"}},
                }
            ]
        )
    with pytest.raises(WafConfigError):
        acl([managed("NoSuchGroup")])
    with pytest.raises(WafConfigError):
        acl([byte_rule("a", 1, "x", "Block"), byte_rule("a", 2, "y", "Block")])
