"""`bastion serve --workers N`: several processes on one port that behave as one server.

What a user relies on: a change made through any worker (a deactivated access key, a
disabled KMS key, an overwritten parameter) holds on every worker at once, a worker
that dies is replaced, and stopping the server stops them all.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from sqlalchemy import func, select

from bastion.clock import ManualClock
from bastion.spine.scheduler import Scheduler
from bastion.storage import Store
from bastion.storage.changes import ChangeSignal, create_signal_file
from bastion.storage.schema import accounts, audit_events
from support import ProcessServer, postgres_database

FRESH_CONNECTIONS = 40  # each on a new connection: P(one worker gets none) ~ 2**-39


# ------------------------------------------------------------------ shared counters


def test_a_commit_in_one_worker_clears_the_others_caches_once(tmp_path: Path) -> None:
    path = tmp_path / "changes"
    create_signal_file(path)
    first, second = ChangeSignal(path, 0), ChangeSignal(path, 1)
    cleared: list[str] = []
    assert not second.sync(lambda: cleared.append("second"))
    first.bump()
    assert second.sync(lambda: cleared.append("second"))
    assert not second.sync(lambda: cleared.append("second"))  # once per change
    assert cleared == ["second"]
    restarted = ChangeSignal(path, 0)  # a worker started again in the same slot
    restarted.bump()
    assert second.sync(lambda: cleared.append("again"))
    assert cleared == ["second", "again"]


def test_a_failed_clear_is_retried_by_the_next_request(tmp_path: Path) -> None:
    path = tmp_path / "changes"
    create_signal_file(path)
    writer, reader = ChangeSignal(path, 0), ChangeSignal(path, 1)
    writer.bump()

    def broken() -> None:
        raise RuntimeError("clear failed")

    with pytest.raises(RuntimeError):
        reader.sync(broken)
    assert reader.sync(lambda: None)  # the change is still pending


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_only_transactions_that_change_rows_signal_the_other_workers(tmp_path, backend) -> None:
    """Periodic jobs open write transactions with nothing to do; those must not empty
    every worker's caches."""
    path = tmp_path / "changes"
    create_signal_file(path)
    other = ChangeSignal(path, 1)
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / 'db.sqlite'}"
        else:
            url = stack.enter_context(postgres_database())
        store = Store(url)
        stack.callback(store.dispose)
        store.migrate()
        store.changes = ChangeSignal(path, 0)
        with store.write() as conn:  # reads only
            conn.execute(select(func.count()).select_from(audit_events)).scalar()
        assert not other.sync(lambda: None)
        with store.write() as conn:
            conn.execute(audit_events.delete().where(audit_events.c.seq < 0))  # no rows
        assert not other.sync(lambda: None)
        with store.write() as conn:
            conn.execute(
                accounts.insert().values(account_id="111111111111", created_at=datetime.now(UTC))
            )
        assert other.sync(lambda: None)
        with pytest.raises(RuntimeError), store.write() as conn:  # rolled back: no signal
            conn.execute(
                accounts.insert().values(account_id="222222222222", created_at=datetime.now(UTC))
            )
            raise RuntimeError("abort")
        assert not other.sync(lambda: None)


def test_only_the_leader_runs_storage_jobs() -> None:
    clock = ManualClock()
    ran: list[str] = []
    follower = Scheduler(clock, leader=False)
    follower.register("rotation", lambda now: ran.append("rotation"), timedelta(seconds=1))
    follower.register(
        "flush", lambda now: ran.append("flush"), timedelta(seconds=1), every_process=True
    )
    assert follower.run_due(clock.now()) == ["flush"]
    leader = Scheduler(clock)
    leader.register("rotation", lambda now: ran.append("rotation"), timedelta(seconds=1))
    assert leader.run_due(clock.now()) == ["rotation"]
    assert ran == ["flush", "rotation"]


# ------------------------------------------------------------------ a real server


class Caller:
    """SigV4-signed JSON/query calls, each on a connection of its own, so the kernel
    spreads them over the workers."""

    def __init__(self, server: ProcessServer, access_key: str, secret_key: str) -> None:
        self.port = server.settings.port
        self.credentials = Credentials(access_key, secret_key)

    def call(self, service: str, target: str | None, body: dict | str) -> tuple[int, dict]:
        if target is None:  # query protocol (STS)
            data = str(body).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
        else:
            data = json.dumps(body).encode()
            headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target}
        url = f"http://127.0.0.1:{self.port}/"
        request = AWSRequest(method="POST", url=url, data=data, headers=headers)
        SigV4Auth(self.credentials, service, "us-east-1").add_auth(request)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("POST", "/", body=data, headers=dict(request.headers.items()))
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        if target is None:
            return response.status, {"raw": payload.decode()}
        return response.status, json.loads(payload or b"{}")


