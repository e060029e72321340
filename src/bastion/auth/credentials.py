"""Access keys: their principals and (sealed) secrets, with a small read-through cache.

SigV4 needs the plaintext secret to recompute a signature, so secrets are sealed by the
barrier, not hashed. Unsealed secrets live only in this process's memory, for at most
`ttl` seconds, so a key deactivated on another node stops working within that time
(on this node at once: writes call `invalidate`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import Connection, select, update

from bastion.barrier import Barrier
from bastion.clock import Clock, as_utc
from bastion.context import Principal
from bastion.storage import Store
from bastion.storage.iam_tables import sts_sessions
from bastion.storage.schema import access_keys, iam_users


@dataclass(frozen=True, slots=True)
class Credential:
    """A resolved access key. `secret` is plaintext and must never be logged."""

    access_key_id: str
    secret: str
    principal: Principal
    active: bool
    session_token_sha256: str | None = None  # temporary credentials only
    expires: datetime | None = None
    verify_signature: bool = True  # False only for --dev mode's unregistered keys

    def __repr__(self) -> str:  # keep the secret out of any traceback or log
        return f"Credential({self.access_key_id!r}, active={self.active})"


def secret_identity(access_key_id: str) -> str:
    """The barrier identity (associated data) of an access key's secret."""
    return f"access_keys/{access_key_id}/secret"


def session_secret_identity(access_key_id: str) -> str:
    """The barrier identity of a temporary credential's secret."""
    return f"sts_sessions/{access_key_id}/secret"


def user_principal(row: dict[str, object], access_key_id: str) -> Principal:
    return Principal(
        account_id=str(row["account_id"]),
        arn=str(row["arn"]),
        user_id=str(row["user_id"]),
        kind="IAMUser",
        name=str(row["user_name"]),
        access_key_id=access_key_id,
        is_admin=bool(row["is_admin"]),
        tags=orjson.loads(str(row.get("tags") or "{}")),
    )


class CredentialStore:
    """Resolves access key ids to credentials, caching unsealed secrets briefly."""

    def __init__(self, store: Store, barrier: Barrier, clock: Clock, ttl: float = 2.0) -> None:
        self._store = store
        self._barrier = barrier
        self._clock = clock
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Credential | None]] = {}
        self._lock = threading.Lock()
        self._usage: dict[str, tuple[datetime, str, str]] = {}

    def cached(self, access_key_id: str) -> tuple[bool, Credential | None]:
        """(hit, credential) from memory only: lets the event loop skip a thread hop."""
        entry = self._cache.get(access_key_id)
        if entry is None or entry[0] < self._clock.monotonic():
            return False, None
        return True, entry[1]

    def resolve(self, access_key_id: str) -> Credential | None:
        """The credential for `access_key_id`, or None when no such key exists. Blocking."""
        hit, credential = self.cached(access_key_id)
        if hit:
            return credential
        with self._store.read() as conn:
            credential = self._load(conn, access_key_id)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[access_key_id] = (self._clock.monotonic() + self._ttl, credential)
        return credential

    def note_use(self, access_key_id: str, when: datetime, service: str, region: str) -> None:
        """Remember a key's latest use; `flush_usage` writes it (AWS: within hours)."""
        self._usage[access_key_id] = (when, service, region)

    def flush_usage(self, _now: datetime | None = None) -> int:
        """Write remembered last-used data of long-term keys to storage."""
        with self._lock:
            usage, self._usage = self._usage, {}
        rows = [(k, v) for k, v in usage.items() if not k.startswith("ASIA")]
        if not rows:
            return 0
        with self._store.write() as conn:
            for akid, (when, service, region) in rows:
                conn.execute(
                    update(access_keys)
                    .where(access_keys.c.access_key_id == akid)
                    .values(last_used_at=when, last_used_service=service, last_used_region=region)
                )
        return len(rows)

    def invalidate(self, access_key_id: str | None = None) -> None:
        with self._lock:
            if access_key_id is None:
                self._cache.clear()
            else:
                self._cache.pop(access_key_id, None)

    def _load(self, conn: Connection, access_key_id: str) -> Credential | None:
        if access_key_id.startswith("ASIA"):
            return self._load_session(conn, access_key_id)
        row = (
            conn.execute(
                select(
                    access_keys,
                    iam_users.c.arn,
                    iam_users.c.user_id,
                    iam_users.c.is_admin,
                    iam_users.c.tags,
                )
                .join(
                    iam_users,
                    (iam_users.c.account_id == access_keys.c.account_id)
                    & (iam_users.c.user_name == access_keys.c.user_name),
                )
                .where(access_keys.c.access_key_id == access_key_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        secret = self._barrier.unseal(secret_identity(access_key_id), row["secret_sealed"])
        return Credential(
            access_key_id=access_key_id,
            secret=secret.decode(),
            principal=user_principal(dict(row), access_key_id),
            active=row["status"] == "Active",
        )

    def _load_session(self, conn: Connection, access_key_id: str) -> Credential | None:
        row = (
            conn.execute(select(sts_sessions).where(sts_sessions.c.access_key_id == access_key_id))
            .mappings()
            .first()
        )
        if row is None:
            return None
        secret = self._barrier.unseal(session_secret_identity(access_key_id), row["secret_sealed"])
        expires = as_utc(row["expires_at"])
        policies = orjson.loads(row["session_policy"]) if row["session_policy"] else None
        principal = Principal(
            account_id=row["account_id"],
            arn=row["principal_arn"],
            user_id=row["principal_id"],
            kind=row["kind"],
            name=row["session_name"] if row["kind"] != "IAMUser" else row["source_name"],
            access_key_id=access_key_id,
            session_expires=expires,
            tags=orjson.loads(row["tags"] or "{}"),
            source_arn=row["source_arn"],
            source_id=row["principal_id"].split(":", 1)[0],
            source_name=row["source_name"],
            session_policies=tuple(policies) if policies is not None else None,
            session_issued=as_utc(row["created_at"]),
            mfa=bool(row["mfa"]),
        )
        return Credential(
            access_key_id=access_key_id,
            secret=secret.decode(),
            principal=principal,
            active=True,
            session_token_sha256=row["token_sha256"],
            expires=expires,
        )
