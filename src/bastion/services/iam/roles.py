"""IAM roles: trust policies, tags, permissions boundaries and last use.

Roles are used without instance profiles: STS's AssumeRole reads `iam_roles` directly
(trust_policy, max_session_duration, permissions_boundary_arn) and records last use in
last_used_at / last_used_region, which GetRole shows as RoleLastUsed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.engine import RowMapping

from bastion import ids
from bastion.context import RequestContext
from bastion.services.base import operation
from bastion.services.iam.common import (
    ROLE,
    ROLES_PER_ACCOUNT,
    TRUST_POLICY_SIZE,
    IamBase,
    already_exists,
    authorized_role,
    check_document,
    count,
    delete_conflict,
    dump_tags,
    encode_document,
    find_role,
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
from bastion.storage.iam_tables import iam_attachments, iam_inline_policies, iam_roles

DEFAULT_MAX_SESSION_DURATION = 3600


def role_list_view(row: RowMapping | dict[str, Any]) -> dict[str, Any]:
    """A role as ListRoles shows it (no boundary, tags or last use)."""
    view: dict[str, Any] = {
        "Path": row["path"],
        "RoleName": row["role_name"],
        "RoleId": row["role_id"],
        "Arn": row["arn"],
        "CreateDate": row["created_at"],
        "AssumeRolePolicyDocument": encode_document(row["trust_policy"]),
        "MaxSessionDuration": row["max_session_duration"],
    }
    if row["description"] is not None:
        view["Description"] = row["description"]
    return view


def role_view(row: RowMapping | dict[str, Any], last_used: bool = True) -> dict[str, Any]:
    view = role_list_view(row)
    if row["permissions_boundary_arn"]:
        view["PermissionsBoundary"] = boundary_view(row["permissions_boundary_arn"])
    tags = load_tags(row["tags"])
    if tags:
        view["Tags"] = tag_list(tags)
    if last_used:
        used: dict[str, Any] = {}
        if row["last_used_at"] is not None:
            used["LastUsedDate"] = row["last_used_at"]
        if row["last_used_region"]:
            used["Region"] = row["last_used_region"]
        view["RoleLastUsed"] = used
    return view


def _check_trust_policy(text: str) -> None:
    check_document(
        text,
        kind="trust",
        max_length=TRUST_POLICY_SIZE,
        too_large=f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_SIZE}",
    )


class RolesMixin(IamBase):
    @operation("CreateRole")
    def create_role(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        name, path = request["RoleName"], request.get("Path") or "/"
        arn = iam_arn(ctx, "role", name, path)
        boundary = request.get("PermissionsBoundary")
        conditions = tag_conditions(request.get("Tags")) or {}
        if boundary:
            conditions["iam:PermissionsBoundary"] = boundary
        ctx.authorize("iam:CreateRole", [arn], conditions=conditions or None)
        if find_role(ctx.tx, ctx.account_id, name) is not None:
            raise already_exists(f"Role with name {name} already exists.")
        if count(ctx.tx, iam_roles, iam_roles.c.account_id == ctx.account_id) >= (
            ROLES_PER_ACCOUNT
        ):
            raise quota("RolesPerAccount", ROLES_PER_ACCOUNT)
        document = request["AssumeRolePolicyDocument"]
        _check_trust_policy(document)
        tags = merge_tags({}, request.get("Tags"))
        if boundary:
            resolve_boundary(ctx, boundary)
        row = {
            "account_id": ctx.account_id,
            "role_name": name,
            "role_id": ids.unique_id("AROA"),
            "arn": arn,
            "path": path,
            "trust_policy": document,
            "description": request.get("Description"),
            "max_session_duration": request.get("MaxSessionDuration")
            or DEFAULT_MAX_SESSION_DURATION,
            "permissions_boundary_arn": boundary,
            "tags": dump_tags(tags),
            "created_at": ctx.now,
            "last_used_at": None,
            "last_used_region": None,
        }
        with unique_or(already_exists(f"Role with name {name} already exists.")):
            ctx.tx.execute(iam_roles.insert().values(**row))
        return {"Role": role_view(row, last_used=False)}

    @operation("GetRole")
    def get_role(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return {"Role": role_view(authorized_role(ctx, "iam:GetRole", request["RoleName"]))}

    @operation("ListRoles")
    def list_roles(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        ctx.authorize("iam:ListRoles", ["*"])
        prefix = request.get("PathPrefix") or "/"
        rows = (
            ctx.tx.execute(
                iam_roles.select()
                .where(iam_roles.c.account_id == ctx.account_id)
                .where(iam_roles.c.path.startswith(prefix, autoescape=True))
            )
            .mappings()
            .all()
        )
        return paginate(request, rows, lambda r: r["role_name"], "Roles", role_list_view)

    def _update_role(self, ctx: RequestContext, row: RowMapping, **values: Any) -> None:
        ctx.tx.execute(
            update(iam_roles)
            .where(iam_roles.c.account_id == ctx.account_id)
            .where(iam_roles.c.role_name == row["role_name"])
            .values(**values)
        )

    @operation("UpdateRole")
    def update_role(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = authorized_role(ctx, "iam:UpdateRole", request["RoleName"])
        values: dict[str, Any] = {}
        if "Description" in request:
            values["description"] = request["Description"]
        if request.get("MaxSessionDuration"):
            values["max_session_duration"] = request["MaxSessionDuration"]
        if values:
            self._update_role(ctx, row, **values)
        return {}

    @operation("UpdateRoleDescription")
    def update_role_description(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        row = authorized_role(ctx, "iam:UpdateRoleDescription", request["RoleName"])
        self._update_role(ctx, row, description=request["Description"])
        return {"Role": role_view({**row, "description": request["Description"]})}

    @operation("UpdateAssumeRolePolicy")
    def update_assume_role_policy(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        row = authorized_role(ctx, "iam:UpdateAssumeRolePolicy", request["RoleName"])
        _check_trust_policy(request["PolicyDocument"])
        self._update_role(ctx, row, trust_policy=request["PolicyDocument"])
        return None

    @operation("DeleteRole")
    def delete_role(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        row = authorized_role(ctx, "iam:DeleteRole", request["RoleName"])
        name, account = row["role_name"], ctx.account_id
        for table, message in (
            (iam_inline_policies, "Cannot delete entity, must delete policies first."),
            (iam_attachments, "Cannot delete entity, must detach all policies first."),
        ):
            if count(
                ctx.tx,
                table,
                table.c.account_id == account,
                table.c.principal_kind == ROLE,
                table.c.principal_name == name,
            ):
                raise delete_conflict(message)
        ctx.tx.execute(
            delete(iam_roles)
            .where(iam_roles.c.account_id == account)
            .where(iam_roles.c.role_name == name)
        )
        return None

    # --- tags -----------------------------------------------------------------------------

    @operation("TagRole")
    def tag_role(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        row = authorized_role(
            ctx, "iam:TagRole", request["RoleName"], conditions=tag_conditions(request["Tags"])
        )
        tags = merge_tags(load_tags(row["tags"]), request["Tags"])
        self._update_role(ctx, row, tags=dump_tags(tags))
        return None

    @operation("UntagRole")
    def untag_role(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        keys = request["TagKeys"]
        row = authorized_role(
            ctx, "iam:UntagRole", request["RoleName"], conditions={"aws:TagKeys": keys}
        )
        self._update_role(ctx, row, tags=dump_tags(remove_tags(load_tags(row["tags"]), keys)))
        return None

    @operation("ListRoleTags")
    def list_role_tags(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = authorized_role(ctx, "iam:ListRoleTags", request["RoleName"])
        return list_tags(request, load_tags(row["tags"]))

    # --- permissions boundary -------------------------------------------------------------

    @operation("PutRolePermissionsBoundary")
    def put_role_permissions_boundary(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        arn = request["PermissionsBoundary"]
        row = authorized_role(
            ctx,
            "iam:PutRolePermissionsBoundary",
            request["RoleName"],
            conditions={"iam:PermissionsBoundary": arn},
        )
        resolve_boundary(ctx, arn)
        self._update_role(ctx, row, permissions_boundary_arn=arn)
        return None

    @operation("DeleteRolePermissionsBoundary")
    def delete_role_permissions_boundary(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> None:
        row = authorized_role(ctx, "iam:DeleteRolePermissionsBoundary", request["RoleName"])
        self._update_role(ctx, row, permissions_boundary_arn=None)
        return None
