"""The WAF's verdict on one request, with what AWS's log record needs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WafDecision:
    action: str  # "ALLOW" | "BLOCK" | "CAPTCHA" | "CHALLENGE" ("COUNT" is never terminal)
    terminating_rule_id: str  # rule name or "Default_Action"
    terminating_rule_type: str  # "REGULAR" | "RATE_BASED" | "GROUP" | "MANAGED_RULE_GROUP"
    labels: tuple[str, ...]
    custom_response: dict | None  # {"status", "headers": [(k, v)], "body", "content_type"}
    insert_headers: tuple[tuple[str, str], ...]  # already prefixed "x-amzn-waf-"
    non_terminating: tuple[dict, ...]  # COUNT-ed matches in log-record form
    rule_group_list: tuple[dict, ...]  # per rule group evaluated, log-record form
    rate_based: tuple[dict, ...]  # rateBasedRuleList entries
    matched_rule_names: tuple[str, ...]  # every rule that matched, "Group#Rule" inside groups
