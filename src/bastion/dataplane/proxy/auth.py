"""Proxy-Authorization: Basic against proxy users (Argon2id) or, optionally, IAM keys.

Argon2id costs tens of milliseconds and 64 MiB by design, so a verified header is
remembered in memory, keyed by a SHA-256 of the header (never the password itself), until
the user table changes or `ttl` passes. Wrong headers are remembered briefly too, and at
most `max_parallel` hashes run at once, so a flood of bad passwords cannot exhaust
memory or the thread pool.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bastion.crypto.kdf import DEFAULT_ITERATIONS, DEFAULT_LANES, DEFAULT_MEMORY_KIB, derive_key

SCHEME = "argon2id"


def hash_password(
    password: str, *, memory_kib: int | None = None, iterations: int | None = None
) -> str:
    m = memory_kib or DEFAULT_MEMORY_KIB
    t = iterations or DEFAULT_ITERATIONS
    salt = os.urandom(16)
    digest = derive_key(password.encode(), salt, memory_kib=m, iterations=t, lanes=DEFAULT_LANES)
    b64 = base64.b64encode
    return f"{SCHEME}$m={m},t={t},p={DEFAULT_LANES}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, params, salt_b64, digest_b64 = encoded.split("$")
        if scheme != SCHEME:
            return False
        p = dict(item.split("=") for item in params.split(","))
        salt = base64.b64decode(salt_b64)
        expected = base64.b64decode(digest_b64)
        actual = derive_key(
            password.encode(),
            salt,
            length=len(expected),
            memory_kib=int(p["m"]),
            iterations=int(p["t"]),
            lanes=int(p["p"]),
        )
    except (ValueError, KeyError, binascii.Error):
        return False
    return hmac.compare_digest(actual, expected)


def parse_basic(header: bytes) -> tuple[str, str] | None:
    """(user, password) from a `Basic` Proxy-Authorization value, or None."""
    scheme, _, token = header.strip().partition(b" ")
    if scheme.lower() != b"basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return None
    return user, password


class IamKeys(Protocol):
    """What the proxy needs of `bastion.auth.credentials.CredentialStore`."""

    def resolve(self, access_key_id: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class Identity:
    user: str  # the proxy user name, or the IAM user's name for an access key
    kind: str = "proxy"  # proxy | iam
    arn: str = ""


class ProxyAuthenticator:
    def __init__(
        self,
        users: dict[str, tuple[str, bool]] | None = None,
        *,
        monotonic: Callable[[], float],
        iam: IamKeys | None = None,
        ttl: float = 300.0,
        negative_ttl: float = 5.0,
        max_parallel: int = 2,
        max_entries: int = 10_000,
    ) -> None:
        self._users = users or {}
        self._monotonic = monotonic
        self._iam = iam
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._max_entries = max_entries
        self._cache: dict[bytes, tuple[float, Identity | None]] = {}
        self._limit = asyncio.Semaphore(max_parallel)

    def set_users(self, users: dict[str, tuple[str, bool]]) -> None:
        """Swap the user table (a reload); every remembered verification is forgotten."""
        self._users = users
        self._cache = {}

    def cached(self, header: bytes) -> tuple[bool, Identity | None]:
        """(known, identity) from memory only: the per-request fast path."""
        entry = self._cache.get(hashlib.sha256(header).digest())
        if entry is None:
            return False, None
        if entry[0] < self._monotonic():
            return False, None
        return True, entry[1]

    async def verify(self, header: bytes) -> Identity | None:
        known, identity = self.cached(header)
        if known:
            return identity
        parsed = parse_basic(header)
        identity = None
        if parsed is not None:
            async with self._limit:
                identity = await asyncio.get_running_loop().run_in_executor(
                    None, self._check, parsed[0], parsed[1]
                )
        self._remember(header, identity)
        return identity

    def _remember(self, header: bytes, identity: Identity | None) -> None:
        if len(self._cache) >= self._max_entries:
            self._cache = {}
        ttl = self._ttl if identity is not None else self._negative_ttl
        # Keyed by a hash of the header, so the cache holds no password.
        self._cache[hashlib.sha256(header).digest()] = (self._monotonic() + ttl, identity)

    def _check(self, user: str, password: str) -> Identity | None:
        record = self._users.get(user)
        if record is not None:
            encoded, enabled = record
            if enabled and verify_password(password, encoded):
                return Identity(user)
            return None
        if self._iam is not None and user[:4] in ("AKIA", "ASIA") and len(user) >= 16:
            credential = self._iam.resolve(user)
            if credential is None or not getattr(credential, "active", False):
                return None
            if hmac.compare_digest(credential.secret.encode(), password.encode()):
                principal = credential.principal
                return Identity(principal.name, "iam", principal.arn)
        return None
