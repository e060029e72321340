"""Statements and fields to match."""

from __future__ import annotations

import json

import pytest

from bastion.rules.waf import MemoryRateCounter, WafRequest, compile_web_acl

NONE = [{"Priority": 0, "Type": "NONE"}]


def run(statement, request, *, ip_sets=None, regex_sets=None):
    a = compile_web_acl(
        {
            "Name": "a",
            "DefaultAction": {"Allow": {}},
            "Rules": [
                {
                    "Name": "r",
                    "Priority": 0,
                    "Action": {"Block": {}},
                    "Statement": statement,
                    "VisibilityConfig": {},
                }
            ],
        },
        account_id="1",
        ip_sets=ip_sets or {},
        regex_pattern_sets=regex_sets or {},
    )
    return a.evaluate(request, now=0, rate_counter=MemoryRateCounter()).action == "BLOCK"


def R(path="/", query="", headers=(), body=b"", ip="198.51.100.1", method="GET", size=None):
    return WafRequest(
        ip, method, path, query, tuple(headers), body, len(body) if size is None else size
    )


def bm(search, field, pos="CONTAINS", tt=NONE):
    return {
        "ByteMatchStatement": {
            "SearchString": search,
            "FieldToMatch": field,
            "PositionalConstraint": pos,
            "TextTransformations": tt,
        }
    }


@pytest.mark.parametrize(
    "pos,value,hit",
    [
        ("EXACTLY", "/a", True),
        ("EXACTLY", "/ab", False),
        ("STARTS_WITH", "/abc", True),
        ("ENDS_WITH", "/xa", True),
        ("CONTAINS", "/xay", True),
        ("CONTAINS_WORD", "/x-a-y", True),
        ("CONTAINS_WORD", "/xay", False),
    ],
)
def test_byte_match_positions(pos, value, hit):
    search = "/a" if pos in ("EXACTLY", "STARTS_WITH") else "a"
    assert run(bm(search, {"UriPath": {}}, pos), R(value)) is hit


def test_fields():
    assert run(bm("evil", {"SingleHeader": {"Name": "X-Test"}}), R(headers=[("x-test", "evil")]))
    assert run(bm("v", {"SingleQueryArgument": {"Name": "A"}}, "EXACTLY"), R(query="a=v&b=w"))
    assert run(bm("w", {"AllQueryArguments": {}}, "EXACTLY"), R(query="a=v&b=w"))
    assert run(bm("b=w", {"QueryString": {}}), R(query="a=v&b=w"))
    assert run(bm("PUT", {"Method": {}}, "EXACTLY"), R(method="PUT"))
    assert run(
        bm(
            "tok",
            {
                "Cookies": {
                    "MatchPattern": {"IncludedCookies": ["s"]},
                    "MatchScope": "VALUE",
                    "OversizeHandling": "CONTINUE",
                }
            },
        ),
        R(headers=[("Cookie", "s=tok; t=x")]),
    )
    assert not run(
        bm(
            "tok",
            {
                "Cookies": {
                    "MatchPattern": {"ExcludedCookies": ["s"]},
                    "MatchScope": "VALUE",
                    "OversizeHandling": "CONTINUE",
                }
            },
        ),
        R(headers=[("Cookie", "s=tok; t=x")]),
    )
    assert run(
        bm(
            "x-k",
            {
                "Headers": {
                    "MatchPattern": {"All": {}},
                    "MatchScope": "KEY",
                    "OversizeHandling": "CONTINUE",
                }
            },
        ),
        R(headers=[("X-K", "1")]),
    )


def test_json_body_and_oversize():
    body = json.dumps({"a": {"b": "needle"}, "k": 1}).encode()
    jb = {
        "JsonBody": {
            "MatchPattern": {"IncludedPaths": ["/a/b"]},
            "MatchScope": "VALUE",
            "OversizeHandling": "CONTINUE",
        }
    }
    assert run(bm("needle", jb, "EXACTLY"), R(body=body))
    keys = {
        "JsonBody": {
            "MatchPattern": {"All": {}},
            "MatchScope": "KEY",
            "OversizeHandling": "CONTINUE",
            "InvalidFallbackBehavior": "MATCH",
        }
    }
    assert run(bm("k", keys, "EXACTLY"), R(body=body))
    assert run(bm("zzz", keys, "EXACTLY"), R(body=b"{not json"))
    over = {"Body": {"OversizeHandling": "MATCH"}}
    assert run(bm("zzz", over), R(body=b"a" * 100, size=10000))
    assert not run(bm("zzz", over), R(body=b"a" * 100))
    nomatch = {"Body": {"OversizeHandling": "NO_MATCH"}}
    assert not run(bm("a", nomatch), R(body=b"a" * 100, size=10000))


