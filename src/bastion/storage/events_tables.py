"""Event bus tables (migrations `0007_events`, `0010_events_buses`), on the shared `metadata`.

`events_buses` holds custom event buses (the `default` bus of every account always
exists and has no row). A scheduled rule's next run is `events_rules.next_fire_at`, kept
in storage so a restart or a second node never fires the same run twice.
`events_outbox` receives events in the transaction that caused them (a parameter
change commits with its event or not at all); the bus worker matches them against
rules and queues one `events_deliveries` row per matched target, retried with backoff.
`events_cursors` remembers how far the bus has read the audit log (by sequence).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from bastion.storage.schema import metadata

events_buses = Table(
    "events_buses",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("arn", String(1600), nullable=False),
    Column("description", Text),
    Column("kms_key", String(2048)),
    Column("dead_letter", Text),  # DeadLetterConfig, JSON
    Column("log_config", Text),  # LogConfig, JSON
    Column("tags", Text, nullable=False, default="[]"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

events_rules = Table(
    "events_rules",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("bus", String(256), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("arn", String(1600), nullable=False),
    Column("pattern", Text),
    Column("schedule", String(256)),
    Column("state", String(32), nullable=False),
    Column("description", Text),
    Column("role_arn", String(1600)),
    Column("tags", Text, nullable=False, default="[]"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_fire_at", DateTime(timezone=True)),
    Index("ix_events_rules_next_fire", "next_fire_at"),
)

events_targets = Table(
    "events_targets",
    metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("bus", String(256), primary_key=True),
    Column("rule", String(64), primary_key=True),
    Column("target_id", String(64), primary_key=True),
    Column("target", Text, nullable=False),  # the Target structure, JSON
)

events_outbox = Table(
    "events_outbox",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("bus", String(256), nullable=False),
    Column("event", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

events_deliveries = Table(
    "events_deliveries",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("rule_arn", String(1600), nullable=False),
    Column("target", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("event_time", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("done", Boolean, nullable=False, default=False),
    Column("outcome", String(32)),
    Column("last_error", Text),
    Index("ix_events_deliveries_due", "done", "next_attempt_at"),
)

events_cursors = Table(
    "events_cursors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)
