"""SigV4 authentication end to end with boto3: who gets in and with which AWS error."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import botocore.exceptions
import pytest

from bastion.clock import ManualClock


def error_of(call, *args, **kwargs) -> tuple[str, int, str]:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(*args, **kwargs)
    response = info.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"].get("Message", ""),
    )


def test_get_caller_identity_with_init_credentials(server):
    identity = server.client("sts").get_caller_identity()
    assert identity["Account"] == "000000000000"
    assert identity["Arn"] == "arn:aws:iam::000000000000:user/admin"
    assert identity["UserId"].startswith("AIDA")


def test_aws_cli_get_caller_identity(sqlite_server, tmp_path):
    env = {
        **os.environ,
        "AWS_SHARED_CREDENTIALS_FILE": str(sqlite_server.settings.credentials_file),
        "AWS_PROFILE": "bastion",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "awscli",
            "--endpoint-url",
            sqlite_server.endpoint,
            "sts",
            "get-caller-identity",
            "--output",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert '"Arn": "arn:aws:iam::000000000000:user/admin"' in out.stdout


def test_wrong_secret_is_refused_per_protocol(sqlite_server):
    key, _ = sqlite_server.credentials
    sts = sqlite_server.client("sts", access_key=key, secret_key="wrong" * 8)
    code, status, message = error_of(sts.get_caller_identity)
    assert (code, status) == ("SignatureDoesNotMatch", 403)
    assert "signature we calculated does not match" in message
    trail = sqlite_server.client("cloudtrail", access_key=key, secret_key="wrong" * 8)
    code, status, _ = error_of(trail.lookup_events)
    assert (code, status) == ("InvalidSignatureException", 400)


def test_unknown_access_key_is_refused(sqlite_server):
    sts = sqlite_server.client("sts", access_key="AKIAUNKNOWNUNKNOWN00", secret_key="x" * 40)
    assert error_of(sts.get_caller_identity)[:2] == ("InvalidClientTokenId", 403)
    trail = sqlite_server.client("cloudtrail", access_key="AKIAUNKNOWNUNKNOWN00", secret_key="x")
    assert error_of(trail.lookup_events)[:2] == ("UnrecognizedClientException", 400)


def test_localstack_test_credentials_refused_without_dev(sqlite_server):
    sts = sqlite_server.client("sts", access_key="test", secret_key="test")
    assert error_of(sts.get_caller_identity)[0] == "InvalidClientTokenId"


def test_tampered_signature_is_refused(sqlite_server):
    sts = sqlite_server.client("sts")

    def tamper(request, **_):
        request.headers["Authorization"] = request.headers["Authorization"][:-4] + b"0000"

    sts.meta.events.register_last("before-send.sts.GetCallerIdentity", tamper)
    assert error_of(sts.get_caller_identity)[:2] == ("SignatureDoesNotMatch", 403)


def test_tampered_body_is_refused(sqlite_server):
    sts = sqlite_server.client("sts")

    def tamper(request, **_):
        request.body = request.body + "&DurationSeconds=900"
        request.headers["Content-Length"] = str(len(request.body))

    sts.meta.events.register_last("before-send.sts.GetCallerIdentity", tamper)
    assert error_of(sts.get_caller_identity)[:2] == ("SignatureDoesNotMatch", 403)


@pytest.mark.parametrize("minutes", [16, -16])
def test_stale_or_future_date_is_refused(sqlite_server, clock: ManualClock, minutes):
    clock.advance(dt.timedelta(minutes=minutes))
    code, status, message = error_of(sqlite_server.client("sts").get_caller_identity)
    assert (code, status) == ("SignatureDoesNotMatch", 403)
    assert "Signature expired" in message or "Signature not yet current" in message


def test_date_within_skew_is_accepted(sqlite_server, clock: ManualClock):
    clock.advance(dt.timedelta(minutes=14))
    assert sqlite_server.client("sts").get_caller_identity()["Account"] == "000000000000"


def test_missing_authentication(sqlite_server):
    import urllib.request

    request = urllib.request.Request(
        sqlite_server.endpoint,
        data=b"Action=GetCallerIdentity&Version=2011-06-15",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 403
    assert b"<Code>MissingAuthenticationToken</Code>" in info.value.read()


def test_deactivated_key_is_refused_at_once(server):
    iam = server.client("iam")
    iam.create_user(UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    alice = server.client("sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    assert alice.get_caller_identity()["Arn"].endswith(":user/alice")
    iam.update_access_key(UserName="alice", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert error_of(alice.get_caller_identity)[:2] == ("InvalidClientTokenId", 403)
    iam.update_access_key(UserName="alice", AccessKeyId=key["AccessKeyId"], Status="Active")
    assert alice.get_caller_identity()["Arn"].endswith(":user/alice")
    iam.delete_access_key(UserName="alice", AccessKeyId=key["AccessKeyId"])
    assert error_of(alice.get_caller_identity)[:2] == ("InvalidClientTokenId", 403)


def test_non_admin_user_is_denied_by_default(server):
    iam = server.client("iam")
    iam.create_user(UserName="bob")
    key = iam.create_access_key(UserName="bob")["AccessKey"]
    bob_iam = server.client("iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    code, status, message = error_of(bob_iam.list_users)
    assert (code, status) == ("AccessDenied", 403)
    assert (
        "User: arn:aws:iam::000000000000:user/bob is not authorized to perform: iam:ListUsers"
        in message
    )
    bob_trail = server.client(
        "cloudtrail", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"]
    )
    assert error_of(bob_trail.lookup_events)[:2] == ("AccessDeniedException", 400)


def test_access_key_last_used_is_recorded(server, clock: ManualClock):
    iam = server.client("iam")
    iam.create_user(UserName="worker")
    key = iam.create_access_key(UserName="worker")["AccessKey"]
    never = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
    assert never["ServiceName"] == "N/A"
    worker = server.client(
        "sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"], region="eu-west-1"
    )
    worker.get_caller_identity()
    server.runtime.scheduler.run_due(clock.now(), force=True)
    used = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
    assert (used["ServiceName"], used["Region"]) == ("sts", "eu-west-1")
    assert "LastUsedDate" in used
