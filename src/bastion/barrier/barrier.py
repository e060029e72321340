"""The keyring and the seal/unseal operations every secret column goes through.

Layout in storage:
- `barrier_meta.root_check`: a known value encrypted under the root key, to refuse a
  wrong root key before anything else is read;
- `barrier_meta.seal_kind`: which seal made the root key;
- `keyring`: numbered data keys ("terms"), each wrapped by the root key. New values
  are sealed under the newest term; any term stays readable while it is in the ring.

A sealed value is `version | term | nonce | ciphertext | tag` (see `bastion.crypto.aead`)
with the value's identity (e.g. ``access_keys/AKIA.../secret``) as associated data, so a
sealed value copied into another row fails to open.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from bastion.barrier.seals import KeyFileSeal, RootKeySeal
from bastion.crypto import aead
from bastion.storage import Store
from bastion.storage.schema import barrier_meta, keyring

_ROOT_CHECK_PLAINTEXT = b"bastion root key check v1"
_ROOT_CHECK_AAD = b"bastion/root-check"


class BarrierError(Exception):
    """The barrier cannot open: wrong root key, missing key file, or a tampered keyring."""


def _term_aad(term: int) -> bytes:
    return f"bastion/keyring/term/{term}".encode()


def _get_meta(conn: Connection, name: str) -> bytes | None:
    return conn.execute(select(barrier_meta.c.value).where(barrier_meta.c.name == name)).scalar()


def _set_meta(conn: Connection, name: str, value: bytes) -> None:
    if _get_meta(conn, name) is None:
        conn.execute(barrier_meta.insert().values(name=name, value=value))
    else:
        conn.execute(barrier_meta.update().where(barrier_meta.c.name == name).values(value=value))


class Barrier:
    """Opened once at start-up; thread-safe afterwards."""

    def __init__(self, store: Store, seal: RootKeySeal) -> None:
        self._store = store
        self._seal = seal
        self._terms: dict[int, bytes] = {}
        self._active_term = 0
        self._lock = threading.Lock()

    @property
    def active_term(self) -> int:
        return self._active_term

    @property
    def terms(self) -> tuple[int, ...]:
        return tuple(sorted(self._terms))

    def open(self) -> bool:
        """Open the barrier, initialising it on first use. Returns True when it was created."""
        with self._store.write() as conn:
            kind = _get_meta(conn, "seal_kind")
            if kind is None:
                root = self._seal.create(lambda n, v: _set_meta(conn, n, v))
                _set_meta(conn, "seal_kind", self._seal.kind.encode())
                _set_meta(
                    conn, "root_check", aead.encrypt(root, _ROOT_CHECK_PLAINTEXT, _ROOT_CHECK_AAD)
                )
                self._add_term(conn, root, 1)
                self._load_terms(conn, root)
                return True
            if kind.decode() != self._seal.kind:
                raise BarrierError(
                    f"the data was sealed with a {kind.decode()} seal, not {self._seal.kind}"
                    " (set or unset BASTION_ROOT_PASSPHRASE accordingly)"
                )
            root = self._load_root(conn)
            self._load_terms(conn, root)
            return False

    def _load_root(self, conn: Connection) -> bytes:
        check = _get_meta(conn, "root_check")
        if check is None:
            raise BarrierError("the barrier's root check value is missing")
        candidates: list[bytes] = []
        try:
            candidates.append(self._seal.load(lambda n: _get_meta(conn, n)))
        except FileNotFoundError as exc:
            raise BarrierError(f"root key file not found: {exc.filename}") from exc
        except ValueError as exc:
            raise BarrierError(str(exc)) from exc
        staged = self._seal.load_staged() if isinstance(self._seal, KeyFileSeal) else None
        if staged is not None:
            candidates.append(staged)
        for position, root in enumerate(candidates):
            try:
                aead.decrypt(root, check, _ROOT_CHECK_AAD)
            except aead.AeadError:
                continue
            if position == 1:  # a rotation committed in the database but not on disk
                self._seal.commit_new()
            return root
        raise BarrierError("the root key does not open this barrier (wrong key or passphrase)")

    def _load_terms(self, conn: Connection, root: bytes) -> None:
        terms: dict[int, bytes] = {}
        for term, wrapped in conn.execute(select(keyring.c.term, keyring.c.wrapped_key)):
            try:
                terms[term] = aead.decrypt(root, wrapped, _term_aad(term))
            except aead.AeadError as exc:
                raise BarrierError(f"keyring term {term} does not open: tampered?") from exc
        if not terms:
            raise BarrierError("the keyring is empty")
        with self._lock:
            self._terms = terms
            self._active_term = max(terms)

    @staticmethod
    def _add_term(conn: Connection, root: bytes, term: int) -> bytes:
        key = aead.new_key()
        conn.execute(
            keyring.insert().values(
                term=term,
                wrapped_key=aead.encrypt(root, key, _term_aad(term)),
                created_at=datetime.now(UTC),
            )
        )
        return key

    def seal(self, identity: str, plaintext: bytes) -> bytes:
        term = self._active_term
        if not term:
            raise BarrierError("the barrier is not open")
        return aead.seal_frame(self._terms[term], term, plaintext, identity.encode())

    def unseal(self, identity: str, sealed: bytes) -> bytes:
        term = aead.frame_term(sealed)
        key = self._terms.get(term)
        if key is None:
            raise BarrierError(f"sealed under unknown keyring term {term}")
        return aead.open_frame(key, sealed, identity.encode())

    def rotate_root_key(self) -> int:
        """Re-wrap every keyring term under a new root key and start a new term.

        The new key is staged first (a `.new` key file, or the new passphrase's salt
        inside the same transaction), the database re-wrap commits, and only then does
        the staged key replace the old one; a crash in between is finished at next open.
        Returns the new active term.
        """
        with self._store.write() as conn:
            root = self._load_root(conn)
            self._load_terms(conn, root)
            new_root = self._seal.stage_new(lambda n, v: _set_meta(conn, n, v))
            for term, key in self._terms.items():
                conn.execute(
                    keyring.update()
                    .where(keyring.c.term == term)
                    .values(wrapped_key=aead.encrypt(new_root, key, _term_aad(term)))
                )
            _set_meta(
                conn, "root_check", aead.encrypt(new_root, _ROOT_CHECK_PLAINTEXT, _ROOT_CHECK_AAD)
            )
            new_term = max(self._terms) + 1
            self._add_term(conn, new_root, new_term)
        self._seal.commit_new()
        with self._store.read() as conn:
            self._load_terms(conn, new_root)
        return self._active_term
