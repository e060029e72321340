"""KMS key specs and their cryptography: the only KMS code that touches `cryptography.hazmat`.

- key generation per `KeySpec` (material is bytes: raw AES/HMAC keys, PKCS#8 DER for
  asymmetric keys), public keys as DER SubjectPublicKeyInfo;
- the symmetric ciphertext blob, AES-256-GCM, self-describing:

      version (1) | flags (1) | key id (16) | material version (4) | nonce (12) | ciphertext+tag

  The header names the key and the key-material version (so Decrypt needs no KeyId and
  old ciphertexts decrypt after rotation) and is authenticated together with the
  canonical encryption context: changing a header byte or the context fails the tag.
- RSAES-OAEP (SHA-1 / SHA-256, MGF1 with the same hash, empty label), RSASSA-PSS (salt as
  long as the digest) and PKCS#1 v1.5 signatures, ECDSA (DER signatures), Ed25519, ECDH
  (the shared secret is the raw x-coordinate), HMAC;
- key import: RSA wrapping keys and the unwrapping algorithms of GetParametersForImport.

Handles (`load_key`) hold parsed key objects so callers can cache them: parsing an RSA
private key costs far more than using it.
"""

from __future__ import annotations

import hashlib
import hmac as std_hmac
import os
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hmac import HMAC
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap_with_padding,
    aes_key_wrap_with_padding,
)


class KmsCryptoError(Exception):
    """A cryptographic input is invalid (bad ciphertext, wrong key, bad encoding)."""


class InvalidBlobError(KmsCryptoError):
    """The ciphertext blob is not one of ours, or it fails authentication."""


class MaterialError(KmsCryptoError):
    """Key material (imported or parsed) does not fit the key spec."""


# --------------------------------------------------------------------------- key specs

SYMMETRIC = "SYMMETRIC_DEFAULT"
RSA_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
ECC_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}
ED25519 = "ECC_NIST_EDWARDS25519"
HMAC_SPECS = {"HMAC_224": 28, "HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64}
HMAC_ALGORITHMS = {
    "HMAC_224": "HMAC_SHA_224",
    "HMAC_256": "HMAC_SHA_256",
    "HMAC_384": "HMAC_SHA_384",
    "HMAC_512": "HMAC_SHA_512",
}
_HMAC_HASH = {
    "HMAC_SHA_224": hashes.SHA224,
    "HMAC_SHA_256": hashes.SHA256,
    "HMAC_SHA_384": hashes.SHA384,
    "HMAC_SHA_512": hashes.SHA512,
}
RSA_ENCRYPTION = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256")
RSA_SIGNING = (
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
)
ECDSA_FOR_CURVE = {
    "ECC_NIST_P256": "ECDSA_SHA_256",
    "ECC_NIST_P384": "ECDSA_SHA_384",
    "ECC_NIST_P521": "ECDSA_SHA_512",
    "ECC_SECG_P256K1": "ECDSA_SHA_256",
}
_SIGN_HASH = {
    "RSASSA_PSS_SHA_256": hashes.SHA256,
    "RSASSA_PSS_SHA_384": hashes.SHA384,
    "RSASSA_PSS_SHA_512": hashes.SHA512,
    "RSASSA_PKCS1_V1_5_SHA_256": hashes.SHA256,
    "RSASSA_PKCS1_V1_5_SHA_384": hashes.SHA384,
    "RSASSA_PKCS1_V1_5_SHA_512": hashes.SHA512,
    "ECDSA_SHA_256": hashes.SHA256,
    "ECDSA_SHA_384": hashes.SHA384,
    "ECDSA_SHA_512": hashes.SHA512,
}
_OAEP_HASH = {"RSAES_OAEP_SHA_1": hashes.SHA1, "RSAES_OAEP_SHA_256": hashes.SHA256}

# KeySpec -> {KeyUsage: algorithms}
USAGES: dict[str, dict[str, tuple[str, ...]]] = {
    SYMMETRIC: {"ENCRYPT_DECRYPT": ("SYMMETRIC_DEFAULT",)},
    **{spec: {"ENCRYPT_DECRYPT": RSA_ENCRYPTION, "SIGN_VERIFY": RSA_SIGNING} for spec in RSA_BITS},
    **{
        spec: {"SIGN_VERIFY": (alg,), "KEY_AGREEMENT": ("ECDH",)}
        for spec, alg in ECDSA_FOR_CURVE.items()
        if spec != "ECC_SECG_P256K1"
    },
    "ECC_SECG_P256K1": {"SIGN_VERIFY": ("ECDSA_SHA_256",)},
    ED25519: {"SIGN_VERIFY": ("ED25519_SHA_512",)},
    **{spec: {"GENERATE_VERIFY_MAC": (alg,)} for spec, alg in HMAC_ALGORITHMS.items()},
}

SUPPORTED_SPECS = tuple(USAGES)
DATA_KEY_PAIR_SPECS = (*RSA_BITS, *ECC_CURVES, ED25519)


def is_asymmetric(spec: str) -> bool:
    return spec in RSA_BITS or spec in ECC_CURVES or spec == ED25519


def digest_size(algorithm: str) -> int:
    return _SIGN_HASH[algorithm].digest_size


def rsa_max_plaintext(spec: str, algorithm: str) -> int:
    """RSAES-OAEP's limit: k - 2*hLen - 2 bytes."""
    return RSA_BITS[spec] // 8 - 2 * _OAEP_HASH[algorithm].digest_size - 2


# ------------------------------------------------------------------------ generation


def generate_material(spec: str) -> bytes:
    """Fresh key material for `spec`: raw bytes (AES, HMAC) or PKCS#8 DER (asymmetric)."""
    if spec == SYMMETRIC:
        return os.urandom(32)
    if spec in HMAC_SPECS:
        return os.urandom(HMAC_SPECS[spec])
    return _private_der(_generate_private(spec))


def _generate_private(
    spec: str,
) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey:
    if spec in RSA_BITS:
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS[spec])
    if spec in ECC_CURVES:
        return ec.generate_private_key(ECC_CURVES[spec]())
    if spec == ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    raise MaterialError(f"unsupported key spec {spec}")


