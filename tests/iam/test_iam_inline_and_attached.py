"""Inline policies of users, groups and roles, and managed policy attachments."""

from __future__ import annotations

import json

import pytest
from iam_support import ALLOW_S3, EC2_TRUST, doc, error_of, paged, unique

ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
ALLOW_KMS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}],
}


def _entity(iam, kind: str) -> dict[str, str]:
    name = unique(kind.lower())
    if kind == "User":
        iam.create_user(UserName=name)
    elif kind == "Group":
        iam.create_group(GroupName=name)
    else:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc(EC2_TRUST))
    return {f"{kind}Name": name}


@pytest.mark.parametrize("kind", ["User", "Group", "Role"])
def test_inline_policies(iam, kind):
    entity = _entity(iam, kind)
    put = getattr(iam, f"put_{kind.lower()}_policy")
    get = getattr(iam, f"get_{kind.lower()}_policy")
    delete = getattr(iam, f"delete_{kind.lower()}_policy")
    list_ = getattr(iam, f"list_{kind.lower()}_policies")
    put(**entity, PolicyName="s3", PolicyDocument=doc())
    put(**entity, PolicyName="kms", PolicyDocument=doc(ALLOW_S3))
    put(**entity, PolicyName="kms", PolicyDocument=doc(ALLOW_KMS))  # replaces
    answer = get(**entity, PolicyName="kms")
    assert answer[f"{kind}Name"] == entity[f"{kind}Name"]
    assert (answer["PolicyName"], answer["PolicyDocument"]) == ("kms", ALLOW_KMS)
    names, calls = paged(list_, "PolicyNames", **entity, MaxItems=1)
    assert (names, calls) == (["kms", "s3"], 2)
    delete(**entity, PolicyName="s3")
    assert list_(**entity)["PolicyNames"] == ["kms"]
    assert error_of(get, **entity, PolicyName="s3") == (
        "NoSuchEntity",
        404,
        f"The {kind.lower()} policy with name s3 cannot be found.",
    )
    assert error_of(delete, **entity, PolicyName="s3")[:2] == ("NoSuchEntity", 404)
    ghost = {f"{kind}Name": unique("ghost")}
    assert error_of(put, **ghost, PolicyName="p", PolicyDocument=doc()) == (
        "NoSuchEntity",
        404,
        f"The {kind.lower()} with name {ghost[f'{kind}Name']} cannot be found.",
    )
    assert error_of(list_, **ghost)[:2] == ("NoSuchEntity", 404)


@pytest.mark.parametrize(("kind", "limit"), [("User", 2048), ("Group", 5120), ("Role", 10240)])
def test_inline_policy_size_is_per_entity(iam, kind, limit):
    entity = _entity(iam, kind)
    put = getattr(iam, f"put_{kind.lower()}_policy")

    def sized(n: int) -> str:
        """A compact policy of exactly n characters."""
        base = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:Get", "Resource": "*"}],
        }
        text = json.dumps(base, separators=(",", ":"))
        pad = n - len(text)
        base["Statement"][0]["Action"] = "s3:Get" + "x" * pad
        out = json.dumps(base, separators=(",", ":"))
        assert len(out) == n
        return out

    name = entity[f"{kind}Name"]
    assert error_of(put, **entity, PolicyName="big", PolicyDocument=sized(limit + 1)) == (
        "LimitExceeded",
        409,
        f"Maximum policy size of {limit} bytes exceeded for {kind.lower()} {name}",
    )
    half = limit // 2
    put(**entity, PolicyName="one", PolicyDocument=sized(half))
    put(**entity, PolicyName="one", PolicyDocument=sized(half + 10))  # replacing is measured once
    assert error_of(put, **entity, PolicyName="two", PolicyDocument=sized(half))[:2] == (
        "LimitExceeded",
        409,
    )
    put(**entity, PolicyName="two", PolicyDocument=sized(limit - half - 10))


@pytest.mark.parametrize("kind", ["User", "Group", "Role"])
def test_attach_and_detach(iam, kind):
    entity = _entity(iam, kind)
    attach = getattr(iam, f"attach_{kind.lower()}_policy")
    detach = getattr(iam, f"detach_{kind.lower()}_policy")
    list_ = getattr(iam, f"list_attached_{kind.lower()}_policies")
    path = f"/{unique('ap')}/"
    local = iam.create_policy(PolicyName=unique("local"), Path=path, PolicyDocument=doc())["Policy"]
    attach(**entity, PolicyArn=ADMIN_POLICY)
    attach(**entity, PolicyArn=local["Arn"])
    attach(**entity, PolicyArn=local["Arn"])  # idempotent
    attached, calls = paged(list_, "AttachedPolicies", **entity, MaxItems=1)
    assert sorted(p["PolicyArn"] for p in attached) == sorted([ADMIN_POLICY, local["Arn"]])
    assert calls == 2
    assert {p["PolicyName"] for p in attached} == {"AdministratorAccess", local["PolicyName"]}
    only = list_(**entity, PathPrefix=path)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in only] == [local["Arn"]]
    detach(**entity, PolicyArn=local["Arn"])
    assert error_of(detach, **entity, PolicyArn=local["Arn"]) == (
        "NoSuchEntity",
        404,
        f"Policy {local['Arn']} was not found.",
    )
    missing = "arn:aws:iam::000000000000:policy/missing"
    assert error_of(attach, **entity, PolicyArn=missing) == (
        "NoSuchEntity",
        404,
        f"Policy {missing} does not exist or is not attachable.",
    )
    for i in range(9):
        arn = iam.create_policy(PolicyName=unique(f"many{i}"), PolicyDocument=doc())["Policy"][
            "Arn"
        ]
        attach(**entity, PolicyArn=arn)
    assert error_of(attach, **entity, PolicyArn=local["Arn"]) == (
        "LimitExceeded",
        409,
        f"Cannot exceed quota for PoliciesPer{kind}: 10",
    )
