"""Table rows to JSON and back, for development-mode state snapshots.

Sealed columns stay sealed (base64 of the barrier's bytes): a snapshot holds no more
plaintext than the database does, and only opens with the same keyring.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, LargeBinary, Table, select
from sqlalchemy.sql.elements import ColumnElement

Rows = list[dict[str, Any]]


def _to_json(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return {"$b64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if "$b64" in value:
            return base64.b64decode(value["$b64"])
        if "$dt" in value:
            return datetime.fromisoformat(value["$dt"])
    return value


def dump_rows(conn: Connection, table: Table, where: ColumnElement[bool] | None = None) -> Rows:
    query = select(table)
    if where is not None:
        query = query.where(where)
    return [
        {str(key): _to_json(value) for key, value in row.items()}
        for row in conn.execute(query).mappings()
    ]


def load_rows(conn: Connection, table: Table, rows: Rows) -> None:
    if not rows:
        return
    binary = {c.name for c in table.columns if isinstance(c.type, LargeBinary)}
    decoded = []
    for row in rows:
        item = {}
        for key, value in row.items():
            if key not in table.c:
                raise ValueError(f"snapshot column {table.name}.{key} is not in the schema")
            item[key] = _from_json(value)
            if key in binary and isinstance(item[key], str):
                raise ValueError(f"snapshot column {table.name}.{key} must be binary")
        decoded.append(item)
    conn.execute(table.insert(), decoded)


def table_names(tables: Sequence[Table]) -> list[str]:
    return [t.name for t in tables]
