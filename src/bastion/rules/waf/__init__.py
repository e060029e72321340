"""Bastion's WAF rule engine: AWS WAFv2 web ACLs compiled once and evaluated per request.

Pure: no I/O besides reading IP-list files on request and, for shared rate limits, Redis.
"""

from __future__ import annotations

from .capacity import rule_group_capacity, statement_capacity
from .decision import WafDecision
from .engine import (
    CompiledWebACL,
    ManagedData,
    compile_web_acl,
    issue_token,
    token_age,
)
from .errors import WafConfigError
from .geo import country_of, load_country_file
from .managed import describe_managed_rule_group, load_ip_lists, managed_rule_groups
from .rate import MemoryRateCounter, RateCounter, RedisRateCounter, rate_counter_from_env
from .request import WafRequest
from .sqli import detect_sqli, is_sqli
from .xss import detect_xss, is_xss

__all__ = [
    "CompiledWebACL",
    "ManagedData",
    "MemoryRateCounter",
    "RateCounter",
    "RedisRateCounter",
    "WafConfigError",
    "WafDecision",
    "WafRequest",
    "compile_web_acl",
    "country_of",
    "describe_managed_rule_group",
    "detect_sqli",
    "detect_xss",
    "is_sqli",
    "is_xss",
    "issue_token",
    "load_country_file",
    "load_ip_lists",
    "managed_rule_groups",
    "rate_counter_from_env",
    "rule_group_capacity",
    "statement_capacity",
    "token_age",
]
