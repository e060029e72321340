"""STS: who am I, AssumeRole and GetSessionToken.

Temporary credentials are real: an `ASIA...` key whose secret is sealed by the barrier
and whose session token is kept only as a SHA-256, valid until `Expiration` on the
injectable clock. A role session acts with the role's policies, narrowed by the
session policies passed to AssumeRole, exactly as AWS evaluates them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, delete, select, update

from bastion import ids
from bastion.arn import parse_arn
from bastion.auth.credentials import session_secret_identity
from bastion.auth.policies import managed_policy_document
from bastion.auth.policy import MalformedPolicyError, parse_policy, policy_size
from bastion.barrier import Barrier
from bastion.context import RequestContext, ResourcePolicy
from bastion.errors import AccessDeniedError, ClientError, ValidationError
from bastion.services.base import Provider, operation
from bastion.spine.scheduler import Scheduler
from bastion.storage import Store
from bastion.storage.iam_tables import iam_roles, sts_sessions
from bastion.storage.schema import iam_users

DEFAULT_ROLE_SESSION = timedelta(hours=1)
ROLE_CHAINING_LIMIT = timedelta(hours=1)
DEFAULT_SESSION_TOKEN = timedelta(hours=12)
SESSION_POLICY_PACKED_LIMIT = 2048
KEEP_EXPIRED = timedelta(days=1)  # then ExpiredToken turns into InvalidClientTokenId


def _malformed(message: str) -> ClientError:
    return ClientError(message, code="MalformedPolicyDocument", status=400)


class StsProvider(Provider):
    service = "sts"
    state_tables = (sts_sessions,)

    def __init__(
        self,
        barrier: Barrier | None = None,
        store: Store | None = None,
        scheduler: Scheduler | None = None,
    ) -> None:
        self._barrier = barrier
        self._store = store
        if scheduler is not None:
            scheduler.register("sts-expired-sessions", self._purge_expired, timedelta(minutes=10))

    @operation("GetCallerIdentity", storage=False)
    def get_caller_identity(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        # AWS: "No permissions are required to perform this operation."
        ctx.waive_authorization("sts:GetCallerIdentity needs no permission")
        principal = ctx.principal
        return {"UserId": principal.user_id, "Account": principal.account_id, "Arn": principal.arn}

    # --- AssumeRole -------------------------------------------------------------------

    @operation("AssumeRole")
    def assume_role(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        role_arn = request["RoleArn"]
        session_name = request["RoleSessionName"]
        try:
            arn = parse_arn(role_arn)
        except ValueError as exc:
            raise ValidationError(f"{role_arn} is invalid") from exc
        if arn.service != "iam" or not arn.resource.startswith("role/"):
            raise ValidationError(f"{role_arn} is invalid")
        role = self._load_role(ctx.tx, arn.account, arn.resource.rsplit("/", 1)[-1], role_arn)
        conditions: dict[str, Any] = {"sts:RoleSessionName": session_name}
        if request.get("ExternalId") is not None:
            conditions["sts:ExternalId"] = request["ExternalId"]
        if request.get("SourceIdentity") is not None:
            conditions["sts:SourceIdentity"] = request["SourceIdentity"]
        tags = {t["Key"]: t["Value"] for t in request.get("Tags") or []}
        for key, value in tags.items():
            conditions[f"aws:RequestTag/{key}"] = value
        if tags:
            conditions["aws:TagKeys"] = list(tags)
        if role is _MISSING_ROLE:
            # AWS answers an unknown role exactly like a role that doesn't trust you.
            ctx.authz.decisions.append(("sts:AssumeRole", (role_arn,), False))
            raise AccessDeniedError(
                f"User: {ctx.principal.arn} is not authorized to perform: sts:AssumeRole"
                f" on resource: {role_arn}"
            )
        trust = ResourcePolicy(
            role["trust_policy"], role["account_id"], required=True, kind="trust"
        )
        ctx.authorize("sts:AssumeRole", [role_arn], conditions, trust)
        if tags:
            ctx.authorize("sts:TagSession", [role_arn], conditions, trust)

        limit = timedelta(seconds=role["max_session_duration"])
        if ctx.principal.kind == "AssumedRole":
            limit = min(limit, ROLE_CHAINING_LIMIT)
        duration = timedelta(seconds=request.get("DurationSeconds") or 3600)
        if duration > limit:
            chained = ctx.principal.kind == "AssumedRole"
            what = (
                "1 hour session limit for roles assumed by role chaining"
                if chained
                else "MaxSessionDuration set for this role"
            )
            raise ValidationError(f"The requested DurationSeconds exceeds the {what}.")
        session_policies = self._session_policies(ctx, request)
        principal_tags = orjson.loads(role["tags"] or "{}")
        principal_tags.update(tags)
        role_id = role["role_id"]
        session_arn = (
            f"arn:aws:sts::{role['account_id']}:assumed-role/{role['role_name']}/{session_name}"
        )
        credentials = self._issue(
            ctx,
            kind="AssumedRole",
            principal_arn=session_arn,
            principal_id=f"{role_id}:{session_name}",
            source_arn=role["arn"],
            source_name=role["role_name"],
            session_name=session_name,
            account_id=role["account_id"],
            expires=ctx.now + duration,
            session_policies=session_policies,
            tags=principal_tags,
            source_identity=request.get("SourceIdentity"),
        )
        ctx.tx.execute(
            update(iam_roles)
            .where(iam_roles.c.account_id == role["account_id"])
            .where(iam_roles.c.role_name == role["role_name"])
            .values(last_used_at=ctx.now, last_used_region=ctx.region)
        )
        response: dict[str, Any] = {
            "Credentials": credentials,
            "AssumedRoleUser": {"AssumedRoleId": f"{role_id}:{session_name}", "Arn": session_arn},
        }
        if session_policies is not None:
            packed = sum(policy_size(p) for p in session_policies)
            response["PackedPolicySize"] = min(100, packed * 100 // SESSION_POLICY_PACKED_LIMIT)
        if request.get("SourceIdentity"):
            response["SourceIdentity"] = request["SourceIdentity"]
        return response

    @staticmethod
    def _load_role(conn: Connection, account_id: str, name: str, arn: str) -> Any:
        row = (
            conn.execute(
                select(iam_roles)
                .where(iam_roles.c.account_id == account_id)
                .where(iam_roles.c.role_name == name)
            )
            .mappings()
            .first()
        )
        if row is None or row["arn"] != arn:
            return _MISSING_ROLE
        return row

    @staticmethod
    def _session_policies(ctx: RequestContext, request: dict[str, Any]) -> list[str] | None:
        """The inline and managed session policies, validated; None when none was passed."""
        inline = request.get("Policy")
        arns = [p["arn"] for p in request.get("PolicyArns") or [] if p.get("arn")]
        if inline is None and not arns:
            return None
        documents: list[str] = []
        if inline is not None:
            try:
                parse_policy(inline, kind="session")
            except MalformedPolicyError as exc:
                raise _malformed(str(exc)) from exc
            documents.append(inline)
        for policy_arn in arns:
            document = managed_policy_document(ctx.tx, policy_arn)
            if document is None:
                raise ClientError(
                    f"Policy {policy_arn} does not exist or is not attachable.",
                    code="InvalidParameterValue",
                )
            documents.append(document)
        if sum(policy_size(d) for d in documents) > SESSION_POLICY_PACKED_LIMIT:
            raise ClientError(
                "Packed policy consumes more than 100% of the allotted size.",
                code="PackedPolicyTooLarge",
            )
        return documents

    # --- GetSessionToken ----------------------------------------------------------------

    @operation("GetSessionToken")
    def get_session_token(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        principal = ctx.principal
        # AWS: no permission is needed, but session credentials can't make more sessions.
        ctx.waive_authorization("sts:GetSessionToken needs no permission")
        if principal.session_expires is not None or principal.kind not in ("IAMUser", "Root"):
            raise AccessDeniedError("Cannot call GetSessionToken with session credentials")
        default = DEFAULT_SESSION_TOKEN
        maximum = timedelta(hours=1) if principal.kind == "Root" else timedelta(hours=36)
        duration = timedelta(seconds=request.get("DurationSeconds") or default.total_seconds())
        duration = min(duration, maximum)
        if principal.kind == "IAMUser":
            user = ctx.tx.execute(
                select(iam_users.c.tags)
                .where(iam_users.c.account_id == principal.account_id)
                .where(iam_users.c.user_name == principal.name)
            ).first()
            tags = orjson.loads(user.tags) if user is not None and user.tags else {}
        else:
            tags = {}
        credentials = self._issue(
            ctx,
            kind=principal.kind,
            principal_arn=principal.arn,
            principal_id=principal.user_id,
            source_arn=principal.arn,
            source_name=principal.name,
            session_name=principal.name,
            account_id=principal.account_id,
            expires=ctx.now + duration,
            session_policies=None,
            tags=tags,
            source_identity=None,
        )
        return {"Credentials": credentials}

    # --- shared -----------------------------------------------------------------------------

    def _issue(
        self,
        ctx: RequestContext,
        *,
        kind: str,
        principal_arn: str,
        principal_id: str,
        source_arn: str,
        source_name: str,
        session_name: str,
        account_id: str,
        expires: datetime,
        session_policies: list[str] | None,
        tags: dict[str, str],
        source_identity: str | None,
    ) -> dict[str, Any]:
        if self._barrier is None:
            raise RuntimeError("StsProvider needs the barrier to issue credentials")
        access_key_id = ids.access_key_id(temporary=True)
        secret = ids.secret_access_key()
        token = ids.session_token()
        ctx.tx.execute(
            sts_sessions.insert().values(
                access_key_id=access_key_id,
                account_id=account_id,
                secret_sealed=self._barrier.seal(
                    session_secret_identity(access_key_id), secret.encode()
                ),
                token_sha256=hashlib.sha256(token.encode()).hexdigest(),
                kind=kind,
                principal_arn=principal_arn,
                principal_id=principal_id,
                source_arn=source_arn,
                source_name=source_name,
                session_name=session_name,
                session_policy=orjson.dumps(session_policies).decode()
                if session_policies is not None
                else None,
                session_policy_arns="[]",
                tags=orjson.dumps(tags).decode(),
                source_identity=source_identity,
                mfa=False,
                expires_at=expires,
                created_at=ctx.now,
            )
        )
        return {
            "AccessKeyId": access_key_id,
            "SecretAccessKey": secret,
            "SessionToken": token,
            "Expiration": expires,
        }

    def _purge_expired(self, now: datetime) -> None:
        if self._store is None:
            return
        with self._store.write() as conn:
            conn.execute(delete(sts_sessions).where(sts_sessions.c.expires_at < now - KEEP_EXPIRED))


_MISSING_ROLE: dict[str, Any] = {
    "trust_policy": "",
    "account_id": "",
    "role_name": "",
    "arn": "",
}
