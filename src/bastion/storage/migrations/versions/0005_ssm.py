"""ssm: Parameter Store parameters and their versions

Revision ID: 0005_ssm
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_ssm"
down_revision = "0001"
branch_labels = ("ssm",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ssm_parameter_versions",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=2048), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("data_type", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("key_id", sa.String(length=2048), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("allowed_pattern", sa.Text(), nullable=True),
        sa.Column("policies", sa.Text(), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_user", sa.String(length=2048), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "region", "name", "version"),
    )
    op.create_table(
        "ssm_parameters",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=2048), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("data_type", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("key_id", sa.String(length=2048), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("allowed_pattern", sa.Text(), nullable=True),
        sa.Column("policies", sa.Text(), nullable=True),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_user", sa.String(length=2048), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expiry_notice_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("no_change_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("account_id", "region", "name"),
    )
    op.create_index("ix_ssm_parameters_expires", "ssm_parameters", ["expires_at"], unique=False)
    op.create_index("ix_ssm_parameters_no_change", "ssm_parameters", ["no_change_at"], unique=False)
    op.create_index(
        "ix_ssm_parameters_notice", "ssm_parameters", ["expiry_notice_at"], unique=False
    )


def downgrade() -> None:
    op.drop_table("ssm_parameters")
    op.drop_table("ssm_parameter_versions")
