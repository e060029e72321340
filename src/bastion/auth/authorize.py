"""Authorization: every provider asks here before it acts; deny by default.

The account's bootstrap administrator holds full access, as an IAM user with
`AdministratorAccess` would. Every other principal is denied until IAM policy
evaluation grants the action.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bastion.context import RequestContext, ResourcePolicy
from bastion.errors import AccessDeniedError


def denial_message(principal_arn: str, action: str, resource: str) -> str:
    """AWS's message for an implicit deny."""
    on = f" on resource: {resource}" if resource and resource != "*" else ""
    return (
        f"User: {principal_arn} is not authorized to perform: {action}{on}"
        f" because no identity-based policy allows the {action} action"
    )


def authorize(
    ctx: RequestContext,
    action: str,
    resources: Sequence[str],
    conditions: Mapping[str, Any] | None = None,
    resource_policy: ResourcePolicy | None = None,
) -> None:
    allowed = ctx.principal.is_admin
    ctx.authz.decisions.append((action, tuple(resources), allowed))
    if not allowed:
        resource = resources[0] if resources else "*"
        raise AccessDeniedError(denial_message(ctx.principal.arn, action, resource))
