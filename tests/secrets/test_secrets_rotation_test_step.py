"""RotateSecret with RotateImmediately=false: the rotation configuration is tested by
running only the rotator's testSecret step against a temporary AWSPENDING version."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import timedelta

import botocore.exceptions
import psycopg
import pytest
from psycopg import sql

from support import PG_ADMIN_URL

LAMBDA = "arn:aws:lambda:us-east-1:000000000000:function:"
RANDOM = LAMBDA + "bastion-rotator-random-password"
PG_SINGLE = LAMBDA + "bastion-rotator-postgresql-single-user"
COMMAND = LAMBDA + "bastion-command:recorder"
TOKEN = "11111111-2222-3333-4444-555555555555"


def _state(sm, arn: str) -> tuple[dict, list]:
    """What a configuration test must leave alone: labels and every version."""
    stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    versions = sm.list_secret_version_ids(SecretId=arn, IncludeDeprecated=True)["Versions"]
    return stages, sorted((v["VersionId"], tuple(v.get("VersionStages", []))) for v in versions)


@pytest.fixture
def recorder(server, tmp_path, monkeypatch):
    """A command rotator that logs each event and what it sees of the secret during it;
    it fails testSecret while the file `fail` exists."""
    log = tmp_path / "steps.jsonl"
    fail = tmp_path / "fail"
    script = tmp_path / "rotator.py"
    script.write_text(f"""