def test_transformations_in_priority_order():
    tt = [{"Priority": 2, "Type": "LOWERCASE"}, {"Priority": 1, "Type": "URL_DECODE"}]
    assert run(bm("<script>", {"QueryString": {}}, tt=tt), R(query="x=%3CSCRIPT%3E"))


def test_sqli_xss_regex_size():
    f = {"AllQueryArguments": {}}
    url = [{"Priority": 0, "Type": "URL_DECODE"}]
    assert run(
        {"SqliMatchStatement": {"FieldToMatch": f, "TextTransformations": NONE}},
        R(query="id=1%20union%20select%201,2"),
    )
    assert not run(
        {"SqliMatchStatement": {"FieldToMatch": f, "TextTransformations": NONE}},
        R(query="q=it%27s%20fine"),
    )
    assert run(
        {"XssMatchStatement": {"FieldToMatch": {"QueryString": {}}, "TextTransformations": url}},
        R(query="q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"),
    )
    assert run(
        {
            "RegexMatchStatement": {
                "RegexString": r"^/a\d+$",
                "FieldToMatch": {"UriPath": {}},
                "TextTransformations": NONE,
            }
        },
        R("/a12"),
    )
    rps = {"arn:r": {"RegularExpressionList": [{"RegexString": "foo"}, {"RegexString": "ba+r"}]}}
    assert run(
        {
            "RegexPatternSetReferenceStatement": {
                "ARN": "arn:r",
                "FieldToMatch": {"UriPath": {}},
                "TextTransformations": NONE,
            }
        },
        R("/baaar"),
        regex_sets=rps,
    )
    assert run(
        {
            "SizeConstraintStatement": {
                "FieldToMatch": {"Body": {}},
                "ComparisonOperator": "GT",
                "Size": 8192,
                "TextTransformations": NONE,
            }
        },
        R(body=b"x" * 10, size=9000),
    )


def test_ip_set_and_forwarded_ip():
    sets = {"arn:ip": {"Addresses": ["10.0.0.0/8", "2001:db8::/32"]}}
    st = {"IPSetReferenceStatement": {"ARN": "arn:ip"}}
    assert run(st, R(ip="10.1.2.3"), ip_sets=sets)
    assert run(st, R(ip="2001:db8::1"), ip_sets=sets)
    assert not run(st, R(ip="11.0.0.1"), ip_sets=sets)
    fwd = {
        "IPSetReferenceStatement": {
            "ARN": "arn:ip",
            "IPSetForwardedIPConfig": {
                "HeaderName": "X-Forwarded-For",
                "FallbackBehavior": "MATCH",
                "Position": "ANY",
            },
        }
    }
    assert run(fwd, R(headers=[("X-Forwarded-For", "1.1.1.1, 10.9.9.9")]), ip_sets=sets)
    assert run(fwd, R(), ip_sets=sets)  # header missing: fallback MATCH


def test_geo_match_and_label():
    a = compile_web_acl(
        {
            "Name": "a",
            "DefaultAction": {"Allow": {}},
            "Rules": [
                {
                    "Name": "g",
                    "Priority": 0,
                    "Action": {"Block": {}},
                    "VisibilityConfig": {},
                    "Statement": {"GeoMatchStatement": {"CountryCodes": ["JP"]}},
                }
            ],
        },
        account_id="1",
    )
    d = a.evaluate(R(ip="1.0.16.1"), now=0, rate_counter=MemoryRateCounter())
    assert d.action == "BLOCK" and "awswaf:clientip:geo:country:JP" in d.labels
    d = a.evaluate(R(ip="127.0.0.1"), now=0, rate_counter=MemoryRateCounter())
    assert d.action == "ALLOW" and "awswaf:clientip:geo:country:XX" in d.labels


def test_logical_statements():
    a_ = bm("a", {"UriPath": {}})
    b_ = bm("b", {"UriPath": {}})
    assert run({"AndStatement": {"Statements": [a_, b_]}}, R("/ab"))
    assert not run({"AndStatement": {"Statements": [a_, b_]}}, R("/a"))
    assert run({"OrStatement": {"Statements": [a_, b_]}}, R("/b"))
    assert run({"NotStatement": {"Statement": a_}}, R("/c"))
