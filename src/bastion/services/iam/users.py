"""IAM users: create, read, rename, delete, tags and permissions boundaries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import RowMapping

from bastion import ids
from bastion.context import RequestContext
from bastion.errors import ClientError
from bastion.services.base import operation
from bastion.services.iam.common import (
    USER,
    USERS_PER_ACCOUNT,
    IamBase,
    already_exists,
    authorized_user,
    count,
    delete_conflict,
    dump_tags,
    find_user,
    iam_arn,
    list_tags,
    load_tags,
    merge_tags,
    paginate,
    quota,
    remove_tags,
    tag_conditions,
    tag_list,
    unique_or,
)
from bastion.services.iam.policies import boundary_view, resolve_boundary
from bastion.storage.iam_tables import (
    iam_attachments,
    iam_group_members,
    iam_inline_policies,
    iam_user_boundaries,
)
from bastion.storage.schema import access_keys, iam_users


def user_view(row: RowMapping | dict[str, Any], boundary: str | None = None) -> dict[str, Any]:
    """GetUser's User: what ListUsers shows plus the boundary and tags."""
    user = user_list_view(row)
    if boundary:
        user["PermissionsBoundary"] = boundary_view(boundary)
    tags = load_tags(row["tags"])
    if tags:
        user["Tags"] = tag_list(tags)
    return user


def user_list_view(row: RowMapping | dict[str, Any]) -> dict[str, Any]:
    return {
        "Path": row["path"],
        "UserName": row["user_name"],
        "UserId": row["user_id"],
        "Arn": row["arn"],
        "CreateDate": row["created_at"],
    }


def user_boundary(ctx: RequestContext, user_name: str) -> str | None:
    return ctx.tx.execute(
        select(iam_user_boundaries.c.policy_arn)
        .where(iam_user_boundaries.c.account_id == ctx.account_id)
        .where(iam_user_boundaries.c.user_name == user_name)
    ).scalar()


