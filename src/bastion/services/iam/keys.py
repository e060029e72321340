"""Access keys of IAM users.

Access key secrets are sealed by the barrier the moment they are created and returned
exactly once, in CreateAccessKey's response, as on AWS.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from bastion.auth.bootstrap import create_access_key
from bastion.context import RequestContext
from bastion.services.base import operation
from bastion.services.iam.common import (
    authorized_user,
    count,
    find_user,
    iam_arn,
    limit_exceeded,
    no_such_entity,
    paginate,
)
from bastion.services.iam.users import UsersMixin
from bastion.storage.schema import access_keys

MAX_ACCESS_KEYS_PER_USER = 2


def no_such_key(akid: str) -> Exception:
    return no_such_entity(f"The Access Key with id {akid} cannot be found.")


class AccessKeysMixin(UsersMixin):
    @operation("CreateAccessKey")
    def create_access_key(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        user = authorized_user(ctx, "iam:CreateAccessKey", self._target_user(ctx, request))
        existing = count(
            ctx.tx,
            access_keys,
            access_keys.c.account_id == ctx.account_id,
            access_keys.c.user_name == user["user_name"],
        )
        if existing >= MAX_ACCESS_KEYS_PER_USER:
            raise limit_exceeded(
                f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}"
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
        user = authorized_user(ctx, "iam:ListAccessKeys", self._target_user(ctx, request))
        rows = ctx.tx.execute(
            select(access_keys.c.access_key_id, access_keys.c.status, access_keys.c.created_at)
            .where(access_keys.c.account_id == ctx.account_id)
            .where(access_keys.c.user_name == user["user_name"])
        ).all()
        return paginate(
            request,
            rows,
            lambda r: r[0],
            "AccessKeyMetadata",
            lambda r: {
                "UserName": user["user_name"],
                "AccessKeyId": r[0],
                "Status": r[1],
                "CreateDate": r[2],
            },
        )

    def _own_key(self, ctx: RequestContext, user_name: str, akid: str) -> None:
        found = ctx.tx.execute(
            select(access_keys.c.access_key_id)
            .where(access_keys.c.access_key_id == akid)
            .where(access_keys.c.account_id == ctx.account_id)
            .where(access_keys.c.user_name == user_name)
        ).first()
        if found is None:
            raise no_such_key(akid)
        ctx.on_commit.append(lambda: self._credentials.invalidate(akid))
        self._credentials.invalidate(akid)

    @operation("UpdateAccessKey")
    def update_access_key(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        user = authorized_user(ctx, "iam:UpdateAccessKey", self._target_user(ctx, request))
        self._own_key(ctx, user["user_name"], request["AccessKeyId"])
        ctx.tx.execute(
            update(access_keys)
            .where(access_keys.c.access_key_id == request["AccessKeyId"])
            .values(status=request["Status"])
        )
        return None

    @operation("DeleteAccessKey")
    def delete_access_key(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        user = authorized_user(ctx, "iam:DeleteAccessKey", self._target_user(ctx, request))
        self._own_key(ctx, user["user_name"], request["AccessKeyId"])
        ctx.tx.execute(
            delete(access_keys).where(access_keys.c.access_key_id == request["AccessKeyId"])
        )
        return None

    @operation("GetAccessKeyLastUsed")
    def get_access_key_last_used(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        """LastUsedDate/ServiceName/Region from the key's row; "N/A" when never used."""
        akid = request["AccessKeyId"]
        key = (
            ctx.tx.execute(
                select(access_keys)
                .where(access_keys.c.access_key_id == akid)
                .where(access_keys.c.account_id == ctx.account_id)
            )
            .mappings()
            .first()
        )
        user = find_user(ctx.tx, ctx.account_id, key["user_name"]) if key else None
        resource = user["arn"] if user else (iam_arn(ctx, "user", key["user_name"]) if key else "*")
        ctx.authorize("iam:GetAccessKeyLastUsed", [resource])
        if key is None:
            raise no_such_key(akid)
        last: dict[str, Any] = {"ServiceName": "N/A", "Region": "N/A"}
        if key["last_used_at"] is not None:
            last = {
                "LastUsedDate": key["last_used_at"],
                "ServiceName": key["last_used_service"] or "N/A",
                "Region": key["last_used_region"] or "N/A",
            }
        return {"UserName": key["user_name"], "AccessKeyLastUsed": last}
