"""IAM users and their access keys.

Access key secrets are sealed by the barrier the moment they are created and returned
exactly once, in CreateAccessKey's response, as on AWS.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, Table, delete, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from bastion import ids
from bastion.arn import make_arn
from bastion.auth.bootstrap import create_access_key
from bastion.auth.credentials import CredentialStore
from bastion.barrier import Barrier
from bastion.context import RequestContext
from bastion.errors import ClientError
from bastion.services.base import Provider, operation
from bastion.storage.schema import access_keys, iam_users

MAX_ACCESS_KEYS_PER_USER = 2
DEFAULT_MAX_ITEMS = 100


def no_such_user(name: str) -> ClientError:
    return ClientError(
        f"The user with name {name} cannot be found.", code="NoSuchEntity", status=404
    )


def _user_view(row: Any) -> dict[str, Any]:
    user: dict[str, Any] = {
        "Path": row["path"],
        "UserName": row["user_name"],
        "UserId": row["user_id"],
        "Arn": row["arn"],
        "CreateDate": row["created_at"],
    }
    tags = orjson.loads(row["tags"] or "{}")
    if tags:
        user["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return user


def _page(marker: str | None, max_items: int | None) -> tuple[int, int]:
    start = 0
    if marker:
        try:
            start = int(marker)
        except ValueError as exc:
            raise ClientError("Invalid Marker.", code="InvalidInput") from exc
    return start, max_items or DEFAULT_MAX_ITEMS


class IamProvider(Provider):
    service = "iam"
    state_tables = (iam_users, access_keys)

    def __init__(
        self, barrier: Barrier, credentials: CredentialStore, bootstrap_key_id: str = ""
    ) -> None:
        self._barrier = barrier
        self._credentials = credentials
        self._bootstrap_key_id = bootstrap_key_id

    def initial_rows(self, table: Table) -> ColumnElement[bool] | None:
        """The bootstrap administrator and its first key survive a reset."""
        if table is iam_users:
            return iam_users.c.is_admin.is_(True)
        if table is access_keys:
            return access_keys.c.access_key_id == self._bootstrap_key_id
        return None

    def clear_caches(self) -> None:
        self._credentials.invalidate()

    # --- helpers -------------------------------------------------------------------------

    @staticmethod
    def _user_arn(ctx: RequestContext, name: str, path: str = "/") -> str:
        return make_arn("iam", "", ctx.account_id, f"user{path}{name}")

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

    @staticmethod
    def _load_user(conn: Connection, account_id: str, name: str) -> Any:
        row = (
            conn.execute(
                select(iam_users)
                .where(iam_users.c.account_id == account_id)
                .where(func.lower(iam_users.c.user_name) == name.lower())
            )
            .mappings()
            .first()
        )
        if row is None:
            raise no_such_user(name)
        return row

    # --- users ---------------------------------------------------------------------------

    @operation("CreateUser")
    def create_user(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        name, path = request["UserName"], request.get("Path") or "/"
        arn = self._user_arn(ctx, name, path)
        ctx.authorize("iam:CreateUser", [arn])
        if request.get("PermissionsBoundary"):
            raise ClientError("Permissions boundaries are not supported yet.", code="InvalidInput")
        exists = ctx.tx.execute(
            select(iam_users.c.user_name)
            .where(iam_users.c.account_id == ctx.account_id)
            .where(func.lower(iam_users.c.user_name) == name.lower())
        ).first()
        if exists is not None:
            raise ClientError(
                f"User with name {name} already exists.", code="EntityAlreadyExists", status=409
            )
        tags = {t["Key"]: t["Value"] for t in request.get("Tags") or []}
        row = {
            "account_id": ctx.account_id,
            "user_name": name,
            "user_id": ids.unique_id("AIDA"),
            "arn": arn,
            "path": path,
            "is_admin": False,
            "tags": orjson.dumps(tags).decode(),
            "created_at": ctx.now,
        }
        ctx.tx.execute(iam_users.insert().values(**row))
        return {"User": _user_view(row)}

    @operation("GetUser")
    def get_user(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        name = self._target_user(ctx, request)
        ctx.authorize("iam:GetUser", [self._user_arn(ctx, name)])
        return {"User": _user_view(self._load_user(ctx.tx, ctx.account_id, name))}

    @operation("ListUsers")
    def list_users(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        ctx.authorize("iam:ListUsers", [make_arn("iam", "", ctx.account_id, "user/")])
        start, limit = _page(request.get("Marker"), request.get("MaxItems"))
        prefix = request.get("PathPrefix") or "/"
        rows = (
            ctx.tx.execute(
                select(iam_users)
                .where(iam_users.c.account_id == ctx.account_id)
                .where(iam_users.c.path.startswith(prefix, autoescape=True))
                .order_by(iam_users.c.user_name)
                .offset(start)
                .limit(limit + 1)
            )
            .mappings()
            .all()
        )
        response: dict[str, Any] = {
            "Users": [_user_view(r) for r in rows[:limit]],
            "IsTruncated": len(rows) > limit,
        }
        if len(rows) > limit:
            response["Marker"] = str(start + limit)
        return response

    @operation("DeleteUser")
    def delete_user(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        name = request["UserName"]
        ctx.authorize("iam:DeleteUser", [self._user_arn(ctx, name)])
        row = self._load_user(ctx.tx, ctx.account_id, name)
        if row["is_admin"]:
            raise ClientError(
                "The bootstrap administrator cannot be deleted.",
                code="DeleteConflict",
                status=409,
            )
        keys = ctx.tx.execute(
            select(func.count())
            .select_from(access_keys)
            .where(access_keys.c.account_id == ctx.account_id)
            .where(access_keys.c.user_name == row["user_name"])
        ).scalar_one()
        if keys:
            raise ClientError(
                "Cannot delete entity, must delete access keys first.",
                code="DeleteConflict",
                status=409,
            )
        ctx.tx.execute(
            delete(iam_users)
            .where(iam_users.c.account_id == ctx.account_id)
            .where(iam_users.c.user_name == row["user_name"])
        )
        return None

    # --- access keys -----------------------------------------------------------------------

    @operation("CreateAccessKey")
    def create_access_key(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        name = self._target_user(ctx, request)
        ctx.authorize("iam:CreateAccessKey", [self._user_arn(ctx, name)])
        user = self._load_user(ctx.tx, ctx.account_id, name)
        count = ctx.tx.execute(
            select(func.count())
            .select_from(access_keys)
            .where(access_keys.c.account_id == ctx.account_id)
            .where(access_keys.c.user_name == user["user_name"])
        ).scalar_one()
        if count >= MAX_ACCESS_KEYS_PER_USER:
            raise ClientError(
                f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}",
                code="LimitExceeded",
                status=409,
            )
        akid, secret = create_access_key(
            ctx.tx, self._barrier, ctx.account_id, user["user_name"], ctx.now
        )
        return {
            "AccessKey": {
                "UserName": user["user_name"],
                "AccessKeyId": akid,
                "Status": "Active",
                "SecretAccessKey": secret,
                "CreateDate": ctx.now,
            }
        }

    @operation("ListAccessKeys")
    def list_access_keys(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        name = self._target_user(ctx, request)
        ctx.authorize("iam:ListAccessKeys", [self._user_arn(ctx, name)])
        user = self._load_user(ctx.tx, ctx.account_id, name)
        rows = ctx.tx.execute(
            select(access_keys.c.access_key_id, access_keys.c.status, access_keys.c.created_at)
            .where(access_keys.c.account_id == ctx.account_id)
            .where(access_keys.c.user_name == user["user_name"])
            .order_by(access_keys.c.created_at)
        ).all()
        return {
            "AccessKeyMetadata": [
                {
                    "UserName": user["user_name"],
                    "AccessKeyId": akid,
                    "Status": status,
                    "CreateDate": created,
                }
                for akid, status, created in rows
            ],
            "IsTruncated": False,
        }

    def _own_key(self, ctx: RequestContext, user_name: str, akid: str) -> None:
        found = ctx.tx.execute(
            select(access_keys.c.access_key_id)
            .where(access_keys.c.access_key_id == akid)
            .where(access_keys.c.account_id == ctx.account_id)
            .where(access_keys.c.user_name == user_name)
        ).first()
        if found is None:
            raise ClientError(
                f"The Access Key with id {akid} cannot be found.",
                code="NoSuchEntity",
                status=404,
            )
        ctx.on_commit.append(lambda: self._credentials.invalidate(akid))
        self._credentials.invalidate(akid)

    @operation("UpdateAccessKey")
    def update_access_key(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        name = self._target_user(ctx, request)
        ctx.authorize("iam:UpdateAccessKey", [self._user_arn(ctx, name)])
        user = self._load_user(ctx.tx, ctx.account_id, name)
        self._own_key(ctx, user["user_name"], request["AccessKeyId"])
        ctx.tx.execute(
            update(access_keys)
            .where(access_keys.c.access_key_id == request["AccessKeyId"])
            .values(status=request["Status"])
        )
        return None

    @operation("DeleteAccessKey")
    def delete_access_key(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        name = self._target_user(ctx, request)
        ctx.authorize("iam:DeleteAccessKey", [self._user_arn(ctx, name)])
        user = self._load_user(ctx.tx, ctx.account_id, name)
        self._own_key(ctx, user["user_name"], request["AccessKeyId"])
        ctx.tx.execute(
            delete(access_keys).where(access_keys.c.access_key_id == request["AccessKeyId"])
        )
        return None
