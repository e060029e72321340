"""Rotation that runs: built-in rotators (random password, PostgreSQL single-user and
alternating users against the real PostgreSQL), a command rotator, failures and resume,
schedules and rotation events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import uuid
from datetime import timedelta

import botocore.exceptions
import psycopg
import pytest
from psycopg import sql

from bastion.services.secretsmanager import schedule
from support import PG_ADMIN_URL

LAMBDA = "arn:aws:lambda:us-east-1:000000000000:function:"
RANDOM = LAMBDA + "bastion-rotator-random-password"
PG_SINGLE = LAMBDA + "bastion-rotator-postgresql-single-user"
PG_MULTI = LAMBDA + "bastion-rotator-postgresql-alternating-users"


def _rotate_now(server, clock) -> list[str]:
    engine = server.runtime.providers["secretsmanager"].rotations
    return engine.run_due(clock.now())


def _events(server) -> list[str]:
    server.runtime.audit.flush()
    trail = server.client("cloudtrail")
    names = []
    for name in ("RotationStarted", "RotationSucceeded", "RotationFailed"):
        found = trail.lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}]
        )["Events"]
        names += [name] * len(found)
    return names


@pytest.fixture
def pg_role():
    """A throwaway login role on the machine's PostgreSQL; dropped afterwards."""
    name = f"bastion_rot_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal("initial-pass")
            )
        )
    yield name
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        for role in (name + "_clone", name):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _scram_accepts(verifier: str, password: str) -> bool:
    """PostgreSQL's own SCRAM-SHA-256 password check against a pg_authid verifier."""
    method, rest = verifier.split("$", 1)
    params, keys = rest.split("$", 1)
    iterations, salt = params.split(":", 1)
    stored_key = base64.b64decode(keys.split(":", 1)[0])
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return method == "SCRAM-SHA-256" and hmac.compare_digest(
        hashlib.sha256(client_key).digest(), stored_key
    )


def _login(user: str, password: str) -> bool:
    """Would PostgreSQL's password authentication let `user` in with `password`?

    The machine's PostgreSQL trusts loopback connections (any password logs in), so the
    password is checked the way password authentication checks it: against the role's
    SCRAM verifier in pg_authid; and the role must really be able to open a session.
    """
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        row = admin.execute(
            "SELECT rolpassword, rolcanlogin FROM pg_authid WHERE rolname = %s", (user,)
        ).fetchone()
    if row is None or not row[1] or not row[0] or not _scram_accepts(row[0], password):
        return False
    with psycopg.connect(
        host="127.0.0.1",
        port=5432,
        user=user,
        password=password,
        dbname="postgres",
        connect_timeout=5,
    ) as conn:
        conn.execute("SELECT 1")
    return True


def _pg_secret(user: str, password: str) -> str:
    return json.dumps(
        {
            "engine": "postgres",
            "host": "127.0.0.1",
            "port": 5432,
            "username": user,
            "password": password,
            "dbname": "postgres",
        }
    )


