"""The forward proxy's configuration: users, ordered rules, block lists, a version row.

Every change bumps `proxy_meta["version"]` in the same transaction; running proxies poll
that one row and reload the rest only when it moved.
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

proxy_meta = Table(
    "proxy_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

proxy_users = Table(
    "proxy_users",
    metadata,
    Column("user_name", String(128), primary_key=True),
    # "argon2id$m=<KiB>,t=<iterations>,p=<lanes>$<salt b64>$<hash b64>": never the password
    Column("password_hash", String(512), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

proxy_rules = Table(
    "proxy_rules",
    metadata,
    Column("rule_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("priority", Integer, nullable=False),
    Column("action", String(8), nullable=False),
    Column("domain", Text, nullable=False, default=""),
    Column("domain_match", String(16), nullable=False, default="exact"),
    Column("cidr", Text, nullable=False, default=""),
    Column("ports", String(512), nullable=False, default=""),
    Column("methods", String(256), nullable=False, default=""),
    Column("path", Text, nullable=False, default=""),
    Column("source", Text, nullable=False, default=""),
    Column("users", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_proxy_rules_priority", "priority", "rule_id"),
)

proxy_lists = Table(
    "proxy_lists",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("kind", String(8), nullable=False),  # domain | ip
    Column("source_path", Text, nullable=False, default=""),
    Column("entries", Text, nullable=False, default=""),  # one per line, normalised
    Column("entry_count", Integer, nullable=False, default=0),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
