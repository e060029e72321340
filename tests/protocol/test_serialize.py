"""Response/error serialization, checked by reading it back with botocore's own parsers."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse, HeadersDict
from botocore.model import ServiceModel
from botocore.parsers import create_parser

from bastion.errors import (
    AccessDeniedError,
    ClientError,
    InternalFailure,
    NotImplementedOperationError,
    ServiceError,
    ValidationError,
)
from bastion.protocol.http import HttpResponse
from bastion.protocol.models import load_service_model, operation_model, protocol_of
from bastion.protocol.serialize import serialize_error, serialize_response

RID = "6f1c0d4e-1a2b-4c3d-9e8f-0123456789ab"
T1 = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
T2 = datetime(2025, 3, 4, 5, 6, 7, 123000, tzinfo=UTC)


def _parse(protocol: str, resp: HttpResponse, shape: Any) -> dict[str, Any]:
    return create_parser(protocol).parse(
        {"status_code": resp.status, "headers": HeadersDict(dict(resp.headers)), "body": resp.body},
        shape,
    )


def roundtrip(service: str, operation: str, result: dict[str, Any]) -> dict[str, Any]:
    """Serialize, parse with botocore, check the request id; return the parsed data."""
    op = operation_model(service, operation)
    resp = serialize_response(op, result, RID)
    parsed = _parse(protocol_of(op.service_model), resp, op.output_shape)
    meta = parsed.pop("ResponseMetadata")
    assert meta["RequestId"] == RID
    assert meta["HTTPStatusCode"] == resp.status
    return parsed


def parse_error(service: ServiceModel | str, error: ServiceError) -> tuple[HttpResponse, dict]:
    model = load_service_model(service) if isinstance(service, str) else service
    resp = serialize_error(model, error, RID)
    parsed = _parse(protocol_of(model), resp, None)
    assert parsed["ResponseMetadata"]["RequestId"] == RID
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == resp.status
    return resp, parsed["Error"]


# ------------------------------------------------------------------- real operations


def test_sts_get_caller_identity() -> None:
    data = {
        "UserId": "AIDAEXAMPLE",
        "Account": "000000000000",
        "Arn": "arn:aws:iam::000000000000:user/alice",
    }
    assert roundtrip("sts", "GetCallerIdentity", data) == data
    resp = serialize_response(operation_model("sts", "GetCallerIdentity"), data, RID)
    assert dict(resp.headers)["Content-Type"] == "text/xml"
    assert resp.body.startswith(
        b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        b"<GetCallerIdentityResult>"
    )
    assert resp.body.endswith(
        f"<ResponseMetadata><RequestId>{RID}</RequestId></ResponseMetadata>"
        "</GetCallerIdentityResponse>".encode()
    )


def test_sts_assume_role_credentials_expiration() -> None:
    data = {
        "Credentials": {
            "AccessKeyId": "ASIAEXAMPLE",
            "SecretAccessKey": "s3cr3t/+=",
            "SessionToken": "tok",
            "Expiration": T1,
        },
        "AssumedRoleUser": {
            "AssumedRoleId": "AROA:sess",
            "Arn": "arn:aws:sts::000000000000:assumed-role/r/sess",
        },
        "PackedPolicySize": 6,
        "SourceIdentity": "me",
    }
    assert roundtrip("sts", "AssumeRole", data) == data
    body = serialize_response(operation_model("sts", "AssumeRole"), data, RID).body
    assert b"<Expiration>2026-11-28T17:00:00.000Z</Expiration>" in body


def test_iam_list_users_list_of_structures() -> None:
    users = [
        {
            "Path": "/",
            "UserName": f"u{i}",
            "UserId": f"AIDA{i}",
            "Arn": f"arn:aws:iam::000000000000:user/u{i}",
            "CreateDate": T2,
        }
        for i in range(3)
    ]
    data = {"Users": users, "IsTruncated": True, "Marker": "m-1"}
    assert roundtrip("iam", "ListUsers", data) == data
    empty = roundtrip("iam", "ListUsers", {"Users": [], "IsTruncated": False})
    assert empty == {"Users": [], "IsTruncated": False}


def test_iam_get_user_with_tags() -> None:
    data = {
        "User": {
            "Path": "/eng/",
            "UserName": "bob",
            "UserId": "AIDB",
            "CreateDate": T1,
            "Arn": "arn:aws:iam::000000000000:user/eng/bob",
            "PasswordLastUsed": T2,
            "Tags": [{"Key": "team", "Value": "sec"}, {"Key": "cost", "Value": "a&b"}],
        }
    }
    assert roundtrip("iam", "GetUser", data) == data


def test_elbv2_describe_load_balancers() -> None:
    data = {
        "LoadBalancers": [
            {
                "LoadBalancerArn": "arn:aws:elasticloadbalancing:us-east-1:000000000000:"
                "loadbalancer/app/web/50dc6c495c0c9188",
                "DNSName": "web-1.us-east-1.elb.localhost",
                "CanonicalHostedZoneId": "Z35SXDOTRQ7X7K",
                "CreatedTime": T2,
                "LoadBalancerName": "web",
                "Scheme": "internet-facing",
                "State": {"Code": "active"},
                "Type": "application",
                "IpAddressType": "ipv4",
                "AvailabilityZones": [
                    {
                        "ZoneName": "us-east-1a",
                        "SubnetId": "subnet-1",
                        "LoadBalancerAddresses": [{"IpAddress": "127.0.0.1"}],
                    }
                ],
                "SecurityGroups": ["sg-1", "sg-2"],
            }
        ],
        "NextMarker": "nm",
    }
    assert roundtrip("elbv2", "DescribeLoadBalancers", data) == data


def test_kms_encrypt_blob() -> None:
    data = {
        "CiphertextBlob": bytes(range(256)),
        "KeyId": "arn:aws:kms:us-east-1:0:key/k",
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }
    assert roundtrip("kms", "Encrypt", data) == data
    resp = serialize_response(operation_model("kms", "Encrypt"), data, RID)
    assert ("Content-Type", "application/x-amz-json-1.1") in resp.headers
    assert ("x-amzn-RequestId", RID) in resp.headers
    assert json.loads(resp.body)["CiphertextBlob"] == base64.b64encode(bytes(range(256))).decode()


def test_kms_describe_key_timestamps_and_enums() -> None:
    meta = {
        "AWSAccountId": "000000000000",
        "KeyId": "1234abcd",
        "Arn": "arn:aws:kms:k",
        "CreationDate": T2,
        "DeletionDate": T1,
        "Enabled": False,
        "Description": "é ü 🔑",
        "KeyUsage": "SIGN_VERIFY",
        "KeyState": "PendingDeletion",
        "Origin": "AWS_KMS",
        "KeyManager": "CUSTOMER",
        "KeySpec": "RSA_2048",
        "CustomerMasterKeySpec": "RSA_2048",
        "SigningAlgorithms": ["RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_256"],
        "MultiRegion": False,
        "PendingDeletionWindowInDays": 7,
    }
    assert roundtrip("kms", "DescribeKey", {"KeyMetadata": meta}) == {"KeyMetadata": meta}
    body = json.loads(
        serialize_response(operation_model("kms", "DescribeKey"), {"KeyMetadata": meta}, RID).body
    )
    assert body["KeyMetadata"]["CreationDate"] == T2.timestamp()  # epoch seconds number
    assert body["KeyMetadata"]["DeletionDate"] == int(T1.timestamp())


def test_kms_list_aliases() -> None:
    data = {
        "Aliases": [
            {
                "AliasName": "alias/a",
                "AliasArn": "arn:aws:kms:us-east-1:0:alias/a",
                "TargetKeyId": "k1",
                "CreationDate": T1,
                "LastUpdatedDate": T2,
            },
            {"AliasName": "alias/aws/s3", "AliasArn": "arn:aws:kms:us-east-1:0:alias/aws/s3"},
        ],
        "NextMarker": "x",
        "Truncated": True,
    }
    assert roundtrip("kms", "ListAliases", data) == data


def test_kms_get_public_key() -> None:
    data = {
        "KeyId": "arn:aws:kms:k",
        "PublicKey": b'0\x82\x01"0\r\x06\t*\x86H',
        "CustomerMasterKeySpec": "ECC_NIST_P256",
        "KeySpec": "ECC_NIST_P256",
        "KeyUsage": "SIGN_VERIFY",
        "SigningAlgorithms": ["ECDSA_SHA_256"],
    }
    assert roundtrip("kms", "GetPublicKey", data) == data


def test_ssm_get_parameters_by_path() -> None:
    data = {
        "Parameters": [
            {
                "Name": "/app/db/url",
                "Type": "String",
                "Value": "postgres://h/db?x=1&y=<2>",
                "Version": 3,
                "LastModifiedDate": T2,
                "ARN": "arn:aws:ssm:p",
                "DataType": "text",
            },
            {
                "Name": "/app/db/pw",
                "Type": "SecureString",
                "Value": "AQICAH...",
                "Version": 1,
                "LastModifiedDate": T1,
                "ARN": "arn:aws:ssm:q",
                "DataType": "text",
            },
        ],
        "NextToken": "n",
    }
    assert roundtrip("ssm", "GetParametersByPath", data) == data


def test_secretsmanager_describe_secret_map_of_lists() -> None:
    data = {
        "ARN": "arn:aws:secretsmanager:us-east-1:0:secret:db-AbCdEf",
        "Name": "db",
        "RotationEnabled": True,
        "RotationRules": {"AutomaticallyAfterDays": 30},
        "LastChangedDate": T2,
        "LastRotatedDate": T1,
        "CreatedDate": T2,
        "Tags": [{"Key": "env", "Value": "prod"}],
        "VersionIdsToStages": {"v1": ["AWSPREVIOUS"], "v2": ["AWSCURRENT", "AWSPENDING"]},
    }
    assert roundtrip("secretsmanager", "DescribeSecret", data) == data


def test_cloudtrail_lookup_events() -> None:
    data = {
        "Events": [
            {
                "EventId": "e1",
                "EventName": "Decrypt",
                "ReadOnly": "true",
                "AccessKeyId": "AKIA",
                "EventTime": T2,
                "EventSource": "kms.amazonaws.com",
                "Username": "alice",
                "Resources": [{"ResourceType": "AWS::KMS::Key", "ResourceName": "arn:aws:kms:k"}],
                "CloudTrailEvent": json.dumps({"eventVersion": "1.08", "x": [1, "<&>"]}),
            }
        ],
        "NextToken": "t",
    }
    assert roundtrip("cloudtrail", "LookupEvents", data) == data


def test_guardduty_rest_json() -> None:
    assert roundtrip("guardduty", "CreateDetector", {"DetectorId": "d1"}) == {"DetectorId": "d1"}
    resp = serialize_response(
        operation_model("guardduty", "CreateDetector"), {"DetectorId": "d1"}, RID
    )
    assert json.loads(resp.body) == {"detectorId": "d1"}  # locationName on the wire
    assert ("Content-Type", "application/json") in resp.headers
    detector = {
        "CreatedAt": "2026-01-01T00:00:00.000Z",
        "FindingPublishingFrequency": "SIX_HOURS",
        "ServiceRole": "arn:aws:iam::0:role/gd",
        "Status": "ENABLED",
        "Tags": {"a": "b"},
        "Features": [{"Name": "S3_DATA_EVENTS", "Status": "ENABLED", "UpdatedAt": T2}],
    }
    assert roundtrip("guardduty", "GetDetector", detector) == detector
    findings = {"FindingIds": ["f1", "f2"], "NextToken": ""}
    assert roundtrip("guardduty", "ListFindings", findings) == findings


def test_operation_without_output() -> None:
    resp = serialize_response(operation_model("iam", "DeleteUser"), None, RID)
    assert b"Result" not in resp.body
    assert roundtrip("iam", "DeleteUser", {}) == {}
    resp = serialize_response(operation_model("kms", "EnableKey"), None, RID)
    assert resp.status == 200
    assert resp.body == b"{}"


def test_unknown_and_none_members_are_dropped() -> None:
    data = {"KeyId": "k", "Plaintext": None, "Secret": "internal", "KeySpec": None}
    op = operation_model("kms", "GenerateDataKey")
    assert json.loads(serialize_response(op, data, RID).body) == {"KeyId": "k"}
    user = {"UserName": "u", "Password": "x", "Path": None}
    body = serialize_response(operation_model("iam", "GetUser"), {"User": user}, RID).body
    assert b"Password" not in body
    assert b"<Path>" not in body


def test_naive_and_offset_datetimes_are_utc() -> None:
    naive = datetime(2026, 11, 28, 17, 0)
    plus2 = datetime(2026, 11, 28, 19, 0, tzinfo=timezone(timedelta(hours=2)))
    for value in (naive, plus2, T1, int(T1.timestamp()), "2026-11-28T17:00:00Z"):
        data = {
            "Credentials": {
                "AccessKeyId": "a",
                "SecretAccessKey": "b",
                "SessionToken": "c",
                "Expiration": value,
            }
        }
        parsed = roundtrip("sts", "GetSessionToken", data)
        assert parsed["Credentials"]["Expiration"] == T1
        body = json.loads(
            serialize_response(
                operation_model("kms", "DescribeKey"),
                {"KeyMetadata": {"KeyId": "k", "CreationDate": value}},
                RID,
            ).body
        )
        assert body["KeyMetadata"]["CreationDate"] == int(T1.timestamp())


def test_xml_escaping_tricky_strings() -> None:
    tricky = "a<b>&\"c'"
    data = {"UserId": tricky, "Account": "]]>&amp;", "Arn": "line1\nline2\r\n\ttab"}
    assert roundtrip("sts", "GetCallerIdentity", data) == data
    body = serialize_response(operation_model("sts", "GetCallerIdentity"), data, RID).body
    assert b"<UserId>a&lt;b&gt;&amp;&quot;c'</UserId>" in body
    # Characters XML 1.0 cannot carry at all become U+FFFD rather than breaking the parse.
    bad = {"UserId": "x\x00y\x1bz", "Account": "\ud800", "Arn": "ok"}
    parsed = roundtrip("sts", "GetCallerIdentity", bad)
    assert parsed == {"UserId": "x\ufffdy\ufffdz", "Account": "\ufffd", "Arn": "ok"}


def test_json_lone_surrogate_falls_back() -> None:
    op = operation_model("kms", "DescribeKey")
    resp = serialize_response(op, {"KeyMetadata": {"KeyId": "k", "Description": "\udc80"}}, RID)
    assert json.loads(resp.body)["KeyMetadata"]["Description"] == "\udc80"


def test_serializer_is_cached_and_stable() -> None:
    op = operation_model("iam", "ListUsers")
    data = {
        "Users": [{"UserName": "u", "Path": "/", "UserId": "i", "Arn": "a", "CreateDate": T1}],
        "IsTruncated": False,
    }
    assert serialize_response(op, data, RID).body == serialize_response(op, data, RID).body


# ------------------------------------------------------------------ synthetic models

SYNTH_REST = ServiceModel(
    {
        "metadata": {
            "protocol": "rest-json",
            "serviceId": "Synth",
            "apiVersion": "2020-01-01",
            "endpointPrefix": "synth",
            "signatureVersion": "v4",
        },
        "operations": {
            "Headers": {
                "name": "Headers",
                "http": {"method": "GET", "requestUri": "/h", "responseCode": 201},
                "output": {"shape": "HeadersOut"},
            },
            "Blob": {
                "name": "Blob",
                "http": {"method": "GET", "requestUri": "/b"},
                "output": {"shape": "BlobOut"},
            },
            "Doc": {
                "name": "Doc",
                "http": {"method": "GET", "requestUri": "/d"},
                "output": {"shape": "DocOut"},
            },
        },
        "shapes": {
            "HeadersOut": {
                "type": "structure",
                "members": {
                    "Etag": {"shape": "S", "location": "header", "locationName": "ETag"},
                    "When": {"shape": "T", "location": "header", "locationName": "x-when"},
                    "Count": {"shape": "I", "location": "header", "locationName": "x-count"},
                    "Flag": {"shape": "B", "location": "header", "locationName": "x-flag"},
                    "Policy": {"shape": "J", "location": "header", "locationName": "x-policy"},
                    "Meta": {"shape": "M", "location": "headers", "locationName": "x-meta-"},
                    "Code": {"shape": "I", "location": "statusCode"},
                    "Stamp": {"shape": "T", "locationName": "stamp", "timestampFormat": "iso8601"},
                    "Ratio": {"shape": "D", "locationName": "ratio"},
                    "Tree": {"shape": "Node", "locationName": "tree"},
                },
            },
            "BlobOut": {
                "type": "structure",
                "payload": "Data",
                "members": {
                    "Data": {"shape": "Bl"},
                    "Kind": {"shape": "S", "location": "header", "locationName": "Content-Type"},
                },
            },
            "DocOut": {
                "type": "structure",
                "payload": "Body",
                "members": {"Body": {"shape": "Inner"}},
            },
            "Inner": {
                "type": "structure",
                "members": {"Name": {"shape": "S", "locationName": "name"}, "At": {"shape": "T"}},
            },
            "Node": {
                "type": "structure",
                "members": {"Value": {"shape": "S"}, "Children": {"shape": "NodeList"}},
            },
            "NodeList": {"type": "list", "member": {"shape": "Node"}},
            "M": {"type": "map", "key": {"shape": "S"}, "value": {"shape": "S"}},
            "S": {"type": "string"},
            "I": {"type": "integer"},
            "B": {"type": "boolean"},
            "D": {"type": "double"},
            "T": {"type": "timestamp"},
            "Bl": {"type": "blob"},
            "J": {"type": "string", "jsonvalue": True},
        },
    },
    service_name="synth",
)


def _synth_roundtrip(model: ServiceModel, op_name: str, data: dict) -> tuple[HttpResponse, dict]:
    op = model.operation_model(op_name)
    resp = serialize_response(op, data, RID)
    parsed = _parse(protocol_of(model), resp, op.output_shape)
    assert parsed.pop("ResponseMetadata")["RequestId"] == RID
    return resp, parsed


def test_rest_json_headers_status_and_body() -> None:
    tree = {"Value": "root", "Children": [{"Value": "a", "Children": [{"Value": "b"}]}]}
    data = {
        "Etag": '"abc"',
        "When": T1,
        "Count": 7,
        "Flag": True,
        "Policy": {"Version": "2012-10-17", "Statement": []},
        "Meta": {"k1": "v1"},
        "Stamp": T2,
        "Ratio": 0.25,
        "Tree": tree,
    }
    resp, parsed = _synth_roundtrip(SYNTH_REST, "Headers", data)
    assert resp.status == 201
    headers = dict(resp.headers)
    assert headers["x-when"] == "Sat, 28 Nov 2026 17:00:00 GMT"
    assert headers["x-meta-k1"] == "v1"
    assert json.loads(resp.body)["stamp"] == "2025-03-04T05:06:07.123Z"
    assert parsed == {**data, "Code": 201}
    resp = serialize_response(
        SYNTH_REST.operation_model("Headers"), {"Ratio": float("nan"), "Tree": {"Value": None}}, RID
    )
    assert json.loads(resp.body) == {"ratio": "NaN", "tree": {}}
    resp, parsed = _synth_roundtrip(SYNTH_REST, "Headers", {"Code": 202, "Etag": "a\r\nX: y"})
    assert resp.status == 202
    assert dict(resp.headers)["ETag"] == "a  X: y"  # no header injection


def test_rest_json_payloads() -> None:
    resp = serialize_response(SYNTH_REST.operation_model("Blob"), {"Data": b"\x00raw\xff"}, RID)
    assert resp.body == b"\x00raw\xff"  # raw, not base64
    resp, parsed = _synth_roundtrip(SYNTH_REST, "Blob", {"Data": b"raw"})
    assert parsed["Data"] == "raw"  # botocore hands a non-streaming payload over as text
    assert dict(resp.headers)["Content-Type"] == "application/octet-stream"
    resp, _ = _synth_roundtrip(SYNTH_REST, "Blob", {"Data": b"x", "Kind": "image/png"})
    assert [v for k, v in resp.headers if k.lower() == "content-type"] == ["image/png"]
    resp, parsed = _synth_roundtrip(SYNTH_REST, "Doc", {"Body": {"Name": "n", "At": T1}})
    assert json.loads(resp.body) == {"name": "n", "At": int(T1.timestamp())}
    assert parsed == {"Body": {"Name": "n", "At": T1}}


SYNTH_QUERY = ServiceModel(
    {
        "metadata": {
            "protocol": "query",
            "serviceId": "SynthQ",
            "apiVersion": "2020-01-01",
            "endpointPrefix": "synthq",
            "signatureVersion": "v4",
            "xmlNamespace": "https://synthq.amazonaws.com/doc/2020-01-01/",
        },
        "operations": {
            "Get": {
                "name": "Get",
                "http": {"method": "POST", "requestUri": "/"},
                "output": {"shape": "GetOut", "resultWrapper": "GetResult"},
            }
        },
        "shapes": {
            "GetOut": {
                "type": "structure",
                "members": {
                    "Flat": {"shape": "FlatList"},
                    "FlatItems": {"shape": "FlatItemList", "locationName": "Item"},
                    "Attrs": {"shape": "NamedMap"},
                    "FlatMap": {"shape": "FlatMapT"},
                    "Big": {"shape": "L"},
                    "Ratio": {"shape": "D"},
                    "On": {"shape": "B"},
                    "Epoch": {"shape": "T", "timestampFormat": "unixTimestamp"},
                    "Blob": {"shape": "Bl"},
                    "Tree": {"shape": "Node"},
                },
            },
            "FlatList": {
                "type": "list",
                "flattened": True,
                "member": {"shape": "S", "locationName": "Name"},
            },
            "FlatItemList": {"type": "list", "flattened": True, "member": {"shape": "Pair"}},
            "Pair": {"type": "structure", "members": {"K": {"shape": "S"}, "V": {"shape": "I"}}},
            "NamedMap": {
                "type": "map",
                "key": {"shape": "S", "locationName": "Name"},
                "value": {"shape": "S", "locationName": "Val"},
            },
            "FlatMapT": {
                "type": "map",
                "flattened": True,
                "key": {"shape": "S"},
                "value": {"shape": "Pair"},
            },
            "Node": {
                "type": "structure",
                "members": {"Value": {"shape": "S"}, "Children": {"shape": "NodeList"}},
            },
            "NodeList": {"type": "list", "member": {"shape": "Node"}},
            "S": {"type": "string"},
            "I": {"type": "integer"},
            "L": {"type": "long"},
            "D": {"type": "double"},
            "B": {"type": "boolean"},
            "T": {"type": "timestamp"},
            "Bl": {"type": "blob"},
        },
    },
    service_name="synthq",
)


def test_query_flattened_maps_and_recursion() -> None:
    data = {
        "Flat": ["a", "b&c"],
        "FlatItems": [{"K": "x", "V": 1}, {"K": "y", "V": 2}],
        "Attrs": {"k": "v", "k2": "<v2>"},
        "FlatMap": {"p": {"K": "q", "V": 3}},
        "Big": 2**40,
        "Ratio": 1.5,
        "On": False,
        "Epoch": T2,
        "Blob": b"\x01\x02",
        "Tree": {"Value": "r", "Children": [{"Value": "c", "Children": []}]},
    }
    resp, parsed = _synth_roundtrip(SYNTH_QUERY, "Get", data)
    assert parsed == data
    assert b"<Name>a</Name><Name>b&amp;c</Name>" in resp.body
    assert b"<Attrs><entry><Name>k</Name><Val>v</Val></entry>" in resp.body
    assert b"<Epoch>1741064767.123</Epoch>" in resp.body
    _, single = _synth_roundtrip(SYNTH_QUERY, "Get", {"Flat": ["only"]})
    assert single == {"Flat": ["only"]}


# -------------------------------------------------------------------------- errors


def test_json_error() -> None:
    resp, err = parse_error("kms", ServiceError("Key 'k' does not exist", code="NotFoundException"))
    assert (resp.status, err["Code"], err["Message"]) == (
        400,
        "NotFoundException",
        "Key 'k' does not exist",
    )
    assert json.loads(resp.body) == {
        "__type": "NotFoundException",
        "message": "Key 'k' does not exist",
    }
    assert ("x-amzn-ErrorType", "NotFoundException") in resp.headers
    assert ("Content-Type", "application/x-amz-json-1.1") in resp.headers
    resp, err = parse_error("kms", ValidationError("1 validation error detected"))
    assert (resp.status, err["Code"]) == (400, "ValidationException")
    resp, err = parse_error("kms", ServiceError("boom", code="KMSInternalException"))
    assert (resp.status, err["Code"]) == (500, "KMSInternalException")
    resp, err = parse_error("ssm", InternalFailure("internal"))
    assert (resp.status, err["Code"]) == (500, "InternalFailure")
    resp, err = parse_error("kms", NotImplementedOperationError("not yet"))
    assert (resp.status, err["Code"]) == (501, "NotImplemented")


def test_rest_json_error() -> None:
    resp, err = parse_error("guardduty", ClientError("bad detector", code="BadRequestException"))
    assert (resp.status, err["Code"], err["Message"]) == (
        400,
        "BadRequestException",
        "bad detector",
    )
    assert ("x-amzn-ErrorType", "BadRequestException") in resp.headers
    # The model's status beats a class default (AccessDeniedError says 400).
    resp, err = parse_error("guardduty", AccessDeniedError("no", code="AccessDeniedException"))
    assert (resp.status, err["Code"]) == (403, "AccessDeniedException")
    resp, err = parse_error("guardduty", ServiceError("gone", code="ResourceNotFoundException"))
    assert resp.status == 404
    # The modeled error shape reads the same body.
    shape = load_service_model("guardduty").shape_for("BadRequestException")
    resp = serialize_error(
        load_service_model("guardduty"), ClientError("m", code="BadRequestException"), RID
    )
    modeled = _parse("rest-json", resp, shape)
    assert modeled == {"Message": "m"}


def test_query_errors() -> None:
    resp, err = parse_error("sts", ValidationError("1 validation error detected: x"))
    assert (resp.status, err["Code"], err["Type"]) == (400, "ValidationError", "Sender")
    assert err["Message"] == "1 validation error detected: x"
    assert resp.body.startswith(
        b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
    )
    resp, err = parse_error(
        "iam", ServiceError("The user with name x cannot be found.", code="NoSuchEntityException")
    )
    assert (resp.status, err["Code"], err["Type"]) == (404, "NoSuchEntity", "Sender")
    resp, err = parse_error("iam", ClientError("x", code="NoSuchEntity"))
    assert (resp.status, err["Code"]) == (404, "NoSuchEntity")
    resp, err = parse_error("iam", ClientError("x", code="NoSuchEntityException", status=400))
    assert (resp.status, err["Code"]) == (400, "NoSuchEntity")  # explicit status wins
    resp, err = parse_error("elbv2", ServiceError("lb", code="LoadBalancerNotFoundException"))
    assert (resp.status, err["Code"]) == (400, "LoadBalancerNotFound")
    resp, err = parse_error("sts", AccessDeniedError("not authorized"))
    assert (resp.status, err["Code"]) == (403, "AccessDenied")
    resp, err = parse_error("iam", InternalFailure("sorry"))
    assert (resp.status, err["Code"], err["Type"]) == (500, "InternalFailure", "Receiver")
    resp, err = parse_error("sts", ClientError("a<b>&\"c'", code="MalformedPolicyDocument"))
    assert err["Message"] == "a<b>&\"c'"
    assert (resp.status, err["Code"]) == (400, "MalformedPolicyDocument")


# ------------------------------------------------- through a real botocore client


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _client(service: str, resp: HttpResponse) -> Any:
    client = botocore.session.get_session().create_client(
        service,
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )

    def send(request: Any, **_: Any) -> AWSResponse:  # answer without any network
        return AWSResponse(
            request.url, resp.status, HeadersDict(dict(resp.headers)), _Raw(resp.body)
        )

    client.meta.events.register("before-send", send)
    return client


def test_botocore_client_reads_results_and_modeled_errors() -> None:
    op = operation_model("kms", "DescribeKey")
    ok = serialize_response(op, {"KeyMetadata": {"KeyId": "k", "CreationDate": T1}}, RID)
    out = _client("kms", ok).describe_key(KeyId="k")
    assert out["KeyMetadata"] == {"KeyId": "k", "CreationDate": T1}
    assert out["ResponseMetadata"]["RequestId"] == RID

    err = serialize_error(
        load_service_model("iam"), ServiceError("no user", code="NoSuchEntityException"), RID
    )
    client = _client("iam", err)
    with pytest.raises(client.exceptions.NoSuchEntityException) as info:
        client.get_user(UserName="ghost")
    assert info.value.response["Error"]["Message"] == "no user"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    err = serialize_error(
        load_service_model("guardduty"), ClientError("bad", code="BadRequestException"), RID
    )
    client = _client("guardduty", err)
    with pytest.raises(client.exceptions.BadRequestException):
        client.get_detector(DetectorId="d")
