"""IAM and STS tables beyond the bootstrap ones in `schema` (users, access keys).

Policy documents are stored as the JSON text the caller sent (IAM returns it URL-encoded
on Get*). Temporary credentials keep their secret sealed and only a SHA-256 of their
session token, which is all that verification needs.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, LargeBinary, String, Table, Text

from bastion.storage.schema import metadata

_TS = DateTime(timezone=True)

iam_groups = Table(
    "iam_groups",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("group_name", String(128), primary_key=True),
    Column("group_id", String(32), nullable=False, unique=True),
    Column("arn", String(2048), nullable=False),
    Column("path", String(512), nullable=False),
    Column("created_at", _TS, nullable=False),
)

iam_group_members = Table(
    "iam_group_members",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("group_name", String(128), primary_key=True),
    Column("user_name", String(64), primary_key=True),
    Index("ix_iam_group_members_user", "account_id", "user_name"),
)

iam_roles = Table(
    "iam_roles",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("role_name", String(64), primary_key=True),
    Column("role_id", String(32), nullable=False, unique=True),
    Column("arn", String(2048), nullable=False),
    Column("path", String(512), nullable=False),
    Column("trust_policy", Text, nullable=False),
    Column("description", String(1000)),
    Column("max_session_duration", Integer, nullable=False),
    Column("permissions_boundary_arn", String(2048)),
    Column("tags", Text, nullable=False),
    Column("created_at", _TS, nullable=False),
    Column("last_used_at", _TS),
    Column("last_used_region", String(32)),
)

iam_policies = Table(
    "iam_policies",
    metadata,
    Column("arn", String(2048), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("policy_name", String(128), nullable=False),
    Column("policy_id", String(32), nullable=False, unique=True),
    Column("path", String(512), nullable=False),
    Column("description", String(1000)),
    Column("default_version_id", String(16), nullable=False),
    Column("next_version", Integer, nullable=False),
    Column("tags", Text, nullable=False),
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
    Index("ix_iam_policies_name", "account_id", "policy_name", unique=True),
)

iam_policy_versions = Table(
    "iam_policy_versions",
    metadata,
    Column("policy_arn", String(2048), primary_key=True),
    Column("version_id", String(16), primary_key=True),
    Column("document", Text, nullable=False),
    Column("created_at", _TS, nullable=False),
)

# principal_kind: "user", "group" or "role".
iam_inline_policies = Table(
    "iam_inline_policies",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("principal_kind", String(8), primary_key=True),
    Column("principal_name", String(128), primary_key=True),
    Column("policy_name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)

iam_attachments = Table(
    "iam_attachments",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("principal_kind", String(8), primary_key=True),
    Column("principal_name", String(128), primary_key=True),
    Column("policy_arn", String(2048), primary_key=True),
    Index("ix_iam_attachments_policy", "policy_arn"),
)

# Permissions boundaries of users (roles keep theirs in iam_roles).
iam_user_boundaries = Table(
    "iam_user_boundaries",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("user_name", String(64), primary_key=True),
    Column("policy_arn", String(2048), nullable=False),
)

sts_sessions = Table(
    "sts_sessions",
    metadata,
    Column("access_key_id", String(32), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("secret_sealed", LargeBinary, nullable=False),
    Column("token_sha256", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # AssumedRole | FederatedUser | IAMUser
    Column("principal_arn", String(2048), nullable=False),
    Column("principal_id", String(160), nullable=False),
    Column("source_arn", String(2048), nullable=False),  # role ARN or user ARN
    Column("source_name", String(128), nullable=False),
    Column("session_name", String(64), nullable=False),
    Column("session_policy", Text),
    Column("session_policy_arns", Text, nullable=False),
    Column("tags", Text, nullable=False),
    Column("source_identity", String(64)),
    Column("mfa", Boolean, nullable=False),
    Column("expires_at", _TS, nullable=False),
    Column("created_at", _TS, nullable=False),
    Index("ix_sts_sessions_expiry", "expires_at"),
)
