"""STS AssumeRole and GetSessionToken: real temporary credentials, enforced policies."""

from __future__ import annotations

import datetime as dt
import json

import botocore.exceptions
import pytest

from bastion.clock import ManualClock

ACCOUNT = "000000000000"


def error_code(call, *args, **kwargs) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(*args, **kwargs)
    return info.value.response["Error"]["Code"]


def trust(principal: str, **condition) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def allow(*actions: str, resource: str = "*") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}],
        }
    )


def make_role(server, name: str, trust_policy: str, policy: str | None = None, **kwargs) -> str:
    iam = server.client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy, **kwargs)["Role"][
        "Arn"
    ]
    if policy:
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=policy)
    return arn


def make_user(server, name: str, policy: str | None = None) -> dict:
    iam = server.client("iam")
    iam.create_user(UserName=name)
    if policy:
        iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=policy)
    return iam.create_access_key(UserName=name)["AccessKey"]


def as_key(server, service: str, key: dict) -> object:
    return server.client(
        service,
        access_key=key["AccessKeyId"],
        secret_key=key["SecretAccessKey"],
        session_token=key.get("SessionToken"),
    )


def test_assume_role_gives_working_temporary_credentials(server):
    role_arn = make_role(
        server, "reader", trust(f"arn:aws:iam::{ACCOUNT}:root"), allow("iam:ListUsers")
    )
    result = server.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="job-1")
    creds = result["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert result["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/reader/job-1"
    assert result["AssumedRoleUser"]["AssumedRoleId"].endswith(":job-1")
    session_sts = as_key(server, "sts", creds)
    identity = session_sts.get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/reader/job-1"
    assert identity["UserId"] == result["AssumedRoleUser"]["AssumedRoleId"]
    session_iam = as_key(server, "iam", creds)
    assert session_iam.list_users()["Users"]  # allowed by the role's policy
    assert error_code(session_iam.create_user, UserName="nope") == "AccessDenied"


def test_session_token_is_required_and_checked(server):
    role_arn = make_role(server, "r", trust(f"arn:aws:iam::{ACCOUNT}:root"))
    creds = server.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="s1")["Credentials"]
    missing = server.client(
        "sts", access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"]
    )
    assert error_code(missing.get_caller_identity) == "InvalidClientTokenId"
    forged = dict(creds, SessionToken=creds["SessionToken"][:-2] + "xx")
    assert error_code(as_key(server, "sts", forged).get_caller_identity) == "InvalidClientTokenId"


def test_temporary_credentials_stop_at_expiry(server, clock: ManualClock):
    role_arn = make_role(server, "short", trust(f"arn:aws:iam::{ACCOUNT}:root"))
    creds = server.client("sts").assume_role(
        RoleArn=role_arn, RoleSessionName="s1", DurationSeconds=900
    )["Credentials"]
    session = as_key(server, "sts", creds)
    assert session.get_caller_identity()
    clock.advance(dt.timedelta(seconds=899))
    assert session.get_caller_identity()
    clock.advance(dt.timedelta(seconds=2))
    assert error_code(session.get_caller_identity) == "ExpiredToken"


def test_trust_policy_decides_who_may_assume(server):
    alice = make_user(server, "alice", allow("sts:AssumeRole"))
    bob = make_user(server, "bob", allow("sts:AssumeRole"))
    role_arn = make_role(server, "alice-only", trust(f"arn:aws:iam::{ACCOUNT}:user/alice"))
    assert as_key(server, "sts", alice).assume_role(RoleArn=role_arn, RoleSessionName="a1")
    assert (
        error_code(as_key(server, "sts", bob).assume_role, RoleArn=role_arn, RoleSessionName="b1")
        == "AccessDenied"
    )
    unknown = f"arn:aws:iam::{ACCOUNT}:role/does-not-exist"
    assert (
        error_code(as_key(server, "sts", alice).assume_role, RoleArn=unknown, RoleSessionName="a1")
        == "AccessDenied"
    )


def test_account_trust_needs_an_identity_policy_too(server):
    """Trusting the account root delegates to IAM: the caller also needs sts:AssumeRole."""
    role_arn = make_role(server, "delegated", trust(f"arn:aws:iam::{ACCOUNT}:root"))
    with_permission = make_user(server, "carol", allow("sts:AssumeRole", resource=role_arn))
    without = make_user(server, "dave")
    assert as_key(server, "sts", with_permission).assume_role(
        RoleArn=role_arn, RoleSessionName="c1"
    )
    assert (
        error_code(
            as_key(server, "sts", without).assume_role, RoleArn=role_arn, RoleSessionName="d1"
        )
        == "AccessDenied"
    )


