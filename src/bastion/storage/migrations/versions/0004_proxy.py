"""forward proxy: users, rules, block lists, version row

Revision ID: 0004_proxy
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_proxy"
down_revision = "0001"
branch_labels = ("proxy",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proxy_meta",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "proxy_users",
        sa.Column("user_name", sa.String(length=128), nullable=False),
        sa.Column("password_hash", sa.String(length=512), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_name"),
    )
    op.create_table(
        "proxy_rules",
        sa.Column("rule_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("domain_match", sa.String(length=16), nullable=False),
        sa.Column("cidr", sa.Text(), nullable=False),
        sa.Column("ports", sa.String(length=512), nullable=False),
        sa.Column("methods", sa.String(length=256), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("users", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("rule_id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("proxy_rules", schema=None) as batch_op:
        batch_op.create_index("ix_proxy_rules_priority", ["priority", "rule_id"], unique=False)
    op.create_table(
        "proxy_lists",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("source_path", sa.Text(), nullable=False),
        sa.Column("entries", sa.Text(), nullable=False),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("proxy_lists")
    with op.batch_alter_table("proxy_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_proxy_rules_priority")
    op.drop_table("proxy_rules")
    op.drop_table("proxy_users")
    op.drop_table("proxy_meta")
