"""Systems Manager Parameter Store: the parameter operations of the `ssm` API.

SecureString values are encrypted through Bastion's KMS as the caller (`ctx.call`, so
`kms:ViaService` is `ssm.<region>.amazonaws.com` and the key policy decides), with the
encryption context `{"PARAMETER_ARN": <parameter ARN>}` as AWS uses:
- Standard tier: KMS `Encrypt` of the value (at most 4 KB, as on AWS);
- Advanced tier: envelope encryption, a `GenerateDataKey` data key and AES-256-GCM here.
Reading with `WithDecryption` calls KMS `Decrypt` with the same context, so a caller
needs both `ssm:GetParameter*` and `kms:Decrypt`, as on AWS. Only ciphertext is stored.

Parameter policies (Advanced tier) are scheduled in clear columns; a scheduler job
deletes expired parameters and emits "Parameter Store Policy Action" events.
Changes emit "Parameter Store Change" events in the changing transaction.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select, update

from bastion.context import RequestContext
from bastion.crypto import aead
from bastion.errors import AccessDeniedError, ServiceError, ValidationError
from bastion.protocol.validate import compile_java_pattern
from bastion.services.base import Provider, operation
from bastion.services.ssm import rules
from bastion.services.ssm.rules import not_found, parameter_arn, ssm_error
from bastion.spine import events
from bastion.spine.scheduler import Scheduler
from bastion.storage import Store
from bastion.storage.cache import ReadCache
from bastion.storage.ssm_tables import ssm_parameter_versions, ssm_parameters

DEFAULT_KEY = "alias/aws/ssm"
_ENVELOPE = b"BSE1"
_KMS_KEY_ERRORS = {
    "NotFoundException",
    "DisabledException",
    "KMSInvalidStateException",
    "InvalidKeyUsageException",
    "IncorrectKeyException",
}
_BY_PATH_FILTERS = ("Type", "KeyId", "Label")
INVALID_RESOURCE_ID = (
    "The resource ID is not valid. Verify that you entered the correct ID and try again."
)
_DESCRIBE_FILTERS = ("Name", "Type", "KeyId", "Path", "Tier", "Label", "DataType")


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else "?"


def _token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def _untoken(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ssm_error("InvalidNextToken", "The specified token isn't valid.") from None


def kms_failure(err: ServiceError, request_id: str) -> ServiceError:
    """KMS's refusal as Parameter Store reports it."""
    if err.code == "AccessDeniedException":
        return AccessDeniedError(
            f"{err.message} (Service: AWSKMS; Status Code: 400; Error Code:"
            f" AccessDeniedException; Request ID: {request_id}; Proxy: null)"
        )
    if err.code in _KMS_KEY_ERRORS:
        return ssm_error("InvalidKeyId", err.message or "The key ID isn't valid.")
    return err


# Reads served from the read cache: the hot path of applications fetching configuration.
_CACHED_READS = frozenset({"GetParameter", "GetParameters"})


