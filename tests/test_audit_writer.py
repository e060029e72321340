"""The audit writer process's protocol: workers hand it batches, a flush waits for the
commit, and a worker whose writer is gone fails its calls instead of losing records."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bastion.clock import ManualClock
from bastion.context import Principal
from bastion.errors import ServiceUnavailableError
from bastion.spine.audit import AuditLog
from bastion.spine.audit_writer import AuditWriter, RemoteAuditSink
from bastion.spine.records import AuditEntry, AuditResource, build_entry
from bastion.storage import Store
from bastion.storage.schema import audit_event_resources, audit_events
from support import postgres_database

PRINCIPAL = Principal(
    account_id="000000000000",
    arn="arn:aws:iam::000000000000:user/app",
    user_id="AIDAEXAMPLE",
    kind="IAMUser",
    name="app",
    access_key_id="AKIAEXAMPLE",
)


def entry(n: int) -> AuditEntry:
    return build_entry(
        event_id=f"00000000-0000-4000-8000-{n:012d}",
        request_id=f"req-{n}",
        event_time=datetime(2026, 11, 28, 12, 0, n % 60, tzinfo=UTC),
        source="kms.amazonaws.com",
        event_name="Decrypt",
        region="us-east-1",
        principal=PRINCIPAL,
        account_id="000000000000",
        source_ip="127.0.0.1",
        user_agent="test",
        read_only=True,
        request_parameters={"keyId": "k"},
        response_elements=None,
        resources=[AuditResource("AWS::KMS::Key", f"arn:aws:kms:us-east-1:000000000000:key/{n}")],
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'audit.db'}")
        store.migrate()
        yield store
        store.dispose()
    else:
        with postgres_database() as url:
            store = Store(url)
            store.migrate()
            yield store
            store.dispose()


@pytest.fixture
def writer(store: Store, tmp_path: Path) -> Iterator[tuple[AuditWriter, Path, threading.Thread]]:
    path = tmp_path / "run" / "audit.sock"
    writer = AuditWriter(store, tmp_path / "audit", ManualClock(), path)
    thread = threading.Thread(target=writer.run, kwargs={"drain_timeout": 5.0})
    thread.start()
    yield writer, path, thread
    writer.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()


def count(store: Store) -> tuple[int, int]:
    with store.read() as conn:
        events = conn.execute(select(func.count()).select_from(audit_events)).scalar()
        resources = conn.execute(select(func.count()).select_from(audit_event_resources)).scalar()
    return int(events or 0), int(resources or 0)


def test_a_flush_returns_once_everything_sent_is_committed(store, writer) -> None:
    _, path, _ = writer
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    first, second = RemoteAuditSink(path), RemoteAuditSink(path)  # two workers
    first.send([entry(i) for i in range(50)])
    second.send([entry(i) for i in range(50, 80)])
    first.commit([entry(80)])
    second.commit([])
    assert count(store) == (81, 81)
    with store.read() as conn:
        row = (
            conn.execute(select(audit_events).where(audit_events.c.event_id == entry(7).event_id))
            .mappings()
            .one()
        )
    assert row["event_name"] == "Decrypt" and row["username"] == "app" and row["read_only"]
    assert row["event_time"].replace(tzinfo=UTC) == entry(7).event_time
    first.close()
    second.close()


def test_the_writer_exports_committed_records_to_files(store, writer, tmp_path) -> None:
    audit_writer, path, thread = writer
    sink = RemoteAuditSink(path)
    sink.commit([entry(1), entry(2)])
    sink.close()
    audit_writer.stop()
    thread.join(timeout=10)  # the writer exports what is committed before it exits
    day = tmp_path / "audit" / "2026" / "11" / "28" / "events.jsonl"
    lines = day.read_text().splitlines()
    assert [entry(1).event_id in lines[0], entry(2).event_id in lines[1]] == [True, True]
    assert not path.exists()


def test_a_malformed_frame_closes_only_that_connection(store, writer) -> None:
    _, path, _ = writer
    rogue = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    rogue.connect(str(path))
    rogue.sendall(b"X garbage")
    assert rogue.recv(10) == b""  # closed by the writer
    rogue.close()
    sink = RemoteAuditSink(path)
    sink.commit([entry(1)])
    assert count(store) == (1, 1)
    sink.close()


def test_without_a_writer_calls_fail_closed(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    store.migrate()
    log = AuditLog(
        store,
        tmp_path / "audit",
        ManualClock(),
        sink=RemoteAuditSink(tmp_path / "nobody.sock", timeout=1.0),
    )
    log.submit(entry(1))
    with pytest.raises(OSError):
        log.flush()
    assert not log.healthy
    with pytest.raises(ServiceUnavailableError):
        log.submit(entry(2))
    assert count(store) == (0, 0)
    store.dispose()
