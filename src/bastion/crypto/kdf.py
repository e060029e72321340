"""Memory-hard key derivation (Argon2id) for passphrase seals and stored passwords."""

from __future__ import annotations

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

# OWASP's first Argon2id recommendation: m=47104 KiB (46 MiB), t=1, p=1. We use 64 MiB, t=3.
DEFAULT_MEMORY_KIB = 64 * 1024
DEFAULT_ITERATIONS = 3
DEFAULT_LANES = 1


def derive_key(
    secret: bytes,
    salt: bytes,
    *,
    length: int = 32,
    memory_kib: int = DEFAULT_MEMORY_KIB,
    iterations: int = DEFAULT_ITERATIONS,
    lanes: int = DEFAULT_LANES,
) -> bytes:
    kdf = Argon2id(
        salt=salt,
        length=length,
        iterations=iterations,
        lanes=lanes,
        memory_cost=memory_kib,
    )
    return kdf.derive(secret)