class SsmProvider(Provider):
    service = "ssm"
    state_tables = (ssm_parameters, ssm_parameter_versions)

    def __init__(self, store: Store | None = None, scheduler: Scheduler | None = None) -> None:
        self._store = store
        self._reads = ReadCache()
        if scheduler is not None:
            scheduler.register("ssm-parameter-policies", self.run_policies, timedelta(seconds=30))

    def after_write(self) -> None:
        self._reads.invalidate()

    def clear_caches(self) -> None:
        self._reads.invalidate()

    # ============================================================== helpers

    def _row(self, conn: Connection, ctx: RequestContext, name: str) -> Any:
        if ctx.operation in _CACHED_READS:
            key = ("row", ctx.account_id, ctx.region, name)
            return self._reads.get(key, lambda: self._load_row(conn, ctx, name))
        return self._load_row(conn, ctx, name)

    def _load_row(self, conn: Connection, ctx: RequestContext, name: str) -> Any:
        return (
            conn.execute(
                select(ssm_parameters).where(
                    ssm_parameters.c.account_id == ctx.account_id,
                    ssm_parameters.c.region == ctx.region,
                    ssm_parameters.c.name == name,
                )
            )
            .mappings()
            .first()
        )

    def _find(self, ctx: RequestContext, name_part: str) -> Any:
        for candidate in rules.name_candidates(name_part):
            row = self._row(ctx.tx, ctx, candidate)
            if row is not None:
                return row
        return None

    def _locate(self, ctx: RequestContext, name_part: str) -> tuple[Any, str]:
        """The parameter row (or None) and the ARN to authorize against either way."""
        row = self._find(ctx, name_part)
        name = row["name"] if row is not None else rules.name_candidates(name_part)[0]
        return row, self._arn(ctx, name)

    def _existing(self, ctx: RequestContext, name_part: str, action: str) -> tuple[Any, str]:
        """Locate, authorize `ssm:<action>`, then answer ParameterNotFound if missing."""
        row, arn = self._locate(ctx, name_part)
        self._authorize(ctx, action, arn, row)
        if row is None:
            raise not_found()
        return row, arn

    def _versions(self, conn: Connection, ctx: RequestContext, name: str) -> list[Any]:
        return list(
            conn.execute(
                select(ssm_parameter_versions)
                .where(
                    ssm_parameter_versions.c.account_id == ctx.account_id,
                    ssm_parameter_versions.c.region == ctx.region,
                    ssm_parameter_versions.c.name == name,
                )
                .order_by(ssm_parameter_versions.c.version)
            )
            .mappings()
            .all()
        )

    def _version(self, ctx: RequestContext, name: str, version: int) -> Any:
        if ctx.operation in _CACHED_READS:
            key = ("version", ctx.account_id, ctx.region, name, version)
            return self._reads.get(key, lambda: self._load_version(ctx, name, version))
        return self._load_version(ctx, name, version)

    def _load_version(self, ctx: RequestContext, name: str, version: int) -> Any:
        return (
            ctx.tx.execute(
                select(ssm_parameter_versions).where(
                    ssm_parameter_versions.c.account_id == ctx.account_id,
                    ssm_parameter_versions.c.region == ctx.region,
                    ssm_parameter_versions.c.name == name,
                    ssm_parameter_versions.c.version == version,
                )
            )
            .mappings()
            .first()
        )

    @staticmethod
    def _tag_conditions(tags_text: str | None) -> dict[str, Any]:
        tags = json.loads(tags_text or "{}")
        return {f"aws:ResourceTag/{k}": v for k, v in tags.items()}

    def _authorize(self, ctx: RequestContext, action: str, arn: str, row: Any = None) -> None:
        conditions = self._tag_conditions(row["tags"]) if row is not None else None
        ctx.authorize(f"ssm:{action}", [arn], conditions)

    def _arn(self, ctx: RequestContext, name: str) -> str:
        return parameter_arn(ctx.region, ctx.account_id, name)

    def _emit_change(
        self, ctx: RequestContext, name: str, type_: str, op: str, desc: str | None
    ) -> None:
        detail: dict[str, Any] = {"operation": op, "name": name, "type": type_}
        if desc:
            detail["description"] = desc
        events.emit(
            ctx.tx,
            account_id=ctx.account_id,
            region=ctx.region,
            source="aws.ssm",
            detail_type="Parameter Store Change",
            detail=detail,
            time=ctx.now,
            resources=[self._arn(ctx, name)],
        )

    # --- SecureString ---------------------------------------------------------------

    def _encrypt(self, ctx: RequestContext, arn: str, key_id: str, tier: str, value: str) -> bytes:
        context = {"PARAMETER_ARN": arn}
        try:
            if tier == "Standard":
                out = ctx.call(
                    "kms",
                    "Encrypt",
                    {"KeyId": key_id, "Plaintext": value.encode(), "EncryptionContext": context},
                )
                return bytes(out["CiphertextBlob"])
            out = ctx.call(
                "kms",
                "GenerateDataKey",
                {"KeyId": key_id, "KeySpec": "AES_256", "EncryptionContext": context},
            )
        except ServiceError as err:
            raise kms_failure(err, ctx.request_id) from None
        data_key = bytes(out["CiphertextBlob"])
        sealed = aead.encrypt(bytes(out["Plaintext"]), value.encode(), arn.encode())
        return _ENVELOPE + struct.pack(">H", len(data_key)) + data_key + sealed

    def _decrypt(self, ctx: RequestContext, arn: str, blob: bytes) -> str:
        context = {"PARAMETER_ARN": arn}
        envelope = blob.startswith(_ENVELOPE)
        if envelope:
            (size,) = struct.unpack_from(">H", blob, len(_ENVELOPE))
            start = len(_ENVELOPE) + 2
            kms_blob, sealed = blob[start : start + size], blob[start + size :]
        else:
            kms_blob, sealed = blob, b""
        try:
            out = ctx.call(
                "kms", "Decrypt", {"CiphertextBlob": kms_blob, "EncryptionContext": context}
            )
        except ServiceError as err:
            raise kms_failure(err, ctx.request_id) from None
        plain = bytes(out["Plaintext"])
        if envelope:
            plain = aead.decrypt(plain, sealed, arn.encode())
        return plain.decode()

    def _value(self, ctx: RequestContext, arn: str, version: Any, decrypt: bool) -> str:
        if version["type"] != "SecureString":
            return version["value"] or ""
        blob = bytes(version["ciphertext"])
        if decrypt:
            return self._decrypt(ctx, arn, blob)
        return base64.b64encode(blob).decode()

    # ============================================================== PutParameter

    @operation("PutParameter")
    def put_parameter(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        name = rules.check_name(request["Name"])
        arn = self._arn(ctx, name)
        existing = self._row(ctx.tx, ctx, name)
        tags = {t["Key"]: t["Value"] for t in request.get("Tags") or []}
        conditions: dict[str, Any] = {}
        if existing is not None:
            conditions.update(self._tag_conditions(existing["tags"]))
        for key, value in tags.items():
            conditions[f"aws:RequestTag/{key}"] = value
        if tags:
            conditions["aws:TagKeys"] = list(tags)
        ctx.authorize("ssm:PutParameter", [arn], conditions or None)
        if tags:
            ctx.authorize("ssm:AddTagsToResource", [arn], conditions)
        overwrite = bool(request.get("Overwrite"))
        if tags and overwrite:
            raise ValidationError(
                "Invalid request: tags and overwrite can't be used together. To create a"
                " parameter with tags, please remove overwrite flag. To update tags for an"
                " existing parameter, please use AddTagsToResource or RemoveTagsFromResource."
            )
        if len(tags) > rules.MAX_TAGS:
            raise ssm_error("TooManyTagsError", "The Tags parameter contains more than 50 tags.")
        if existing is not None and not overwrite:
            raise ssm_error(
                "ParameterAlreadyExists",
                "The parameter already exists. To overwrite this value, set the overwrite"
                " option in the request to true.",
            )
        type_ = request.get("Type") or (existing["type"] if existing is not None else None)
        if type_ is None:
            raise ValidationError("A parameter type is required when you create a parameter.")
        value = request["Value"]
        data_type = request.get("DataType") or (
            existing["data_type"] if existing is not None else "text"
        )
        rules.check_data_type(data_type, type_, value)
        key_id = request.get("KeyId")
        if type_ != "SecureString":
            if key_id:
                raise ValidationError("KeyId is required for SecureString type parameter only.")
        elif not key_id:
            key_id = (
                existing["key_id"]
                if existing is not None and existing["type"] == "SecureString"
                else DEFAULT_KEY
            )
        pattern = request.get("AllowedPattern")
        if pattern:
            compiled = compile_java_pattern(pattern)
            if compiled is None:
                raise ssm_error(
                    "InvalidAllowedPatternException",
                    f"The allowed pattern {pattern} is not a valid regular expression.",
                )
            if not compiled.fullmatch(value):
                raise ssm_error(
                    "ParameterPatternMismatchException",
                    f"Parameter value, cannot be validated against allowedPattern: {pattern}",
                )
        # policies: absent keeps the existing ones; an empty document removes them
        if "Policies" in request and request["Policies"] is not None:
            policy_items = rules.parse_policies(request["Policies"])
            policies = json.dumps(policy_items) if policy_items else None
        else:
            policies = existing["policies"] if existing is not None else None
            policy_items = json.loads(policies) if policies else []
        tier = self._tier(request.get("Tier"), existing, value, policy_items)
        description = request.get("Description")
        if description is None and existing is not None:
            description = existing["description"]

        versions = self._versions(ctx.tx, ctx, name) if existing is not None else []
        version = (existing["version"] + 1) if existing is not None else 1
        if len(versions) >= rules.MAX_VERSIONS:
            oldest = versions[0]
            if json.loads(oldest["labels"]):
                raise ssm_error(
                    "ParameterMaxVersionLimitExceeded",
                    f"You attempted to create a new version of {name} by calling the"
                    f" PutParameter API with the overwrite flag. Version {oldest['version']},"
                    " the oldest version, can't be deleted because it has a label associated"
                    " with it. Move the label to another version of the parameter, and try"
                    " again.",
                )
            ctx.tx.execute(
                delete(ssm_parameter_versions).where(
                    ssm_parameter_versions.c.account_id == ctx.account_id,
                    ssm_parameter_versions.c.region == ctx.region,
                    ssm_parameter_versions.c.name == name,
                    ssm_parameter_versions.c.version <= versions[-rules.MAX_VERSIONS]["version"],
                )
            )
        ciphertext = None
        clear: str | None = value
        if type_ == "SecureString":
            ciphertext = self._encrypt(ctx, arn, key_id, tier, value)
            clear = None
        sched = rules.schedule(policy_items, ctx.now)
        row = {
            "type": type_,
            "data_type": data_type,
            "tier": tier,
            "key_id": key_id,
            "description": description,
            "allowed_pattern": pattern,
            "policies": policies,
            "version": version,
            "modified_at": ctx.now,
            "modified_user": ctx.principal.arn,
            "expires_at": sched.expires_at,
            "expiry_notice_at": sched.expiry_notice_at,
            "no_change_at": sched.no_change_at,
        }
        key = {"account_id": ctx.account_id, "region": ctx.region, "name": name}
        if existing is None:
            ctx.tx.execute(ssm_parameters.insert().values(**key, **row, tags=json.dumps(tags)))
        else:
            ctx.tx.execute(
                update(ssm_parameters)
                .where(
                    ssm_parameters.c.account_id == ctx.account_id,
                    ssm_parameters.c.region == ctx.region,
                    ssm_parameters.c.name == name,
                )
                .values(**row)
            )
        ctx.tx.execute(
            ssm_parameter_versions.insert().values(
                **key,
                version=version,
                type=type_,
                data_type=data_type,
                tier=tier,
                key_id=key_id,
                description=description,
                allowed_pattern=pattern,
                policies=policies,
                value=clear,
                ciphertext=ciphertext,
                labels="[]",
                modified_at=ctx.now,
                modified_user=ctx.principal.arn,
            )
        )
        self._emit_change(ctx, name, type_, "Create" if existing is None else "Update", description)
        return {"Version": version, "Tier": tier}

    @staticmethod
    def _tier(requested: str | None, existing: Any, value: str, policies: list[Any]) -> str:
        size = len(value.encode())
        current = existing["tier"] if existing is not None else None
        if requested == "Intelligent-Tiering":
            tier = "Advanced" if size > rules.STANDARD_MAX or policies else "Standard"
            if current == "Advanced":
                tier = "Advanced"
        elif requested is not None:
            tier = requested
            if current == "Advanced" and tier == "Standard":
                raise ValidationError(
                    "This parameter uses the advanced-parameter tier. You can't downgrade a"
                    " parameter from the advanced-parameter tier to the standard-parameter tier."
                    " If necessary, you can delete the advanced parameter and recreate it as a"
                    " standard parameter."
                )
        else:
            tier = current or "Standard"
        if tier == "Standard" and policies:
            raise ValidationError(
                "Standard tier parameters don't support parameter policies. To use parameter"
                " policies, upgrade the parameter to use the advanced-parameter tier."
            )
        if size > (rules.STANDARD_MAX if tier == "Standard" else rules.ADVANCED_MAX):
            raise rules.value_limit_error(tier)
        return tier

    # ============================================================== reads

    def _resolve_selector(self, ctx: RequestContext, text: str) -> tuple[Any, Any, rules.Selector]:
        """(parameter row, version row, selector), or raise ParameterNotFound & co."""
        sel = rules.parse_selector(text)
        row = self._find(ctx, sel.name)
        if row is None:
            return None, None, sel
        if sel.version is not None:
            version = self._version(ctx, row["name"], sel.version)
            if version is None:
                raise ssm_error(
                    "ParameterVersionNotFound",
                    f"Systems Manager could not find version {sel.version} of {row['name']}."
                    " Verify the version and try again.",
                )
            return row, version, sel
        if sel.label is not None:
            for version in reversed(self._versions(ctx.tx, ctx, row["name"])):
                if sel.label in json.loads(version["labels"]):
                    return row, version, sel
            return row, None, sel
        return row, self._version(ctx, row["name"], row["version"]), sel

    def _parameter(
        self, ctx: RequestContext, row: Any, version: Any, sel: rules.Selector | None, decrypt: bool
    ) -> dict[str, Any]:
        arn = self._arn(ctx, row["name"])
        out: dict[str, Any] = {
            "Name": row["name"],
            "Type": version["type"],
            "Value": self._value(ctx, arn, version, decrypt),
            "Version": version["version"],
            "LastModifiedDate": _utc(version["modified_at"]),
            "ARN": arn,
            "DataType": version["data_type"],
        }
        if sel is not None and sel.suffix:
            out["Selector"] = sel.suffix
        return out

    @operation("GetParameter", cached=True)
    def get_parameter(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        sel = rules.parse_selector(request["Name"])
        candidates = rules.name_candidates(sel.name)
        row, version, sel = self._resolve_selector(ctx, request["Name"])
        arn = self._arn(ctx, row["name"] if row is not None else candidates[0])
        self._authorize(ctx, "GetParameter", arn, row)
        if row is None or version is None:
            raise not_found()
        return {
            "Parameter": self._parameter(
                ctx, row, version, sel, bool(request.get("WithDecryption"))
            )
        }

    @operation("GetParameters", cached=True)
    def get_parameters(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        decrypt = bool(request.get("WithDecryption"))
        found: list[tuple[Any, Any, rules.Selector]] = []
        invalid: list[str] = []
        for text in dict.fromkeys(request["Names"]):
            row, version, sel = self._resolve_selector(ctx, text)
            candidates = rules.name_candidates(sel.name)
            arn = self._arn(ctx, row["name"] if row is not None else candidates[0])
            self._authorize(ctx, "GetParameters", arn, row)
            if row is None or version is None:
                invalid.append(text)
            else:
                found.append((row, version, sel))
        found.sort(key=lambda item: item[0]["name"])
        return {
            "Parameters": [self._parameter(ctx, r, v, s, decrypt) for r, v, s in found],
            "InvalidParameters": invalid,
        }

    @operation("GetParametersByPath")
    def get_parameters_by_path(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        path = request["Path"].strip()
        if not path.startswith("/"):
            raise ValidationError(
                "The parameter doesn't meet the parameter name requirements. The parameter name"
                ' must begin with a forward slash "/".'
            )
        if path.count("/") > rules.MAX_DEPTH + 1:
            raise ssm_error(
                "HierarchyLevelLimitExceededException",
                "A hierarchy can have a maximum of 15 levels.",
            )
        ctx.authorize("ssm:GetParametersByPath", [self._arn(ctx, path.rstrip("/") or "/")])
        filters = request.get("ParameterFilters") or []
        for f in filters:
            if f["Key"] not in _BY_PATH_FILTERS:
                raise ssm_error(
                    "InvalidFilterKey",
                    f"The following filter key is not valid: {f['Key']}. Valid filter keys"
                    " include: [Type, KeyId, Label].",
                )
            self._check_filter_option(f)
        limit = request.get("MaxResults") or 10
        after = _untoken(request.get("NextToken"))
        prefix = path.rstrip("/") + "/"
        query = select(ssm_parameters).where(
            ssm_parameters.c.account_id == ctx.account_id,
            ssm_parameters.c.region == ctx.region,
            ssm_parameters.c.name.startswith(prefix, autoescape=True),
        )
        if after is not None:
            query = query.where(ssm_parameters.c.name > after)
        query = query.order_by(ssm_parameters.c.name)
        recursive = bool(request.get("Recursive"))
        decrypt = bool(request.get("WithDecryption"))
        out: list[dict[str, Any]] = []
        last: str | None = None
        more = False
        for row in ctx.tx.execute(query).mappings():
            if len(out) >= limit:
                more = True
                break
            last = row["name"]
            if not recursive and "/" in row["name"][len(prefix) :]:
                continue
            if not self._filters_match(ctx, row, filters):
                continue
            version = self._version(ctx, row["name"], row["version"])
            out.append(self._parameter(ctx, row, version, None, decrypt))
        response: dict[str, Any] = {"Parameters": out}
        if more and last is not None:
            response["NextToken"] = _token(last)
        return response

    @staticmethod
    def _check_filter_option(f: Mapping[str, Any]) -> None:
        option = f.get("Option")
        key = f["Key"]
        if option is None:
            return
        allowed: tuple[str, ...]
        if key == "Path":
            allowed = ("Recursive", "OneLevel")
        elif key == "Name":
            allowed = ("Equals", "BeginsWith", "Contains")
        elif key.startswith("tag:"):
            allowed = ("Equals",)
        else:
            allowed = ("Equals", "BeginsWith") if key in ("KeyId", "Label") else ("Equals",)
        if option not in allowed:
            raise ssm_error(
                "InvalidFilterOption",
                f"The filter option is not valid. Valid options are {', '.join(allowed)}.",
            )

    def _filters_match(
        self, ctx: RequestContext, row: Any, filters: Iterable[Mapping[str, Any]]
    ) -> bool:
        for f in filters:
            key, option = f["Key"], f.get("Option") or "Equals"
            values = f.get("Values") or []
            if key == "Label":
                labels = {
                    label
                    for v in self._versions(ctx.tx, ctx, row["name"])
                    for label in json.loads(v["labels"])
                }
                actual: list[str] = sorted(labels)
            elif key == "Path":
                continue  # applied by the caller
            elif key.startswith("tag:"):
                tags = json.loads(row["tags"] or "{}")
                tag = key[4:]
                if tag not in tags:
                    return False
                actual = [tags[tag]]
                if not values:
                    continue
            else:
                column = {
                    "Name": "name",
                    "Type": "type",
                    "KeyId": "key_id",
                    "Tier": "tier",
                    "DataType": "data_type",
                }[key]
                actual = [row[column] or ""]
            if not values:
                if key == "Label" and actual:
                    continue
                return False
            if option == "BeginsWith":
                hit = any(a.startswith(v) for a in actual for v in values)
            elif option == "Contains":
                hit = any(v in a for a in actual for v in values)
            else:
                hit = any(a == v for a in actual for v in values)
            if key == "Name" and option == "Equals" and not hit:
                hit = any(a == "/" + v.lstrip("/") or a == v for a in actual for v in values)
            if not hit:
                return False
        return True

    @operation("GetParameterHistory")
    def get_parameter_history(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row, arn = self._existing(ctx, request["Name"], "GetParameterHistory")
        limit = request.get("MaxResults") or 50
        start = int(_untoken(request.get("NextToken")) or 0)
        versions = self._versions(ctx.tx, ctx, row["name"])
        page = versions[start : start + limit]
        decrypt = bool(request.get("WithDecryption"))
        out = []
        for v in page:
            item: dict[str, Any] = {
                "Name": row["name"],
                "Type": v["type"],
                "LastModifiedDate": _utc(v["modified_at"]),
                "LastModifiedUser": v["modified_user"],
                "Value": self._value(ctx, arn, v, decrypt),
                "Version": v["version"],
                "Labels": json.loads(v["labels"]),
                "Tier": v["tier"],
                "Policies": rules.describe_policies(v["policies"], row, ctx.now),
                "DataType": v["data_type"],
            }
            if v["key_id"]:
                item["KeyId"] = v["key_id"]
            if v["description"]:
                item["Description"] = v["description"]
            if v["allowed_pattern"]:
                item["AllowedPattern"] = v["allowed_pattern"]
            out.append(item)
        response: dict[str, Any] = {"Parameters": out}
        if start + limit < len(versions):
            response["NextToken"] = _token(str(start + limit))
        return response

    # ============================================================== delete

    def _delete(self, conn: Connection, account: str, region: str, name: str) -> None:
        for table in (ssm_parameter_versions, ssm_parameters):
            conn.execute(
                delete(table).where(
                    table.c.account_id == account, table.c.region == region, table.c.name == name
                )
            )

    @operation("DeleteParameter")
    def delete_parameter(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        name = request["Name"].strip()
        row = self._row(ctx.tx, ctx, name)
        self._authorize(ctx, "DeleteParameter", self._arn(ctx, name), row)
        if row is None:
            raise not_found()
        self._delete(ctx.tx, ctx.account_id, ctx.region, name)
        self._emit_change(ctx, name, row["type"], "Delete", row["description"])
        return {}

    @operation("DeleteParameters")
    def delete_parameters(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        deleted, invalid = [], []
        for raw in dict.fromkeys(request["Names"]):
            name = raw.strip()
            row = self._row(ctx.tx, ctx, name)
            self._authorize(ctx, "DeleteParameters", self._arn(ctx, name), row)
            if row is None:
                invalid.append(raw)
                continue
            self._delete(ctx.tx, ctx.account_id, ctx.region, name)
            self._emit_change(ctx, name, row["type"], "Delete", row["description"])
            deleted.append(raw)
        return {"DeletedParameters": deleted, "InvalidParameters": invalid}

    # ============================================================== describe

    @operation("DescribeParameters")
    def describe_parameters(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        ctx.authorize("ssm:DescribeParameters", ["*"])
        old = request.get("Filters") or []
        new = request.get("ParameterFilters") or []
        if old and new:
            raise ValidationError(
                "You can use either Filters or ParameterFilters in a single request."
            )
        filters: list[dict[str, Any]] = []
        for f in old:
            if f["Key"] not in ("Name", "Type", "KeyId"):
                raise ssm_error(
                    "InvalidFilterKey", f"The following filter key is not valid: {f['Key']}"
                )
            filters.append({"Key": f["Key"], "Option": "Equals", "Values": f["Values"]})
        for f in new:
            key = f["Key"]
            if key not in _DESCRIBE_FILTERS and not key.startswith("tag:"):
                raise ssm_error(
                    "InvalidFilterKey",
                    f"The following filter key is not valid: {key}. Valid filter keys include:"
                    " [Path, Name, Type, KeyId, Tier, Label, DataType].",
                )
            self._check_filter_option(f)
            if key == "Path":
                for value in f.get("Values") or []:
                    if not value.startswith("/"):
                        raise ssm_error(
                            "InvalidFilterValue",
                            f"The parameter doesn't meet the parameter name requirements: {value}",
                        )
            if key not in ("Label",) and not key.startswith("tag:") and not f.get("Values"):
                raise ssm_error("InvalidFilterValue", f"The filter {key} needs values.")
            filters.append(dict(f))
        limit = request.get("MaxResults") or 50
        after = _untoken(request.get("NextToken"))
        query = select(ssm_parameters).where(
            ssm_parameters.c.account_id == ctx.account_id, ssm_parameters.c.region == ctx.region
        )
        for f in filters:
            if f["Key"] == "Path":
                clauses = []
                for value in f["Values"]:
                    prefix = value.rstrip("/") + "/"
                    clauses.append(ssm_parameters.c.name.startswith(prefix, autoescape=True))
                query = query.where(or_(*clauses))
        if after is not None:
            query = query.where(ssm_parameters.c.name > after)
        query = query.order_by(ssm_parameters.c.name)
        out: list[dict[str, Any]] = []
        last = None
        more = False
        for row in ctx.tx.execute(query).mappings():
            if len(out) >= limit:
                more = True
                break
            last = row["name"]
            if not self._path_match(row["name"], filters) or not self._filters_match(
                ctx, row, filters
            ):
                continue
            out.append(self._metadata(ctx, row))
        response: dict[str, Any] = {"Parameters": out}
        if more and last is not None:
            response["NextToken"] = _token(last)
        return response

    @staticmethod
    def _path_match(name: str, filters: list[dict[str, Any]]) -> bool:
        for f in filters:
            if f["Key"] != "Path" or (f.get("Option") or "OneLevel") != "OneLevel":
                continue
            if not any(
                "/" not in name[len(value.rstrip("/") + "/") :]
                for value in f["Values"]
                if name.startswith(value.rstrip("/") + "/")
            ):
                return False
        return True

    def _metadata(self, ctx: RequestContext, row: Any) -> dict[str, Any]:
        item: dict[str, Any] = {
            "Name": row["name"],
            "ARN": self._arn(ctx, row["name"]),
            "Type": row["type"],
            "LastModifiedDate": _utc(row["modified_at"]),
            "LastModifiedUser": row["modified_user"],
            "Version": row["version"],
            "Tier": row["tier"],
            "Policies": rules.describe_policies(row["policies"], row, ctx.now),
            "DataType": row["data_type"],
        }
        if row["key_id"]:
            item["KeyId"] = row["key_id"]
        if row["description"]:
            item["Description"] = row["description"]
        if row["allowed_pattern"]:
            item["AllowedPattern"] = row["allowed_pattern"]
        return item

    # ============================================================== labels

    @operation("LabelParameterVersion")
    def label_parameter_version(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        row, arn = self._existing(ctx, request["Name"], "LabelParameterVersion")
        name = row["name"]
        number = request.get("ParameterVersion") or row["version"]
        target = self._version(ctx, name, number)
        if target is None:
            raise ssm_error(
                "ParameterVersionNotFound",
                f"Systems Manager could not find version {number} of {name}. Verify the version"
                " and try again.",
            )
        invalid = [label for label in request["Labels"] if rules.label_problem(label)]
        good = [label for label in dict.fromkeys(request["Labels"]) if label not in invalid]
        current = json.loads(target["labels"])
        merged = current + [label for label in good if label not in current]
        if len(merged) > rules.MAX_LABELS_PER_VERSION:
            raise ssm_error(
                "ParameterVersionLabelLimitExceeded",
                "A parameter version can have maximum 10 labels.Move one or more labels to"
                " another version and try again.",
            )
        if good:
            for other in self._versions(ctx.tx, ctx, name):
                if other["version"] == number:
                    continue
                labels = json.loads(other["labels"])
                kept = [label for label in labels if label not in good]
                if kept != labels:
                    self._set_labels(ctx, name, other["version"], kept)
            self._set_labels(ctx, name, number, merged)
            events.emit(
                ctx.tx,
                account_id=ctx.account_id,
                region=ctx.region,
                source="aws.ssm",
                detail_type="Parameter Store Change",
                detail={
                    "operation": "LabelParameterVersion",
                    "name": name,
                    "type": row["type"],
                    "labels": good,
                    "version": number,
                },
                time=ctx.now,
                resources=[arn],
            )
        return {"InvalidLabels": invalid, "ParameterVersion": number}

    def _set_labels(self, ctx: RequestContext, name: str, version: int, labels: list[str]) -> None:
        ctx.tx.execute(
            update(ssm_parameter_versions)
            .where(
                ssm_parameter_versions.c.account_id == ctx.account_id,
                ssm_parameter_versions.c.region == ctx.region,
                ssm_parameter_versions.c.name == name,
                ssm_parameter_versions.c.version == version,
            )
            .values(labels=json.dumps(labels))
        )

    @operation("UnlabelParameterVersion")
    def unlabel_parameter_version(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        row, _ = self._existing(ctx, request["Name"], "UnlabelParameterVersion")
        number = request["ParameterVersion"]
        target = self._version(ctx, row["name"], number)
        if target is None:
            raise ssm_error(
                "ParameterVersionNotFound",
                f"Systems Manager could not find version {number} of {row['name']}. Verify the"
                " version and try again.",
            )
        current = json.loads(target["labels"])
        removed = [label for label in dict.fromkeys(request["Labels"]) if label in current]
        invalid = [label for label in request["Labels"] if label not in current]
        if removed:
            self._set_labels(ctx, row["name"], number, [lb for lb in current if lb not in removed])
        return {"RemovedLabels": removed, "InvalidLabels": invalid}

    # ============================================================== tags

    def _tag_target(self, ctx: RequestContext, request: dict[str, Any], action: str) -> Any:
        if request["ResourceType"] != "Parameter":
            ctx.authorize(f"ssm:{action}", ["*"])
            raise ssm_error(
                "InvalidResourceType",
                f"Bastion's Systems Manager serves tags on parameters only, not on"
                f" {request['ResourceType']}.",
            )
        return self._locate(ctx, request["ResourceId"])

    @operation("AddTagsToResource")
    def add_tags_to_resource(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        row, arn = self._tag_target(ctx, request, "AddTagsToResource")
        new = {t["Key"]: t["Value"] for t in request["Tags"]}
        conditions: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in new.items()}
        conditions["aws:TagKeys"] = list(new)
        if row is not None:
            conditions.update(self._tag_conditions(row["tags"]))
        ctx.authorize("ssm:AddTagsToResource", [arn], conditions)
        if row is None:
            raise ssm_error(
                "InvalidResourceId",
                INVALID_RESOURCE_ID,
            )
        tags = json.loads(row["tags"] or "{}")
        tags.update(new)
        if len(tags) > rules.MAX_TAGS:
            raise ssm_error("TooManyTagsError", "The Tags parameter contains more than 50 tags.")
        self._write_tags(ctx, row["name"], tags)
        return {}

    @operation("RemoveTagsFromResource")
    def remove_tags_from_resource(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        row, arn = self._tag_target(ctx, request, "RemoveTagsFromResource")
        conditions: dict[str, Any] = {"aws:TagKeys": list(request["TagKeys"])}
        if row is not None:
            conditions.update(self._tag_conditions(row["tags"]))
        ctx.authorize("ssm:RemoveTagsFromResource", [arn], conditions)
        if row is None:
            raise ssm_error(
                "InvalidResourceId",
                INVALID_RESOURCE_ID,
            )
        tags = json.loads(row["tags"] or "{}")
        for key in request["TagKeys"]:
            tags.pop(key, None)
        self._write_tags(ctx, row["name"], tags)
        return {}

    @operation("ListTagsForResource")
    def list_tags_for_resource(
        self, ctx: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        row, arn = self._tag_target(ctx, request, "ListTagsForResource")
        self._authorize(ctx, "ListTagsForResource", arn, row)
        if row is None:
            raise ssm_error(
                "InvalidResourceId",
                INVALID_RESOURCE_ID,
            )
        tags = json.loads(row["tags"] or "{}")
        return {"TagList": [{"Key": k, "Value": v} for k, v in tags.items()]}

    def _write_tags(self, ctx: RequestContext, name: str, tags: dict[str, str]) -> None:
        ctx.tx.execute(
            update(ssm_parameters)
            .where(
                ssm_parameters.c.account_id == ctx.account_id,
                ssm_parameters.c.region == ctx.region,
                ssm_parameters.c.name == name,
            )
            .values(tags=json.dumps(tags))
        )

    # ============================================================== policy jobs

    def run_policies(self, now: datetime) -> None:
        """Apply due parameter policies: expire parameters, emit notifications."""
        if self._store is None:
            return
        with self._store.write() as conn:
            due = (
                conn.execute(
                    select(ssm_parameters).where(
                        or_(
                            ssm_parameters.c.expires_at <= now,
                            ssm_parameters.c.expiry_notice_at <= now,
                            ssm_parameters.c.no_change_at <= now,
                        )
                    )
                )
                .mappings()
                .all()
            )
            for row in due:
                self._apply_policies(conn, row, now)
        if due:
            self._reads.invalidate()

    def _policy_event(
        self, conn: Connection, row: Any, kind: str, now: datetime, **extra: Any
    ) -> None:
        item = next((p for p in json.loads(row["policies"] or "[]") if p.get("Type") == kind), {})
        arn = parameter_arn(row["region"], row["account_id"], row["name"])
        detail = {
            "parameter-name": row["name"],
            "parameter-type": row["type"],
            "policy-type": kind,
            "policy-content": json.dumps(item, separators=(",", ":")),
            "action-status": "Finished",
            **extra,
        }
        events.emit(
            conn,
            account_id=row["account_id"],
            region=row["region"],
            source="aws.ssm",
            detail_type="Parameter Store Policy Action",
            detail=detail,
            time=now,
            resources=[arn],
        )

    def _apply_policies(self, conn: Connection, row: Any, now: datetime) -> None:
        key = and_(
            ssm_parameters.c.account_id == row["account_id"],
            ssm_parameters.c.region == row["region"],
            ssm_parameters.c.name == row["name"],
        )
        expires = _utc(row["expires_at"])
        if expires is not None and expires <= now:
            self._policy_event(
                conn, row, "Expiration", now, **{"action-reason": "The parameter has expired."}
            )
            self._delete(conn, row["account_id"], row["region"], row["name"])
            events.emit(
                conn,
                account_id=row["account_id"],
                region=row["region"],
                source="aws.ssm",
                detail_type="Parameter Store Change",
                detail={"operation": "Delete", "name": row["name"], "type": row["type"]},
                time=now,
                resources=[parameter_arn(row["region"], row["account_id"], row["name"])],
            )
            return
        notice = _utc(row["expiry_notice_at"])
        if notice is not None and notice <= now:
            self._policy_event(
                conn,
                row,
                "ExpirationNotification",
                now,
                **{"action-reason": f"The parameter expires at {_iso(expires)}."},
            )
            conn.execute(update(ssm_parameters).where(key).values(expiry_notice_at=None))
        no_change = _utc(row["no_change_at"])
        if no_change is not None and no_change <= now:
            self._policy_event(
                conn,
                row,
                "NoChangeNotification",
                now,
                **{"action-reason": "The parameter has not changed for the period set."},
            )
            conn.execute(update(ssm_parameters).where(key).values(no_change_at=None))
