"""Where the root key comes from: a key file, or a passphrase stretched with Argon2id.

A seal only produces the 32-byte root key; the barrier checks it against the stored
check value, so a wrong file or passphrase is refused before anything is read.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from bastion.config import Settings
from bastion.crypto import aead, kdf
from bastion.storage.files import write_private_file

MetaGetter = Callable[[str], bytes | None]
MetaSetter = Callable[[str, bytes], None]


class RootKeySeal(Protocol):
    kind: str

    def load(self, get_meta: MetaGetter) -> bytes:
        """The existing root key; raises BarrierError-worthy FileNotFoundError/ValueError."""
        ...

    def create(self, set_meta: MetaSetter) -> bytes:
        """Make a fresh root key (first initialisation)."""
        ...

    def stage_new(self, set_meta: MetaSetter) -> bytes:
        """Make the next root key for rotation, without retiring the current one yet."""
        ...

    def commit_new(self) -> None:
        """Make the staged key the current one (called after the database commits)."""
        ...


class KeyFileSeal:
    """A random 256-bit root key in a 0600 file (hex encoded)."""

    kind = "keyfile"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.staged_path = path.with_name(path.name + ".new")

    def _read(self, path: Path) -> bytes:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise ValueError(f"{path} is readable by other users (mode {mode:o}); chmod 600 it")
        key = bytes.fromhex(path.read_text().strip())
        if len(key) != aead.KEY_BYTES:
            raise ValueError(f"{path} does not hold a 256-bit key")
        return key

    def load(self, get_meta: MetaGetter) -> bytes:
        return self._read(self.path)

    def load_staged(self) -> bytes | None:
        """A key left by a rotation interrupted after its database commit."""
        try:
            return self._read(self.staged_path)
        except FileNotFoundError:
            return None

    def create(self, set_meta: MetaSetter) -> bytes:
        if self.path.exists():
            return self.load(lambda _name: None)
        key = aead.new_key()
        write_private_file(self.path, key.hex().encode() + b"\n")
        return key

    def stage_new(self, set_meta: MetaSetter) -> bytes:
        key = aead.new_key()
        write_private_file(self.staged_path, key.hex().encode() + b"\n")
        return key

    def commit_new(self) -> None:
        os.replace(self.staged_path, self.path)


class PassphraseSeal:
    """A root key derived from a passphrase with Argon2id; the salt lives in the database."""

    kind = "passphrase"

    def __init__(self, passphrase: str, new_passphrase: str = "") -> None:
        if not passphrase:
            raise ValueError("the passphrase seal needs a non-empty passphrase")
        self._passphrase = passphrase.encode()
        self._new_passphrase = new_passphrase.encode()

    def load(self, get_meta: MetaGetter) -> bytes:
        salt = get_meta("passphrase_salt")
        if salt is None:
            raise ValueError("no passphrase salt stored: the barrier was not sealed by passphrase")
        return kdf.derive_key(self._passphrase, salt)

    def create(self, set_meta: MetaSetter) -> bytes:
        salt = os.urandom(16)
        set_meta("passphrase_salt", salt)
        return kdf.derive_key(self._passphrase, salt)

    def stage_new(self, set_meta: MetaSetter) -> bytes:
        if not self._new_passphrase:
            raise ValueError("set BASTION_NEW_ROOT_PASSPHRASE to rotate a passphrase seal")
        salt = os.urandom(16)
        set_meta("passphrase_salt", salt)
        return kdf.derive_key(self._new_passphrase, salt)

    def commit_new(self) -> None:
        self._passphrase, self._new_passphrase = self._new_passphrase, b""


def seal_from_settings(settings: Settings, new_passphrase: str = "") -> RootKeySeal:
    if settings.root_passphrase:
        return PassphraseSeal(settings.root_passphrase, new_passphrase)
    return KeyFileSeal(settings.root_key_file)
