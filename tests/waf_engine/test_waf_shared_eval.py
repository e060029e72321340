"""Shared per-request evaluation: field readings, detector masks and outcomes computed once.

The fast paths must not change any decision: a value's detector mask may only clear a bit
when the detector cannot fire, and the shared engine must decide every corpus request as
a naive evaluation (every rule running its predicate on every value) does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bastion.rules.waf import MemoryRateCounter, WafRequest, compile_web_acl, shared
from bastion.rules.waf import statements as st
from bastion.rules.waf.transformations import deep_decode

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "benchmarks" / "waf_eval"

GROUPS = [
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet",
    "AWSManagedRulesLinuxRuleSet",
    "AWSManagedRulesUnixRuleSet",
    "AWSManagedRulesPHPRuleSet",
    "AWSManagedRulesAdminProtectionRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesAnonymousIpList",
]
VIS = {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "m"}


def _acl(extra_rules=()):
    rules = [
        {
            "Name": g,
            "Priority": i + 10,
            "OverrideAction": {"Count": {}},  # run every group on every request
            "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": g}},
            "VisibilityConfig": VIS,
        }
        for i, g in enumerate(GROUPS)
    ]
    return compile_web_acl(
        {
            "Name": "t",
            "DefaultAction": {"Allow": {}},
            "Rules": list(extra_rules) + rules,
            "VisibilityConfig": VIS,
        },
        account_id="000000000000",
    )


def _rows(step: int) -> list[dict]:
    path = EVAL / "corpus_tune_v2.jsonl"
    if not path.exists():
        path = EVAL / "corpus_tune.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return rows[::step]


def _request(r: dict) -> WafRequest:
    body = r["body"].encode()
    return WafRequest(
        client_ip="203.0.113.10",
        method=r["method"],
        uri_path=r["path"],
        query_string=r["query"],
        headers=tuple(tuple(h) for h in r["headers"]),
        body=body,
        body_size=len(body),
    )


def _decide(acl, rows):
    out = []
    counter = MemoryRateCounter()
    for r in rows:
        d = acl.evaluate(_request(r), now=1000.0, rate_counter=counter)
        out.append(
            (
                d.action,
                d.terminating_rule_id,
                d.labels,
                d.matched_rule_names,
                d.non_terminating,
                d.rule_group_list,
            )
        )
    return out


def _naive_match(self, view, ev):
    vals, forced = self.values(view)
    if forced is not None:
        return forced
    return any(self.pred(v) for v in vals)


def test_shared_evaluation_decides_as_naive_evaluation(monkeypatch):
    rows = _rows(2)
    fast = _decide(_acl(), rows)
    monkeypatch.setattr(st.Inspect, "match", _naive_match)
    naive = _decide(_acl(), rows)
    assert fast == naive
    assert any(d[3] for d in fast)  # the corpus does trigger rules


def test_value_mask_never_hides_a_detection():
    seen: set[str] = set()
    for r in _rows(3):
        raw = [r["path"], r["query"], r["body"], r["payload"]]
        raw += [v for _, v in r["headers"]]
        for x in raw:
            seen.update(deep_decode(x))
    seen.update(["\\\\host.example\\share\\x.php", "';while(true){};'", "<#assign x=1>"])
    for v in seen:
        mask = shared.value_mask(v)
        for name, det in shared.DETECTORS.items():
            if det(v):
                assert mask & shared.BIT[name], (name, v)


def test_detector_runs_once_per_value_for_rules_sharing_a_field(monkeypatch):
    calls: list[str] = []
    real = shared.DETECTORS["xss"]

    def counting(v: str) -> bool:
        calls.append(v)
        return real(v)

    monkeypatch.setitem(shared.DETECTORS, "xss", counting)
    stmt = {
        "XssMatchStatement": {
            "FieldToMatch": {"AllQueryArguments": {}},
            "TextTransformations": [{"Priority": 0, "Type": "URL_DECODE"}],
        }
    }
    extra = [
        {
            "Name": f"xss{i}",
            "Priority": i,
            "Action": {"Count": {}},
            "Statement": stmt,
            "VisibilityConfig": VIS,
        }
        for i in range(3)
    ]
    acl = compile_web_acl(
        {"Name": "t", "DefaultAction": {"Allow": {}}, "Rules": extra, "VisibilityConfig": VIS},
        account_id="000000000000",
    )
    req = WafRequest(
        client_ip="203.0.113.10",
        method="GET",
        uri_path="/",
        query_string="a=%3Cscript%3Ealert(1)%3C/script%3E&b=hello&c=%3Cb%3E",
        headers=(("Host", "x"), ("User-Agent", "t")),
        body=b"",
        body_size=0,
    )
    d = acl.evaluate(req, now=0.0, rate_counter=MemoryRateCounter())
    assert d.matched_rule_names == ("xss0", "xss1", "xss2")
    # 'hello' fails the mask; the detector ran on the first value once, for all three rules.
    assert calls == ["<script>alert(1)</script>"]


@pytest.mark.parametrize(
    "value",
    ["hello world", "12345", "john.doe@example.com", "Mozilla/5.0 (X11; Linux x86_64)"],
)
def test_plain_values_skip_most_detectors(value):
    mask = shared.value_mask(value)
    for name in ("xss", "log4j", "xxe", "ssti", "shellshock"):
        assert not mask & shared.BIT[name], name
