"""The pure EventBridge pattern matcher."""

from __future__ import annotations

import pytest

from bastion.rules.event_patterns import PatternError, matches, parse_pattern

EVENT = {
    "source": "aws.ssm",
    "detail-type": "Parameter Store Change",
    "account": "000000000000",
    "region": "us-east-1",
    "resources": ["arn:aws:ssm:us-east-1:000000000000:parameter/app/db"],
    "detail": {
        "name": "/app/db",
        "operation": "Update",
        "type": "SecureString",
        "size": 42,
        "ratio": 0.5,
        "tags": ["a", "b"],
        "nested": {"flag": True, "none": None},
        "ip": "10.1.2.3",
    },
}


def m(pattern: dict) -> bool:
    return matches(parse_pattern(pattern), EVENT)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"source": ["aws.ssm"]}, True),
        ({"source": ["aws.kms"]}, False),
        ({"source": ["aws.kms", "aws.ssm"]}, True),
        ({"detail": {"operation": ["Update"], "type": ["SecureString"]}}, True),
        ({"detail": {"operation": ["Update"], "type": ["String"]}}, False),
        ({"detail": {"name": [{"prefix": "/app/"}]}}, True),
        ({"detail": {"name": [{"prefix": "/other"}]}}, False),
        ({"detail": {"name": [{"prefix": {"equals-ignore-case": "/APP"}}]}}, True),
        ({"detail": {"name": [{"suffix": "/db"}]}}, True),
        ({"detail": {"name": [{"suffix": {"equals-ignore-case": "/DB"}}]}}, True),
        ({"detail": {"operation": [{"equals-ignore-case": "update"}]}}, True),
        ({"detail": {"operation": [{"anything-but": "Delete"}]}}, True),
        ({"detail": {"operation": [{"anything-but": ["Update", "Delete"]}]}}, False),
        ({"detail": {"operation": [{"anything-but": {"prefix": "Up"}}]}}, False),
        ({"detail": {"operation": [{"anything-but": {"suffix": "x"}}]}}, True),
        ({"detail": {"operation": [{"anything-but": {"wildcard": "U*e"}}]}}, False),
        ({"detail": {"missing": [{"anything-but": "x"}]}}, False),
        ({"detail": {"size": [{"numeric": [">", 40, "<=", 42]}]}}, True),
        ({"detail": {"size": [{"numeric": [">", 42]}]}}, False),
        ({"detail": {"size": [{"numeric": ["=", 42]}]}}, True),
        ({"detail": {"ratio": [{"numeric": ["<", 1]}]}}, True),
        ({"detail": {"size": [42.0]}}, True),
        ({"detail": {"name": [{"numeric": [">", 0]}]}}, False),
        ({"detail": {"size": [{"exists": True}]}}, True),
        ({"detail": {"missing": [{"exists": False}]}}, True),
        ({"detail": {"size": [{"exists": False}]}}, False),
        ({"detail": {"missing": [{"exists": True}]}}, False),
        ({"detail": {"name": [{"wildcard": "/app/*"}]}}, True),
        ({"detail": {"name": [{"wildcard": "*/d?"}]}}, False),
        ({"detail": {"name": [{"wildcard": "*db"}]}}, True),
        ({"detail": {"tags": ["b"]}}, True),
        ({"detail": {"tags": ["c"]}}, False),
        ({"detail": {"nested": {"flag": [True]}}}, True),
        ({"detail": {"nested": {"none": [None]}}}, True),
        ({"detail": {"nested": {"flag": [False]}}}, False),
        ({"detail": {"ip": [{"cidr": "10.1.0.0/16"}]}}, True),
        ({"detail": {"ip": [{"cidr": "10.2.0.0/16"}]}}, False),
        ({"resources": [{"prefix": "arn:aws:ssm:"}]}, True),
        ({"$or": [{"source": ["aws.kms"]}, {"detail": {"size": [42]}}]}, True),
        ({"$or": [{"source": ["aws.kms"]}, {"detail": {"size": [41]}}]}, False),
        ({"source": ["aws.ssm"], "$or": [{"detail-type": ["x"]}, {"region": ["us-east-1"]}]}, True),
    ],
)
def test_matching(pattern, expected):
    assert m(pattern) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        "not json",
        "[]",
        '{"source": "aws.ssm"}',
        '{"source": []}',
        '{"detail": {}}',
        '{"source": [{"prefix": 1}]}',
        '{"source": [{"unknown": "x"}]}',
        '{"source": [{"numeric": [">", "a"]}]}',
        '{"source": [{"numeric": ["<", 5, ">", 1]}]}',
        '{"source": [{"exists": "yes"}]}',
        '{"source": [{"wildcard": "a**b"}]}',
        '{"source": [{"anything-but": {"foo": "x"}}]}',
        '{"source": [{"prefix": "a", "suffix": "b"}]}',
        '{"$or": [{"source": ["a"]}]}',
        '{"source": [{"cidr": "nope"}]}',
    ],
)
def test_invalid_patterns(pattern):
    with pytest.raises(PatternError):
        parse_pattern(pattern)


def test_escaped_wildcard_star_is_literal():
    assert matches(parse_pattern({"a": [{"wildcard": "x\\*y"}]}), {"a": "x*y"})
    assert not matches(parse_pattern({"a": [{"wildcard": "x\\*y"}]}), {"a": "xzzy"})
