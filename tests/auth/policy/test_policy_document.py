"""Policy documents: write-time validation with IAM's MalformedPolicyDocument messages."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from bastion.auth.policy import MalformedPolicyError, Policy, parse_policy, policy_size

ACCT = "111122223333"
SYNTAX = "Syntax errors in policy."
LEGACY = "The policy failed legacy parsing"


def doc(*statements: dict[str, Any], version: str | None = "2012-10-17", **top: Any) -> str:
    body: dict[str, Any] = {}
    if version is not None:
        body["Version"] = version
    body.update(top)
    body["Statement"] = list(statements)
    return json.dumps(body)


OK = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}


def principal(p: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": p, "Action": "kms:*", "Resource": "*"}


def error(text: str, **kwargs: Any) -> MalformedPolicyError:
    with pytest.raises(MalformedPolicyError) as info:
        parse_policy(text, **kwargs)
    return info.value


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("{not json", {}, SYNTAX),
        ("", {}, SYNTAX),
        ("null", {}, SYNTAX),
        ("[]", {}, SYNTAX),
        ('{"Version": "2012-10-17", "Version": "2008-10-17", "Statement": []}', {}, SYNTAX),
        (
            '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":NaN}}',
            {},
            SYNTAX,
        ),
        (doc(OK, version="2012-10-18"), {}, LEGACY),
        (doc(OK, version="2012-10-17 "), {}, LEGACY),
        (
            doc(OK, version=None),
            {"managed": True},
            "Policy document must be version 2012-10-17 or greater.",
        ),
        (
            doc(OK, version="2008-10-17"),
            {"managed": True},
            "Policy document must be version 2012-10-17 or greater.",
        ),
        (doc(OK, Extra=1), {}, SYNTAX),
        ('{"Version": "2012-10-17"}', {}, SYNTAX),
        ('{"Version": "2012-10-17", "Statement": []}', {}, SYNTAX),
        ('{"Version": "2012-10-17", "Statement": "x"}', {}, SYNTAX),
        (doc({**OK, "Actions": "s3:*"}), {}, SYNTAX),
        (doc({"Action": "s3:*", "Resource": "*"}), {}, "Missing required field Effect"),
        (doc({**OK, "Effect": "allow"}), {}, LEGACY),
        (doc({**OK, "Effect": "Permit"}), {}, LEGACY),
        (doc(principal("*")), {}, "Policy document should not specify a principal."),
        (
            doc(principal("*")),
            {"kind": "boundary"},
            "Policy document should not specify a principal.",
        ),
        (
            doc(principal("*")),
            {"kind": "session"},
            "Policy document should not specify a principal.",
        ),
        (doc(OK), {"kind": "resource"}, "Missing required field Principal"),
        (
            doc({"Effect": "Allow", "Action": "sts:AssumeRole"}),
            {"kind": "trust"},
            "Missing required field Principal",
        ),
        (
            doc({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole", "Resource": "*"}),
            {"kind": "trust"},
            "Has prohibited field Resource",
        ),
        (doc({"Effect": "Allow", "Resource": "*"}), {}, "Policy statement must contain actions."),
        (doc({**OK, "Action": []}), {}, "Policy statement must contain actions."),
        (
            doc({**OK, "Action": "GetObject"}),
            {},
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        ),
        (
            doc({**OK, "Action": ":GetObject"}),
            {},
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        ),
        (
            doc({**OK, "Action": "s3:Get:Object"}),
            {},
            "Actions/Condition can contain only one colon.",
        ),
        (doc({**OK, "Action": 7}), {}, SYNTAX),
        (doc({**OK, "Action": ["s3:GetObject", None]}), {}, SYNTAX),
        (doc({**OK, "NotAction": "iam:*"}), {}, SYNTAX),
        (
            doc({"Effect": "Allow", "Action": "s3:*"}),
            {},
            "Policy statement must contain resources.",
        ),
        (doc({**OK, "Resource": []}), {}, "Policy statement must contain resources."),
        (doc({**OK, "Resource": "bucket"}), {}, 'Resource bucket must be in ARN format or "*".'),
        (doc({**OK, "NotResource": "arn:aws:s3:::x"}), {}, SYNTAX),
        (
            doc({**OK, "Sid": "A"}, {**OK, "Sid": "A"}),
            {},
            "Statement IDs (SID) in a single policy must be unique.",
        ),
        (
            doc({**OK, "Sid": "has space"}),
            {},
            "Statement IDs (SID) must be alpha-numeric. "
            "Check that your input satisfies the regular expression [0-9A-Za-z]*",
        ),
        (doc({**OK, "Sid": 1}), {}, SYNTAX),
        (doc({**OK, "Id": 5}), {}, SYNTAX),
        (
            doc(principal({"AWS": f"arn:aws:iam::{ACCT}:user/*"})),
            {"kind": "resource"},
            f'Invalid principal in policy: "AWS":"arn:aws:iam::{ACCT}:user/*"',
        ),
        (
            doc(principal({"AWS": "bob"})),
            {"kind": "resource"},
            'Invalid principal in policy: "AWS":"bob"',
        ),
        (
            doc(principal({"AWS": "arn:aws:s3:::bucket"})),
            {"kind": "resource"},
            'Invalid principal in policy: "AWS":"arn:aws:s3:::bucket"',
        ),
        (
            doc(principal({"AWS": f"arn:aws:sts::{ACCT}:assumed-role/app"})),
            {"kind": "resource"},
            f'Invalid principal in policy: "AWS":"arn:aws:sts::{ACCT}:assumed-role/app"',
        ),
        (
            doc(principal({"Service": "*"})),
            {"kind": "resource"},
            'Invalid principal in policy: "Service":"*"',
        ),
        (doc(principal({"Group": "x"})), {"kind": "resource"}, SYNTAX),
        (doc(principal({})), {"kind": "resource"}, SYNTAX),
        (doc(principal("everyone")), {"kind": "resource"}, SYNTAX),
        (doc({**principal("*"), "NotPrincipal": "*"}), {"kind": "resource"}, SYNTAX),
    ],
)
def test_malformed(text: str, kwargs: dict[str, Any], message: str) -> None:
    exc = error(text, **kwargs)
    assert exc.message == message
    assert str(exc) == message
    assert exc.code == "MalformedPolicyDocument"


def cond(block: Any) -> str:
    return doc({**OK, "Condition": block})


@pytest.mark.parametrize(
    "block",
    [
        "StringEquals",
        {"StringEquals": "x"},
        {"StringEqualz": {"aws:username": "a"}},
        {"ForAnyValues:StringEquals": {"aws:TagKeys": "a"}},
        {"NullIfExists": {"aws:TokenIssueTime": "true"}},
        {"ForAllValues:Null": {"aws:TagKeys": "true"}},
        {"Null": {"aws:TokenIssueTime": "maybe"}},
        {"IpAddress": {"aws:SourceIp": "300.1.1.1/8"}},
        {"DateGreaterThan": {"aws:CurrentTime": "yesterday"}},
        {"NumericLessThan": {"s3:max-keys": "ten"}},
        {"BinaryEquals": {"svc:blob": "not base64!"}},
        {"StringEquals": {"aws:username": {"nested": "object"}}},
        {"StringEquals": {"aws:username": None}},
        {"StringEquals": {"aws:username": [["a"]]}},
    ],
)
def test_malformed_condition(block: Any) -> None:
    assert error(cond(block)).message == SYNTAX


def test_condition_key_needs_a_vendor() -> None:
    message = error(cond({"StringEquals": {"username": "a"}})).message
    assert message == "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."


@pytest.mark.parametrize(
    "block",
    [
        {"StringEqualsIfExists": {"aws:username": "a"}},
        {"ForAllValues:StringLikeIfExists": {"aws:TagKeys": ["a*"]}},
        {"stringequals": {"aws:username": "a"}},  # operator names are matched without case
        {"Bool": {"aws:SecureTransport": False}},
        {"NumericEquals": {"s3:max-keys": 10}},
        {"DateLessThan": {"aws:EpochTime": 1700000000}},
        {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"]}},
        {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:*:${aws:username}"}},
        {"Null": {"aws:TokenIssueTime": True}},
        {"StringEquals": {"aws:username": []}},
    ],
)
def test_valid_conditions(block: Any) -> None:
    parse_policy(cond(block))


def test_minimal_and_legacy_documents() -> None:
    legacy = parse_policy(doc(OK, version=None))
    assert legacy.version == "2008-10-17"
    single = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": OK, "Id": "p1"}))
    assert single.id == "p1" and len(single.statements) == 1


def test_kms_key_policy_sids_may_hold_spaces() -> None:
    text = doc(
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    policy = parse_policy(text, kind="resource")
    assert policy.statements[0].sid == "Enable IAM User Permissions"


def test_principal_forms_accepted() -> None:
    text = doc(
        principal(
            {
                "AWS": [
                    "*",
                    ACCT,
                    f"arn:aws:iam::{ACCT}:root",
                    f"arn:aws:iam::{ACCT}:user/division/alice",
                    f"arn:aws:iam::{ACCT}:role/app",
                    f"arn:aws:sts::{ACCT}:assumed-role/app/session",
                    f"arn:aws:sts::{ACCT}:federated-user/alice",
                    "AIDACKCEVSQ6C2EXAMPLE",  # a deleted user's unique id, as AWS shows it
                ],
                "Service": ["kms.amazonaws.com"],
                "Federated": "cognito-identity.amazonaws.com",
                "CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",
            }
        )
    )
    statement = parse_policy(text, kind="resource").statements[0]
    assert statement.principals is not None
    assert statement.principals.everyone
    assert statement.principals.accounts == {ACCT}
    assert f"arn:aws:iam::{ACCT}:root" not in statement.principals.arns
    assert len(statement.principals.arns) == 4


def test_size_quota_ignores_whitespace() -> None:
    compact = doc(OK)
    padded = compact.replace(",", ",\n        ")
    limit = policy_size(compact)
    assert policy_size(padded) == limit
    parse_policy(padded, max_length=limit)
    exc = error(padded, max_length=limit - 1)
    assert exc.code == "LimitExceeded"
    assert exc.message == f"Cannot exceed quota for PolicySize: {limit - 1}"


@pytest.mark.parametrize("quota", [2048, 5120, 6144, 10240])
def test_iam_quotas(quota: int) -> None:
    resources = [f"arn:aws:s3:::bucket-{i:05d}/*" for i in range(400)]
    big = doc({**OK, "Resource": resources})
    assert policy_size(big) > 10240
    assert error(big, max_length=quota).code == "LimitExceeded"


def test_parse_is_memoised_and_immutable() -> None:
    text = doc(OK)
    first = parse_policy(text)
    assert parse_policy(text) is first
    assert parse_policy(text, kind="boundary") is not first
    assert hash(first) == hash(parse_policy(text))
    assert {first: 1}[parse_policy(text)] == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.text = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.statements[0].deny = True  # type: ignore[misc]
    assert isinstance(first, Policy)


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown policy kind"):
        parse_policy(doc(OK), kind="scp")


def test_non_string_text_is_a_syntax_error() -> None:
    assert error(b"{}").message == SYNTAX  # type: ignore[arg-type]


def test_statements_are_indexed_by_action() -> None:
    policy = parse_policy(
        doc(
            {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:Encrypt"], "Resource": "*"},
            {"Effect": "Deny", "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"},
            {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        )
    )
    denies, allows = policy.for_action("kms:decrypt")
    assert len(denies) == 1 and len(allows) == 2
    assert policy.for_action("kms:decrypt") is policy.for_action("kms:decrypt")
    assert policy.for_action("iam:createuser") == ((), ())
    assert len(policy.for_action("s3:getobject")[1]) == 2


def test_variables_collected_per_statement() -> None:
    policy = parse_policy(
        doc(
            {
                "Effect": "Allow",
                "Action": "s3:*",
                "Resource": "arn:aws:s3:::b/${aws:username}/*",
                "Condition": {
                    "StringEquals": {"s3:prefix": "${aws:PrincipalTag/Team}"},
                    "StringLike": {"s3:delimiter": "${aws:userid, 'none'}"},
                    "NumericEquals": {"s3:max-keys": "1"},
                },
            }
        )
    )
    assert policy.statements[0].variables == ("aws:principaltag/team", "aws:username")


def test_variables_are_not_parsed_in_legacy_policies() -> None:
    policy = parse_policy(doc({**OK, "Resource": "arn:aws:s3:::b/${aws:username}"}, version=None))
    assert policy.statements[0].variables == ()
    assert "arn:aws:s3:::b/${aws:username}" in policy.statements[0].resource_exact
