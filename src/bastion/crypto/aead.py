"""AES-256-GCM with Bastion's framing: `version | term | nonce | ciphertext+tag`.

The framing names the key term that sealed a value, so a keyring can rotate while old
values stay readable; the caller's associated data binds a value to its place.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FRAME_VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32
_HEADER = struct.Struct(">BI")  # version, term


class AeadError(Exception):
    """A sealed value failed to open: wrong key, wrong associated data, or tampering."""


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Plain AES-256-GCM: `nonce | ciphertext+tag`."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < NONCE_BYTES + 16:
        raise AeadError("sealed value too short")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag as exc:
        raise AeadError("sealed value failed authentication") from exc


def seal_frame(key: bytes, term: int, plaintext: bytes, aad: bytes) -> bytes:
    header = _HEADER.pack(FRAME_VERSION, term)
    return header + encrypt(key, plaintext, header + aad)


def frame_term(frame: bytes) -> int:
    """The key term a framed value was sealed under."""
    if len(frame) < _HEADER.size:
        raise AeadError("sealed value too short")
    version, term = _HEADER.unpack_from(frame)
    if version != FRAME_VERSION:
        raise AeadError(f"unknown sealed value version {version}")
    return term


def open_frame(key: bytes, frame: bytes, aad: bytes) -> bytes:
    frame_term(frame)
    header = frame[: _HEADER.size]
    return decrypt(key, frame[_HEADER.size :], header + aad)
