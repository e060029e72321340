"""AWS KMS (`TrentService`): keys, cryptography, aliases, key policies, grants, rotation,
deletion and imported key material.

Every handler authorizes before acting: against the key's policy (a `ResourcePolicy`
that must itself allow the call or delegate to IAM through the account root), or, when a
grant lets the caller perform the operation, through that grant (AWS: key policy OR IAM
policy OR grant). Key material only exists unsealed in memory (`MaterialCache`); at rest
it is sealed by the barrier under `kms/<region>/<key-id>/material/<version>`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from bastion.arn import parse_arn
from bastion.barrier import Barrier
from bastion.clock import as_utc
from bastion.context import RequestContext, ResourcePolicy
from bastion.crypto import kms_keys as kc
from bastion.errors import AccessDeniedError, ValidationError
from bastion.services.base import Provider, operation
from bastion.services.kms import grants as gr
from bastion.services.kms import policies as pol
from bastion.services.kms.errors import (
    alias_not_found,
    already_exists,
    disabled,
    incorrect_key,
    invalid_ciphertext,
    invalid_key_id,
    invalid_key_usage,
    invalid_state,
    key_not_found,
    kms_error,
    limit_exceeded,
    malformed_policy,
    not_found,
    tag_error,
    unsupported,
    validation,
)
from bastion.services.kms.keys import (
    AWS_MANAGED_PREFIX,
    Grant,
    Key,
    KeyRef,
    MaterialCache,
    MetadataCache,
    alias_arn,
    is_key_id,
    key_arn,
    new_key_id,
)
from bastion.spine.scheduler import Scheduler
from bastion.storage import Store
from bastion.storage.kms_tables import (
    kms_aliases,
    kms_grants,
    kms_import_tokens,
    kms_key_material,
    kms_keys,
)
from bastion.storage.store import leave_loop

T = TypeVar("T")

DEFAULT_ROTATION_DAYS = 365
MAX_ON_DEMAND_ROTATIONS = 25
MAX_ALIASES_PER_KEY = 50
MAX_GRANTS_PER_KEY = 50_000
MAX_TAGS = 50
IMPORT_PARAMETERS_VALID = timedelta(hours=24)
_IMPORT_TOKEN_PREFIX = b"BIT1"
_DATA_KEY_BYTES = {"AES_256": 32, "AES_128": 16}

# Operations served in a read transaction that may still create an AWS managed key.
_READ_OPERATIONS = frozenset(
    {
        "Encrypt",
        "Decrypt",
        "ReEncrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "Sign",
        "Verify",
        "GenerateMac",
        "VerifyMac",
        "DeriveSharedSecret",
        "DescribeKey",
        "GetPublicKey",
        "GetKeyPolicy",
        "GetKeyRotationStatus",
        "ListAliases",
        "ListGrants",
        "ListKeyPolicies",
        "ListKeyRotations",
        "ListResourceTags",
    }
)


def _cache_served(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Give a handler that runs without a transaction a lazily opened one."""

    @functools.wraps(fn)
    def run(self: KmsProvider, ctx: RequestContext, request: dict[str, Any]) -> Any:
        if ctx.tx is not None:
            return fn(self, ctx, request)
        with self._store.lazy_read() as lazy:
            return fn(self, replace(ctx, tx=lazy), request)

    return run


def _page(request: Mapping[str, Any], default: int = 100) -> tuple[int, int]:
    marker = request.get("Marker")
    start = 0
    if marker:
        try:
            start = int(marker)
        except ValueError:
            raise kms_error("InvalidMarkerException", "Invalid marker") from None
        if start < 0:
            raise kms_error("InvalidMarkerException", "Invalid marker")
    return start, request.get("Limit") or default


def _paged(items: list[Any], start: int, limit: int, field: str, marker: str) -> dict[str, Any]:
    page = items[start : start + limit]
    more = start + limit < len(items)
    out: dict[str, Any] = {field: page, "Truncated": more}
    if more:
        out[marker] = str(start + limit)
    return out


def _request_alias(text: str) -> str | None:
    if text.startswith("alias/"):
        return text
    if text.startswith("arn:") and ":alias/" in text:
        return "alias/" + text.split(":alias/", 1)[1]
    return None


def _context_conditions(context: Mapping[str, str] | None) -> dict[str, Any]:
    if not context:
        return {}
    out: dict[str, Any] = {f"kms:EncryptionContext:{k}": v for k, v in context.items()}
    out["kms:EncryptionContextKeys"] = list(context)
    return out


