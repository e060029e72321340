"""AWS WAFv2 (`AWSWAF_20190729`): web ACLs, rule groups, IP sets and regex pattern sets
with LockToken optimistic locking; associations with edge load balancers; capacity (WCU)
checks; AWS managed rule groups; logging to JSON-lines files; sampled requests.

Every web ACL and rule group is compiled by the WAF engine (`bastion.rules.waf`) when
written, so what the API accepts is exactly what the edge can enforce; a change bumps
the WAFv2 version row and running edges recompile within a poll.
"""

from __future__ import annotations

import ipaddress
import random
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, insert, select, update

from bastion.context import RequestContext
from bastion.services import common
from bastion.services.base import Provider, operation
from bastion.services.wafv2 import errors as e
from bastion.storage.elbv2_tables import elbv2_load_balancers
from bastion.storage.wafv2_tables import (
    bump_wafv2_version,
    dump_doc,
    load_doc,
    wafv2_associations,
    wafv2_logging,
    wafv2_metrics,
    wafv2_resources,
    wafv2_samples,
)

KINDS = {
    "webacl": "WebACL",
    "rulegroup": "RuleGroup",
    "ipset": "IPSet",
    "regexpatternset": "RegexPatternSet",
}
QUOTAS = {"webacl": 100, "rulegroup": 100, "ipset": 100, "regexpatternset": 10}
MAX_WEB_ACL_WCU = 5000
MAX_RULE_GROUP_WCU = 1500
MAX_IP_ADDRESSES = 10_000
MAX_REGEXES = 10
MAX_REGEX_LENGTH = 200
SAMPLE_WINDOW = timedelta(hours=3)
_REFERENCES = {
    "IPSetReferenceStatement": "ipset",
    "RegexPatternSetReferenceStatement": "regexpatternset",
    "RuleGroupReferenceStatement": "rulegroup",
}
_LOG_DESTINATION = re.compile(
    r"^arn:aws[a-z-]*:(?:logs:[^:]+:\d{12}:log-group:aws-waf-logs-[^:]+(?::\*)?"
    r"|s3:::aws-waf-logs-[a-z0-9.-]+(?:/.*)?"
    r"|firehose:[^:]+:\d{12}:deliverystream/aws-waf-logs-.+)$"
)


def _engine() -> Any:
    from bastion.rules import waf

    return waf


def _walk(statement: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for key, body in statement.items():
        if not isinstance(body, dict):
            continue
        yield key, body
        if key in ("AndStatement", "OrStatement"):
            for inner in body.get("Statements") or []:
                yield from _walk(inner)
        elif key == "NotStatement":
            yield from _walk(body.get("Statement") or {})
        if body.get("ScopeDownStatement"):
            yield from _walk(body["ScopeDownStatement"])


def _token() -> str:
    return str(uuid.uuid4())


def _summary(row: Any) -> dict[str, Any]:
    out = {"Name": row.name, "Id": row.id, "LockToken": row.lock_token, "ARN": row.arn}
    if row.description:
        out["Description"] = row.description
    return out


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(value), UTC)


