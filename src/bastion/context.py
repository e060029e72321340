"""Who is calling and what they asked: the values every provider receives.

Layer 0: holds no behaviour beyond recording authorization decisions. The gateway
builds a `RequestContext` per call and injects the authorizer (from `bastion.auth`),
so providers can ask `ctx.authorize(...)` without importing upward.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    `kind` is CloudTrail's userIdentity type: IAMUser, AssumedRole, Root, FederatedUser.
    `user_id` is what GetCallerIdentity calls UserId (AIDA... for users,
    AROA...:session for assumed roles).
    """

    account_id: str
    arn: str
    user_id: str
    kind: str
    name: str
    access_key_id: str = ""
    is_admin: bool = False
    session_expires: datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    # Temporary credentials: the role (or user) the session came from, its unique id,
    # the session policies (documents) that narrow it, and when it was issued.
    source_arn: str = ""
    source_id: str = ""
    source_name: str = ""
    session_policies: tuple[str, ...] | None = None
    session_issued: datetime | None = None
    mfa: bool = False


@dataclass(slots=True)
class AuthorizationLog:
    """Every authorization decision a call made; the dispatcher checks it is not empty."""

    decisions: list[tuple[str, tuple[str, ...], bool]] = field(default_factory=list)
    waived: str = ""

    @property
    def checked(self) -> bool:
        return bool(self.decisions) or bool(self.waived)


@dataclass(frozen=True, slots=True)
class ResourcePolicy:
    """A resource-based policy (KMS key policy, secret policy) to evaluate with the call.

    `required`: the resource policy must itself allow the call, or (when it trusts the
    owning account's root) delegate to IAM policies — KMS key policies work this way.
    Otherwise identity and resource policies are combined as for other services.
    """

    document: str
    owner_account: str
    required: bool = False
    kind: str = "resource"  # "trust" for role trust policies (no Resource element)


class Authorizer(Protocol):
    def __call__(
        self,
        ctx: RequestContext,
        action: str,
        resources: Sequence[str],
        conditions: Mapping[str, Any] | None,
        resource_policy: ResourcePolicy | None,
    ) -> None: ...


class ServiceInvoker(Protocol):
    def __call__(
        self, ctx: RequestContext, service: str, operation: str, params: dict[str, Any]
    ) -> dict[str, Any]: ...


@dataclass(slots=True)  # built per request; not frozen, whose __init__ costs 3x
class RequestContext:
    """One API call's identity, place and time. `tx` is the storage transaction, if any.

    Read-only by convention: a variant (another transaction, a nested call) is a copy
    made with `dataclasses.replace`, never a change to the caller's context.
    """

    request_id: str
    service: str
    operation: str
    region: str
    principal: Principal
    now: datetime
    source_ip: str = ""
    user_agent: str = ""
    secure_transport: bool = False
    tx: Any = None
    authorizer: Authorizer | None = None
    authz: AuthorizationLog = field(default_factory=AuthorizationLog)
    on_commit: list[Callable[[], None]] = field(default_factory=list)
    # Set on calls one service makes to another on the caller's behalf (SSM -> KMS):
    # the calling service's endpoint, e.g. "ssm.us-east-1.amazonaws.com" (kms:ViaService).
    via_service: str = ""
    invoker: ServiceInvoker | None = None
    # While a cache-served call is tried on the event loop, the audit records of its
    # in-process calls wait here: they are written only if that try completes.
    deferred_audit: list[Any] | None = None

    @property
    def account_id(self) -> str:
        return self.principal.account_id

    def authorize(
        self,
        action: str,
        resources: Sequence[str] = ("*",),
        conditions: Mapping[str, Any] | None = None,
        resource_policy: ResourcePolicy | None = None,
    ) -> None:
        """Raise AccessDeniedError unless the principal may perform `action` on `resources`.

        `conditions` carries service-specific condition keys (e.g.
        `kms:EncryptionContext:Department`); global keys (aws:SourceIp...) are added by
        the authorizer from the context itself.
        """
        if self.authorizer is None:
            raise RuntimeError("no authorizer bound to this request context")
        self.authorizer(self, action, tuple(resources), conditions, resource_policy)

    def call(self, service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Call another service's operation as this caller, through its full path.

        The callee authorizes (with `kms:ViaService` naming this service), is audited
        as its own event, and runs in this call's transaction. Raises ServiceError.
        """
        if self.invoker is None:
            raise RuntimeError("no service invoker bound to this request context")
        return self.invoker(self, service, operation, params)

    def waive_authorization(self, reason: str) -> None:
        """Mark an operation that AWS serves to any authenticated caller (GetCallerIdentity)."""
        self.authz.waived = reason
