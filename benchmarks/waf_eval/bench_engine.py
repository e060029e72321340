"""Microbenchmark of the WAF engine: µs per request through the full managed set.

    python benchmarks/waf_eval/bench_engine.py [--split tune_v2] [--rounds 5] [--dump FILE]

Web ACL: all nine managed groups (Common, KnownBadInputs, SQLi, Linux, Unix, PHP,
AdminProtection, AmazonIpReputationList, AnonymousIpList) with a few thousand CIDRs loaded in
the IP lists. Mixes: the corpus's benign requests and its attacks.

* warm: the same requests evaluated again (the detectors' per-value memo caches are hot:
  a steady stream of recurring headers, cookies and parameters);
* cold: every memo cache cleared before each request (nothing seen before; the worst case).

`--dump FILE` writes every request's decision (action, terminating rule, labels, matched
rules) as JSON lines, to compare two versions of the engine.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))

from harness import load, to_request  # noqa: E402

import bastion.rules.waf as waf  # noqa: E402
from bastion.rules.waf import MemoryRateCounter, compile_web_acl, load_ip_lists  # noqa: E402

ALL_GROUPS = [
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


def full_acl():
    with tempfile.TemporaryDirectory() as d:
        for i, name in enumerate(["reputation", "reconnaissance", "anonymous", "hosting"]):
            lines = [f"{10 + i}.{a}.{b}.0/24" for a in range(0, 250, 5) for b in range(0, 250, 25)]
            lines += [f"2001:db8:{i:x}:{a:x}::/64" for a in range(200)]
            Path(d, f"{name}.txt").write_text("\n".join(lines))
        load_ip_lists(d)
    acl = {
        "Name": "bench",
        "ARN": "arn:aws:wafv2:us-east-1:000000000000:regional/webacl/bench/1",
        "DefaultAction": {"Allow": {}},
        "Rules": [
            {
                "Name": f"AWS-{g}",
                "Priority": i,
                "OverrideAction": {"None": {}},
                "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": g}},
                "VisibilityConfig": {
                    "SampledRequestsEnabled": True,
                    "CloudWatchMetricsEnabled": True,
                    "MetricName": g,
                },
            }
            for i, g in enumerate(ALL_GROUPS)
        ],
        "VisibilityConfig": {
            "SampledRequestsEnabled": True,
            "CloudWatchMetricsEnabled": True,
            "MetricName": "bench",
        },
    }
    return compile_web_acl(acl, account_id="000000000000")


def _memo_caches() -> list:
    """Every functools cache in the engine's modules (cleared for the cold runs)."""
    out = []
    seen = set()
    for modname, mod in list(sys.modules.items()):
        if not modname.startswith("bastion.rules.waf") or mod is None:
            continue
        for obj in vars(mod).values():
            if isinstance(obj, functools._lru_cache_wrapper) and id(obj) not in seen:
                seen.add(id(obj))
                out.append(obj)
    return out


def clear_caches() -> None:
    for c in _memo_caches():
        c.cache_clear()
    hook = getattr(waf, "_bench_clear_caches", None)
    if hook is not None:
        hook()


def run(acl, reqs, rounds: int, cold: bool) -> float:
    counter = MemoryRateCounter()
    best = float("inf")
    caches = _memo_caches()
    for _ in range(rounds):
        gc.collect()
        total = 0.0
        if cold:
            for req in reqs:
                for c in caches:
                    c.cache_clear()
                t0 = time.perf_counter()
                acl.evaluate(req, now=1000.0, rate_counter=counter)
                total += time.perf_counter() - t0
        else:
            for req in reqs:  # prime
                acl.evaluate(req, now=1000.0, rate_counter=counter)
            t0 = time.perf_counter()
            for req in reqs:
                acl.evaluate(req, now=1000.0, rate_counter=counter)
            total = time.perf_counter() - t0
        best = min(best, total / len(reqs) * 1e6)
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default=None, help="corpus split (default: tune_v2 or tune)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dump", help="write each request's decision as JSON lines")
    args = ap.parse_args()
    split = args.split or ("tune_v2" if (HERE / "corpus_tune_v2.jsonl").exists() else "tune")
    rows = load(split)
    t0 = time.perf_counter()
    acl = full_acl()
    compile_ms = (time.perf_counter() - t0) * 1e3
    benign = [to_request(r) for r in rows if r["label"] == "benign"]
    attack = [to_request(r) for r in rows if r["label"] == "attack"]
    if args.dump:
        clear_caches()
        counter = MemoryRateCounter()
        with open(args.dump, "w") as fh:
            for r in rows:
                d = acl.evaluate(to_request(r), now=1000.0, rate_counter=counter)
                fh.write(
                    json.dumps(
                        {
                            "id": r["id"],
                            "action": d.action,
                            "rule": d.terminating_rule_id,
                            "labels": list(d.labels),
                            "matched": list(d.matched_rule_names),
                        }
                    )
                    + "\n"
                )
    print(
        f"corpus {split}: {len(benign)} benign, {len(attack)} attacks; compile {compile_ms:.1f} ms"
    )
    print(f"{'mix':<8}{'warm us/req':>14}{'cold us/req':>14}")
    for name, reqs in (("benign", benign), ("attack", attack), ("all", benign + attack)):
        warm = run(acl, reqs, args.rounds, cold=False)
        cold = run(acl, reqs, max(1, args.rounds // 2), cold=True)
        print(f"{name:<8}{warm:>14.1f}{cold:>14.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
