"""KMS keys as records, how requests name them, and the in-memory caches in front of storage.

Hot paths (Encrypt, Decrypt, GenerateDataKey) must not unseal or even query per call, so
three caches sit in front of the database:
- `MetadataCache`: key records, alias targets and grant lists, cleared on every KMS
  mutation committed by this node and expired after a short TTL (other nodes' changes
  show up within it, as AWS's own eventual consistency for key state and grants);
- `MaterialCache`: parsed key material per (key, material version), bounded LRU,
  dropped for a key when it is disabled, deleted, rotated or (re-)imported.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from bastion.arn import make_arn
from bastion.crypto import kms_keys as kc

AWS_MANAGED_PREFIX = "alias/aws/"


@dataclass(frozen=True, slots=True)
class Key:
    region: str
    key_id: str
    account_id: str
    arn: str
    key_spec: str
    key_usage: str
    origin: str
    key_manager: str
    description: str
    state: str
    multi_region: bool
    policy: str
    tags: Mapping[str, str]
    current_version: int
    created_at: datetime
    deletion_date: datetime | None
    pending_window_days: int | None
    rotation_enabled: bool
    rotation_period_days: int | None
    next_rotation_at: datetime | None
    on_demand_rotations: int
    expiration_model: str | None
    valid_to: datetime | None
    material_fingerprint: str | None
    # condition keys every authorization on this key carries (computed once)
    base_conditions: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Key:
        values = {name: row[name] for name in _ROW_FIELDS}
        values["tags"] = orjson.loads(row["tags"] or "{}")
        values["multi_region"] = bool(row["multi_region"])
        values["rotation_enabled"] = bool(row["rotation_enabled"])
        key = cls(**values)
        object.__setattr__(
            key,
            "base_conditions",
            {
                "kms:KeySpec": key.key_spec,
                "kms:KeyUsage": key.key_usage,
                "kms:KeyOrigin": key.origin,
                "kms:MultiRegion": key.multi_region,
                **({"kms:MultiRegionKeyType": "PRIMARY"} if key.multi_region else {}),
            },
        )
        return key

    @property
    def symmetric(self) -> bool:
        return self.key_spec == kc.SYMMETRIC

    @property
    def aws_managed(self) -> bool:
        return self.key_manager == "AWS"


_ROW_FIELDS = tuple(f for f in Key.__dataclass_fields__ if f != "base_conditions")


@dataclass(frozen=True, slots=True)
class Grant:
    grant_id: str
    region: str
    key_id: str
    account_id: str
    name: str | None
    grantee_principal: str
    retiring_principal: str | None
    issuing_account: str
    operations: tuple[str, ...]
    constraints: Mapping[str, Mapping[str, str]] | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Grant:
        return cls(
            grant_id=row["grant_id"],
            region=row["region"],
            key_id=row["key_id"],
            account_id=row["account_id"],
            name=row["name"],
            grantee_principal=row["grantee_principal"],
            retiring_principal=row["retiring_principal"],
            issuing_account=row["issuing_account"],
            operations=tuple(orjson.loads(row["operations"])),
            constraints=orjson.loads(row["constraints"]) if row["constraints"] else None,
            created_at=row["created_at"],
        )


# ------------------------------------------------------------------- key references


@dataclass(frozen=True, slots=True)
class KeyRef:
    """What a request's KeyId names: a key (by id) or an alias, in one account and Region."""

    account_id: str
    region: str
    key_id: str = ""
    alias: str = ""  # "alias/name"

    @property
    def arn(self) -> str:
        if self.alias:
            return make_arn("kms", self.region, self.account_id, self.alias)
        return key_arn(self.region, self.account_id, self.key_id)


def key_arn(region: str, account_id: str, key_id: str) -> str:
    return f"arn:aws:kms:{region}:{account_id}:key/{key_id}"


def alias_arn(region: str, account_id: str, alias: str) -> str:
    return f"arn:aws:kms:{region}:{account_id}:{alias}"


def is_key_id(text: str) -> bool:
    if text.startswith("mrk-"):
        body = text[4:]
        return len(body) == 32 and all(c in "0123456789abcdef" for c in body)
    if len(text) != 36:
        return False
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def new_key_id(multi_region: bool) -> str:
    return "mrk-" + uuid.uuid4().hex if multi_region else str(uuid.uuid4())


# --------------------------------------------------------------------------- caches


class MetadataCache:
    """Key records, alias targets and grants; cleared on mutation, expired after `ttl`."""

    def __init__(self, ttl: float = 2.0) -> None:
        self._ttl = ttl
        self._lock = threading.Lock()
        self._generation = 0
        self._entries: dict[Hashable, tuple[float, Any]] = {}

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, key: Hashable) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: Hashable, value: Any, generation: int) -> None:
        """Store `value` read at `generation`, unless a mutation happened since."""
        with self._lock:
            if generation != self._generation:
                return
            if len(self._entries) > 50_000:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self._ttl, value)

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()


class MaterialCache:
    """Parsed key material by (region, key id, material version): bounded LRU."""

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, str, int], kc.KeyHandle] = OrderedDict()

    def get(self, region: str, key_id: str, version: int) -> kc.KeyHandle | None:
        item = self._items.get((region, key_id, version))
        if item is not None:
            with self._lock:
                if (region, key_id, version) in self._items:
                    self._items.move_to_end((region, key_id, version))
        return item

    def put(self, region: str, key_id: str, version: int, handle: kc.KeyHandle) -> None:
        with self._lock:
            self._items[(region, key_id, version)] = handle
            self._items.move_to_end((region, key_id, version))
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)

    def drop_key(self, region: str, key_id: str) -> None:
        with self._lock:
            for item in [k for k in self._items if k[0] == region and k[1] == key_id]:
                del self._items[item]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
