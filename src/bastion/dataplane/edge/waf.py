"""WAF on the edge: compiled web ACLs per listener, and what each decision leaves behind
(CloudWatch-style counters, sampled requests, AWS WAF log records).

Counters and samples accumulate in memory and are reported to storage every few seconds
(`wafv2_metrics`, `wafv2_samples`); log records are appended to
`<data_dir>/waf-logs/<web ACL name>.jsonl` in AWS WAF's log record format.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bastion.dataplane.edge.repo import AclSource, EdgeSnapshot

log = logging.getLogger("bastion.edge.waf")

ACTION_METRIC = {
    "ALLOW": "AllowedRequests",
    "BLOCK": "BlockedRequests",
    "COUNT": "CountedRequests",
    "CAPTCHA": "CaptchaRequests",
    "CHALLENGE": "ChallengeRequests",
}
Sample = tuple[str, str, float, int, str]  # web ACL, rule metric, time, weight, record
SAMPLES_PER_INTERVAL = 100  # kept per (web ACL, rule metric) per report interval


@dataclass
class LoggingRuntime:
    path: Path
    redacted: tuple[dict[str, Any], ...]
    filter: dict[str, Any] | None


@dataclass
class AclRuntime:
    arn: str
    name: str
    account_id: str
    region: str
    metric_name: str
    fingerprint: str
    compiled: Any
    sampled_default: bool
    rules: dict[str, tuple[str, bool]]  # rule name -> (metric name, sampled)
    logging: LoggingRuntime | None = None


def build_acl(
    source: AclSource, snapshot: EdgeSnapshot, log_dir: Path, previous: AclRuntime | None
) -> AclRuntime:
    """Compile a web ACL (reusing `previous` when nothing it depends on changed)."""
    from bastion.rules.waf import WafConfigError, compile_web_acl

    doc = source.doc
    compiled = None
    if previous is not None and previous.fingerprint == source.fingerprint:
        compiled = previous.compiled
    else:
        try:
            compiled = compile_web_acl(
                doc,
                account_id=source.account_id,
                rule_groups=snapshot.rule_groups,
                ip_sets=snapshot.ip_sets,
                regex_pattern_sets=snapshot.regex_sets,
            )
        except WafConfigError as exc:  # validated at write time; fail open, loudly
            log.error("web ACL %s does not compile (%s): requests pass", source.arn, exc)
    vis = doc.get("VisibilityConfig") or {}
    rules = {
        rule["Name"]: (
            (rule.get("VisibilityConfig") or {}).get("MetricName", rule["Name"]),
            bool((rule.get("VisibilityConfig") or {}).get("SampledRequestsEnabled", False)),
        )
        for rule in doc.get("Rules") or []
    }
    logging_rt = None
    if source.logging:
        cfg = source.logging
        logging_rt = LoggingRuntime(
            path=log_dir / f"{source.name}.jsonl",
            redacted=tuple(cfg.get("RedactedFields") or ()),
            filter=cfg.get("LoggingFilter"),
        )
    return AclRuntime(
        arn=source.arn,
        name=source.name,
        account_id=source.account_id,
        region=source.region,
        metric_name=vis.get("MetricName", source.name),
        fingerprint=source.fingerprint,
        compiled=compiled,
        sampled_default=bool(vis.get("SampledRequestsEnabled", False)),
        rules=rules,
        logging=logging_rt,
    )


@dataclass
class Seen:
    """What the edge knows of a request when WAF decides on it."""

    client_ip: str
    method: str
    uri: str
    args: str
    http_version: str
    headers: tuple[tuple[str, str], ...]
    request_id: str
    http_source_id: str


def _rule_list(items: Any) -> list[Any]:
    out = []
    for item in items or ():
        if isinstance(item, dict):
            out.append(item)
        elif isinstance(item, (tuple, list)) and len(item) >= 2:
            out.append({"ruleId": item[0], "action": item[1], "ruleMatchDetails": []})
        else:
            out.append({"ruleId": str(item), "action": "COUNT", "ruleMatchDetails": []})
    return out


def _labels(decision: Any) -> list[str]:
    return [lab if isinstance(lab, str) else str(lab) for lab in (decision.labels or ())]


def _count_rule_ids(decision: Any) -> list[str]:
    ids = []
    for item in _rule_list(decision.non_terminating):
        if item.get("action", "COUNT") == "COUNT":
            ids.append(item.get("ruleId", ""))
    return ids


def country_of(ip: str) -> str:
    from bastion.rules.waf import country_of as lookup

    return lookup(ip)


class WafReporter:
    """Counters, samples and log lines of every decision, until they are flushed."""

    def __init__(self) -> None:
        self.counters: dict[tuple[str, str, str], int] = {}
        self.samples: dict[tuple[str, str], list[Any]] = {}
        self.seen: dict[tuple[str, str], int] = {}
        self.log_lines: dict[Path, list[bytes]] = {}
        self._random = random.Random()

    def _count(self, acl: str, rule: str, metric: str) -> None:
        key = (acl, rule, metric)
        self.counters[key] = self.counters.get(key, 0) + 1

    def _sample(self, acl: str, rule: str, record: dict[str, Any]) -> None:
        key = (acl, rule)
        n = self.seen.get(key, 0) + 1
        self.seen[key] = n
        kept = self.samples.setdefault(key, [])
        if len(kept) < SAMPLES_PER_INTERVAL:
            kept.append(record)
        else:  # reservoir sampling over the interval's requests
            j = self._random.randrange(n)
            if j < SAMPLES_PER_INTERVAL:
                kept[j] = record

    def record(
        self, acl: AclRuntime, decision: Any, seen: Seen, now: float, response_code: int | None
    ) -> None:
        action = decision.action
        metric = ACTION_METRIC.get(action, "AllowedRequests")
        term = decision.terminating_rule_id or "Default_Action"
        counted = _count_rule_ids(decision)
        self._count(acl.arn, "ALL", metric)
        if counted:
            self._count(acl.arn, "ALL", "CountedRequests")
        rule_metric = None
        if term != "Default_Action":
            info = acl.rules.get(term)
            rule_metric = info[0] if info else term
            self._count(acl.arn, rule_metric, metric)
        for rule_id in counted:
            info = acl.rules.get(rule_id)
            self._count(acl.arn, info[0] if info else rule_id, "CountedRequests")
        labels = _labels(decision)
        inserted = [{"name": n, "value": v} for n, v in (decision.insert_headers or ())]
        sample_keys: list[tuple[str, str | None]] = []
        if term == "Default_Action":
            if acl.sampled_default:
                sample_keys.append((acl.metric_name, None))
        else:
            info = acl.rules.get(term)
            if info is None or info[1]:
                sample_keys.append((rule_metric or term, _inner_rule(decision)))
        for rule_id in counted:
            info = acl.rules.get(rule_id)
            if info is not None and info[1]:
                sample_keys.append((info[0], None))
        if sample_keys:
            for rule_name, inner in sample_keys:
                sample: dict[str, Any] = {
                    "Request": {
                        "ClientIP": seen.client_ip,
                        "Country": country_of(seen.client_ip),
                        "URI": seen.uri,
                        "Method": seen.method,
                        "HTTPVersion": seen.http_version,
                        "Headers": [{"Name": k, "Value": v} for k, v in seen.headers],
                    },
                    "Timestamp": now,
                    "Action": action,
                }
                if inner:
                    sample["RuleNameWithinRuleGroup"] = inner
                if inserted:
                    sample["RequestHeadersInserted"] = [
                        {"Name": h["name"], "Value": h["value"]} for h in inserted
                    ]
                if response_code is not None:
                    sample["ResponseCodeSent"] = response_code
                if labels:
                    sample["Labels"] = [{"Name": lab} for lab in labels]
                self._sample(acl.arn, rule_name, sample)
        if acl.logging is not None:
            self._log(acl, decision, seen, now, labels, inserted, response_code, counted)

    def _log(
        self,
        acl: AclRuntime,
        decision: Any,
        seen: Seen,
        now: float,
        labels: list[str],
        inserted: list[dict[str, str]],
        response_code: int | None,
        counted: list[str],
    ) -> None:
        cfg = acl.logging
        assert cfg is not None
        if not _keep(cfg.filter, decision.action, labels, bool(counted)):
            return
        headers = [{"name": k, "value": v} for k, v in seen.headers]
        uri, args, method = seen.uri, seen.args, seen.method
        for redacted in cfg.redacted:
            if "SingleHeader" in redacted:
                target = (redacted["SingleHeader"].get("Name") or "").lower()
                for h in headers:
                    if h["name"].lower() == target:
                        h["value"] = "REDACTED"
            elif "UriPath" in redacted:
                uri = "REDACTED"
            elif "QueryString" in redacted:
                args = "REDACTED"
            elif "Method" in redacted:
                method = "REDACTED"
        term = decision.terminating_rule_id or "Default_Action"
        record = {
            "timestamp": int(now * 1000),
            "formatVersion": 1,
            "webaclId": acl.arn,
            "terminatingRuleId": term,
            "terminatingRuleType": decision.terminating_rule_type or "REGULAR",
            "action": decision.action,
            "terminatingRuleMatchDetails": [],
            "httpSourceName": "ALB",
            "httpSourceId": seen.http_source_id,
            "ruleGroupList": _rule_list(decision.rule_group_list),
            "rateBasedRuleList": _rule_list(decision.rate_based),
            "nonTerminatingMatchingRules": _rule_list(decision.non_terminating),
            "requestHeadersInserted": inserted or None,
            "responseCodeSent": response_code,
            "httpRequest": {
                "clientIp": seen.client_ip,
                "country": country_of(seen.client_ip),
                "headers": headers,
                "uri": uri,
                "args": args,
                "httpVersion": seen.http_version,
                "httpMethod": method,
                "requestId": seen.request_id,
            },
        }
        if labels:
            record["labels"] = [{"name": lab} for lab in labels]
        self.log_lines.setdefault(cfg.path, []).append(orjson.dumps(record) + b"\n")

    def flush_logs(self) -> None:
        lines, self.log_lines = self.log_lines, {}
        for path, chunk in lines.items():
            try:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                with open(path, "ab") as fh:
                    fh.write(b"".join(chunk))
            except OSError:
                log.exception("cannot write WAF log %s", path)

    def take(self) -> tuple[dict[tuple[str, str, str], int], list[Sample]]:
        counters, self.counters = self.counters, {}
        samples: list[Sample] = []
        for (acl, rule), kept in self.samples.items():
            total = self.seen.get((acl, rule), len(kept))
            weight = max(1, round(total / max(1, len(kept))))
            for rec in kept:
                rec["Weight"] = weight
                samples.append((acl, rule, rec["Timestamp"], weight, orjson.dumps(rec).decode()))
        self.samples = {}
        self.seen = {}
        return counters, samples

    def restore(self, counters: dict[tuple[str, str, str], int]) -> None:
        """Put counters back after a failed report (samples are best effort)."""
        for key, value in counters.items():
            self.counters[key] = self.counters.get(key, 0) + value


def _inner_rule(decision: Any) -> str | None:
    for group in _rule_list(decision.rule_group_list):
        term = group.get("terminatingRule")
        if isinstance(term, dict) and term.get("ruleId"):
            return str(term["ruleId"])
    return None


def _keep(filt: dict[str, Any] | None, action: str, labels: list[str], counted: bool) -> bool:
    if not filt:
        return True
    label_set = set(labels)
    for rule in filt.get("Filters") or []:
        results = []
        for cond in rule.get("Conditions") or []:
            if "ActionCondition" in cond:
                want = cond["ActionCondition"].get("Action")
                results.append(want == action or (want == "COUNT" and counted))
            elif "LabelNameCondition" in cond:
                results.append(cond["LabelNameCondition"].get("LabelName") in label_set)
        matched = all(results) if rule.get("Requirement") == "MEETS_ALL" else any(results)
        if results and matched:
            return rule.get("Behavior", "KEEP") == "KEEP"
    return filt.get("DefaultBehavior", "KEEP") == "KEEP"


def prometheus_text(
    totals: dict[tuple[str, str, str], int],
    acl_metric_names: dict[str, str],
    region_of: dict[str, str],
    edge_counters: dict[tuple[str, str], int],
) -> bytes:
    lines: list[str] = []
    by_metric: dict[str, list[str]] = {}
    for (acl, rule, metric), value in sorted(totals.items()):
        name = acl_metric_names.get(acl) or _acl_name(acl)
        region = region_of.get(acl) or _acl_region(acl)
        labels = f'WebACL="{_esc(name)}",Rule="{_esc(rule)}",Region="{_esc(region)}"'
        by_metric.setdefault(metric, []).append(f"{metric}{{{labels}}} {value}")
    for metric in sorted(by_metric):
        lines.append(f"# HELP {metric} AWS WAF {metric} (CloudWatch metric name)")
        lines.append(f"# TYPE {metric} counter")
        lines.extend(by_metric[metric])
    grouped: dict[str, list[str]] = {}
    for (metric, label), value in sorted(edge_counters.items()):
        grouped.setdefault(metric, []).append(f"{metric}{{{label}}} {value}")
    for metric in sorted(grouped):
        lines.append(f"# TYPE {metric} counter")
        lines.extend(grouped[metric])
    return ("\n".join(lines) + "\n").encode()


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _acl_name(arn: str) -> str:
    parts = arn.split("/")
    return parts[-2] if len(parts) >= 3 else arn


def _acl_region(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""
