"""IAM groups end to end: lifecycle, members, rename, conflicts, pagination."""

from __future__ import annotations

from iam_support import doc, error_of, paged, unique

ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"


def test_group_lifecycle_and_members(iam_any):
    iam = iam_any.client("iam")
    group, alice, bob = unique("devs"), unique("alice"), unique("bob")
    created = iam.create_group(GroupName=group, Path="/eng/")["Group"]
    assert created["Arn"] == f"arn:aws:iam::000000000000:group/eng/{group}"
    assert created["GroupId"].startswith("AGPA")
    assert error_of(iam.create_group, GroupName=group.upper()) == (
        "EntityAlreadyExists",
        409,
        f"Group with name {group.upper()} already exists.",
    )
    for user in (alice, bob):
        iam.create_user(UserName=user)
        iam.add_user_to_group(GroupName=group, UserName=user)
    iam.add_user_to_group(GroupName=group.upper(), UserName=alice.upper())  # idempotent
    answer = iam.get_group(GroupName=group)
    assert answer["Group"]["GroupName"] == group
    assert sorted(u["UserName"] for u in answer["Users"]) == sorted([alice, bob])
    members, calls = paged(iam.get_group, "Users", GroupName=group, MaxItems=1)
    assert (len(members), calls) == (2, 2)
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=alice)["Groups"]] == [group]
    assert group in [g["GroupName"] for g in iam.list_groups(PathPrefix="/eng/")["Groups"]]

    assert error_of(iam.delete_group, GroupName=group) == (
        "DeleteConflict",
        409,
        "Cannot delete entity, must remove users from group first.",
    )
    iam.remove_user_from_group(GroupName=group, UserName=alice)
    assert error_of(iam.remove_user_from_group, GroupName=group, UserName=alice)[:2] == (
        "NoSuchEntity",
        404,
    )
    iam.remove_user_from_group(GroupName=group, UserName=bob)
    assert iam.list_groups_for_user(UserName=alice)["Groups"] == []
    iam.put_group_policy(GroupName=group, PolicyName="p", PolicyDocument=doc())
    assert error_of(iam.delete_group, GroupName=group)[2] == (
        "Cannot delete entity, must delete policies first."
    )
    iam.delete_group_policy(GroupName=group, PolicyName="p")
    iam.attach_group_policy(GroupName=group, PolicyArn=ADMIN_POLICY)
    assert error_of(iam.delete_group, GroupName=group)[2] == (
        "Cannot delete entity, must detach all policies first."
    )
    iam.detach_group_policy(GroupName=group, PolicyArn=ADMIN_POLICY)
    iam.delete_group(GroupName=group)
    assert error_of(iam.get_group, GroupName=group) == (
        "NoSuchEntity",
        404,
        f"The group with name {group} cannot be found.",
    )


def test_membership_errors_and_quota(iam):
    group, user = unique("g"), unique("u")
    iam.create_group(GroupName=group)
    iam.create_user(UserName=user)
    assert error_of(iam.add_user_to_group, GroupName=group, UserName=unique("ghost"))[:2] == (
        "NoSuchEntity",
        404,
    )
    assert error_of(iam.add_user_to_group, GroupName=unique("ghost"), UserName=user)[:2] == (
        "NoSuchEntity",
        404,
    )
    assert error_of(iam.list_groups_for_user, UserName=unique("ghost"))[:2] == (
        "NoSuchEntity",
        404,
    )
    groups = [unique(f"q{i}") for i in range(10)]
    for name in groups:
        iam.create_group(GroupName=name)
        iam.add_user_to_group(GroupName=name, UserName=user)
    assert error_of(iam.add_user_to_group, GroupName=group, UserName=user) == (
        "LimitExceeded",
        409,
        "Cannot exceed quota for GroupsPerUser: 10",
    )


def test_update_group_renames_members_and_policies(iam):
    old, new, user = unique("old"), unique("new"), unique("member")
    iam.create_group(GroupName=old)
    iam.create_user(UserName=user)
    iam.add_user_to_group(GroupName=old, UserName=user)
    iam.put_group_policy(GroupName=old, PolicyName="inline", PolicyDocument=doc())
    iam.attach_group_policy(GroupName=old, PolicyArn=ADMIN_POLICY)
    iam.update_group(GroupName=old, NewGroupName=new, NewPath="/renamed/")
    group = iam.get_group(GroupName=new)
    assert group["Group"]["Arn"].endswith(f":group/renamed/{new}")
    assert [u["UserName"] for u in group["Users"]] == [user]
    assert iam.get_group_policy(GroupName=new, PolicyName="inline")["GroupName"] == new
    attached = iam.list_attached_group_policies(GroupName=new)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [ADMIN_POLICY]
    assert error_of(iam.get_group, GroupName=old)[0] == "NoSuchEntity"


def test_list_groups_pagination(iam_any):
    iam = iam_any.client("iam")
    path = f"/{unique('gp')}/"
    names = sorted(unique(f"lg{i}") for i in range(5))
    for name in names:
        iam.create_group(GroupName=name, Path=path)
    groups, calls = paged(iam.list_groups, "Groups", PathPrefix=path, MaxItems=2)
    assert [g["GroupName"] for g in groups] == names
    assert calls == 3
