"""kms: keys, key material versions, aliases, grants, import tokens

Revision ID: 0003_kms
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_kms"
down_revision = "0001"
branch_labels = ("kms",)
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "kms_keys",
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("arn", sa.String(length=256), nullable=False),
        sa.Column("key_spec", sa.String(length=32), nullable=False),
        sa.Column("key_usage", sa.String(length=32), nullable=False),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("key_manager", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("multi_region", sa.Boolean(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("deletion_date", _TS, nullable=True),
        sa.Column("pending_window_days", sa.Integer(), nullable=True),
        sa.Column("rotation_enabled", sa.Boolean(), nullable=False),
        sa.Column("rotation_period_days", sa.Integer(), nullable=True),
        sa.Column("next_rotation_at", _TS, nullable=True),
        sa.Column("on_demand_rotations", sa.Integer(), nullable=False),
        sa.Column("expiration_model", sa.String(length=32), nullable=True),
        sa.Column("valid_to", _TS, nullable=True),
        sa.Column("material_fingerprint", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("region", "key_id"),
    )
    op.create_index("ix_kms_keys_account", "kms_keys", ["account_id", "region"])
    op.create_index("ix_kms_keys_deletion", "kms_keys", ["state", "deletion_date"])
    op.create_index("ix_kms_keys_rotation", "kms_keys", ["rotation_enabled", "next_rotation_at"])

    op.create_table(
        "kms_key_material",
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("material_id", sa.String(length=64), nullable=False),
        sa.Column("material_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("rotation_type", sa.String(length=16), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("region", "key_id", "version"),
    )

    op.create_table(
        "kms_aliases",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("alias_name", sa.String(length=256), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "region", "alias_name"),
    )
    op.create_index("ix_kms_aliases_key", "kms_aliases", ["region", "key_id"])

    op.create_table(
        "kms_grants",
        sa.Column("grant_id", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("grantee_principal", sa.String(length=256), nullable=False),
        sa.Column("retiring_principal", sa.String(length=256), nullable=True),
        sa.Column("issuing_account", sa.String(length=256), nullable=False),
        sa.Column("operations", sa.Text(), nullable=False),
        sa.Column("constraints", sa.Text(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("grant_id"),
    )
    op.create_index("ix_kms_grants_key", "kms_grants", ["region", "key_id"])
    op.create_index("ix_kms_grants_retiring", "kms_grants", ["retiring_principal"])

    op.create_table(
        "kms_import_tokens",
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("wrapping_algorithm", sa.String(length=32), nullable=False),
        sa.Column("wrapping_key_spec", sa.String(length=16), nullable=False),
        sa.Column("private_key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("token_id"),
    )
    op.create_index("ix_kms_import_tokens_key", "kms_import_tokens", ["region", "key_id"])


def downgrade() -> None:
    op.drop_index("ix_kms_import_tokens_key", table_name="kms_import_tokens")
    op.drop_table("kms_import_tokens")
    op.drop_index("ix_kms_grants_retiring", table_name="kms_grants")
    op.drop_index("ix_kms_grants_key", table_name="kms_grants")
    op.drop_table("kms_grants")
    op.drop_index("ix_kms_aliases_key", table_name="kms_aliases")
    op.drop_table("kms_aliases")
    op.drop_table("kms_key_material")
    op.drop_index("ix_kms_keys_rotation", table_name="kms_keys")
    op.drop_index("ix_kms_keys_deletion", table_name="kms_keys")
    op.drop_index("ix_kms_keys_account", table_name="kms_keys")
    op.drop_table("kms_keys")