def _tags_from(request_tags: Sequence[Mapping[str, str]] | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for tag in request_tags or ():
        key = tag["TagKey"]
        if key.lower().startswith("aws:"):
            raise tag_error("Tags beginning with aws: are reserved for AWS use.")
        tags[key] = tag["TagValue"]
    return tags


def _key_row_values(key: Key) -> dict[str, Any]:
    return {
        "region": key.region,
        "key_id": key.key_id,
        "account_id": key.account_id,
        "arn": key.arn,
        "key_spec": key.key_spec,
        "key_usage": key.key_usage,
        "origin": key.origin,
        "key_manager": key.key_manager,
        "description": key.description,
        "state": key.state,
        "multi_region": key.multi_region,
        "policy": key.policy,
        "tags": orjson.dumps(dict(key.tags)).decode(),
        "current_version": key.current_version,
        "created_at": key.created_at,
        "deletion_date": key.deletion_date,
        "pending_window_days": key.pending_window_days,
        "rotation_enabled": key.rotation_enabled,
        "rotation_period_days": key.rotation_period_days,
        "next_rotation_at": key.next_rotation_at,
        "on_demand_rotations": key.on_demand_rotations,
        "expiration_model": key.expiration_model,
        "valid_to": key.valid_to,
        "material_fingerprint": key.material_fingerprint,
    }


def _key_from_values(values: Mapping[str, Any]) -> Key:
    return Key.from_row(values)


def _ciphertext_blob(request: dict[str, Any]) -> bytes:
    """CiphertextBlob: optional in the current model, required by every call Bastion serves."""
    blob = request.get("CiphertextBlob")
    if blob is None:
        raise ValidationError(
            "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy"
            " constraint: Member must not be null"
        )
    return blob


class KmsProvider(Provider):
    service = "kms"
    # Parents first, for development-mode reset and snapshots.
    state_tables = (kms_keys, kms_key_material, kms_aliases, kms_grants, kms_import_tokens)

    def clear_caches(self) -> None:
        self._meta.invalidate()
        self._material.clear()

    def __init__(
        self,
        barrier: Barrier,
        store: Store,
        scheduler: Scheduler | None = None,
        *,
        metadata_ttl: float = 2.0,
        job_interval: timedelta = timedelta(minutes=1),
    ) -> None:
        self._barrier = barrier
        self._store = store
        self._meta = MetadataCache(metadata_ttl)
        self._material = MaterialCache()
        if scheduler is not None:
            scheduler.register("kms-rotation", self.run_rotations, job_interval)
            scheduler.register("kms-deletion", self.run_deletions, job_interval)
            scheduler.register("kms-import-expiry", self.run_import_expiry, job_interval)

    # ================================================================== storage helpers

    @staticmethod
    def _material_identity(region: str, key_id: str, version: int) -> str:
        return f"kms/{region}/{key_id}/material/{version}"

    def _changed(self, ctx: RequestContext, key: Key | None = None) -> None:
        """After this call commits, caches drop what it changed."""
        ctx.on_commit.append(self._meta.invalidate)
        if key is not None:
            region, key_id = key.region, key.key_id
            ctx.on_commit.append(lambda: self._material.drop_key(region, key_id))

    def _cached(self, ctx: RequestContext) -> bool:
        return ctx.operation in _READ_OPERATIONS

    def _query(self, ctx: RequestContext, fn: Callable[[Connection], T]) -> T:
        """Run a read in the call's transaction, or in a short one of its own when the
        operation runs without one (the hot cryptographic calls, served from caches)."""
        if ctx.tx is not None:
            return fn(ctx.tx)
        with self._store.read() as conn:
            return fn(conn)

    @staticmethod
    def _read_key(conn: Connection, region: str, key_id: str) -> Key | None:
        row = (
            conn.execute(
                select(kms_keys).where(kms_keys.c.region == region, kms_keys.c.key_id == key_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        values = dict(row)
        for name in ("created_at", "deletion_date", "next_rotation_at", "valid_to"):
            values[name] = as_utc(values[name])
        return Key.from_row(values)

    def _get_key(self, ctx: RequestContext, region: str, key_id: str) -> Key | None:
        if not self._cached(ctx):
            return self._query(ctx, lambda c: self._read_key(c, region, key_id))
        token = ("key", region, key_id)
        key = self._meta.get(token)
        if key is None:
            generation = self._meta.generation
            key = self._query(ctx, lambda c: self._read_key(c, region, key_id))
            if key is not None:
                self._meta.put(token, key, generation)
        return key

    def _alias_target(
        self, ctx: RequestContext, account: str, region: str, alias: str
    ) -> str | None:
        def read() -> str | None:
            return self._query(
                ctx,
                lambda c: c.execute(
                    select(kms_aliases.c.key_id).where(
                        kms_aliases.c.account_id == account,
                        kms_aliases.c.region == region,
                        kms_aliases.c.alias_name == alias,
                    )
                ).scalar(),
            )

        if not self._cached(ctx):
            return read()
        token = ("alias", account, region, alias)
        target = self._meta.get(token)
        if target is None:
            generation = self._meta.generation
            target = read()
            if target is not None:
                self._meta.put(token, target, generation)
        return target

    def _grants_for(self, ctx: RequestContext, key: Key) -> tuple[Grant, ...]:
        def read() -> tuple[Grant, ...]:
            query = select(kms_grants).where(
                kms_grants.c.region == key.region, kms_grants.c.key_id == key.key_id
            )
            rows = self._query(ctx, lambda c: c.execute(query).mappings().all())
            return tuple(Grant.from_row(r) for r in rows)

        if not self._cached(ctx):
            return read()
        token = ("grants", key.region, key.key_id)
        found = self._meta.get(token)
        if found is None:
            generation = self._meta.generation
            found = read()
            self._meta.put(token, found, generation)
        return found

    def _handle(self, ctx: RequestContext, key: Key, version: int) -> kc.KeyHandle:
        if not key.symmetric and not key.key_spec.startswith("HMAC"):
            leave_loop(ctx.tx)  # RSA and EC operations take milliseconds
        handle = self._material.get(key.region, key.key_id, version)
        if handle is not None:
            return handle
        query = select(kms_key_material.c.material_sealed).where(
            kms_key_material.c.region == key.region,
            kms_key_material.c.key_id == key.key_id,
            kms_key_material.c.version == version,
        )
        sealed = self._query(ctx, lambda c: c.execute(query).scalar())
        if sealed is None:
            raise invalid_ciphertext()
        material = self._barrier.unseal(
            self._material_identity(key.region, key.key_id, version), sealed
        )
        handle = kc.load_key(key.key_spec, material)
        self._material.put(key.region, key.key_id, version, handle)
        return handle

    def _store_material(
        self,
        conn: Connection,
        key: Key,
        version: int,
        material: bytes,
        rotation_type: str | None,
        now: datetime,
    ) -> str:
        material_id = os.urandom(32).hex()
        conn.execute(
            kms_key_material.insert().values(
                region=key.region,
                key_id=key.key_id,
                version=version,
                material_id=material_id,
                material_sealed=self._barrier.seal(
                    self._material_identity(key.region, key.key_id, version), material
                ),
                rotation_type=rotation_type,
                created_at=now,
            )
        )
        return material_id

    def _material_id(self, conn: Connection, key: Key, version: int) -> str | None:
        return conn.execute(
            select(kms_key_material.c.material_id).where(
                kms_key_material.c.region == key.region,
                kms_key_material.c.key_id == key.key_id,
                kms_key_material.c.version == version,
            )
        ).scalar()

    def _update_key(self, ctx: RequestContext, key: Key, **values: Any) -> None:
        ctx.tx.execute(
            update(kms_keys)
            .where(kms_keys.c.region == key.region, kms_keys.c.key_id == key.key_id)
            .values(**values)
        )
        self._changed(ctx, key)

    # ================================================================ key resolution

    def _ref(self, ctx: RequestContext, text: str, allow_alias: bool) -> KeyRef:
        if text.startswith("arn:"):
            try:
                arn = parse_arn(text)
            except ValueError:
                raise invalid_key_id(text) from None
            if arn.service != "kms":
                raise not_found(f"Invalid arn {text}")
            if arn.region != ctx.region:
                raise not_found(f"Invalid arn {arn.region}")
            kind, _, rest = arn.resource.partition("/")
            if kind == "key" and is_key_id(rest):
                return KeyRef(arn.account, arn.region, key_id=rest)
            if kind == "alias" and rest and allow_alias:
                return KeyRef(arn.account, arn.region, alias=arn.resource)
            raise invalid_key_id(text)
        if text.startswith("alias/"):
            if not allow_alias:
                raise invalid_key_id(text)
            return KeyRef(ctx.account_id, ctx.region, alias=text)
        if is_key_id(text):
            return KeyRef(ctx.account_id, ctx.region, key_id=text)
        raise invalid_key_id(text)

    def _resolve(self, ctx: RequestContext, text: str, *, allow_alias: bool = False) -> Key:
        ref = self._ref(ctx, text, allow_alias)
        key_id = ref.key_id
        if ref.alias:
            target = self._alias_target(ctx, ref.account_id, ref.region, ref.alias)
            if target is None:
                if ref.alias in pol.AWS_MANAGED_KEYS and ref.account_id == ctx.account_id:
                    return self._aws_managed_key(ctx, ref.alias)
                raise alias_not_found(ref.arn)
            key_id = target
        key = self._get_key(ctx, ref.region, key_id)
        if key is None or key.account_id != ref.account_id:
            raise key_not_found(key_arn(ref.region, ref.account_id, key_id))
        return key

    # ============================================================== authorization

    def _authorize(
        self,
        ctx: RequestContext,
        action: str,
        key: Key,
        *,
        grant_operation: str | None = None,
        context: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Grant | None:
        """Authorize `action` on `key`: through a grant when one applies, else the policies."""
        if grant_operation is not None:
            grants = self._grants_for(ctx, key)
            if grants:
                grant = gr.find_grant(grants, ctx.principal, grant_operation, context)
                if grant is not None:
                    # KMS allows a call when the key policy, an IAM policy *or* a grant
                    # allows it. A grant applies here, so the policy engine is not asked;
                    # the decision is recorded as any other (audit, mechanical check).
                    ctx.authz.decisions.append((action, (key.arn,), True))
                    return grant
        conditions: dict[str, Any] = {"kms:CallerAccount": ctx.account_id, **key.base_conditions}
        via = getattr(ctx, "via_service", "")
        if via:
            conditions["kms:ViaService"] = via
        if context:
            conditions.update(_context_conditions(context))
        if extra:
            conditions.update(extra)
        ctx.authorize(
            action,
            [key.arn],
            conditions,
            ResourcePolicy(document=key.policy, owner_account=key.account_id, required=True),
        )
        return None

    def _deny_aws_managed(self, ctx: RequestContext, key: Key, action: str) -> None:
        """AWS managed keys' policies allow no management; KMS answers access denied."""
        if key.aws_managed:
            raise AccessDeniedError(
                f"User: {ctx.principal.arn} is not authorized to perform: {action} on resource:"
                f" {key.arn} because no resource-based policy allows the {action} action"
            )

    # ================================================================= state checks

    @staticmethod
    def _check_usable(key: Key) -> None:
        """Cryptographic operations need an Enabled key."""
        state = key.state
        if state == "Enabled":
            return
        if state == "Disabled":
            raise disabled(key.arn)
        if state == "PendingDeletion":
            raise invalid_state(f"{key.arn} is pending deletion.")
        if state == "PendingImport":
            raise invalid_state(f"{key.arn} is pending import.")
        raise invalid_state(f"{key.arn} is {state.lower()}.")

    @staticmethod
    def _check_not_pending_deletion(key: Key) -> None:
        if key.state == "PendingDeletion":
            raise invalid_state(f"{key.arn} is pending deletion.")

    @staticmethod
    def _check_usage(key: Key, usage: str, operation_name: str) -> None:
        if key.key_usage != usage:
            raise invalid_key_usage(
                f"{key.arn} key usage is {key.key_usage} which is not valid for {operation_name}."
            )

    @staticmethod
    def _check_algorithm(key: Key, algorithm: str) -> None:
        if algorithm not in kc.USAGES.get(key.key_spec, {}).get(key.key_usage, ()):
            raise invalid_key_usage(
                f"Algorithm {algorithm} is incompatible with key spec {key.key_spec}."
            )

    @staticmethod
    def _dry_run(request: Mapping[str, Any]) -> None:
        if request.get("DryRun"):
            raise kms_error(
                "DryRunOperationException",
                "The request would have succeeded, but the DryRun option is set.",
            )

    # ================================================================ key metadata

    def _metadata(self, key: Key, material_id: str | None = None) -> dict[str, Any]:
        md: dict[str, Any] = {
            "AWSAccountId": key.account_id,
            "KeyId": key.key_id,
            "Arn": key.arn,
            "CreationDate": key.created_at,
            "Enabled": key.state == "Enabled",
            "Description": key.description,
            "KeyUsage": key.key_usage,
            "KeyState": key.state,
            "Origin": key.origin,
            "KeyManager": key.key_manager,
            "CustomerMasterKeySpec": key.key_spec,
            "KeySpec": key.key_spec,
            "MultiRegion": key.multi_region,
        }
        algorithms = kc.USAGES.get(key.key_spec, {}).get(key.key_usage, ())
        field = {
            "ENCRYPT_DECRYPT": "EncryptionAlgorithms",
            "SIGN_VERIFY": "SigningAlgorithms",
            "GENERATE_VERIFY_MAC": "MacAlgorithms",
            "KEY_AGREEMENT": "KeyAgreementAlgorithms",
        }[key.key_usage]
        md[field] = list(algorithms)
        if key.state == "PendingDeletion":
            md["DeletionDate"] = key.deletion_date
            md["PendingDeletionWindowInDays"] = key.pending_window_days
        if key.origin == "EXTERNAL" and key.expiration_model:
            md["ExpirationModel"] = key.expiration_model
            if key.valid_to:
                md["ValidTo"] = key.valid_to
        if key.multi_region:
            md["MultiRegionConfiguration"] = {
                "MultiRegionKeyType": "PRIMARY",
                "PrimaryKey": {"Arn": key.arn, "Region": key.region},
                "ReplicaKeys": [],
            }
        if material_id:
            md["CurrentKeyMaterialId"] = material_id
        return md

    # ============================================================ AWS managed keys

    def _aws_managed_key(self, ctx: RequestContext, alias: str) -> Key:
        """Create `alias/aws/<service>`'s key on first use, as AWS does.

        Inside a write transaction (a service's in-process call, e.g. SSM encrypting a
        SecureString) the key is created in that transaction; otherwise in its own.
        """
        tx = ctx.tx
        in_write = isinstance(tx, Connection) and bool(
            tx.get_execution_options().get("bastion_write", False)
        )
        if not in_write:  # a read call (or a cache-served one): a short write of its own
            leave_loop(tx)
            try:
                with self._store.write() as conn:
                    key = self._insert_aws_managed(conn, ctx, alias)
            except IntegrityError:  # another request created it first
                with self._store.read() as conn:
                    target = conn.execute(
                        select(kms_aliases.c.key_id).where(
                            kms_aliases.c.account_id == ctx.account_id,
                            kms_aliases.c.region == ctx.region,
                            kms_aliases.c.alias_name == alias,
                        )
                    ).scalar()
                    existing = self._read_key(conn, ctx.region, target) if target else None
                if existing is None:
                    raise
                return existing
            self._meta.invalidate()
            return key
        key = self._insert_aws_managed(ctx.tx, ctx, alias)
        self._changed(ctx)
        return key

    def _insert_aws_managed(self, conn: Connection, ctx: RequestContext, alias: str) -> Key:
        description = pol.AWS_MANAGED_KEYS[alias][3]
        key = self._new_key(
            conn,
            ctx,
            spec=kc.SYMMETRIC,
            usage="ENCRYPT_DECRYPT",
            origin="AWS_KMS",
            manager="AWS",
            description=description,
            policy=pol.aws_managed_policy(alias, ctx.account_id, ctx.region),
            tags={},
            multi_region=False,
            rotation_days=DEFAULT_ROTATION_DAYS,
        )
        conn.execute(
            kms_aliases.insert().values(
                account_id=ctx.account_id,
                region=ctx.region,
                alias_name=alias,
                key_id=key.key_id,
                created_at=ctx.now,
                updated_at=ctx.now,
            )
        )
        return key

    def _new_key(
        self,
        conn: Connection,
        ctx: RequestContext,
        *,
        spec: str,
        usage: str,
        origin: str,
        manager: str,
        description: str,
        policy: str,
        tags: Mapping[str, str],
        multi_region: bool,
        rotation_days: int | None = None,
    ) -> Key:
        key_id = new_key_id(multi_region)
        values = {
            "region": ctx.region,
            "key_id": key_id,
            "account_id": ctx.account_id,
            "arn": key_arn(ctx.region, ctx.account_id, key_id),
            "key_spec": spec,
            "key_usage": usage,
            "origin": origin,
            "key_manager": manager,
            "description": description,
            "state": "Enabled" if origin == "AWS_KMS" else "PendingImport",
            "multi_region": multi_region,
            "policy": policy,
            "tags": orjson.dumps(dict(tags)).decode(),
            "current_version": 1 if origin == "AWS_KMS" else 0,
            "created_at": ctx.now,
            "deletion_date": None,
            "pending_window_days": None,
            "rotation_enabled": rotation_days is not None,
            "rotation_period_days": rotation_days,
            "next_rotation_at": ctx.now + timedelta(days=rotation_days) if rotation_days else None,
            "on_demand_rotations": 0,
            "expiration_model": None,
            "valid_to": None,
            "material_fingerprint": None,
        }
        conn.execute(kms_keys.insert().values(**values))
        key = _key_from_values(values)
        if origin == "AWS_KMS":
            material = kc.generate_material(spec)
            self._store_material(conn, key, 1, material, None, ctx.now)
            self._material.put(key.region, key.key_id, 1, kc.load_key(spec, material))
        return key

    # ==================================================================== keys

    @operation("CreateKey")
    def create_key(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        spec = request.get("KeySpec") or request.get("CustomerMasterKeySpec") or kc.SYMMETRIC
        if (
            request.get("KeySpec")
            and request.get("CustomerMasterKeySpec")
            and request["KeySpec"] != request["CustomerMasterKeySpec"]
        ):
            raise validation("You cannot specify both KeySpec and CustomerMasterKeySpec.")
        usage = request.get("KeyUsage") or "ENCRYPT_DECRYPT"
        origin = request.get("Origin") or "AWS_KMS"
        multi_region = bool(request.get("MultiRegion"))
        tags = _tags_from(request.get("Tags"))
        conditions: dict[str, Any] = {
            "kms:CallerAccount": ctx.account_id,
            "kms:KeySpec": spec,
            "kms:KeyUsage": usage,
            "kms:KeyOrigin": origin,
            "kms:MultiRegion": multi_region,
            "kms:BypassPolicyLockoutSafetyCheck": bool(
                request.get("BypassPolicyLockoutSafetyCheck")
            ),
        }
        if tags:
            conditions["aws:TagKeys"] = list(tags)
            conditions.update({f"aws:RequestTag/{k}": v for k, v in tags.items()})
        ctx.authorize("kms:CreateKey", ["*"], conditions)
        if spec not in kc.USAGES:
            raise unsupported(f"KeySpec {spec} is not supported in this Region.")
        if usage not in kc.USAGES[spec]:
            raise validation(f"KeyUsage {usage} is not compatible with KeySpec {spec}")
        if request.get("CustomKeyStoreId") or request.get("XksKeyId"):
            raise kms_error(
                "CustomKeyStoreNotFoundException", "Custom key stores are not supported."
            )
        if origin not in ("AWS_KMS", "EXTERNAL"):
            raise unsupported(f"Origin {origin} is not supported.")
        if len(tags) > MAX_TAGS:
            raise tag_error(f"A KMS key can have at most {MAX_TAGS} tags.")
        if request.get("Policy"):
            document = pol.parse_policy(request["Policy"])
            if not request.get("BypassPolicyLockoutSafetyCheck") and not (
                pol.allows_policy_update(document, ctx.principal)
            ):
                raise malformed_policy(
                    "The new key policy will not allow you to update the key policy in the future."
                )
            policy = request["Policy"]
        else:
            policy = pol.default_policy(ctx.account_id)
        key = self._new_key(
            ctx.tx,
            ctx,
            spec=spec,
            usage=usage,
            origin=origin,
            manager="CUSTOMER",
            description=request.get("Description") or "",
            policy=policy,
            tags=tags,
            multi_region=multi_region,
        )
        self._changed(ctx)
        return {"KeyMetadata": self._metadata(key)}

    @operation("DescribeKey")
    def describe_key(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        key = self._resolve(ctx, request["KeyId"], allow_alias=True)
        self._authorize(ctx, "kms:DescribeKey", key, grant_operation="DescribeKey")
        material_id = (
            self._material_id(ctx.tx, key, key.current_version)
            if key.symmetric and key.current_version
            else None
        )
        return {"KeyMetadata": self._metadata(key, material_id)}

    @operation("ListKeys")
    def list_keys(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        ctx.authorize("kms:ListKeys", ["*"], {"kms:CallerAccount": ctx.account_id})
        start, limit = _page(request)
        rows = ctx.tx.execute(
            select(kms_keys.c.key_id, kms_keys.c.arn)
            .where(kms_keys.c.account_id == ctx.account_id, kms_keys.c.region == ctx.region)
            .order_by(kms_keys.c.created_at, kms_keys.c.key_id)
        ).all()
        items = [{"KeyId": key_id, "KeyArn": arn} for key_id, arn in rows]
        return _paged(items, start, limit, "Keys", "NextMarker")

    @operation("EnableKey")
    def enable_key(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        key = self._resolve(ctx, request["KeyId"])
        self._authorize(ctx, "kms:EnableKey", key)
        self._deny_aws_managed(ctx, key, "kms:EnableKey")
        if key.state in ("PendingDeletion", "PendingImport"):
            self._check_usable(key)
        if key.state != "Enabled":
            self._update_key(ctx, key, state="Enabled")
        return None

    @operation("DisableKey")
    def disable_key(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        key = self._resolve(ctx, request["KeyId"])
        self._authorize(ctx, "kms:DisableKey", key)
        self._deny_aws_managed(ctx, key, "kms:DisableKey")
        if key.state in ("PendingDeletion", "PendingImport"):
            self._check_usable(key)
        if key.state != "Disabled":
            self._update_key(ctx, key, state="Disabled")
        return None

    @operation("UpdateKeyDescription")
    def update_key_description(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        key = self._resolve(ctx, request["KeyId"])
        self._authorize(ctx, "kms:UpdateKeyDescription", key)
        self._deny_aws_managed(ctx, key, "kms:UpdateKeyDescription")
        self._check_not_pending_deletion(key)
        self._update_key(ctx, key, description=request["Description"])
        return None

    @operation("GetPublicKey")
    def get_public_key(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        key = self._resolve(ctx, request["KeyId"], allow_alias=True)
        self._authorize(ctx, "kms:GetPublicKey", key, grant_operation="GetPublicKey")
        if not kc.is_asymmetric(key.key_spec):
            raise unsupported(f"{key.arn} key spec {key.key_spec} is not valid for GetPublicKey.")
        self._check_usable(key)
        handle = self._handle(ctx, key, key.current_version)
        assert isinstance(handle, kc.AsymmetricKey)
        out: dict[str, Any] = {
            "KeyId": key.arn,
            "PublicKey": handle.public_der,
            "CustomerMasterKeySpec": key.key_spec,
            "KeySpec": key.key_spec,
            "KeyUsage": key.key_usage,
        }
        algorithms = list(kc.USAGES[key.key_spec][key.key_usage])
        field = {
            "ENCRYPT_DECRYPT": "EncryptionAlgorithms",
            "SIGN_VERIFY": "SigningAlgorithms",
            "KEY_AGREEMENT": "KeyAgreementAlgorithms",
        }[key.key_usage]
        out[field] = algorithms
        return out

    # --- tags

    @operation("TagResource")
    def tag_resource(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        key = self._resolve(ctx, request["KeyId"])
        tags = _tags_from(request.get("Tags"))
        self._authorize(
            ctx,
            "kms:TagResource",
            key,
            extra={
                "aws:TagKeys": list(tags),
                **{f"aws:RequestTag/{k}": v for k, v in tags.items()},
            },
        )
        self._deny_aws_managed(ctx, key, "kms:TagResource")
        self._check_not_pending_deletion(key)
        merged = {**key.tags, **tags}
        if len(merged) > MAX_TAGS:
            raise tag_error(f"A KMS key can have at most {MAX_TAGS} tags.")
        self._update_key(ctx, key, tags=orjson.dumps(merged).decode())
        return None

    @operation("UntagResource")
    def untag_resource(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        key = self._resolve(ctx, request["KeyId"])
        names = list(request.get("TagKeys") or [])
        self._authorize(ctx, "kms:UntagResource", key, extra={"aws:TagKeys": names})
        self._deny_aws_managed(ctx, key, "kms:UntagResource")
        self._check_not_pending_deletion(key)
        remaining = {k: v for k, v in key.tags.items() if k not in names}
        self._update_key(ctx, key, tags=orjson.dumps(remaining).decode())
        return None

    @operation("ListResourceTags")
    def list_resource_tags(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        key = self._resolve(ctx, request["KeyId"])
        self._authorize(ctx, "kms:ListResourceTags", key)
        start, limit = _page(request, 50)
        items = [{"TagKey": k, "TagValue": v} for k, v in sorted(key.tags.items())]
        return _paged(items, start, limit, "Tags", "NextMarker")

    # ============================================================ cryptography

    def _encrypt_with(
        self,
        ctx: RequestContext,
        key: Key,
        plaintext: bytes,
        context: Mapping[str, str] | None,
        algorithm: str,
    ) -> bytes:
        self._check_usage(key, "ENCRYPT_DECRYPT", ctx.operation)
        self._check_algorithm(key, algorithm)
        handle = self._handle(ctx, key, key.current_version)
        if key.symmetric:
            assert isinstance(handle, kc.SymmetricKey)
            return handle.encrypt(key.key_id, key.current_version, plaintext, context)
        if context:
            raise validation("EncryptionContext is not supported for asymmetric KMS keys.")
        limit = kc.rsa_max_plaintext(key.key_spec, algorithm)
        if len(plaintext) > limit:
            raise validation(
                f"Plaintext is too long: {len(plaintext)} bytes exceeds the maximum of {limit}"
                f" bytes for {algorithm} with {key.key_spec}."
            )
        assert isinstance(handle, kc.AsymmetricKey)
        return handle.encrypt(plaintext, algorithm)

    def _decrypt_source(
        self,
        ctx: RequestContext,
        blob: bytes,
        key_id: str | None,
        algorithm: str,
    ) -> tuple[Key, kc.BlobHeader | None]:
        """The key a ciphertext must be decrypted with (and its header when symmetric)."""
        if algorithm == "SYMMETRIC_DEFAULT":
            try:
                header = kc.parse_blob(blob)
            except kc.InvalidBlobError:
                raise invalid_ciphertext() from None
            if key_id:
                key = self._resolve(ctx, key_id, allow_alias=True)
                if key.key_id != header.key_id:
                    raise incorrect_key()
                return key, header
            found = self._get_key(ctx, ctx.region, header.key_id)
            if found is None:
                query = select(kms_keys.c.region).where(kms_keys.c.key_id == header.key_id)
                elsewhere = self._query(ctx, lambda c: c.execute(query.limit(1)).first())
                if elsewhere is not None:
                    raise invalid_ciphertext()
                raise key_not_found(key_arn(ctx.region, ctx.account_id, header.key_id))
            return found, header
        if not key_id:
            raise validation("KeyId is required to decrypt with an asymmetric KMS key.")
        return self._resolve(ctx, key_id, allow_alias=True), None

    def _decrypt_with(
        self,
        ctx: RequestContext,
        key: Key,
        header: kc.BlobHeader | None,
        blob: bytes,
        context: Mapping[str, str] | None,
        algorithm: str,
    ) -> bytes:
        self._check_usage(key, "ENCRYPT_DECRYPT", ctx.operation)
        if header is not None:
            if not key.symmetric:
                raise incorrect_key()
            handle = self._handle(ctx, key, header.material_version)
            assert isinstance(handle, kc.SymmetricKey)
            try:
                return handle.decrypt(blob, context)
            except kc.InvalidBlobError:
                raise invalid_ciphertext() from None
        if key.symmetric:
            raise incorrect_key()
        self._check_algorithm(key, algorithm)
        if context:
            raise validation("EncryptionContext is not supported for asymmetric KMS keys.")
        handle = self._handle(ctx, key, key.current_version)
        assert isinstance(handle, kc.AsymmetricKey)
        try:
            return handle.decrypt(blob, algorithm)
        except kc.InvalidBlobError:
            raise invalid_ciphertext() from None

    @operation("Encrypt", mutating=False, cached=True)
    @_cache_served
    def encrypt(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        key_id = request["KeyId"]
        key = self._resolve(ctx, key_id, allow_alias=True)
        gr.check_tokens(request.get("GrantTokens"))
        context = request.get("EncryptionContext")
        algorithm = request.get("EncryptionAlgorithm") or "SYMMETRIC_DEFAULT"
        extra: dict[str, Any] = {"kms:EncryptionAlgorithm": algorithm}
        alias = _request_alias(key_id)
        if alias:
            extra["kms:RequestAlias"] = alias
        self._authorize(
            ctx, "kms:Encrypt", key, grant_operation="Encrypt", context=context, extra=extra
        )
        self._check_usable(key)
        blob = self._encrypt_with(ctx, key, request["Plaintext"], context, algorithm)
        self._dry_run(request)
        return {"CiphertextBlob": blob, "KeyId": key.arn, "EncryptionAlgorithm": algorithm}

    @operation("Decrypt", mutating=False, cached=True)
    @_cache_served
    def decrypt(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        blob = _ciphertext_blob(request)
        algorithm = request.get("EncryptionAlgorithm") or "SYMMETRIC_DEFAULT"
        key, header = self._decrypt_source(ctx, blob, request.get("KeyId"), algorithm)
        gr.check_tokens(request.get("GrantTokens"))
        context = request.get("EncryptionContext")
        extra: dict[str, Any] = {"kms:EncryptionAlgorithm": algorithm}
        alias = _request_alias(request.get("KeyId") or "")
        if alias:
            extra["kms:RequestAlias"] = alias
        self._authorize(
            ctx, "kms:Decrypt", key, grant_operation="Decrypt", context=context, extra=extra
        )
        self._check_usable(key)
        if request.get("Recipient"):
            raise unsupported("Decrypt with a Recipient (Nitro Enclaves) is not supported.")
        plaintext = self._decrypt_with(ctx, key, header, blob, context, algorithm)
        self._dry_run(request)
        return {"KeyId": key.arn, "Plaintext": plaintext, "EncryptionAlgorithm": algorithm}

    @operation("ReEncrypt", mutating=False, cached=True)
    @_cache_served
    def re_encrypt(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        blob = _ciphertext_blob(request)
        source_alg = request.get("SourceEncryptionAlgorithm") or "SYMMETRIC_DEFAULT"
        dest_alg = request.get("DestinationEncryptionAlgorithm") or "SYMMETRIC_DEFAULT"
        source, header = self._decrypt_source(ctx, blob, request.get("SourceKeyId"), source_alg)
        dest = self._resolve(ctx, request["DestinationKeyId"], allow_alias=True)
        gr.check_tokens(request.get("GrantTokens"))
        source_ctx = request.get("SourceEncryptionContext")
        dest_ctx = request.get("DestinationEncryptionContext")
        same = {"kms:ReEncryptOnSameKey": source.arn == dest.arn}
        self._authorize(
            ctx,
            "kms:ReEncryptFrom",
            source,
            grant_operation="ReEncryptFrom",
            context=source_ctx,
            extra={**same, "kms:EncryptionAlgorithm": source_alg},
        )
        self._authorize(
            ctx,
            "kms:ReEncryptTo",
            dest,
            grant_operation="ReEncryptTo",
            context=dest_ctx,
            extra={**same, "kms:EncryptionAlgorithm": dest_alg},
        )
        self._check_usable(source)
        self._check_usable(dest)
        plaintext = self._decrypt_with(ctx, source, header, blob, source_ctx, source_alg)
        new_blob = self._encrypt_with(ctx, dest, plaintext, dest_ctx, dest_alg)
        self._dry_run(request)
        return {
            "CiphertextBlob": new_blob,
            "SourceKeyId": source.arn,
            "KeyId": dest.arn,
            "SourceEncryptionAlgorithm": source_alg,
            "DestinationEncryptionAlgorithm": dest_alg,
        }

    def _data_key(
        self, ctx: RequestContext, request: dict[str, Any], action: str
    ) -> tuple[Key, bytes, bytes]:
        key = self._resolve(ctx, request["KeyId"], allow_alias=True)
        gr.check_tokens(request.get("GrantTokens"))
        context = request.get("EncryptionContext")
        extra: dict[str, Any] = {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}
        alias = _request_alias(request["KeyId"])
        if alias:
            extra["kms:RequestAlias"] = alias
        self._authorize(
            ctx, f"kms:{action}", key, grant_operation=action, context=context, extra=extra
        )
        self._check_usable(key)
        spec, count = request.get("KeySpec"), request.get("NumberOfBytes")
        if spec and count:
            raise validation("Please specify either number of bytes or key spec.")
        if not spec and not count:
            raise validation("Please specify either number of bytes or key spec.")
        if not key.symmetric:
            raise invalid_key_usage(
                f"{key.arn} key usage is {key.key_usage} which is not valid for {action}."
            )
        plaintext = os.urandom(_DATA_KEY_BYTES[spec] if spec else count)
        handle = self._handle(ctx, key, key.current_version)
        assert isinstance(handle, kc.SymmetricKey)
        blob = handle.encrypt(key.key_id, key.current_version, plaintext, context)
        self._dry_run(request)
        return key, plaintext, blob

    @operation("GenerateDataKey", mutating=False, cached=True)
    @_cache_served
    def generate_data_key(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("Recipient"):
            raise unsupported("GenerateDataKey with a Recipient is not supported.")
        key, plaintext, blob = self._data_key(ctx, request, "GenerateDataKey")
        return {"CiphertextBlob": blob, "Plaintext": plaintext, "KeyId": key.arn}

    @operation("GenerateDataKeyWithoutPlaintext", mutating=False, cached=True)
    @_cache_served
    def generate_data_key_without_plaintext(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        key, _plaintext, blob = self._data_key(ctx, request, "GenerateDataKeyWithoutPlaintext")
        return {"CiphertextBlob": blob, "KeyId": key.arn}

    def _data_key_pair(
        self, ctx: RequestContext, request: dict[str, Any], action: str
    ) -> dict[str, Any]:
        key = self._resolve(ctx, request["KeyId"], allow_alias=True)
        gr.check_tokens(request.get("GrantTokens"))
        context = request.get("EncryptionContext")
        pair_spec = request["KeyPairSpec"]
        self._authorize(
            ctx,
            f"kms:{action}",
            key,
            grant_operation=action,
            context=context,
            extra={"kms:DataKeyPairSpec": pair_spec},
        )
        self._check_usable(key)
        if not key.symmetric:
            raise invalid_key_usage(
                f"{key.arn} key usage is {key.key_usage} which is not valid for {action}."
            )
        if pair_spec not in kc.DATA_KEY_PAIR_SPECS:
            raise unsupported(f"KeyPairSpec {pair_spec} is not supported in this Region.")
        if request.get("Recipient"):
            raise unsupported(f"{action} with a Recipient is not supported.")
        private_der, public_der = kc.generate_key_pair(pair_spec)
        handle = self._handle(ctx, key, key.current_version)
        assert isinstance(handle, kc.SymmetricKey)
        blob = handle.encrypt(key.key_id, key.current_version, private_der, context)
        self._dry_run(request)
        return {
            "PrivateKeyCiphertextBlob": blob,
            "PrivateKeyPlaintext": private_der,
            "PublicKey": public_der,
            "KeyId": key.arn,
            "KeyPairSpec": pair_spec,
        }

    @operation("GenerateDataKeyPair", mutating=False)
    def generate_data_key_pair(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        return self._data_key_pair(ctx, request, "GenerateDataKeyPair")

    @operation("GenerateDataKeyPairWithoutPlaintext", mutating=False)
    def generate_data_key_pair_without_plaintext(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        out = self._data_key_pair(ctx, request, "GenerateDataKeyPairWithoutPlaintext")
        out.pop("PrivateKeyPlaintext")
        return out

    def _signing_setup(
        self, ctx: RequestContext, request: dict[str, Any], action: str
    ) -> tuple[Key, kc.AsymmetricKey, str, bool]:
        key = self._resolve(ctx, request["KeyId"], allow_alias=True)
        gr.check_tokens(request.get("GrantTokens"))
        algorithm = request["SigningAlgorithm"]
        message_type = request.get("MessageType") or "RAW"
        self._authorize(
            ctx,
            f"kms:{action}",
            key,
            grant_operation=action,
            extra={"kms:SigningAlgorithm": algorithm, "kms:MessageType": message_type},
        )
        self._check_usable(key)
        self._check_usage(key, "SIGN_VERIFY", action)
        self._check_algorithm(key, algorithm)
        message = request["Message"]
        if message_type == "EXTERNAL_MU":
            raise validation("MessageType EXTERNAL_MU is only valid for ML-DSA keys.")
        digest = message_type == "DIGEST"
        if digest:
            if algorithm == "ED25519_SHA_512":
                raise validation("ED25519_SHA_512 signs RAW messages only.")
            if len(message) != kc.digest_size(algorithm):
                raise validation(f"Digest is invalid length for algorithm {algorithm}.")
        handle = self._handle(ctx, key, key.current_version)
        assert isinstance(handle, kc.AsymmetricKey)
        return key, handle, algorithm, digest

    @operation("Sign", mutating=False)
    def sign(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        key, handle, algorithm, digest = self._signing_setup(ctx, request, "Sign")
        signature = handle.sign(request["Message"], algorithm, digest)
        self._dry_run(request)
        return {"KeyId": key.arn, "Signature": signature, "SigningAlgorithm": algorithm}

    @operation("Verify", mutating=False)
    def verify(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        key, handle, algorithm, digest = self._signing_setup(ctx, request, "Verify")
        valid = handle.verify(request["Message"], request["Signature"], algorithm, digest)
        self._dry_run(request)
        if not valid:
            raise kms_error("KMSInvalidSignatureException", "")
        return {"KeyId": key.arn, "SignatureValid": True, "SigningAlgorithm": algorithm}

    def _mac_setup(
        self, ctx: RequestContext, request: dict[str, Any], action: str
    ) -> tuple[Key, kc.HmacKey]:
        key = self._resolve(ctx, request["KeyId"], allow_alias=True)
        gr.check_tokens(request.get("GrantTokens"))
        algorithm = request["MacAlgorithm"]
        self._authorize(
            ctx, f"kms:{action}", key, grant_operation=action, extra={"kms:MacAlgorithm": algorithm}
        )
        self._check_usable(key)
        self._check_usage(key, "GENERATE_VERIFY_MAC", action)
        self._check_algorithm(key, algorithm)
        handle = self._handle(ctx, key, key.current_version)
        assert isinstance(handle, kc.HmacKey)
        return key, handle

    @operation("GenerateMac", mutating=False, cached=True)
    @_cache_served
    def generate_mac(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        key, handle = self._mac_setup(ctx, request, "GenerateMac")
        mac = handle.mac(request["Message"])
        self._dry_run(request)
        return {"Mac": mac, "MacAlgorithm": request["MacAlgorithm"], "KeyId": key.arn}

    @operation("VerifyMac", mutating=False, cached=True)
    @_cache_served
    def verify_mac(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        key, handle = self._mac_setup(ctx, request, "VerifyMac")
        valid = handle.verify(request["Message"], request["Mac"])
        self._dry_run(request)
        if not valid:
            raise kms_error("KMSInvalidMacException", "")
        return {"KeyId": key.arn, "MacValid": True, "MacAlgorithm": request["MacAlgorithm"]}

    @operation("DeriveSharedSecret", mutating=False)
    def derive_shared_secret(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        key = self._resolve(ctx, request["KeyId"], allow_alias=True)
        gr.check_tokens(request.get("GrantTokens"))
        algorithm = request["KeyAgreementAlgorithm"]
        self._authorize(
            ctx,
            "kms:DeriveSharedSecret",
            key,
            grant_operation="DeriveSharedSecret",
            extra={"kms:KeyAgreementAlgorithm": algorithm},
        )
        self._check_usable(key)
        self._check_usage(key, "KEY_AGREEMENT", "DeriveSharedSecret")
        self._check_algorithm(key, algorithm)
        if request.get("Recipient"):
            raise unsupported("DeriveSharedSecret with a Recipient is not supported.")
        handle = self._handle(ctx, key, key.current_version)
        assert isinstance(handle, kc.AsymmetricKey)
        try:
            secret = handle.derive_shared_secret(request["PublicKey"])
        except kc.KmsCryptoError as exc:
            raise validation(str(exc)) from None
        self._dry_run(request)
        return {
            "KeyId": key.arn,
            "SharedSecret": secret,
            "KeyAgreementAlgorithm": algorithm,
            "KeyOrigin": key.origin,
        }

    @operation("GenerateRandom", mutating=False, storage=False)
    def generate_random(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        ctx.authorize("kms:GenerateRandom", ["*"], {"kms:CallerAccount": ctx.account_id})
        if request.get("CustomKeyStoreId"):
            raise kms_error(
                "CustomKeyStoreNotFoundException", "Custom key stores are not supported."
            )
        if request.get("Recipient"):
            raise unsupported("GenerateRandom with a Recipient is not supported.")
        count = request.get("NumberOfBytes")
        if not count:
            raise validation("NumberOfBytes is required.")
        return {"Plaintext": os.urandom(count)}

    # ==================================================================== aliases

    @staticmethod
    def _check_alias_name(name: str) -> None:
        if not name.startswith("alias/") or len(name) <= len("alias/"):
            raise validation(
                f"1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy "
                "constraint: Member must satisfy regular expression pattern: "
                "^alias/[a-zA-Z0-9/_-]+$"
            )
        if name.startswith(AWS_MANAGED_PREFIX):
            raise kms_error("NotAuthorizedException", "")

    def _alias_row(self, ctx: RequestContext, name: str) -> Any:
        return (
            ctx.tx.execute(
                select(kms_aliases).where(
                    kms_aliases.c.account_id == ctx.account_id,
                    kms_aliases.c.region == ctx.region,
                    kms_aliases.c.alias_name == name,
                )
            )
            .mappings()
            .first()
        )

    @operation("CreateAlias")
    def create_alias(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        name = request["AliasName"]
        self._check_alias_name(name)
        key = self._resolve(ctx, request["TargetKeyId"])
        ctx.authorize("kms:CreateAlias", [alias_arn(ctx.region, ctx.account_id, name)])
        self._authorize(ctx, "kms:CreateAlias", key)
        if key.account_id != ctx.account_id:
            raise key_not_found(key.arn)
        self._check_not_pending_deletion(key)
        if self._alias_row(ctx, name) is not None:
            raise already_exists(
                f"An alias with the name {alias_arn(ctx.region, ctx.account_id, name)} "
                "already exists"
            )
        count = ctx.tx.execute(
            select(func.count())
            .select_from(kms_aliases)
            .where(kms_aliases.c.region == key.region, kms_aliases.c.key_id == key.key_id)
        ).scalar_one()
        if count >= MAX_ALIASES_PER_KEY:
            raise limit_exceeded(f"A KMS key can have at most {MAX_ALIASES_PER_KEY} aliases.")
        ctx.tx.execute(
            kms_aliases.insert().values(
                account_id=ctx.account_id,
                region=ctx.region,
                alias_name=name,
                key_id=key.key_id,
                created_at=ctx.now,
                updated_at=ctx.now,
            )
        )
        self._changed(ctx)
        return None

    @operation("UpdateAlias")
    def update_alias(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        name = request["AliasName"]
        self._check_alias_name(name)
        arn = alias_arn(ctx.region, ctx.account_id, name)
        new_key = self._resolve(ctx, request["TargetKeyId"])
        ctx.authorize("kms:UpdateAlias", [arn])
        row = self._alias_row(ctx, name)
        if row is None:
            raise alias_not_found(arn)
        old_key = self._read_key(ctx.tx, ctx.region, row["key_id"])
        if old_key is not None:
            self._authorize(ctx, "kms:UpdateAlias", old_key)
        self._authorize(ctx, "kms:UpdateAlias", new_key)
        if new_key.account_id != ctx.account_id:
            raise key_not_found(new_key.arn)
        self._check_not_pending_deletion(new_key)
        if old_key is not None and (
            old_key.key_spec != new_key.key_spec or old_key.key_usage != new_key.key_usage
        ):
            raise validation(
                f"{new_key.arn} is not the same type of KMS key as the alias's current key "
                f"{old_key.arn}: KeySpec and KeyUsage must match."
            )
        ctx.tx.execute(
            update(kms_aliases)
            .where(
                kms_aliases.c.account_id == ctx.account_id,
                kms_aliases.c.region == ctx.region,
                kms_aliases.c.alias_name == name,
            )
            .values(key_id=new_key.key_id, updated_at=ctx.now)
        )
        self._changed(ctx)
        return None

    @operation("DeleteAlias")
    def delete_alias(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        name = request["AliasName"]
        self._check_alias_name(name)
        arn = alias_arn(ctx.region, ctx.account_id, name)
        ctx.authorize("kms:DeleteAlias", [arn])
        row = self._alias_row(ctx, name)
        if row is None:
            raise alias_not_found(arn)
        key = self._read_key(ctx.tx, ctx.region, row["key_id"])
        if key is not None:
            self._authorize(ctx, "kms:DeleteAlias", key)
        ctx.tx.execute(
            delete(kms_aliases).where(
                kms_aliases.c.account_id == ctx.account_id,
                kms_aliases.c.region == ctx.region,
                kms_aliases.c.alias_name == name,
            )
        )
        self._changed(ctx)
        return None

    @operation("ListAliases")
    def list_aliases(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        start, limit = _page(request, 50)
        query = select(kms_aliases).where(
            kms_aliases.c.account_id == ctx.account_id, kms_aliases.c.region == ctx.region
        )
        key_filter = request.get("KeyId")
        if key_filter:
            key = self._resolve(ctx, key_filter)
            self._authorize(ctx, "kms:ListAliases", key)
            query = query.where(kms_aliases.c.key_id == key.key_id)
        else:
            ctx.authorize("kms:ListAliases", ["*"], {"kms:CallerAccount": ctx.account_id})
        rows = ctx.tx.execute(query.order_by(kms_aliases.c.alias_name)).mappings().all()
        entries: dict[str, dict[str, Any]] = {}
        for row in rows:
            entries[row["alias_name"]] = {
                "AliasName": row["alias_name"],
                "AliasArn": alias_arn(ctx.region, ctx.account_id, row["alias_name"]),
                "TargetKeyId": row["key_id"],
                "CreationDate": as_utc(row["created_at"]),
                "LastUpdatedDate": as_utc(row["updated_at"]),
            }
        if not key_filter:  # AWS lists its predefined aliases before their keys exist
            for name in pol.AWS_MANAGED_KEYS:
                entries.setdefault(
                    name,
                    {"AliasName": name, "AliasArn": alias_arn(ctx.region, ctx.account_id, name)},
                )
        items = [entries[name] for name in sorted(entries)]
        return _paged(items, start, limit, "Aliases", "NextMarker")

    # ================================================================ key policies

    @operation("GetKeyPolicy")
    def get_key_policy(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        key = self._resolve(ctx, request["KeyId"])
        self._authorize(ctx, "kms:GetKeyPolicy", key)
        name = request.get("PolicyName") or pol.POLICY_NAME
        if name != pol.POLICY_NAME:
            raise not_found("No such policy exists")
        return {"Policy": key.policy, "PolicyName": pol.POLICY_NAME}

    @operation("PutKeyPolicy")
    def put_key_policy(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        key = self._resolve(ctx, request["KeyId"])
        bypass = bool(request.get("BypassPolicyLockoutSafetyCheck"))
        self._authorize(
            ctx, "kms:PutKeyPolicy", key, extra={"kms:BypassPolicyLockoutSafetyCheck": bypass}
        )
        self._deny_aws_managed(ctx, key, "kms:PutKeyPolicy")
        name = request.get("PolicyName") or pol.POLICY_NAME
        if name != pol.POLICY_NAME:
            raise not_found("No such policy exists")
        document = pol.parse_policy(request["Policy"])
        if not bypass and not pol.allows_policy_update(document, ctx.principal):
            raise malformed_policy(
                "The new key policy will not allow you to update the key policy in the future."
            )
        self._update_key(ctx, key, policy=request["Policy"])
        return None

    @operation("ListKeyPolicies")
    def list_key_policies(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        key = self._resolve(ctx, request["KeyId"])
        self._authorize(ctx, "kms:ListKeyPolicies", key)
        return {"PolicyNames": [pol.POLICY_NAME], "Truncated": False}

    # ===================================================================== grants

    @staticmethod
    def _grant_entry(grant: Grant, key: Key) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "KeyId": key.arn,
            "GrantId": grant.grant_id,
            "Name": grant.name,
            "CreationDate": as_utc(grant.created_at),
            "GranteePrincipal": grant.grantee_principal,
            "RetiringPrincipal": grant.retiring_principal,
            "IssuingAccount": grant.issuing_account,
            "Operations": list(grant.operations),
        }
        if grant.constraints:
            entry["Constraints"] = dict(grant.constraints)
        return entry

    @operation("CreateGrant")
    def create_grant(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        key = self._resolve(ctx, request["KeyId"])
        gr.check_tokens(request.get("GrantTokens"))
        operations = list(dict.fromkeys(request["Operations"]))
        grantee = request["GranteePrincipal"]
        retiring = request.get("RetiringPrincipal")
        constraints = request.get("Constraints") or None
        if constraints is not None:
            constraints = {k: v for k, v in constraints.items() if v is not None} or None
        extra: dict[str, Any] = {
            "kms:GrantOperations": operations,
            "kms:GranteePrincipal": grantee,
            "kms:GrantIsForAWSResource": False,
        }
        if retiring:
            extra["kms:RetiringPrincipal"] = retiring
        if constraints:
            extra["kms:GrantConstraintType"] = sorted(constraints)
        parent = None
        for grant in self._grants_for(ctx, key):
            if (
                "CreateGrant" in grant.operations
                and gr.principal_matches(grant.grantee_principal, ctx.principal)
                and set(operations) <= set(grant.operations)
                and gr.at_least_as_strict(constraints, grant.constraints)
            ):
                parent = grant
                break
        if parent is not None:
            # The caller holds a CreateGrant grant covering this request (AWS: policy OR grant).
            ctx.authz.decisions.append(("kms:CreateGrant", (key.arn,), True))
        else:
            self._authorize(ctx, "kms:CreateGrant", key, extra=extra)
        self._check_usable(key)
        gr.validate_operations(key, operations, constraints)
        for principal in filter(None, (grantee, retiring)):
            if not (principal.startswith("arn:") or principal.endswith(".amazonaws.com")):
                raise kms_error("InvalidArnException", f"Invalid principal {principal}")
        constraints_json = (
            orjson.dumps(constraints, option=orjson.OPT_SORT_KEYS).decode() if constraints else None
        )
        name = request.get("Name")
        existing = self._grants_for(ctx, key)
        if name:
            for grant in existing:
                if (
                    grant.name == name
                    and grant.grantee_principal == grantee
                    and grant.retiring_principal == retiring
                    and sorted(grant.operations) == sorted(operations)
                    and (grant.constraints or None) == constraints
                ):
                    self._dry_run(request)
                    return {"GrantId": grant.grant_id, "GrantToken": gr.make_token(grant.grant_id)}
        if len(existing) >= MAX_GRANTS_PER_KEY:
            raise limit_exceeded(f"A KMS key can have at most {MAX_GRANTS_PER_KEY} grants.")
        self._dry_run(request)
        grant_id = gr.new_grant_id()
        ctx.tx.execute(
            kms_grants.insert().values(
                grant_id=grant_id,
                region=key.region,
                key_id=key.key_id,
                account_id=key.account_id,
                name=name,
                grantee_principal=grantee,
                retiring_principal=retiring,
                issuing_account=f"arn:aws:iam::{ctx.account_id}:root",
                operations=orjson.dumps(operations).decode(),
                constraints=constraints_json,
                created_at=ctx.now,
            )
        )
        self._changed(ctx)
        return {"GrantId": grant_id, "GrantToken": gr.make_token(grant_id)}

    @operation("ListGrants")
    def list_grants(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        key = self._resolve(ctx, request["KeyId"])
        self._authorize(ctx, "kms:ListGrants", key)
        start, limit = _page(request, 50)
        grants = sorted(self._grants_for(ctx, key), key=lambda g: (g.created_at, g.grant_id))
        if request.get("GrantId"):
            grants = [g for g in grants if g.grant_id == request["GrantId"]]
        if request.get("GranteePrincipal"):
            grants = [g for g in grants if g.grantee_principal == request["GranteePrincipal"]]
        items = [self._grant_entry(g, key) for g in grants]
        return _paged(items, start, limit, "Grants", "NextMarker")

    @operation("ListRetirableGrants")
    def list_retirable_grants(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        principal = request["RetiringPrincipal"]
        ctx.authorize("kms:ListRetirableGrants", ["*"], {"kms:CallerAccount": ctx.account_id})
        start, limit = _page(request, 50)
        rows = (
            ctx.tx.execute(
                select(kms_grants)
                .where(
                    kms_grants.c.region == ctx.region,
                    kms_grants.c.retiring_principal == principal,
                )
                .order_by(kms_grants.c.created_at, kms_grants.c.grant_id)
            )
            .mappings()
            .all()
        )
        items = []
        for row in rows:
            grant = Grant.from_row(row)
            key = self._read_key(ctx.tx, grant.region, grant.key_id)
            if key is not None:
                items.append(self._grant_entry(grant, key))
        return _paged(items, start, limit, "Grants", "NextMarker")

    def _load_grant(self, ctx: RequestContext, grant_id: str) -> Grant | None:
        row = (
            ctx.tx.execute(select(kms_grants).where(kms_grants.c.grant_id == grant_id))
            .mappings()
            .first()
        )
        return Grant.from_row(row) if row else None

    @operation("RetireGrant")
    def retire_grant(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        token, grant_id, key_ref = (
            request.get("GrantToken"),
            request.get("GrantId"),
            request.get("KeyId"),
        )
        if token:
            grant_id = gr.token_grant_id(token)
        elif not (grant_id and key_ref):
            raise validation("Either GrantToken, or both KeyId and GrantId, must be specified.")
        key = self._resolve(ctx, key_ref) if key_ref else None
        grant = self._load_grant(ctx, grant_id or "")
        if grant is None or (key is not None and grant.key_id != key.key_id):
            if key is not None:
                self._authorize(ctx, "kms:RetireGrant", key)
            else:
                ctx.authorize("kms:RetireGrant", ["*"])
            raise not_found(f"Grant ID {grant_id} not found")
        if key is None:
            key = self._read_key(ctx.tx, grant.region, grant.key_id)
            if key is None:
                ctx.authorize("kms:RetireGrant", ["*"])
                raise not_found(f"Grant ID {grant_id} not found")
        retiring = grant.retiring_principal and gr.principal_matches(
            grant.retiring_principal, ctx.principal
        )
        grantee = "RetireGrant" in grant.operations and gr.principal_matches(
            grant.grantee_principal, ctx.principal
        )
        if retiring or grantee:
            # The grant names the caller as its retiring principal (or lets its grantee
            # retire it): KMS allows this without any policy.
            ctx.authz.decisions.append(("kms:RetireGrant", (key.arn,), True))
        else:
            self._authorize(ctx, "kms:RetireGrant", key)
        self._dry_run(request)
        ctx.tx.execute(delete(kms_grants).where(kms_grants.c.grant_id == grant.grant_id))
        self._changed(ctx)
        return None

    @operation("RevokeGrant")
    def revoke_grant(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        key = self._resolve(ctx, request["KeyId"])
        self._authorize(ctx, "kms:RevokeGrant", key)
        grant = self._load_grant(ctx, request["GrantId"])
        if grant is None or grant.key_id != key.key_id or grant.region != key.region:
            raise not_found(f"Grant ID {request['GrantId']} not found")
        self._dry_run(request)
        ctx.tx.execute(delete(kms_grants).where(kms_grants.c.grant_id == grant.grant_id))
        self._changed(ctx)
        return None

    # =================================================================== rotation

    def _check_rotatable(self, key: Key) -> None:
        if key.origin != "AWS_KMS":
            raise unsupported(
                f"{key.arn} origin is {key.origin} which is not valid for this operation."
            )
        if not key.symmetric:
            raise unsupported(f"{key.arn} key spec {key.key_spec} is not valid for this operation.")

    def _rotate(self, conn: Connection, key: Key, now: datetime, rotation_type: str) -> int:
        version = key.current_version + 1
        self._store_material(
            conn, key, version, kc.generate_material(key.key_spec), rotation_type, now
        )
        return version

    @operation("EnableKeyRotation")
    def enable_key_rotation(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        key = self._resolve(ctx, request["KeyId"])
        period = request.get("RotationPeriodInDays") or DEFAULT_ROTATION_DAYS
        self._authorize(
            ctx, "kms:EnableKeyRotation", key, extra={"kms:RotationPeriodInDays": period}
        )
        if key.aws_managed:
            raise unsupported(f"{key.arn} is an AWS managed key; its rotation cannot be changed.")
        if not 90 <= period <= 2560:
            raise validation("RotationPeriodInDays must be between 90 and 2560.")
        self._check_usable(key)
        self._check_rotatable(key)
        if key.rotation_enabled and key.rotation_period_days and key.next_rotation_at:
            anchor = key.next_rotation_at - timedelta(days=key.rotation_period_days)
            next_at = max(anchor + timedelta(days=period), ctx.now)
        else:
            next_at = ctx.now + timedelta(days=period)
        self._update_key(
            ctx, key, rotation_enabled=True, rotation_period_days=period, next_rotation_at=next_at
        )
        return None

    @operation("DisableKeyRotation")
    def disable_key_rotation(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        key = self._resolve(ctx, request["KeyId"])
        self._authorize(ctx, "kms:DisableKeyRotation", key)
        if key.aws_managed:
            raise unsupported(f"{key.arn} is an AWS managed key; its rotation cannot be changed.")
        self._check_usable(key)
        self._check_rotatable(key)
        self._update_key(
            ctx, key, rotation_enabled=False, rotation_period_days=None, next_rotation_at=None
        )
        return None

    @operation("GetKeyRotationStatus")
    def get_key_rotation_status(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        key = self._resolve(ctx, request["KeyId"])
        self._authorize(ctx, "kms:GetKeyRotationStatus", key)
        self._check_not_pending_deletion(key)
        if key.origin == "EXTERNAL" and key.state == "PendingImport":
            raise unsupported(
                f"{key.arn} origin is EXTERNAL which is not valid for this operation."
            )
        out: dict[str, Any] = {"KeyRotationEnabled": key.rotation_enabled, "KeyId": key.arn}
        if key.rotation_enabled:
            out["RotationPeriodInDays"] = key.rotation_period_days
            out["NextRotationDate"] = key.next_rotation_at
        return out

    @operation("RotateKeyOnDemand")
    def rotate_key_on_demand(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        key = self._resolve(ctx, request["KeyId"])
        self._authorize(ctx, "kms:RotateKeyOnDemand", key)
        if key.aws_managed:
            raise unsupported(f"{key.arn} is an AWS managed key; it cannot be rotated on demand.")
        self._check_usable(key)
        self._check_rotatable(key)
        if key.on_demand_rotations >= MAX_ON_DEMAND_ROTATIONS:
            raise limit_exceeded(
                f"{key.arn} has reached the maximum of {MAX_ON_DEMAND_ROTATIONS} on-demand "
                "rotations."
            )
        version = self._rotate(ctx.tx, key, ctx.now, "ON_DEMAND")
        self._update_key(
            ctx, key, current_version=version, on_demand_rotations=key.on_demand_rotations + 1
        )
        return {"KeyId": key.arn}

    @operation("ListKeyRotations")
    def list_key_rotations(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        key = self._resolve(ctx, request["KeyId"])
        self._authorize(ctx, "kms:ListKeyRotations", key)
        self._check_rotatable(key)
        start, limit = _page(request)
        rows = ctx.tx.execute(
            select(
                kms_key_material.c.material_id,
                kms_key_material.c.created_at,
                kms_key_material.c.rotation_type,
            )
            .where(
                kms_key_material.c.region == key.region,
                kms_key_material.c.key_id == key.key_id,
                kms_key_material.c.rotation_type.is_not(None),
            )
            .order_by(kms_key_material.c.version)
        ).all()
        items = [
            {
                "KeyId": key.arn,
                "KeyMaterialId": material_id,
                "RotationDate": as_utc(created),
                "RotationType": rotation_type,
            }
            for material_id, created, rotation_type in rows
        ]
        return _paged(items, start, limit, "Rotations", "NextMarker")

    # =================================================================== deletion

    @operation("ScheduleKeyDeletion")
    def schedule_key_deletion(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        key = self._resolve(ctx, request["KeyId"])
        days = request.get("PendingWindowInDays") or 30
        self._authorize(
            ctx,
            "kms:ScheduleKeyDeletion",
            key,
            extra={"kms:ScheduleKeyDeletionPendingWindowInDays": days},
        )
        self._deny_aws_managed(ctx, key, "kms:ScheduleKeyDeletion")
        if not 7 <= days <= 30:
            raise validation(
                "1 validation error detected: Value at 'pendingWindowInDays' failed to satisfy "
                "constraint: Member must have value between 7 and 30"
            )
        self._check_not_pending_deletion(key)
        when = ctx.now + timedelta(days=days)
        self._update_key(
            ctx, key, state="PendingDeletion", deletion_date=when, pending_window_days=days
        )
        return {
            "KeyId": key.arn,
            "DeletionDate": when,
            "KeyState": "PendingDeletion",
            "PendingWindowInDays": days,
        }

    @operation("CancelKeyDeletion")
    def cancel_key_deletion(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        key = self._resolve(ctx, request["KeyId"])
        self._authorize(ctx, "kms:CancelKeyDeletion", key)
        if key.state != "PendingDeletion":
            raise invalid_state(f"{key.arn} is not pending deletion.")
        state = (
            "PendingImport" if key.origin == "EXTERNAL" and not key.current_version else "Disabled"
        )
        self._update_key(ctx, key, state=state, deletion_date=None, pending_window_days=None)
        return {"KeyId": key.arn}

    def _purge_key(self, conn: Connection, region: str, key_id: str) -> None:
        for table in (kms_key_material, kms_import_tokens, kms_grants):
            conn.execute(delete(table).where(table.c.region == region, table.c.key_id == key_id))
        conn.execute(
            delete(kms_aliases).where(
                kms_aliases.c.region == region, kms_aliases.c.key_id == key_id
            )
        )
        conn.execute(
            delete(kms_keys).where(kms_keys.c.region == region, kms_keys.c.key_id == key_id)
        )

    # ============================================================ imported material

    def _check_external(self, key: Key) -> None:
        if key.origin != "EXTERNAL":
            raise unsupported(
                f"{key.arn} origin is {key.origin} which is not valid for this operation."
            )

    @operation("GetParametersForImport", mutating=True)
    def get_parameters_for_import(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        key = self._resolve(ctx, request["KeyId"])
        algorithm, spec = request["WrappingAlgorithm"], request["WrappingKeySpec"]
        self._authorize(
            ctx,
            "kms:GetParametersForImport",
            key,
            extra={"kms:WrappingAlgorithm": algorithm, "kms:WrappingKeySpec": spec},
        )
        self._check_external(key)
        self._check_not_pending_deletion(key)
        if algorithm not in kc.WRAPPING_ALGORITHMS or spec not in kc.RSA_BITS:
            raise unsupported(
                f"Wrapping algorithm {algorithm} with wrapping key spec {spec} is not supported."
            )
        private_der, public_der = kc.generate_wrapping_key(spec)
        token_id = os.urandom(16).hex()
        expires = ctx.now + IMPORT_PARAMETERS_VALID
        ctx.tx.execute(
            kms_import_tokens.insert().values(
                token_id=token_id,
                region=key.region,
                key_id=key.key_id,
                wrapping_algorithm=algorithm,
                wrapping_key_spec=spec,
                private_key_sealed=self._barrier.seal(f"kms/import-tokens/{token_id}", private_der),
                expires_at=expires,
            )
        )
        token = _IMPORT_TOKEN_PREFIX + bytes.fromhex(token_id) + os.urandom(16)
        return {
            "KeyId": key.arn,
            "ImportToken": token,
            "PublicKey": public_der,
            "ParametersValidTo": expires,
        }

    @operation("ImportKeyMaterial")
    def import_key_material(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        key = self._resolve(ctx, request["KeyId"])
        model = request.get("ExpirationModel") or "KEY_MATERIAL_EXPIRES"
        valid_to = as_utc(request.get("ValidTo"))
        extra: dict[str, Any] = {"kms:ExpirationModel": model}
        if valid_to:
            extra["kms:ValidTo"] = valid_to.timestamp()
        self._authorize(ctx, "kms:ImportKeyMaterial", key, extra=extra)
        self._check_external(key)
        self._check_not_pending_deletion(key)
        if request.get("ImportType") == "NEW_KEY_MATERIAL" and key.material_fingerprint:
            raise unsupported(
                "Importing new key material (rotation of imported keys) is not supported."
            )
        if model == "KEY_MATERIAL_EXPIRES":
            if valid_to is None:
                raise validation(
                    "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"
                )
            if valid_to <= ctx.now or valid_to > ctx.now + timedelta(days=365):
                raise validation("ValidTo must be in the future and at most 365 days from now.")
        elif valid_to is not None:
            raise validation(
                "A validTo date must not be set if the ExpirationModel is "
                "KEY_MATERIAL_DOES_NOT_EXPIRE"
            )
        raw = request["ImportToken"]
        token_id = (
            raw[len(_IMPORT_TOKEN_PREFIX) : len(_IMPORT_TOKEN_PREFIX) + 16].hex()
            if raw.startswith(_IMPORT_TOKEN_PREFIX) and len(raw) == len(_IMPORT_TOKEN_PREFIX) + 32
            else ""
        )
        row = (
            ctx.tx.execute(
                select(kms_import_tokens).where(kms_import_tokens.c.token_id == token_id)
            )
            .mappings()
            .first()
        )
        if row is None or row["key_id"] != key.key_id or row["region"] != key.region:
            raise kms_error(
                "InvalidImportTokenException",
                "The import token is not valid for this KMS key.",
            )
        if as_utc(row["expires_at"]) <= ctx.now:  # type: ignore[operator]
            raise kms_error("ExpiredImportTokenException", "The import token has expired.")
        private_der = self._barrier.unseal(
            f"kms/import-tokens/{token_id}", row["private_key_sealed"]
        )
        try:
            material = kc.unwrap_key_material(
                private_der, row["wrapping_algorithm"], request["EncryptedKeyMaterial"]
            )
        except kc.KmsCryptoError:
            raise invalid_ciphertext() from None
        try:
            kc.check_material(key.key_spec, material)
        except kc.MaterialError as exc:
            raise kms_error("IncorrectKeyMaterialException", str(exc)) from None
        fingerprint = kc.material_fingerprint(key.key_id, material)
        if key.material_fingerprint and key.material_fingerprint != fingerprint:
            raise kms_error(
                "IncorrectKeyMaterialException",
                "The key material does not match the key material previously imported into "
                "this KMS key.",
            )
        self._dry_run(request)
        if key.current_version:
            material_id = self._material_id(ctx.tx, key, key.current_version) or ""
            state = key.state
        else:
            material_id = self._store_material(ctx.tx, key, 1, material, None, ctx.now)
            state = "Enabled" if key.state == "PendingImport" else key.state
        self._update_key(
            ctx,
            key,
            state=state,
            current_version=1,
            expiration_model=model,
            valid_to=valid_to if model == "KEY_MATERIAL_EXPIRES" else None,
            material_fingerprint=fingerprint,
        )
        return {"KeyId": key.arn, "KeyMaterialId": material_id}

    @operation("DeleteImportedKeyMaterial")
    def delete_imported_key_material(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        key = self._resolve(ctx, request["KeyId"])
        self._authorize(ctx, "kms:DeleteImportedKeyMaterial", key)
        self._check_external(key)
        material_id = (
            self._material_id(ctx.tx, key, key.current_version) if key.current_version else None
        )
        ctx.tx.execute(
            delete(kms_key_material).where(
                kms_key_material.c.region == key.region, kms_key_material.c.key_id == key.key_id
            )
        )
        state = key.state if key.state == "PendingDeletion" else "PendingImport"
        self._update_key(ctx, key, state=state, current_version=0, valid_to=None)
        out: dict[str, Any] = {"KeyId": key.arn}
        if material_id:
            out["KeyMaterialId"] = material_id
        return out

    # ============================================================= scheduled jobs

    def _after_job(self, keys: list[tuple[str, str]]) -> None:
        self._meta.invalidate()
        for region, key_id in keys:
            self._material.drop_key(region, key_id)

    def run_rotations(self, now: datetime) -> None:
        """Rotate every Enabled key whose automatic rotation is due."""
        touched: list[tuple[str, str]] = []
        with self._store.write() as conn:
            rows = (
                conn.execute(
                    select(kms_keys).where(
                        kms_keys.c.rotation_enabled.is_(True),
                        kms_keys.c.next_rotation_at <= now,
                        kms_keys.c.state == "Enabled",
                    )
                )
                .mappings()
                .all()
            )
            for row in rows:
                key = self._read_key(conn, row["region"], row["key_id"])
                if key is None or not key.rotation_period_days:
                    continue
                version = self._rotate(conn, key, now, "AUTOMATIC")
                conn.execute(
                    update(kms_keys)
                    .where(kms_keys.c.region == key.region, kms_keys.c.key_id == key.key_id)
                    .values(
                        current_version=version,
                        next_rotation_at=now + timedelta(days=key.rotation_period_days),
                    )
                )
                touched.append((key.region, key.key_id))
        if touched:
            self._after_job(touched)

    def run_deletions(self, now: datetime) -> None:
        """Delete keys (and their material, aliases and grants) whose waiting period ended."""
        with self._store.write() as conn:
            due = conn.execute(
                select(kms_keys.c.region, kms_keys.c.key_id).where(
                    kms_keys.c.state == "PendingDeletion", kms_keys.c.deletion_date <= now
                )
            ).all()
            for region, key_id in due:
                self._purge_key(conn, region, key_id)
        if due:
            self._after_job([(r, k) for r, k in due])

    def run_import_expiry(self, now: datetime) -> None:
        """Delete imported key material whose ValidTo has passed (the key goes PendingImport)."""
        with self._store.write() as conn:
            due = conn.execute(
                select(kms_keys.c.region, kms_keys.c.key_id, kms_keys.c.state).where(
                    kms_keys.c.origin == "EXTERNAL",
                    kms_keys.c.expiration_model == "KEY_MATERIAL_EXPIRES",
                    kms_keys.c.valid_to <= now,
                    kms_keys.c.current_version > 0,
                )
            ).all()
            for region, key_id, state in due:
                conn.execute(
                    delete(kms_key_material).where(
                        kms_key_material.c.region == region, kms_key_material.c.key_id == key_id
                    )
                )
                conn.execute(
                    update(kms_keys)
                    .where(kms_keys.c.region == region, kms_keys.c.key_id == key_id)
                    .values(
                        state=state if state == "PendingDeletion" else "PendingImport",
                        current_version=0,
                        valid_to=None,
                    )
                )
        if due:
            self._after_job([(r, k) for r, k, _ in due])
