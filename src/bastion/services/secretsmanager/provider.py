"""AWS Secrets Manager: secrets, versions and staging labels, deletion windows, resource
policies, replication and rotation.

Values are encrypted as AWS does it: each version gets a data key from KMS
(`GenerateDataKey`, through `ctx.call` as the caller, so `kms:ViaService` is
`secretsmanager.<region>.amazonaws.com` and the key policy decides), with the encryption
context `{"SecretARN": arn, "SecretVersionId": version}`; the value is sealed here with
AES-256-GCM and only KMS's ciphertext of the data key is stored beside it. Reading calls
KMS `Decrypt` with the same context: `kms:Decrypt` on the key is needed, as on AWS.

Rotation runs outside request transactions (see `rotation.py`): RotateSecret records
what is due and the rotation engine runs the four steps when the scheduler says so.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets as pyrandom
import string
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, delete, select, update

from bastion.auth.policy import MalformedPolicyError, parse_policy
from bastion.clock import Clock, as_utc
from bastion.context import RequestContext, ResourcePolicy, ServiceInvoker
from bastion.crypto import aead
from bastion.errors import AccessDeniedError, ClientError, ServiceError, ValidationError
from bastion.services.base import Provider, operation
from bastion.services.secretsmanager import schedule
from bastion.spine.scheduler import Scheduler
from bastion.storage import Store
from bastion.storage.cache import ReadCache
from bastion.storage.secrets_tables import sm_secrets, sm_versions

DEFAULT_KEY = "alias/aws/secretsmanager"
CURRENT, PENDING, PREVIOUS = "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"
MAX_VALUE = 65536
MAX_TAGS = 50
MAX_STAGES_PER_VERSION = 20
MAX_POLICY = 20480
KEEP_VERSIONS = 100
KEEP_RECENT = timedelta(hours=24)
# what RotateSecret configures, put back when its configuration test fails
ROTATION_COLUMNS = ("rotation_enabled", "rotation_lambda", "rotation_rules", "next_rotation_at")
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_NAME = re.compile(r"^[A-Za-z0-9/_+=.@!-]+$")
_SUFFIX_ALPHABET = string.ascii_letters + string.digits
_PUBLIC_SAFE_KEYS = {
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceorgid",
    "aws:userid",
    "aws:sourceip",
    "aws:principalserviceName".lower(),
}


def sm_error(code: str, message: str) -> ClientError:
    return ClientError(message, code=code)


def not_found(message: str = "Secrets Manager can't find the specified secret.") -> ClientError:
    return sm_error("ResourceNotFoundException", message)


def invalid_request(message: str) -> ClientError:
    return sm_error("InvalidRequestException", message)


def checked_tags(tags: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Tags as given, refusing ones without a Key or Value (optional in the model)."""
    for tag in tags or []:
        if tag.get("Key") is None or tag.get("Value") is None:
            raise invalid_parameter("A tag must have both a Key and a Value.")
    return tags or []


def invalid_parameter(message: str) -> ClientError:
    return sm_error("InvalidParameterException", message)


MARKED_FOR_DELETION = (
    "You can't perform this operation on the secret because it was marked for deletion."
)
REPLICA_READ_ONLY = (
    "Operation not permitted on a replica secret. Call must be made in primary secret's region."
)


def _day(value: datetime | None) -> datetime | None:
    value = as_utc(value)
    return value.replace(hour=0, minute=0, second=0, microsecond=0) if value else None


def _aad(arn: str, version_id: str) -> bytes:
    return f"{arn}\x00{version_id}".encode()


def secret_arn(region: str, account: str, name: str, suffix: str) -> str:
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-{suffix}"


def kms_failure(err: ServiceError, decrypting: bool) -> ServiceError:
    """KMS's refusal as Secrets Manager reports it."""
    if err.code == "AccessDeniedException":
        return AccessDeniedError("Access to KMS is not allowed")
    if decrypting:
        return sm_error(
            "DecryptionFailure",
            "Secrets Manager can't decrypt the protected secret text using the provided KMS"
            f" key. ({err.code}: {err.message})",
        )
    return sm_error(
        "EncryptionFailure",
        "Secrets Manager can't encrypt the protected secret text using the provided KMS key."
        f" Check that the KMS key is available, enabled, and not in an invalid state."
        f" ({err.code}: {err.message})",
    )


def is_public(document: dict[str, Any]) -> bool:
    """Zelkova-like, conservative: an Allow to every principal without a condition that
    pins the caller to an account, organization, ARN, network or IP is public."""
    statements = document.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    for st in statements:
        if st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal")
        if "NotPrincipal" in st:
            return True
        wildcard = principal == "*" or (
            isinstance(principal, dict)
            and any(v == "*" or (isinstance(v, list) and "*" in v) for v in principal.values())
        )
        if not wildcard:
            continue
        keys = {
            key.lower()
            for operators in (st.get("Condition") or {}).values()
            if isinstance(operators, dict)
            for key in operators
        }
        if not keys & _PUBLIC_SAFE_KEYS:
            return True
    return False


# Served from the read cache: the hot path of applications fetching their secrets.
_CACHED_READS = frozenset({"GetSecretValue"})