class UsersMixin(IamBase):
    @staticmethod
    def _target_user(ctx: RequestContext, request: dict[str, Any]) -> str:
        """The named user, or (as AWS does) the caller's own user when none is named."""
        name = request.get("UserName")
        if name:
            return name
        if ctx.principal.kind != "IAMUser":
            raise ClientError(
                "Must specify userName when calling with non-User credentials",
                code="ValidationError",
            )
        return ctx.principal.name

    def _forget_user_keys(self, ctx: RequestContext, user_name: str) -> None:
        """Drop cached credentials of a user whose identity (name, ARN) changes."""
        keys = ctx.tx.execute(
            select(access_keys.c.access_key_id)
            .where(access_keys.c.account_id == ctx.account_id)
            .where(access_keys.c.user_name == user_name)
        ).scalars()
        for akid in keys:
            self._credentials.invalidate(akid)
            ctx.on_commit.append(lambda akid=akid: self._credentials.invalidate(akid))

    @operation("CreateUser")
    def create_user(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        name, path = request["UserName"], request.get("Path") or "/"
        arn = iam_arn(ctx, "user", name, path)
        conditions = tag_conditions(request.get("Tags")) or {}
        if request.get("PermissionsBoundary"):
            conditions["iam:PermissionsBoundary"] = request["PermissionsBoundary"]
        ctx.authorize("iam:CreateUser", [arn], conditions=conditions or None)
        if find_user(ctx.tx, ctx.account_id, name) is not None:
            raise already_exists(f"User with name {name} already exists.")
        if count(ctx.tx, iam_users, iam_users.c.account_id == ctx.account_id) >= USERS_PER_ACCOUNT:
            raise quota("UsersPerAccount", USERS_PER_ACCOUNT)
        tags = merge_tags({}, request.get("Tags"))
        boundary = request.get("PermissionsBoundary")
        if boundary:
            resolve_boundary(ctx, boundary)
        row = {
            "account_id": ctx.account_id,
            "user_name": name,
            "user_id": ids.unique_id("AIDA"),
            "arn": arn,
            "path": path,
            "is_admin": False,
            "tags": dump_tags(tags),
            "created_at": ctx.now,
        }
        with unique_or(already_exists(f"User with name {name} already exists.")):
            ctx.tx.execute(iam_users.insert().values(**row))
        if boundary:
            ctx.tx.execute(
                iam_user_boundaries.insert().values(
                    account_id=ctx.account_id, user_name=name, policy_arn=boundary
                )
            )
        return {"User": user_view(row, boundary)}

    @operation("GetUser")
    def get_user(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        name = self._target_user(ctx, request)
        row = authorized_user(ctx, "iam:GetUser", name)
        return {"User": user_view(row, user_boundary(ctx, row["user_name"]))}

    @operation("ListUsers")
    def list_users(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        ctx.authorize("iam:ListUsers", ["*"])
        prefix = request.get("PathPrefix") or "/"
        rows = (
            ctx.tx.execute(
                select(iam_users)
                .where(iam_users.c.account_id == ctx.account_id)
                .where(iam_users.c.path.startswith(prefix, autoescape=True))
            )
            .mappings()
            .all()
        )
        return paginate(request, rows, lambda r: r["user_name"], "Users", user_list_view)

    @operation("UpdateUser")
    def update_user(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        row = authorized_user(ctx, "iam:UpdateUser", request["UserName"])
        old = row["user_name"]
        new_name = request.get("NewUserName") or old
        new_path = request.get("NewPath") or row["path"]
        if new_name.lower() != old.lower():
            ctx.authorize("iam:UpdateUser", [iam_arn(ctx, "user", new_name, new_path)])
            if find_user(ctx.tx, ctx.account_id, new_name) is not None:
                raise already_exists(f"User with name {new_name} already exists.")
        if new_name != old and row["is_admin"]:
            raise ClientError(
                "The bootstrap administrator cannot be renamed.",
                code="UnmodifiableEntity",
                status=400,
            )
        arn = iam_arn(ctx, "user", new_name, new_path)
        self._forget_user_keys(ctx, old)
        account = ctx.account_id
        with unique_or(already_exists(f"User with name {new_name} already exists.")):
            ctx.tx.execute(
                update(iam_users)
                .where(iam_users.c.account_id == account)
                .where(iam_users.c.user_name == old)
                .values(user_name=new_name, path=new_path, arn=arn)
            )
        if new_name != old:
            for table, column in (
                (access_keys, access_keys.c.user_name),
                (iam_group_members, iam_group_members.c.user_name),
                (iam_user_boundaries, iam_user_boundaries.c.user_name),
            ):
                ctx.tx.execute(
                    update(table)
                    .where(table.c.account_id == account)
                    .where(column == old)
                    .values({column.name: new_name})
                )
            for table in (iam_inline_policies, iam_attachments):
                ctx.tx.execute(
                    update(table)
                    .where(table.c.account_id == account)
                    .where(table.c.principal_kind == USER)
                    .where(table.c.principal_name == old)
                    .values(principal_name=new_name)
                )
        return None

    @operation("DeleteUser")
    def delete_user(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        row = authorized_user(ctx, "iam:DeleteUser", request["UserName"])
        name, account = row["user_name"], ctx.account_id
        if row["is_admin"]:
            raise delete_conflict("The bootstrap administrator cannot be deleted.")
        checks = (
            (
                access_keys,
                (access_keys.c.user_name == name,),
                "Cannot delete entity, must delete access keys first.",
            ),
            (
                iam_inline_policies,
                (
                    iam_inline_policies.c.principal_kind == USER,
                    iam_inline_policies.c.principal_name == name,
                ),
                "Cannot delete entity, must delete policies first.",
            ),
            (
                iam_attachments,
                (
                    iam_attachments.c.principal_kind == USER,
                    iam_attachments.c.principal_name == name,
                ),
                "Cannot delete entity, must detach all policies first.",
            ),
            (
                iam_group_members,
                (iam_group_members.c.user_name == name,),
                "Cannot delete entity, must remove user from all groups first.",
            ),
        )
        for table, where, message in checks:
            if count(ctx.tx, table, table.c.account_id == account, *where):
                raise delete_conflict(message)
        ctx.tx.execute(
            delete(iam_user_boundaries)
            .where(iam_user_boundaries.c.account_id == account)
            .where(iam_user_boundaries.c.user_name == name)
        )
        ctx.tx.execute(
            delete(iam_users)
            .where(iam_users.c.account_id == account)
            .where(iam_users.c.user_name == name)
        )
        return None

    # --- tags -----------------------------------------------------------------------------

    def _set_user_tags(self, ctx: RequestContext, row: RowMapping, tags: dict[str, str]) -> None:
        ctx.tx.execute(
            update(iam_users)
            .where(iam_users.c.account_id == ctx.account_id)
            .where(iam_users.c.user_name == row["user_name"])
            .values(tags=dump_tags(tags))
        )
        self._forget_user_keys(ctx, row["user_name"])  # principal tags are cached with keys

    @operation("TagUser")
    def tag_user(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        row = authorized_user(
            ctx, "iam:TagUser", request["UserName"], conditions=tag_conditions(request["Tags"])
        )
        self._set_user_tags(ctx, row, merge_tags(load_tags(row["tags"]), request["Tags"]))
        return None

    @operation("UntagUser")
    def untag_user(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        keys = request["TagKeys"]
        row = authorized_user(
            ctx, "iam:UntagUser", request["UserName"], conditions={"aws:TagKeys": keys}
        )
        self._set_user_tags(ctx, row, remove_tags(load_tags(row["tags"]), keys))
        return None

    @operation("ListUserTags")
    def list_user_tags(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = authorized_user(ctx, "iam:ListUserTags", request["UserName"])
        return list_tags(request, load_tags(row["tags"]))

    # --- permissions boundary -------------------------------------------------------------

    @operation("PutUserPermissionsBoundary")
    def put_user_permissions_boundary(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        arn = request["PermissionsBoundary"]
        row = authorized_user(
            ctx,
            "iam:PutUserPermissionsBoundary",
            request["UserName"],
            conditions={"iam:PermissionsBoundary": arn},
        )
        resolve_boundary(ctx, arn)
        where = (iam_user_boundaries.c.account_id == ctx.account_id) & (
            iam_user_boundaries.c.user_name == row["user_name"]
        )
        ctx.tx.execute(delete(iam_user_boundaries).where(where))
        ctx.tx.execute(
            iam_user_boundaries.insert().values(
                account_id=ctx.account_id, user_name=row["user_name"], policy_arn=arn
            )
        )
        return None

    @operation("DeleteUserPermissionsBoundary")
    def delete_user_permissions_boundary(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> None:
        row = authorized_user(ctx, "iam:DeleteUserPermissionsBoundary", request["UserName"])
        ctx.tx.execute(
            delete(iam_user_boundaries)
            .where(iam_user_boundaries.c.account_id == ctx.account_id)
            .where(iam_user_boundaries.c.user_name == row["user_name"])
        )
        return None