def _private_der(key: object) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public_der(public: object) -> bytes:
    return public.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def generate_key_pair(spec: str) -> tuple[bytes, bytes]:
    """A data key pair: (PKCS#8 DER private key, DER SubjectPublicKeyInfo)."""
    private = _generate_private(spec)
    return _private_der(private), _public_der(private.public_key())


def material_fingerprint(key_id: str, material: bytes) -> str:
    """Identifies imported material (only the same material may be re-imported)."""
    return hashlib.sha256(b"bastion/kms/material/" + key_id.encode() + b"/" + material).hexdigest()


# --------------------------------------------------------------- encryption context


def canonical_context(context: Mapping[str, str] | None) -> bytes:
    """The encryption context as associated data: sorted pairs, length-prefixed UTF-8."""
    if not context:
        return b"\x00\x00\x00\x00"
    parts = [struct.pack(">I", len(context))]
    for key in sorted(context):
        k, v = key.encode(), str(context[key]).encode()
        parts.append(struct.pack(">I", len(k)) + k + struct.pack(">I", len(v)) + v)
    return b"".join(parts)


# -------------------------------------------------------------------- ciphertext blob

BLOB_VERSION = 1
_FLAG_MRK = 0x01
_HEADER = struct.Struct(">BB16sI12s")
HEADER_BYTES = _HEADER.size
TAG_BYTES = 16


@dataclass(frozen=True, slots=True)
class BlobHeader:
    key_id: str
    material_version: int


def _key_id_bytes(key_id: str) -> tuple[int, bytes]:
    if key_id.startswith("mrk-"):
        return _FLAG_MRK, bytes.fromhex(key_id[4:])
    return 0, uuid.UUID(key_id).bytes


def parse_blob(blob: bytes) -> BlobHeader:
    """Which key and material version made a symmetric ciphertext blob."""
    if len(blob) < HEADER_BYTES + TAG_BYTES:
        raise InvalidBlobError("ciphertext too short")
    version, flags, raw_id, material_version, _nonce = _HEADER.unpack_from(blob)
    if version != BLOB_VERSION or flags & ~_FLAG_MRK:
        raise InvalidBlobError("unknown ciphertext format")
    h = raw_id.hex()
    key_id = (
        "mrk-" + h if flags & _FLAG_MRK else f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    )
    return BlobHeader(key_id, material_version)


# ---------------------------------------------------------------------------- handles


class KeyHandle:
    """Parsed key material of one key-material version; safe to share across threads."""

    spec: str = ""