class SecretsManagerProvider(Provider):
    service = "secretsmanager"
    state_tables = (sm_secrets, sm_versions)

    def __init__(
        self,
        store: Store | None = None,
        scheduler: Scheduler | None = None,
        clock: Clock | None = None,
    ) -> None:
        from bastion.services.secretsmanager.rotation import RotationEngine

        self._store = store
        self._reads = ReadCache()
        self._invoker: ServiceInvoker | None = None
        self._accessed: dict[tuple[str, str], datetime] = {}
        self._accessed_lock = threading.Lock()
        self.rotations = RotationEngine(self, store, clock)
        if scheduler is not None:
            scheduler.register(
                "secretsmanager-rotation", self.rotations.run_due, timedelta(seconds=30)
            )
            scheduler.register("secretsmanager-purge", self.purge_due, timedelta(minutes=1))
            scheduler.register(
                "secretsmanager-accessed",
                self.flush_accessed,
                timedelta(minutes=1),
                every_process=True,  # the pending dates live in this process
            )

    # ============================================================== plumbing

    def after_write(self) -> None:
        self._reads.invalidate()

    def clear_caches(self) -> None:
        self._reads.invalidate()

    def bind_invoker(self, invoker: ServiceInvoker) -> None:
        """The control plane's in-process invoker, for scheduled work (rotation)."""
        self._invoker = invoker

    @property
    def invoker(self) -> ServiceInvoker | None:
        return self._invoker

    def _bind(self, ctx: RequestContext) -> None:
        if self._invoker is None and ctx.invoker is not None:
            self._invoker = ctx.invoker

    def _lookup(self, conn: Connection, ctx: RequestContext, secret_id: str) -> Any:
        if ctx.operation in _CACHED_READS:
            key = ("secret", ctx.account_id, ctx.region, secret_id)
            return self._reads.get(key, lambda: self._load_secret(conn, ctx, secret_id))
        return self._load_secret(conn, ctx, secret_id)

    def _load_secret(self, conn: Connection, ctx: RequestContext, secret_id: str) -> Any:
        if secret_id.startswith("arn:"):
            row = (
                conn.execute(select(sm_secrets).where(sm_secrets.c.arn == secret_id))
                .mappings()
                .first()
            )
            if row is not None:
                return row if row["region"] == ctx.region else None
            # a partial ARN (without the random suffix)
            parts = secret_id.split(":", 6)
            if len(parts) == 7 and parts[5] == "secret":
                if parts[3] != ctx.region or parts[4] != ctx.account_id:
                    return None
                secret_id = parts[6]
            else:
                return None
        return (
            conn.execute(
                select(sm_secrets).where(
                    sm_secrets.c.account_id == ctx.account_id,
                    sm_secrets.c.region == ctx.region,
                    sm_secrets.c.name == secret_id,
                )
            )
            .mappings()
            .first()
        )

    @staticmethod
    def _guess_arn(ctx: RequestContext, secret_id: str) -> str:
        if secret_id.startswith("arn:"):
            return secret_id
        return f"arn:aws:secretsmanager:{ctx.region}:{ctx.account_id}:secret:{secret_id}"

    @staticmethod
    def _conditions(row: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if row is not None:
            for tag in json.loads(row["tags"] or "[]"):
                out[f"aws:ResourceTag/{tag['Key']}"] = tag["Value"]
                out[f"secretsmanager:ResourceTag/{tag['Key']}"] = tag["Value"]
            out["secretsmanager:SecretId"] = row["arn"]
            if row["rotation_lambda"]:
                out["secretsmanager:RotationLambdaARN"] = row["rotation_lambda"]
        if extra:
            out.update(extra)
        return out

    def _authorize(
        self, ctx: RequestContext, action: str, row: Any, secret_id: str = "", **extra: Any
    ) -> None:
        arn = row["arn"] if row is not None else self._guess_arn(ctx, secret_id)
        policy = None
        if row is not None and row["policy"]:
            policy = ResourcePolicy(document=row["policy"], owner_account=row["account_id"])
        ctx.authorize(
            f"secretsmanager:{action}", [arn], self._conditions(row, extra) or None, policy
        )

    def _secret(
        self,
        ctx: RequestContext,
        secret_id: str,
        action: str,
        *,
        allow_deleted: bool = False,
        write: bool = False,
        **extra: Any,
    ) -> Any:
        """Find, authorize and check a secret: the common prologue of an operation."""
        self._bind(ctx)
        row = self._lookup(ctx.tx, ctx, secret_id)
        self._authorize(ctx, action, row, secret_id, **extra)
        if row is None:
            raise not_found()
        if row["deleted_at"] is not None and not allow_deleted:
            raise invalid_request(MARKED_FOR_DELETION)
        if write and row["primary_region"]:
            raise invalid_request(REPLICA_READ_ONLY)
        return row

    def _versions(self, conn: Connection, arn: str) -> list[dict[str, Any]]:
        rows = conn.execute(
            select(sm_versions).where(sm_versions.c.arn == arn).order_by(sm_versions.c.created_at)
        ).mappings()
        out = []
        for r in rows:
            item = dict(r)
            item["stages"] = json.loads(r["stages"])
            out.append(item)
        return out

    def _set_stages(self, conn: Connection, arn: str, version_id: str, stages: list[str]) -> None:
        conn.execute(
            update(sm_versions)
            .where(sm_versions.c.arn == arn, sm_versions.c.version_id == version_id)
            .values(stages=json.dumps(stages))
        )

    # --- encryption -----------------------------------------------------------------

    def _seal(
        self, ctx: RequestContext, arn: str, version_id: str, key_id: str | None, value: bytes
    ) -> tuple[bytes, bytes]:
        try:
            out = ctx.call(
                "kms",
                "GenerateDataKey",
                {
                    "KeyId": key_id or DEFAULT_KEY,
                    "KeySpec": "AES_256",
                    "EncryptionContext": {"SecretARN": arn, "SecretVersionId": version_id},
                },
            )
        except ServiceError as err:
            raise kms_failure(err, decrypting=False) from None
        sealed = aead.encrypt(bytes(out["Plaintext"]), value, _aad(arn, version_id))
        return bytes(out["CiphertextBlob"]), sealed

    def _open(self, ctx: RequestContext, arn: str, version: dict[str, Any]) -> bytes:
        try:
            out = ctx.call(
                "kms",
                "Decrypt",
                {
                    "CiphertextBlob": bytes(version["data_key"]),
                    "EncryptionContext": {
                        "SecretARN": arn,
                        "SecretVersionId": version["version_id"],
                    },
                },
            )
        except ServiceError as err:
            raise kms_failure(err, decrypting=True) from None
        try:
            return aead.decrypt(
                bytes(out["Plaintext"]),
                bytes(version["ciphertext"]),
                _aad(arn, version["version_id"]),
            )
        except aead.AeadError:
            raise sm_error(
                "DecryptionFailure", "Secrets Manager can't decrypt the protected secret text."
            ) from None

    @staticmethod
    def _value_from(request: dict[str, Any], required: bool) -> tuple[bytes, bool] | None:
        text, blob = request.get("SecretString"), request.get("SecretBinary")
        if text is not None and blob is not None:
            raise invalid_parameter(
                "You can't specify both a binary secret value and a string secret value in the"
                " same secret."
            )
        if text is None and blob is None:
            if required:
                raise invalid_request("You must provide either SecretString or SecretBinary.")
            return None
        value = text.encode() if text is not None else bytes(blob)
        if len(value) > MAX_VALUE:
            raise invalid_parameter("The secret value exceeds the maximum size of 65,536 bytes.")
        return value, blob is not None

    def _token(self, request: dict[str, Any]) -> str:
        token = request.get("ClientRequestToken") or str(uuid.uuid4())
        if not 32 <= len(token) <= 64:
            raise ValidationError("ClientRequestToken must be between 32 and 64 characters long.")
        return token

    def _write_version(
        self,
        ctx: RequestContext,
        row: Any,
        token: str,
        value: bytes,
        binary: bool,
        stages: list[str],
    ) -> bool:
        """Create a version (idempotent on its token); False when it already existed."""
        conn = ctx.tx
        arn = row["arn"]
        existing = (
            conn.execute(
                select(sm_versions).where(
                    sm_versions.c.arn == arn, sm_versions.c.version_id == token
                )
            )
            .mappings()
            .first()
        )
        fill = existing is not None and existing["ciphertext"] is None
        if existing is not None and not fill:
            same = existing["binary"] == binary and self._open(ctx, arn, dict(existing)) == value
            if not same:
                raise sm_error(
                    "ResourceExistsException",
                    "You can't modify an existing version, you can only create a new version.",
                )
            return False
        versions = self._versions(conn, arn)
        if fill:
            mine = next(v for v in versions if v["version_id"] == token)
            stages = list(dict.fromkeys(mine["stages"] + stages))
            versions = [v for v in versions if v["version_id"] != token]
        for stage in stages:
            holders = [v for v in versions if stage in v["stages"]]
            if stage == CURRENT and holders:
                old = holders[0]
                for v in versions:
                    if PREVIOUS in v["stages"] and v["version_id"] != old["version_id"]:
                        v["stages"].remove(PREVIOUS)
                        self._set_stages(conn, arn, v["version_id"], v["stages"])
                old["stages"] = [s for s in old["stages"] if s != CURRENT]
                if PREVIOUS not in old["stages"]:
                    old["stages"].append(PREVIOUS)
                self._set_stages(conn, arn, old["version_id"], old["stages"])
            else:
                for v in holders:
                    v["stages"].remove(stage)
                    self._set_stages(conn, arn, v["version_id"], v["stages"])
        data_key, sealed = self._seal(ctx, arn, token, row["kms_key_id"], value)
        values = {
            "stages": json.dumps(stages),
            "kms_key_id": row["kms_key_id"] or DEFAULT_KEY,
            "binary": binary,
            "data_key": data_key,
            "ciphertext": sealed,
        }
        if fill:
            conn.execute(
                update(sm_versions)
                .where(sm_versions.c.arn == arn, sm_versions.c.version_id == token)
                .values(**values)
            )
        else:
            conn.execute(
                sm_versions.insert().values(arn=arn, version_id=token, created_at=ctx.now, **values)
            )
        self._prune(conn, arn, ctx.now)
        changes: dict[str, Any] = {"changed_at": ctx.now}
        rules = json.loads(row["rotation_rules"] or "null")
        if (
            CURRENT in stages
            and row["rotation_enabled"]
            and rules
            and rules.get("AutomaticallyAfterDays")
        ):
            # a manual change counts as a rotation with AutomaticallyAfterDays
            changes["next_rotation_at"] = schedule.next_rotation(rules, ctx.now)
        conn.execute(update(sm_secrets).where(sm_secrets.c.arn == arn).values(**changes))
        self._replicate_version(ctx, row, token)
        return True

    def _prune(self, conn: Connection, arn: str, now: datetime) -> None:
        versions = self._versions(conn, arn)
        if len(versions) <= KEEP_VERSIONS:
            return
        extra = len(versions) - KEEP_VERSIONS
        for v in versions:
            if extra <= 0:
                break
            if not v["stages"] and now - as_utc(v["created_at"]) > KEEP_RECENT:
                conn.execute(
                    delete(sm_versions).where(
                        sm_versions.c.arn == arn, sm_versions.c.version_id == v["version_id"]
                    )
                )
                extra -= 1

    # ============================================================== create / read

    @operation("CreateSecret")
    def create_secret(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self._bind(ctx)
        name = request["Name"]
        tags = checked_tags(request.get("Tags"))
        conditions: dict[str, Any] = {f"aws:RequestTag/{t['Key']}": t["Value"] for t in tags}
        if tags:
            conditions["aws:TagKeys"] = [t["Key"] for t in tags]
        if request.get("KmsKeyId"):
            conditions["secretsmanager:KmsKeyId"] = request["KmsKeyId"]
        conditions["secretsmanager:Name"] = name
        guess = self._guess_arn(ctx, name)
        ctx.authorize("secretsmanager:CreateSecret", [guess + "-??????"], conditions)
        if tags:
            ctx.authorize("secretsmanager:TagResource", [guess + "-??????"], conditions)
        if not _NAME.match(name):
            raise ValidationError(
                "Invalid name. Must be a valid name containing alphanumeric characters, or any"
                " of the following: -/_+=.@!"
            )
        if len(tags) > MAX_TAGS:
            raise ValidationError("Number of tags exceeds the maximum of 50.")
        existing = self._lookup(ctx.tx, ctx, name)
        if existing is not None:
            if existing["deleted_at"] is not None:
                raise invalid_request(
                    "You can't create this secret because a secret with this name is already"
                    " scheduled for deletion."
                )
            raise sm_error(
                "ResourceExistsException",
                f"The operation failed because the secret {name} already exists.",
            )
        value = self._value_from(request, required=False)
        token = self._token(request) if value is not None else None
        suffix = "".join(pyrandom.choice(_SUFFIX_ALPHABET) for _ in range(6))
        arn = secret_arn(ctx.region, ctx.account_id, name, suffix)
        ctx.tx.execute(
            sm_secrets.insert().values(
                arn=arn,
                account_id=ctx.account_id,
                region=ctx.region,
                name=name,
                description=request.get("Description"),
                kms_key_id=request.get("KmsKeyId"),
                tags=json.dumps(tags),
                created_at=ctx.now,
                changed_at=ctx.now,
                rotation_enabled=False,
                replicas="[]",
            )
        )
        row = self._lookup(ctx.tx, ctx, arn)
        if value is not None and token is not None:
            self._write_version(ctx, row, token, value[0], value[1], [CURRENT])
        out: dict[str, Any] = {"ARN": arn, "Name": name}
        if token:
            out["VersionId"] = token
        if request.get("AddReplicaRegions"):
            out["ReplicationStatus"] = self._add_replicas(
                ctx,
                row,
                request["AddReplicaRegions"],
                bool(request.get("ForceOverwriteReplicaSecret")),
            )
        return out

    def _find_version(
        self, versions: list[dict[str, Any]], version_id: str | None, stage: str | None
    ) -> dict[str, Any] | None:
        if version_id is None and stage is None:
            stage = CURRENT
        for v in versions:
            if version_id is not None and v["version_id"] != version_id:
                continue
            if stage is not None and stage not in v["stages"]:
                continue
            return v
        return None

    @operation("GetSecretValue", cached=True)
    def get_secret_value(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        version_id, stage = request.get("VersionId"), request.get("VersionStage")
        extra: dict[str, Any] = {}
        if version_id:
            extra["secretsmanager:VersionId"] = version_id
        if stage:
            extra["secretsmanager:VersionStage"] = stage
        row = self._secret(ctx, request["SecretId"], "GetSecretValue", **extra)
        versions = self._reads.get(
            ("versions", row["arn"]), lambda: self._versions(ctx.tx, row["arn"])
        )
        version = self._find_version(versions, version_id, stage)
        if version is None or version["ciphertext"] is None:
            label = stage or (None if version_id else CURRENT)
            if version_id and not stage:
                raise not_found(
                    "Secrets Manager can't find the specified secret value for VersionId:"
                    f" {version_id}"
                )
            raise not_found(
                f"Secrets Manager can't find the specified secret value for staging label: {label}"
            )
        value = self._open(ctx, row["arn"], version)
        self._note_access(row["arn"], version["version_id"], ctx.now)
        out: dict[str, Any] = {
            "ARN": row["arn"],
            "Name": row["name"],
            "VersionId": version["version_id"],
            "VersionStages": version["stages"],
            "CreatedDate": as_utc(version["created_at"]),
        }
        if version["binary"]:
            out["SecretBinary"] = value
        else:
            out["SecretString"] = value.decode()
        return out

    def _note_access(self, arn: str, version_id: str, now: datetime) -> None:
        day = _day(now)
        with self._accessed_lock:
            self._accessed[(arn, version_id)] = day  # type: ignore[assignment]

    def flush_accessed(self, now: datetime | None = None) -> None:
        """Write LastAccessedDate (a day, as AWS keeps it) in one batch, off the read path."""
        if self._store is None:
            return
        with self._accessed_lock:
            pending, self._accessed = self._accessed, {}
        if not pending:
            return
        with self._store.write() as conn:
            for (arn, version_id), day in pending.items():
                conn.execute(
                    update(sm_secrets).where(sm_secrets.c.arn == arn).values(accessed_at=day)
                )
                conn.execute(
                    update(sm_versions)
                    .where(sm_versions.c.arn == arn, sm_versions.c.version_id == version_id)
                    .values(accessed_at=day)
                )

    @operation("BatchGetSecretValue")
    def batch_get_secret_value(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        self._bind(ctx)
        ctx.authorize("secretsmanager:BatchGetSecretValue", ["*"])
        ids = request.get("SecretIdList")
        filters = request.get("Filters")
        if ids and filters:
            raise invalid_parameter(
                "Either 'SecretIdList' or 'Filters' must be provided, but not both."
            )
        if not ids and not filters:
            raise invalid_parameter("Either 'SecretIdList' or 'Filters' must be provided.")
        if ids and request.get("MaxResults"):
            raise invalid_parameter("'MaxResults' is only allowed with 'Filters'.")
        next_token = None
        if filters:
            ctx.authorize("secretsmanager:ListSecrets", ["*"])
            rows, next_token = self._list_rows(
                ctx,
                filters,
                False,
                request.get("MaxResults") or 20,
                request.get("NextToken"),
                "asc",
            )
            ids = [r["arn"] for r in rows]
        values, errors = [], []
        for secret_id in ids or []:
            try:
                out = ctx.call("secretsmanager", "GetSecretValue", {"SecretId": secret_id})
            except ServiceError as err:
                errors.append(
                    {"SecretId": secret_id, "ErrorCode": err.code, "Message": err.message}
                )
                continue
            out.pop("ResponseMetadata", None)
            values.append(out)
        response: dict[str, Any] = {"SecretValues": values, "Errors": errors}
        if next_token:
            response["NextToken"] = next_token
        return response

    def _describe(
        self,
        ctx: RequestContext,
        row: Any,
        versions: list[dict[str, Any]] | None = None,
        key: str = "VersionIdsToStages",
    ) -> dict[str, Any]:
        if versions is None:
            versions = self._versions(ctx.tx, row["arn"])
        out: dict[str, Any] = {
            "ARN": row["arn"],
            "Name": row["name"],
            "LastChangedDate": as_utc(row["changed_at"]),
            "CreatedDate": as_utc(row["created_at"]),
            key: {v["version_id"]: v["stages"] for v in versions if v["stages"]},
        }
        if row["description"]:
            out["Description"] = row["description"]
        if row["kms_key_id"]:
            out["KmsKeyId"] = row["kms_key_id"]
        if row["rotation_enabled"] or row["rotation_lambda"]:
            out["RotationEnabled"] = bool(row["rotation_enabled"])
        if row["rotation_lambda"]:
            out["RotationLambdaARN"] = row["rotation_lambda"]
        if row["rotation_rules"]:
            out["RotationRules"] = json.loads(row["rotation_rules"])
        if row["rotated_at"]:
            out["LastRotatedDate"] = as_utc(row["rotated_at"])
        if row["accessed_at"]:
            out["LastAccessedDate"] = as_utc(row["accessed_at"])
        if row["deleted_at"]:
            out["DeletedDate"] = as_utc(row["deleted_at"])
        if row["rotation_enabled"] and row["next_rotation_at"]:
            out["NextRotationDate"] = as_utc(row["next_rotation_at"])
        tags = json.loads(row["tags"] or "[]")
        if tags:
            out["Tags"] = tags
        if row["primary_region"]:
            out["PrimaryRegion"] = row["primary_region"]
        replicas = json.loads(row["replicas"] or "[]")
        if replicas:
            out["PrimaryRegion"] = row["region"]
            out["ReplicationStatus"] = replicas
        return out

    @operation("DescribeSecret")
    def describe_secret(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = self._secret(ctx, request["SecretId"], "DescribeSecret", allow_deleted=True)
        return self._describe(ctx, row)

    def _list_rows(
        self,
        ctx: RequestContext,
        filters: list[dict[str, Any]],
        include_deleted: bool,
        limit: int,
        token: str | None,
        order: str,
    ) -> tuple[list[Any], str | None]:
        query = select(sm_secrets).where(
            sm_secrets.c.account_id == ctx.account_id, sm_secrets.c.region == ctx.region
        )
        if not include_deleted:
            query = query.where(sm_secrets.c.deleted_at.is_(None))
        query = query.order_by(
            sm_secrets.c.created_at.desc() if order == "desc" else sm_secrets.c.created_at,
            sm_secrets.c.arn,
        )
        rows = [r for r in ctx.tx.execute(query).mappings() if self._filter(r, filters)]
        start = 0
        if token:
            try:
                start = int(base64.urlsafe_b64decode(token.encode()).decode())
            except (binascii.Error, ValueError, UnicodeDecodeError):
                raise invalid_parameter("The NextToken value is not valid.") from None
        page = rows[start : start + limit]
        more = start + limit < len(rows)
        return page, (
            base64.urlsafe_b64encode(str(start + limit).encode()).decode() if more else None
        )

    @staticmethod
    def _filter(row: Any, filters: Iterable[dict[str, Any]]) -> bool:
        tags = json.loads(row["tags"] or "[]")
        for f in filters:
            key = f["Key"]
            candidates: list[str]
            if key == "name":
                candidates = [row["name"]]
            elif key == "description":
                candidates = [row["description"] or ""]
            elif key == "tag-key":
                candidates = [t["Key"] for t in tags]
            elif key == "tag-value":
                candidates = [t["Value"] for t in tags]
            elif key == "primary-region":
                candidates = [row["primary_region"] or row["region"]]
            elif key == "owning-service":
                candidates = []
            else:
                candidates = [row["name"], row["description"] or ""] + [
                    x for t in tags for x in (t["Key"], t["Value"])
                ]
            for value in f.get("Values") or []:
                negate = value.startswith("!")
                needle = value[1:] if negate else value
                hit = any(c.lower().startswith(needle.lower()) for c in candidates)
                if hit == negate:
                    return False
        return True

    @operation("ListSecrets")
    def list_secrets(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self._bind(ctx)
        ctx.authorize("secretsmanager:ListSecrets", ["*"])
        rows, token = self._list_rows(
            ctx,
            request.get("Filters") or [],
            bool(request.get("IncludePlannedDeletion")),
            request.get("MaxResults") or 100,
            request.get("NextToken"),
            request.get("SortOrder") or "asc",
        )
        out: dict[str, Any] = {
            "SecretList": [self._describe(ctx, r, key="SecretVersionsToStages") for r in rows]
        }
        if token:
            out["NextToken"] = token
        return out

    @operation("ListSecretVersionIds")
    def list_secret_version_ids(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        row = self._secret(ctx, request["SecretId"], "ListSecretVersionIds", allow_deleted=True)
        versions = self._versions(ctx.tx, row["arn"])
        if not request.get("IncludeDeprecated"):
            versions = [v for v in versions if v["stages"]]
        limit = request.get("MaxResults") or 100
        start = (
            int(request.get("NextToken") or 0) if (request.get("NextToken") or "0").isdigit() else 0
        )
        page = versions[start : start + limit]
        out: dict[str, Any] = {
            "ARN": row["arn"],
            "Name": row["name"],
            "Versions": [
                {
                    "VersionId": v["version_id"],
                    "VersionStages": v["stages"],
                    "CreatedDate": as_utc(v["created_at"]),
                    "KmsKeyIds": [v["kms_key_id"] or DEFAULT_KEY],
                    **({"LastAccessedDate": as_utc(v["accessed_at"])} if v["accessed_at"] else {}),
                }
                for v in page
            ],
        }
        if start + limit < len(versions):
            out["NextToken"] = str(start + limit)
        return out

    # ============================================================== writes

    @operation("PutSecretValue")
    def put_secret_value(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = self._secret(ctx, request["SecretId"], "PutSecretValue", write=True)
        value = self._value_from(request, required=True)
        assert value is not None
        stages = list(dict.fromkeys(request.get("VersionStages") or [CURRENT]))
        if len(stages) > MAX_STAGES_PER_VERSION:
            raise sm_error(
                "LimitExceededException", "A version can have at most 20 staging labels."
            )
        token = self._token(request)
        self._write_version(ctx, row, token, value[0], value[1], stages)
        version = ctx.tx.execute(
            select(sm_versions.c.stages).where(
                sm_versions.c.arn == row["arn"], sm_versions.c.version_id == token
            )
        ).scalar()
        return {
            "ARN": row["arn"],
            "Name": row["name"],
            "VersionId": token,
            "VersionStages": json.loads(version or "[]"),
        }

    @operation("UpdateSecret")
    def update_secret(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        extra = {"secretsmanager:KmsKeyId": request["KmsKeyId"]} if request.get("KmsKeyId") else {}
        row = self._secret(ctx, request["SecretId"], "UpdateSecret", write=True, **extra)
        values: dict[str, Any] = {"changed_at": ctx.now}
        if "Description" in request:
            values["description"] = request["Description"]
        new_key = request.get("KmsKeyId")
        if new_key and new_key != (row["kms_key_id"] or DEFAULT_KEY):
            values["kms_key_id"] = new_key
        ctx.tx.execute(update(sm_secrets).where(sm_secrets.c.arn == row["arn"]).values(**values))
        row = self._lookup(ctx.tx, ctx, row["arn"])
        if "kms_key_id" in values:
            self._reencrypt(ctx, row)
        out: dict[str, Any] = {"ARN": row["arn"], "Name": row["name"]}
        value = self._value_from(request, required=False)
        if value is not None:
            token = self._token(request)
            self._write_version(ctx, row, token, value[0], value[1], [CURRENT])
            out["VersionId"] = token
        return out

    def _reencrypt(self, ctx: RequestContext, row: Any) -> None:
        """A new KMS key re-encrypts the labelled versions (AWSCURRENT, AWSPENDING...)."""
        for v in self._versions(ctx.tx, row["arn"]):
            if not v["stages"] or v["ciphertext"] is None:
                continue
            plain = self._open(ctx, row["arn"], v)
            data_key, sealed = self._seal(
                ctx, row["arn"], v["version_id"], row["kms_key_id"], plain
            )
            ctx.tx.execute(
                update(sm_versions)
                .where(sm_versions.c.arn == row["arn"], sm_versions.c.version_id == v["version_id"])
                .values(data_key=data_key, ciphertext=sealed, kms_key_id=row["kms_key_id"])
            )

    @operation("UpdateSecretVersionStage")
    def update_secret_version_stage(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        stage = request["VersionStage"]
        row = self._secret(
            ctx,
            request["SecretId"],
            "UpdateSecretVersionStage",
            write=True,
            **{"secretsmanager:VersionStage": stage},
        )
        move_to, remove_from = request.get("MoveToVersionId"), request.get("RemoveFromVersionId")
        versions = {v["version_id"]: v for v in self._versions(ctx.tx, row["arn"])}
        for vid in (move_to, remove_from):
            if vid is not None and vid not in versions:
                raise invalid_parameter(
                    f"The version {vid} doesn't exist for secret {row['name']}."
                )
        holder = next((v for v in versions.values() if stage in v["stages"]), None)
        if move_to is None:
            if remove_from is None:
                raise invalid_parameter("You must specify MoveToVersionId or RemoveFromVersionId.")
            if stage == CURRENT:
                raise invalid_parameter(
                    "You can only move staging label AWSCURRENT to a different secret version."
                    " It can't be completely removed."
                )
            target = versions[remove_from]
            if stage not in target["stages"]:
                raise invalid_parameter(
                    f"The staging label {stage} is not attached to version {remove_from}."
                )
            target["stages"].remove(stage)
            self._set_stages(ctx.tx, row["arn"], remove_from, target["stages"])
            return {"ARN": row["arn"], "Name": row["name"]}
        if (
            holder is not None
            and holder["version_id"] != move_to
            and holder["version_id"] != remove_from
        ):
            raise invalid_parameter(
                f"The parameter RemoveFromVersionId can't be empty. Staging label {stage} is"
                f" currently attached to version {holder['version_id']}, so you must explicitly"
                " reference that version in RemoveFromVersionId."
            )
        target = versions[move_to]
        if stage in target["stages"]:
            return {"ARN": row["arn"], "Name": row["name"]}
        if len(target["stages"]) >= MAX_STAGES_PER_VERSION:
            raise sm_error(
                "LimitExceededException", "A version can have at most 20 staging labels."
            )
        if holder is not None:
            holder["stages"].remove(stage)
            if stage == CURRENT:
                for v in versions.values():
                    if PREVIOUS in v["stages"]:
                        v["stages"].remove(PREVIOUS)
                        self._set_stages(ctx.tx, row["arn"], v["version_id"], v["stages"])
                holder["stages"].append(PREVIOUS)
            self._set_stages(ctx.tx, row["arn"], holder["version_id"], holder["stages"])
        if stage == CURRENT and PREVIOUS in target["stages"]:
            target["stages"].remove(PREVIOUS)
        target["stages"].append(stage)
        self._set_stages(ctx.tx, row["arn"], move_to, target["stages"])
        ctx.tx.execute(
            update(sm_secrets).where(sm_secrets.c.arn == row["arn"]).values(changed_at=ctx.now)
        )
        for replica in json.loads(row["replicas"] or "[]"):
            self._sync_replica_stages(ctx, row, replica["Region"])
        return {"ARN": row["arn"], "Name": row["name"]}

    # ============================================================== delete / restore

    @operation("DeleteSecret")
    def delete_secret(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self._bind(ctx)
        force = bool(request.get("ForceDeleteWithoutRecovery"))
        window = request.get("RecoveryWindowInDays")
        row = self._lookup(ctx.tx, ctx, request["SecretId"])
        self._authorize(ctx, "DeleteSecret", row, request["SecretId"])
        if force and window is not None:
            raise invalid_parameter(
                "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."
            )
        if window is not None and not 7 <= window <= 30:
            raise invalid_parameter(
                "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."
            )
        if row is None:
            if force:
                return {"Name": request["SecretId"], "DeletionDate": ctx.now}
            raise not_found()
        replicas = json.loads(row["replicas"] or "[]")
        if replicas:
            raise invalid_request(
                f"You can't delete secret {row['name']} that still has replica regions"
                f" [{', '.join(r['Region'] for r in replicas)}]"
            )
        if row["deleted_at"] is not None and not force:
            raise invalid_request(MARKED_FOR_DELETION)
        if force or row["primary_region"]:
            if row["primary_region"]:
                self._unlink_replica(ctx, row)
            self._purge(ctx.tx, row["arn"])
            return {"ARN": row["arn"], "Name": row["name"], "DeletionDate": ctx.now}
        purge = ctx.now + timedelta(days=window or 30)
        ctx.tx.execute(
            update(sm_secrets)
            .where(sm_secrets.c.arn == row["arn"])
            .values(deleted_at=ctx.now, purge_at=purge, rotation_due_at=None)
        )
        return {"ARN": row["arn"], "Name": row["name"], "DeletionDate": purge}

    @staticmethod
    def _purge(conn: Connection, arn: str) -> None:
        conn.execute(delete(sm_versions).where(sm_versions.c.arn == arn))
        conn.execute(delete(sm_secrets).where(sm_secrets.c.arn == arn))

    def purge_due(self, now: datetime) -> None:
        """Delete secrets whose recovery window has ended (the scheduler's job)."""
        if self._store is None:
            return
        with self._store.write() as conn:
            for (arn,) in conn.execute(
                select(sm_secrets.c.arn).where(sm_secrets.c.purge_at <= now)
            ).all():
                self._purge(conn, arn)
        self.after_write()

    @operation("RestoreSecret")
    def restore_secret(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = self._secret(
            ctx, request["SecretId"], "RestoreSecret", allow_deleted=True, write=True
        )
        ctx.tx.execute(
            update(sm_secrets)
            .where(sm_secrets.c.arn == row["arn"])
            .values(deleted_at=None, purge_at=None)
        )
        return {"ARN": row["arn"], "Name": row["name"]}

    # ============================================================== policies

    def _check_policy(self, text: str) -> dict[str, Any]:
        if len(text) > MAX_POLICY:
            raise sm_error(
                "MalformedPolicyDocumentException", "The policy document exceeds 20,480 characters."
            )
        try:
            parse_policy(text, kind="resource")
            document = json.loads(text)
        except (MalformedPolicyError, ValueError) as exc:
            raise sm_error(
                "MalformedPolicyDocumentException", f"The policy is not valid: {exc}"
            ) from None
        return document

    @operation("PutResourcePolicy")
    def put_resource_policy(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = self._secret(ctx, request["SecretId"], "PutResourcePolicy", write=True)
        document = self._check_policy(request["ResourcePolicy"])
        if request.get("BlockPublicPolicy") and is_public(document):
            raise sm_error(
                "PublicPolicyException",
                "You can't attach a resource-based policy that allows broad access to the secret.",
            )
        ctx.tx.execute(
            update(sm_secrets)
            .where(sm_secrets.c.arn == row["arn"])
            .values(policy=request["ResourcePolicy"])
        )
        return {"ARN": row["arn"], "Name": row["name"]}

    @operation("GetResourcePolicy")
    def get_resource_policy(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = self._secret(ctx, request["SecretId"], "GetResourcePolicy", allow_deleted=True)
        out: dict[str, Any] = {"ARN": row["arn"], "Name": row["name"]}
        if row["policy"]:
            out["ResourcePolicy"] = row["policy"]
        return out

    @operation("DeleteResourcePolicy")
    def delete_resource_policy(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        row = self._secret(ctx, request["SecretId"], "DeleteResourcePolicy", write=True)
        ctx.tx.execute(update(sm_secrets).where(sm_secrets.c.arn == row["arn"]).values(policy=None))
        return {"ARN": row["arn"], "Name": row["name"]}

    @operation("ValidateResourcePolicy")
    def validate_resource_policy(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        self._bind(ctx)
        if request.get("SecretId"):
            self._secret(ctx, request["SecretId"], "ValidateResourcePolicy", allow_deleted=True)
        else:
            ctx.authorize("secretsmanager:ValidateResourcePolicy", ["*"])
        errors = []
        try:
            document = self._check_policy(request["ResourcePolicy"])
            if is_public(document):
                errors.append(
                    {
                        "CheckName": "BROAD_ACCESS_CHECK",
                        "ErrorMessage": "The resource policy grants broad access to the secret.",
                    }
                )
        except ClientError as err:
            errors.append({"CheckName": "SYNTAX_CHECK", "ErrorMessage": err.message})
        return {"PolicyValidationPassed": not errors, "ValidationErrors": errors}

    # ============================================================== tags

    @operation("TagResource")
    def tag_resource(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        new = checked_tags(request["Tags"])
        extra: dict[str, Any] = {f"aws:RequestTag/{t['Key']}": t["Value"] for t in new}
        extra["aws:TagKeys"] = [t["Key"] for t in new]
        row = self._secret(ctx, request["SecretId"], "TagResource", write=True, **extra)
        tags = {t["Key"]: t["Value"] for t in json.loads(row["tags"] or "[]")}
        for t in new:
            if t["Key"].lower().startswith("aws:"):
                raise invalid_parameter("Tag keys beginning with aws: are reserved.")
            tags[t["Key"]] = t["Value"]
        if len(tags) > MAX_TAGS:
            raise ValidationError("Number of tags exceeds the maximum of 50.")
        self._save_tags(ctx, row, tags)
        return {}

    @operation("UntagResource")
    def untag_resource(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = self._secret(
            ctx,
            request["SecretId"],
            "UntagResource",
            write=True,
            **{"aws:TagKeys": list(request["TagKeys"])},
        )
        tags = {t["Key"]: t["Value"] for t in json.loads(row["tags"] or "[]")}
        for key in request["TagKeys"]:
            tags.pop(key, None)
        self._save_tags(ctx, row, tags)
        return {}

    def _save_tags(self, ctx: RequestContext, row: Any, tags: dict[str, str]) -> None:
        text = json.dumps([{"Key": k, "Value": v} for k, v in tags.items()])
        ctx.tx.execute(update(sm_secrets).where(sm_secrets.c.arn == row["arn"]).values(tags=text))
        for replica in json.loads(row["replicas"] or "[]"):
            ctx.tx.execute(
                update(sm_secrets)
                .where(sm_secrets.c.arn == self._replica_arn(row, replica["Region"]))
                .values(tags=text)
            )

    # ============================================================== random password

    @operation("GetRandomPassword", storage=False)
    def get_random_password(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        ctx.authorize("secretsmanager:GetRandomPassword", ["*"])
        return {"RandomPassword": random_password(request)}

    # ============================================================== replication

    @staticmethod
    def _replica_arn(row: Any, region: str) -> str:
        return row["arn"].replace(
            f":secretsmanager:{row['region']}:", f":secretsmanager:{region}:", 1
        )

    def _add_replicas(
        self, ctx: RequestContext, row: Any, regions: list[dict[str, Any]], force: bool
    ) -> list[dict[str, Any]]:
        replicas = {r["Region"]: r for r in json.loads(row["replicas"] or "[]")}
        for spec in regions:
            region = spec["Region"]
            if region == row["region"]:
                raise invalid_parameter("You can't replicate a secret to its own Region.")
            arn = self._replica_arn(row, region)
            status: dict[str, Any] = {
                "Region": region,
                "Status": "InSync",
                "StatusMessage": "Replication succeeded",
            }
            if spec.get("KmsKeyId"):
                status["KmsKeyId"] = spec["KmsKeyId"]
            else:
                status["KmsKeyId"] = DEFAULT_KEY
            there = replace(ctx, region=region)
            clash = self._lookup(ctx.tx, there, row["name"])
            if clash is not None and clash["arn"] != arn:
                if not force:
                    status.update(
                        Status="Failed",
                        StatusMessage="Replication failed: Secret name already exists in Region",
                    )
                    replicas[region] = status
                    continue
                self._purge(ctx.tx, clash["arn"])
            elif clash is not None:
                self._purge(ctx.tx, arn)
            ctx.tx.execute(
                sm_secrets.insert().values(
                    arn=arn,
                    account_id=row["account_id"],
                    region=region,
                    name=row["name"],
                    description=row["description"],
                    kms_key_id=spec.get("KmsKeyId"),
                    tags=row["tags"],
                    policy=row["policy"],
                    created_at=ctx.now,
                    changed_at=ctx.now,
                    rotation_enabled=False,
                    primary_region=row["region"],
                    replicas="[]",
                )
            )
            replicas[region] = status
            for v in self._versions(ctx.tx, row["arn"]):
                self._copy_version(ctx, row, region, v)
        ctx.tx.execute(
            update(sm_secrets)
            .where(sm_secrets.c.arn == row["arn"])
            .values(replicas=json.dumps(list(replicas.values())))
        )
        return list(replicas.values())

    def _copy_version(
        self, ctx: RequestContext, row: Any, region: str, version: dict[str, Any]
    ) -> None:
        if version["ciphertext"] is None:
            return
        arn = self._replica_arn(row, region)
        replica = ctx.tx.execute(
            select(sm_secrets.c.kms_key_id).where(sm_secrets.c.arn == arn)
        ).first()
        if replica is None:
            return
        plain = self._open(ctx, row["arn"], version)
        there = replace(ctx, region=region)
        data_key, sealed = self._seal(there, arn, version["version_id"], replica[0], plain)
        ctx.tx.execute(
            delete(sm_versions).where(
                sm_versions.c.arn == arn, sm_versions.c.version_id == version["version_id"]
            )
        )
        ctx.tx.execute(
            sm_versions.insert().values(
                arn=arn,
                version_id=version["version_id"],
                stages=json.dumps(version["stages"]),
                created_at=version["created_at"],
                kms_key_id=replica[0] or DEFAULT_KEY,
                binary=version["binary"],
                data_key=data_key,
                ciphertext=sealed,
            )
        )

    def _replicate_version(self, ctx: RequestContext, row: Any, version_id: str) -> None:
        replicas = json.loads(row["replicas"] or "[]")
        if not replicas:
            return
        versions = self._versions(ctx.tx, row["arn"])
        for replica in replicas:
            if replica.get("Status") != "InSync":
                continue
            for v in versions:
                if v["version_id"] == version_id:
                    self._copy_version(ctx, row, replica["Region"], v)
            self._sync_replica_stages(ctx, row, replica["Region"])

    def _sync_replica_stages(self, ctx: RequestContext, row: Any, region: str) -> None:
        arn = self._replica_arn(row, region)
        for v in self._versions(ctx.tx, row["arn"]):
            self._set_stages(ctx.tx, arn, v["version_id"], v["stages"])

    def _unlink_replica(self, ctx: RequestContext, row: Any) -> None:
        primary_arn = row["arn"].replace(
            f":secretsmanager:{row['region']}:", f":secretsmanager:{row['primary_region']}:", 1
        )
        primary = ctx.tx.execute(
            select(sm_secrets.c.replicas).where(sm_secrets.c.arn == primary_arn)
        ).first()
        if primary is not None:
            kept = [r for r in json.loads(primary[0] or "[]") if r["Region"] != row["region"]]
            ctx.tx.execute(
                update(sm_secrets)
                .where(sm_secrets.c.arn == primary_arn)
                .values(replicas=json.dumps(kept))
            )

    @operation("ReplicateSecretToRegions")
    def replicate_secret_to_regions(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        row = self._secret(ctx, request["SecretId"], "ReplicateSecretToRegions", write=True)
        status = self._add_replicas(
            ctx, row, request["AddReplicaRegions"], bool(request.get("ForceOverwriteReplicaSecret"))
        )
        return {"ARN": row["arn"], "ReplicationStatus": status}

    @operation("RemoveRegionsFromReplication")
    def remove_regions_from_replication(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        row = self._secret(ctx, request["SecretId"], "RemoveRegionsFromReplication", write=True)
        remove = set(request["RemoveReplicaRegions"])
        replicas = json.loads(row["replicas"] or "[]")
        for region in remove:
            if region not in {r["Region"] for r in replicas}:
                raise invalid_parameter(f"The secret isn't replicated to {region}.")
            self._purge(ctx.tx, self._replica_arn(row, region))
        kept = [r for r in replicas if r["Region"] not in remove]
        ctx.tx.execute(
            update(sm_secrets)
            .where(sm_secrets.c.arn == row["arn"])
            .values(replicas=json.dumps(kept))
        )
        return {"ARN": row["arn"], "ReplicationStatus": kept}

    @operation("StopReplicationToReplica")
    def stop_replication_to_replica(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        row = self._secret(ctx, request["SecretId"], "StopReplicationToReplica")
        if not row["primary_region"]:
            raise invalid_request("This operation is only allowed on a replica secret.")
        self._unlink_replica(ctx, row)
        ctx.tx.execute(
            update(sm_secrets).where(sm_secrets.c.arn == row["arn"]).values(primary_region=None)
        )
        return {"ARN": row["arn"]}

    # ============================================================== rotation

    @operation("RotateSecret")
    def rotate_secret(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        extra = {}
        if request.get("RotationLambdaARN"):
            extra["secretsmanager:RotationLambdaARN"] = request["RotationLambdaARN"]
        row = self._secret(ctx, request["SecretId"], "RotateSecret", write=True, **extra)
        state = json.loads(row["rotation_state"] or "null")
        if state and state.get("active"):
            # AWS: the earlier rotation is reattempted, and this call says so (the error
            # rolls this transaction back: the engine records the reattempt itself)
            self.rotations.reattempt(row["arn"])
            raise invalid_request(
                "A previous rotation isn't complete. That rotation will be reattempted."
            )
        lambda_arn = request.get("RotationLambdaARN") or row["rotation_lambda"]
        if not lambda_arn:
            raise invalid_request("No Lambda rotation function ARN is associated with this secret.")
        if not self.rotations.known(lambda_arn):
            raise sm_error(
                "InvalidRequestException",
                f"Secrets Manager cannot invoke the specified Lambda function {lambda_arn}."
                " Ensure that the function exists and that its rotator is configured.",
            )
        rules = request.get("RotationRules")
        if rules is not None:
            rules = {k: v for k, v in rules.items() if v is not None}
            schedule.validate_rules(rules)
        else:
            rules = json.loads(row["rotation_rules"] or "null")
        values: dict[str, Any] = {
            "rotation_enabled": True,
            "rotation_lambda": lambda_arn,
            "rotation_rules": json.dumps(rules) if rules else None,
        }
        immediately = request.get("RotateImmediately")
        immediately = True if immediately is None else immediately
        token = self._token(request)
        base = row["rotated_at"] or ctx.now
        if rules:
            values["next_rotation_at"] = schedule.next_rotation(
                rules, as_utc(base) if not immediately else ctx.now
            )
        if immediately:
            self.start_pending(ctx.tx, row["arn"], token, ctx.now)
            values["rotation_state"] = json.dumps(
                {"active": True, "token": token, "step": "createSecret", "attempts": 0}
            )
            values["rotation_due_at"] = ctx.now
            ctx.on_commit.append(self.rotations.wake)
        else:
            # AWS tests the configuration with the testSecret step alone. The rotator must
            # see it committed, so the test runs once this transaction has; a failure puts
            # the previous configuration back and fails this call.
            previous = {column: row[column] for column in ROTATION_COLUMNS}
            ctx.on_commit.append(
                partial(self.rotations.test_configuration, row["arn"], token, lambda_arn, previous)
            )
        ctx.tx.execute(update(sm_secrets).where(sm_secrets.c.arn == row["arn"]).values(**values))
        out: dict[str, Any] = {"ARN": row["arn"], "Name": row["name"]}
        if immediately:
            out["VersionId"] = token
        return out

    @operation("CancelRotateSecret")
    def cancel_rotate_secret(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row = self._secret(ctx, request["SecretId"], "CancelRotateSecret", write=True)
        state = json.loads(row["rotation_state"] or "null")
        out: dict[str, Any] = {"ARN": row["arn"], "Name": row["name"]}
        if state and state.get("active"):
            out["VersionId"] = state["token"]
        ctx.tx.execute(
            update(sm_secrets)
            .where(sm_secrets.c.arn == row["arn"])
            .values(
                rotation_enabled=False,
                rotation_due_at=None,
                rotation_state=None,
                next_rotation_at=None,
            )
        )
        return out

    # ---- for the rotation engine ---------------------------------------------------

    def start_pending(self, conn: Connection, arn: str, token: str, now: datetime) -> None:
        """A rotation starts: an empty version labelled AWSPENDING, as AWS makes before
        invoking the rotation function (createSecret then fills it with PutSecretValue)."""
        existing = None
        for v in self._versions(conn, arn):
            if v["version_id"] == token:
                existing = v
            elif PENDING in v["stages"]:
                v["stages"].remove(PENDING)
                self._set_stages(conn, arn, v["version_id"], v["stages"])
        if existing is None:
            conn.execute(
                sm_versions.insert().values(
                    arn=arn,
                    version_id=token,
                    stages=json.dumps([PENDING]),
                    created_at=now,
                    binary=False,
                )
            )
        elif PENDING not in existing["stages"]:
            self._set_stages(conn, arn, token, [*existing["stages"], PENDING])

    def add_trial_version(self, ctx: RequestContext, row: Any, token: str) -> TrialVersion:
        """The temporary AWSPENDING version of a configuration test (RotateImmediately
        false): a copy of the AWSCURRENT value, so a rotator's testSecret step checks that
        the working credentials reach the service; empty when there is no current value.
        Named by `token` unless a version already has that id."""
        conn, arn = ctx.tx, row["arn"]
        versions = self._versions(conn, arn)
        version_id = token
        if any(v["version_id"] == token for v in versions):
            version_id = str(uuid.uuid4())
        holder = next((v for v in versions if PENDING in v["stages"]), None)
        if holder is not None:
            holder["stages"].remove(PENDING)
            self._set_stages(conn, arn, holder["version_id"], holder["stages"])
        values: dict[str, Any] = {"stages": json.dumps([PENDING]), "binary": False}
        current = self._find_version(versions, None, CURRENT)
        if current is not None and current["ciphertext"] is not None:
            value = self._open(ctx, arn, current)
            data_key, sealed = self._seal(ctx, arn, version_id, row["kms_key_id"], value)
            values.update(
                kms_key_id=row["kms_key_id"] or DEFAULT_KEY,
                binary=current["binary"],
                data_key=data_key,
                ciphertext=sealed,
            )
        conn.execute(
            sm_versions.insert().values(
                arn=arn, version_id=version_id, created_at=ctx.now, **values
            )
        )
        return TrialVersion(version_id, holder["version_id"] if holder is not None else None)

    def remove_trial_version(self, conn: Connection, arn: str, trial: TrialVersion) -> None:
        """Remove a test's version; AWSPENDING goes back where it was, if still free."""
        conn.execute(
            delete(sm_versions).where(
                sm_versions.c.arn == arn, sm_versions.c.version_id == trial.version_id
            )
        )
        if trial.pending_was_on is None:
            return
        versions = self._versions(conn, arn)
        if any(PENDING in v["stages"] for v in versions):
            return
        for v in versions:
            if v["version_id"] == trial.pending_was_on:
                self._set_stages(conn, arn, v["version_id"], [*v["stages"], PENDING])

    def read_row(self, conn: Connection, arn: str) -> Any:
        return conn.execute(select(sm_secrets).where(sm_secrets.c.arn == arn)).mappings().first()

    def versions_of(self, conn: Connection, arn: str) -> list[dict[str, Any]]:
        return self._versions(conn, arn)

    def handler(self, name: str) -> Callable[[RequestContext, dict[str, Any]], dict[str, Any]]:
        return self.operations()[name].handler  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class TrialVersion:
    """The version a configuration test added, and where AWSPENDING was before."""

    version_id: str
    pending_was_on: str | None


def random_password(request: dict[str, Any]) -> str:
    length = request.get("PasswordLength") or 32
    if not 1 <= length <= 4096:
        raise invalid_parameter("PasswordLength must be between 1 and 4096.")
    exclude = set(request.get("ExcludeCharacters") or "")
    groups = []
    if not request.get("ExcludeLowercase"):
        groups.append(string.ascii_lowercase)
    if not request.get("ExcludeUppercase"):
        groups.append(string.ascii_uppercase)
    if not request.get("ExcludeNumbers"):
        groups.append(string.digits)
    if not request.get("ExcludePunctuation"):
        groups.append(PUNCTUATION)
    if request.get("IncludeSpace"):
        groups.append(" ")
    groups = ["".join(c for c in g if c not in exclude) for g in groups]
    groups = [g for g in groups if g]
    if not groups:
        raise invalid_parameter(
            "The password can't be generated: every character type is excluded."
        )
    require = request.get("RequireEachIncludedType")
    require = True if require is None else require
    alphabet = "".join(groups)
    if require and length < len(groups):
        raise invalid_parameter(
            "The password length is too short to include a character of each included type."
        )
    rng = pyrandom.SystemRandom()
    while True:
        password = [rng.choice(alphabet) for _ in range(length)]
        if not require or all(any(c in g for c in password) for g in groups):
            return "".join(password)
