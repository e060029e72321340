"""Managed policies end to end: create/get/list/delete, versions, AWS managed policies,
tags, usage listings and AWS's MalformedPolicyDocument/LimitExceeded refusals."""

from __future__ import annotations

import json

import pytest
from iam_support import ALLOW_S3, EC2_TRUST, doc, error_of, paged, unique

from bastion.services.iam.aws_managed import AWS_MANAGED_POLICIES

ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
ALLOW_KMS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}],
}


def test_create_get_delete_policy(iam_any):
    iam = iam_any.client("iam")
    name = unique("read-s3")
    policy = iam.create_policy(
        PolicyName=name,
        Path="/app/",
        PolicyDocument=doc(),
        Description="reads objects",
        Tags=[{"Key": "k", "Value": "v"}],
    )["Policy"]
    arn = f"arn:aws:iam::000000000000:policy/app/{name}"
    assert policy["Arn"] == arn
    assert policy["PolicyId"].startswith("ANPA")
    assert (policy["DefaultVersionId"], policy["AttachmentCount"]) == ("v1", 0)
    assert policy["IsAttachable"] is True
    assert "Description" not in policy  # as AWS's CreatePolicy answer
    got = iam.get_policy(PolicyArn=arn)["Policy"]
    assert got["Description"] == "reads objects"
    assert got["Tags"] == [{"Key": "k", "Value": "v"}]
    version = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert version["Document"] == ALLOW_S3  # URL-decoded and parsed by boto3
    assert version["IsDefaultVersion"] is True
    assert error_of(iam.create_policy, PolicyName=name.upper(), PolicyDocument=doc()) == (
        "EntityAlreadyExists",
        409,
        f"A policy called {name.upper()} already exists. Duplicate names are not allowed.",
    )
    iam.delete_policy(PolicyArn=arn)
    assert error_of(iam.get_policy, PolicyArn=arn) == (
        "NoSuchEntity",
        404,
        f"Policy {arn} does not exist or is not attachable.",
    )
    assert error_of(iam.delete_policy, PolicyArn=arn)[:2] == ("NoSuchEntity", 404)


def test_policy_versions(iam_any):
    iam = iam_any.client("iam")
    arn = iam.create_policy(PolicyName=unique("ver"), PolicyDocument=doc())["Policy"]["Arn"]
    v2 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(ALLOW_KMS))["PolicyVersion"]
    assert (v2["VersionId"], v2["IsDefaultVersion"]) == ("v2", False)
    v3 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(ALLOW_KMS), SetAsDefault=True)
    assert v3["PolicyVersion"] == {
        **v3["PolicyVersion"],
        "VersionId": "v3",
        "IsDefaultVersion": True,
    }
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v3"
    for _ in range(2):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc())
    assert error_of(iam.create_policy_version, PolicyArn=arn, PolicyDocument=doc()) == (
        "LimitExceeded",
        409,
        "A managed policy can have up to 5 versions. Before you create a new version, you must"
        " delete an existing version.",
    )
    versions, calls = paged(iam.list_policy_versions, "Versions", PolicyArn=arn, MaxItems=2)
    assert [v["VersionId"] for v in versions] == ["v5", "v4", "v3", "v2", "v1"] and calls == 3
    assert [v["VersionId"] for v in versions if v["IsDefaultVersion"]] == ["v3"]
    assert all("Document" not in v for v in versions)

    assert error_of(iam.delete_policy_version, PolicyArn=arn, VersionId="v3") == (
        "DeleteConflict",
        409,
        "Cannot delete the default version of a policy.",
    )
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    got = iam.get_policy_version(PolicyArn=arn, VersionId="v3")["PolicyVersion"]
    assert got["Document"] == ALLOW_KMS and got["IsDefaultVersion"] is False
    assert error_of(iam.set_default_policy_version, PolicyArn=arn, VersionId="v9") == (
        "NoSuchEntity",
        404,
        f"Policy {arn} version v9 does not exist or is not attachable.",
    )
    assert error_of(iam.get_policy_version, PolicyArn=arn, VersionId="v9")[:2] == (
        "NoSuchEntity",
        404,
    )
    assert error_of(iam.delete_policy, PolicyArn=arn) == (
        "DeleteConflict",
        409,
        "This policy has more than one version. Before you delete a policy, you must delete"
        " the policy's versions. The default version is deleted with the policy.",
    )
    for version in ("v2", "v3", "v4", "v5"):
        iam.delete_policy_version(PolicyArn=arn, VersionId=version)
    assert error_of(iam.delete_policy_version, PolicyArn=arn, VersionId="v2")[:2] == (
        "NoSuchEntity",
        404,
    )
    v6 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc())["PolicyVersion"]
    assert v6["VersionId"] == "v6"  # version numbers are never reused
    iam.delete_policy_version(PolicyArn=arn, VersionId="v6")
    iam.delete_policy(PolicyArn=arn)


