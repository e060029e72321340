"""Every call becomes a CloudTrail record: LookupEvents and the JSON-lines files."""

from __future__ import annotations

import datetime as dt
import json

import botocore.exceptions
import pytest

from bastion.clock import ManualClock

CLOUDTRAIL_FIELDS = {
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "requestParameters",
    "responseElements",
    "requestID",
    "eventID",
    "readOnly",
    "eventCategory",
}


def lookup(server, **kwargs):
    return server.client("cloudtrail").lookup_events(**kwargs)["Events"]


def test_calls_allowed_and_denied_are_recorded(server):
    server.client("sts").get_caller_identity()
    iam = server.client("iam")
    iam.create_user(UserName="carol", Tags=[{"Key": "team", "Value": "blue"}])
    with pytest.raises(botocore.exceptions.ClientError):
        iam.create_user(UserName="carol")
    events = lookup(server)
    names = [e["EventName"] for e in events]
    assert names[:3] == ["CreateUser", "CreateUser", "GetCallerIdentity"]
    failed, created = (json.loads(e["CloudTrailEvent"]) for e in events[:2])
    assert set(created) >= CLOUDTRAIL_FIELDS
    assert created["eventSource"] == "iam.amazonaws.com"
    assert created["readOnly"] is False
    assert created["requestParameters"] == {
        "userName": "carol",
        "tags": [{"key": "team", "value": "blue"}],
    }
    assert created["responseElements"]["user"]["userName"] == "carol"
    assert created["userIdentity"]["arn"] == "arn:aws:iam::000000000000:user/admin"
    assert failed["errorCode"] == "EntityAlreadyExists"
    assert events[0]["Resources"] == [
        {"ResourceType": "AWS::IAM::User", "ResourceName": "arn:aws:iam::000000000000:user/carol"}
    ]


def test_denied_call_is_recorded_with_error_code(server):
    iam = server.client("iam")
    iam.create_user(UserName="dave")
    key = iam.create_access_key(UserName="dave")["AccessKey"]
    dave = server.client("iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    with pytest.raises(botocore.exceptions.ClientError):
        dave.list_users()
    events = lookup(
        server, LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "dave"}]
    )
    record = json.loads(events[0]["CloudTrailEvent"])
    assert record["eventName"] == "ListUsers"
    assert record["errorCode"] == "AccessDenied"
    assert record["userIdentity"]["accessKeyId"] == key["AccessKeyId"]


def test_secret_fields_are_redacted(server):
    iam = server.client("iam")
    iam.create_user(UserName="erin")
    secret = iam.create_access_key(UserName="erin")["AccessKey"]["SecretAccessKey"]
    event = lookup(
        server,
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateAccessKey"}],
    )[0]
    assert secret not in event["CloudTrailEvent"]
    record = json.loads(event["CloudTrailEvent"])
    assert (
        record["responseElements"]["accessKey"]["secretAccessKey"]
        == "HIDDEN_DUE_TO_SECURITY_REASONS"
    )


