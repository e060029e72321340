"""One Store over SQLite (default) or PostgreSQL, with Alembic migrations."""

from bastion.storage.store import Store

__all__ = ["Store"]
