"""Authorization: every provider asks here before it acts; deny by default.

The decision is the policy engine's (`bastion.auth.policy`), over the principal's
identity policies, its permissions boundary, its session policies and the resource's
own policy when the service passes one (KMS key policies, secret policies). Global
condition keys come from the request context; services add their own keys.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from bastion.auth.policies import PolicyCache
from bastion.auth.policy import (
    Decision,
    EvaluationResult,
    MalformedPolicyError,
    RequestFacts,
    evaluate,
    parse_policy,
)
from bastion.clock import iso_seconds
from bastion.context import Principal, RequestContext, ResourcePolicy
from bastion.errors import AccessDeniedError
from bastion.storage import Store

log = logging.getLogger("bastion.auth")


def denial_message(principal_arn: str, action: str, resource: str, reason: str) -> str:
    """AWS's AccessDenied message form."""
    on = f" on resource: {resource}" if resource and resource != "*" else ""
    return f"User: {principal_arn} is not authorized to perform: {action}{on} {reason}"


def global_condition_keys(ctx: RequestContext) -> dict[str, Any]:
    """The aws:* keys Bastion knows for this request, names lower-cased (keys are
    case-insensitive in policies, and the engine compares them lower-cased)."""
    principal = ctx.principal
    now = ctx.now
    keys: dict[str, Any] = {
        "aws:sourceip": ctx.source_ip,
        "aws:currenttime": iso_seconds(now),
        "aws:epochtime": str(int(now.timestamp())),
        "aws:securetransport": "true" if ctx.secure_transport else "false",
        "aws:requestedregion": ctx.region,
        "aws:principalaccount": principal.account_id,
        "aws:principaltype": _principal_type(principal),
        "aws:userid": principal.user_id,
        "aws:multifactorauthpresent": "true" if principal.mfa else "false",
        "aws:viaawsservice": "false",
    }
    if principal.kind == "IAMUser":
        keys["aws:username"] = principal.source_name or principal.name
    if principal.kind == "AssumedRole":
        keys["aws:principalarn"] = principal.source_arn
    else:
        keys["aws:principalarn"] = principal.arn
    if principal.session_issued is not None:
        keys["aws:tokenissuetime"] = iso_seconds(principal.session_issued)
    for tag, value in principal.tags.items():
        keys[f"aws:principaltag/{tag}".lower()] = value
    if ctx.via_service:
        service = ctx.via_service.split(".", 1)[0]
        keys["kms:viaservice"] = ctx.via_service
        keys["aws:viaawsservice"] = "true"
        keys["aws:calledvia"] = [f"{service}.amazonaws.com"]
        keys["aws:calledviafirst"] = f"{service}.amazonaws.com"
        keys["aws:calledvialast"] = f"{service}.amazonaws.com"
    return keys


def _principal_type(principal: Principal) -> str:
    return {"IAMUser": "User", "Root": "Account"}.get(principal.kind, principal.kind)


class Authorizer:
    """Callable bound into every RequestContext (`ctx.authorize(...)`)."""

    def __init__(self, store: Store, policies: PolicyCache) -> None:
        self._store = store
        self._policies = policies

    def __call__(
        self,
        ctx: RequestContext,
        action: str,
        resources: Sequence[str],
        conditions: Mapping[str, Any] | None = None,
        resource_policy: ResourcePolicy | None = None,
    ) -> None:
        try:
            result = self.decide(ctx, action, resources, conditions, resource_policy)
        except MalformedPolicyError:
            # Stored policies are validated when written; one that no longer parses
            # (e.g. written by an older version) grants nothing.
            log.exception("a stored policy does not parse; denying %s", action)
            result = EvaluationResult(Decision.IMPLICIT_DENY, "because a policy could not be read")
        allowed = result.decision is Decision.ALLOW
        ctx.authz.decisions.append((action, tuple(resources), allowed))
        if not allowed:
            resource = resources[0] if resources else "*"
            raise AccessDeniedError(
                denial_message(ctx.principal.arn, action, resource, result.reason)
            )

    def decide(
        self,
        ctx: RequestContext,
        action: str,
        resources: Sequence[str],
        conditions: Mapping[str, Any] | None = None,
        resource_policy: ResourcePolicy | None = None,
    ) -> EvaluationResult:
        principal = ctx.principal
        context = global_condition_keys(ctx)
        if conditions:
            for name, value in conditions.items():
                context[name.lower()] = value
        facts = RequestFacts(
            action=action,
            resources=tuple(resources) or ("*",),
            principal_arn=principal.arn,
            principal_account=principal.account_id,
            context=context,
            role_arn=principal.source_arn if principal.kind == "AssumedRole" else None,
            user_arn=principal.arn if principal.kind == "IAMUser" else None,
            context_lowered=True,
        )
        policies = self._policies.get(principal, ctx.tx, self._store)
        resource = None
        resource_account = None
        required = False
        if resource_policy is not None:
            resource = parse_policy(resource_policy.document, kind=resource_policy.kind)
            resource_account = resource_policy.owner_account
            required = resource_policy.required
        session = None
        if principal.session_policies is not None:
            session = tuple(parse_policy(doc, kind="session") for doc in principal.session_policies)
        return evaluate(
            facts,
            identity=policies.compiled_identity,
            resource=resource,
            resource_account=resource_account,
            boundary=policies.compiled_boundary,
            session=session,
            resource_policy_required=required,
            is_root=principal.kind == "Root",
        )
