"""iam and sts: groups, roles, managed and inline policies, attachments, sessions

Revision ID: 0002_iam
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_iam"
down_revision = "0001"
branch_labels = ("iam",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "iam_attachments",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("principal_kind", sa.String(length=8), nullable=False),
        sa.Column("principal_name", sa.String(length=128), nullable=False),
        sa.Column("policy_arn", sa.String(length=2048), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "principal_kind", "principal_name", "policy_arn"),
    )
    op.create_index("ix_iam_attachments_policy", "iam_attachments", ["policy_arn"], unique=False)
    op.create_table(
        "iam_group_members",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("group_name", sa.String(length=128), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "group_name", "user_name"),
    )
    op.create_index(
        "ix_iam_group_members_user", "iam_group_members", ["account_id", "user_name"], unique=False
    )
    op.create_table(
        "iam_groups",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("group_name", sa.String(length=128), nullable=False),
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("arn", sa.String(length=2048), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "group_name"),
        sa.UniqueConstraint("group_id"),
    )
    op.create_table(
        "iam_inline_policies",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("principal_kind", sa.String(length=8), nullable=False),
        sa.Column("principal_name", sa.String(length=128), nullable=False),
        sa.Column("policy_name", sa.String(length=128), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "principal_kind", "principal_name", "policy_name"),
    )
    op.create_table(
        "iam_policies",
        sa.Column("arn", sa.String(length=2048), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("policy_name", sa.String(length=128), nullable=False),
        sa.Column("policy_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("default_version_id", sa.String(length=16), nullable=False),
        sa.Column("next_version", sa.Integer(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("arn"),
        sa.UniqueConstraint("policy_id"),
    )
    op.create_index(
        "ix_iam_policies_name", "iam_policies", ["account_id", "policy_name"], unique=True
    )
    op.create_table(
        "iam_policy_versions",
        sa.Column("policy_arn", sa.String(length=2048), nullable=False),
        sa.Column("version_id", sa.String(length=16), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("policy_arn", "version_id"),
    )
    op.create_table(
        "iam_roles",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("role_name", sa.String(length=64), nullable=False),
        sa.Column("role_id", sa.String(length=32), nullable=False),
        sa.Column("arn", sa.String(length=2048), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("trust_policy", sa.Text(), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("max_session_duration", sa.Integer(), nullable=False),
        sa.Column("permissions_boundary_arn", sa.String(length=2048), nullable=True),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_region", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("account_id", "role_name"),
        sa.UniqueConstraint("role_id"),
    )
    op.create_table(
        "iam_user_boundaries",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("policy_arn", sa.String(length=2048), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "user_name"),
    )
    op.create_table(
        "sts_sessions",
        sa.Column("access_key_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("principal_arn", sa.String(length=2048), nullable=False),
        sa.Column("principal_id", sa.String(length=160), nullable=False),
        sa.Column("source_arn", sa.String(length=2048), nullable=False),
        sa.Column("source_name", sa.String(length=128), nullable=False),
        sa.Column("session_name", sa.String(length=64), nullable=False),
        sa.Column("session_policy", sa.Text(), nullable=True),
        sa.Column("session_policy_arns", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("source_identity", sa.String(length=64), nullable=True),
        sa.Column("mfa", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("access_key_id"),
    )
    op.create_index("ix_sts_sessions_expiry", "sts_sessions", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sts_sessions_expiry", table_name="sts_sessions")
    op.drop_table("sts_sessions")
    op.drop_table("iam_user_boundaries")
    op.drop_table("iam_roles")
    op.drop_table("iam_policy_versions")
    op.drop_index("ix_iam_policies_name", table_name="iam_policies")
    op.drop_table("iam_policies")
    op.drop_table("iam_inline_policies")
    op.drop_table("iam_groups")
    op.drop_index("ix_iam_group_members_user", table_name="iam_group_members")
    op.drop_table("iam_group_members")
    op.drop_index("ix_iam_attachments_policy", table_name="iam_attachments")
    op.drop_table("iam_attachments")
