"""Parse and validate a JSON policy into an immutable, compiled `Policy`.

Validation happens when a policy is written, with IAM's ``MalformedPolicyDocument``
messages, so that evaluation never meets a malformed document. Compilation does the work
that does not depend on the request once: actions are split into an exact set, whole
services (``kms:*``) and one wildcard regex; resources into an exact set and one regex;
principals into account/ARN/service sets; conditions into matchers. A policy also caches,
per action, which of its statements can apply, so evaluating 50 policies touches only the
few statements that name the action.

`parse_policy` is memoised on its arguments: callers can re-parse stored text on every
request at the cost of a dictionary lookup.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bastion.auth.policy.conditions import Condition, ConditionSyntaxError, compile_block
from bastion.auth.policy.variables import (
    Template,
    chunks_regex,
    has_variables,
    parse_template,
    render_chunks,
    required_keys,
    static_chunks,
    wildcard_regex,
)

KINDS = frozenset({"identity", "resource", "trust", "boundary", "session"})
VERSION_2012 = "2012-10-17"
VERSION_2008 = "2008-10-17"

SYNTAX = "Syntax errors in policy."
LEGACY = "The policy failed legacy parsing"
NEEDS_2012 = "Policy document must be version 2012-10-17 or greater."
NO_PRINCIPAL_ALLOWED = "Policy document should not specify a principal."
PRINCIPAL_REQUIRED = "Missing required field Principal"
EFFECT_REQUIRED = "Missing required field Effect"
ACTIONS_REQUIRED = "Policy statement must contain actions."
RESOURCES_REQUIRED = "Policy statement must contain resources."
RESOURCE_PROHIBITED = "Has prohibited field Resource"
VENDOR = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
ONE_COLON = "Actions/Condition can contain only one colon."
SID_UNIQUE = "Statement IDs (SID) in a single policy must be unique."
SID_ALNUM = (
    "Statement IDs (SID) must be alpha-numeric. "
    "Check that your input satisfies the regular expression [0-9A-Za-z]*"
)

_TOP_LEVEL = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS = frozenset(
    {
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
)
_IAM_KINDS = frozenset({"identity", "boundary", "session", "trust"})
_ACCOUNT = re.compile(r"^\d{12}$")
_UNIQUE_ID = re.compile(r"^A[A-Z0-9]{15,127}$")
_SID = re.compile(r"^[0-9A-Za-z]*$")
_ACTION_CACHE_LIMIT = 4096


class MalformedPolicyError(ValueError):
    """A policy AWS would refuse. ``code`` is the AWS error code to answer with:
    ``MalformedPolicyDocument``, or ``LimitExceeded`` for a policy over its size quota."""

    def __init__(self, message: str, *, code: str = "MalformedPolicyDocument") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class Principals:
    """A compiled ``Principal``/``NotPrincipal``: who the statement names."""

    everyone: bool = False
    accounts: frozenset[str] = frozenset()
    arns: frozenset[str] = frozenset()  # IAM users and roles, role and federated sessions
    services: frozenset[str] = frozenset()
    federated: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, eq=False)
class Statement:
    """One compiled statement. Match methods take lower-cased actions and context keys."""

    sid: str | None
    deny: bool
    not_action: bool
    action_all: bool
    action_exact: frozenset[str]
    action_services: frozenset[str]
    action_regex: re.Pattern[str] | None
    not_resource: bool
    resource_all: bool
    resource_exact: frozenset[str]
    resource_regex: re.Pattern[str] | None
    resource_templates: tuple[Template, ...]
    principals: Principals | None
    not_principal: bool
    conditions: tuple[Condition, ...]
    variables: tuple[str, ...] = ()  # context keys the statement's variables need

    def variables_resolve(self, context: Mapping[str, Any]) -> bool:
        """AWS: a variable that cannot be resolved makes the entire statement invalid."""
        for key in self.variables:  # noqa: SIM110 - hot path
            if context.get(key) is None:
                return False
        return True

    def matches_action(self, action: str) -> bool:
        """``action`` lower-cased, e.g. ``kms:decrypt`` (action names ignore case)."""
        hit = (
            self.action_all
            or action in self.action_exact
            or (self.action_services and action.partition(":")[0] in self.action_services)
            or (self.action_regex is not None and self.action_regex.fullmatch(action) is not None)
        )
        return bool(hit) != self.not_action

    def matches_resource(self, resource: str, context: Mapping[str, Any]) -> bool:
        """Resource ARNs compare case-sensitively; may raise UnresolvedVariable."""
        hit = self.resource_all or resource in self.resource_exact
        if not hit and self.resource_regex is not None:
            hit = self.resource_regex.fullmatch(resource) is not None
        if not hit:
            for template in self.resource_templates:
                if chunks_regex(render_chunks(template, context), True).fullmatch(resource):
                    hit = True
                    break
        return hit != self.not_resource

    def matches_conditions(self, context: Mapping[str, Any]) -> bool:
        for condition in self.conditions:  # noqa: SIM110 - a plain loop: this is the hot path
            if not condition.test(context):
                return False
        return True


@dataclass(frozen=True, slots=True, eq=False)
class Policy:
    """An immutable compiled policy. Identity-hashed: `parse_policy` returns the same object
    for the same text, so a Policy can key caches."""

    text: str
    kind: str
    version: str
    id: str | None
    statements: tuple[Statement, ...]
    _by_action: dict[str, tuple[tuple[Statement, ...], tuple[Statement, ...]]] = field(
        default_factory=dict, repr=False
    )

    def for_action(self, action: str) -> tuple[tuple[Statement, ...], tuple[Statement, ...]]:
        """(deny statements, allow statements) whose Action/NotAction covers ``action``.

        ``action`` must be lower-cased. The answer depends only on the action, so it is
        computed once per action and kept (bounded: the cache is cleared when full).
        """
        hit = self._by_action.get(action)
        if hit is None:
            denies = tuple(s for s in self.statements if s.deny and s.matches_action(action))
            allows = tuple(s for s in self.statements if not s.deny and s.matches_action(action))
            if len(self._by_action) >= _ACTION_CACHE_LIMIT:
                self._by_action.clear()
            hit = self._by_action[action] = (denies, allows)
        return hit


def parse_policy(
    text: str,
    *,
    max_length: int | None = None,
    kind: str = "identity",
    managed: bool = False,
) -> Policy:
    """Validate and compile ``text``; raises MalformedPolicyError with IAM's message.

    ``kind``: identity, boundary and session policies must not name a principal; resource
    (KMS key, Secrets Manager, ...) and trust policies must. Trust policies have no
    Resource. ``max_length`` is the caller's quota in characters, whitespace not counted
    (IAM: managed 6,144, user inline 2,048, group 5,120, role 10,240, trust 2,048).
    ``managed=True`` requires ``Version: 2012-10-17`` as IAM does for managed policies.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown policy kind {kind!r}")
    if not isinstance(text, str):
        raise MalformedPolicyError(SYNTAX)
    return _parse(text, max_length, kind, managed)


