"""IAM roles end to end: trust policies (URL-encoded on the wire), updates, tags,
boundaries, RoleLastUsed, conflicts and pagination."""

from __future__ import annotations

import json
from urllib.parse import unquote

from iam_support import EC2_TRUST, doc, error_of, paged, unique

ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def test_create_and_get_role(iam_any):
    iam = iam_any.client("iam")
    name = unique("app")
    role = iam.create_role(
        RoleName=name,
        Path="/service/",
        AssumeRolePolicyDocument=doc(EC2_TRUST),
        Description="runs the app",
        MaxSessionDuration=7200,
        Tags=[{"Key": "team", "Value": "a"}],
    )["Role"]
    assert role["Arn"] == f"arn:aws:iam::000000000000:role/service/{name}"
    assert role["RoleId"].startswith("AROA")
    assert role["AssumeRolePolicyDocument"] == EC2_TRUST  # decoded into a dict by boto3
    got = iam.get_role(RoleName=name.lower())["Role"]
    assert got["RoleName"] == name
    assert got["AssumeRolePolicyDocument"] == EC2_TRUST
    assert got["Description"] == "runs the app"
    assert got["MaxSessionDuration"] == 7200
    assert got["Tags"] == [{"Key": "team", "Value": "a"}]
    assert got["RoleLastUsed"] == {}
    assert error_of(
        iam.create_role, RoleName=name.upper(), AssumeRolePolicyDocument=doc(EC2_TRUST)
    ) == ("EntityAlreadyExists", 409, f"Role with name {name.upper()} already exists.")
    assert error_of(iam.get_role, RoleName=unique("ghost"))[:2] == ("NoSuchEntity", 404)


def test_trust_policy_is_url_encoded_on_the_wire(iam):
    name = unique("wire")
    raw: list[bytes] = []
    iam.meta.events.register(
        "after-call.iam.GetRole", lambda http_response, **_: raw.append(http_response.content)
    )
    text = json.dumps(EC2_TRUST, indent=2)
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=text)
    iam.get_role(RoleName=name)
    body = raw[0].decode()
    assert body.startswith('<GetRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">')
    encoded = body.split("<AssumeRolePolicyDocument>")[1].split("</")[0]
    assert encoded.startswith("%7B%0A%20%20%22Version%22%3A")
    assert unquote(encoded) == text  # exactly the text that was sent
    assert "<ResponseMetadata><RequestId>" in body


def test_role_updates(iam):
    name = unique("upd")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc(EC2_TRUST))
    iam.update_role(RoleName=name, Description="new words", MaxSessionDuration=43200)
    role = iam.get_role(RoleName=name)["Role"]
    assert (role["Description"], role["MaxSessionDuration"]) == ("new words", 43200)
    assert error_of(iam.update_role, RoleName=name, MaxSessionDuration=43201)[:2] == (
        "ValidationError",
        400,
    )
    described = iam.update_role_description(RoleName=name, Description="again")["Role"]
    assert described["Description"] == "again"
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=doc(LAMBDA_TRUST))
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == LAMBDA_TRUST
    assert error_of(
        iam.update_assume_role_policy, RoleName=unique("ghost"), PolicyDocument=doc(EC2_TRUST)
    )[:2] == ("NoSuchEntity", 404)


def test_trust_policies_are_checked(iam):
    name = unique("trust")
    no_principal = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}],
    }
    for bad in ("{not json", doc(no_principal), doc({"Version": "2012-10-17"})):
        code, status, _ = error_of(iam.create_role, RoleName=name, AssumeRolePolicyDocument=bad)
        assert (code, status) == ("MalformedPolicyDocument", 400)
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc(EC2_TRUST))
    code, status, _ = error_of(
        iam.update_assume_role_policy, RoleName=name, PolicyDocument=doc(no_principal)
    )
    assert (code, status) == ("MalformedPolicyDocument", 400)
    principals = [f"arn:aws:iam::{i:012d}:root" for i in range(80)]
    big = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": principals}, "Action": "sts:AssumeRole"}
        ],
    }
    assert error_of(iam.update_assume_role_policy, RoleName=name, PolicyDocument=doc(big)) == (
        "LimitExceeded",
        409,
        "Cannot exceed quota for ACLSizePerRole: 2048",
    )
    # white space does not count against the quota
    small = {**big, "Statement": [{**big["Statement"][0], "Principal": {"AWS": principals[:50]}}]}
    padded = json.dumps(small, indent=8)
    assert len(padded) > 2048
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=padded)