def test_external_id_condition(server):
    role_arn = make_role(
        server,
        "third-party",
        trust(f"arn:aws:iam::{ACCOUNT}:root", StringEquals={"sts:ExternalId": "Unicorn-42"}),
    )
    sts = server.client("sts")
    assert error_code(sts.assume_role, RoleArn=role_arn, RoleSessionName="x1") == "AccessDenied"
    assert (
        error_code(sts.assume_role, RoleArn=role_arn, RoleSessionName="x1", ExternalId="wrong-id")
        == "AccessDenied"
    )
    assert sts.assume_role(RoleArn=role_arn, RoleSessionName="x1", ExternalId="Unicorn-42")


def test_session_policy_narrows_the_role(server):
    role_arn = make_role(
        server,
        "broad",
        trust(f"arn:aws:iam::{ACCOUNT}:root"),
        allow("iam:ListUsers", "iam:ListRoles"),
    )
    creds = server.client("sts").assume_role(
        RoleArn=role_arn, RoleSessionName="narrow", Policy=allow("iam:ListUsers")
    )
    assert creds["PackedPolicySize"] > 0
    session = as_key(server, "iam", creds["Credentials"])
    assert session.list_users()
    assert (
        error_code(session.list_roles) == "AccessDenied"
    )  # the role allows it, the session doesn't


def test_duration_limits(server):
    role_arn = make_role(
        server, "limits", trust(f"arn:aws:iam::{ACCOUNT}:root"), MaxSessionDuration=3600
    )
    sts = server.client("sts")
    assert (
        error_code(sts.assume_role, RoleArn=role_arn, RoleSessionName="x1", DurationSeconds=7200)
        == "ValidationError"
    )
    chained_role = make_role(
        server, "chained", trust(f"arn:aws:iam::{ACCOUNT}:root"), MaxSessionDuration=43200
    )
    first = make_role(
        server, "first", trust(f"arn:aws:iam::{ACCOUNT}:root"), allow("sts:AssumeRole")
    )
    hop = as_key(server, "sts", sts.assume_role(RoleArn=first, RoleSessionName="h1")["Credentials"])
    assert (
        error_code(
            hop.assume_role, RoleArn=chained_role, RoleSessionName="c1", DurationSeconds=7200
        )
        == "ValidationError"
    )
    assert hop.assume_role(RoleArn=chained_role, RoleSessionName="c1", DurationSeconds=3600)


def test_malformed_session_policy(server):
    role_arn = make_role(server, "m", trust(f"arn:aws:iam::{ACCOUNT}:root"))
    sts = server.client("sts")
    assert (
        error_code(sts.assume_role, RoleArn=role_arn, RoleSessionName="x1", Policy="{not json")
        == "MalformedPolicyDocument"
    )


def test_get_session_token(server, clock: ManualClock):
    key = make_user(server, "erin", allow("iam:ListUsers"))
    result = as_key(server, "sts", key).get_session_token(DurationSeconds=900)
    creds = result["Credentials"]
    session = as_key(server, "sts", creds)
    assert session.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/erin"
    assert as_key(server, "iam", creds).list_users()  # the user's own permissions
    assert error_code(session.get_session_token) == "AccessDenied"  # no sessions from sessions
    clock.advance(dt.timedelta(seconds=901))
    assert error_code(session.get_caller_identity) == "ExpiredToken"


def test_assumed_role_calls_are_audited_with_session_context(server):
    role_arn = make_role(
        server, "audited", trust(f"arn:aws:iam::{ACCOUNT}:root"), allow("iam:ListUsers")
    )
    creds = server.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="trail")[
        "Credentials"
    ]
    as_key(server, "iam", creds).list_users()
    events = server.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": creds["AccessKeyId"]}]
    )["Events"]
    record = json.loads(events[0]["CloudTrailEvent"])
    assert record["userIdentity"]["type"] == "AssumedRole"
    assert record["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] == role_arn
    assume = server.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "AssumeRole"}]
    )["Events"]
    assert creds["SecretAccessKey"] not in assume[0]["CloudTrailEvent"]
