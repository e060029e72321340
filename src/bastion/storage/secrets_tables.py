"""Secrets Manager tables (migration `0006_secrets`), on the shared `metadata`.

A version's value is stored only encrypted: AES-256-GCM under a data key that KMS
generated for it (`GenerateDataKey` with the encryption context
`{"SecretARN", "SecretVersionId"}`), with KMS's ciphertext of that data key beside it.
Rotation state (due time, the step reached, the pending version) lives in clear
columns so the scheduler finds due work with a query and resumes after a crash.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, LargeBinary, String, Table, Text

from bastion.storage.schema import metadata

sm_secrets = Table(
    "sm_secrets",
    metadata,
    Column("arn", String(512), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(512), nullable=False),
    Column("description", Text),
    Column("kms_key_id", String(2048)),
    Column("tags", Text, nullable=False, default="[]"),
    Column("policy", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("accessed_at", DateTime(timezone=True)),
    Column("deleted_at", DateTime(timezone=True)),
    Column("purge_at", DateTime(timezone=True)),
    # rotation
    Column("rotation_enabled", Boolean, nullable=False, default=False),
    Column("rotation_lambda", String(2048)),
    Column("rotation_rules", Text),
    Column("rotated_at", DateTime(timezone=True)),
    Column("next_rotation_at", DateTime(timezone=True)),
    Column("rotation_state", Text),  # JSON: token, step reached, attempts, last error
    Column("rotation_due_at", DateTime(timezone=True)),
    # replication: the primary's region when this row is a replica; replicas as JSON
    Column("primary_region", String(32)),
    Column("replicas", Text, nullable=False, default="[]"),
    Index("ix_sm_secrets_name", "account_id", "region", "name"),
    Index("ix_sm_secrets_purge", "purge_at"),
    Index("ix_sm_secrets_rotation_due", "rotation_due_at"),
    Index("ix_sm_secrets_next_rotation", "next_rotation_at"),
)

sm_versions = Table(
    "sm_versions",
    metadata,
    Column("arn", String(512), primary_key=True),
    Column("version_id", String(64), primary_key=True),
    Column("stages", Text, nullable=False, default="[]"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("accessed_at", DateTime(timezone=True)),
    Column("kms_key_id", String(2048)),
    Column("binary", Boolean, nullable=False, default=False),
    Column("data_key", LargeBinary),  # KMS ciphertext of the version's data key
    Column("ciphertext", LargeBinary),  # nonce | AES-GCM(value); None: no value yet
    Column("digest", String(64)),  # keyed hash for ClientRequestToken idempotency
)
