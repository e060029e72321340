"""IAM users end to end with boto3: lifecycle, rename, tags, boundaries, pagination, CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from iam_support import doc, error_of, paged, unique

ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"


def test_create_get_delete_user(iam_any):
    iam = iam_any.client("iam")
    name = unique("alice")
    user = iam.create_user(UserName=name, Path="/team/")["User"]
    assert user["Arn"] == f"arn:aws:iam::000000000000:user/team/{name}"
    assert user["UserId"].startswith("AIDA") and len(user["UserId"]) == 21
    assert user["Path"] == "/team/"
    got = iam.get_user(UserName=name.upper())["User"]  # names are found without case
    assert got["UserName"] == name and got["UserId"] == user["UserId"]
    assert "Tags" not in got and "PermissionsBoundary" not in got
    assert error_of(iam.create_user, UserName=name.upper()) == (
        "EntityAlreadyExists",
        409,
        f"User with name {name.upper()} already exists.",
    )
    iam.delete_user(UserName=name)
    assert error_of(iam.get_user, UserName=name) == (
        "NoSuchEntity",
        404,
        f"The user with name {name} cannot be found.",
    )
    assert error_of(iam.delete_user, UserName=name)[:2] == ("NoSuchEntity", 404)


def test_get_user_without_name_is_the_caller(iam):
    assert iam.get_user()["User"]["UserName"] == "admin"


def test_names_and_paths_are_validated(iam):
    code, status, message = error_of(iam.create_user, UserName="x" * 65)
    assert (code, status) == ("ValidationError", 400)
    assert "at 'userName' failed to satisfy constraint" in message
    assert error_of(iam.create_user, UserName="bad name")[:2] == ("ValidationError", 400)
    assert error_of(iam.create_user, UserName=unique("u"), Path="no-slashes")[:2] == (
        "ValidationError",
        400,
    )
    assert error_of(iam.create_group, GroupName="g" * 129)[:2] == ("ValidationError", 400)
    iam.create_group(GroupName=unique("g" * 100))  # groups may be longer than users
    iam.create_user(UserName=unique("u" * 55))


def test_list_users_pagination_and_path_prefix(iam_any):
    iam = iam_any.client("iam")
    path = f"/{unique('page')}/"
    names = sorted(unique(f"pu{i}") for i in range(7))
    for name in names:
        iam.create_user(UserName=name, Path=path)
    users, calls = paged(iam.list_users, "Users", PathPrefix=path, MaxItems=3)
    assert calls == 3
    assert [u["UserName"] for u in users] == names
    assert all("Tags" not in u for u in users)
    first = iam.list_users(PathPrefix=path, MaxItems=3)
    assert first["IsTruncated"] is True and first["Marker"]
    everyone = [u["UserName"] for u in iam.list_users()["Users"]]
    assert "admin" in everyone and set(names) <= set(everyone)
    # botocore's paginator reads Marker/IsTruncated the same way
    paginator = iam.get_paginator("list_users")
    pages = list(paginator.paginate(PathPrefix=path, PaginationConfig={"PageSize": 2}))
    assert [u["UserName"] for p in pages for u in p["Users"]] == names
    assert len(pages) == 4


def test_update_user_renames_everything_it_owns(iam_sqlite):
    iam = iam_sqlite.client("iam")
    old, new, group = unique("old"), unique("new"), unique("grp")
    iam.create_user(UserName=old)
    key = iam.create_access_key(UserName=old)["AccessKey"]
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=old)
    iam.put_user_policy(UserName=old, PolicyName="inline", PolicyDocument=doc())
    iam.attach_user_policy(UserName=old, PolicyArn=ADMIN_POLICY)
    iam.put_user_permissions_boundary(UserName=old, PermissionsBoundary=ADMIN_POLICY)
    sts = iam_sqlite.client("sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    assert sts.get_caller_identity()["Arn"].endswith(f"user/{old}")

    iam.update_user(UserName=old, NewUserName=new, NewPath="/moved/")
    assert error_of(iam.get_user, UserName=old)[0] == "NoSuchEntity"
    user = iam.get_user(UserName=new)["User"]
    assert user["Arn"] == f"arn:aws:iam::000000000000:user/moved/{new}"
    assert user["PermissionsBoundary"]["PermissionsBoundaryArn"] == ADMIN_POLICY
    keys = iam.list_access_keys(UserName=new)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [key["AccessKeyId"]]
    assert keys[0]["UserName"] == new
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=new)["Groups"]] == [group]
    assert iam.list_user_policies(UserName=new)["PolicyNames"] == ["inline"]
    attached = iam.list_attached_user_policies(UserName=new)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [ADMIN_POLICY]
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::000000000000:user/moved/{new}"

    other = unique("other")
    iam.create_user(UserName=other)
    assert error_of(iam.update_user, UserName=new, NewUserName=other.upper())[:2] == (
        "EntityAlreadyExists",
        409,
    )
    assert error_of(iam.update_user, UserName=unique("ghost"), NewPath="/x/")[:2] == (
        "NoSuchEntity",
        404,
    )
    code, status, _ = error_of(iam.update_user, UserName="admin", NewUserName="root2")
    assert (code, status) == ("UnmodifiableEntity", 400)


def test_delete_user_conflicts(iam_sqlite):
    iam = iam_sqlite.client("iam")
    name, group = unique("busy"), unique("grp")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc())
    iam.attach_user_policy(UserName=name, PolicyArn=ADMIN_POLICY)
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=name)
    iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary=ADMIN_POLICY)
    expected = [
        (
            "Cannot delete entity, must delete access keys first.",
            lambda: iam.delete_access_key(UserName=name, AccessKeyId=key),
        ),
        (
            "Cannot delete entity, must delete policies first.",
            lambda: iam.delete_user_policy(UserName=name, PolicyName="p"),
        ),
        (
            "Cannot delete entity, must detach all policies first.",
            lambda: iam.detach_user_policy(UserName=name, PolicyArn=ADMIN_POLICY),
        ),
        (
            "Cannot delete entity, must remove user from all groups first.",
            lambda: iam.remove_user_from_group(GroupName=group, UserName=name),
        ),
    ]
    for message, fix in expected:
        assert error_of(iam.delete_user, UserName=name) == ("DeleteConflict", 409, message)
        fix()
    iam.delete_user(UserName=name)  # the boundary goes with the user
    assert error_of(iam.delete_user, UserName="admin")[:2] == ("DeleteConflict", 409)


def test_user_tags(iam_sqlite):
    iam = iam_sqlite.client("iam")
    name = unique("tagged")
    created = iam.create_user(UserName=name, Tags=[{"Key": "team", "Value": "blue"}])["User"]
    assert created["Tags"] == [{"Key": "team", "Value": "blue"}]
    iam.tag_user(
        UserName=name, Tags=[{"Key": "Team", "Value": "red"}, {"Key": "env", "Value": "prod"}]
    )
    assert iam.get_user(UserName=name)["User"]["Tags"] == [
        {"Key": "Team", "Value": "red"},  # keys are unique without regard to case
        {"Key": "env", "Value": "prod"},
    ]
    tags, calls = paged(iam.list_user_tags, "Tags", UserName=name, MaxItems=1)
    assert (len(tags), calls) == (2, 2)
    iam.untag_user(UserName=name, TagKeys=["TEAM", "absent"])
    assert iam.list_user_tags(UserName=name)["Tags"] == [{"Key": "env", "Value": "prod"}]
    code, status, message = error_of(
        iam.tag_user, UserName=name, Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}]
    )
    assert (code, status) == ("InvalidInput", 400)
    assert "Duplicate tag keys" in message
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    assert error_of(iam.tag_user, UserName=name, Tags=many)[:2] == ("LimitExceeded", 409)
    assert error_of(iam.list_user_tags, UserName=unique("ghost"))[:2] == ("NoSuchEntity", 404)


def test_user_permissions_boundary(iam_sqlite):
    iam = iam_sqlite.client("iam")
    name = unique("bounded")
    boundary = "arn:aws:iam::aws:policy/PowerUserAccess"
    user = iam.create_user(UserName=name, PermissionsBoundary=boundary)["User"]
    assert user["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
        "PermissionsBoundaryArn": boundary,
    }
    assert iam.get_policy(PolicyArn=boundary)["Policy"]["PermissionsBoundaryUsageCount"] >= 1
    iam.delete_user_permissions_boundary(UserName=name)
    assert "PermissionsBoundary" not in iam.get_user(UserName=name)["User"]
    missing = "arn:aws:iam::000000000000:policy/nope"
    assert error_of(
        iam.put_user_permissions_boundary, UserName=name, PermissionsBoundary=missing
    ) == ("NoSuchEntity", 404, f"Scope ARN: {missing} does not exist or is not attachable.")
    bad = "arn:aws:s3:::bucket/key"
    assert error_of(iam.put_user_permissions_boundary, UserName=name, PermissionsBoundary=bad)[
        :2
    ] == ("InvalidInput", 400)
    assert error_of(iam.create_user, UserName=unique("u"), PermissionsBoundary=missing)[:2] == (
        "NoSuchEntity",
        404,
    )


def test_access_keys_lifecycle(iam_any):
    iam = iam_any.client("iam")
    name = unique("keys")
    iam.create_user(UserName=name)
    first = iam.create_access_key(UserName=name)["AccessKey"]
    assert first["AccessKeyId"].startswith("AKIA") and len(first["SecretAccessKey"]) == 40
    assert first["Status"] == "Active"
    second = iam.create_access_key(UserName=name)["AccessKey"]
    assert error_of(iam.create_access_key, UserName=name) == (
        "LimitExceeded",
        409,
        "Cannot exceed quota for AccessKeysPerUser: 2",
    )
    listed = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert sorted(k["AccessKeyId"] for k in listed) == sorted(
        [first["AccessKeyId"], second["AccessKeyId"]]
    )
    assert all("SecretAccessKey" not in k for k in listed)

    sts = iam_any.client(
        "sts", access_key=first["AccessKeyId"], secret_key=first["SecretAccessKey"]
    )
    assert sts.get_caller_identity()["Arn"].endswith(f"user/{name}")
    iam.update_access_key(UserName=name, AccessKeyId=first["AccessKeyId"], Status="Inactive")
    statuses = {
        k["AccessKeyId"]: k["Status"]
        for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    }
    assert statuses[first["AccessKeyId"]] == "Inactive"
    assert error_of(sts.get_caller_identity)[1] == 403
    iam.update_access_key(UserName=name, AccessKeyId=first["AccessKeyId"], Status="Active")
    assert sts.get_caller_identity()["Arn"].endswith(f"user/{name}")

    iam.delete_access_key(UserName=name, AccessKeyId=first["AccessKeyId"])
    assert error_of(sts.get_caller_identity)[1] == 403
    assert error_of(iam.delete_access_key, UserName=name, AccessKeyId=first["AccessKeyId"]) == (
        "NoSuchEntity",
        404,
        f"The Access Key with id {first['AccessKeyId']} cannot be found.",
    )
    # a key of another user is not found under this one
    admin_key = iam_any.credentials[0]
    assert error_of(iam.update_access_key, UserName=name, AccessKeyId=admin_key, Status="Inactive")[
        :2
    ] == ("NoSuchEntity", 404)
    assert error_of(iam.create_access_key, UserName=unique("ghost"))[:2] == ("NoSuchEntity", 404)


def test_access_key_last_used(iam_sqlite):
    iam = iam_sqlite.client("iam")
    name = unique("used")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    answer = iam.get_access_key_last_used(AccessKeyId=key)
    assert answer["UserName"] == name
    assert answer["AccessKeyLastUsed"] == {"ServiceName": "N/A", "Region": "N/A"}

    from sqlalchemy import update

    from bastion.storage.schema import access_keys

    when = iam_sqlite.runtime.clock.now()
    with iam_sqlite.runtime.store.write() as conn:
        conn.execute(
            update(access_keys)
            .where(access_keys.c.access_key_id == key)
            .values(last_used_at=when, last_used_service="kms", last_used_region="eu-west-1")
        )
    last = iam.get_access_key_last_used(AccessKeyId=key)["AccessKeyLastUsed"]
    assert (last["ServiceName"], last["Region"]) == ("kms", "eu-west-1")
    assert abs((last["LastUsedDate"] - when).total_seconds()) < 1
    assert error_of(iam.get_access_key_last_used, AccessKeyId="AKIAUNKNOWNUNKNOWN00")[:2] == (
        "NoSuchEntity",
        404,
    )


@pytest.mark.parametrize("command", [["iam", "list-users"]])
def test_aws_cli_list_users(iam_sqlite, tmp_path, command):
    name = unique("cli")
    iam_sqlite.client("iam").create_user(UserName=name)
    env = {
        **os.environ,
        "AWS_SHARED_CREDENTIALS_FILE": str(iam_sqlite.settings.credentials_file),
        "AWS_PROFILE": "bastion",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "awscli",
            "--endpoint-url",
            iam_sqlite.endpoint,
            *command,
            "--output",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert f'"UserName": "{name}"' in out.stdout
    assert '"UserName": "admin"' in out.stdout
