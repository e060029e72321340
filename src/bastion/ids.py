"""AWS-style identifiers, drawn from the OS's CSPRNG."""

from __future__ import annotations

import secrets
import uuid

_AKID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def request_id() -> str:
    return str(uuid.uuid4())


def event_id() -> str:
    return str(uuid.uuid4())


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