def test_lookup_filters_time_range_and_paging(server, clock: ManualClock):
    sts = server.client("sts")
    start = clock.now()
    for _ in range(5):
        sts.get_caller_identity()
        clock.advance(dt.timedelta(seconds=10))
    later = clock.now()
    server.client("iam").create_user(UserName="frank")
    by_name = lookup(
        server,
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GetCallerIdentity"}],
    )
    assert len(by_name) == 5
    read_only = lookup(
        server, LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "false"}]
    )
    assert [e["EventName"] for e in read_only] == ["CreateUser"]
    by_source = lookup(
        server,
        LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "iam.amazonaws.com"}],
    )
    assert [e["EventName"] for e in by_source] == ["CreateUser"]
    by_resource = lookup(
        server,
        LookupAttributes=[
            {
                "AttributeKey": "ResourceName",
                "AttributeValue": "arn:aws:iam::000000000000:user/frank",
            }
        ],
    )
    assert len(by_resource) == 1
    window = lookup(
        server, StartTime=start + dt.timedelta(seconds=15), EndTime=later - dt.timedelta(seconds=1)
    )
    assert len([e for e in window if e["EventName"] == "GetCallerIdentity"]) == 3
    trail = server.client("cloudtrail")
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"MaxResults": 2, "NextToken": token} if token else {"MaxResults": 2}
        page = trail.lookup_events(**kwargs)
        seen += [e["EventId"] for e in page["Events"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert len(seen) == len(set(seen)) >= 6
    assert pages >= 3


def test_lookup_errors(server):
    trail = server.client("cloudtrail")
    cases = [
        (
            {
                "LookupAttributes": [
                    {"AttributeKey": "EventName", "AttributeValue": "a"},
                    {"AttributeKey": "Username", "AttributeValue": "b"},
                ]
            },
            "InvalidLookupAttributesException",
        ),
        (
            {"StartTime": dt.datetime(2026, 2, 1), "EndTime": dt.datetime(2026, 1, 1)},
            "InvalidTimeRangeException",
        ),
        ({"NextToken": "garbage!!"}, "InvalidNextTokenException"),
    ]
    for kwargs, code in cases:
        with pytest.raises(botocore.exceptions.ClientError) as info:
            trail.lookup_events(**kwargs)
        assert info.value.response["Error"]["Code"] == code


def test_records_are_exported_to_json_lines(server):
    server.client("iam").create_user(UserName="gina")
    server.client("sts").get_caller_identity()
    audit = server.runtime.audit
    audit.flush()
    audit.export()
    files = sorted(server.settings.audit_dir.rglob("*.jsonl"))
    assert files, "no audit file written"
    records = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    names = [r["eventName"] for r in records]
    assert "CreateUser" in names and "GetCallerIdentity" in names
    assert all(set(r) >= CLOUDTRAIL_FIELDS for r in records)
    audit.export()  # idempotent: the cursor prevents duplicates
    again = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert len(again) == len(records)


def test_audit_fails_closed(sqlite_server):
    """When the group-commit writer cannot write, read calls are refused, not unaudited."""
    audit = sqlite_server.runtime.audit
    with audit._cond:  # simulate a writer that failed its last flush
        audit._healthy = False
    with pytest.raises(botocore.exceptions.ClientError) as info:
        sqlite_server.client("sts").get_caller_identity()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    with audit._cond:
        audit._healthy = True
    assert sqlite_server.client("sts").get_caller_identity()["Account"] == "000000000000"


def _decrypt_events(server) -> int:
    events = lookup(
        server, LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Decrypt"}]
    )
    return len(events)


def test_a_cache_miss_midway_does_not_record_nested_calls_twice(server):
    """Cache-served reads are tried on the event loop and run again on a miss; the
    in-process KMS calls of an abandoned try must not reach the audit log."""
    kms, ssm = server.client("kms"), server.client("ssm")
    first = kms.create_key()["KeyMetadata"]["KeyId"]
    second = kms.create_key()["KeyMetadata"]["KeyId"]
    ssm.put_parameter(Name="/a", Value="one", Type="SecureString", KeyId=first)
    ssm.put_parameter(Name="/b", Value="two", Type="SecureString", KeyId=second)
    values = ssm.get_parameters(Names=["/a", "/b"], WithDecryption=True)["Parameters"]
    assert [p["Value"] for p in values] == ["one", "two"]
    before = _decrypt_events(server)
    # the first key's material stays cached, the second's must be read again: the try
    # on the loop decrypts /a, then stops at /b and the call runs again on the pool
    server.runtime.providers["kms"]._material.drop_key("us-east-1", second)
    values = ssm.get_parameters(Names=["/a", "/b"], WithDecryption=True)["Parameters"]
    assert [p["Value"] for p in values] == ["one", "two"]
    assert _decrypt_events(server) == before + 2
