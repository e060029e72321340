"""GetAccountAuthorizationDetails: every user, group, role and policy with their documents."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from bastion.context import RequestContext
from bastion.services.base import operation
from bastion.services.iam.aws_managed import AWS_MANAGED_POLICIES
from bastion.services.iam.common import GROUP, ROLE, USER, IamBase, encode_document, paginate
from bastion.services.iam.policies import (
    aws_policy,
    boundary_view,
    customer_policy,
    policy_document,
    policy_view,
    usage_counts,
)
from bastion.services.iam.roles import role_view
from bastion.services.iam.users import user_view
from bastion.storage.iam_tables import (
    iam_attachments,
    iam_group_members,
    iam_groups,
    iam_inline_policies,
    iam_policies,
    iam_policy_versions,
    iam_roles,
    iam_user_boundaries,
)
from bastion.storage.schema import iam_users

_ORDER = {"User": 0, "Group": 1, "Role": 2, "Policy": 3}
_MEMBER = {
    "User": "UserDetailList",
    "Group": "GroupDetailList",
    "Role": "RoleDetailList",
    "Policy": "Policies",
}


class AccountMixin(IamBase):
    @operation("GetAccountAuthorizationDetails")
    def get_account_authorization_details(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        ctx.authorize("iam:GetAccountAuthorizationDetails", ["*"])
        wanted = set(
            request.get("Filter")
            or ["User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"]
        )
        account, tx = ctx.account_id, ctx.tx
        inline: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
        for kind, name, policy_name, document in tx.execute(
            select(
                iam_inline_policies.c.principal_kind,
                iam_inline_policies.c.principal_name,
                iam_inline_policies.c.policy_name,
                iam_inline_policies.c.document,
            ).where(iam_inline_policies.c.account_id == account)
        ).all():
            inline[(kind, name)].append(
                {"PolicyName": policy_name, "PolicyDocument": encode_document(document)}
            )
        attached: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
        names = {arn: entry[0] for arn, entry in AWS_MANAGED_POLICIES.items()}
        names.update(
            tx.execute(
                select(iam_policies.c.arn, iam_policies.c.policy_name).where(
                    iam_policies.c.account_id == account
                )
            ).all()
        )
        for kind, name, arn in tx.execute(
            select(
                iam_attachments.c.principal_kind,
                iam_attachments.c.principal_name,
                iam_attachments.c.policy_arn,
            ).where(iam_attachments.c.account_id == account)
        ).all():
            attached[(kind, name)].append({"PolicyName": names.get(arn, arn), "PolicyArn": arn})

        items: list[tuple[str, str, dict[str, Any]]] = []
        if "User" in wanted:
            groups: dict[str, list[str]] = defaultdict(list)
            for group, user in tx.execute(
                select(iam_group_members.c.group_name, iam_group_members.c.user_name).where(
                    iam_group_members.c.account_id == account
                )
            ).all():
                groups[user].append(group)
            boundaries = dict(
                tx.execute(
                    select(iam_user_boundaries.c.user_name, iam_user_boundaries.c.policy_arn).where(
                        iam_user_boundaries.c.account_id == account
                    )
                ).all()
            )
            for row in tx.execute(
                select(iam_users).where(iam_users.c.account_id == account)
            ).mappings():
                name = row["user_name"]
                detail = user_view(row, boundaries.get(name))
                detail["UserPolicyList"] = inline[(USER, name)]
                detail["GroupList"] = sorted(groups[name])
                detail["AttachedManagedPolicies"] = attached[(USER, name)]
                items.append(("User", name, detail))
        if "Group" in wanted:
            for row in tx.execute(
                select(iam_groups).where(iam_groups.c.account_id == account)
            ).mappings():
                name = row["group_name"]
                detail = {
                    "Path": row["path"],
                    "GroupName": name,
                    "GroupId": row["group_id"],
                    "Arn": row["arn"],
                    "CreateDate": row["created_at"],
                    "GroupPolicyList": inline[(GROUP, name)],
                    "AttachedManagedPolicies": attached[(GROUP, name)],
                }
                items.append(("Group", name, detail))
        if "Role" in wanted:
            for row in tx.execute(
                select(iam_roles).where(iam_roles.c.account_id == account)
            ).mappings():
                name = row["role_name"]
                detail = role_view(row)
                detail["InstanceProfileList"] = []
                detail["RolePolicyList"] = inline[(ROLE, name)]
                detail["AttachedManagedPolicies"] = attached[(ROLE, name)]
                if row["permissions_boundary_arn"]:
                    detail["PermissionsBoundary"] = boundary_view(row["permissions_boundary_arn"])
                items.append(("Role", name, detail))
        attachments, bounded = usage_counts(ctx)
        policies = []
        if "AWSManagedPolicy" in wanted:  # AWS lists the AWS managed policies in use
            policies.extend(
                p
                for arn in AWS_MANAGED_POLICIES
                if (attachments[arn] or bounded[arn]) and (p := aws_policy(arn))
            )
        if "LocalManagedPolicy" in wanted:
            policies.extend(
                customer_policy(r)
                for r in tx.execute(
                    select(iam_policies).where(iam_policies.c.account_id == account)
                ).mappings()
            )
        for policy in policies:
            detail = policy_view(policy, attachments[policy.arn], bounded[policy.arn], tags=False)
            if policy.aws:
                version_ids = [policy.default_version_id]
            else:
                version_ids = list(
                    tx.execute(
                        select(iam_policy_versions.c.version_id).where(
                            iam_policy_versions.c.policy_arn == policy.arn
                        )
                    ).scalars()
                )
            versions = []
            for version_id in version_ids:
                document, created = policy_document(ctx, policy, version_id)
                versions.append(
                    {
                        "Document": encode_document(document),
                        "VersionId": version_id,
                        "IsDefaultVersion": version_id == policy.default_version_id,
                        "CreateDate": created,
                    }
                )
            detail["PolicyVersionList"] = versions
            items.append(("Policy", f"{policy.name}\0{policy.arn}", detail))

        page = paginate(request, items, lambda i: f"{_ORDER[i[0]]}\0{i[1]}", "Items")
        response: dict[str, Any] = {member: [] for member in _MEMBER.values()}
        for kind, _name, detail in page.pop("Items"):
            response[_MEMBER[kind]].append(detail)
        response.update(page)
        return response