def policy_size(text: str) -> int:
    """Characters counted against IAM's quotas: "IAM doesn't count white space"."""
    return len(text) - sum(1 for ch in text if ch.isspace())


@functools.lru_cache(maxsize=4096)
def _parse(text: str, max_length: int | None, kind: str, managed: bool) -> Policy:
    if max_length is not None and policy_size(text) > max_length:
        raise MalformedPolicyError(
            f"Cannot exceed quota for PolicySize: {max_length}", code="LimitExceeded"
        )
    document = _load_json(text)
    if not isinstance(document, dict):
        raise MalformedPolicyError(SYNTAX)
    if not set(document) <= _TOP_LEVEL:
        raise MalformedPolicyError(SYNTAX)
    version = document.get("Version", VERSION_2008)
    if version not in (VERSION_2008, VERSION_2012):
        raise MalformedPolicyError(LEGACY)
    if managed and version != VERSION_2012:
        raise MalformedPolicyError(NEEDS_2012)
    policy_id = document.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise MalformedPolicyError(SYNTAX)
    raw = document.get("Statement")
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise MalformedPolicyError(SYNTAX)
    statements = []
    sids: set[str] = set()
    for item in raw:
        statement = _compile_statement(item, kind, variables=version == VERSION_2012)
        if statement.sid and kind in _IAM_KINDS:
            if statement.sid in sids:
                raise MalformedPolicyError(SID_UNIQUE)
            sids.add(statement.sid)
        statements.append(statement)
    return Policy(text, kind, version, policy_id, tuple(statements))


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Duplicate keys are refused: two parsers must never read two different policies."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise MalformedPolicyError(SYNTAX)
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise MalformedPolicyError(SYNTAX)


