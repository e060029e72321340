"""Elastic Load Balancing v2: load balancers, target groups, targets, listeners.

These rows are the edge's "protected resources": each listener is a socket the edge
binds (`host` from the load balancer, `port` from the listener). Every change bumps
`elbv2_meta["version"]` in the same transaction; running edges poll that one row.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)

from bastion.storage.schema import metadata

elbv2_meta = Table(
    "elbv2_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

elbv2_load_balancers = Table(
    "elbv2_load_balancers",
    metadata,
    Column("arn", String(1600), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(32), nullable=False),
    Column("type", String(16), nullable=False),
    Column("scheme", String(32), nullable=False),
    Column("ip_address_type", String(32), nullable=False),
    Column("dns_name", String(255), nullable=False),
    Column("host", String(255), nullable=False),  # address the edge binds
    Column("vpc_id", String(64), nullable=False, default=""),
    Column("subnets", Text, nullable=False, default="[]"),
    Column("security_groups", Text, nullable=False, default="[]"),
    Column("attributes", Text, nullable=False, default="{}"),
    Column("tags", Text, nullable=False, default="{}"),
    Column("source", String(16), nullable=False, default="api"),  # api | config
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_elbv2_lb_name", "account_id", "region", "name", unique=True),
)

elbv2_target_groups = Table(
    "elbv2_target_groups",
    metadata,
    Column("arn", String(1600), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(32), nullable=False),
    Column("protocol", String(16), nullable=False),
    Column("port", Integer, nullable=False),
    Column("target_type", String(16), nullable=False),
    Column("vpc_id", String(64), nullable=False, default=""),
    Column("health_check", Text, nullable=False, default="{}"),
    Column("attributes", Text, nullable=False, default="{}"),
    Column("tags", Text, nullable=False, default="{}"),
    Column("source", String(16), nullable=False, default="api"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_elbv2_tg_name", "account_id", "region", "name", unique=True),
)

elbv2_targets = Table(
    "elbv2_targets",
    metadata,
    Column("target_group_arn", String(1600), primary_key=True),
    Column("target_id", String(255), primary_key=True),
    Column("port", Integer, primary_key=True, autoincrement=False),
    Column("availability_zone", String(64), nullable=False, default=""),
    Column("registered_at", DateTime(timezone=True), nullable=False),
)

elbv2_listeners = Table(
    "elbv2_listeners",
    metadata,
    Column("arn", String(1600), primary_key=True),
    Column("load_balancer_arn", String(1600), nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("port", Integer, nullable=False),
    Column("protocol", String(16), nullable=False),
    Column("ssl_policy", String(128), nullable=False, default=""),
    Column("certificates", Text, nullable=False, default="[]"),
    Column("default_actions", Text, nullable=False, default="[]"),
    Column("tags", Text, nullable=False, default="{}"),
    Column("source", String(16), nullable=False, default="api"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_elbv2_listener_lb", "load_balancer_arn"),
)


def bump_elbv2_version(conn: Connection) -> int:
    """Move the version running edges poll; call in the changing transaction."""
    return bump_meta_version(conn, elbv2_meta)


def bump_meta_version(conn: Connection, table: Table) -> int:
    current = conn.execute(select(table.c.value).where(table.c.name == "version")).scalar()
    if current is None:
        conn.execute(insert(table).values(name="version", value=1))
        return 1
    conn.execute(update(table).where(table.c.name == "version").values(value=current + 1))
    return int(current) + 1
