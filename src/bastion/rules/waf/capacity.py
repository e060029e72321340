"""Web ACL capacity units (WCUs) as AWS prices statements."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from .errors import WafConfigError

MANAGED_CAPACITY = {
    "AWSManagedRulesCommonRuleSet": 700,
    "AWSManagedRulesAdminProtectionRuleSet": 100,
    "AWSManagedRulesKnownBadInputsRuleSet": 200,
    "AWSManagedRulesSQLiRuleSet": 200,
    "AWSManagedRulesLinuxRuleSet": 200,
    "AWSManagedRulesUnixRuleSet": 100,
    "AWSManagedRulesPHPRuleSet": 100,
    "AWSManagedRulesAmazonIpReputationList": 25,
    "AWSManagedRulesAnonymousIpList": 50,
}
WEB_ACL_BASE_CAPACITY = 1500
WEB_ACL_MAX_CAPACITY = 5000
RULE_GROUP_MAX_CAPACITY = 1500


def _field_extra(fld: Mapping | None, base: int) -> int:
    if not fld:
        return base
    if "JsonBody" in fld:
        base *= 2
    if "AllQueryArguments" in fld:
        base += 10
    return base


def _tt(stmt: Mapping) -> int:
    return 10 * sum(1 for t in stmt.get("TextTransformations") or [] if t.get("Type") != "NONE")


def statement_capacity(
    statement: Mapping, *, rule_groups_capacity: Callable[[str], int] | None = None
) -> int:
    if not statement or len(statement) != 1:
        raise WafConfigError("The parameter Statement must contain exactly one statement.")
    ((kind, s),) = statement.items()
    s = s or {}
    fld = s.get("FieldToMatch")
    if kind == "ByteMatchStatement":
        base = 10 if s.get("PositionalConstraint") in ("CONTAINS", "CONTAINS_WORD") else 2
        return _field_extra(fld, base) + _tt(s)
    if kind == "RegexMatchStatement":
        return _field_extra(fld, 4) + _tt(s)
    if kind == "RegexPatternSetReferenceStatement":
        return _field_extra(fld, 40) + _tt(s)
    if kind == "SqliMatchStatement":
        base = 30 if s.get("SensitivityLevel") == "HIGH" else 20
        return _field_extra(fld, base) + _tt(s)
    if kind == "XssMatchStatement":
        return _field_extra(fld, 40) + _tt(s)
    if kind == "SizeConstraintStatement":
        return _field_extra(fld, 1) + _tt(s)
    if kind == "IPSetReferenceStatement":
        fwd = s.get("IPSetForwardedIPConfig") or {}
        return 2 + (4 if fwd.get("Position") == "ANY" else 0)
    if kind in ("GeoMatchStatement", "LabelMatchStatement", "AsnMatchStatement"):
        return 1
    if kind in ("AndStatement", "OrStatement"):
        return sum(
            statement_capacity(x, rule_groups_capacity=rule_groups_capacity)
            for x in s.get("Statements") or []
        )
    if kind == "NotStatement":
        return statement_capacity(
            s.get("Statement") or {}, rule_groups_capacity=rule_groups_capacity
        )
    if kind == "RateBasedStatement":
        nested = s.get("ScopeDownStatement")
        extra = 0
        for key in s.get("CustomKeys") or []:
            for spec in key.values():
                extra += 10 * sum(
                    1
                    for t in (spec or {}).get("TextTransformations") or []
                    if t.get("Type") != "NONE"
                )
        return (
            2
            + extra
            + (
                statement_capacity(nested, rule_groups_capacity=rule_groups_capacity)
                if nested
                else 0
            )
        )
    if kind == "ManagedRuleGroupStatement":
        base = MANAGED_CAPACITY.get(s.get("Name", ""))
        if base is None:
            raise WafConfigError(
                f"The parameter ManagedRuleGroupStatement.Name is unknown: {s.get('Name')}."
            )
        nested = s.get("ScopeDownStatement")
        return base + (
            statement_capacity(nested, rule_groups_capacity=rule_groups_capacity) if nested else 0
        )
    if kind == "RuleGroupReferenceStatement":
        if rule_groups_capacity is None:
            raise WafConfigError(
                "The parameter RuleGroupReferenceStatement.ARN cannot be priced "
                "without the rule group."
            )
        return int(rule_groups_capacity(s.get("ARN", "")))
    raise WafConfigError(f"The parameter Statement has an unsupported statement: {kind}.")


def rule_group_capacity(rules: Sequence[Mapping]) -> int:
    return sum(statement_capacity(r.get("Statement") or {}) for r in rules)