def test_delete_policy_while_attached_or_boundary(iam):
    arn = iam.create_policy(PolicyName=unique("used"), PolicyDocument=doc())["Policy"]["Arn"]
    user = unique("u")
    iam.create_user(UserName=user)
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    assert error_of(iam.delete_policy, PolicyArn=arn) == (
        "DeleteConflict",
        409,
        "Cannot delete a policy attached to entities.",
    )
    iam.detach_user_policy(UserName=user, PolicyArn=arn)
    iam.put_user_permissions_boundary(UserName=user, PermissionsBoundary=arn)
    assert error_of(iam.delete_policy, PolicyArn=arn)[:2] == ("DeleteConflict", 409)
    iam.delete_user_permissions_boundary(UserName=user)
    iam.delete_policy(PolicyArn=arn)


BAD_DOCUMENTS = [
    ("{not json", "MalformedPolicyDocument"),
    ("[]", "MalformedPolicyDocument"),
    (json.dumps({**ALLOW_S3, "Version": "2013-01-01"}), "MalformedPolicyDocument"),
    (
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{**ALLOW_S3["Statement"][0], "Effect": "Maybe"}],
            }
        ),
        "MalformedPolicyDocument",
    ),
    (
        json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}
        ),
        "MalformedPolicyDocument",
    ),
    (doc(EC2_TRUST), "MalformedPolicyDocument"),  # identity policies name no principal
]


@pytest.mark.parametrize(("text", "code"), BAD_DOCUMENTS)
def test_malformed_documents_are_refused_at_write_time(iam, text, code):
    assert error_of(iam.create_policy, PolicyName=unique("bad"), PolicyDocument=text)[:2] == (
        code,
        400,
    )


def test_malformed_documents_on_every_write(iam):
    bad = "{not json"
    arn = iam.create_policy(PolicyName=unique("ok"), PolicyDocument=doc())["Policy"]["Arn"]
    user, group, role = unique("u"), unique("g"), unique("r")
    iam.create_user(UserName=user)
    iam.create_group(GroupName=group)
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=doc(EC2_TRUST))
    calls = [
        lambda: iam.create_policy_version(PolicyArn=arn, PolicyDocument=bad),
        lambda: iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=bad),
        lambda: iam.put_group_policy(GroupName=group, PolicyName="p", PolicyDocument=bad),
        lambda: iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=bad),
        lambda: iam.update_assume_role_policy(RoleName=role, PolicyDocument=bad),
    ]
    for call in calls:
        assert error_of(call)[:2] == ("MalformedPolicyDocument", 400)
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == []  # nothing half-written


def test_managed_policy_size_quota(iam):
    statement = ALLOW_S3["Statement"][0]
    resources = [f"arn:aws:s3:::bucket-{i:04d}/*" for i in range(240)]
    big = {"Version": "2012-10-17", "Statement": [{**statement, "Resource": resources}]}
    assert len(json.dumps(big, separators=(",", ":"))) > 6144
    assert error_of(iam.create_policy, PolicyName=unique("big"), PolicyDocument=doc(big)) == (
        "LimitExceeded",
        409,
        "Cannot exceed quota for PolicySize: 6144",
    )
    fits = {**big, "Statement": [{**statement, "Resource": resources[:180]}]}
    padded = json.dumps(fits, indent=12)
    assert len(padded) > 6144  # white space is not counted
    iam.create_policy(PolicyName=unique("fits"), PolicyDocument=padded)


