"""wafv2: resources, associations, logging, metrics, sampled requests, version row

Revision ID: 0009_wafv2
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_wafv2"
down_revision = "0001"
branch_labels = ("wafv2",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wafv2_meta",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "wafv2_resources",
        sa.Column("arn", sa.String(length=1600), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("lock_token", sa.String(length=64), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("arn"),
    )
    op.create_index(
        "ix_wafv2_resources_name",
        "wafv2_resources",
        ["account_id", "region", "scope", "kind", "name"],
        unique=True,
    )
    op.create_table(
        "wafv2_associations",
        sa.Column("resource_arn", sa.String(length=1600), nullable=False),
        sa.Column("web_acl_arn", sa.String(length=1600), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("resource_arn"),
    )
    op.create_index(
        "ix_wafv2_associations_acl", "wafv2_associations", ["web_acl_arn"], unique=False
    )
    op.create_table(
        "wafv2_logging",
        sa.Column("web_acl_arn", sa.String(length=1600), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("web_acl_arn"),
    )
    op.create_table(
        "wafv2_metrics",
        sa.Column("web_acl_arn", sa.String(length=1600), nullable=False),
        sa.Column("rule", sa.String(length=255), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("web_acl_arn", "rule", "metric"),
    )
    op.create_table(
        "wafv2_samples",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("web_acl_arn", sa.String(length=1600), nullable=False),
        sa.Column("rule_metric_name", sa.String(length=255), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_wafv2_samples_rule_ts",
        "wafv2_samples",
        ["web_acl_arn", "rule_metric_name", "ts"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_wafv2_samples_rule_ts", table_name="wafv2_samples")
    op.drop_table("wafv2_samples")
    op.drop_table("wafv2_metrics")
    op.drop_table("wafv2_logging")
    op.drop_index("ix_wafv2_associations_acl", table_name="wafv2_associations")
    op.drop_table("wafv2_associations")
    op.drop_index("ix_wafv2_resources_name", table_name="wafv2_resources")
    op.drop_table("wafv2_resources")
    op.drop_table("wafv2_meta")
