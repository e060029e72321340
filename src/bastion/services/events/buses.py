"""Event buses: the account's `default` bus (always there, no row) and custom buses.

Operations take a bus by name or by ARN (`arn:aws:events:<region>:<account>:event-bus/<name>`);
an ARN of another account or region names no bus Bastion holds for the caller.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, delete, select

from bastion.clock import as_utc
from bastion.context import RequestContext
from bastion.errors import ResourceNotFoundError
from bastion.spine.events import DEFAULT_BUS
from bastion.storage.events_tables import events_buses, events_rules, events_targets

_ARN_MARKER = ":event-bus/"


def bus_arn(ctx: RequestContext, name: str) -> str:
    return f"arn:aws:events:{ctx.region}:{ctx.account_id}:event-bus/{name}"


def bus_name(ctx: RequestContext, value: str | None) -> str:
    """The bus a request names (default when absent). A foreign ARN keeps its full text,
    so it matches no bus of the caller's and is reported as it was given."""
    if not value:
        return DEFAULT_BUS
    if not value.startswith("arn:"):
        return value
    prefix, marker, name = value.partition(_ARN_MARKER)
    if not marker or not name or prefix != f"arn:aws:events:{ctx.region}:{ctx.account_id}":
        return value
    return name


def not_found(name: str) -> ResourceNotFoundError:
    return ResourceNotFoundError(f"Event bus {name} does not exist.")


def find(conn: Connection, ctx: RequestContext, name: str) -> Any:
    return (
        conn.execute(
            select(events_buses).where(
                events_buses.c.account_id == ctx.account_id,
                events_buses.c.region == ctx.region,
                events_buses.c.name == name,
            )
        )
        .mappings()
        .first()
    )


def require(conn: Connection, ctx: RequestContext, name: str) -> None:
    """ResourceNotFoundException unless `name` is the default bus or one of the caller's."""
    if name != DEFAULT_BUS and find(conn, ctx, name) is None:
        raise not_found(name)


def describe(ctx: RequestContext, name: str, row: Any, *, full: bool) -> dict[str, Any]:
    """A bus as DescribeEventBus (`full`) or ListEventBuses shows it."""
    out: dict[str, Any] = {"Name": name, "Arn": bus_arn(ctx, name)}
    if row is None:
        return out
    if row["description"]:
        out["Description"] = row["description"]
    if full:
        if row["kms_key"]:
            out["KmsKeyIdentifier"] = row["kms_key"]
        if row["dead_letter"]:
            out["DeadLetterConfig"] = json.loads(row["dead_letter"])
        if row["log_config"]:
            out["LogConfig"] = json.loads(row["log_config"])
    out["CreationTime"] = as_utc(row["created_at"])
    out["LastModifiedTime"] = as_utc(row["updated_at"])
    return out


def listed(conn: Connection, ctx: RequestContext, prefix: str | None) -> list[dict[str, Any]]:
    """Every bus of the caller's account and region, default included, by name."""
    query = select(events_buses).where(
        events_buses.c.account_id == ctx.account_id, events_buses.c.region == ctx.region
    )
    found = {row["name"]: row for row in conn.execute(query).mappings()}
    found.setdefault(DEFAULT_BUS, None)
    return [
        describe(ctx, name, found[name], full=False)
        for name in sorted(found)
        if not prefix or name.startswith(prefix)
    ]


def delete_with_rules(conn: Connection, ctx: RequestContext, name: str) -> None:
    """Deleting a bus deletes its rules (and their targets), as EventBridge does."""
    scope = (
        ("account_id", ctx.account_id),
        ("region", ctx.region),
        ("bus", name),
    )
    conn.execute(delete(events_targets).where(*(events_targets.c[k] == v for k, v in scope)))
    conn.execute(delete(events_rules).where(*(events_rules.c[k] == v for k, v in scope)))
    conn.execute(
        delete(events_buses).where(
            events_buses.c.account_id == ctx.account_id,
            events_buses.c.region == ctx.region,
            events_buses.c.name == name,
        )
    )
