"""AWS WAFv2: web ACLs, rule groups, IP sets and regex pattern sets (one table, `kind`
tells them apart), associations with protected resources, logging configurations, and
what the edge reports back: CloudWatch-style counters and sampled requests.

Resources keep their API document (the model's shape, as `Get*` returns it) in `doc`,
with the clear columns AWS's `List*` calls show. Every configuration change bumps
`wafv2_meta["version"]`; running edges poll it and recompile.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from bastion.storage.elbv2_tables import bump_meta_version
from bastion.storage.schema import metadata

wafv2_meta = Table(
    "wafv2_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

wafv2_resources = Table(
    "wafv2_resources",
    metadata,
    Column("arn", String(1600), primary_key=True),
    Column("kind", String(16), nullable=False),  # webacl | rulegroup | ipset | regexpatternset
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("name", String(128), nullable=False),
    Column("id", String(64), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("lock_token", String(64), nullable=False),
    Column("capacity", Integer, nullable=False, default=0),
    Column("doc", Text, nullable=False),
    Column("tags", Text, nullable=False, default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_wafv2_resources_name", "account_id", "region", "scope", "kind", "name", unique=True),
)

wafv2_associations = Table(
    "wafv2_associations",
    metadata,
    Column("resource_arn", String(1600), primary_key=True),
    Column("web_acl_arn", String(1600), nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_wafv2_associations_acl", "web_acl_arn"),
)

wafv2_logging = Table(
    "wafv2_logging",
    metadata,
    Column("web_acl_arn", String(1600), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("config", Text, nullable=False),
)

wafv2_metrics = Table(
    "wafv2_metrics",
    metadata,
    Column("web_acl_arn", String(1600), primary_key=True),
    Column("rule", String(255), primary_key=True),  # rule metric name, or "ALL"
    Column("metric", String(64), primary_key=True),  # AllowedRequests, BlockedRequests...
    Column("value", BigInteger, nullable=False),
)

wafv2_samples = Table(
    "wafv2_samples",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("web_acl_arn", String(1600), nullable=False),
    Column("rule_metric_name", String(255), nullable=False),
    Column("ts", Float, nullable=False),
    Column("weight", Integer, nullable=False),
    Column("record", Text, nullable=False),
    Index("ix_wafv2_samples_rule_ts", "web_acl_arn", "rule_metric_name", "ts"),
)


def bump_wafv2_version(conn: Connection) -> int:
    """Move the version running edges poll; call in the changing transaction."""
    return bump_meta_version(conn, wafv2_meta)


def dump_doc(doc: Any) -> str:
    """A WAFv2 document as JSON; blobs (ByteMatch SearchString) as {"__b64__": ...}."""
    return orjson.dumps(doc, default=_encode).decode()


def load_doc(text: str) -> Any:
    """The inverse of `dump_doc`: blobs come back as bytes."""
    return _decode(orjson.loads(text))


def _encode(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"__b64__": base64.b64encode(bytes(value)).decode()}
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and "__b64__" in value:
            return base64.b64decode(value["__b64__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value
