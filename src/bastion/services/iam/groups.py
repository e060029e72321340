"""IAM groups and their members."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import RowMapping

from bastion import ids
from bastion.context import RequestContext
from bastion.services.base import operation
from bastion.services.iam.common import (
    GROUP,
    GROUPS_PER_ACCOUNT,
    GROUPS_PER_USER,
    IamBase,
    already_exists,
    authorized_group,
    authorized_user,
    count,
    delete_conflict,
    find_group,
    find_user,
    iam_arn,
    no_such_entity,
    no_such_user,
    paginate,
    quota,
    unique_or,
)
from bastion.services.iam.users import user_list_view
from bastion.storage.iam_tables import (
    iam_attachments,
    iam_group_members,
    iam_groups,
    iam_inline_policies,
)
from bastion.storage.schema import iam_users


def group_view(row: RowMapping | dict[str, Any]) -> dict[str, Any]:
    return {
        "Path": row["path"],
        "GroupName": row["group_name"],
        "GroupId": row["group_id"],
        "Arn": row["arn"],
        "CreateDate": row["created_at"],
    }


class GroupsMixin(IamBase):
    @operation("CreateGroup")
    def create_group(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        name, path = request["GroupName"], request.get("Path") or "/"
        arn = iam_arn(ctx, "group", name, path)
        ctx.authorize("iam:CreateGroup", [arn])
        if find_group(ctx.tx, ctx.account_id, name) is not None:
            raise already_exists(f"Group with name {name} already exists.")
        if count(ctx.tx, iam_groups, iam_groups.c.account_id == ctx.account_id) >= (
            GROUPS_PER_ACCOUNT
        ):
            raise quota("GroupsPerAccount", GROUPS_PER_ACCOUNT)
        row = {
            "account_id": ctx.account_id,
            "group_name": name,
            "group_id": ids.unique_id("AGPA"),
            "arn": arn,
            "path": path,
            "created_at": ctx.now,
        }
        with unique_or(already_exists(f"Group with name {name} already exists.")):
            ctx.tx.execute(iam_groups.insert().values(**row))
        return {"Group": group_view(row)}

    @operation("GetGroup")
    def get_group(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        group = authorized_group(ctx, "iam:GetGroup", request["GroupName"])
        users = (
            ctx.tx.execute(
                select(iam_users)
                .join(
                    iam_group_members,
                    (iam_group_members.c.account_id == iam_users.c.account_id)
                    & (iam_group_members.c.user_name == iam_users.c.user_name),
                )
                .where(iam_group_members.c.account_id == ctx.account_id)
                .where(iam_group_members.c.group_name == group["group_name"])
            )
            .mappings()
            .all()
        )
        page = paginate(request, users, lambda r: r["user_name"], "Users", user_list_view)
        return {"Group": group_view(group), **page}

    @operation("ListGroups")
    def list_groups(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        ctx.authorize("iam:ListGroups", ["*"])
        prefix = request.get("PathPrefix") or "/"
        rows = (
            ctx.tx.execute(
                select(iam_groups)
                .where(iam_groups.c.account_id == ctx.account_id)
                .where(iam_groups.c.path.startswith(prefix, autoescape=True))
            )
            .mappings()
            .all()
        )
        return paginate(request, rows, lambda r: r["group_name"], "Groups", group_view)

    @operation("UpdateGroup")
    def update_group(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        group = authorized_group(ctx, "iam:UpdateGroup", request["GroupName"])
        old = group["group_name"]
        new_name = request.get("NewGroupName") or old
        new_path = request.get("NewPath") or group["path"]
        if new_name.lower() != old.lower():
            ctx.authorize("iam:UpdateGroup", [iam_arn(ctx, "group", new_name, new_path)])
            if find_group(ctx.tx, ctx.account_id, new_name) is not None:
                raise already_exists(f"Group with name {new_name} already exists.")
        account = ctx.account_id
        with unique_or(already_exists(f"Group with name {new_name} already exists.")):
            ctx.tx.execute(
                update(iam_groups)
                .where(iam_groups.c.account_id == account)
                .where(iam_groups.c.group_name == old)
                .values(
                    group_name=new_name,
                    path=new_path,
                    arn=iam_arn(ctx, "group", new_name, new_path),
                )
            )
        if new_name != old:
            ctx.tx.execute(
                update(iam_group_members)
                .where(iam_group_members.c.account_id == account)
                .where(iam_group_members.c.group_name == old)
                .values(group_name=new_name)
            )
            for table in (iam_inline_policies, iam_attachments):
                ctx.tx.execute(
                    update(table)
                    .where(table.c.account_id == account)
                    .where(table.c.principal_kind == GROUP)
                    .where(table.c.principal_name == old)
                    .values(principal_name=new_name)
                )
        return None

    @operation("DeleteGroup")
    def delete_group(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        group = authorized_group(ctx, "iam:DeleteGroup", request["GroupName"])
        name, account = group["group_name"], ctx.account_id
        if count(
            ctx.tx,
            iam_group_members,
            iam_group_members.c.account_id == account,
            iam_group_members.c.group_name == name,
        ):
            raise delete_conflict("Cannot delete entity, must remove users from group first.")
        for table, message in (
            (iam_inline_policies, "Cannot delete entity, must delete policies first."),
            (iam_attachments, "Cannot delete entity, must detach all policies first."),
        ):
            if count(
                ctx.tx,
                table,
                table.c.account_id == account,
                table.c.principal_kind == GROUP,
                table.c.principal_name == name,
            ):
                raise delete_conflict(message)
        ctx.tx.execute(
            delete(iam_groups)
            .where(iam_groups.c.account_id == account)
            .where(iam_groups.c.group_name == name)
        )
        return None

    # --- membership -----------------------------------------------------------------------

    def _member_pair(
        self, ctx: RequestContext, action: str, request: dict[str, Any]
    ) -> tuple[RowMapping, RowMapping]:
        group = authorized_group(ctx, action, request["GroupName"])
        user = find_user(ctx.tx, ctx.account_id, request["UserName"])
        if user is None:
            raise no_such_user(request["UserName"])
        return group, user

    def _is_member(self, ctx: RequestContext, group: str, user: str) -> bool:
        return bool(
            count(
                ctx.tx,
                iam_group_members,
                iam_group_members.c.account_id == ctx.account_id,
                iam_group_members.c.group_name == group,
                iam_group_members.c.user_name == user,
            )
        )

    @operation("AddUserToGroup")
    def add_user_to_group(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        group, user = self._member_pair(ctx, "iam:AddUserToGroup", request)
        if self._is_member(ctx, group["group_name"], user["user_name"]):
            return None
        groups = count(
            ctx.tx,
            iam_group_members,
            iam_group_members.c.account_id == ctx.account_id,
            iam_group_members.c.user_name == user["user_name"],
        )
        if groups >= GROUPS_PER_USER:
            raise quota("GroupsPerUser", GROUPS_PER_USER)
        ctx.tx.execute(
            iam_group_members.insert().values(
                account_id=ctx.account_id,
                group_name=group["group_name"],
                user_name=user["user_name"],
            )
        )
        return None

    @operation("RemoveUserFromGroup")
    def remove_user_from_group(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        group, user = self._member_pair(ctx, "iam:RemoveUserFromGroup", request)
        if not self._is_member(ctx, group["group_name"], user["user_name"]):
            raise no_such_entity(f"User {user['user_name']} is not in group {group['group_name']}.")
        ctx.tx.execute(
            delete(iam_group_members)
            .where(iam_group_members.c.account_id == ctx.account_id)
            .where(iam_group_members.c.group_name == group["group_name"])
            .where(iam_group_members.c.user_name == user["user_name"])
        )
        return None

    @operation("ListGroupsForUser")
    def list_groups_for_user(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        user = authorized_user(ctx, "iam:ListGroupsForUser", request["UserName"])
        rows = (
            ctx.tx.execute(
                select(iam_groups)
                .join(
                    iam_group_members,
                    (iam_group_members.c.account_id == iam_groups.c.account_id)
                    & (iam_group_members.c.group_name == iam_groups.c.group_name),
                )
                .where(iam_group_members.c.account_id == ctx.account_id)
                .where(iam_group_members.c.user_name == user["user_name"])
            )
            .mappings()
            .all()
        )
        return paginate(request, rows, lambda r: r["group_name"], "Groups", group_view)
