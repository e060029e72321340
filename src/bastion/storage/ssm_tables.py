"""Parameter Store tables (migration `0005_ssm`), on the shared `metadata`.

One row per parameter (its latest state, policies and their schedule) and one per
version. A SecureString version stores only KMS's ciphertext (`ciphertext`): the value
is never in clear at rest. String and StringList values are what AWS shows to any
reader with `ssm:GetParameter` and stay in `value`.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, LargeBinary, String, Table, Text

from bastion.storage.schema import metadata

ssm_parameters = Table(
    "ssm_parameters",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("name", String(2048), primary_key=True),
    Column("type", String(16), nullable=False),
    Column("data_type", String(32), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("key_id", String(2048)),
    Column("description", Text),
    Column("allowed_pattern", Text),
    Column("policies", Text),
    Column("tags", Text, nullable=False, default="{}"),
    Column("version", Integer, nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    Column("modified_user", String(2048), nullable=False),
    # parameter policies, scheduled: when each is next due (None: not pending)
    Column("expires_at", DateTime(timezone=True)),
    Column("expiry_notice_at", DateTime(timezone=True)),
    Column("no_change_at", DateTime(timezone=True)),
    Index("ix_ssm_parameters_expires", "expires_at"),
    Index("ix_ssm_parameters_notice", "expiry_notice_at"),
    Index("ix_ssm_parameters_no_change", "no_change_at"),
)

ssm_parameter_versions = Table(
    "ssm_parameter_versions",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("name", String(2048), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("type", String(16), nullable=False),
    Column("data_type", String(32), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("key_id", String(2048)),
    Column("description", Text),
    Column("allowed_pattern", Text),
    Column("policies", Text),
    Column("value", Text),
    Column("ciphertext", LargeBinary),
    Column("labels", Text, nullable=False, default="[]"),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    Column("modified_user", String(2048), nullable=False),
)
