"""elbv2: load balancers, target groups, targets, listeners, version row

Revision ID: 0008_elbv2
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_elbv2"
down_revision = "0001"
branch_labels = ("elbv2",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "elbv2_meta",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "elbv2_load_balancers",
        sa.Column("arn", sa.String(length=1600), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("scheme", sa.String(length=32), nullable=False),
        sa.Column("ip_address_type", sa.String(length=32), nullable=False),
        sa.Column("dns_name", sa.String(length=255), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("vpc_id", sa.String(length=64), nullable=False),
        sa.Column("subnets", sa.Text(), nullable=False),
        sa.Column("security_groups", sa.Text(), nullable=False),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("arn"),
    )
    op.create_index(
        "ix_elbv2_lb_name", "elbv2_load_balancers", ["account_id", "region", "name"], unique=True
    )
    op.create_table(
        "elbv2_target_groups",
        sa.Column("arn", sa.String(length=1600), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("vpc_id", sa.String(length=64), nullable=False),
        sa.Column("health_check", sa.Text(), nullable=False),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("arn"),
    )
    op.create_index(
        "ix_elbv2_tg_name", "elbv2_target_groups", ["account_id", "region", "name"], unique=True
    )
    op.create_table(
        "elbv2_targets",
        sa.Column("target_group_arn", sa.String(length=1600), nullable=False),
        sa.Column("target_id", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("availability_zone", sa.String(length=64), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("target_group_arn", "target_id", "port"),
    )
    op.create_table(
        "elbv2_listeners",
        sa.Column("arn", sa.String(length=1600), nullable=False),
        sa.Column("load_balancer_arn", sa.String(length=1600), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("ssl_policy", sa.String(length=128), nullable=False),
        sa.Column("certificates", sa.Text(), nullable=False),
        sa.Column("default_actions", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("arn"),
    )
    op.create_index("ix_elbv2_listener_lb", "elbv2_listeners", ["load_balancer_arn"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_elbv2_listener_lb", table_name="elbv2_listeners")
    op.drop_table("elbv2_listeners")
    op.drop_table("elbv2_targets")
    op.drop_index("ix_elbv2_tg_name", table_name="elbv2_target_groups")
    op.drop_table("elbv2_target_groups")
    op.drop_index("ix_elbv2_lb_name", table_name="elbv2_load_balancers")
    op.drop_table("elbv2_load_balancers")
    op.drop_table("elbv2_meta")
