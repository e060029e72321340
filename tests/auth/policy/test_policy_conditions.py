"""Condition operators and policy variables, unit by unit (AWS's documented type rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from bastion.auth.policy import Decision, RequestFacts, evaluate, parse_policy
from bastion.auth.policy.conditions import compile_block, parse_date, parse_number
from bastion.auth.policy.variables import (
    UnresolvedVariable,
    Var,
    compile_regex,
    parse_template,
    render_chunks,
    render_plain,
    wildcard_regex,
)


def holds(block: dict[str, Any], context: dict[str, Any], *, variables: bool = True) -> bool:
    """Whether every condition of ``block`` holds for ``context`` (keys lower-cased)."""
    lowered = {k.lower(): v for k, v in context.items()}
    return all(c.test(lowered) for c in compile_block(block, variables=variables))


# -- string -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "policy", "value", "expected"),
    [
        ("StringEquals", "abc", "abc", True),
        ("StringEquals", "abc", "ABC", False),
        ("StringEquals", ["x", "abc"], "abc", True),
        ("StringNotEquals", ["x", "abc"], "abc", False),
        ("StringNotEquals", ["x", "y"], "abc", True),
        ("StringEqualsIgnoreCase", "AbC", "aBc", True),
        ("StringNotEqualsIgnoreCase", "AbC", "aBc", False),
        ("StringLike", "a*c", "abbbc", True),
        ("StringLike", "a*c", "ac", True),
        ("StringLike", "a?c", "abc", True),
        ("StringLike", "a?c", "abbc", False),
        ("StringLike", "a.c", "abc", False),  # regex metacharacters are literal
        ("StringLike", "a+c", "a+c", True),
        ("StringLike", "*", "", True),
        ("StringLike", "home/*", "Home/x", False),
        ("StringNotLike", "home/*", "home/x", False),
        ("StringNotLike", ["a*", "b*"], "c", True),
        ("StringEquals", "true", True, True),  # booleans compare as true/false
        ("StringEquals", "10", 10, True),
        ("StringEquals", 10, "10", True),
        ("StringEquals", 1.5, "1.5", True),
        ("StringLike", "multi*line", "multi\nline", True),
    ],
)
def test_string_operators(operator: str, policy: Any, value: Any, expected: bool) -> None:
    assert holds({operator: {"svc:key": policy}}, {"svc:key": value}) is expected


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        ("StringEquals", False),
        ("StringNotEquals", True),
        ("StringLike", False),
        ("StringNotLike", True),
        ("StringEqualsIgnoreCase", False),
        ("StringNotEqualsIgnoreCase", True),
        ("NumericEquals", False),
        ("NumericNotEquals", True),
        ("NumericLessThan", False),
        ("DateEquals", False),
        ("DateNotEquals", True),
        ("Bool", False),
        ("BinaryEquals", False),
        ("IpAddress", False),
        ("NotIpAddress", True),
        ("ArnEquals", False),
        ("ArnNotEquals", True),
        ("ArnLike", False),
        ("ArnNotLike", True),
        ("StringEqualsIfExists", True),
        ("StringNotEqualsIfExists", True),
        ("NumericLessThanIfExists", True),
        ("ForAllValues:StringEquals", True),
        ("ForAnyValue:StringEquals", False),
        ("ForAnyValue:StringEqualsIfExists", True),
    ],
)
def test_missing_key(operator: str, expected: bool) -> None:
    values = {
        "Numeric": "1",
        "Date": "2020-01-01",
        "Bool": "true",
        "BinaryEquals": "YQ==",
        "IpAddress": "10.0.0.0/8",
        "NotIpAddress": "10.0.0.0/8",
        "Arn": "arn:aws:s3:::b",
    }
    base = operator.split(":")[-1]
    value = next((v for k, v in values.items() if base.startswith(k)), "x")
    assert holds({operator: {"svc:key": value}}, {}) is expected
    assert holds({operator: {"svc:key": value}}, {"svc:key": None}) is expected


# -- numeric, date --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "policy", "value", "expected"),
    [
        ("NumericEquals", "10", 10, True),
        ("NumericEquals", "10", "10.0", True),
        ("NumericEquals", "10", "1e1", True),
        ("NumericNotEquals", "10", 11, True),
        ("NumericLessThan", "10", 9.99, True),
        ("NumericLessThan", "10", 10, False),
        ("NumericLessThanEquals", "10", 10, True),
        ("NumericGreaterThan", "-1", 0, True),
        ("NumericGreaterThanEquals", "0.5", "0.4", False),
        ("NumericEquals", "1", True, False),  # a boolean is not a number
        ("NumericEquals", "1", "one", False),
        ("NumericNotEquals", "1", "one", True),
        ("NumericEquals", ["1", "2"], 2, True),
    ],
)
def test_numeric_operators(operator: str, policy: Any, value: Any, expected: bool) -> None:
    assert holds({operator: {"svc:n": policy}}, {"svc:n": value}) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-06-01T12:00:00Z", datetime(2024, 6, 1, 12, tzinfo=UTC)),
        ("2024-06-01T12:00:00.250Z", datetime(2024, 6, 1, 12, 0, 0, 250000, tzinfo=UTC)),
        ("2024-06-01T14:00+02:00", datetime(2024, 6, 1, 12, tzinfo=UTC)),
        ("2024-06-01T12:00:00", datetime(2024, 6, 1, 12, tzinfo=UTC)),
        ("2024-06-01", datetime(2024, 6, 1, tzinfo=UTC)),
        ("2024-06", datetime(2024, 6, 1, tzinfo=UTC)),
        ("1717243200", datetime(2024, 6, 1, 12, tzinfo=UTC)),
        ("1717243200.5", datetime(2024, 6, 1, 12, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_date_formats(text: str, expected: datetime) -> None:
    assert parse_date(text) == expected.timestamp()


def test_date_values_of_every_type() -> None:
    moment = datetime(2024, 6, 1, 12, tzinfo=UTC)
    assert parse_date(moment) == moment.timestamp()
    assert parse_date(moment.replace(tzinfo=None)) == moment.timestamp()
    assert parse_date(moment.astimezone(timezone(timedelta(hours=-5)))) == moment.timestamp()
    assert parse_date(1717243200) == moment.timestamp()
    assert parse_date(True) is None
    assert parse_date("noon") is None
    assert parse_date(["2024"]) is None


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("DateEquals", "2024-06-01T12:00:00Z", True),
        ("DateEquals", 1717243200, True),
        ("DateNotEquals", 1717243201, True),
        ("DateLessThan", "2024-06-01T11:59:59Z", True),
        ("DateLessThanEquals", "2024-06-01T12:00:00Z", True),
        ("DateGreaterThan", "2024-06-01T12:00:00Z", False),
        ("DateGreaterThanEquals", datetime(2025, 1, 1, tzinfo=UTC), True),
        ("DateEquals", "garbage", False),
    ],
)
def test_date_operators(operator: str, value: Any, expected: bool) -> None:
    assert (
        holds({operator: {"aws:CurrentTime": "2024-06-01T12:00:00Z"}}, {"aws:CurrentTime": value})
        is expected
    )


def test_parse_number() -> None:
    assert parse_number("3") == 3.0
    assert parse_number(" 2.5 ") == 2.5
    assert parse_number(4) == 4.0
    assert parse_number(False) is None
    assert parse_number("nan") is None
    assert parse_number("inf") is None
    assert parse_number("x") is None


# -- bool, binary, ip -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "value", "expected"),
    [
        ("true", True, True),
        ("true", "true", True),
        ("TRUE", "True", True),
        ("false", False, True),
        ("false", True, False),
        (False, "false", True),
        ("true", 1, False),
    ],
)
def test_bool(policy: Any, value: Any, expected: bool) -> None:
    assert (
        holds({"Bool": {"aws:SecureTransport": policy}}, {"aws:SecureTransport": value}) is expected
    )


def test_bool_accepts_a_variable() -> None:
    block = {"Bool": {"svc:flag": "${svc:expected}"}}
    assert holds(block, {"svc:flag": True, "svc:expected": "true"})
    assert not holds(block, {"svc:flag": True, "svc:expected": "false"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"hello", True),
        ("aGVsbG8=", True),
        (b"other", False),
        ("!!", False),
        (bytearray(b"hello"), True),
    ],
)
def test_binary(value: Any, expected: bool) -> None:
    assert holds({"BinaryEquals": {"svc:blob": "aGVsbG8="}}, {"svc:blob": value}) is expected


@pytest.mark.parametrize(
    ("policy", "value", "expected"),
    [
        ("203.0.113.0/24", "203.0.113.255", True),
        ("203.0.113.0/24", "203.0.114.0", False),
        ("203.0.113.7", "203.0.113.7", True),
        ("203.0.113.7/24", "203.0.113.200", True),  # host bits in the CIDR are ignored
        ("2001:DB8:1234:5678::/64", "2001:db8:1234:5678:ffff::1", True),
        ("2001:DB8:1234:5678::/64", "2001:db8:1234:5679::1", False),
        ("203.0.113.0/24", "::ffff:203.0.113.9", True),  # IPv4-mapped IPv6
        ("0.0.0.0/0", "not-an-ip", False),
        ("::/0", "203.0.113.1", False),
    ],
)
def test_ip_address(policy: str, value: str, expected: bool) -> None:
    assert holds({"IpAddress": {"aws:SourceIp": policy}}, {"aws:SourceIp": value}) is expected
    assert (
        holds({"NotIpAddress": {"aws:SourceIp": policy}}, {"aws:SourceIp": value}) is not expected
    )


# -- ARN ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "value", "expected"),
    [
        (
            "arn:aws:sns:us-east-1:111122223333:topic",
            "arn:aws:sns:us-east-1:111122223333:topic",
            True,
        ),
        ("arn:aws:sns:*:111122223333:*", "arn:aws:sns:eu-west-1:111122223333:t", True),
        ("arn:aws:sns:*:111122223333:*", "arn:aws:sns:eu-west-1:999999999999:t", False),
        ("arn:aws:iam::*:role/*", "arn:aws:iam::111122223333:role/path/app", True),
        ("arn:aws:s3:::*", "arn:aws:s3:::bucket/key:with:colons", True),
        ("arn:aws:*", "arn:aws:s3:::bucket", False),  # a wildcard cannot span segments
        ("arn:aws:s?:::b", "arn:aws:s3:::b", True),
        ("arn:aws:s?:::b", "arn:aws:sns:::b", False),
        ("arn:aws:sns:*:*:*", "not-an-arn", False),
        ("arn:aws:sns:*:*:T*", "arn:aws:sns:us-east-1:1:t1", False),
    ],
)
def test_arn_like(policy: str, value: str, expected: bool) -> None:
    for operator in ("ArnLike", "ArnEquals"):
        assert holds({operator: {"aws:SourceArn": policy}}, {"aws:SourceArn": value}) is expected
    for operator in ("ArnNotLike", "ArnNotEquals"):
        assert (
            holds({operator: {"aws:SourceArn": policy}}, {"aws:SourceArn": value}) is not expected
        )


# -- Null, IfExists, set operators ----------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "context", "expected"),
    [
        ("true", {}, True),
        ("true", {"aws:TokenIssueTime": "x"}, False),
        ("false", {"aws:TokenIssueTime": "x"}, True),
        ("false", {}, False),
        (["true", "false"], {}, True),
    ],
)
def test_null(policy: Any, context: dict[str, Any], expected: bool) -> None:
    assert holds({"Null": {"aws:TokenIssueTime": policy}}, context) is expected


def test_if_exists_checks_a_present_key() -> None:
    block = {"StringEqualsIfExists": {"ec2:InstanceType": "t3.micro"}}
    assert holds(block, {})
    assert holds(block, {"ec2:InstanceType": "t3.micro"})
    assert not holds(block, {"ec2:InstanceType": "m5.large"})


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("ForAllValues:StringEquals", ["a", "b"], True),
        ("ForAllValues:StringEquals", ["a", "z"], False),
        ("ForAllValues:StringEquals", [], True),
        ("ForAllValues:StringEquals", "", True),
        ("ForAllValues:StringEquals", ("a",), True),
        ("ForAllValues:StringEquals", frozenset({"b"}), True),
        ("ForAnyValue:StringEquals", ["z", "b"], True),
        ("ForAnyValue:StringEquals", ["z", "y"], False),
        ("ForAnyValue:StringEquals", [], False),
        ("ForAnyValue:StringEquals", "", False),
        ("ForAllValues:StringNotEquals", ["y", "z"], True),
        ("ForAllValues:StringNotEquals", ["a", "z"], False),
        ("ForAnyValue:StringNotEquals", ["a", "z"], True),
        ("ForAnyValue:StringNotEquals", ["a", "b"], False),
        ("ForAllValues:StringLike", ["a1", "b2"], False),
        ("ForAnyValue:StringLike", ["zz", "a"], True),
        ("StringEquals", ["z", "a"], True),  # unqualified: any request value
        ("StringNotEquals", ["z", "a"], False),  # unqualified negation: none may match
        ("StringNotEquals", ["z", "y"], True),
        ("StringEquals", [], False),
        ("StringNotEquals", [], True),
    ],
)
def test_set_operators(operator: str, value: Any, expected: bool) -> None:
    assert holds({operator: {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": value}) is expected


def test_set_operators_on_numbers_and_addresses() -> None:
    assert holds({"ForAllValues:NumericLessThan": {"svc:sizes": "10"}}, {"svc:sizes": [1, 2, 9]})
    assert not holds({"ForAllValues:NumericLessThan": {"svc:sizes": "10"}}, {"svc:sizes": [1, 20]})
    assert holds(
        {"ForAnyValue:IpAddress": {"svc:ips": "10.0.0.0/8"}}, {"svc:ips": ["192.0.2.1", "10.1.1.1"]}
    )


def test_keys_and_operators_are_anded() -> None:
    block = {
        "StringEquals": {"svc:a": "1", "svc:b": "2"},
        "StringLike": {"svc:c": "x*"},
    }
    assert holds(block, {"svc:a": "1", "svc:b": "2", "svc:c": "xy"})
    assert not holds(block, {"svc:a": "1", "svc:b": "3", "svc:c": "xy"})
    assert not holds(block, {"svc:a": "1", "svc:b": "2", "svc:c": "yx"})


# -- variables ------------------------------------------------------------------------


def test_parse_template() -> None:
    assert parse_template("plain") is None
    assert parse_template("${aws:username}", enabled=False) is None
    assert parse_template("home/${aws:username}/*") == (
        ("w", "home/"),
        Var("aws:username", None),
        ("w", "/*"),
    )
    assert parse_template("${aws:userid, 'anonymous'}") == (Var("aws:userid", "anonymous"),)
    assert parse_template("${aws:PrincipalTag/Team,'x'}") == (Var("aws:principaltag/team", "x"),)
    assert parse_template("a${*}b${?}c${$}") == (
        ("w", "a"),
        ("l", "*"),
        ("w", "b"),
        ("l", "?"),
        ("w", "c"),
        ("l", "$"),
    )
    assert parse_template("${not valid here}") is None


def test_render() -> None:
    template = parse_template("arn:aws:s3:::b/${aws:username}/${aws:PrincipalTag/t, 'none'}")
    assert template is not None
    context = {"aws:username": "alice"}
    assert render_plain(template, context) == "arn:aws:s3:::b/alice/none"
    assert render_plain(template, {**context, "aws:principaltag/t": ["one"]}) == (
        "arn:aws:s3:::b/alice/one"
    )
    assert render_plain(template, {**context, "aws:principaltag/t": True}) == (
        "arn:aws:s3:::b/alice/true"
    )
    with pytest.raises(UnresolvedVariable):
        render_plain(template, {})
    with pytest.raises(UnresolvedVariable):
        render_plain(template, {"aws:username": ["a", "b"]})  # several values: no single one


def test_substituted_values_are_literal_in_patterns() -> None:
    template = parse_template("arn:aws:s3:::b/${aws:username}/*")
    assert template is not None
    chunks = render_chunks(template, {"aws:username": "a*"})
    pattern = compile_regex(wildcard_regex(chunks, arn=True))
    assert pattern.fullmatch("arn:aws:s3:::b/a*/anything")
    assert not pattern.fullmatch("arn:aws:s3:::b/abc/anything")


def test_wildcard_regex_segments() -> None:
    arn = compile_regex(wildcard_regex(((True, "arn:aws:*:*:*:x/*"),), arn=True))
    assert arn.fullmatch("arn:aws:s3:us:1:x/a:b/c")
    assert not arn.fullmatch("arn:aws:s3:us:1:2:x/a")
    plain = compile_regex(wildcard_regex(((True, "a*b"),), arn=False))
    assert plain.fullmatch("a:::b")


def test_string_like_variable_pattern_keeps_policy_wildcards() -> None:
    block = {"StringLike": {"s3:prefix": "home/${aws:username}/*"}}
    assert holds(block, {"aws:username": "alice", "s3:prefix": "home/alice/docs"})
    assert not holds(block, {"aws:username": "alice", "s3:prefix": "home/bob/docs"})
    assert not holds(block, {"aws:username": "*", "s3:prefix": "home/bob/docs"})


def test_variables_only_with_string_arn_and_bool_operators() -> None:
    # "You can't use a policy variable with ... Numeric, Date, Boolean, Binary, IP Address":
    # in those operators ${...} is not substituted (and is then no valid number).
    with pytest.raises(ValueError, match="Syntax"):
        compile_block({"NumericEquals": {"svc:n": "${svc:m}"}}, variables=True)
    assert holds({"StringEquals": {"svc:a": "${svc:b}"}}, {"svc:a": "v", "svc:b": "v"})
    assert holds({"StringEquals": {"svc:a": "${svc:b}"}}, {"svc:a": "${svc:b}"}, variables=False)


def test_ignore_case_with_variable() -> None:
    block = {"StringEqualsIgnoreCase": {"svc:a": "${aws:username}"}}
    assert holds(block, {"svc:a": "ALICE", "aws:username": "alice"})


# -- facts and evaluate plumbing ------------------------------------------------------


def test_request_facts_context_is_case_insensitive_and_extended() -> None:
    facts = RequestFacts(
        "kms:Decrypt",
        ("arn:aws:kms:us-east-1:111122223333:key/k",),
        "arn:aws:sts::111122223333:assumed-role/app/s",
        "111122223333",
        {"AWS:SourceIp": "10.0.0.1"},
        role_arn="arn:aws:iam::111122223333:role/app",
    )
    assert facts.context_keys["aws:sourceip"] == "10.0.0.1"
    assert facts.context_keys["aws:principalarn"] == "arn:aws:iam::111122223333:role/app"
    assert facts.context_keys["aws:principalaccount"] == "111122223333"
    more = facts.with_context({"kms:ViaService": "ssm.us-east-1.amazonaws.com"})
    assert more.context_keys["kms:viaservice"] == "ssm.us-east-1.amazonaws.com"
    assert more.context_keys["aws:sourceip"] == "10.0.0.1"
    assert "kms:viaservice" not in facts.context_keys


def test_request_facts_resources_default() -> None:
    facts = RequestFacts("kms:ListKeys", (), "arn:aws:iam::111122223333:user/a", "111122223333")
    assert facts.resources == ("*",)


def test_single_policy_accepted_for_boundary_and_session() -> None:
    allow_all = parse_policy(
        '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}'
    )
    only_ec2 = parse_policy(
        '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*"}}',
        kind="boundary",
    )
    facts = RequestFacts("s3:GetObject", ("*",), "arn:aws:iam::111122223333:user/a", "111122223333")
    assert evaluate(facts, identity=[allow_all]).allowed
    result = evaluate(facts, identity=[allow_all], boundary=only_ec2)
    assert result.decision is Decision.IMPLICIT_DENY
    assert not evaluate(facts, identity=[allow_all], session=only_ec2).allowed
    assert Decision.EXPLICIT_DENY.value == "explicitDeny"


# -- wildcard matching is exact and linear --------------------------------------------


def _glob(pattern: str, value: str, *, colon_free: bool) -> bool:
    """Reference matcher (dynamic programming): * any run, ? one character; with
    ``colon_free`` neither may match a colon."""
    rows = len(pattern) + 1
    cols = len(value) + 1
    table = [[False] * cols for _ in range(rows)]
    table[0][0] = True
    for i in range(1, rows):
        p = pattern[i - 1]
        for j in range(cols):
            if p == "*":
                table[i][j] = table[i - 1][j] or (
                    j > 0 and table[i][j - 1] and not (colon_free and value[j - 1] == ":")
                )
            elif j > 0:
                v = value[j - 1]
                if p == "?":
                    table[i][j] = table[i - 1][j - 1] and not (colon_free and v == ":")
                else:
                    table[i][j] = table[i - 1][j - 1] and p == v
    return table[-1][-1]


def _arn_reference(pattern: str, value: str) -> bool:
    parts = pattern.split(":", 5)
    if len(parts) == 6:
        values = value.split(":", 5)
        if len(values) != 6:
            return False
        return all(
            _glob(p, v, colon_free=True) for p, v in zip(parts[:5], values[:5], strict=True)
        ) and (_glob(parts[5], values[5], colon_free=False))
    values = value.split(":")
    return len(values) == len(parts) and all(
        _glob(p, v, colon_free=True) for p, v in zip(parts, values, strict=True)
    )


def test_wildcards_agree_with_a_reference_matcher() -> None:
    import random

    rng = random.Random(7)
    for _ in range(4000):
        pattern = "".join(rng.choice("ab:*?") for _ in range(rng.randint(0, 9)))
        value = "".join(rng.choice("ab:") for _ in range(rng.randint(0, 9)))
        plain = compile_regex(wildcard_regex(((True, pattern),), arn=False))
        assert (plain.fullmatch(value) is not None) == _glob(pattern, value, colon_free=False), (
            pattern,
            value,
        )
        arn = compile_regex(wildcard_regex(((True, pattern),), arn=True))
        assert (arn.fullmatch(value) is not None) == _arn_reference(pattern, value), (
            pattern,
            value,
        )


def test_hostile_values_cannot_make_matching_slow() -> None:
    import time

    block = {"StringLike": {"s3:prefix": "*a*a*a*a*a*a*a*a*b"}}
    start = time.perf_counter()
    assert not holds(block, {"s3:prefix": "a" * 50_000})
    assert time.perf_counter() - start < 1.0
    statement_regex = compile_regex(
        wildcard_regex(((True, "arn:aws:s3:::*a*a*a*a*a*b"),), arn=True)
    )
    start = time.perf_counter()
    assert statement_regex.fullmatch("arn:aws:s3:::" + "a" * 50_000) is None
    assert time.perf_counter() - start < 1.0
