"""The audit log: every API call as a CloudTrail record, in storage and in JSON-lines files.

Durability rules:
- a mutating call's record is inserted in the call's own transaction (`write`), so the
  change and its record commit together or not at all;
- other records are group-committed by a background thread (`submit`), keeping fsync
  off the read path; if that thread cannot write, `submit` raises and the call fails
  (audit fails closed) until writes succeed again.
Storage is the source of truth; an exporter thread appends committed records, in order,
to `audit/YYYY/MM/DD/events.jsonl` files, remembering its position in a cursor file
(at-least-once: after a crash the last batch may repeat, with the same eventID).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection, and_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from bastion.clock import Clock
from bastion.errors import ServiceUnavailableError
from bastion.spine.records import AuditEntry
from bastion.storage import Store
from bastion.storage.schema import audit_event_resources, audit_events

log = logging.getLogger("bastion.audit")

LOOKUP_ATTRIBUTES = {
    "EventId": audit_events.c.event_id,
    "EventName": audit_events.c.event_name,
    "ReadOnly": audit_events.c.read_only,
    "Username": audit_events.c.username,
    "EventSource": audit_events.c.event_source,
    "AccessKeyId": audit_events.c.access_key_id,
}


_EVENT_COLUMNS = (
    "event_id",
    "account_id",
    "region",
    "event_time",
    "event_name",
    "event_source",
    "username",
    "access_key_id",
    "read_only",
    "record",
)


def _insert_sql(paramstyle_mark: str) -> str:
    marks = ", ".join([paramstyle_mark] * len(_EVENT_COLUMNS))
    columns = ", ".join(_EVENT_COLUMNS)
    return f"INSERT INTO audit_events ({columns}) VALUES ({marks})"  # noqa: S608 - constants


_SQLITE_INSERT = _insert_sql("?")
# A whole batch as one statement over a JSON array: sqlite3's executemany releases and
# retakes the GIL for every row, which starves the writer while the event loop is busy.
_SQLITE_BATCH_INSERT = (
    f"INSERT INTO audit_events ({', '.join(_EVENT_COLUMNS)}) SELECT "  # noqa: S608 - constants
    + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(_EVENT_COLUMNS)))
    + " FROM json_each(?)"
)
_SQLITE_BATCH = 2000
_RESOURCE_COLUMNS = "event_id, position, resource_type, resource_name"
_SQLITE_RESOURCES_INSERT = (
    f"INSERT INTO audit_event_resources ({_RESOURCE_COLUMNS}) SELECT "  # noqa: S608 - constants
    + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(4))
    + " FROM json_each(?)"
)
_SQLITE_RESOURCES_ROWS = (
    f"INSERT INTO audit_event_resources ({_RESOURCE_COLUMNS}) VALUES (?, ?, ?, ?)"  # noqa: S608
)
_PG_RESOURCES_INSERT = (
    f"INSERT INTO audit_event_resources ({_RESOURCE_COLUMNS}) VALUES (%s, %s, %s, %s)"  # noqa: S608
)
_SQLITE_EXPORT = "SELECT seq, record FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?"
_PG_EXPORT = "SELECT seq, record FROM audit_events WHERE seq > %s ORDER BY seq LIMIT %s"
_PG_INSERT = _insert_sql("%s")
# SQLAlchemy's storage format for DateTime on SQLite, so its reads parse our writes.
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


def _utc(text: str) -> datetime:
    return datetime.strptime(text, _SQLITE_TIME).replace(tzinfo=UTC)


def sqlite_event_row(e: AuditEntry) -> tuple[Any, ...]:
    """An audit_events row as SQLite stores it (text times, 0/1 booleans, JSON text)."""
    return (
        e.event_id,
        e.account_id,
        e.region,
        e.event_time.isoformat(" ", "microseconds")[:26],  # _SQLITE_TIME, 2x faster
        e.event_name,
        e.event_source,
        e.username,
        e.access_key_id,
        1 if e.read_only else 0,
        orjson.dumps(e.record).decode(),
    )


def resource_rows(entries: Sequence[AuditEntry]) -> list[tuple[str, int, str, str]]:
    return [
        (entry.event_id, i, r.resource_type, r.resource_name)
        for entry in entries
        for i, r in enumerate(entry.resources)
    ]


def insert_entries(conn: Connection, entries: Sequence[AuditEntry]) -> None:
    """Insert records (and their resources) in the caller's transaction.

    One driver-level executemany: this runs for every API call, so it skips SQLAlchemy's
    per-row statement machinery (and RETURNING: resources are keyed by eventID).
    """
    if not entries:
        return
    if conn.dialect.name == "sqlite":
        rows = [sqlite_event_row(e) for e in entries]
        if len(rows) == 1:
            conn.exec_driver_sql(_SQLITE_INSERT, rows[0])
        else:
            for start in range(0, len(rows), _SQLITE_BATCH):
                chunk = orjson.dumps(rows[start : start + _SQLITE_BATCH]).decode()
                conn.exec_driver_sql(_SQLITE_BATCH_INSERT, (chunk,))
    else:
        pg_rows = [
            (
                e.event_id,
                e.account_id,
                e.region,
                e.event_time,
                e.event_name,
                e.event_source,
                e.username,
                e.access_key_id,
                e.read_only,
                orjson.dumps(e.record).decode(),
            )
            for e in entries
        ]
        conn.exec_driver_sql(_PG_INSERT, pg_rows)
    insert_resources(conn, resource_rows(entries))


def insert_resources(conn: Connection, resources: Sequence[Sequence[Any]]) -> None:
    if not resources:
        return
    if conn.dialect.name == "sqlite":
        for start in range(0, len(resources), _SQLITE_BATCH):
            chunk = orjson.dumps(list(resources[start : start + _SQLITE_BATCH])).decode()
            conn.exec_driver_sql(_SQLITE_RESOURCES_INSERT, (chunk,))
    else:
        conn.exec_driver_sql(_PG_RESOURCES_INSERT, [tuple(r) for r in resources])


def encode_batch(entries: Sequence[AuditEntry]) -> bytes:
    """Records as one JSON document, ``[[event rows], [resource rows]]``, for a writer
    in another process (`insert_batch`). Rows are in SQLite's format."""
    return orjson.dumps([[sqlite_event_row(e) for e in entries], resource_rows(entries)])


