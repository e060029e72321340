"""events: custom event buses, next run of scheduled rules

Revision ID: 0010_events_buses
Revises: 0007_events
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_events_buses"
down_revision = "0007_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events_buses",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("arn", sa.String(length=1600), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("kms_key", sa.String(length=2048), nullable=True),
        sa.Column("dead_letter", sa.Text(), nullable=True),
        sa.Column("log_config", sa.Text(), nullable=True),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "region", "name"),
    )
    with op.batch_alter_table("events_rules") as batch:
        batch.add_column(sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_events_rules_next_fire", ["next_fire_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events_rules") as batch:
        batch.drop_index("ix_events_rules_next_fire")
        batch.drop_column("next_fire_at")
    op.drop_table("events_buses")
