"""KMS tables (migration `0003_kms`), on the shared `metadata` of `bastion.storage.schema`.

Key material is only ever stored sealed by the barrier (`material_sealed`), one row per
key-material version, so rotation keeps every older version readable. Everything AWS
shows to `Describe*`/`List*` callers stays in clear, queryable columns.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from bastion.storage.schema import metadata

kms_keys = Table(
    "kms_keys",
    metadata,
    Column("region", String(32), primary_key=True),
    Column("key_id", String(64), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("arn", String(256), nullable=False),
    Column("key_spec", String(32), nullable=False),
    Column("key_usage", String(32), nullable=False),
    Column("origin", String(32), nullable=False),
    Column("key_manager", String(16), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("state", String(32), nullable=False),
    Column("multi_region", Boolean, nullable=False, default=False),
    Column("policy", Text, nullable=False),
    Column("tags", Text, nullable=False, default="{}"),
    Column("current_version", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("deletion_date", DateTime(timezone=True)),
    Column("pending_window_days", Integer),
    Column("rotation_enabled", Boolean, nullable=False, default=False),
    Column("rotation_period_days", Integer),
    Column("next_rotation_at", DateTime(timezone=True)),
    Column("on_demand_rotations", Integer, nullable=False, default=0),
    Column("expiration_model", String(32)),
    Column("valid_to", DateTime(timezone=True)),
    Column("material_fingerprint", String(64)),
    Index("ix_kms_keys_account", "account_id", "region"),
    Index("ix_kms_keys_deletion", "state", "deletion_date"),
    Index("ix_kms_keys_rotation", "rotation_enabled", "next_rotation_at"),
)

kms_key_material = Table(
    "kms_key_material",
    metadata,
    Column("region", String(32), primary_key=True),
    Column("key_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("material_id", String(64), nullable=False),
    Column("material_sealed", LargeBinary, nullable=False),
    Column("rotation_type", String(16)),  # None for the first version
    Column("created_at", DateTime(timezone=True), nullable=False),
)

kms_aliases = Table(
    "kms_aliases",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("alias_name", String(256), primary_key=True),
    Column("key_id", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_kms_aliases_key", "region", "key_id"),
)

kms_grants = Table(
    "kms_grants",
    metadata,
    Column("grant_id", String(64), primary_key=True),
    Column("region", String(32), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("name", String(256)),
    Column("grantee_principal", String(256), nullable=False),
    Column("retiring_principal", String(256)),
    Column("issuing_account", String(256), nullable=False),
    Column("operations", Text, nullable=False),
    Column("constraints", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_kms_grants_key", "region", "key_id"),
    Index("ix_kms_grants_retiring", "retiring_principal"),
)

kms_import_tokens = Table(
    "kms_import_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("region", String(32), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("wrapping_algorithm", String(32), nullable=False),
    Column("wrapping_key_spec", String(16), nullable=False),
    Column("private_key_sealed", LargeBinary, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_kms_import_tokens_key", "region", "key_id"),
)
