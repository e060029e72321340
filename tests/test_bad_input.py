"""Bad input gets an AWS-shaped 4xx and changes nothing; never a 500."""

from __future__ import annotations

import os
import random
import urllib.error
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def raw(endpoint: str, body: bytes, headers: dict[str, str], method: str = "POST", path: str = "/"):
    request = urllib.request.Request(
        endpoint + path, data=body or None, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def signed(server, service: str, body: bytes, headers: dict[str, str], region: str = "us-east-1"):
    key, secret = server.credentials
    request = AWSRequest(method="POST", url=server.endpoint + "/", data=body, headers=headers)
    SigV4Auth(Credentials(key, secret), service, region).add_auth(request)
    return raw(server.endpoint, body, dict(request.headers.items()))


JSON_11 = "application/x-amz-json-1.1"
LOOKUP = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"


def test_garbage_json_body(sqlite_server):
    status, _, body = signed(
        sqlite_server,
        "cloudtrail",
        b"{not json",
        {
            "Content-Type": JSON_11,
            "X-Amz-Target": LOOKUP,
        },
    )
    assert status == 400
    assert b"SerializationException" in body


def test_wrong_types_in_json(sqlite_server):
    status, _, body = signed(
        sqlite_server,
        "cloudtrail",
        b'{"MaxResults": "many", "LookupAttributes": "x"}',
        {
            "Content-Type": JSON_11,
            "X-Amz-Target": LOOKUP,
        },
    )
    assert 400 <= status < 500
    assert b"__type" in body


def test_validation_error_names_the_field(sqlite_server):
    trail = sqlite_server.client("cloudtrail")
    import botocore.exceptions

    with pytest.raises(botocore.exceptions.ClientError) as info:
        trail.lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "x" * 3000}]
        )
    error = info.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "lookupAttributes.1.member.attributeValue" in error["Message"]


def test_unknown_target(sqlite_server):
    status, _, body = signed(
        sqlite_server,
        "kms",
        b"{}",
        {"Content-Type": JSON_11, "X-Amz-Target": "TrentService.NoSuchThing"},
    )
    assert status == 400
    assert b"UnknownOperationException" in body


def test_unknown_target_prefix(sqlite_server):
    status, _, body = raw(
        sqlite_server.endpoint, b"{}", {"Content-Type": JSON_11, "X-Amz-Target": "Nope.Nothing"}
    )
    assert status == 400
    assert b"UnknownOperationException" in body


def test_unknown_query_action(sqlite_server):
    status, _, body = signed(
        sqlite_server,
        "sts",
        b"Action=NoSuchAction&Version=2011-06-15",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 400
    assert b"<Code>InvalidAction</Code>" in body


def test_wrong_content_type(sqlite_server):
    status, _, body = signed(
        sqlite_server, "sts", b"\x00\x01\x02binary", {"Content-Type": "application/octet-stream"}
    )
    assert 400 <= status < 500
    assert b"<Code>" in body or b"__type" in body


def test_operation_in_model_not_built_yet(sqlite_server):
    status, _, body = signed(
        sqlite_server,
        "cloudhsm",
        b"{}",
        {"Content-Type": JSON_11, "X-Amz-Target": "BaldrApiService.DescribeClusters"},
    )
    assert status == 501
    assert b"NotImplemented" in body


def test_oversized_body_is_refused(tmp_path, clock):
    from support import ThreadServer, make_settings

    srv = ThreadServer(make_settings(tmp_path / "d", max_body_bytes=1024), clock).start()
    try:
        status, _, _ = signed(
            srv,
            "sts",
            b"Action=GetCallerIdentity&Version=2011-06-15&Pad=" + b"x" * 4096,
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert status == 413
    finally:
        srv.stop()


def test_random_bodies_never_crash(sqlite_server):
    """A small fuzz: random bytes and shapes to every protocol; nothing answers 5xx."""
    rng = random.Random(1234)
    targets = [
        (
            "cloudtrail",
            {
                "Content-Type": JSON_11,
                "X-Amz-Target": LOOKUP,
            },
        ),
        ("sts", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("iam", {"Content-Type": "application/x-www-form-urlencoded"}),
    ]
    fragments = [
        b"{",
        b"}",
        b"[",
        b'"',
        b"\\u0000",
        b"Action=",
        b"CreateUser",
        b"&",
        b"=",
        b"UserName",
        b".member.1",
        b"null",
        b"1e999",
        b"\xff",
        b"%",
        b"LookupAttributes",
    ]
    for _ in range(150):
        service, headers = rng.choice(targets)
        if rng.random() < 0.5:
            body = os.urandom(rng.randint(0, 64))
        else:
            body = b"".join(rng.choice(fragments) for _ in range(rng.randint(1, 12)))
        status, _, _ = signed(sqlite_server, service, body, headers)
        assert status < 500, (service, body)
    for body in (
        b"Action=CreateUser&Version=2010-05-08",
        b"Action=CreateUser&Version=2010-05-08&UserName=",
        b"Action=CreateUser&Version=2010-05-08&UserName=a&Tags.member.1.Key=k",
        b"Action=ListUsers&Version=2010-05-08&MaxItems=abc",
        b"Action=ListUsers&Version=2010-05-08&MaxItems=0",
        b"Action=ListUsers&Version=2010-05-08&Marker=zzz",
    ):
        status, _, response = signed(
            sqlite_server, "iam", body, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert 400 <= status < 500, (body, response)
    users = sqlite_server.client("iam").list_users()["Users"]
    assert [u["UserName"] for u in users] == ["admin"]