def _health(port: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/_bastion/health")
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def _worker_pids(port: int, want: int, timeout: float = 60.0) -> dict[int, int]:
    """Worker slot -> pid, polling fresh connections until `want` workers answered."""
    seen: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < want:
        if time.monotonic() > deadline:
            raise AssertionError(f"only workers {seen} answered")
        try:
            health = _health(port)
        except OSError:
            continue
        seen[health["worker"]] = health["pid"]
    return seen


@pytest.fixture
def workers(tmp_path: Path):
    server = ProcessServer(tmp_path / "data", extra_env={"BASTION_WORKERS": "2"}).start()
    try:
        _worker_pids(server.settings.port, 2)
        assert "exited with" not in server.log_path.read_text()  # none died starting up
        yield server
    finally:
        server.stop()


def test_both_workers_serve_and_a_deactivated_key_fails_on_every_worker(workers) -> None:
    iam = workers.client("iam")
    iam.create_user(UserName="app")
    iam.attach_user_policy(UserName="app", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    key = iam.create_access_key(UserName="app")["AccessKey"]
    app = Caller(workers, key["AccessKeyId"], key["SecretAccessKey"])
    identity = "Action=GetCallerIdentity&Version=2011-06-15"
    for _ in range(FRESH_CONNECTIONS):  # every worker caches the credential
        status, body = app.call("sts", None, identity)
        assert status == 200 and "user/app" in body["raw"]
    iam.update_access_key(UserName="app", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    for _ in range(FRESH_CONNECTIONS):
        status, body = app.call("sts", None, identity)
        assert status == 403 and "InvalidClientTokenId" in body["raw"]


def test_kms_and_parameter_changes_hold_on_every_worker_at_once(workers) -> None:
    admin = Caller(workers, *workers.credentials)
    status, created = admin.call("kms", "TrentService.CreateKey", {})
    key_id = created["KeyMetadata"]["KeyId"]
    encrypt = {"KeyId": key_id, "Plaintext": "aGVsbG8="}
    ssm_put = {"Name": "/app/db", "Value": "v1", "Type": "SecureString"}
    assert admin.call("ssm", "AmazonSSM.PutParameter", ssm_put)[0] == 200
    read = {"Name": "/app/db", "WithDecryption": True}
    for _ in range(FRESH_CONNECTIONS):  # warm the key and parameter caches everywhere
        assert admin.call("kms", "TrentService.Encrypt", encrypt)[0] == 200
        status, got = admin.call("ssm", "AmazonSSM.GetParameter", read)
        assert got["Parameter"]["Value"] == "v1"
    assert admin.call("kms", "TrentService.DisableKey", {"KeyId": key_id})[0] == 200
    assert (
        admin.call("ssm", "AmazonSSM.PutParameter", {**ssm_put, "Value": "v2", "Overwrite": True})[
            0
        ]
        == 200
    )
    for _ in range(FRESH_CONNECTIONS):
        status, body = admin.call("kms", "TrentService.Encrypt", encrypt)
        assert status == 400 and body["__type"] == "DisabledException"
        status, got = admin.call("ssm", "AmazonSSM.GetParameter", read)
        assert got["Parameter"]["Value"] == "v2"


def test_a_dead_worker_is_replaced_and_stop_ends_every_worker(workers) -> None:
    port = workers.settings.port
    before = _worker_pids(port, 2)
    os.kill(before[1], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:  # the supervisor starts slot 1 again with a new process
        after = _worker_pids(port, 2)
        if after[1] != before[1]:
            break
        assert time.monotonic() < deadline, "worker 1 was not replaced"
    assert after[0] == before[0]
    status, _ = Caller(workers, *workers.credentials).call(
        "sts", None, "Action=GetCallerIdentity&Version=2011-06-15"
    )
    assert status == 200
    workers.stop()
    for pid in after.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_every_workers_records_are_committed_and_exported_by_a_clean_stop(workers) -> None:
    caller = Caller(workers, *workers.credentials)
    for _ in range(FRESH_CONNECTIONS):
        status, _ = caller.call("sts", None, "Action=GetCallerIdentity&Version=2011-06-15")
        assert status == 200
    workers.stop()
    store = Store(workers.settings.effective_database_url)
    try:
        with store.read() as conn:
            recorded = conn.execute(
                select(func.count())
                .select_from(audit_events)
                .where(audit_events.c.event_name == "GetCallerIdentity")
            ).scalar()
    finally:
        store.dispose()
    assert recorded == FRESH_CONNECTIONS
    exported = [
        json.loads(line)
        for path in (workers.settings.audit_dir).rglob("events.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert sum(r["eventName"] == "GetCallerIdentity" for r in exported) == FRESH_CONNECTIONS
