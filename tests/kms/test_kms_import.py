"""KMS part 7: imported key material (BYOK), wrapped with the client-side `cryptography` package."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


@pytest.fixture
def tick(server, clock, monkeypatch):
    """Move time forward: the server's clock, the client's signing clock, then due jobs."""
    import botocore.auth
    import botocore.compat

    offset = [timedelta(0)]
    real = botocore.compat.get_current_datetime

    def shifted(*args, **kwargs):
        return real(*args, **kwargs) + offset[0]

    monkeypatch.setattr(botocore.auth, "get_current_datetime", shifted)

    def advance(days: float) -> None:
        clock.advance(timedelta(days=days))
        offset[0] += timedelta(days=days)
        server.runtime.scheduler.run_due(clock.now())

    return advance


def wrap(public_der: bytes, algorithm: str, material: bytes) -> bytes:
    """What a customer does with openssl or the AWS docs' recipe, done here independently."""
    public = serialization.load_der_public_key(public_der)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    if algorithm == "RSAES_OAEP_SHA_256":
        return public.encrypt(material, oaep)
    assert algorithm == "RSA_AES_KEY_WRAP_SHA_256"
    aes = os.urandom(32)
    return public.encrypt(aes, oaep) + aes_key_wrap_with_padding(aes, material)


def test_import_symmetric_material_with_expiry(server, clock, tick):
    kms = server.client("kms")
    md = kms.create_key(Origin="EXTERNAL", Description="byok")["KeyMetadata"]
    key = md["KeyId"]
    assert md["KeyState"] == "PendingImport"
    params = kms.get_parameters_for_import(
        KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    assert params["KeyId"] == md["Arn"]
    assert timedelta(hours=23) < params["ParametersValidTo"] - clock.now() <= timedelta(hours=24)
    wrapping = serialization.load_der_public_key(params["PublicKey"])
    assert wrapping.key_size == 2048

    material = os.urandom(32)
    valid_to = clock.now() + timedelta(days=10)
    out = kms.import_key_material(
        KeyId=key,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", material),
        ExpirationModel="KEY_MATERIAL_EXPIRES",
        ValidTo=valid_to,
    )
    assert out["KeyId"] == md["Arn"] and len(out["KeyMaterialId"]) == 64
    described = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert described["KeyState"] == "Enabled"
    assert described["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert abs((described["ValidTo"] - valid_to).total_seconds()) < 1
    blob = kms.encrypt(KeyId=key, Plaintext=b"byok data")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"byok data"
    # the blob really is AES-256-GCM under the imported material
    aad = blob[:34] + b"\x00\x00\x00\x00"
    assert AESGCM(material).decrypt(blob[22:34], blob[34:], aad) == b"byok data"

    # imported keys are not rotated automatically
    with pytest.raises(ClientError) as exc:
        kms.enable_key_rotation(KeyId=key)
    assert code(exc) == "UnsupportedOperationException"

    # expiry: the scheduler deletes the material, the key goes back to PendingImport
    tick(10.001)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingImport"
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob)
    assert code(exc) == "KMSInvalidStateException"

    # only the same material may come back; then old ciphertexts decrypt again
    params = kms.get_parameters_for_import(
        KeyId=key, WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256", WrappingKeySpec="RSA_4096"
    )
    with pytest.raises(ClientError) as exc:
        kms.import_key_material(
            KeyId=key,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=wrap(
                params["PublicKey"], "RSA_AES_KEY_WRAP_SHA_256", os.urandom(32)
            ),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )
    assert code(exc) == "IncorrectKeyMaterialException"
    kms.import_key_material(
        KeyId=key,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], "RSA_AES_KEY_WRAP_SHA_256", material),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"byok data"
    assert "ValidTo" not in kms.describe_key(KeyId=key)["KeyMetadata"]

    # DeleteImportedKeyMaterial: PendingImport at once
    deleted = kms.delete_imported_key_material(KeyId=key)
    assert deleted["KeyId"] == md["Arn"]
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingImport"
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key, Plaintext=b"x")
    assert code(exc) == "KMSInvalidStateException"


def test_import_errors(server, clock, tick):
    kms = server.client("kms")
    native = kms.create_key()["KeyMetadata"]["KeyId"]
    for call in (
        lambda: kms.get_parameters_for_import(
            KeyId=native, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
        ),
        lambda: kms.delete_imported_key_material(KeyId=native),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == "UnsupportedOperationException"
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    other = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = kms.get_parameters_for_import(
        KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    good = wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", os.urandom(32))
    with pytest.raises(ClientError) as exc:  # KEY_MATERIAL_EXPIRES needs ValidTo
        kms.import_key_material(
            KeyId=key, ImportToken=params["ImportToken"], EncryptedKeyMaterial=good
        )
    assert code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:  # at most 365 days
        kms.import_key_material(
            KeyId=key,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=good,
            ValidTo=clock.now() + timedelta(days=400),
        )
    assert code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:  # the token belongs to another key
        kms.import_key_material(
            KeyId=other,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=good,
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )
    assert code(exc) == "InvalidImportTokenException"
    with pytest.raises(ClientError) as exc:  # not wrapped with this wrapping key
        kms.import_key_material(
            KeyId=key,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=os.urandom(256),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )
    assert code(exc) == "InvalidCiphertextException"
    with pytest.raises(ClientError) as exc:  # 128-bit material for a 256-bit key
        kms.import_key_material(
            KeyId=key,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=wrap(params["PublicKey"], "RSAES_OAEP_SHA_256", os.urandom(16)),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )
    assert code(exc) == "IncorrectKeyMaterialException"
    tick(25 / 24)
    with pytest.raises(ClientError) as exc:
        kms.import_key_material(
            KeyId=key,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=good,
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )
    assert code(exc) == "ExpiredImportTokenException"


def test_import_asymmetric_signing_key(sqlite_server):
    """An ECC private key made outside KMS signs inside it; its public key verifies."""
    kms = sqlite_server.client("kms")
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", Origin="EXTERNAL")[
        "KeyMetadata"
    ]["KeyId"]
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    params = kms.get_parameters_for_import(
        KeyId=key, WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256", WrappingKeySpec="RSA_3072"
    )
    kms.import_key_material(
        KeyId=key,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], "RSA_AES_KEY_WRAP_SHA_256", der),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    public_der = kms.get_public_key(KeyId=key)["PublicKey"]
    assert public_der == private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signature = kms.sign(KeyId=key, Message=b"imported", SigningAlgorithm="ECDSA_SHA_256")[
        "Signature"
    ]
    private.public_key().verify(signature, b"imported", ec.ECDSA(hashes.SHA256()))