def test_role_tags(iam):
    name = unique("tags")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc(EC2_TRUST))
    iam.tag_role(RoleName=name, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    tags, calls = paged(iam.list_role_tags, "Tags", RoleName=name, MaxItems=1)
    assert tags == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}] and calls == 2
    iam.untag_role(RoleName=name, TagKeys=["a"])
    assert iam.get_role(RoleName=name)["Role"]["Tags"] == [{"Key": "b", "Value": "2"}]
    assert error_of(iam.tag_role, RoleName=unique("ghost"), Tags=[{"Key": "a", "Value": "1"}])[
        :2
    ] == ("NoSuchEntity", 404)


def test_role_permissions_boundary(iam):
    name = unique("bound")
    boundary = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    role = iam.create_role(
        RoleName=name, AssumeRolePolicyDocument=doc(EC2_TRUST), PermissionsBoundary=boundary
    )["Role"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    iam.delete_role_permissions_boundary(RoleName=name)
    assert "PermissionsBoundary" not in iam.get_role(RoleName=name)["Role"]
    power = "arn:aws:iam::aws:policy/PowerUserAccess"
    iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=power)
    assert iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
        "PermissionsBoundaryArn": power,
    }
    missing = "arn:aws:iam::000000000000:policy/missing"
    assert error_of(iam.put_role_permissions_boundary, RoleName=name, PermissionsBoundary=missing)[
        :2
    ] == ("NoSuchEntity", 404)


def test_role_last_used_comes_from_storage(iam_sqlite):
    from sqlalchemy import update

    from bastion.storage.iam_tables import iam_roles

    iam = iam_sqlite.client("iam")
    name = unique("used")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc(EC2_TRUST))
    when = iam_sqlite.runtime.clock.now()
    with iam_sqlite.runtime.store.write() as conn:
        conn.execute(
            update(iam_roles)
            .where(iam_roles.c.role_name == name)
            .values(last_used_at=when, last_used_region="us-west-2")
        )
    used = iam.get_role(RoleName=name)["Role"]["RoleLastUsed"]
    assert used["Region"] == "us-west-2"
    assert abs((used["LastUsedDate"] - when).total_seconds()) < 1
    listed = next(r for r in iam.list_roles()["Roles"] if r["RoleName"] == name)
    assert "RoleLastUsed" not in listed and "Tags" not in listed


def test_delete_role_conflicts(iam):
    name = unique("del")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc(EC2_TRUST))
    iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=doc())
    iam.attach_role_policy(RoleName=name, PolicyArn=ADMIN_POLICY)
    assert error_of(iam.delete_role, RoleName=name) == (
        "DeleteConflict",
        409,
        "Cannot delete entity, must delete policies first.",
    )
    iam.delete_role_policy(RoleName=name, PolicyName="inline")
    assert error_of(iam.delete_role, RoleName=name) == (
        "DeleteConflict",
        409,
        "Cannot delete entity, must detach all policies first.",
    )
    iam.detach_role_policy(RoleName=name, PolicyArn=ADMIN_POLICY)
    iam.delete_role(RoleName=name)
    assert error_of(iam.delete_role, RoleName=name) == (
        "NoSuchEntity",
        404,
        f"The role with name {name} cannot be found.",
    )


def test_list_roles_pagination_decodes_documents(iam_any):
    iam = iam_any.client("iam")
    path = f"/{unique('rp')}/"
    names = sorted(unique(f"lr{i}") for i in range(5))
    for name in names:
        iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=doc(EC2_TRUST))
    roles, calls = paged(iam.list_roles, "Roles", PathPrefix=path, MaxItems=2)
    assert [r["RoleName"] for r in roles] == names and calls == 3
    assert all(r["AssumeRolePolicyDocument"] == EC2_TRUST for r in roles)