def test_aws_managed_policies(iam):
    for arn, (name, _description, document) in AWS_MANAGED_POLICIES.items():
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
        assert (policy["PolicyName"], policy["Arn"]) == (name, arn)
        assert policy["DefaultVersionId"] == "v1"
        version = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
        assert version["Document"] == json.loads(document)
    admin = iam.get_policy_version(PolicyArn=ADMIN_POLICY, VersionId="v1")["PolicyVersion"]
    assert admin["Document"]["Statement"] == [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    listed = {p["Arn"] for p in iam.list_policies(Scope="AWS", MaxItems=1000)["Policies"]}
    assert listed == set(AWS_MANAGED_POLICIES)
    for call in (
        lambda: iam.delete_policy(PolicyArn=ADMIN_POLICY),
        lambda: iam.create_policy_version(PolicyArn=ADMIN_POLICY, PolicyDocument=doc()),
        lambda: iam.tag_policy(PolicyArn=ADMIN_POLICY, Tags=[{"Key": "a", "Value": "b"}]),
    ):
        assert error_of(call)[:2] == ("AccessDenied", 403)
    missing = "arn:aws:iam::aws:policy/NoSuchPolicy"
    assert error_of(iam.get_policy, PolicyArn=missing)[:2] == ("NoSuchEntity", 404)


def test_list_policies_filters(iam_any):
    iam = iam_any.client("iam")
    path = f"/{unique('lp')}/"
    names = sorted(unique(f"pol{i}") for i in range(5))
    arns = [
        iam.create_policy(PolicyName=n, Path=path, PolicyDocument=doc())["Policy"]["Arn"]
        for n in names
    ]
    policies, calls = paged(iam.list_policies, "Policies", PathPrefix=path, MaxItems=2)
    assert [p["PolicyName"] for p in policies] == names and calls == 3
    assert all("Description" not in p and "Tags" not in p for p in policies)
    local = {p["Arn"] for p in iam.list_policies(Scope="Local", MaxItems=1000)["Policies"]}
    assert set(arns) <= local and not local & set(AWS_MANAGED_POLICIES)

    role = unique("r")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=doc(EC2_TRUST))
    iam.attach_role_policy(RoleName=role, PolicyArn=arns[1])
    iam.attach_role_policy(RoleName=role, PolicyArn=READ_ONLY)
    attached = iam.list_policies(OnlyAttached=True, MaxItems=1000)["Policies"]
    by_arn = {p["Arn"]: p for p in attached}
    assert {arns[1], READ_ONLY} <= set(by_arn) and arns[0] not in by_arn
    assert by_arn[arns[1]]["AttachmentCount"] == 1
    only_local = iam.list_policies(OnlyAttached=True, Scope="Local", PathPrefix=path)
    assert [p["Arn"] for p in only_local["Policies"]] == [arns[1]]
    iam.put_role_permissions_boundary(RoleName=role, PermissionsBoundary=arns[2])
    boundaries = iam.list_policies(PolicyUsageFilter="PermissionsBoundary", PathPrefix=path)
    assert [p["Arn"] for p in boundaries["Policies"]] == [arns[2]]
    assert boundaries["Policies"][0]["PermissionsBoundaryUsageCount"] == 1


def test_list_entities_for_policy(iam_any):
    iam = iam_any.client("iam")
    arn = iam.create_policy(PolicyName=unique("ent"), PolicyDocument=doc())["Policy"]["Arn"]
    user, group, role = unique("u"), unique("g"), unique("r")
    user_id = iam.create_user(UserName=user, Path="/people/")["User"]["UserId"]
    group_id = iam.create_group(GroupName=group)["Group"]["GroupId"]
    role_id = iam.create_role(RoleName=role, AssumeRolePolicyDocument=doc(EC2_TRUST))["Role"][
        "RoleId"
    ]
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    entities = iam.list_entities_for_policy(PolicyArn=arn)
    assert entities["PolicyUsers"] == [{"UserName": user, "UserId": user_id}]
    assert entities["PolicyGroups"] == [{"GroupName": group, "GroupId": group_id}]
    assert entities["PolicyRoles"] == [{"RoleName": role, "RoleId": role_id}]
    only_roles = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="Role")
    assert (only_roles["PolicyUsers"], only_roles["PolicyGroups"]) == ([], [])
    people = iam.list_entities_for_policy(PolicyArn=arn, PathPrefix="/people/")
    assert people["PolicyUsers"] and not people["PolicyRoles"] and not people["PolicyGroups"]
    seen = []
    marker = None
    while True:
        kwargs = {"Marker": marker} if marker else {}
        page = iam.list_entities_for_policy(PolicyArn=arn, MaxItems=1, **kwargs)
        seen.append(len(page["PolicyUsers"]) + len(page["PolicyGroups"]) + len(page["PolicyRoles"]))
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert seen == [1, 1, 1]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 3
    iam.put_role_permissions_boundary(RoleName=role, PermissionsBoundary=arn)
    iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    bounded = iam.list_entities_for_policy(PolicyArn=arn, PolicyUsageFilter="PermissionsBoundary")
    assert bounded["PolicyRoles"] == [{"RoleName": role, "RoleId": role_id}]
    assert bounded["PolicyUsers"] == []
    assert error_of(
        iam.list_entities_for_policy, PolicyArn="arn:aws:iam::000000000000:policy/none"
    )[:2] == ("NoSuchEntity", 404)


def test_policy_tags(iam):
    arn = iam.create_policy(PolicyName=unique("tagp"), PolicyDocument=doc())["Policy"]["Arn"]
    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    iam.untag_policy(PolicyArn=arn, TagKeys=["a"])
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Tags"] == [{"Key": "b", "Value": "2"}]
    missing = "arn:aws:iam::000000000000:policy/ghost"
    assert error_of(iam.list_policy_tags, PolicyArn=missing)[:2] == ("NoSuchEntity", 404)