def test_random_password_rotation_and_schedule(server, clock):
    sm = server.client("secretsmanager")
    arn = sm.create_secret(Name="app/token", SecretString='{"user": "u", "password": "old"}')["ARN"]
    out = sm.rotate_secret(
        SecretId=arn, RotationLambdaARN=RANDOM, RotationRules={"AutomaticallyAfterDays": 7}
    )
    token = out["VersionId"]
    _rotate_now(server, clock)
    value = sm.get_secret_value(SecretId=arn)
    assert value["VersionId"] == token
    secret = json.loads(value["SecretString"])
    assert secret["user"] == "u" and secret["password"] != "old" and len(secret["password"]) == 32
    described = sm.describe_secret(SecretId=arn)
    assert described["RotationEnabled"] is True
    assert described["VersionIdsToStages"][token] == ["AWSCURRENT"]
    assert "LastRotatedDate" in described and "NextRotationDate" in described
    assert _events(server).count("RotationSucceeded") == 1
    # the schedule starts the next rotation when due
    engine = server.runtime.providers["secretsmanager"].rotations
    assert engine.run_due(clock.now() + timedelta(days=6)) == []
    assert engine.run_due(clock.now() + timedelta(days=8)) == [arn]
    assert sm.get_secret_value(SecretId=arn)["VersionId"] != token
    sm.cancel_rotate_secret(SecretId=arn)
    assert sm.describe_secret(SecretId=arn)["RotationEnabled"] is False
    with pytest.raises(botocore.exceptions.ClientError) as info:
        sm.rotate_secret(SecretId=arn, RotationLambdaARN=LAMBDA + "bastion-rotator-nope")
    assert info.value.response["Error"]["Code"] == "InvalidRequestException"
    with pytest.raises(botocore.exceptions.ClientError) as info:
        sm.rotate_secret(
            SecretId=arn,
            RotationLambdaARN=RANDOM,
            RotationRules={"ScheduleExpression": "rate(2 hours)"},
        )
    assert info.value.response["Error"]["Code"] == "InvalidParameterException"


def test_command_rotator_failure_and_resume(server, clock, tmp_path, monkeypatch):
    log = tmp_path / "steps.jsonl"
    fail_flag = tmp_path / "fail-testSecret"
    fail_flag.write_text("1")
    script = tmp_path / "rotator.py"
    script.write_text(f"""
import json, os, sys
import boto3
event = json.load(sys.stdin)
open({str(log)!r}, "a").write(json.dumps(event) + "\\n")
step = event["Step"]
if step == "testSecret" and os.path.exists({str(fail_flag)!r}):
    sys.exit("database refused the new password")
sm = boto3.client("secretsmanager", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
arn, token = event["SecretId"], event["ClientRequestToken"]
if step == "createSecret":
    try:
        sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
    except sm.exceptions.ResourceNotFoundException:
        sm.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString="from-command",
                            VersionStages=["AWSPENDING"])
elif step == "finishSecret":
    meta = sm.describe_secret(SecretId=arn)
    current = [v for v, s in meta["VersionIdsToStages"].items() if "AWSCURRENT" in s][0]
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT",
                                   MoveToVersionId=token, RemoveFromVersionId=current)
""")
    key, secret = server.credentials
    commands = tmp_path / "commands.toml"
    commands.write_text(
        "[commands.mine]\n"
        f"argv = [{sys.executable!r}, {str(script)!r}]\n"
        f'env = {{ ENDPOINT = "{server.endpoint}", AWS_ACCESS_KEY_ID = "{key}",'
        f' AWS_SECRET_ACCESS_KEY = "{secret}" }}\n'
    )
    monkeypatch.setenv("BASTION_COMMANDS", str(commands))
    sm = server.client("secretsmanager")
    arn = sm.create_secret(Name="cmd", SecretString="before")["ARN"]
    token = sm.rotate_secret(SecretId=arn, RotationLambdaARN=LAMBDA + "bastion-command:mine")[
        "VersionId"
    ]
    assert _rotate_now(server, clock) == []
    steps = [json.loads(line)["Step"] for line in log.read_text().splitlines()]
    assert steps == ["createSecret", "setSecret", "testSecret"]
    event = json.loads(log.read_text().splitlines()[0])
    assert set(event) == {"Step", "SecretId", "ClientRequestToken", "RotationToken"}
    assert event["SecretId"] == arn and event["ClientRequestToken"] == token
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "before"
    assert sm.get_secret_value(SecretId=arn, VersionStage="AWSPENDING")["SecretString"] == (
        "from-command"
    )
    assert "RotationFailed" in _events(server)
    # a new RotateSecret says a rotation is in progress, and reattempts it
    fail_flag.unlink()
    with pytest.raises(botocore.exceptions.ClientError) as info:
        sm.rotate_secret(SecretId=arn)
    assert info.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "previous rotation isn't complete" in info.value.response["Error"]["Message"]
    _rotate_now(server, clock)
    steps = [json.loads(line)["Step"] for line in log.read_text().splitlines()]
    assert steps[3:] == ["testSecret", "finishSecret"]  # resumed at the failed step
    value = sm.get_secret_value(SecretId=arn)
    assert value["SecretString"] == "from-command" and value["VersionId"] == token
    assert sm.describe_secret(SecretId=arn)["VersionIdsToStages"][token] == ["AWSCURRENT"]


