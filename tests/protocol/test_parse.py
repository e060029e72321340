"""Request parsing: botocore serializes, Bastion parses, the params must come back equal."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.model import OperationModel, ServiceModel
from botocore.serialize import create_serializer

from bastion.errors import SerializationError, ValidationError
from bastion.protocol.http import HttpRequest
from bastion.protocol.models import load_service_model, operation_model, protocol_of
from bastion.protocol.parse import parse_request, parse_timestamp, uri_params
from bastion.protocol.validate import validate_input

T0 = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
T1 = datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)


def _path_params(operation: OperationModel, path: str) -> dict[str, str]:
    """Label values of `path` under the requestUri template, as a router would give them."""
    template = operation.http["requestUri"].split("?", 1)[0]
    labels = re.findall(r"\{([^}]+)\}", template)
    regex = re.escape(template)
    for label in labels:
        group = "(.+)" if label.endswith("+") else "([^/]+)"
        regex = regex.replace(re.escape("{" + label + "}"), group, 1)
    match = re.fullmatch(regex, path)
    assert match is not None, (template, path)
    return {label.rstrip("+"): value for label, value in zip(labels, match.groups(), strict=True)}


def to_http(operation: OperationModel, params: dict[str, Any]) -> tuple[HttpRequest, dict]:
    """What boto3 would put on the wire for `params`, as the gateway hands it to us."""
    protocol = protocol_of(operation.service_model)
    request_dict = create_serializer(protocol).serialize_to_request(params, operation)
    prepare_request_dict(request_dict, endpoint_url="http://127.0.0.1:4566")
    prepared = create_request_object(request_dict).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    request = HttpRequest(
        method=prepared.method,
        path=url.path,
        query_string=url.query,
        headers={k.lower(): v for k, v in prepared.headers.items()},
        body=body,
    )
    path_params = _path_params(operation, url.path) if protocol == "rest-json" else {}
    return request, path_params


def round_trip(operation: OperationModel, params: dict[str, Any]) -> dict[str, Any]:
    request, path_params = to_http(operation, params)
    return parse_request(operation, request, path_params)


TAGS = [{"Key": "team", "Value": "sec ops/=+-@"}, {"Key": "env", "Value": ""}]

CASES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "kms",
        "Encrypt",
        {
            "KeyId": "alias/my-key",
            "Plaintext": b"\x00\x01secret\xff",
            "EncryptionContext": {"purpose": "test", "empty": ""},
            "GrantTokens": ["token-1", "token-2"],
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "DryRun": False,
        },
    ),
    (
        "kms",
        "CreateKey",
        {
            "Policy": '{"Version": "2012-10-17", "Statement": []}',
            "Description": "unicode ✓ description",
            "KeyUsage": "ENCRYPT_DECRYPT",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "Origin": "AWS_KMS",
            "BypassPolicyLockoutSafetyCheck": True,
            "Tags": [{"TagKey": "k", "TagValue": "v"}],
            "MultiRegion": False,
        },
    ),
    ("kms", "ListKeys", {"Limit": 10, "Marker": "next-page"}),
    ("kms", "ListKeys", {}),
    (
        "kms",
        "CreateGrant",
        {
            "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
            "GranteePrincipal": "arn:aws:iam::111122223333:role/app",
            "RetiringPrincipal": "arn:aws:iam::111122223333:role/admin",
            "Operations": ["Encrypt", "Decrypt", "GenerateDataKey"],
            "Constraints": {"EncryptionContextSubset": {"dept": "it"}},
            "GrantTokens": ["gt"],
            "Name": "grant-name",
        },
    ),
    (
        "ssm",
        "PutParameter",
        {
            "Name": "/app/db/password",
            "Description": "db password",
            "Value": "p@ss w0rd&=+%",
            "Type": "SecureString",
            "KeyId": "alias/aws/ssm",
            "Overwrite": True,
            "AllowedPattern": "^[^\\s]+$",
            "Tier": "Standard",
            "DataType": "text",
        },
    ),
    (
        "ssm",
        "GetParametersByPath",
        {
            "Path": "/app",
            "Recursive": True,
            "ParameterFilters": [
                {"Key": "Type", "Option": "Equals", "Values": ["SecureString", "String"]},
                {"Key": "tag:env", "Values": ["prod"]},
            ],
            "WithDecryption": True,
            "MaxResults": 10,
            "NextToken": "tok",
        },
    ),
    (
        "secretsmanager",
        "CreateSecret",
        {
            "Name": "prod/db",
            "ClientRequestToken": "a" * 32,
            "Description": "the db",
            "KmsKeyId": "alias/secrets",
            "SecretBinary": bytes(range(256)),
            "Tags": [{"Key": "k1", "Value": "v1"}, {"Key": "k2", "Value": "v2"}],
            "AddReplicaRegions": [{"Region": "eu-west-1", "KmsKeyId": "alias/x"}],
            "ForceOverwriteReplicaSecret": True,
        },
    ),
    (
        "sts",
        "AssumeRole",
        {
            "RoleArn": "arn:aws:iam::123456789012:role/demo",
            "RoleSessionName": "session-1",
            "PolicyArns": [
                {"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
                {"arn": "arn:aws:iam::aws:policy/SecurityAudit"},
            ],
            "Policy": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}',
            "DurationSeconds": 3600,
            "Tags": TAGS,
            "TransitiveTagKeys": ["team"],
            "ExternalId": "ext-id",
            "SerialNumber": "arn:aws:iam::123456789012:mfa/user",
            "TokenCode": "123456",
            "SourceIdentity": "alice",
        },
    ),
    ("sts", "GetCallerIdentity", {}),
    (
        "iam",
        "CreateUser",
        {
            "Path": "/division/",
            "UserName": "alice",
            "PermissionsBoundary": "arn:aws:iam::aws:policy/PowerUserAccess",
            "Tags": TAGS,
        },
    ),
    (
        "iam",
        "PutUserPolicy",
        {
            "UserName": "alice",
            "PolicyName": "inline",
            "PolicyDocument": orjson.dumps(
                {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "a&b=c+d e"}]}
            ).decode(),
        },
    ),
    ("iam", "TagRole", {"RoleName": "role", "Tags": TAGS}),
    (
        "elbv2",
        "CreateLoadBalancer",
        {
            "Name": "my-lb",
            "Subnets": ["subnet-1", "subnet-2"],
            "SubnetMappings": [{"SubnetId": "subnet-1", "AllocationId": "eipalloc-1"}],
            "SecurityGroups": ["sg-1"],
            "Scheme": "internet-facing",
            "Tags": TAGS,
            "Type": "application",
            "IpAddressType": "ipv4",
        },
    ),
    ("elbv2", "CreateLoadBalancer", {"Name": "no-vpc", "Subnets": [], "SecurityGroups": []}),
    (
        "guardduty",
        "CreateDetector",
        {
            "Enable": True,
            "ClientToken": "token",
            "FindingPublishingFrequency": "FIFTEEN_MINUTES",
            "DataSources": {
                "S3Logs": {"Enable": True},
                "Kubernetes": {"AuditLogs": {"Enable": False}},
            },
            "Tags": {"team": "sec", "env": "prod"},
            "Features": [
                {
                    "Name": "EKS_RUNTIME_MONITORING",
                    "Status": "ENABLED",
                    "AdditionalConfiguration": [
                        {"Name": "EKS_ADDON_MANAGEMENT", "Status": "ENABLED"}
                    ],
                }
            ],
        },
    ),
    (
        "guardduty",
        "ListFindings",
        {
            "DetectorId": "12abc34d567e8fa901bc2d34e56789f0",
            "FindingCriteria": {
                "Criterion": {
                    "severity": {"GreaterThanOrEqual": 4, "Eq": ["8"]},
                    "service.archived": {"Equals": ["false"]},
                }
            },
            "SortCriteria": {"AttributeName": "updatedAt", "OrderBy": "DESC"},
            "MaxResults": 25,
            "NextToken": "n",
        },
    ),
    (
        "guardduty",
        "GetFindings",
        {
            "DetectorId": "12abc34d567e8fa901bc2d34e56789f0",
            "FindingIds": ["f1", "f2"],
            "SortCriteria": {"AttributeName": "severity", "OrderBy": "ASC"},
        },
    ),
    (
        "guardduty",
        "UpdateFilter",
        {
            "DetectorId": "12abc34d567e8fa901bc2d34e56789f0",
            "FilterName": "my filter/with?odd&chars%",
            "Description": "archive low",
            "Action": "ARCHIVE",
            "Rank": 1,
            "FindingCriteria": {"Criterion": {"severity": {"LessThan": 4}}},
        },
    ),
    ("guardduty", "ListDetectors", {"MaxResults": 5, "NextToken": "a b&c"}),
    ("guardduty", "GetDetector", {"DetectorId": "d1"}),
    (
        "cloudtrail",
        "LookupEvents",
        {
            "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "Encrypt"}],
            "StartTime": T0,
            "EndTime": T1,
            "EventCategory": "insight",
            "MaxResults": 50,
            "NextToken": "tok",
        },
    ),
]


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    CASES,
    ids=[f"{s}-{o}-{i}" for i, (s, o, _) in enumerate(CASES)],
)
def test_parse_round_trip(service: str, operation: str, params: dict[str, Any]) -> None:
    op = operation_model(service, operation)
    parsed = round_trip(op, params)
    assert parsed == params
    validate_input(op, parsed)  # real, valid requests must pass AWS's checks too


def test_parse_round_trip_timestamps_are_aware_utc() -> None:
    parsed = round_trip(operation_model("cloudtrail", "LookupEvents"), {"StartTime": T0})
    assert parsed["StartTime"].tzinfo is not None
    assert parsed["StartTime"].utcoffset().total_seconds() == 0


def test_parse_rest_json_uri_decoded_without_router() -> None:
    op = operation_model("guardduty", "UpdateFilter")
    params = {"DetectorId": "d-1", "FilterName": "a b/c%d", "Rank": 3}
    request, _ = to_http(op, params)
    assert request.path == "/detector/d-1/filter/a%20b%2Fc%25d"
    assert parse_request(op, request) == params
    assert uri_params(op, request.path) == {"DetectorId": "d-1", "FilterName": "a%20b%2Fc%25d"}
    assert uri_params(op, "/nope") is None


# --------------------------------------------------------------------------- json errors


def _json_request(body: bytes, target: str = "TrentService.Encrypt") -> HttpRequest:
    headers = {"x-amz-target": target, "content-type": "application/x-amz-json-1.1"}
    return HttpRequest("POST", "/", "", headers, body)


ENCRYPT = operation_model("kms", "Encrypt")


@pytest.mark.parametrize("body", [b"", b"  \n", b"{}", b"null"])
def test_parse_json_empty_body_is_empty_params(body: bytes) -> None:
    assert parse_request(ENCRYPT, _json_request(body)) == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", None),
        (b'{"KeyId": "k"', None),
        (b"[1, 2]", "Start of list found where not expected."),
        (b'"text"', "STRING_VALUE can not be converted to a Structure"),
        (b'{"KeyId": 123}', "NUMBER_VALUE can not be converted to a String"),
        (b'{"KeyId": {"a": 1}}', "Start of structure or map found where not expected."),
        (b'{"KeyId": ["a"]}', "Start of list found where not expected."),
        (b'{"DryRun": "true"}', "STRING_VALUE can not be converted to a Boolean"),
        (b'{"DryRun": 1}', "NUMBER_VALUE can not be converted to a Boolean"),
        (b'{"EncryptionContext": "x"}', "STRING_VALUE can not be converted to a Map"),
        (b'{"EncryptionContext": {"a": 1}}', "NUMBER_VALUE can not be converted to a String"),
        (b'{"GrantTokens": "t"}', "STRING_VALUE can not be converted to a List"),
        (b'{"GrantTokens": [true]}', "VALUE_TRUE can not be converted to a String"),
        (b'{"Plaintext": 5}', "NUMBER_VALUE can not be converted to a Blob"),
        (b'{"Plaintext": "not base64!"}', "Invalid base64 in a blob value."),
        (b'{"Plaintext": "YWJj="}', "Invalid base64 in a blob value."),
        (b'{"Plaintext": "YW"}', "Invalid base64 in a blob value."),
    ],
)
def test_parse_json_errors_are_serialization_errors(body: bytes, message: str | None) -> None:
    with pytest.raises(SerializationError) as info:
        parse_request(ENCRYPT, _json_request(body))
    assert info.value.code == "SerializationException"
    assert info.value.status == 400
    if message is not None:
        assert info.value.message == message


def test_parse_json_integer_and_timestamp_types() -> None:
    list_keys = operation_model("kms", "ListKeys")
    assert parse_request(list_keys, _json_request(b'{"Limit": 5.0}')) == {"Limit": 5}
    for bad in (b'{"Limit": "5"}', b'{"Limit": 5.5}', b'{"Limit": true}'):
        with pytest.raises(SerializationError):
            parse_request(list_keys, _json_request(bad))
    lookup = operation_model("cloudtrail", "LookupEvents")
    expected = datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)
    for raw in (b"1704164645.5", b'"2024-01-02T03:04:05.5Z"', b'"2024-01-02T05:04:05.5+02:00"'):
        parsed = parse_request(lookup, _json_request(b'{"StartTime": ' + raw + b"}"))
        assert parsed == {"StartTime": expected}
    for bad in (b'"yesterday"', b"true", b"1e300"):
        with pytest.raises(SerializationError):
            parse_request(lookup, _json_request(b'{"StartTime": ' + bad + b"}"))


def test_parse_json_ignores_unknown_members_and_nulls() -> None:
    body = b'{"KeyId": "k", "Unknown": {"deep": [1]}, "GrantTokens": null, "DryRun": null}'
    assert parse_request(ENCRYPT, _json_request(body)) == {"KeyId": "k"}


def test_parse_json_keeps_null_list_elements_for_validation() -> None:
    body = b'{"GrantTokens": ["a", null]}'
    assert parse_request(ENCRYPT, _json_request(body)) == {"GrantTokens": ["a", None]}


def test_parse_json_blob_round_trips_all_bytes() -> None:
    data = bytes(range(256)) * 3
    body = orjson.dumps({"Plaintext": base64.b64encode(data).decode()})
    assert parse_request(ENCRYPT, _json_request(body))["Plaintext"] == data


# --------------------------------------------------------------------------- synthetic models


def _service(protocol: str, operations: dict, shapes: dict) -> ServiceModel:
    metadata = {
        "apiVersion": "2020-01-01",
        "endpointPrefix": "synthetic",
        "protocol": protocol,
        "protocols": [protocol],
        "serviceId": "Synthetic",
        "signatureVersion": "v4",
        "jsonVersion": "1.1",
        "targetPrefix": "Synthetic",
    }
    return ServiceModel(
        {"metadata": metadata, "operations": operations, "shapes": shapes},
        service_name="synthetic",
    )


JSON_SHAPES = {
    "In": {
        "type": "structure",
        "members": {
            "Node": {"shape": "Node"},
            "Doc": {"shape": "Doc"},
            "Ratio": {"shape": "Double"},
            "When": {"shape": "Stamp"},
            "Renamed": {"shape": "String", "locationName": "wireName"},
            "Big": {"shape": "Long"},
        },
    },
    "Node": {
        "type": "structure",
        "members": {
            "Name": {"shape": "String"},
            "Children": {"shape": "NodeList"},
            "ByName": {"shape": "NodeMap"},
        },
    },
    "NodeList": {"type": "list", "member": {"shape": "Node"}},
    "NodeMap": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "Node"}},
    "Doc": {"type": "structure", "members": {}, "document": True},
    "Double": {"type": "double"},
    "Long": {"type": "long"},
    "Stamp": {"type": "timestamp"},
    "String": {"type": "string"},
}
JSON_SERVICE = _service(
    "json",
    {"Op": {"name": "Op", "http": {"method": "POST", "requestUri": "/"}, "input": {"shape": "In"}}},
    JSON_SHAPES,
)


def test_parse_json_recursive_document_and_special_floats() -> None:
    op = JSON_SERVICE.operation_model("Op")
    params = {
        "Node": {
            "Name": "root",
            "Children": [{"Name": "a", "Children": [{"Name": "a1"}]}],
            "ByName": {"b": {"Name": "b", "ByName": {"c": {"Name": "c"}}}},
        },
        "Doc": {"any": [1, "two", {"three": None}], "n": 1.5},
        "Ratio": 0.25,
        "When": T0,
        "Renamed": "x",
        "Big": 2**53,
    }
    assert round_trip(op, params) == params
    request, _ = to_http(op, {"Renamed": "x"})
    assert orjson.loads(request.body) == {"wireName": "x"}
    parsed = parse_request(op, _json_request(b'{"Ratio": "-Infinity"}'))
    assert parsed["Ratio"] == float("-inf")
    nan = parse_request(op, _json_request(b'{"Ratio": "NaN"}'))["Ratio"]
    assert nan != nan


REST_SHAPES = {
    "In": {
        "type": "structure",
        "required": ["Bucket", "Key"],
        "members": {
            "Bucket": {"shape": "String", "location": "uri", "locationName": "Bucket"},
            "Key": {"shape": "String", "location": "uri", "locationName": "Key"},
            "Count": {"shape": "Integer", "location": "querystring", "locationName": "count"},
            "Flag": {"shape": "Boolean", "location": "querystring", "locationName": "flag"},
            "Since": {"shape": "Stamp", "location": "querystring", "locationName": "since"},
            "Ids": {"shape": "StringList", "location": "querystring", "locationName": "id"},
            "Extra": {"shape": "QueryMap", "location": "querystring"},
            "Token": {"shape": "String", "location": "header", "locationName": "X-Token"},
            "Size": {"shape": "Long", "location": "header", "locationName": "X-Size"},
            "Enabled": {"shape": "Boolean", "location": "header", "locationName": "X-Enabled"},
            "Modified": {"shape": "Stamp", "location": "header", "locationName": "X-Modified"},
            "Names": {"shape": "StringList", "location": "header", "locationName": "X-Names"},
            "Dates": {"shape": "StampList", "location": "header", "locationName": "X-Dates"},
            "Attrs": {"shape": "JsonHeader", "location": "header", "locationName": "X-Attrs"},
            "Meta": {"shape": "HeaderMap", "location": "headers", "locationName": "x-meta-"},
            "Data": {"shape": "Blob"},
        },
        "payload": "Data",
    },
    "JsonIn": {
        "type": "structure",
        "members": {
            "Id": {"shape": "Integer", "location": "uri", "locationName": "id"},
            "Config": {"shape": "Config"},
        },
        "payload": "Config",
    },
    "Config": {
        "type": "structure",
        "members": {
            "Name": {"shape": "String", "locationName": "name"},
            "Created": {"shape": "Stamp", "locationName": "created"},
        },
    },
    "QueryMap": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "String"}},
    "HeaderMap": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "String"}},
    "StringList": {"type": "list", "member": {"shape": "String"}},
    "StampList": {"type": "list", "member": {"shape": "Stamp"}},
    "JsonHeader": {"type": "string", "jsonvalue": True},
    "Blob": {"type": "blob"},
    "Boolean": {"type": "boolean"},
    "Integer": {"type": "integer"},
    "Long": {"type": "long"},
    "Stamp": {"type": "timestamp"},
    "String": {"type": "string"},
}
REST_SERVICE = _service(
    "rest-json",
    {
        "Put": {
            "name": "Put",
            "http": {"method": "PUT", "requestUri": "/{Bucket}/{Key+}"},
            "input": {"shape": "In"},
        },
        "Configure": {
            "name": "Configure",
            "http": {"method": "POST", "requestUri": "/config/{id}?configure"},
            "input": {"shape": "JsonIn"},
        },
    },
    REST_SHAPES,
)


def test_parse_rest_json_every_location() -> None:
    op = REST_SERVICE.operation_model("Put")
    params = {
        "Bucket": "my bucket",
        "Key": "dir/sub dir/file+name.txt",
        "Count": 3,
        "Flag": False,
        "Since": T0,
        "Ids": ["a", "b,c", "d e"],
        "Extra": {"color": "blue", "shape": "round"},
        "Token": "tok",
        "Size": 2**40,
        "Enabled": True,
        "Modified": T1,
        "Names": ["plain", 'with "quotes", and comma', "x"],
        "Dates": [T0, T1],
        "Attrs": {"nested": [1, 2, {"k": "v"}]},
        "Meta": {"owner": "alice", "team": "sec"},
        "Data": b"\x00raw payload\xff",
    }
    request, path_params = to_http(op, params)
    assert path_params == {"Bucket": "my%20bucket", "Key": "dir/sub%20dir/file%2Bname.txt"}
    assert parse_request(op, request, path_params) == params
    assert parse_request(op, request, {"Bucket": "my%20bucket", "Key+": path_params["Key"]}) == (
        params
    )
    assert parse_request(op, request) == params


def test_parse_rest_json_structure_payload_and_static_query() -> None:
    op = REST_SERVICE.operation_model("Configure")
    params = {"Id": 7, "Config": {"Name": "n", "Created": T0}}
    request, path_params = to_http(op, params)
    assert orjson.loads(request.body) == {"name": "n", "created": int(T0.timestamp())}
    assert parse_request(op, request, path_params) == params


@pytest.mark.parametrize(
    ("query", "headers", "fragment"),
    [
        ("count=abc", {}, "query parameter 'count': expected an integer"),
        ("flag=yes", {}, "query parameter 'flag': expected a boolean"),
        ("since=someday", {}, "query parameter 'since': expected a timestamp"),
        ("", {"x-size": "big"}, "header parameter 'x-size': expected an integer"),
        ("", {"x-attrs": "!!"}, "header parameter 'x-attrs': expected base64-encoded JSON"),
    ],
)
def test_parse_rest_json_bad_values(query: str, headers: dict, fragment: str) -> None:
    op = REST_SERVICE.operation_model("Put")
    request = HttpRequest("PUT", "/b/k", query, headers, b"")
    with pytest.raises(SerializationError) as info:
        parse_request(op, request, {"Bucket": "b", "Key": "k"})
    assert fragment in info.value.message


def test_parse_rest_json_bad_uri_value_and_bad_body() -> None:
    op = REST_SERVICE.operation_model("Configure")
    with pytest.raises(SerializationError, match="path parameter 'id'"):
        parse_request(op, HttpRequest("POST", "/config/x", "configure", {}, b""), {"id": "x"})
    with pytest.raises(SerializationError):
        parse_request(op, HttpRequest("POST", "/config/1", "configure", {}, b"{"), {"id": "1"})
    detectors = operation_model("guardduty", "CreateDetector")
    with pytest.raises(SerializationError, match="Boolean"):
        parse_request(detectors, HttpRequest("POST", "/detector", "", {}, b'{"enable": "no"}'))


QUERY_SHAPES = {
    "In": {
        "type": "structure",
        "members": {
            "Flat": {"shape": "FlatList"},
            "FlatNamed": {"shape": "FlatNamedList"},
            "Named": {"shape": "NamedList"},
            "Attrs": {"shape": "AttrMap"},
            "FlatAttrs": {"shape": "FlatMap"},
            "Outer": {"shape": "Outer"},
            "Renamed": {"shape": "String", "locationName": "WireName"},
            "Ratio": {"shape": "Double"},
            "Blob": {"shape": "Blob"},
            "When": {"shape": "Stamp"},
            "On": {"shape": "Boolean"},
            "Count": {"shape": "Integer"},
            "Matrix": {"shape": "Matrix"},
        },
    },
    "FlatList": {"type": "list", "member": {"shape": "String"}, "flattened": True},
    "FlatNamedList": {
        "type": "list",
        "member": {"shape": "String", "locationName": "Item"},
        "flattened": True,
    },
    "NamedList": {"type": "list", "member": {"shape": "Outer", "locationName": "Entry"}},
    "AttrMap": {
        "type": "map",
        "key": {"shape": "String", "locationName": "Name"},
        "value": {"shape": "String", "locationName": "Val"},
    },
    "FlatMap": {
        "type": "map",
        "key": {"shape": "String"},
        "value": {"shape": "Integer"},
        "flattened": True,
    },
    "Outer": {
        "type": "structure",
        "members": {"Inner": {"shape": "Inner"}, "Label": {"shape": "String"}},
    },
    "Inner": {"type": "structure", "members": {"Deep": {"shape": "Integer"}}},
    "Matrix": {"type": "list", "member": {"shape": "Row"}},
    "Row": {"type": "list", "member": {"shape": "Integer"}},
    "Blob": {"type": "blob"},
    "Boolean": {"type": "boolean"},
    "Double": {"type": "double"},
    "Integer": {"type": "integer"},
    "Stamp": {"type": "timestamp"},
    "String": {"type": "string"},
}
QUERY_SERVICE = _service(
    "query",
    {"Op": {"name": "Op", "http": {"method": "POST", "requestUri": "/"}, "input": {"shape": "In"}}},
    QUERY_SHAPES,
)


def test_parse_query_flattened_named_and_nested() -> None:
    op = QUERY_SERVICE.operation_model("Op")
    params = {
        "Flat": [f"f{i}" for i in range(12)],
        "FlatNamed": ["x", "y"],
        "Named": [{"Label": "a", "Inner": {"Deep": 1}}, {"Label": "b"}],
        "Attrs": {"k1": "v1", "k 2": "v&2"},
        "FlatAttrs": {"one": 1, "two": 2},
        "Outer": {"Inner": {"Deep": -5}, "Label": "o"},
        "Renamed": "r",
        "Ratio": 1.5,
        "Blob": b"\x01\x02",
        "When": T0,
        "On": False,
        "Count": 0,
        "Matrix": [[1, 2], [3]],
    }
    request, _ = to_http(op, params)
    body = request.body.decode()
    assert "Flat.10=f9" in body and "Item.2=y" in body and "Named.Entry.1.Label=a" in body
    assert "Attrs.entry.1.Name=k1" in body and "FlatAttrs.1.key=one" in body
    assert "WireName=r" in body
    assert parse_request(op, request) == params


def test_parse_query_get_and_ignores_action_version_unknown() -> None:
    op = operation_model("sts", "AssumeRole")
    query = (
        "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr"
        "&RoleSessionName=s&Unknown=1&Tags.member.2.Key=b&Tags.member.1.Key=a"
        "&Tags.member.1.Value=&DurationSeconds=900"
    )
    parsed = parse_request(op, HttpRequest("GET", "/", query, {}, b""))
    assert parsed == {
        "RoleArn": "arn:aws:iam::1:role/r",
        "RoleSessionName": "s",
        "Tags": [{"Key": "a", "Value": ""}, {"Key": "b"}],
        "DurationSeconds": 900,
    }


def test_parse_query_bad_integer_in_real_model() -> None:
    op = operation_model("sts", "AssumeRole")
    request = HttpRequest("POST", "/", "", {}, b"Action=AssumeRole&DurationSeconds=abc")
    with pytest.raises(ValidationError) as info:
        parse_request(op, request)
    assert info.value.message == (
        "Invalid value 'abc' for parameter DurationSeconds: expected an integer."
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Count=1.5", "Invalid value '1.5' for parameter Count: expected an integer."),
        ("On=maybe", "Invalid value 'maybe' for parameter On: expected a boolean (true or false)."),
        ("Ratio=x", "Invalid value 'x' for parameter Ratio: expected a number."),
        ("When=later", "Invalid value 'later' for parameter When: expected an ISO-8601 timestamp."),
        ("Blob=%21%21", "Invalid value for parameter Blob: expected base64-encoded data."),
        (
            "Named.Entry.1.Inner.Deep=x",
            "Invalid value 'x' for parameter Named.Entry.1.Inner.Deep: expected an integer.",
        ),
        (
            "Matrix.member.1.member.2=z",
            "Invalid value 'z' for parameter Matrix.member.1.member.2: expected an integer.",
        ),
        (
            "FlatAttrs.1.key=a&FlatAttrs.1.value=b",
            "Invalid value 'b' for parameter FlatAttrs.1.value: expected an integer.",
        ),
        (
            "Flat.3=a&Matrix.member.5.member.1=1&Matrix.member.9.member.7=q",
            "Invalid value 'q' for parameter Matrix.member.9.member.7: expected an integer.",
        ),
        (
            "Outer=x",
            "Invalid value for parameter Outer: expected nested parameters, found a value.",
        ),
    ],
)
def test_parse_query_bad_values_are_validation_errors(body: str, message: str) -> None:
    op = QUERY_SERVICE.operation_model("Op")
    request = HttpRequest("POST", "/", "", {}, f"Action=Op&Version=1&{body}".encode())
    with pytest.raises(ValidationError) as info:
        parse_request(op, request)
    assert info.value.message == message


def test_parse_timestamp_formats() -> None:
    assert parse_timestamp("1704164645") == T0
    assert parse_timestamp("2024-01-02T03:04:05Z") == T0
    assert parse_timestamp("2024-01-02T03:04:05") == T0
    assert parse_timestamp("Tue, 02 Jan 2024 03:04:05 GMT") == T0
    with pytest.raises(ValueError):
        parse_timestamp("nope")


def test_parse_caches_compiled_parsers() -> None:
    from bastion.protocol import parse as module

    op = operation_model("kms", "ListKeys")
    parse_request(op, _json_request(b"{}"))
    compiled = module._PARSERS[op]
    parse_request(op, _json_request(b'{"Limit": 1}'))
    assert module._PARSERS[op] is compiled
    assert load_service_model("kms").operation_model("ListKeys") is op