def _load_json(text: str) -> Any:
    try:
        return json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError):
        raise MalformedPolicyError(SYNTAX) from None


def _strings(value: Any, empty_message: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise MalformedPolicyError(empty_message)
    if not all(isinstance(item, str) for item in items):
        raise MalformedPolicyError(SYNTAX)
    return items


def _compile_statement(item: Any, kind: str, *, variables: bool) -> Statement:
    if not isinstance(item, dict) or not set(item) <= _STATEMENT_KEYS:
        raise MalformedPolicyError(SYNTAX)
    for name in ("Principal", "Action", "Resource"):
        if name in item and f"Not{name}" in item:
            raise MalformedPolicyError(SYNTAX)

    sid = item.get("Sid")
    if sid is not None:
        if not isinstance(sid, str):
            raise MalformedPolicyError(SYNTAX)
        if kind in _IAM_KINDS and not _SID.match(sid):
            raise MalformedPolicyError(SID_ALNUM)

    if "Effect" not in item:
        raise MalformedPolicyError(EFFECT_REQUIRED)
    effect = item["Effect"]
    if effect not in ("Allow", "Deny"):
        raise MalformedPolicyError(LEGACY)

    has_principal = "Principal" in item or "NotPrincipal" in item
    if kind in ("identity", "boundary", "session") and has_principal:
        raise MalformedPolicyError(NO_PRINCIPAL_ALLOWED)
    if kind in ("resource", "trust") and not has_principal:
        raise MalformedPolicyError(PRINCIPAL_REQUIRED)
    principals = None
    not_principal = "NotPrincipal" in item
    if has_principal:
        principals = _compile_principals(item["NotPrincipal" if not_principal else "Principal"])

    if "Action" not in item and "NotAction" not in item:
        raise MalformedPolicyError(ACTIONS_REQUIRED)
    not_action = "NotAction" in item
    actions = _strings(item["NotAction" if not_action else "Action"], ACTIONS_REQUIRED)
    action_all, exact, services, action_regex = _compile_actions(actions)

    has_resource = "Resource" in item or "NotResource" in item
    if kind == "trust":
        if has_resource:
            raise MalformedPolicyError(RESOURCE_PROHIBITED)
        resource_all, res_exact, res_regex, templates, not_resource = (
            True,
            frozenset(),
            None,
            (),
            False,
        )
    else:
        if not has_resource:
            raise MalformedPolicyError(RESOURCES_REQUIRED)
        not_resource = "NotResource" in item
        resources = _strings(
            item["NotResource" if not_resource else "Resource"], RESOURCES_REQUIRED
        )
        resource_all, res_exact, res_regex, templates = _compile_resources(resources, variables)

    conditions: tuple[Condition, ...] = ()
    if "Condition" in item:
        try:
            conditions = compile_block(item["Condition"], variables=variables)
        except ConditionSyntaxError as exc:
            raise MalformedPolicyError(str(exc)) from None

    needed: set[str] = set()
    for template in templates:
        needed |= required_keys(template)
    for condition in conditions:
        needed |= condition.variables
    return Statement(
        sid=sid,
        deny=effect == "Deny",
        not_action=not_action,
        action_all=action_all,
        action_exact=exact,
        action_services=services,
        action_regex=action_regex,
        not_resource=not_resource,
        resource_all=resource_all,
        resource_exact=res_exact,
        resource_regex=res_regex,
        resource_templates=templates,
        principals=principals,
        not_principal=not_principal,
        conditions=conditions,
        variables=tuple(sorted(needed)),
    )


def _compile_actions(
    actions: list[str],
) -> tuple[bool, frozenset[str], frozenset[str], re.Pattern[str] | None]:
    exact: set[str] = set()
    services: set[str] = set()
    patterns: list[str] = []
    everything = False
    for action in actions:
        if action == "*":
            everything = True
            continue
        if ":" not in action:
            raise MalformedPolicyError(VENDOR)
        vendor, _, name = action.partition(":")
        if ":" in name:
            raise MalformedPolicyError(ONE_COLON)
        if not vendor or not name:
            raise MalformedPolicyError(VENDOR)
        lowered = action.lower()
        if name == "*" and "*" not in vendor and "?" not in vendor:
            services.add(vendor.lower())
        elif "*" in lowered or "?" in lowered:
            patterns.append(wildcard_regex(((True, lowered),), arn=False))
        else:
            exact.add(lowered)
    regex = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
    return everything, frozenset(exact), frozenset(services), regex


def _compile_resources(
    resources: list[str], variables: bool
) -> tuple[bool, frozenset[str], re.Pattern[str] | None, tuple[Template, ...]]:
    exact: set[str] = set()
    patterns: list[str] = []
    templates: list[Template] = []
    everything = False
    for resource in resources:
        if resource == "*":
            everything = True
            continue
        if not resource.startswith("arn:"):
            raise MalformedPolicyError(f'Resource {resource} must be in ARN format or "*".')
        template = parse_template(resource, enabled=variables)
        if template is not None and has_variables(template):
            templates.append(template)
            continue
        chunks = static_chunks(resource, template)
        if template is None and "*" not in resource and "?" not in resource:
            exact.add(resource)
        else:
            patterns.append(wildcard_regex(chunks, arn=True))
    regex = re.compile("|".join(f"(?:{p})" for p in patterns), re.DOTALL) if patterns else None
    return everything, frozenset(exact), regex, tuple(templates)


def _invalid_principal(kind: str, value: Any) -> MalformedPolicyError:
    return MalformedPolicyError(f'Invalid principal in policy: "{kind}":{json.dumps(value)}')


def _compile_principals(value: Any) -> Principals:
    if value == "*":
        return Principals(everyone=True)
    if not isinstance(value, dict) or not value:
        raise MalformedPolicyError(SYNTAX)
    everyone = False
    accounts: set[str] = set()
    arns: set[str] = set()
    services: set[str] = set()
    federated: set[str] = set()
    for kind, raw in value.items():
        if kind not in ("AWS", "Service", "Federated", "CanonicalUser"):
            raise MalformedPolicyError(SYNTAX)
        for entry in _strings(raw, SYNTAX):
            if kind == "AWS":
                if entry == "*":
                    everyone = True
                elif _ACCOUNT.match(entry):
                    accounts.add(entry)
                elif _UNIQUE_ID.match(entry):
                    continue  # a deleted identity's id: kept by AWS, matches nobody
                else:
                    account = _aws_principal_account(entry)
                    if account is None:
                        raise _invalid_principal(kind, entry)
                    if entry.endswith(":root"):
                        accounts.add(account)
                    else:
                        arns.add(entry)
            elif kind == "Service":
                if entry == "*" or not entry:
                    raise _invalid_principal(kind, entry)
                services.add(entry)
            elif kind == "Federated":
                if not entry:
                    raise _invalid_principal(kind, entry)
                federated.add(entry)
            # CanonicalUser is S3's; nobody in Bastion authenticates as one.
    return Principals(
        everyone=everyone,
        accounts=frozenset(accounts),
        arns=frozenset(arns),
        services=frozenset(services),
        federated=frozenset(federated),
    )


def _aws_principal_account(entry: str) -> str | None:
    """The account of an IAM/STS principal ARN, or None when it is not a valid one.

    AWS: "You cannot use a wildcard to match part of a principal name or ARN."
    """
    parts = entry.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[1] or parts[3]:
        return None
    service, account, resource = parts[2], parts[4], parts[5]
    if not _ACCOUNT.match(account) or "*" in resource or "?" in resource:
        return None
    if service == "iam":
        if resource == "root":
            return account
        if resource.startswith(("user/", "role/")) and len(resource) > 5:
            return account
        return None
    if service == "sts":
        head, _, rest = resource.partition("/")
        if head == "assumed-role" and rest.count("/") >= 1 and all(rest.split("/")):
            return account
        if head == "federated-user" and rest:
            return account
    return None
