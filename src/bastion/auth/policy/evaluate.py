"""The evaluation engine: AWS's policy evaluation logic over compiled policies.

Rules, from "Policy evaluation logic", "How AWS enforcement code logic evaluates requests",
"Cross-account policy evaluation logic", "Permissions boundaries for IAM entities",
"Session policies" and KMS "Key policies in AWS KMS":

1. An explicit ``Deny`` that applies in any policy (identity, resource, boundary, session)
   is final. A resource-policy ``Deny`` with ``NotPrincipal`` always applies to a principal
   that has a permissions boundary (documented AWS behaviour).
2. The account root user has full access in its own account; only explicit denies (and,
   for KMS keys and role trust, the resource policy) limit it.
3. Same account: an allow in an identity policy *or* in the resource policy suffices. A
   resource policy naming the caller directly (IAM user ARN, role-session or federated-user
   ARN, ``*``) allows regardless of identity policies, boundaries and session policies. One
   naming the IAM role ARN (or the IAM user behind a federated session) is still limited by
   the boundary and session policies. One naming the account (``123456789012`` or
   ``arn:aws:iam::123456789012:root``) only delegates to the account's identity policies.
   Identity-policy allows are limited by the boundary and the session policies.
4. Cross account: the principal's side (identity, boundary, session) *and* the resource
   policy must both allow.
5. ``resource_policy_required`` (KMS key policies, role trust policies): the resource policy
   must allow, directly or by delegating to the caller's account, in which case identity
   policies must allow too.

The engine is pure: the request context (``aws:SourceIp``, ``aws:CurrentTime``,
``kms:EncryptionContext:...``) is supplied by the caller in `RequestFacts.context`; each
service adds its own keys there. Denial reasons are the tails of AWS's AccessDenied
messages.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bastion.auth.policy.document import Policy, Principals, Statement
from bastion.auth.policy.variables import UnresolvedVariable

NONE, ACCOUNT, LIMITED, DIRECT = 0, 1, 2, 3  # how a resource-policy allow names the caller


class Decision(enum.Enum):
    """The values are IAM's policy-simulator names for the three outcomes."""

    ALLOW = "allowed"
    EXPLICIT_DENY = "explicitDeny"
    IMPLICIT_DENY = "implicitDeny"


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    decision: Decision
    reason: str

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the engine knows about a request.

    ``principal_arn`` is the caller as AWS names it (for a role session
    ``arn:aws:sts::ACCT:assumed-role/Role/Session``, with ``role_arn`` the role's IAM ARN;
    for a federated user ``arn:aws:sts::ACCT:federated-user/Name``, with ``user_arn`` the
    IAM user who federated). ``context`` holds condition keys; key names are
    case-insensitive as in AWS. ``aws:PrincipalArn`` (the role ARN for role sessions) and
    ``aws:PrincipalAccount`` are filled in when absent.
    """

    action: str
    resources: tuple[str, ...]
    principal_arn: str
    principal_account: str
    context: Mapping[str, Any] = field(default_factory=dict)
    role_arn: str | None = None
    user_arn: str | None = None
    # True when every key of `context` is already lower-case (the gateway builds it so):
    # the context is then used as is instead of copied, on every authorization.
    context_lowered: bool = field(default=False, repr=False, compare=False)
    context_keys: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.context_lowered and isinstance(self.context, dict):
            keys = self.context
        else:
            keys = {str(k).lower(): v for k, v in self.context.items()}
        keys.setdefault("aws:principalarn", self.role_arn or self.principal_arn)
        keys.setdefault("aws:principalaccount", self.principal_account)
        object.__setattr__(self, "context_keys", keys)
        if isinstance(self.resources, str):
            object.__setattr__(self, "resources", (self.resources,))
        elif not self.resources:
            object.__setattr__(self, "resources", ("*",))

    def with_context(self, extra: Mapping[str, Any]) -> RequestFacts:
        """A copy with more condition keys: how a service adds its own (``kms:...``)."""
        return RequestFacts(
            self.action,
            self.resources,
            self.principal_arn,
            self.principal_account,
            {**self.context, **extra},
            self.role_arn,
            self.user_arn,
        )


def evaluate(
    facts: RequestFacts,
    *,
    identity: Sequence[Policy] = (),
    resource: Policy | None = None,
    resource_account: str | None = None,
    boundary: Sequence[Policy] | Policy | None = None,
    session: Sequence[Policy] | Policy | None = None,
    resource_policy_required: bool = False,
    is_root: bool = False,
) -> EvaluationResult:
    """Decide one request; every resource in ``facts.resources`` must be allowed.

    ``boundary``/``session`` None means "none applies"; a sequence (even empty) must allow.
    """
    if isinstance(boundary, Policy):
        boundary = (boundary,)
    if isinstance(session, Policy):
        session = (session,)
    result = _ALLOWED_ROOT
    for resource_arn in facts.resources:
        result = _evaluate_one(
            facts,
            resource_arn,
            identity,
            resource,
            resource_account,
            boundary,
            session,
            resource_policy_required,
            is_root,
        )
        if result.decision is not Decision.ALLOW:
            return result
    return result


_ALLOWED_ROOT = EvaluationResult(Decision.ALLOW, "the account root user has full access")
_ALLOWED_IDENTITY = EvaluationResult(Decision.ALLOW, "allowed by an identity-based policy")
_ALLOWED_RESOURCE = EvaluationResult(Decision.ALLOW, "allowed by a resource-based policy")
_ALLOWED_BOTH = EvaluationResult(
    Decision.ALLOW, "allowed by an identity-based policy and a resource-based policy"
)


def _explicit(where: str) -> EvaluationResult:
    return EvaluationResult(Decision.EXPLICIT_DENY, f"with an explicit deny in {where}")


def _implicit(what: str, action: str) -> EvaluationResult:
    return EvaluationResult(Decision.IMPLICIT_DENY, f"because no {what} allows the {action} action")


def _evaluate_one(
    facts: RequestFacts,
    resource_arn: str,
    identity: Sequence[Policy],
    resource: Policy | None,
    resource_account: str | None,
    boundary: Sequence[Policy] | None,
    session: Sequence[Policy] | None,
    required: bool,
    is_root: bool,
) -> EvaluationResult:
    action = facts.action.lower()
    keys = facts.context_keys

    # 1. Explicit deny anywhere is final.
    if _any_deny(identity, action, resource_arn, keys):
        return _explicit("an identity-based policy")
    grant = NONE
    if resource is not None:
        denied, grant = _scan_resource_policy(
            resource, facts, action, resource_arn, keys, has_boundary=bool(boundary)
        )
        if denied:
            return _explicit("a resource-based policy")
    if boundary and _any_deny(boundary, action, resource_arn, keys):
        return _explicit("a permissions boundary")
    if session and _any_deny(session, action, resource_arn, keys):
        return _explicit("a session policy")

    name = facts.action
    cross = resource_account is not None and resource_account != facts.principal_account
    session_ok = session is None or _any_allow(session, action, resource_arn, keys)

    # 2. The root user: full access in its account, the resource policy still decides for
    #    KMS keys, role trust and other accounts' resources.
    if is_root:
        if (cross or required) and grant == NONE:
            return _implicit("resource-based policy", name)
        if not session_ok:
            return _implicit("session policy", name)
        return _ALLOWED_RESOURCE if (cross or required) else _ALLOWED_ROOT

    boundary_ok = boundary is None or _any_allow(boundary, action, resource_arn, keys)

    # 4. Cross account: both sides must allow; no resource-policy shortcut.
    if cross:
        if not _any_allow(identity, action, resource_arn, keys):
            return _implicit("identity-based policy", name)
        if grant == NONE:
            return _implicit("resource-based policy", name)
        if not boundary_ok:
            return _implicit("permissions boundary", name)
        if not session_ok:
            return _implicit("session policy", name)
        return _ALLOWED_BOTH

    # 3 and 5. Same account.
    if grant == DIRECT:
        return _ALLOWED_RESOURCE
    if grant == LIMITED:
        if not boundary_ok:
            return _implicit("permissions boundary", name)
        if not session_ok:
            return _implicit("session policy", name)
        return _ALLOWED_RESOURCE
    if required and grant == NONE:
        return _implicit("resource-based policy", name)
    if not _any_allow(identity, action, resource_arn, keys):
        return _implicit("identity-based policy", name)
    if not boundary_ok:
        return _implicit("permissions boundary", name)
    if not session_ok:
        return _implicit("session policy", name)
    return _ALLOWED_BOTH if grant else _ALLOWED_IDENTITY


def _applies(statement: Statement, resource_arn: str, keys: Mapping[str, Any]) -> bool:
    """Resource and conditions (the action is matched by the per-action index)."""
    if statement.variables and not statement.variables_resolve(keys):
        return False  # AWS: an unresolvable variable makes the statement invalid
    try:
        return statement.matches_resource(resource_arn, keys) and statement.matches_conditions(keys)
    except UnresolvedVariable:
        return False  # AWS: an unresolvable variable makes the statement invalid


def _statements(
    policies: Sequence[Policy], action: str
) -> tuple[tuple[Statement, ...], tuple[Statement, ...]]:
    """(denies, allows) of a set of policies that cover ``action``."""
    if not policies:
        return (), ()
    if len(policies) == 1:
        return policies[0].for_action(action)
    key = policies if isinstance(policies, tuple) else tuple(policies)
    return _combined(key, action)


@functools.lru_cache(maxsize=4096)
def _combined(
    policies: tuple[Policy, ...], action: str
) -> tuple[tuple[Statement, ...], tuple[Statement, ...]]:
    """One principal's identity policies are the same tuple request after request: merging
    their per-action statements once turns 50 lookups per request into one."""
    denies: list[Statement] = []
    allows: list[Statement] = []
    for policy in policies:
        d, a = policy.for_action(action)
        denies.extend(d)
        allows.extend(a)
    return tuple(denies), tuple(allows)


def _any_deny(
    policies: Sequence[Policy], action: str, resource_arn: str, keys: Mapping[str, Any]
) -> bool:
    for statement in _statements(policies, action)[0]:
        if _applies(statement, resource_arn, keys):
            return True
    return False


def _any_allow(
    policies: Sequence[Policy], action: str, resource_arn: str, keys: Mapping[str, Any]
) -> bool:
    for statement in _statements(policies, action)[1]:
        if _applies(statement, resource_arn, keys):
            return True
    return False


def _scan_resource_policy(
    policy: Policy,
    facts: RequestFacts,
    action: str,
    resource_arn: str,
    keys: Mapping[str, Any],
    *,
    has_boundary: bool,
) -> tuple[bool, int]:
    """(explicitly denied, best grant level) for a resource-based policy."""
    denies, allows = policy.for_action(action)
    for statement in denies:
        principals = statement.principals
        assert principals is not None
        if statement.not_principal:
            # "The NotPrincipal element with a Deny effect will always deny any IAM
            # principal that has a permissions boundary policy attached."
            hit = has_boundary or not _excluded(principals, facts)
        else:
            hit = principal_level(principals, facts) > NONE
        if hit and _applies(statement, resource_arn, keys):
            return True, NONE
    best = NONE
    for statement in allows:
        principals = statement.principals
        assert principals is not None
        if statement.not_principal:
            level = NONE if _excluded(principals, facts) else DIRECT
        else:
            level = principal_level(principals, facts)
        if level > best and _applies(statement, resource_arn, keys):
            best = level
            if best == DIRECT:
                break
    return False, best


def principal_level(principals: Principals, facts: RequestFacts) -> int:
    """How a ``Principal`` element names the caller: DIRECT, LIMITED, ACCOUNT or NONE."""
    if principals.everyone:
        return DIRECT
    arn = facts.principal_arn
    if arn in principals.arns or arn in principals.services or arn in principals.federated:
        return DIRECT
    if facts.role_arn and facts.role_arn in principals.arns:
        return LIMITED
    if facts.user_arn and facts.user_arn != arn and facts.user_arn in principals.arns:
        return LIMITED
    if facts.principal_account and facts.principal_account in principals.accounts:
        return ACCOUNT
    return NONE


def _excluded(principals: Principals, facts: RequestFacts) -> bool:
    """Whether ``NotPrincipal`` leaves the caller out.

    AWS may check the account, then the role, then the session, so a caller is excluded
    only when every link of that chain is listed ("NotPrincipal" page: include the account
    ARN, and for a role session the role ARN too).
    """
    if principals.everyone:
        return True
    arn = facts.principal_arn
    if arn in principals.services or arn in principals.federated:
        return True
    if facts.principal_account not in principals.accounts:
        return False
    if arn == f"arn:{_partition(arn)}:iam::{facts.principal_account}:root":
        return True
    if arn not in principals.arns:
        return False
    return not (facts.role_arn and facts.role_arn not in principals.arns)


def _partition(arn: str) -> str:
    parts = arn.split(":", 2)
    return parts[1] if len(parts) == 3 else "aws"