class SymmetricKey(KeyHandle):
    spec = SYMMETRIC

    def __init__(self, material: bytes) -> None:
        if len(material) != 32:
            raise MaterialError("symmetric key material must be 256 bits")
        self._aead = AESGCM(material)

    def encrypt(
        self,
        key_id: str,
        material_version: int,
        plaintext: bytes,
        context: Mapping[str, str] | None,
    ) -> bytes:
        flags, raw_id = _key_id_bytes(key_id)
        header = _HEADER.pack(BLOB_VERSION, flags, raw_id, material_version, os.urandom(12))
        return header + self._aead.encrypt(
            header[-12:], plaintext, header + canonical_context(context)
        )

    def decrypt(self, blob: bytes, context: Mapping[str, str] | None) -> bytes:
        header = blob[:HEADER_BYTES]
        try:
            return self._aead.decrypt(
                header[-12:], blob[HEADER_BYTES:], header + canonical_context(context)
            )
        except InvalidTag as exc:
            raise InvalidBlobError("ciphertext failed authentication") from exc


class HmacKey(KeyHandle):
    def __init__(self, spec: str, material: bytes) -> None:
        if not 1 <= len(material) <= 256:
            raise MaterialError("HMAC key material has an invalid length")
        self.spec = spec
        self.algorithm = HMAC_ALGORITHMS[spec]
        self._material = material

    def mac(self, message: bytes) -> bytes:
        h = HMAC(self._material, _HMAC_HASH[self.algorithm]())
        h.update(message)
        return h.finalize()

    def verify(self, message: bytes, mac: bytes) -> bool:
        return std_hmac.compare_digest(self.mac(message), mac)


class AsymmetricKey(KeyHandle):
    def __init__(self, spec: str, material: bytes) -> None:
        self.spec = spec
        try:
            private = serialization.load_der_private_key(material, password=None)
        except (ValueError, TypeError) as exc:
            raise MaterialError("key material is not a PKCS#8 private key") from exc
        if spec in RSA_BITS:
            if not isinstance(private, rsa.RSAPrivateKey) or private.key_size != RSA_BITS[spec]:
                raise MaterialError(f"key material is not an {spec} key")
        elif spec in ECC_CURVES:
            if not isinstance(private, ec.EllipticCurvePrivateKey) or not isinstance(
                private.curve, ECC_CURVES[spec]
            ):
                raise MaterialError(f"key material is not an {spec} key")
        elif spec == ED25519:
            if not isinstance(private, ed25519.Ed25519PrivateKey):
                raise MaterialError(f"key material is not an {spec} key")
        else:
            raise MaterialError(f"unsupported key spec {spec}")
        self._private = private
        self._public = private.public_key()
        self.public_der = _public_der(self._public)

    # --- RSA encryption

    def encrypt(self, plaintext: bytes, algorithm: str) -> bytes:
        return self._public.encrypt(plaintext, _oaep(algorithm))  # type: ignore[union-attr]

    def decrypt(self, ciphertext: bytes, algorithm: str) -> bytes:
        try:
            return self._private.decrypt(ciphertext, _oaep(algorithm))  # type: ignore[union-attr]
        except ValueError as exc:
            raise InvalidBlobError("RSA decryption failed") from exc

    # --- signatures

    def sign(self, message: bytes, algorithm: str, digest: bool) -> bytes:
        if algorithm == "ED25519_SHA_512":
            return self._private.sign(message)  # type: ignore[call-arg,union-attr]
        hash_alg = _SIGN_HASH[algorithm]()
        data_alg: hashes.HashAlgorithm | utils.Prehashed = (
            utils.Prehashed(hash_alg) if digest else hash_alg
        )
        if algorithm.startswith("ECDSA"):
            return self._private.sign(message, ec.ECDSA(data_alg))  # type: ignore[call-arg,union-attr,arg-type]
        return self._private.sign(message, _rsa_sig_padding(algorithm), data_alg)  # type: ignore[call-arg,union-attr,arg-type]

    def verify(self, message: bytes, signature: bytes, algorithm: str, digest: bool) -> bool:
        try:
            if algorithm == "ED25519_SHA_512":
                self._public.verify(signature, message)  # type: ignore[call-arg,union-attr]
                return True
            hash_alg = _SIGN_HASH[algorithm]()
            data_alg: hashes.HashAlgorithm | utils.Prehashed = (
                utils.Prehashed(hash_alg) if digest else hash_alg
            )
            if algorithm.startswith("ECDSA"):
                self._public.verify(signature, message, ec.ECDSA(data_alg))  # type: ignore[call-arg,union-attr,arg-type]
            else:
                self._public.verify(signature, message, _rsa_sig_padding(algorithm), data_alg)  # type: ignore[call-arg,union-attr,arg-type]
        except (InvalidSignature, ValueError):
            return False
        return True

    # --- key agreement

    def derive_shared_secret(self, peer_public_der: bytes) -> bytes:
        try:
            peer = serialization.load_der_public_key(peer_public_der)
        except (ValueError, TypeError) as exc:
            raise KmsCryptoError("the public key is not a DER SubjectPublicKeyInfo") from exc
        if not isinstance(peer, ec.EllipticCurvePublicKey) or not isinstance(
            peer.curve,
            type(self._private.curve),  # type: ignore[union-attr]
        ):
            raise KmsCryptoError("the public key is not on the key's curve")
        return self._private.exchange(ec.ECDH(), peer)  # type: ignore[union-attr,call-arg]


