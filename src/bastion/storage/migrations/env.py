"""Alembic environment: runs on the connection handed over by `Store.migrate`."""

from __future__ import annotations

from alembic import context

from bastion.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only `Store.migrate` drives migrations
    raise RuntimeError("migrations run through bastion.storage.Store.migrate()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
