"""AWS-style input validation: exact messages for every constraint kind."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.model import OperationModel, ServiceModel

from bastion.errors import ValidationError
from bastion.protocol.models import load_service_model, operation_model
from bastion.protocol.validate import compile_java_pattern, validate_input

SHAPES = {
    "In": {
        "type": "structure",
        "required": ["Name", "Count"],
        "members": {
            "Name": {"shape": "Name"},
            "Count": {"shape": "Count"},
            "Ratio": {"shape": "Ratio"},
            "Color": {"shape": "Color"},
            "Secret": {"shape": "Secret"},
            "Data": {"shape": "Data"},
            "Items": {"shape": "Items"},
            "Labels": {"shape": "Labels"},
            "Outer": {"shape": "Outer"},
            "Creds": {"shape": "Creds"},
            "Tokens": {"shape": "Tokens"},
            "Free": {"shape": "Free"},
            "Node": {"shape": "Node"},
            "Odd": {"shape": "Odd"},
            "Vault": {"shape": "Vault"},
        },
    },
    "Name": {"type": "string", "min": 1, "max": 8, "pattern": "^[a-z]+$"},
    "Count": {"type": "integer", "min": 1, "max": 1000},
    "Ratio": {"type": "double", "min": 0.5, "max": 2.0},
    "Color": {"type": "string", "enum": ["RED", "GREEN"]},
    "Secret": {"type": "string", "min": 4, "sensitive": True},
    "Data": {"type": "blob", "max": 4},
    "Items": {"type": "list", "member": {"shape": "Item"}, "min": 1, "max": 3},
    "Item": {"type": "structure", "required": ["Key"], "members": {"Key": {"shape": "Key"}}},
    "Key": {"type": "string", "max": 3},
    "Labels": {
        "type": "map",
        "key": {"shape": "LabelKey"},
        "value": {"shape": "Key"},
        "max": 2,
    },
    "LabelKey": {"type": "string", "pattern": "^[a-z]+$"},
    "Outer": {"type": "structure", "members": {"Inner": {"shape": "Inner"}}},
    "Inner": {"type": "structure", "required": ["Deep"], "members": {"Deep": {"shape": "Count"}}},
    "Creds": {"type": "list", "member": {"shape": "Cred"}, "max": 1},
    "Cred": {
        "type": "structure",
        "members": {"User": {"shape": "Free"}, "Password": {"shape": "Password"}},
    },
    "Password": {"type": "string", "max": 4, "sensitive": True},
    "Tokens": {"type": "list", "member": {"shape": "Free"}},
    "Free": {"type": "string"},
    "Node": {
        "type": "structure",
        "members": {"Name": {"shape": "Key"}, "Children": {"shape": "Nodes"}},
    },
    "Nodes": {"type": "list", "member": {"shape": "Node"}},
    "Odd": {"type": "string", "pattern": "[a-z&&[^b]]+"},
    "Vault": {"type": "map", "key": {"shape": "Free"}, "value": {"shape": "Password"}},
}
SERVICE = ServiceModel(
    {
        "metadata": {
            "apiVersion": "2020-01-01",
            "endpointPrefix": "synthetic",
            "protocol": "json",
            "jsonVersion": "1.1",
            "serviceId": "Synthetic",
            "signatureVersion": "v4",
            "targetPrefix": "Synthetic",
        },
        "operations": {
            "Op": {
                "name": "Op",
                "http": {"method": "POST", "requestUri": "/"},
                "input": {"shape": "In"},
            }
        },
        "shapes": SHAPES,
    },
    service_name="synthetic",
)
OP = SERVICE.operation_model("Op")
BASE: dict[str, Any] = {"Name": "abc", "Count": 5}


def errors_of(operation: OperationModel, params: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        validate_input(operation, params)
    assert info.value.code == "ValidationException"
    assert info.value.status == 400
    return info.value.message


def one(text: str) -> str:
    return f"1 validation error detected: {text}"


def test_validate_accepts_valid_input() -> None:
    validate_input(
        OP,
        {
            **BASE,
            "Ratio": 0.5,
            "Color": "RED",
            "Secret": "long enough",
            "Data": b"1234",
            "Items": [{"Key": "a"}, {"Key": "abc"}],
            "Labels": {"a": "x", "b": "yyy"},
            "Outer": {"Inner": {"Deep": 1000}},
            "Creds": [{"User": "u", "Password": "pw"}],
            "Tokens": ["t"],
            "Node": {"Name": "n", "Children": [{"Name": "c", "Children": []}]},
            "Odd": "anything: the pattern is untranslatable so it is skipped",
            "Vault": {"k": "pw"},
            "NotInModel": object(),
        },
    )


def test_validate_required_members_aggregated() -> None:
    assert errors_of(OP, {}) == (
        "2 validation errors detected: "
        "Value null at 'name' failed to satisfy constraint: Member must not be null; "
        "Value null at 'count' failed to satisfy constraint: Member must not be null"
    )
    assert errors_of(OP, {"Name": None, "Count": 1}) == one(
        "Value null at 'name' failed to satisfy constraint: Member must not be null"
    )


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"Name": "abcdefghi"},
            [
                "Value 'abcdefghi' at 'name' failed to satisfy constraint: "
                "Member must have length less than or equal to 8"
            ],
        ),
        (
            {"Name": ""},
            [
                "Value '' at 'name' failed to satisfy constraint: "
                "Member must have length greater than or equal to 1",
                "Value '' at 'name' failed to satisfy constraint: "
                "Member must satisfy regular expression pattern: ^[a-z]+$",
            ],
        ),
        (
            {"Name": "ABC"},
            [
                "Value 'ABC' at 'name' failed to satisfy constraint: "
                "Member must satisfy regular expression pattern: ^[a-z]+$"
            ],
        ),
        (
            {"Count": 0},
            [
                "Value '0' at 'count' failed to satisfy constraint: "
                "Member must have value greater than or equal to 1"
            ],
        ),
        (
            {"Count": 1001},
            [
                "Value '1001' at 'count' failed to satisfy constraint: "
                "Member must have value less than or equal to 1000"
            ],
        ),
        (
            {"Ratio": 2.5},
            [
                "Value '2.5' at 'ratio' failed to satisfy constraint: "
                "Member must have value less than or equal to 2"
            ],
        ),
        (
            {"Color": "BLUE"},
            [
                "Value 'BLUE' at 'color' failed to satisfy constraint: "
                "Member must satisfy enum value set: [RED, GREEN]"
            ],
        ),
        (
            {"Data": b"12345"},
            [
                "Value 'java.nio.HeapByteBuffer[pos=0 lim=5 cap=5]' at 'data' failed to "
                "satisfy constraint: Member must have length less than or equal to 4"
            ],
        ),
        (
            {"Items": []},
            [
                "Value '[]' at 'items' failed to satisfy constraint: "
                "Member must have length greater than or equal to 1"
            ],
        ),
        (
            {"Items": [{"Key": "a"}, {"Key": "b"}, {"Key": "c"}, {"Key": "d"}]},
            [
                "Value '[{key=a}, {key=b}, {key=c}, {key=d}]' at 'items' failed to satisfy "
                "constraint: Member must have length less than or equal to 3"
            ],
        ),
        (
            {"Items": [{"Key": "a"}, {"Key": "long"}]},
            [
                "Value 'long' at 'items.2.member.key' failed to satisfy constraint: "
                "Member must have length less than or equal to 3"
            ],
        ),
        (
            {"Items": [{}]},
            [
                "Value null at 'items.1.member.key' failed to satisfy constraint: "
                "Member must not be null"
            ],
        ),
        (
            {"Tokens": ["a", None]},
            [
                "Value null at 'tokens.2.member' failed to satisfy constraint: "
                "Member must not be null"
            ],
        ),
        (
            {"Outer": {"Inner": {}}},
            [
                "Value null at 'outer.inner.deep' failed to satisfy constraint: "
                "Member must not be null"
            ],
        ),
        (
            {"Outer": {"Inner": {"Deep": 0}}},
            [
                "Value '0' at 'outer.inner.deep' failed to satisfy constraint: "
                "Member must have value greater than or equal to 1"
            ],
        ),
        (
            {"Labels": {"BAD": "v"}},
            [
                "Value '{BAD=v}' at 'labels' failed to satisfy constraint: Map keys must "
                "satisfy constraint: [Member must satisfy regular expression pattern: ^[a-z]+$]"
            ],
        ),
        (
            {"Labels": {"ok": "long"}},
            [
                "Value '{ok=long}' at 'labels' failed to satisfy constraint: Map value must "
                "satisfy constraint: [Member must have length less than or equal to 3]"
            ],
        ),
        (
            {"Labels": {"a": "1", "b": "2", "c": "3"}},
            [
                "Value '{a=1, b=2, c=3}' at 'labels' failed to satisfy constraint: "
                "Member must have length less than or equal to 2"
            ],
        ),
        (
            {"Node": {"Children": [{"Children": [{"Name": "toolong"}]}]}},
            [
                "Value 'toolong' at 'node.children.1.member.children.1.member.name' failed "
                "to satisfy constraint: Member must have length less than or equal to 3"
            ],
        ),
    ],
)
def test_validate_constraint_messages(extra: dict[str, Any], expected: list[str]) -> None:
    count = len(expected)
    head = f"{count} validation error{'s' if count > 1 else ''} detected: "
    assert errors_of(OP, {**BASE, **extra}) == head + "; ".join(expected)


def test_validate_sensitive_values_are_not_echoed() -> None:
    message = errors_of(OP, {**BASE, "Secret": "hid"})
    assert message == one(
        "Value at 'secret' failed to satisfy constraint: "
        "Member must have length greater than or equal to 4"
    )
    message = errors_of(OP, {**BASE, "Creds": [{"User": "u", "Password": "p4ss"}, {"User": "v"}]})
    assert message == one(
        "Value '[{user=u, password=***}, {user=v}]' at 'creds' failed to satisfy constraint: "
        "Member must have length less than or equal to 1"
    )
    message = errors_of(OP, {**BASE, "Creds": [{"Password": "topsecret"}]})
    assert message == one(
        "Value at 'creds.1.member.password' failed to satisfy constraint: "
        "Member must have length less than or equal to 4"
    )
    message = errors_of(OP, {**BASE, "Vault": {"k": "topsecret"}})
    assert "topsecret" not in message
    assert message == one(
        "Value at 'vault' failed to satisfy constraint: Map value must satisfy constraint: "
        "[Member must have length less than or equal to 4]"
    )


def test_validate_aggregates_everything_in_model_order() -> None:
    message = errors_of(
        OP, {"Count": 0, "Color": "BLUE", "Items": [{"Key": "long"}], "Secret": "x"}
    )
    assert message == (
        "5 validation errors detected: "
        "Value null at 'name' failed to satisfy constraint: Member must not be null; "
        "Value '0' at 'count' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1; "
        "Value 'BLUE' at 'color' failed to satisfy constraint: "
        "Member must satisfy enum value set: [RED, GREEN]; "
        "Value at 'secret' failed to satisfy constraint: "
        "Member must have length greater than or equal to 4; "
        "Value 'long' at 'items.1.member.key' failed to satisfy constraint: "
        "Member must have length less than or equal to 3"
    )


def test_validate_ignores_types_it_does_not_own() -> None:
    # Type errors are the parser's; validation must never crash on them.
    validate_input(OP, {**BASE, "Items": "nope", "Labels": [1], "Data": "str", "Count": True})


# --------------------------------------------------------------------------- real models


def test_validate_kms_messages() -> None:
    encrypt = operation_model("kms", "Encrypt")
    assert errors_of(encrypt, {}) == (
        "2 validation errors detected: "
        "Value null at 'keyId' failed to satisfy constraint: Member must not be null; "
        "Value null at 'plaintext' failed to satisfy constraint: Member must not be null"
    )
    long_id = "k" * 2049
    assert errors_of(encrypt, {"KeyId": long_id, "Plaintext": b"x"}) == one(
        f"Value '{long_id}' at 'keyId' failed to satisfy constraint: "
        "Member must have length less than or equal to 2048"
    )
    assert errors_of(encrypt, {"KeyId": "k", "Plaintext": b""}) == one(
        "Value at 'plaintext' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )
    tokens = [f"t{i}" for i in range(11)]
    assert errors_of(encrypt, {"KeyId": "k", "Plaintext": b"x", "GrantTokens": tokens}) == one(
        f"Value '[{', '.join(tokens)}]' at 'grantTokens' failed to satisfy constraint: "
        "Member must have length less than or equal to 10"
    )
    assert errors_of(encrypt, {"KeyId": "k", "Plaintext": b"x", "GrantTokens": [""]}) == one(
        "Value '' at 'grantTokens.1.member' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )
    list_keys = operation_model("kms", "ListKeys")
    assert errors_of(list_keys, {"Limit": 1001}) == one(
        "Value '1001' at 'limit' failed to satisfy constraint: "
        "Member must have value less than or equal to 1000"
    )
    alias = operation_model("kms", "CreateAlias")
    assert errors_of(alias, {"AliasName": "alias/bad name", "TargetKeyId": "k"}) == one(
        "Value 'alias/bad name' at 'aliasName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
    )
    validate_input(encrypt, {"KeyId": "k", "Plaintext": b"x", "EncryptionAlgorithm": "SM2PKE"})
    message = errors_of(encrypt, {"KeyId": "k", "Plaintext": b"x", "EncryptionAlgorithm": "AES"})
    assert message.startswith(
        "1 validation error detected: Value 'AES' at 'encryptionAlgorithm' failed to satisfy "
        "constraint: Member must satisfy enum value set: [SYMMETRIC_DEFAULT, "
    )


def test_validate_unicode_tag_patterns() -> None:
    assume = operation_model("sts", "AssumeRole")
    base = {"RoleArn": "arn:aws:iam::123456789012:role/demo", "RoleSessionName": "s1"}
    validate_input(assume, {**base, "Tags": [{"Key": "Kostenstelle äöü 数字 ١٢", "Value": ""}]})
    assert errors_of(assume, {**base, "Tags": [{"Key": "bad!", "Value": "ok"}]}) == one(
        "Value 'bad!' at 'tags.1.member.key' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+"
    )
    assert errors_of(assume, {**base, "DurationSeconds": 60}) == one(
        "Value '60' at 'durationSeconds' failed to satisfy constraint: "
        "Member must have value greater than or equal to 900"
    )


def test_validate_secret_and_nested_structures() -> None:
    create = operation_model("secretsmanager", "CreateSecret")
    secret = "s" * 65537
    message = errors_of(create, {"Name": "n", "SecretString": secret})
    assert secret not in message
    assert message == one(
        "Value at 'secretString' failed to satisfy constraint: "
        "Member must have length less than or equal to 65536"
    )
    detector = operation_model("guardduty", "CreateDetector")
    assert errors_of(detector, {"Enable": True, "DataSources": {"S3Logs": {}}}) == one(
        "Value null at 'dataSources.s3Logs.enable' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_validate_operation_without_input() -> None:
    validate_input(operation_model("sts", "GetCallerIdentity"), {})


def test_validate_caches_compiled_checks() -> None:
    from bastion.protocol import validate as module

    op = operation_model("kms", "ListKeys")
    validate_input(op, {})
    compiled = module._CHECKS[op]
    validate_input(op, {"Limit": 5})
    assert module._CHECKS[op] is compiled


# --------------------------------------------------------------------------- Java patterns


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+", ["héllo wörld 12", "数字", "a_b"], ["a!b", "", "a\tb"]),
        (r"\p{Lu}\p{Ll}*", ["Ab", "Éa"], ["ab", "AB"]),
        (r"[\P{C}\s]+", ["ab c\n", "✓"], ["a\x01", "a\u200b"]),
        (r"\P{L}+", ["123 !"], ["a1"]),
        (r"[\P{M}\p{M}]{1,3}", ["abc", "e\u0301"], ["abcd"]),
        (r"\p{Print}+", ["a b~"], ["é", "a\tb"]),
        (r"[\p{Alnum}_]+", ["a_1"], ["a-1", "é"]),
        (r"\p{XDigit}{4}", ["0aF9"], ["0aG9"]),
        (r"\p{IsAlphabetic}+", ["abcé"], ["a1"]),
        (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", ["a\U0001f600\t"], ["\x01"]),
        (r"[\u0009\u000A\u000D\u0020-\u00FF]+", ["a\tb\xff"], ["\u0100"]),
        (r"[\w-_]*", ["a-b_c"], ["a b"]),
        (r"[\s-_()\[\]]+", ["_ -()[]"], ["a"]),
        (r"[\p{L}||\p{N}]+", ["a|1"], ["a-"]),
        (r"[\w]+", ["abc_1"], ["é"]),
        (r"^(?i)(true|false)$", ["TRUE", "false"], ["yes"]),
        (r"(a(?i)b)c", ["aBc", "abc"], ["aBC", "Abc"]),
        (r"\A\d+\z", ["123"], ["12a"]),
        (r"([\w!$&()*+,./:;=?@\x{60}-]|%[\dA-Fa-f]{2})+", ["a`b%2F"], ["a b"]),
        (r"\Qa.b\E+", ["a.bbb"], ["axb"]),
        (r"[0-9]+h", ["12h"], ["12hx", "x12h"]),
    ],
)
def test_validate_java_patterns_translate(pattern: str, good: list[str], bad: list[str]) -> None:
    compiled = compile_java_pattern(pattern)
    assert compiled is not None, pattern
    for value in good:
        assert compiled.fullmatch(value), (pattern, value)
    for value in bad:
        assert not compiled.fullmatch(value), (pattern, value)


@pytest.mark.parametrize(
    "pattern",
    [r"[\p{Print}&&[^|:/]]+", r"[a[b]]", r"^(\p{LD}|\p{Punct}| )+$", r"\p{NoSuchClass}", "a{2}{3}"],
)
def test_validate_untranslatable_patterns_are_skipped(pattern: str) -> None:
    assert compile_java_pattern(pattern) is None


def test_validate_every_botocore_pattern_of_bastion_services_compiles() -> None:
    services = ["kms", "ssm", "secretsmanager", "sts", "iam", "cloudtrail", "guardduty"]
    services += ["elbv2", "wafv2", "fms", "shield", "events", "cloudhsmv2", "logs"]
    for service in services:
        model = load_service_model(service)
        for name in model.shape_names:
            pattern = model.shape_for(name).metadata.get("pattern")
            if pattern is not None:
                assert compile_java_pattern(pattern) is not None, (service, name, pattern)