class Wafv2Provider(Provider):
    service = "wafv2"
    state_tables = (
        wafv2_resources,
        wafv2_associations,
        wafv2_logging,
        wafv2_metrics,
        wafv2_samples,
    )

    def reset_state(self, conn: Connection) -> None:
        super().reset_state(conn)
        bump_wafv2_version(conn)

    def load_state(self, conn: Connection, state: dict[str, Any]) -> None:
        super().load_state(conn, state)
        bump_wafv2_version(conn)

    # ================================================================ helpers

    @staticmethod
    def _auth(ctx: RequestContext, action: str, resources: list[str] | None = None) -> None:
        ctx.authorize(f"wafv2:{action}", resources or ["*"])

    @staticmethod
    def _region(ctx: RequestContext, scope: str) -> tuple[str, str]:
        """(storage region, ARN scope segment) of a scope."""
        if scope == "CLOUDFRONT":
            if ctx.region != "us-east-1":
                raise e.invalid("SCOPE_VALUE", scope, "The scope is not valid")
            return "us-east-1", "global"
        return ctx.region, "regional"

    def _arn(self, ctx: RequestContext, scope: str, kind: str, name: str, rid: str) -> str:
        region, segment = self._region(ctx, scope)
        return f"arn:aws:wafv2:{region}:{ctx.account_id}:{segment}/{kind}/{name}/{rid}"

    def _get_row(self, ctx: RequestContext, kind: str, scope: str, name: str, rid: str) -> Any:
        region, _ = self._region(ctx, scope)
        row = ctx.tx.execute(
            select(wafv2_resources).where(
                wafv2_resources.c.account_id == ctx.account_id,
                wafv2_resources.c.region == region,
                wafv2_resources.c.scope == scope,
                wafv2_resources.c.kind == kind,
                wafv2_resources.c.id == rid,
            )
        ).first()
        if row is None or (name and row.name != name):
            raise e.nonexistent()
        return row

    def _row_by_arn(self, ctx: RequestContext, arn: str, kind: str | None = None) -> Any:
        row = ctx.tx.execute(
            select(wafv2_resources).where(
                wafv2_resources.c.arn == arn, wafv2_resources.c.account_id == ctx.account_id
            )
        ).first()
        if row is None or (kind and row.kind != kind):
            raise e.nonexistent()
        return row

    def _request_row(self, ctx: RequestContext, kind: str, request: dict[str, Any]) -> Any:
        if request.get("ARN"):
            return self._row_by_arn(ctx, request["ARN"], kind)
        if not request.get("Name") or not request.get("Scope") or not request.get("Id"):
            raise e.invalid_message(
                "Error reason: You must specify either the ARN or the name, ID, and scope"
                " of the resource., field: RESOURCE_ARN, parameter: null"
            )
        return self._get_row(ctx, kind, request["Scope"], request["Name"], request["Id"])

    def _references(self, ctx: RequestContext, region: str, scope: str) -> dict[str, dict]:
        out: dict[str, dict[str, Any]] = {"rulegroup": {}, "ipset": {}, "regexpatternset": {}}
        for row in ctx.tx.execute(
            select(wafv2_resources).where(
                wafv2_resources.c.account_id == ctx.account_id,
                wafv2_resources.c.region == region,
                wafv2_resources.c.scope == scope,
                wafv2_resources.c.kind != "webacl",
            )
        ):
            out[row.kind][row.arn] = load_doc(row.doc)
        return out

    def _check_references(self, rules: list[dict[str, Any]], refs: dict[str, dict]) -> None:
        for rule in rules:
            for key, body in _walk(rule.get("Statement") or {}):
                kind = _REFERENCES.get(key)
                if kind and body.get("ARN") not in refs[kind]:
                    raise e.nonexistent()

    @staticmethod
    def _check_rules(rules: list[dict[str, Any]]) -> None:
        names: set[str] = set()
        priorities: set[int] = set()
        for rule in rules:
            if rule["Name"] in names or rule["Priority"] in priorities:
                raise e.duplicate()
            names.add(rule["Name"])
            priorities.add(rule["Priority"])

    def _compile(
        self,
        ctx: RequestContext,
        doc: dict[str, Any],
        refs: dict[str, dict],
    ) -> Any:
        waf = _engine()
        try:
            return waf.compile_web_acl(
                doc,
                account_id=ctx.account_id,
                rule_groups=refs["rulegroup"],
                ip_sets=refs["ipset"],
                regex_pattern_sets=refs["regexpatternset"],
            )
        except waf.WafConfigError as exc:
            raise e.invalid_message(exc.message) from None

    def _rules_capacity(self, rules: list[dict[str, Any]], refs: dict[str, dict]) -> int:
        waf = _engine()
        groups = refs["rulegroup"]

        def group_capacity(arn: str) -> int:
            if arn not in groups:
                raise e.nonexistent()
            return int(groups[arn].get("Capacity", 0))

        total = 0
        for rule in rules:
            try:
                total += waf.statement_capacity(
                    rule.get("Statement") or {}, rule_groups_capacity=group_capacity
                )
            except waf.WafConfigError as exc:
                raise e.invalid_message(exc.message) from None
        return total

    def _count(self, ctx: RequestContext, kind: str, region: str, scope: str) -> int:
        return int(
            ctx.tx.execute(
                select(func.count()).where(
                    wafv2_resources.c.account_id == ctx.account_id,
                    wafv2_resources.c.region == region,
                    wafv2_resources.c.scope == scope,
                    wafv2_resources.c.kind == kind,
                )
            ).scalar()
            or 0
        )

    def _insert(
        self,
        ctx: RequestContext,
        kind: str,
        request: dict[str, Any],
        doc: dict[str, Any],
        arn: str,
        rid: str,
        capacity: int = 0,
    ) -> dict[str, Any]:
        scope = request["Scope"]
        region, _ = self._region(ctx, scope)
        if self._count(ctx, kind, region, scope) >= QUOTAS[kind]:
            raise e.limits()
        taken = ctx.tx.execute(
            select(wafv2_resources.c.arn).where(
                wafv2_resources.c.account_id == ctx.account_id,
                wafv2_resources.c.region == region,
                wafv2_resources.c.scope == scope,
                wafv2_resources.c.kind == kind,
                wafv2_resources.c.name == request["Name"],
            )
        ).first()
        if taken is not None:
            raise e.duplicate()
        token = _token()
        tags = common.tags_from_list(request.get("Tags") or [])
        ctx.tx.execute(
            insert(wafv2_resources).values(
                arn=arn,
                kind=kind,
                account_id=ctx.account_id,
                region=region,
                scope=scope,
                name=request["Name"],
                id=rid,
                description=request.get("Description") or "",
                lock_token=token,
                capacity=capacity,
                doc=dump_doc(doc),
                tags=common.dump_tags(tags),
                created_at=ctx.now,
                updated_at=ctx.now,
            )
        )
        bump_wafv2_version(ctx.tx)
        summary = {"Name": request["Name"], "Id": rid, "LockToken": token, "ARN": arn}
        if request.get("Description"):
            summary["Description"] = request["Description"]
        return {"Summary": summary}

    def _update(
        self,
        ctx: RequestContext,
        row: Any,
        request: dict[str, Any],
        doc: dict[str, Any],
        capacity: int | None = None,
    ) -> dict[str, Any]:
        if request["LockToken"] != row.lock_token:
            raise e.optimistic_lock()
        token = _token()
        values: dict[str, Any] = {
            "doc": dump_doc(doc),
            "lock_token": token,
            "description": request.get("Description") or "",
            "updated_at": ctx.now,
        }
        if capacity is not None:
            values["capacity"] = capacity
        result = ctx.tx.execute(
            update(wafv2_resources)
            .where(
                wafv2_resources.c.arn == row.arn,
                wafv2_resources.c.lock_token == row.lock_token,
            )
            .values(**values)
        )
        if result.rowcount != 1:
            raise e.optimistic_lock()
        bump_wafv2_version(ctx.tx)
        return {"NextLockToken": token}

    def _delete(self, ctx: RequestContext, row: Any, lock_token: str) -> None:
        if lock_token != row.lock_token:
            raise e.optimistic_lock()
        ctx.tx.execute(delete(wafv2_resources).where(wafv2_resources.c.arn == row.arn))
        bump_wafv2_version(ctx.tx)

    def _referenced(self, ctx: RequestContext, row: Any) -> bool:
        """Whether a web ACL or rule group of the scope references `row`."""
        for other in ctx.tx.execute(
            select(wafv2_resources.c.doc).where(
                wafv2_resources.c.account_id == ctx.account_id,
                wafv2_resources.c.region == row.region,
                wafv2_resources.c.scope == row.scope,
                wafv2_resources.c.kind.in_(("webacl", "rulegroup")),
                wafv2_resources.c.arn != row.arn,
            )
        ):
            if row.arn in other.doc:
                return True
        return False

    def _list(
        self, ctx: RequestContext, kind: str, request: dict[str, Any], key: str
    ) -> dict[str, Any]:
        scope = request["Scope"]
        region, _ = self._region(ctx, scope)
        rows = list(
            ctx.tx.execute(
                select(wafv2_resources)
                .where(
                    wafv2_resources.c.account_id == ctx.account_id,
                    wafv2_resources.c.region == region,
                    wafv2_resources.c.scope == scope,
                    wafv2_resources.c.kind == kind,
                )
                .order_by(wafv2_resources.c.name)
            )
        )
        return _paged([_summary(r) for r in rows], request, key)

    # ================================================================ IP sets

    @staticmethod
    def _addresses(version: str, addresses: list[str]) -> list[str]:
        if len(addresses) > MAX_IP_ADDRESSES:
            raise e.limits()
        out = []
        for text in addresses:
            try:
                net = ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise e.invalid("IP_ADDRESS", text) from None
            if "/" not in text or (net.version == 4) != (version == "IPV4"):
                raise e.invalid("IP_ADDRESS", text)
            out.append(text)
        return out

    @operation("CreateIPSet")
    def create_ip_set(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        rid = _token()
        arn = self._arn(ctx, request["Scope"], "ipset", request["Name"], rid)
        self._auth(ctx, "CreateIPSet", [arn])
        doc = {
            "Name": request["Name"],
            "Id": rid,
            "ARN": arn,
            "Description": request.get("Description", ""),
            "IPAddressVersion": request["IPAddressVersion"],
            "Addresses": self._addresses(request["IPAddressVersion"], request["Addresses"]),
        }
        return self._insert(ctx, "ipset", request, doc, arn, rid)

    @operation("GetIPSet")
    def get_ip_set(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = self._request_row(ctx, "ipset", request)
        self._auth(ctx, "GetIPSet", [row.arn])
        return {"IPSet": load_doc(row.doc), "LockToken": row.lock_token}

    @operation("UpdateIPSet")
    def update_ip_set(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = self._get_row(ctx, "ipset", request["Scope"], request["Name"], request["Id"])
        self._auth(ctx, "UpdateIPSet", [row.arn])
        doc = load_doc(row.doc)
        doc["Addresses"] = self._addresses(doc["IPAddressVersion"], request["Addresses"])
        doc["Description"] = request.get("Description", "")
        return self._update(ctx, row, request, doc)

    @operation("DeleteIPSet")
    def delete_ip_set(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = self._get_row(ctx, "ipset", request["Scope"], request["Name"], request["Id"])
        self._auth(ctx, "DeleteIPSet", [row.arn])
        if self._referenced(ctx, row):
            raise e.associated()
        self._delete(ctx, row, request["LockToken"])
        return {}

    @operation("ListIPSets")
    def list_ip_sets(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self._auth(ctx, "ListIPSets")
        return self._list(ctx, "ipset", request, "IPSets")

    # ====================================================== regex pattern sets

    @staticmethod
    def _regexes(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(items) > MAX_REGEXES:
            raise e.limits()
        for item in items:
            text = item.get("RegexString")
            if not text:
                raise e.invalid("REGEX", "", "RegexString must not be empty")
            if len(text) > MAX_REGEX_LENGTH:
                raise e.limits()
            try:
                re.compile(text)
            except re.error:
                raise e.invalid("REGEX", text, "The regular expression is not valid") from None
        return [{"RegexString": item["RegexString"]} for item in items]

    @operation("CreateRegexPatternSet")
    def create_regex_pattern_set(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        rid = _token()
        arn = self._arn(ctx, request["Scope"], "regexpatternset", request["Name"], rid)
        self._auth(ctx, "CreateRegexPatternSet", [arn])
        doc = {
            "Name": request["Name"],
            "Id": rid,
            "ARN": arn,
            "Description": request.get("Description", ""),
            "RegularExpressionList": self._regexes(request["RegularExpressionList"]),
        }
        return self._insert(ctx, "regexpatternset", request, doc, arn, rid)

    @operation("GetRegexPatternSet")
    def get_regex_pattern_set(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = self._request_row(ctx, "regexpatternset", request)
        self._auth(ctx, "GetRegexPatternSet", [row.arn])
        return {"RegexPatternSet": load_doc(row.doc), "LockToken": row.lock_token}

    @operation("UpdateRegexPatternSet")
    def update_regex_pattern_set(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        row = self._get_row(
            ctx, "regexpatternset", request["Scope"], request["Name"], request["Id"]
        )
        self._auth(ctx, "UpdateRegexPatternSet", [row.arn])
        doc = load_doc(row.doc)
        doc["RegularExpressionList"] = self._regexes(request["RegularExpressionList"])
        doc["Description"] = request.get("Description", "")
        return self._update(ctx, row, request, doc)

    @operation("DeleteRegexPatternSet")
    def delete_regex_pattern_set(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        row = self._get_row(
            ctx, "regexpatternset", request["Scope"], request["Name"], request["Id"]
        )
        self._auth(ctx, "DeleteRegexPatternSet", [row.arn])
        if self._referenced(ctx, row):
            raise e.associated()
        self._delete(ctx, row, request["LockToken"])
        return {}

    @operation("ListRegexPatternSets")
    def list_regex_pattern_sets(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        self._auth(ctx, "ListRegexPatternSets")
        return self._list(ctx, "regexpatternset", request, "RegexPatternSets")

    # ============================================================= rule groups

    def _rule_group_doc(
        self, ctx: RequestContext, request: dict[str, Any], arn: str, rid: str, capacity: int
    ) -> dict[str, Any]:
        rules = request.get("Rules") or []
        self._check_rules(rules)
        region, _ = self._region(ctx, request["Scope"])
        refs = self._references(ctx, region, request["Scope"])
        for rule in rules:
            for key, _body in _walk(rule.get("Statement") or {}):
                if key in ("RuleGroupReferenceStatement", "ManagedRuleGroupStatement"):
                    raise e.invalid(
                        "RULE", rule["Name"], "A rule group can't reference another rule group"
                    )
        self._check_references(rules, refs)
        used = self._rules_capacity(rules, refs)
        if used > capacity:
            raise e.limits()
        name = request["Name"]
        doc: dict[str, Any] = {
            "Name": name,
            "Id": rid,
            "Capacity": capacity,
            "ARN": arn,
            "Description": request.get("Description", ""),
            "Rules": rules,
            "VisibilityConfig": request["VisibilityConfig"],
            "LabelNamespace": f"awswaf:{ctx.account_id}:rulegroup:{name}:",
        }
        if request.get("CustomResponseBodies"):
            doc["CustomResponseBodies"] = request["CustomResponseBodies"]
        labels = sorted(
            {
                lab["Name"]
                for rule in rules
                for lab in rule.get("RuleLabels") or []
                if lab.get("Name")
            }
        )
        if labels:
            doc["AvailableLabels"] = [{"Name": doc["LabelNamespace"] + lab} for lab in labels]
        consumed = sorted(
            {
                body["Key"]
                for rule in rules
                for key, body in _walk(rule.get("Statement") or {})
                if key == "LabelMatchStatement"
            }
        )
        if consumed:
            doc["ConsumedLabels"] = [{"Name": lab} for lab in consumed]
        refs["rulegroup"][arn] = doc
        probe = {
            "Name": f"{name}-validation",
            "DefaultAction": {"Allow": {}},
            "Rules": [
                {
                    "Name": name,
                    "Priority": 0,
                    "Statement": {"RuleGroupReferenceStatement": {"ARN": arn}},
                    "OverrideAction": {"None": {}},
                    "VisibilityConfig": request["VisibilityConfig"],
                }
            ],
            "VisibilityConfig": request["VisibilityConfig"],
        }
        self._compile(ctx, probe, refs)
        return doc

    @operation("CreateRuleGroup")
    def create_rule_group(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        rid = _token()
        arn = self._arn(ctx, request["Scope"], "rulegroup", request["Name"], rid)
        self._auth(ctx, "CreateRuleGroup", [arn])
        capacity = request["Capacity"]
        if capacity > MAX_RULE_GROUP_WCU:
            raise e.limits()
        doc = self._rule_group_doc(ctx, request, arn, rid, capacity)
        return self._insert(ctx, "rulegroup", request, doc, arn, rid, capacity)

    @operation("GetRuleGroup")
    def get_rule_group(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = self._request_row(ctx, "rulegroup", request)
        self._auth(ctx, "GetRuleGroup", [row.arn])
        return {"RuleGroup": load_doc(row.doc), "LockToken": row.lock_token}

    @operation("UpdateRuleGroup")
    def update_rule_group(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = self._get_row(ctx, "rulegroup", request["Scope"], request["Name"], request["Id"])
        self._auth(ctx, "UpdateRuleGroup", [row.arn])
        if request["LockToken"] != row.lock_token:
            raise e.optimistic_lock()
        doc = self._rule_group_doc(ctx, request, row.arn, row.id, row.capacity)
        result = self._update(ctx, row, request, doc)
        self._recheck_acls(ctx, row)
        return result

    def _recheck_acls(self, ctx: RequestContext, changed: Any) -> None:
        """Web ACLs using a changed rule group must still compile."""
        refs = self._references(ctx, changed.region, changed.scope)
        for acl in ctx.tx.execute(
            select(wafv2_resources).where(
                wafv2_resources.c.account_id == ctx.account_id,
                wafv2_resources.c.region == changed.region,
                wafv2_resources.c.scope == changed.scope,
                wafv2_resources.c.kind == "webacl",
            )
        ):
            if changed.arn in acl.doc:
                self._compile(ctx, load_doc(acl.doc), refs)

    @operation("DeleteRuleGroup")
    def delete_rule_group(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = self._get_row(ctx, "rulegroup", request["Scope"], request["Name"], request["Id"])
        self._auth(ctx, "DeleteRuleGroup", [row.arn])
        if self._referenced(ctx, row):
            raise e.associated()
        self._delete(ctx, row, request["LockToken"])
        return {}

    @operation("ListRuleGroups")
    def list_rule_groups(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self._auth(ctx, "ListRuleGroups")
        return self._list(ctx, "rulegroup", request, "RuleGroups")

    # ================================================================ web ACLs

    def _web_acl_doc(
        self, ctx: RequestContext, request: dict[str, Any], arn: str, rid: str
    ) -> tuple[dict[str, Any], int]:
        rules = request.get("Rules") or []
        self._check_rules(rules)
        region, _ = self._region(ctx, request["Scope"])
        refs = self._references(ctx, region, request["Scope"])
        self._check_references(rules, refs)
        name = request["Name"]
        doc: dict[str, Any] = {
            "Name": name,
            "Id": rid,
            "ARN": arn,
            "DefaultAction": request["DefaultAction"],
            "Description": request.get("Description", ""),
            "Rules": rules,
            "VisibilityConfig": request["VisibilityConfig"],
            "Capacity": 0,
            "ManagedByFirewallManager": False,
            "LabelNamespace": f"awswaf:{ctx.account_id}:webacl:{name}:",
            "RetrofittedByFirewallManager": False,
        }
        for key in (
            "CustomResponseBodies",
            "CaptchaConfig",
            "ChallengeConfig",
            "TokenDomains",
            "AssociationConfig",
            "DataProtectionConfig",
        ):
            if request.get(key):
                doc[key] = request[key]
        capacity = self._rules_capacity(rules, refs)
        if capacity > MAX_WEB_ACL_WCU:
            raise e.limits()
        doc["Capacity"] = capacity
        self._compile(ctx, doc, refs)
        return doc, capacity

    @operation("CreateWebACL")
    def create_web_acl(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        rid = _token()
        arn = self._arn(ctx, request["Scope"], "webacl", request["Name"], rid)
        self._auth(ctx, "CreateWebACL", [arn])
        doc, capacity = self._web_acl_doc(ctx, request, arn, rid)
        return self._insert(ctx, "webacl", request, doc, arn, rid, capacity)

    @operation("GetWebACL")
    def get_web_acl(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = self._request_row(ctx, "webacl", request)
        self._auth(ctx, "GetWebACL", [row.arn])
        return {"WebACL": load_doc(row.doc), "LockToken": row.lock_token}

    @operation("UpdateWebACL")
    def update_web_acl(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = self._get_row(ctx, "webacl", request["Scope"], request["Name"], request["Id"])
        self._auth(ctx, "UpdateWebACL", [row.arn])
        if request["LockToken"] != row.lock_token:
            raise e.optimistic_lock()
        doc, capacity = self._web_acl_doc(ctx, request, row.arn, row.id)
        return self._update(ctx, row, request, doc, capacity)

    @operation("DeleteWebACL")
    def delete_web_acl(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = self._get_row(ctx, "webacl", request["Scope"], request["Name"], request["Id"])
        self._auth(ctx, "DeleteWebACL", [row.arn])
        used = ctx.tx.execute(
            select(wafv2_associations.c.resource_arn).where(
                wafv2_associations.c.web_acl_arn == row.arn
            )
        ).first()
        if used is not None:
            raise e.associated()
        self._delete(ctx, row, request["LockToken"])
        ctx.tx.execute(delete(wafv2_logging).where(wafv2_logging.c.web_acl_arn == row.arn))
        return {}

    @operation("ListWebACLs")
    def list_web_acls(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self._auth(ctx, "ListWebACLs")
        return self._list(ctx, "webacl", request, "WebACLs")

    @operation("CheckCapacity")
    def check_capacity(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self._auth(ctx, "CheckCapacity")
        region, _ = self._region(ctx, request["Scope"])
        refs = self._references(ctx, region, request["Scope"])
        rules = request["Rules"]
        self._check_references(rules, refs)
        return {"Capacity": self._rules_capacity(rules, refs)}

    # ============================================================ associations

    def _load_balancer(self, ctx: RequestContext, arn: str) -> Any:
        if ":elasticloadbalancing:" not in arn or ":loadbalancer/app/" not in arn:
            raise e.invalid("RESOURCE_ARN", arn, "The ARN isn't valid")
        row = ctx.tx.execute(
            select(elbv2_load_balancers).where(
                elbv2_load_balancers.c.arn == arn,
                elbv2_load_balancers.c.account_id == ctx.account_id,
            )
        ).first()
        if row is None:
            raise e.nonexistent()
        return row

    @operation("AssociateWebACL")
    def associate_web_acl(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        acl_arn = request["WebACLArn"]
        resource = request["ResourceArn"]
        self._auth(ctx, "AssociateWebACL", [acl_arn, resource])
        acl = self._row_by_arn(ctx, acl_arn, "webacl")
        if acl.scope != "REGIONAL":
            raise e.invalid("RESOURCE_ARN", resource, "The ARN isn't valid")
        lb = self._load_balancer(ctx, resource)
        if lb.region != acl.region:
            raise e.invalid("RESOURCE_ARN", resource, "The ARN isn't valid")
        ctx.tx.execute(
            delete(wafv2_associations).where(wafv2_associations.c.resource_arn == resource)
        )
        ctx.tx.execute(
            insert(wafv2_associations).values(
                resource_arn=resource,
                web_acl_arn=acl_arn,
                account_id=ctx.account_id,
                region=acl.region,
                created_at=ctx.now,
            )
        )
        bump_wafv2_version(ctx.tx)
        return {}

    @operation("DisassociateWebACL")
    def disassociate_web_acl(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        resource = request["ResourceArn"]
        self._auth(ctx, "DisassociateWebACL", [resource])
        self._load_balancer(ctx, resource)
        ctx.tx.execute(
            delete(wafv2_associations).where(wafv2_associations.c.resource_arn == resource)
        )
        bump_wafv2_version(ctx.tx)
        return {}

    @operation("GetWebACLForResource")
    def get_web_acl_for_resource(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        resource = request["ResourceArn"]
        self._auth(ctx, "GetWebACLForResource", [resource])
        self._load_balancer(ctx, resource)
        acl_arn = ctx.tx.execute(
            select(wafv2_associations.c.web_acl_arn).where(
                wafv2_associations.c.resource_arn == resource
            )
        ).scalar()
        if acl_arn is None:
            return {}
        row = self._row_by_arn(ctx, acl_arn, "webacl")
        return {"WebACL": load_doc(row.doc)}

    @operation("ListResourcesForWebACL")
    def list_resources_for_web_acl(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        acl_arn = request["WebACLArn"]
        self._auth(ctx, "ListResourcesForWebACL", [acl_arn])
        self._row_by_arn(ctx, acl_arn, "webacl")
        kind = request.get("ResourceType", "APPLICATION_LOAD_BALANCER")
        if kind != "APPLICATION_LOAD_BALANCER":
            return {"ResourceArns": []}
        rows = ctx.tx.execute(
            select(wafv2_associations.c.resource_arn)
            .where(wafv2_associations.c.web_acl_arn == acl_arn)
            .order_by(wafv2_associations.c.resource_arn)
        )
        return {"ResourceArns": [r.resource_arn for r in rows]}

    # ========================================================= managed groups

    @operation("ListAvailableManagedRuleGroups", storage=False)
    def list_available_managed_rule_groups(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        self._auth(ctx, "ListAvailableManagedRuleGroups")
        groups = [
            {
                "VendorName": g["VendorName"],
                "Name": g["Name"],
                "VersioningSupported": bool(g.get("VersioningSupported", False)),
                "Description": g.get("Description", ""),
            }
            for g in _engine().managed_rule_groups()
        ]
        return _paged(groups, request, "ManagedRuleGroups")

    @operation("DescribeManagedRuleGroup", storage=False)
    def describe_managed_rule_group(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        self._auth(ctx, "DescribeManagedRuleGroup")
        waf = _engine()
        try:
            described = waf.describe_managed_rule_group(request["VendorName"], request["Name"])
        except (KeyError, waf.WafConfigError):
            raise e.nonexistent() from None
        if described is None:
            raise e.nonexistent()
        return dict(described)

    # ================================================================ logging

    @staticmethod
    def _logging_view(config: dict[str, Any]) -> dict[str, Any]:
        out = dict(config)
        out.setdefault("ManagedByFirewallManager", False)
        out.setdefault("LogType", "WAF_LOGS")
        out.setdefault("LogScope", "CUSTOMER")
        return out

    @operation("PutLoggingConfiguration")
    def put_logging_configuration(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        config = request["LoggingConfiguration"]
        acl_arn = config["ResourceArn"]
        self._auth(ctx, "PutLoggingConfiguration", [acl_arn])
        acl = self._row_by_arn(ctx, acl_arn, "webacl")
        destinations = config["LogDestinationConfigs"]
        if len(destinations) != 1:
            raise e.invalid("LOG_DESTINATION", ",".join(destinations))
        if not _LOG_DESTINATION.match(destinations[0]):
            raise e.invalid(
                "LOG_DESTINATION",
                destinations[0],
                "The ARN isn't valid. A valid ARN begins with arn: and includes other"
                " information separated by colons or slashes",
            )
        view = self._logging_view(config)
        ctx.tx.execute(delete(wafv2_logging).where(wafv2_logging.c.web_acl_arn == acl_arn))
        ctx.tx.execute(
            insert(wafv2_logging).values(
                web_acl_arn=acl_arn,
                account_id=ctx.account_id,
                region=acl.region,
                config=orjson.dumps(view).decode(),
            )
        )
        bump_wafv2_version(ctx.tx)
        return {"LoggingConfiguration": view}

    @operation("GetLoggingConfiguration")
    def get_logging_configuration(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        acl_arn = request["ResourceArn"]
        self._auth(ctx, "GetLoggingConfiguration", [acl_arn])
        config = ctx.tx.execute(
            select(wafv2_logging.c.config).where(
                wafv2_logging.c.web_acl_arn == acl_arn,
                wafv2_logging.c.account_id == ctx.account_id,
            )
        ).scalar()
        if config is None:
            raise e.nonexistent()
        return {"LoggingConfiguration": orjson.loads(config)}

    @operation("DeleteLoggingConfiguration")
    def delete_logging_configuration(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        acl_arn = request["ResourceArn"]
        self._auth(ctx, "DeleteLoggingConfiguration", [acl_arn])
        result = ctx.tx.execute(
            delete(wafv2_logging).where(
                wafv2_logging.c.web_acl_arn == acl_arn,
                wafv2_logging.c.account_id == ctx.account_id,
            )
        )
        if result.rowcount == 0:
            raise e.nonexistent()
        bump_wafv2_version(ctx.tx)
        return {}

    @operation("ListLoggingConfigurations")
    def list_logging_configurations(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        self._auth(ctx, "ListLoggingConfigurations")
        scope = request.get("Scope", "REGIONAL")
        region, segment = self._region(ctx, scope)
        rows = ctx.tx.execute(
            select(wafv2_logging)
            .where(
                wafv2_logging.c.account_id == ctx.account_id,
                wafv2_logging.c.region == region,
            )
            .order_by(wafv2_logging.c.web_acl_arn)
        )
        items = [orjson.loads(r.config) for r in rows if f":{segment}/webacl/" in r.web_acl_arn]
        return _paged(items, request, "LoggingConfigurations")

    # ====================================================== sampled requests

    @operation("GetSampledRequests")
    def get_sampled_requests(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        acl_arn = request["WebAclArn"]
        self._auth(ctx, "GetSampledRequests", [acl_arn])
        self._row_by_arn(ctx, acl_arn, "webacl")
        window = request["TimeWindow"]
        start = _utc(window["StartTime"])
        end = _utc(window["EndTime"])
        earliest = ctx.now - SAMPLE_WINDOW
        if end < start:
            raise e.invalid("TIME_WINDOW", "TimeWindow", "The time window isn't valid")
        start = max(start, earliest)
        rows = list(
            ctx.tx.execute(
                select(wafv2_samples.c.record, wafv2_samples.c.weight)
                .where(
                    wafv2_samples.c.web_acl_arn == acl_arn,
                    wafv2_samples.c.rule_metric_name == request["RuleMetricName"],
                    wafv2_samples.c.ts >= start.timestamp(),
                    wafv2_samples.c.ts <= end.timestamp(),
                )
                .order_by(wafv2_samples.c.ts)
                .limit(5000)
            )
        )
        population = sum(int(r.weight) for r in rows)
        max_items = request["MaxItems"]
        if len(rows) > max_items:
            rows = sorted(random.sample(rows, max_items), key=lambda r: r.record)
        samples = []
        for row in rows:
            record = orjson.loads(row.record)
            record["Timestamp"] = _utc(record["Timestamp"])
            samples.append(record)
        samples.sort(key=lambda s: s["Timestamp"])
        return {
            "SampledRequests": samples,
            "PopulationSize": population,
            "TimeWindow": {"StartTime": start, "EndTime": end},
        }

    # ==================================================================== tags

    @operation("TagResource")
    def tag_resource(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        arn = request["ResourceARN"]
        self._auth(ctx, "TagResource", [arn])
        row = self._row_by_arn(ctx, arn)
        tags = common.load_tags(row.tags)
        tags.update(common.tags_from_list(request["Tags"]))
        if len(tags) > 50:
            raise e.limits()
        ctx.tx.execute(
            update(wafv2_resources)
            .where(wafv2_resources.c.arn == arn)
            .values(tags=common.dump_tags(tags))
        )
        return {}

    @operation("UntagResource")
    def untag_resource(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        arn = request["ResourceARN"]
        self._auth(ctx, "UntagResource", [arn])
        row = self._row_by_arn(ctx, arn)
        tags = common.load_tags(row.tags)
        for key in request["TagKeys"]:
            tags.pop(key, None)
        ctx.tx.execute(
            update(wafv2_resources)
            .where(wafv2_resources.c.arn == arn)
            .values(tags=common.dump_tags(tags))
        )
        return {}

    @operation("ListTagsForResource")
    def list_tags_for_resource(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        arn = request["ResourceARN"]
        self._auth(ctx, "ListTagsForResource", [arn])
        row = self._row_by_arn(ctx, arn)
        tags = common.load_tags(row.tags)
        return {
            "TagInfoForResource": {
                "ResourceARN": arn,
                "TagList": common.tags_to_list(tags),
            }
        }


def _invalid_marker(marker: str) -> Exception:
    return e.invalid("NEXT_MARKER", marker)


def _paged(items: list[Any], request: dict[str, Any], key: str) -> dict[str, Any]:
    limit = request.get("Limit") or 100
    return common.offset_page(items, request.get("NextMarker"), limit, key, _invalid_marker)
