"""AWS-style identifiers, drawn from the OS's CSPRNG."""

from __future__ import annotations

import os
import random
import secrets
import time

_AKID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


# Request and event ids must be unique, not secret: a PRNG seeded from the OS avoids a
# getrandom() syscall per id (which also releases the GIL to the audit threads on the
# hot path). Anything that guards access (keys, tokens) uses `secrets` below.
_ids = random.Random(os.urandom(32))


# Version 4 and the RFC 4122 variant, set in one 128-bit draw.
_UUID4_BITS = (0x4 << 76) | (0x8 << 60)
_UUID4_MASK = ~((0xF << 76) | (0xC << 60)) & ((1 << 128) - 1)


def _uuid4_string() -> str:
    """A random (version 4, RFC 4122 variant) UUID string, without uuid.UUID's overhead."""
    h = f"{_ids.getrandbits(128) & _UUID4_MASK | _UUID4_BITS:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def request_id() -> str:
    return _uuid4_string()


# UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, the version, 74 random bits.
_RAND_A_SHIFT = 62
_RAND_B_MASK = (1 << 62) - 1
_UUID7_BITS = (0x7 << 76) | (0x2 << 62)


def event_id() -> str:
    """A CloudTrail eventID: a UUID, unique as AWS's are, and time-ordered (version 7).

    Every API call's record is inserted under a unique index on this id. Random (v4) ids
    land on a random page of that index each, so a batch of records dirties a page per
    record; time-ordered ids all land at the index's right edge.
    """
    rand = _ids.getrandbits(74)
    value = (
        (time.time_ns() // 1_000_000) << 80
        | _UUID7_BITS
        | (rand >> _RAND_A_SHIFT) << 64
        | rand & _RAND_B_MASK
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _reseed_after_fork() -> None:
    _ids.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed_after_fork)


def _upper_token(length: int) -> str:
    return "".join(secrets.choice(_AKID_ALPHABET) for _ in range(length))


def access_key_id(temporary: bool = False) -> str:
    """`AKIA...` for long-term keys, `ASIA...` for temporary ones, 20 characters as AWS's."""
    return ("ASIA" if temporary else "AKIA") + _upper_token(16)


def secret_access_key() -> str:
    """40 characters of base64 alphabet, like AWS's."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return "".join(secrets.choice(alphabet) for _ in range(40))


def unique_id(prefix: str) -> str:
    """IAM unique ids: `AIDA` users, `AROA` roles, `AGPA` groups, `ANPA` policies."""
    return prefix + _upper_token(17)


def session_token() -> str:
    return secrets.token_urlsafe(96)
