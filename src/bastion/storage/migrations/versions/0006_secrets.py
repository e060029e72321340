"""secretsmanager: secrets and their versions

Revision ID: 0006_secrets
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_secrets"
down_revision = "0001"
branch_labels = ("secrets",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sm_secrets",
        sa.Column("arn", sa.String(length=512), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("kms_key_id", sa.String(length=2048), nullable=True),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accessed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purge_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rotation_enabled", sa.Boolean(), nullable=False),
        sa.Column("rotation_lambda", sa.String(length=2048), nullable=True),
        sa.Column("rotation_rules", sa.Text(), nullable=True),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_rotation_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rotation_state", sa.Text(), nullable=True),
        sa.Column("rotation_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("primary_region", sa.String(length=32), nullable=True),
        sa.Column("replicas", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("arn"),
    )
    op.create_index(
        "ix_sm_secrets_name", "sm_secrets", ["account_id", "region", "name"], unique=False
    )
    op.create_index("ix_sm_secrets_next_rotation", "sm_secrets", ["next_rotation_at"], unique=False)
    op.create_index("ix_sm_secrets_purge", "sm_secrets", ["purge_at"], unique=False)
    op.create_index("ix_sm_secrets_rotation_due", "sm_secrets", ["rotation_due_at"], unique=False)
    op.create_table(
        "sm_versions",
        sa.Column("arn", sa.String(length=512), nullable=False),
        sa.Column("version_id", sa.String(length=64), nullable=False),
        sa.Column("stages", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accessed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("kms_key_id", sa.String(length=2048), nullable=True),
        sa.Column("binary", sa.Boolean(), nullable=False),
        sa.Column("data_key", sa.LargeBinary(), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("arn", "version_id"),
    )


def downgrade() -> None:
    op.drop_table("sm_versions")
    op.drop_table("sm_secrets")