def _oaep(algorithm: str) -> padding.OAEP:
    h = _OAEP_HASH[algorithm]
    return padding.OAEP(mgf=padding.MGF1(h()), algorithm=h(), label=None)


def _rsa_sig_padding(algorithm: str) -> padding.AsymmetricPadding:
    if algorithm.startswith("RSASSA_PSS"):
        h = _SIGN_HASH[algorithm]
        return padding.PSS(mgf=padding.MGF1(h()), salt_length=h.digest_size)
    return padding.PKCS1v15()


def load_key(spec: str, material: bytes) -> KeyHandle:
    """Parse material of `spec` into a handle (raises MaterialError when it does not fit)."""
    if spec == SYMMETRIC:
        return SymmetricKey(material)
    if spec in HMAC_SPECS:
        return HmacKey(spec, material)
    return AsymmetricKey(spec, material)


def check_material(spec: str, material: bytes) -> None:
    """Validate imported material against the key spec."""
    if spec == SYMMETRIC and len(material) != 32:
        raise MaterialError("symmetric key material must be 256 bits")
    if spec in HMAC_SPECS:
        low = {"HMAC_224": 28, "HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64}[spec]
        if not low <= len(material) <= 64 * (2 if spec in ("HMAC_384", "HMAC_512") else 1):
            raise MaterialError(f"HMAC key material of {len(material)} bytes does not fit {spec}")
    load_key(spec, material)


# ----------------------------------------------------------------------- key import

WRAPPING_ALGORITHMS = (
    "RSAES_OAEP_SHA_1",
    "RSAES_OAEP_SHA_256",
    "RSA_AES_KEY_WRAP_SHA_1",
    "RSA_AES_KEY_WRAP_SHA_256",
    "RSAES_PKCS1_V1_5",
)


def generate_wrapping_key(spec: str) -> tuple[bytes, bytes]:
    """An RSA wrapping key pair for GetParametersForImport: (private DER, public DER)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS[spec])
    return _private_der(private), _public_der(private.public_key())


def unwrap_key_material(private_der: bytes, algorithm: str, wrapped: bytes) -> bytes:
    """Open EncryptedKeyMaterial with the wrapping key (raises KmsCryptoError)."""
    private = serialization.load_der_private_key(private_der, password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    try:
        if algorithm in ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"):
            return private.decrypt(wrapped, _oaep(algorithm))
        if algorithm == "RSAES_PKCS1_V1_5":
            return private.decrypt(wrapped, padding.PKCS1v15())
        if algorithm in ("RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"):
            size = private.key_size // 8
            oaep = "RSAES_OAEP_SHA_1" if algorithm.endswith("SHA_1") else "RSAES_OAEP_SHA_256"
            aes_key = private.decrypt(wrapped[:size], _oaep(oaep))
            return aes_key_unwrap_with_padding(aes_key, wrapped[size:])
    except (ValueError, InvalidUnwrap) as exc:
        raise KmsCryptoError("the key material could not be unwrapped") from exc
    raise KmsCryptoError(f"unsupported wrapping algorithm {algorithm}")


def wrap_key_material(public_der: bytes, algorithm: str, material: bytes) -> bytes:
    """What a client does before ImportKeyMaterial (used by tests and tooling)."""
    public = serialization.load_der_public_key(public_der)
    assert isinstance(public, rsa.RSAPublicKey)
    if algorithm in ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"):
        return public.encrypt(material, _oaep(algorithm))
    if algorithm == "RSAES_PKCS1_V1_5":
        return public.encrypt(material, padding.PKCS1v15())
    oaep = "RSAES_OAEP_SHA_1" if algorithm.endswith("SHA_1") else "RSAES_OAEP_SHA_256"
    aes_key = os.urandom(32)
    return public.encrypt(aes_key, _oaep(oaep)) + aes_key_wrap_with_padding(aes_key, material)
