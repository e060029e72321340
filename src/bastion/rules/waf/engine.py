"""Compile a WAFv2 web ACL once; evaluate requests against it with AWS's semantics.

Rules run by ascending priority. Allow, Block, and an unanswered CAPTCHA/Challenge stop
evaluation; Count (and a CAPTCHA/Challenge whose token is valid) adds labels and goes on.
Rule groups (yours or managed) run inline at their rule's position; a group rule's
terminating action ends the whole web ACL unless the reference overrides it to Count.
A rule's labels are added whenever it matches, so later LabelMatch statements see them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import managed as managed_mod
from .capacity import statement_capacity
from .decision import WafDecision
from .errors import WafConfigError
from .request import RequestView, WafRequest
from .statements import (
    CompileContext,
    EvalState,
    Node,
    compile_statement,
    forwarded_ips,
)
from .transformations import compile_pipeline, transformation_names

DEFAULT_BODY_LIMIT = 8192  # ALB's fixed body inspection limit
CONTENT_TYPES = {
    "TEXT_PLAIN": "text/plain",
    "TEXT_HTML": "text/html",
    "APPLICATION_JSON": "application/json",
}
ACTIONS = ("Allow", "Block", "Count", "Captcha", "Challenge")
TOKEN_COOKIE = "aws-waf-token"  # noqa: S105 - a cookie name


@dataclass
class Action:
    kind: str  # ALLOW BLOCK COUNT CAPTCHA CHALLENGE
    custom_response: dict | None = None
    insert_headers: tuple[tuple[str, str], ...] = ()
    immunity: int = 300


@dataclass
class Rule:
    name: str
    priority: int
    kind: str  # REGULAR RATE_BASED GROUP MANAGED_RULE_GROUP
    labels: tuple[str, ...]
    node: Node | None = None
    action: Action | None = None
    override_count: bool = False
    group: Group | None = None
    scope_down: Node | None = None
    rate: RateConfig | None = None


@dataclass
class Group:
    group_id: str  # ARN, or "AWS#Name" for managed
    name: str
    rules: list[Rule]
    excluded: frozenset[str] = frozenset()
    overrides: dict[str, Action] = field(default_factory=dict)


@dataclass
class RateConfig:
    limit: int
    window: int
    key_type: str
    fwd_header: str | None
    fwd_fallback: bool
    custom: list[Callable[[RequestView], str | None]]
    custom_names: list[str]


@dataclass
class ManagedData:
    """Data behind managed rule groups: IP lists by name (see `load_ip_lists`)."""

    ip_lists: Mapping[str, Any] = field(default_factory=dict)


# --- tokens for CAPTCHA and Challenge --------------------------------------------------------

_PROCESS_SECRET = os.urandom(32)


def issue_token(now: float, *, secret: bytes | None = None, kind: str = "captcha") -> str:
    """A value for the `aws-waf-token` cookie, proving a solved CAPTCHA/Challenge at `now`."""
    payload = f"{kind}:{int(now)}".encode()
    sig = hmac.new(secret or _PROCESS_SECRET, payload, hashlib.sha256).digest()[:18]
    return (
        base64.urlsafe_b64encode(payload).decode().rstrip("=")
        + "."
        + base64.urlsafe_b64encode(sig).decode().rstrip("=")
    )


def token_age(token: str, now: float, *, secret: bytes | None = None) -> float | None:
    """Seconds since the token was issued; None when it is not a valid token."""
    try:
        p64, s64 = token.split(".", 1)
        payload = base64.urlsafe_b64decode(p64 + "=" * (-len(p64) % 4))
        sig = base64.urlsafe_b64decode(s64 + "=" * (-len(s64) % 4))
    except (ValueError, TypeError):
        return None
    good = hmac.new(secret or _PROCESS_SECRET, payload, hashlib.sha256).digest()[:18]
    if not hmac.compare_digest(good, sig):
        return None
    try:
        issued = int(payload.decode().split(":", 1)[1])
    except (ValueError, IndexError):
        return None
    return now - issued


# --- compilation ---------------------------------------------------------------------------------


def _action(spec: Mapping | None, bodies: Mapping, where: str, immunity: int = 300) -> Action:
    if not spec or len(spec) != 1:
        raise WafConfigError(f"The parameter {where} must contain exactly one action.")
    ((name, conf),) = spec.items()
    conf = conf or {}
    if name not in ACTIONS:
        raise WafConfigError(f"The parameter {where} has an unsupported action: {name}.")
    act = Action(name.upper(), immunity=immunity)
    crh = conf.get("CustomRequestHandling")
    if crh:
        act.insert_headers = tuple(
            ("x-amzn-waf-" + h["Name"], h["Value"]) for h in crh.get("InsertHeaders") or []
        )
    cr = conf.get("CustomResponse")
    if cr:
        if name != "Block":
            raise WafConfigError(f"The parameter {where}.{name} cannot have a CustomResponse.")
        code = int(cr.get("ResponseCode", 0))
        if not 200 <= code <= 599:
            raise WafConfigError(
                f"The parameter {where}.Block.CustomResponse.ResponseCode is out of range."
            )
        body = b""
        ctype = "text/plain"
        key = cr.get("CustomResponseBodyKey")
        if key:
            if key not in bodies:
                raise WafConfigError(
                    f"The parameter CustomResponseBodyKey refers to a body that "
                    f"does not exist: {key}."
                )
            body = str(bodies[key].get("Content", "")).encode()
            ctype = CONTENT_TYPES.get(bodies[key].get("ContentType", ""), "text/plain")
        act.custom_response = {
            "status": code,
            "headers": [(h["Name"], h["Value"]) for h in cr.get("ResponseHeaders") or []],
            "body": body,
            "content_type": ctype,
        }
    return act


def _immunity(conf: Mapping | None, default: int) -> int:
    if conf and conf.get("ImmunityTimeProperty"):
        return int(conf["ImmunityTimeProperty"].get("ImmunityTime", default))
    return default


def _custom_key(
    key: Mapping, cc: CompileContext
) -> tuple[str, Callable[[RequestView], str | None]]:
    ((kind, spec),) = key.items()
    spec = spec or {}
    pipe = compile_pipeline(transformation_names(spec.get("TextTransformations") or []))

    def tr(v: str | None) -> str | None:
        return None if v is None else (pipe(v) if pipe else v)

    if kind == "Header":
        name = spec["Name"].lower()
        return kind, lambda v: tr(v.header(name))
    if kind == "Cookie":
        name = spec["Name"]
        return kind, lambda v: tr(next((c for k, c in v.cookies() if k == name), None))
    if kind == "QueryArgument":
        name = spec["Name"].lower()
        return kind, lambda v: tr(next((a for k, a in v.query_args() if k.lower() == name), None))
    if kind == "QueryString":
        return kind, lambda v: tr(v.request.query_string or None)
    if kind == "UriPath":
        return kind, lambda v: tr(v.request.uri_path)
    if kind == "HTTPMethod":
        return kind, lambda v: v.request.method
    if kind == "IP":
        return kind, lambda v: v.request.client_ip
    if kind == "ForwardedIP":
        return kind, lambda v: None  # replaced in _rate using the ForwardedIPConfig
    if kind == "LabelNamespace":
        ns = spec["Namespace"]
        if not ns.endswith(":"):
            ns += ":"
        return kind, lambda v: next((lab for lab in v.labels if lab.startswith(ns)), None)
    if kind in ("JA3Fingerprint", "JA4Fingerprint", "ASN"):
        return kind, lambda v: None
    raise WafConfigError(f"The parameter CustomKeys has an unsupported key: {kind}.")


def _rate(s: Mapping, cc: CompileContext) -> tuple[RateConfig, Node | None]:
    limit = int(s.get("Limit", 0))
    if not 10 <= limit <= 2_000_000_000:
        raise WafConfigError(
            "The parameter RateBasedStatement.Limit must be between 10 and 2000000000."
        )
    window = int(s.get("EvaluationWindowSec", 300))
    if window not in (60, 120, 300, 600):
        raise WafConfigError(
            "The parameter RateBasedStatement.EvaluationWindowSec must be 60, 120, 300 or 600."
        )
    key_type = s.get("AggregateKeyType", "IP")
    if key_type not in ("IP", "FORWARDED_IP", "CUSTOM_KEYS", "CONSTANT"):
        raise WafConfigError(
            "The parameter RateBasedStatement.AggregateKeyType has an invalid value."
        )
    fwd = s.get("ForwardedIPConfig")
    header, fallback = None, False
    if fwd:
        header = fwd.get("HeaderName")
        fallback = fwd.get("FallbackBehavior") == "MATCH"
    if key_type == "FORWARDED_IP" and not header:
        raise WafConfigError(
            "The parameter RateBasedStatement.ForwardedIPConfig is required for FORWARDED_IP."
        )
    scope = s.get("ScopeDownStatement")
    if key_type == "CONSTANT" and not scope:
        raise WafConfigError(
            "The parameter RateBasedStatement.ScopeDownStatement is required for CONSTANT."
        )
    custom: list[Callable[[RequestView], str | None]] = []
    names: list[str] = []
    keys = s.get("CustomKeys") or []
    if key_type == "CUSTOM_KEYS":
        if not 1 <= len(keys) <= 5:
            raise WafConfigError(
                "The parameter RateBasedStatement.CustomKeys must have 1 to 5 keys."
            )
        for k in keys:
            name, fn = _custom_key(k, cc)
            if name == "ForwardedIP":
                if not header:
                    raise WafConfigError(
                        "The parameter ForwardedIPConfig is required for a ForwardedIP key."
                    )
                hdr = header

                def fn(v: RequestView, hdr: str = hdr) -> str | None:
                    ips = forwarded_ips(v, hdr)
                    return ips[0] if ips else None

            names.append(name)
            custom.append(fn)
        if set(names) <= {"IP", "ForwardedIP"}:
            raise WafConfigError("The parameter CustomKeys needs a key besides IP and ForwardedIP.")
    node = compile_statement(scope, cc) if scope else None
    return RateConfig(limit, window, key_type, header, fallback, custom, names), node


def _qualify(labels: list[Mapping] | None, namespace: str) -> tuple[str, ...]:
    out = []
    for lab in labels or []:
        name = lab["Name"]
        out.append(name if name.startswith("awswaf:") else namespace + name)
    return tuple(out)


def _compile_rules(
    rules: list[Mapping],
    cc: CompileContext,
    bodies: Mapping,
    captcha_default: int,
    challenge_default: int,
    *,
    in_group: bool,
    managed_data: ManagedData,
    account_id: str,
    depth: int = 0,
) -> list[Rule]:
    out: list[Rule] = []
    names: set[str] = set()
    priorities: set[int] = set()
    for r in rules:
        name = r.get("Name", "")
        if not name:
            raise WafConfigError("The parameter Rules.Name is required.")
        if name in names:
            raise WafConfigError(f"The parameter Rules has a duplicate name: {name}.")
        prio = int(r.get("Priority", 0))
        if prio in priorities:
            raise WafConfigError(f"The parameter Rules has a duplicate priority: {prio}.")
        names.add(name)
        priorities.add(prio)
        stmt = r.get("Statement") or {}
        labels = _qualify(r.get("RuleLabels"), cc.label_namespace)
        cap_imm = _immunity(r.get("CaptchaConfig"), captcha_default)
        chal_imm = _immunity(r.get("ChallengeConfig"), challenge_default)
        kind = next(iter(stmt), "")
        if kind in ("RuleGroupReferenceStatement", "ManagedRuleGroupStatement"):
            if in_group:
                raise WafConfigError("A rule group cannot reference another rule group.")
            if r.get("Action"):
                raise WafConfigError(
                    f"The rule {name} references a rule group: it takes OverrideAction, not Action."
                )
            ov = r.get("OverrideAction") or {"None": {}}
            override_count = "Count" in ov
            group, scope = _compile_group(
                kind, stmt[kind], cc, managed_data, account_id, captcha_default, challenge_default
            )
            out.append(
                Rule(
                    name,
                    prio,
                    "GROUP" if kind == "RuleGroupReferenceStatement" else "MANAGED_RULE_GROUP",
                    labels,
                    override_count=override_count,
                    group=group,
                    scope_down=scope,
                )
            )
            continue
        imm = cap_imm if "Captcha" in (r.get("Action") or {}) else chal_imm
        action = _action(r.get("Action"), bodies, f"Rules[{name}].Action", imm)
        if kind == "RateBasedStatement":
            cc.rate_rules += 1
            rate, scope = _rate(stmt[kind], cc)
            out.append(
                Rule(name, prio, "RATE_BASED", labels, action=action, rate=rate, scope_down=scope)
            )
            continue
        node = compile_statement(stmt, cc, top=True)
        out.append(Rule(name, prio, "REGULAR", labels, node=node, action=action))
    out.sort(key=lambda x: x.priority)
    return out


def _compile_group(
    kind: str,
    s: Mapping,
    cc: CompileContext,
    managed_data: ManagedData,
    account_id: str,
    captcha_default: int,
    challenge_default: int,
) -> tuple[Group, Node | None]:
    excluded = frozenset(e["Name"] for e in s.get("ExcludedRules") or [])
    if kind == "RuleGroupReferenceStatement":
        arn = s.get("ARN", "")
        rg = cc.rule_groups.get(arn)
        if rg is None:
            raise WafConfigError(
                f"The referenced item does not exist: {arn}.", reason="NONEXISTENT_ITEM"
            )
        gname = rg.get("Name", arn.rsplit("/", 2)[-2] if "/" in arn else arn)
        gcc = CompileContext(
            account_id,
            cc.ip_sets,
            cc.regex_pattern_sets,
            cc.rule_groups,
            rg.get("LabelNamespace") or f"awswaf:{account_id}:rulegroup:{gname}:",
            ip_lists=cc.ip_lists,
        )
        bodies = rg.get("CustomResponseBodies") or {}
        rules = _compile_rules(
            list(rg.get("Rules") or []),
            gcc,
            bodies,
            captcha_default,
            challenge_default,
            in_group=True,
            managed_data=managed_data,
            account_id=account_id,
        )
        group_id, name = arn, gname
        scope = None
    else:
        vendor, name = s.get("VendorName", ""), s.get("Name", "")
        spec = managed_mod.group_spec(vendor, name)
        if spec is None:
            raise WafConfigError(
                f"The managed rule group does not exist: {vendor} {name}.",
                reason="NONEXISTENT_ITEM",
            )
        ip_lists = dict(cc.ip_lists)
        ip_lists.update(managed_mod.ip_matchers(managed_data.ip_lists or None))
        gcc = CompileContext(
            account_id,
            cc.ip_sets,
            cc.regex_pattern_sets,
            cc.rule_groups,
            spec["LabelNamespace"],
            allow_internal=True,
            ip_lists=ip_lists,
        )
        rules = _compile_rules(
            spec["Rules"],
            gcc,
            {},
            captcha_default,
            challenge_default,
            in_group=True,
            managed_data=managed_data,
            account_id=account_id,
        )
        group_id = f"{vendor}#{name}"
        sd = s.get("ScopeDownStatement")
        scope = compile_statement(sd, cc) if sd else None
    names = {r.name for r in rules}
    overrides: dict[str, Action] = {}
    for o in s.get("RuleActionOverrides") or []:
        if o.get("Name") not in names:
            raise WafConfigError(
                f"The parameter RuleActionOverrides names a rule that is not in "
                f"the group: {o.get('Name')}."
            )
        overrides[o["Name"]] = _action(o.get("ActionToUse"), {}, "RuleActionOverrides.ActionToUse")
    return Group(group_id, name, rules, excluded, overrides), scope


def compile_web_acl(
    web_acl: Mapping,
    *,
    account_id: str,
    rule_groups: Mapping[str, Mapping] | None = None,
    ip_sets: Mapping[str, Mapping] | None = None,
    regex_pattern_sets: Mapping[str, Mapping] | None = None,
    managed_overrides: ManagedData | None = None,
    body_inspection_limit: int = DEFAULT_BODY_LIMIT,
    token_secret: bytes | None = None,
) -> CompiledWebACL:
    rule_groups = rule_groups or {}
    ip_sets = ip_sets or {}
    regex_pattern_sets = regex_pattern_sets or {}
    name = web_acl.get("Name", "")
    namespace = web_acl.get("LabelNamespace") or f"awswaf:{account_id}:webacl:{name}:"
    cc = CompileContext(account_id, ip_sets, regex_pattern_sets, rule_groups, namespace)
    bodies = web_acl.get("CustomResponseBodies") or {}
    captcha_default = _immunity(web_acl.get("CaptchaConfig"), 300)
    challenge_default = _immunity(web_acl.get("ChallengeConfig"), 300)
    default = web_acl.get("DefaultAction") or {}
    if set(default) - {"Allow", "Block"} or len(default) != 1:
        raise WafConfigError("The parameter DefaultAction must be Allow or Block.")
    default_action = _action(default, bodies, "DefaultAction")
    rules = _compile_rules(
        list(web_acl.get("Rules") or []),
        cc,
        bodies,
        captcha_default,
        challenge_default,
        in_group=False,
        managed_data=managed_overrides or ManagedData(),
        account_id=account_id,
    )

    def group_cap(arn: str) -> int:
        rg = rule_groups.get(arn)
        if rg is None:
            raise WafConfigError(f"The referenced item does not exist: {arn}.")
        return int(rg.get("Capacity", 0))

    capacity = sum(
        statement_capacity(r.get("Statement") or {}, rule_groups_capacity=group_cap)
        for r in web_acl.get("Rules") or []
    )
    return CompiledWebACL(
        name,
        web_acl.get("ARN", ""),
        capacity,
        rules,
        default_action,
        namespace,
        body_inspection_limit,
        token_secret,
    )


# --- evaluation ----------------------------------------------------------------------------


class _Out:
    __slots__ = ("groups", "headers", "matched", "non_terminating")

    def __init__(self) -> None:
        self.non_terminating: list[dict] = []
        self.groups: list[dict] = []
        self.matched: list[str] = []
        self.headers: list[tuple[str, str]] = []


class CompiledWebACL:
    def __init__(
        self,
        name: str,
        arn: str,
        capacity: int,
        rules: list[Rule],
        default_action: Action,
        namespace: str,
        body_limit: int,
        token_secret: bytes | None,
    ) -> None:
        self.name = name
        self.arn = arn
        self.capacity = capacity
        self.rules = rules
        self.default_action = default_action
        self.namespace = namespace
        self.body_limit = body_limit
        self.token_secret = token_secret

    # A terminating outcome: (action, rule name, rule type)
    def evaluate(self, request: WafRequest, *, now: float, rate_counter: Any) -> WafDecision:
        view = RequestView(request, self.body_limit)
        ev = EvalState(now, rate_counter, self.arn)
        out = _Out()
        term = self._run(self.rules, view, ev, out, None)
        if term is None:
            act = self.default_action
            out.headers.extend(act.insert_headers)
            return self._decision(act, "Default_Action", "REGULAR", view, ev, out)
        act, rule_id, rtype = term
        if act.kind == "ALLOW":
            out.headers.extend(act.insert_headers)
        return self._decision(act, rule_id, rtype, view, ev, out)

    def _decision(
        self, act: Action, rule_id: str, rtype: str, view: RequestView, ev: EvalState, out: _Out
    ) -> WafDecision:
        custom = act.custom_response
        if act.kind in ("CAPTCHA", "CHALLENGE"):
            status = 405 if act.kind == "CAPTCHA" else 202
            custom = {
                "status": status,
                "headers": [("x-amzn-waf-action", act.kind.lower())],
                "body": _interstitial(act.kind),
                "content_type": "text/html",
            }
        return WafDecision(
            action=act.kind,
            terminating_rule_id=rule_id,
            terminating_rule_type=rtype,
            labels=tuple(view.labels),
            custom_response=custom,
            insert_headers=tuple(out.headers) if act.kind == "ALLOW" else (),
            non_terminating=tuple(out.non_terminating),
            rule_group_list=tuple(out.groups),
            rate_based=tuple(ev.rate_log),
            matched_rule_names=tuple(out.matched),
        )

    def _token_ok(self, view: RequestView, act: Action, now: float) -> bool:
        token = next((v for k, v in view.cookies() if k == TOKEN_COOKIE), None)
        if token is None:
            view.add_label("awswaf:managed:token:absent")
            return False
        age = token_age(token, now, secret=self.token_secret)
        if age is None or age < -60:
            view.add_label("awswaf:managed:token:rejected")
            view.add_label("awswaf:managed:token:rejected:invalid")
            return False
        if age > act.immunity:
            view.add_label("awswaf:managed:token:rejected")
            view.add_label("awswaf:managed:token:rejected:expired")
            return False
        view.add_label("awswaf:managed:token:accepted")
        return True

    def _rate_match(self, rule: Rule, view: RequestView, ev: EvalState) -> bool:
        rc = rule.rate
        assert rc is not None
        if rule.scope_down is not None and not rule.scope_down.match(view, ev):
            return False
        values: list[str] = []
        if rc.key_type == "IP":
            values = [view.request.client_ip]
        elif rc.key_type == "FORWARDED_IP":
            ips = forwarded_ips(view, rc.fwd_header or "")
            if ips is None:
                return rc.fwd_fallback
            values = [ips[0]]
        elif rc.key_type == "CUSTOM_KEYS":
            for fn in rc.custom:
                v = fn(view)
                if v is None:
                    return False  # a request missing a key component is not counted
                values.append(v)
        key = f"{self.arn}|{rule.name}|{rc.key_type}|" + "\x1f".join(values)
        count = ev.rate_counter.hit(key, rc.window, ev.now)
        if count <= rc.limit:
            return False
        entry: dict[str, Any] = {
            "rateBasedRuleId": f"{self.arn}/{rule.name}" if self.arn else rule.name,
            "rateBasedRuleName": rule.name,
            "limitKey": rc.key_type,
            "maxRateAllowed": rc.limit,
            "evaluationWindowSec": str(rc.window),
        }
        if rc.key_type in ("IP", "FORWARDED_IP"):
            entry["limitValue"] = values[0]
        elif rc.key_type == "CUSTOM_KEYS":
            entry["customValues"] = [
                {"key": n, "value": v} for n, v in zip(rc.custom_names, values, strict=True)
            ]
        ev.rate_log.append(entry)
        return True

    def _run(
        self,
        rules: list[Rule],
        view: RequestView,
        ev: EvalState,
        out: _Out,
        group: tuple[Group, dict, bool] | None,
    ) -> tuple[Action, str, str] | None:
        for rule in rules:
            if rule.group is not None:
                term = self._run_group(rule, view, ev, out)
                if term is not None:
                    return term
                continue
            if rule.kind == "RATE_BASED":
                matched = self._rate_match(rule, view, ev)
            else:
                assert rule.node is not None
                matched = rule.node.match(view, ev)
            if not matched:
                continue
            for lab in rule.labels:
                view.add_label(lab)
            act = rule.action
            assert act is not None
            if group is not None:
                grp, entry, _ = group
                out.matched.append(f"{grp.name}#{rule.name}")
                if rule.name in grp.excluded:
                    act = Action("COUNT")
                    if entry.get("excludedRules") is None:
                        entry["excludedRules"] = []
                    entry["excludedRules"].append(
                        {"exclusionType": "EXCLUDED_AS_COUNT", "ruleId": rule.name}
                    )
                elif rule.name in grp.overrides:
                    act = grp.overrides[rule.name]
            else:
                out.matched.append(rule.name)
            kind = act.kind
            if kind in ("CAPTCHA", "CHALLENGE") and self._token_ok(view, act, ev.now):
                kind = "COUNT"
            if kind == "COUNT":
                out.headers.extend(act.insert_headers)
                record = {"ruleId": rule.name, "action": "COUNT", "ruleMatchDetails": []}
                if group is not None:
                    group[1]["nonTerminatingMatchingRules"].append(record)
                else:
                    out.non_terminating.append(record)
                continue
            if group is not None:
                group[1]["terminatingRule"] = {
                    "ruleId": rule.name,
                    "action": kind,
                    "ruleMatchDetails": [],
                }
            rtype = rule.kind
            return act, rule.name, rtype
        return None

    def _run_group(
        self, rule: Rule, view: RequestView, ev: EvalState, out: _Out
    ) -> tuple[Action, str, str] | None:
        grp = rule.group
        assert grp is not None
        if rule.scope_down is not None and not rule.scope_down.match(view, ev):
            return None
        entry: dict[str, Any] = {
            "ruleGroupId": grp.group_id,
            "terminatingRule": None,
            "nonTerminatingMatchingRules": [],
            "excludedRules": None,
        }
        out.groups.append(entry)
        term = self._run(grp.rules, view, ev, out, (grp, entry, rule.override_count))
        matched_any = term is not None or entry["nonTerminatingMatchingRules"]
        if matched_any:
            for lab in rule.labels:
                view.add_label(lab)
        if term is None:
            return None
        act, _inner_name, _ = term
        if rule.override_count:
            entry["terminatingRule"]["overriddenAction"] = entry["terminatingRule"]["action"]
            entry["terminatingRule"]["action"] = "COUNT"
            out.non_terminating.append(
                {"ruleId": rule.name, "action": "COUNT", "ruleMatchDetails": []}
            )
            return None
        return act, rule.name, rule.kind


def _interstitial(kind: str) -> bytes:
    what = "CAPTCHA" if kind == "CAPTCHA" else "browser challenge"
    return (
        f"<!doctype html><html><head><title>Verification required</title></head><body>"
        f"<p>This request needs a {what} before it can continue.</p></body></html>"
    ).encode()