def insert_batch(conn: Connection, payload: bytes) -> None:
    """Insert an `encode_batch` document in the caller's transaction.

    Used by the writer process, which has no event loop to share the GIL with: a plain
    executemany is the cheapest insert there (SQLite's json_each costs more CPU).
    """
    events, resources = orjson.loads(payload)
    if conn.dialect.name == "sqlite":
        if events:
            conn.exec_driver_sql(_SQLITE_INSERT, [tuple(row) for row in events])
        if resources:
            conn.exec_driver_sql(_SQLITE_RESOURCES_ROWS, [tuple(row) for row in resources])
        return
    rows = [(*row[:3], _utc(row[3]), *row[4:8], bool(row[8]), row[9]) for row in events]
    if rows:
        conn.exec_driver_sql(_PG_INSERT, rows)
    insert_resources(conn, resources)


class AuditSink(Protocol):
    """Where queued records go when a writer process, not this one, stores them."""

    def send(self, entries: Sequence[AuditEntry]) -> None:
        """Hand records over (group commit); raise OSError if they cannot be."""

    def commit(self, entries: Sequence[AuditEntry]) -> None:
        """Hand records over and wait until everything sent so far is committed."""


class AuditLog:
    def __init__(
        self,
        store: Store,
        audit_dir: Path,
        clock: Clock,
        *,
        flush_interval: float = 0.05,
        export_interval: float = 0.5,
        max_pending: int = 50_000,
        high_water: int = 5_000,
        backpressure_timeout: float = 10.0,
        sink: AuditSink | None = None,
    ) -> None:
        self._store = store
        self._sink = sink  # another process writes the records (see audit_writer)
        self._dir = audit_dir
        self._clock = clock
        self._flush_interval = flush_interval
        self._export_interval = export_interval
        self._max_pending = max_pending
        self._high_water = high_water
        self._backpressure_timeout = backpressure_timeout
        self._pending: list[AuditEntry] = []
        lock = threading.Lock()
        self._cond = threading.Condition(lock)  # guards _pending/_healthy; wakes the flusher
        self._drained = threading.Condition(lock)  # wakes callers held back by backpressure
        self._stop_event = threading.Event()
        self._healthy = True
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._export_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._exporting = True
        self._day_files: dict[str, Path] = {}

    # --- writing -------------------------------------------------------------------

    def write(self, conn: Connection, entry: AuditEntry) -> None:
        """Record a mutating call inside its own transaction."""
        insert_entries(conn, [entry])

    def submit(self, entry: AuditEntry) -> None:
        """Queue a record for the next group commit; fail closed when audit is broken.

        When the queue is long the caller waits for the writer (backpressure) rather
        than letting the queue grow; only a writer that stays stuck makes calls fail.
        """
        with self._cond:
            if self._healthy and len(self._pending) >= self._high_water:
                self._cond.notify()
                self._drained.wait_for(
                    lambda: len(self._pending) < self._high_water // 2 or not self._healthy,
                    timeout=self._backpressure_timeout,
                )
            if not self._healthy or len(self._pending) >= self._max_pending:
                raise ServiceUnavailableError(
                    "The audit log cannot be written; the request was not served."
                )
            self._pending.append(entry)
            if len(self._pending) == 1:
                self._cond.notify()

    @property
    def healthy(self) -> bool:
        return self._healthy

    def flush(self) -> None:
        """Commit every queued record now (blocking).

        Serialised: a caller that flushes while the background writer is mid-batch waits
        for that batch, so after `flush()` returns every earlier record is committed.
        With a writer process, also waits until it has committed what it was sent.
        """
        self._drain(wait=True)

    def _drain(self, *, wait: bool) -> None:
        with self._flush_lock:
            with self._cond:
                batch, self._pending = self._pending, []
                self._drained.notify_all()
            if not batch and (self._sink is None or not wait):
                return
            try:
                if self._sink is None:
                    with self._store.write(notify=False) as conn:
                        insert_entries(conn, batch)
                elif wait:
                    self._sink.commit(batch)
                else:
                    self._sink.send(batch)
            except Exception:
                with self._cond:
                    self._pending[:0] = batch
                    self._healthy = False
                    self._drained.notify_all()
                raise
            with self._cond:
                self._healthy = True

    def _flush_loop(self) -> None:
        """Group commit: wait for the first record, let a batch gather, write it."""
        while True:
            with self._cond:
                if not self._pending and not self._stopping:
                    self._cond.wait(timeout=1.0)
                if self._stopping and not self._pending:
                    return
                if not self._pending:
                    continue
            try:
                self._drain(wait=False)
            except Exception:
                log.exception("audit flush failed; calls fail until it succeeds")
                self._stop_event.wait(1.0)
                continue
            self._stop_event.wait(self._flush_interval)

    # --- exporting to files ------------------------------------------------------------

    @property
    def _cursor_path(self) -> Path:
        return self._dir / ".cursor"

    def _read_cursor(self) -> int:
        try:
            return int(self._cursor_path.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def _write_cursor(self, seq: int) -> None:
        tmp = self._cursor_path.with_name(".cursor.tmp")
        tmp.write_text(str(seq))
        os.replace(tmp, self._cursor_path)

    def _file_for_record(self, record: str) -> Path:
        """The day file from the record's own `eventTime` (no datetime parsing)."""
        at = record.find('"eventTime":"') + 13
        day = record[at : at + 10]  # YYYY-MM-DD
        path = self._day_files.get(day)
        if path is None:  # pathlib is slow; there are few distinct days
            if len(self._day_files) > 64:
                self._day_files.clear()
            path = self._day_files[day] = (
                self._dir / day[:4] / day[5:7] / day[8:10] / "events.jsonl"
            )
        return path

    def export(self, batch_size: int = 5000) -> int:
        """Append committed records past the cursor to the JSON-lines files. Returns count."""
        with self._export_lock:
            self._dir.mkdir(parents=True, exist_ok=True)
            cursor = self._read_cursor()
            total = 0
            while True:
                rows = self._records_after(cursor, batch_size)
                if not rows:
                    return total
                for path, records in self._by_day_file(rows):
                    path.parent.mkdir(parents=True, exist_ok=True)
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                    try:
                        os.write(fd, ("\n".join(records) + "\n").encode())
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                cursor = rows[-1][0]
                self._write_cursor(cursor)
                total += len(rows)

    def _records_after(self, cursor: int, limit: int) -> list[tuple[int, str]]:
        """(seq, record) rows past `cursor`, as the driver returns them.

        Every record passes through here once, so it skips SQLAlchemy's result rows.
        """
        with self._store.read() as conn:
            sql = _SQLITE_EXPORT if conn.dialect.name == "sqlite" else _PG_EXPORT
            raw = conn.connection.driver_connection
            dbapi_cursor = raw.cursor()  # type: ignore[union-attr]
            try:
                dbapi_cursor.execute(sql, (cursor, limit))
                return dbapi_cursor.fetchall()  # type: ignore[no-any-return]
            finally:
                dbapi_cursor.close()

    def _by_day_file(self, rows: list[tuple[int, str]]) -> list[tuple[Path, list[str]]]:
        """Records grouped by their day file, each group in commit order."""
        by_file: dict[Path, list[str]] = {}
        for _seq, record in rows:
            by_file.setdefault(self._file_for_record(record), []).append(record)
        return list(by_file.items())

    def _export_loop(self) -> None:
        while not self._stop_event.wait(self._export_interval):
            try:
                self.export()
            except Exception:
                log.exception("audit export to files failed; will retry")

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, *, export: bool = True) -> None:
        """Start the group-commit writer and, unless another worker exports, the exporter."""
        self._stopping = False
        self._stop_event.clear()
        self._exporting = export and self._sink is None  # a writer process exports itself
        loops = [(self._flush_loop, "audit-flush")]
        if self._exporting:
            loops.append((self._export_loop, "audit-export"))
        for target, name in loops:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._stop_event.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        try:
            self.flush()
            if self._exporting:
                self.export()
        except Exception:
            log.exception("final audit flush failed")

    # --- reading -------------------------------------------------------------------------

    def lookup(
        self,
        *,
        account_id: str,
        region: str,
        attribute: tuple[str, str] | None,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        after: tuple[datetime, int] | None,
    ) -> tuple[list[dict[str, Any]], tuple[datetime, int] | None]:
        """Newest first, as CloudTrail answers.

        Flushes queued records first and reads in its own snapshot, so a caller sees
        its own earlier calls. `after` is the (event time, seq) of the last row of the
        previous page; returns the rows (with `resources`) and the next page's `after`.
        """
        self.flush()
        conditions = [audit_events.c.account_id == account_id, audit_events.c.region == region]
        if start is not None:
            conditions.append(audit_events.c.event_time >= start)
        if end is not None:
            conditions.append(audit_events.c.event_time <= end)
        if after is not None:
            when, seq = after
            conditions.append(
                or_(
                    audit_events.c.event_time < when,
                    and_(audit_events.c.event_time == when, audit_events.c.seq < seq),
                )
            )
        if attribute is not None:
            conditions.append(self._attribute_condition(*attribute))
        query = (
            select(audit_events)
            .where(and_(*conditions))
            .order_by(audit_events.c.event_time.desc(), audit_events.c.seq.desc())
            .limit(limit + 1)
        )
        with self._store.read() as conn:
            rows = conn.execute(query).mappings().all()
            more = len(rows) > limit
            rows = rows[:limit]
            resources = self._resources_of(conn, [r["event_id"] for r in rows])
        out = []
        for row in rows:
            item = dict(row)
            item["resources"] = resources.get(row["event_id"], [])
            out.append(item)
        last = rows[-1] if rows else None
        return out, ((last["event_time"], last["seq"]) if more and last else None)

    @staticmethod
    def _attribute_condition(key: str, value: str) -> ColumnElement[bool]:
        if key in LOOKUP_ATTRIBUTES:
            column = LOOKUP_ATTRIBUTES[key]
            if key == "ReadOnly":
                return column == (value.lower() == "true")
            return column == value
        column = (
            audit_event_resources.c.resource_type
            if key == "ResourceType"
            else audit_event_resources.c.resource_name
        )
        matching = select(audit_event_resources.c.event_id).where(column == value)
        return audit_events.c.event_id.in_(matching)

    @staticmethod
    def _resources_of(conn: Connection, event_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        resources: dict[str, list[dict[str, Any]]] = {}
        if event_ids:
            for res in conn.execute(
                select(audit_event_resources)
                .where(audit_event_resources.c.event_id.in_(event_ids))
                .order_by(audit_event_resources.c.event_id, audit_event_resources.c.position)
            ).mappings():
                resources.setdefault(res["event_id"], []).append(dict(res))
        return resources
