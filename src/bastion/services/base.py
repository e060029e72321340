"""The provider contract: `(ctx, request dict) -> response dict`, one method per operation.

Handlers never see HTTP. They are declared with `@operation`, which records how the
gateway must run them:
- `mutating`: runs in a write transaction with its audit record (CloudTrail readOnly=false);
- `storage`: False for handlers that touch no database, run inline on the event loop;
- `cached`: a read whose warm path is served from in-memory caches. It is tried on the
  event loop first with a `StorageProbe` for its transaction; the first use of storage
  (a cache miss) abandons that try and the call runs again on the thread pool. Such a
  handler must reach storage only through `ctx.tx` and
  have no effect before its first storage access that a second run would repeat
  (`leave_loop` stops the try explicitly, e.g. before asymmetric cryptography).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, not_
from sqlalchemy.sql.elements import ColumnElement

from bastion.context import RequestContext
from bastion.storage.snapshot import Rows, dump_rows, load_rows

Handler = Callable[[RequestContext, dict[str, Any]], dict[str, Any] | None]

_READ_PREFIXES = ("Get", "List", "Describe", "Lookup", "Check", "Simulate", "Search", "BatchGet")


@dataclass(frozen=True, slots=True)
class OperationSpec:
    name: str
    handler: Handler
    mutating: bool
    storage: bool
    cached: bool = False


def operation(
    name: str, *, mutating: bool | None = None, storage: bool = True, cached: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a provider method as the handler of AWS operation `name`."""
    is_mutating = (not name.startswith(_READ_PREFIXES)) if mutating is None else mutating
    if cached and (is_mutating or not storage):
        raise ValueError(f"{name}: only storage reads can be cache-served")

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__bastion_operation__ = (name, is_mutating, storage, cached)  # type: ignore[attr-defined]
        return fn

    return mark


class Provider:
    """Base of every service provider. `service` is botocore's service name.

    `state_tables` lists the tables holding the service's resources, parents first;
    development mode's reset and snapshots use them. `initial_rows` names rows that
    belong to the freshly initialised state (kept by a reset).
    """

    service: str = ""
    state_tables: tuple[Table, ...] = ()

    def initial_rows(self, table: Table) -> ColumnElement[bool] | None:
        """Rows of `table` that a reset keeps (None: none)."""
        return None

    def clear_caches(self) -> None:
        """Forget in-memory state derived from storage (after reset or snapshot load)."""

    def after_write(self) -> None:
        """Called once a write of this service has committed (drop read caches)."""

    def reset_state(self, conn: Connection) -> None:
        """Delete every resource of the service, keeping the initial rows."""
        for table in reversed(self.state_tables):
            keep = self.initial_rows(table)
            query = table.delete() if keep is None else table.delete().where(not_(keep))
            conn.execute(query)

    def dump_state(self, conn: Connection) -> dict[str, Rows]:
        out = {}
        for table in self.state_tables:
            keep = self.initial_rows(table)
            out[str(table.name)] = dump_rows(conn, table, None if keep is None else not_(keep))
        return out

    def load_state(self, conn: Connection, state: dict[str, Rows]) -> None:
        """Replace the service's resources with a dumped state."""
        self.reset_state(conn)
        for table in self.state_tables:
            load_rows(conn, table, state.get(table.name, []))

    def operations(self) -> dict[str, OperationSpec]:
        specs: dict[str, OperationSpec] = {}
        for attr in dir(type(self)):
            fn = getattr(type(self), attr)
            marker = getattr(fn, "__bastion_operation__", None)
            if marker is not None:
                name, mutating, storage, cached = marker
                specs[name] = OperationSpec(name, getattr(self, attr), mutating, storage, cached)
        return specs
