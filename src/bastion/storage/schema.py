"""Every table Bastion keeps. Migrations under `migrations/` create exactly these.

Secret columns are `LargeBinary` holding barrier-sealed bytes; everything AWS shows to
`Describe*` callers (names, ARNs, states) stays in clear, queryable columns.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

barrier_meta = Table(
    "barrier_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

keyring = Table(
    "keyring",
    metadata,
    Column("term", Integer, primary_key=True, autoincrement=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

iam_users = Table(
    "iam_users",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.account_id"), primary_key=True),
    Column("user_name", String(64), primary_key=True),
    Column("user_id", String(32), nullable=False, unique=True),
    Column("arn", String(2048), nullable=False),
    Column("path", String(512), nullable=False, default="/"),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("tags", Text, nullable=False, default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key_id", String(32), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("user_name", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("secret_sealed", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("last_used_service", String(64)),
    Column("last_used_region", String(32)),
    Index("ix_access_keys_user", "account_id", "user_name"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("event_time", DateTime(timezone=True), nullable=False),
    Column("event_name", String(128), nullable=False),
    Column("event_source", String(128), nullable=False),
    Column("username", String(256)),
    Column("access_key_id", String(32)),
    Column("read_only", Boolean, nullable=False),
    Column("record", Text, nullable=False),
    Index("ix_audit_events_time", "account_id", "region", "event_time"),
)

audit_event_resources = Table(
    "audit_event_resources",
    metadata,
    Column(
        "event_id",
        String(36),
        ForeignKey("audit_events.event_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("resource_type", String(128)),
    Column("resource_name", String(2048), nullable=False),
    Index("ix_audit_resources_name", "resource_name"),
    Index("ix_audit_resources_type", "resource_type"),
)