import json, os, sys
import boto3
event = json.load(sys.stdin)
sm = boto3.client("secretsmanager", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
meta = sm.describe_secret(SecretId=event["SecretId"])
seen = {{"enabled": meta.get("RotationEnabled"),
        "stages": meta["VersionIdsToStages"].get(event["ClientRequestToken"])}}
try:
    seen["value"] = sm.get_secret_value(SecretId=event["SecretId"],
                                        VersionId=event["ClientRequestToken"],
                                        VersionStage="AWSPENDING")["SecretString"]
except sm.exceptions.ResourceNotFoundException:
    seen["value"] = None
open({str(log)!r}, "a").write(json.dumps({{"event": event, "seen": seen}}) + "\\n")
if event["Step"] == "testSecret" and os.path.exists({str(fail)!r}):
    sys.exit("cannot log in with the pending credentials")
""")
    key, secret = server.credentials
    commands = tmp_path / "commands.toml"
    commands.write_text(
        "[commands.recorder]\n"
        f"argv = [{sys.executable!r}, {str(script)!r}]\n"
        f'env = {{ ENDPOINT = "{server.endpoint}", AWS_ACCESS_KEY_ID = "{key}",'
        f' AWS_SECRET_ACCESS_KEY = "{secret}" }}\n'
    )
    monkeypatch.setenv("BASTION_COMMANDS", str(commands))

    class Recorder:
        def calls(self) -> list[dict]:
            if not log.exists():
                return []
            return [json.loads(line) for line in log.read_text().splitlines()]

        def failing(self, yes: bool) -> None:
            if yes:
                fail.write_text("1")
            else:
                fail.unlink(missing_ok=True)

    return Recorder()


def test_only_the_test_step_runs_against_a_temporary_pending_version(server, clock, recorder):
    sm = server.client("secretsmanager")
    arn = sm.create_secret(Name="app/db", SecretString="current-credentials")["ARN"]
    before = _state(sm, arn)
    out = sm.rotate_secret(
        SecretId=arn,
        ClientRequestToken=TOKEN,
        RotationLambdaARN=COMMAND,
        RotationRules={"AutomaticallyAfterDays": 7},
        RotateImmediately=False,
    )
    assert out["ARN"] == arn and out["Name"] == "app/db"
    calls = recorder.calls()
    assert [c["event"] for c in calls] == [
        {"Step": "testSecret", "SecretId": arn, "ClientRequestToken": TOKEN, "RotationToken": TOKEN}
    ]
    # while it ran, the secret was enabled for rotation and the token was AWSPENDING
    assert calls[0]["seen"] == {
        "enabled": True,
        "stages": ["AWSPENDING"],
        "value": "current-credentials",
    }
    assert _state(sm, arn) == before  # the pending version is gone again
    with pytest.raises(botocore.exceptions.ClientError) as info:
        sm.get_secret_value(SecretId=arn, VersionStage="AWSPENDING")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    described = sm.describe_secret(SecretId=arn)
    assert described["RotationEnabled"] is True
    assert described["RotationLambdaARN"] == COMMAND
    assert described["RotationRules"]["AutomaticallyAfterDays"] == 7
    assert "NextRotationDate" in described
    # nothing rotates until the schedule says so
    engine = server.runtime.providers["secretsmanager"].rotations
    assert engine.run_due(clock.now()) == []
    assert len(recorder.calls()) == 1
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "current-credentials"


def test_a_failing_test_step_fails_rotate_secret_and_changes_nothing(server, recorder):
    sm = server.client("secretsmanager")
    arn = sm.create_secret(Name="app/api", SecretString="key-1")["ARN"]
    sm.rotate_secret(
        SecretId=arn,
        RotationLambdaARN=COMMAND,
        RotationRules={"AutomaticallyAfterDays": 7},
        RotateImmediately=False,
    )
    configured = sm.describe_secret(SecretId=arn)
    before = _state(sm, arn)
    recorder.failing(True)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        sm.rotate_secret(
            SecretId=arn,
            ClientRequestToken=TOKEN,
            RotationRules={"AutomaticallyAfterDays": 30},
            RotateImmediately=False,
        )
    error = info.value.response["Error"]
    assert error["Code"] == "InvalidRequestException"
    assert "testSecret" in error["Message"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert [c["event"]["Step"] for c in recorder.calls()] == ["testSecret", "testSecret"]
    assert recorder.calls()[-1]["seen"]["stages"] == ["AWSPENDING"]
    assert _state(sm, arn) == before
    after = sm.describe_secret(SecretId=arn)
    for key in ("RotationEnabled", "RotationLambdaARN", "RotationRules", "NextRotationDate"):
        assert after[key] == configured[key]
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "key-1"


def test_a_failing_test_leaves_a_secret_without_rotation_unrotated(server, recorder):
    sm = server.client("secretsmanager")
    arn = sm.create_secret(Name="app/new", SecretString="v1")["ARN"]
    recorder.failing(True)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        sm.rotate_secret(SecretId=arn, RotationLambdaARN=COMMAND, RotateImmediately=False)
    assert info.value.response["Error"]["Code"] == "InvalidRequestException"
    described = sm.describe_secret(SecretId=arn)
    assert described.get("RotationEnabled", False) is False
    assert "RotationLambdaARN" not in described
    assert list(described["VersionIdsToStages"].values()) == [["AWSCURRENT"]]
    # fixed, the same call succeeds
    recorder.failing(False)
    sm.rotate_secret(SecretId=arn, RotationLambdaARN=COMMAND, RotateImmediately=False)
    assert sm.describe_secret(SecretId=arn)["RotationEnabled"] is True


def test_built_in_rotator_configured_without_rotating_then_rotates_on_schedule(server, clock):
    sm = server.client("secretsmanager")
    arn = sm.create_secret(Name="app/token", SecretString='{"password": "old"}')["ARN"]
    version = sm.get_secret_value(SecretId=arn)["VersionId"]
    out = sm.rotate_secret(
        SecretId=arn,
        RotationLambdaARN=RANDOM,
        RotationRules={"AutomaticallyAfterDays": 2},
        RotateImmediately=False,
    )
    assert "VersionId" not in out
    value = sm.get_secret_value(SecretId=arn)
    assert value["VersionId"] == version and json.loads(value["SecretString"]) == {
        "password": "old"
    }
    assert list(sm.describe_secret(SecretId=arn)["VersionIdsToStages"]) == [version]
    engine = server.runtime.providers["secretsmanager"].rotations
    assert engine.run_due(clock.now() + timedelta(days=3)) == [arn]
    assert json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])["password"] != "old"


def test_postgresql_rotator_test_step_logs_in_with_the_current_credentials(server):
    name = f"bastion_cfg_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal("initial-pass")
            )
        )
    try:
        sm = server.client("secretsmanager")
        good = {
            "engine": "postgres",
            "host": "127.0.0.1",
            "port": 5432,
            "username": name,
            "password": "initial-pass",
            "dbname": "postgres",
        }
        arn = sm.create_secret(Name=f"pg/{name}", SecretString=json.dumps(good))["ARN"]
        sm.rotate_secret(SecretId=arn, RotationLambdaARN=PG_SINGLE, RotateImmediately=False)
        assert json.loads(sm.get_secret_value(SecretId=arn)["SecretString"]) == good
        # a database the rotator cannot reach fails the test
        unreachable = sm.create_secret(
            Name=f"pg/{name}-down", SecretString=json.dumps({**good, "port": 1})
        )["ARN"]
        with pytest.raises(botocore.exceptions.ClientError) as info:
            sm.rotate_secret(
                SecretId=unreachable, RotationLambdaARN=PG_SINGLE, RotateImmediately=False
            )
        assert info.value.response["Error"]["Code"] == "InvalidRequestException"
        assert sm.describe_secret(SecretId=unreachable).get("RotationEnabled", False) is False
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