def test_postgresql_single_user_rotation_changes_the_real_password(server, clock, pg_role):
    assert _login(pg_role, "initial-pass")
    sm = server.client("secretsmanager")
    arn = sm.create_secret(Name=f"pg/{pg_role}", SecretString=_pg_secret(pg_role, "initial-pass"))[
        "ARN"
    ]
    sm.rotate_secret(SecretId=arn, RotationLambdaARN=PG_SINGLE)
    _rotate_now(server, clock)
    new = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
    assert new["username"] == pg_role and new["password"] != "initial-pass"
    assert _login(pg_role, new["password"])
    assert not _login(pg_role, "initial-pass")
    previous = json.loads(
        sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"]
    )
    assert previous["password"] == "initial-pass"


def test_postgresql_alternating_users_rotation(server, clock, pg_role):
    sm = server.client("secretsmanager")
    master = sm.create_secret(
        Name=f"pg/master-{pg_role}",
        SecretString=json.dumps(
            {
                "engine": "postgres",
                "host": "127.0.0.1",
                "port": 5432,
                "username": "postgres",
                "password": "",
                "dbname": "postgres",
            }
        ),
    )["ARN"]
    secret = json.loads(_pg_secret(pg_role, "initial-pass"))
    secret["masterarn"] = master
    arn = sm.create_secret(Name=f"pg/app-{pg_role}", SecretString=json.dumps(secret))["ARN"]
    sm.rotate_secret(SecretId=arn, RotationLambdaARN=PG_MULTI)
    _rotate_now(server, clock)
    new = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
    assert new["username"] == pg_role + "_clone"
    assert _login(new["username"], new["password"])
    assert _login(pg_role, "initial-pass")  # the other user keeps working until next time
    sm.rotate_secret(SecretId=arn)
    _rotate_now(server, clock)
    again = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
    assert again["username"] == pg_role and _login(pg_role, again["password"])
    assert not _login(pg_role, "initial-pass")


def test_schedule_expressions():
    from datetime import UTC, datetime

    base = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
    assert schedule.next_rotation({"AutomaticallyAfterDays": 2}, base) == datetime(
        2026, 3, 12, tzinfo=UTC
    )
    assert schedule.next_rotation({"ScheduleExpression": "rate(6 hours)"}, base) == datetime(
        2026, 3, 10, 18, tzinfo=UTC
    )
    assert schedule.next_rotation({"ScheduleExpression": "rate(10 days)"}, base) == datetime(
        2026, 3, 20, tzinfo=UTC
    )
    # 04:00 UTC on the first Sunday-or-later... every Sunday
    assert schedule.next_rotation({"ScheduleExpression": "cron(0 4 ? * SUN *)"}, base) == (
        datetime(2026, 3, 15, 4, tzinfo=UTC)
    )
    assert schedule.next_rotation({"ScheduleExpression": "cron(0 16 1,10 * ? *)"}, base) == (
        datetime(2026, 3, 10, 16, tzinfo=UTC)
    )
    for bad in (
        {"ScheduleExpression": "rate(3 hours)"},
        {"ScheduleExpression": "cron(0 4 * * * *)"},
        {"AutomaticallyAfterDays": 0},
        {"AutomaticallyAfterDays": 1, "ScheduleExpression": "rate(1 day)"},
        {"AutomaticallyAfterDays": 1, "Duration": "25h"},
    ):
        with pytest.raises(Exception):  # noqa: B017 - InvalidParameterException
            schedule.validate_rules(bad)
    schedule.validate_rules({"ScheduleExpression": "rate(4 hours)", "Duration": "2h"})
