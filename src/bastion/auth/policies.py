"""Which policies apply to a principal: gathered from storage, cached briefly.

For an IAM user: its inline and attached policies and those of its groups, plus its
permissions boundary. For an assumed-role session: the role's inline and attached
policies and boundary (the session policies travel with the credential). The bootstrap
administrator carries AdministratorAccess, as an administrator created on AWS would:
explicit denies and KMS key policies still apply to it.

Any committed IAM change invalidates this node's cache at once (the gateway calls
`invalidate()`); other nodes sharing the database see it within `ttl` seconds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Connection, select

from bastion.auth.aws_managed import ADMINISTRATOR_ACCESS, AWS_MANAGED_POLICIES
from bastion.auth.policy import Policy, parse_policy
from bastion.clock import Clock
from bastion.context import Principal
from bastion.storage import Store
from bastion.storage.iam_tables import (
    iam_attachments,
    iam_group_members,
    iam_inline_policies,
    iam_policies,
    iam_policy_versions,
    iam_roles,
    iam_user_boundaries,
)
from bastion.storage.schema import iam_users


@dataclass(frozen=True)
class PrincipalPolicies:
    """Policy documents (JSON text) that govern one principal, and their compiled forms."""

    identity: tuple[str, ...]
    boundary: str | None = None
    exists: bool = True

    @cached_property
    def compiled_identity(self) -> tuple[Policy, ...]:
        return tuple(parse_policy(document) for document in self.identity)

    @cached_property
    def compiled_boundary(self) -> tuple[Policy, ...] | None:
        if self.boundary is None:
            return None
        return (parse_policy(self.boundary, kind="boundary"),)


NONE = PrincipalPolicies(identity=(), exists=False)


def managed_policy_document(conn: Connection, arn: str) -> str | None:
    """The default version of a managed policy (AWS managed or the account's own)."""
    if arn in AWS_MANAGED_POLICIES:
        return AWS_MANAGED_POLICIES[arn][2]
    return conn.execute(
        select(iam_policy_versions.c.document)
        .join(iam_policies, iam_policies.c.arn == iam_policy_versions.c.policy_arn)
        .where(iam_policies.c.arn == arn)
        .where(iam_policy_versions.c.version_id == iam_policies.c.default_version_id)
    ).scalar()


def managed_policy_documents(conn: Connection, arns: list[str]) -> list[str]:
    """Default versions of several managed policies in one query (AWS managed from memory)."""
    documents = [AWS_MANAGED_POLICIES[a][2] for a in arns if a in AWS_MANAGED_POLICIES]
    own = [a for a in arns if a not in AWS_MANAGED_POLICIES]
    if own:
        documents += conn.execute(
            select(iam_policy_versions.c.document)
            .join(iam_policies, iam_policies.c.arn == iam_policy_versions.c.policy_arn)
            .where(iam_policies.c.arn.in_(own))
            .where(iam_policy_versions.c.version_id == iam_policies.c.default_version_id)
        ).scalars()
    return documents


def _documents_of(conn: Connection, account_id: str, kind: str, names: list[str]) -> list[str]:
    if not names:
        return []
    inline = conn.execute(
        select(iam_inline_policies.c.document)
        .where(iam_inline_policies.c.account_id == account_id)
        .where(iam_inline_policies.c.principal_kind == kind)
        .where(iam_inline_policies.c.principal_name.in_(names))
    ).scalars()
    attached = conn.execute(
        select(iam_attachments.c.policy_arn)
        .where(iam_attachments.c.account_id == account_id)
        .where(iam_attachments.c.principal_kind == kind)
        .where(iam_attachments.c.principal_name.in_(names))
    ).scalars()
    return list(inline) + managed_policy_documents(conn, list(attached))


def load_user_policies(conn: Connection, account_id: str, user_name: str) -> PrincipalPolicies:
    user = conn.execute(
        select(iam_users.c.is_admin)
        .where(iam_users.c.account_id == account_id)
        .where(iam_users.c.user_name == user_name)
    ).first()
    if user is None:
        return NONE
    groups = list(
        conn.execute(
            select(iam_group_members.c.group_name)
            .where(iam_group_members.c.account_id == account_id)
            .where(iam_group_members.c.user_name == user_name)
        ).scalars()
    )
    documents = _documents_of(conn, account_id, "user", [user_name])
    documents += _documents_of(conn, account_id, "group", groups)
    if user.is_admin:
        documents.append(ADMINISTRATOR_ACCESS)
    boundary_arn = conn.execute(
        select(iam_user_boundaries.c.policy_arn)
        .where(iam_user_boundaries.c.account_id == account_id)
        .where(iam_user_boundaries.c.user_name == user_name)
    ).scalar()
    boundary = managed_policy_document(conn, boundary_arn) if boundary_arn else None
    return PrincipalPolicies(tuple(documents), boundary)


def load_role_policies(conn: Connection, account_id: str, role_name: str) -> PrincipalPolicies:
    role = conn.execute(
        select(iam_roles.c.permissions_boundary_arn)
        .where(iam_roles.c.account_id == account_id)
        .where(iam_roles.c.role_name == role_name)
    ).first()
    if role is None:
        return NONE
    documents = _documents_of(conn, account_id, "role", [role_name])
    boundary_arn = role.permissions_boundary_arn
    boundary = managed_policy_document(conn, boundary_arn) if boundary_arn else None
    return PrincipalPolicies(tuple(documents), boundary)


def load_principal_policies(conn: Connection, principal: Principal) -> PrincipalPolicies:
    if principal.kind == "AssumedRole":
        return load_role_policies(conn, principal.account_id, principal.source_name)
    if principal.kind == "IAMUser":
        name = principal.source_name or principal.name
        return load_user_policies(conn, principal.account_id, name)
    return NONE


class PolicyCache:
    """Per-principal policy sets, valid for `ttl` seconds or until invalidated."""

    def __init__(self, clock: Clock, ttl: float = 2.0) -> None:
        self._clock = clock
        self._ttl = ttl
        self._entries: dict[tuple[str, str, str], tuple[float, int, PrincipalPolicies]] = {}
        self._generation = 0
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str, str], threading.Lock] = {}

    def get(
        self, principal: Principal, conn: Connection | None, store: Store | None = None
    ) -> PrincipalPolicies:
        """The principal's policies; reads storage (`conn`, else a read on `store`) on a miss.

        One thread loads a principal's policies at a time; when an entry has only aged
        out (no IAM change since), the others keep using it meanwhile, so a busy
        principal never sends every worker to the database at once.
        """
        key = (principal.account_id, principal.kind, principal.source_name or principal.name)
        entry = self._entries.get(key)
        now = self._clock.monotonic()
        if entry is not None and entry[1] == self._generation:
            if entry[0] > now:
                return entry[2]
            loading = self._loading.setdefault(key, threading.Lock())
            if not loading.acquire(blocking=False):
                return entry[2]  # another thread is refreshing it
            loading.release()
        with self._loading.setdefault(key, threading.Lock()):
            entry = self._entries.get(key)
            if entry is not None and entry[1] == self._generation and entry[0] > now:
                return entry[2]  # loaded while we waited
            generation = self._generation
            if conn is not None:
                policies = load_principal_policies(conn, principal)
            elif store is not None:
                with store.read() as fresh:
                    policies = load_principal_policies(fresh, principal)
            else:
                raise RuntimeError("PolicyCache.get needs a connection or a store on a miss")
            with self._lock:
                if len(self._entries) > 10_000:
                    self._entries.clear()
                    self._loading.clear()
                self._entries[key] = (self._clock.monotonic() + self._ttl, generation, policies)
            return policies

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
