"""The storage engine: connections, transactions and schema upgrades.

SQLite runs in WAL mode with `synchronous=FULL`, so a committed transaction survives a
`kill -9` or power loss; write transactions take the write lock up front
(`BEGIN IMMEDIATE`) so two writers never deadlock half-way. PostgreSQL is used as is.
All calls are blocking: the gateway runs them off the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from bastion.storage.changes import ChangeSignal

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain `postgresql://` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class Store:
    """A database with Bastion's schema. One per process."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            path = make_url(self.url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=8,
                connect_args={"check_same_thread": False, "timeout": 30},
            )
            self._install_sqlite_hooks(self.engine)
        else:
            self.engine = create_engine(
                self.url, pool_size=pool_size, max_overflow=8, pool_pre_ping=True
            )
        self._migrate_lock = threading.Lock()
        self.changes: ChangeSignal | None = None  # set when several workers share storage

    @staticmethod
    def _install_sqlite_hooks(engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("bastion_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    @contextmanager
    def write(self, *, notify: bool = True) -> Iterator[Connection]:
        """A read-write transaction: committed when the block ends, rolled back on error.

        After the commit, other worker processes are told to drop their caches
        (`changes`); writes no cache derives from (audit records) pass notify=False.
        """
        watch = notify and self.changes is not None
        changed = False
        with self.engine.connect() as conn:
            conn = conn.execution_options(bastion_write=True)
            with conn.begin():
                before = self._changes_so_far(conn) if watch else 0
                yield conn
                if watch:  # periodic jobs with nothing to do must not flush caches
                    changed = self._wrote(conn, before)
        if changed and self.changes is not None:
            self.changes.bump()

    def _changes_so_far(self, conn: Connection) -> int:
        if self.is_sqlite:
            return int(conn.connection.driver_connection.total_changes)  # type: ignore[union-attr]
        return 0

    def _wrote(self, conn: Connection, before: int) -> bool:
        """Whether this transaction inserted, updated or deleted anything."""
        if self.is_sqlite:
            return self._changes_so_far(conn) != before
        return conn.exec_driver_sql("SELECT txid_current_if_assigned()").scalar() is not None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (a consistent snapshot on both backends)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def lazy_read(self) -> LazyRead:
        """A read transaction that begins only if something reads (see LazyRead)."""
        return LazyRead(self)

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        from alembic import command
        from alembic.config import Config

        with self._migrate_lock, self.engine.connect() as conn:
            if not self.is_sqlite:
                conn.execute(text("SELECT pg_advisory_lock(7263514)"))
                conn.commit()
            try:
                cfg = Config()
                cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "heads")
                conn.commit()
            finally:
                if not self.is_sqlite:
                    conn.execute(text("SELECT pg_advisory_unlock(7263514)"))
                    conn.commit()

    def dispose(self) -> None:
        self.engine.dispose()


class NeedsStorage(BaseException):
    """A cache-served call reached storage on the event loop: run it again off the loop.

    A BaseException so that a handler's `except Exception` cannot swallow it.
    """


class StorageProbe:
    """Stands in for the transaction of a call tried on the event loop: any use of it
    is a cache miss, reported by raising NeedsStorage before anything blocks."""

    def __getattr__(self, name: str) -> Any:
        raise NeedsStorage(name)


def leave_loop(tx: object) -> None:
    """Stop a call tried on the event loop before work that must not run there: opening
    a transaction of its own, or CPU-heavy work (RSA, elliptic curves)."""
    if isinstance(tx, StorageProbe):
        raise NeedsStorage("off the event loop")


class LazyRead:
    """Stands in for a read transaction's Connection, opening it on first use.

    Read operations served from in-memory caches (the hot paths) then cost no
    connection checkout, BEGIN or COMMIT at all. Use as a context manager.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._context: Any = None
        self._conn: Connection | None = None

    def _open(self) -> Connection:
        self._context = self._store.read()
        self._conn = self._context.__enter__()
        return self._conn

    def __getattr__(self, name: str) -> Any:
        conn = self._conn if self._conn is not None else self._open()
        return getattr(conn, name)

    @property
    def opened(self) -> bool:
        return self._conn is not None

    def __enter__(self) -> LazyRead:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._context is not None:
            context, self._context, self._conn = self._context, None, None
            context.__exit__(*exc_info)
