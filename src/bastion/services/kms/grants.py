"""Grants: who they name, what they allow, and the grant tokens that make them usable at once."""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable, Mapping, Sequence

from bastion.context import Principal
from bastion.crypto import kms_keys as kc
from bastion.services.kms.errors import kms_error, validation
from bastion.services.kms.keys import Grant, Key

_TOKEN_PREFIX = b"BGT1"
_ASSUMED_ROLE = re.compile(r"^arn:aws:sts::(\d{12}):assumed-role/([^/]+)/")
_ROLE = re.compile(r"^arn:aws:iam::(\d{12}):role/(?:.*/)?([^/]+)$")

# Operations that take an encryption context (the only ones constraints restrict).
CONTEXT_OPERATIONS = frozenset(
    {
        "Decrypt",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "ReEncryptFrom",
        "ReEncryptTo",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
    }
)
_COMMON = frozenset({"CreateGrant", "RetireGrant", "DescribeKey"})
_BY_USAGE: dict[str, frozenset[str]] = {
    "SYMMETRIC": _COMMON | CONTEXT_OPERATIONS,
    "ENCRYPT_DECRYPT": _COMMON
    | {"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"},
    "SIGN_VERIFY": _COMMON | {"Sign", "Verify", "GetPublicKey"},
    "GENERATE_VERIFY_MAC": _COMMON | {"GenerateMac", "VerifyMac"},
    "KEY_AGREEMENT": _COMMON | {"DeriveSharedSecret", "GetPublicKey"},
}


def new_grant_id() -> str:
    return os.urandom(32).hex()


def make_token(grant_id: str) -> str:
    """An opaque, non-secret token naming the grant; every call returns a new one."""
    return base64.b64encode(_TOKEN_PREFIX + bytes.fromhex(grant_id) + os.urandom(24)).decode()


def token_grant_id(token: str) -> str:
    """The grant a token names (InvalidGrantTokenException when it is not a token)."""
    try:
        raw = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != len(_TOKEN_PREFIX) + 56 or not raw.startswith(_TOKEN_PREFIX):
        raise kms_error("InvalidGrantTokenException", "Invalid grant token")
    return raw[len(_TOKEN_PREFIX) : len(_TOKEN_PREFIX) + 32].hex()


def check_tokens(tokens: Sequence[str] | None) -> None:
    for token in tokens or ():
        token_grant_id(token)


def allowed_operations(key: Key) -> frozenset[str]:
    return _BY_USAGE["SYMMETRIC" if key.key_spec == kc.SYMMETRIC else key.key_usage]


def validate_operations(key: Key, operations: Iterable[str], constraints: Mapping | None) -> None:
    allowed = allowed_operations(key)
    bad = [op for op in operations if op not in allowed]
    if bad:
        raise validation(
            f"Grant operations {sorted(bad)} are not valid for a KMS key with KeySpec "
            f"{key.key_spec} and KeyUsage {key.key_usage}."
        )
    if constraints and not key.symmetric:
        raise validation("Grant constraints are supported only for symmetric encryption KMS keys.")


def principal_matches(grantee: str, principal: Principal) -> bool:
    """Does the grant's grantee (or retiring) principal name the caller?"""
    if grantee == principal.arn:
        return True
    assumed = _ASSUMED_ROLE.match(principal.arn)
    if assumed:
        role = _ROLE.match(grantee)
        return bool(role) and role.groups() == assumed.groups()
    return False


def constraints_allow(
    constraints: Mapping[str, Mapping[str, str]] | None, context: Mapping[str, str] | None
) -> bool:
    if not constraints:
        return True
    context = context or {}
    equals = constraints.get("EncryptionContextEquals")
    if equals is not None and dict(equals) != dict(context):
        return False
    subset = constraints.get("EncryptionContextSubset")
    return not (subset and any(context.get(k) != v for k, v in subset.items()))


def find_grant(
    grants: Iterable[Grant],
    principal: Principal,
    operation: str,
    context: Mapping[str, str] | None,
) -> Grant | None:
    """The first grant letting `principal` perform `operation` with this context."""
    for grant in grants:
        if operation not in grant.operations:
            continue
        if not principal_matches(grant.grantee_principal, principal):
            continue
        if operation in CONTEXT_OPERATIONS and not constraints_allow(grant.constraints, context):
            continue
        return grant
    return None


def at_least_as_strict(
    child: Mapping[str, Mapping[str, str]] | None, parent: Mapping[str, Mapping[str, str]] | None
) -> bool:
    """A grant made through a CreateGrant grant may not loosen the parent's constraints."""
    if not parent:
        return True
    if not child:
        return False
    if parent.get("EncryptionContextEquals") is not None:
        return dict(child.get("EncryptionContextEquals") or {}) == dict(
            parent["EncryptionContextEquals"]
        )
    need = parent.get("EncryptionContextSubset") or {}
    have = dict(child.get("EncryptionContextEquals") or child.get("EncryptionContextSubset") or {})
    return all(have.get(k) == v for k, v in need.items())
