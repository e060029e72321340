"""Account-wide IAM behaviour: authorization details, authorization of every call,
audit resources, dev-mode reset."""

from __future__ import annotations

import urllib.request

import pytest
from iam_support import ALLOW_S3, EC2_TRUST, doc, error_of, unique

from support import ThreadServer, make_settings

READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def test_get_account_authorization_details(iam):
    user, group, role = unique("u"), unique("g"), unique("r")
    iam.create_user(UserName=user)
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user)
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=doc(EC2_TRUST))
    iam.put_user_policy(UserName=user, PolicyName="inline", PolicyDocument=doc())
    iam.attach_role_policy(RoleName=role, PolicyArn=READ_ONLY)
    arn = iam.create_policy(PolicyName=unique("p"), PolicyDocument=doc())["Policy"]["Arn"]
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)

    details = iam.get_account_authorization_details()
    users = {u["UserName"]: u for u in details["UserDetailList"]}
    assert users[user]["GroupList"] == [group]
    assert users[user]["UserPolicyList"] == [{"PolicyName": "inline", "PolicyDocument": ALLOW_S3}]
    groups = {g["GroupName"]: g for g in details["GroupDetailList"]}
    assert groups[group]["AttachedManagedPolicies"][0]["PolicyArn"] == arn
    roles = {r["RoleName"]: r for r in details["RoleDetailList"]}
    assert roles[role]["AssumeRolePolicyDocument"] == EC2_TRUST
    assert roles[role]["AttachedManagedPolicies"][0]["PolicyName"] == "ReadOnlyAccess"
    policies = {p["Arn"]: p for p in details["Policies"]}
    assert policies[arn]["PolicyVersionList"][0]["Document"] == ALLOW_S3
    assert READ_ONLY in policies  # attached AWS managed policies are listed
    assert "arn:aws:iam::aws:policy/IAMFullAccess" not in policies

    only_roles = iam.get_account_authorization_details(Filter=["Role"])
    assert only_roles["UserDetailList"] == [] and only_roles["RoleDetailList"]
    # pagination walks the same items
    seen, marker = 0, None
    while True:
        page = iam.get_account_authorization_details(
            MaxItems=2, **({"Marker": marker} if marker else {})
        )
        seen += sum(
            len(page[k])
            for k in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
        )
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert seen == sum(
        len(details[k]) for k in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
    )


def test_non_admin_is_denied_on_the_resource_arn(iam_sqlite):
    iam = iam_sqlite.client("iam")
    name = unique("limited")
    arn = iam.create_user(UserName=name, Path="/p/")["User"]["Arn"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    limited = iam_sqlite.client(
        "iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"]
    )
    code, status, message = error_of(limited.get_user, UserName=name)
    assert (code, status) == ("AccessDenied", 403)
    assert f"iam:GetUser on resource: {arn}" in message  # the path is in the ARN
    code, status, message = error_of(limited.list_roles)
    assert (code, status) == ("AccessDenied", 403) and "iam:ListRoles" in message
    role = unique("r")
    code, _, message = error_of(
        limited.create_role, RoleName=role, AssumeRolePolicyDocument=doc(EC2_TRUST)
    )
    assert code == "AccessDenied"
    assert f"on resource: arn:aws:iam::000000000000:role/{role}" in message
    assert error_of(iam.get_role, RoleName=role)[0] == "NoSuchEntity"  # nothing written
    code, _, message = error_of(limited.get_policy, PolicyArn=READ_ONLY)
    assert code == "AccessDenied" and READ_ONLY in message


def test_audit_records_name_the_resources(iam_sqlite):
    iam = iam_sqlite.client("iam")
    role = unique("audited")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=doc(EC2_TRUST))["Role"]["Arn"]
    trail = iam_sqlite.client("cloudtrail")
    events = trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": arn}]
    )["Events"]
    assert [e["EventName"] for e in events] == ["CreateRole"]


@pytest.fixture(params=["sqlite", "postgresql"])
def dev_server(request, tmp_path, clock):
    from support import postgres_database

    if request.param == "sqlite":
        srv = ThreadServer(make_settings(tmp_path / "dev", dev=True), clock).start()
        try:
            yield srv
        finally:
            srv.stop()
        return
    with postgres_database() as url:
        srv = ThreadServer(make_settings(tmp_path / "dev", url, dev=True), clock).start()
        try:
            yield srv
        finally:
            srv.stop()


def test_dev_reset_keeps_only_the_admin(dev_server):
    iam = dev_server.client("iam")
    user, group, role = unique("u"), unique("g"), unique("r")
    iam.create_user(UserName=user, PermissionsBoundary=READ_ONLY)
    iam.create_access_key(UserName=user)
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user)
    iam.add_user_to_group(GroupName=group, UserName="admin")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=doc(EC2_TRUST))
    arn = iam.create_policy(PolicyName=unique("p"), PolicyDocument=doc())["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc())
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    iam.attach_user_policy(UserName="admin", PolicyArn=READ_ONLY)
    iam.put_group_policy(GroupName=group, PolicyName="g", PolicyDocument=doc())
    iam.put_user_policy(UserName="admin", PolicyName="a", PolicyDocument=doc())

    request = urllib.request.Request(
        dev_server.endpoint + "/_bastion/reset", data=b"", method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200

    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["admin"]
    assert iam.list_groups()["Groups"] == []
    assert iam.list_roles()["Roles"] == []
    assert iam.list_policies(Scope="Local")["Policies"] == []
    assert iam.list_attached_user_policies(UserName="admin")["AttachedPolicies"] == []
    assert iam.list_user_policies(UserName="admin")["PolicyNames"] == []
    assert iam.list_groups_for_user(UserName="admin")["Groups"] == []
    keys = iam.list_access_keys(UserName="admin")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [dev_server.credentials[0]]
    assert {p["Arn"] for p in iam.list_policies(Scope="AWS")["Policies"]} >= {READ_ONLY}
    # every name is free again
    iam.create_user(UserName=user)
    iam.create_group(GroupName=group)
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=doc(EC2_TRUST))
