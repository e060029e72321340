"""KMS part 2: real cryptography, checked with the `cryptography` package outside Bastion."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def unvalidated_client(server):
    """A client that sends what it is given, so the server's own validation answers."""
    import boto3
    import botocore.config

    key, secret = server.credentials
    return boto3.client(
        "kms",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=botocore.config.Config(parameter_validation=False, retries={"max_attempts": 1}),
    )


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def test_symmetric_round_trip_context_and_tampering(server):
    kms = server.client("kms")
    md = kms.create_key()["KeyMetadata"]
    context = {"Department": "10", "Purpose": "test"}
    out = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"secret data", EncryptionContext=context)
    assert out["KeyId"] == md["Arn"] and out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = out["CiphertextBlob"]
    assert b"secret data" not in blob and len(blob) < 6144
    plain = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    assert plain["Plaintext"] == b"secret data" and plain["KeyId"] == md["Arn"]
    # the context must match exactly (case-sensitive), and nothing else decrypts
    for wrong in ({}, {"Department": "10"}, {"department": "10", "Purpose": "test"}):
        with pytest.raises(ClientError) as exc:
            kms.decrypt(CiphertextBlob=blob, EncryptionContext=wrong)
        assert code(exc) == "InvalidCiphertextException"
        assert exc.value.response["Error"]["Message"] == ""
    for position in (0, 5, 30, 40, len(blob) - 1):
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        with pytest.raises(ClientError) as exc:
            kms.decrypt(CiphertextBlob=bytes(tampered), EncryptionContext=context)
        assert code(exc) in ("InvalidCiphertextException", "NotFoundException")
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=b"garbage" * 10)
    assert code(exc) == "InvalidCiphertextException"
    # KeyId on Decrypt must name the key that encrypted
    other = kms.create_key()["KeyMetadata"]
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext=context, KeyId=other["KeyId"])
    assert code(exc) == "IncorrectKeyException"
    assert (
        kms.decrypt(CiphertextBlob=blob, EncryptionContext=context, KeyId=md["Arn"])["Plaintext"]
        == b"secret data"
    )
    # 4096 bytes is the limit for symmetric plaintexts
    big = os.urandom(4096)
    assert (
        kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=md["KeyId"], Plaintext=big)["CiphertextBlob"])[
            "Plaintext"
        ]
        == big
    )
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=md["KeyId"], Plaintext=os.urandom(4097))
    assert code(exc) == "ValidationException"


def test_re_encrypt_between_keys(server):
    kms = server.client("kms")
    a = kms.create_key()["KeyMetadata"]
    b = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=a["KeyId"], Plaintext=b"move me", EncryptionContext={"k": "1"})[
        "CiphertextBlob"
    ]
    moved = kms.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext={"k": "1"},
        DestinationKeyId=b["KeyId"],
        DestinationEncryptionContext={"k": "2"},
    )
    assert moved["SourceKeyId"] == a["Arn"] and moved["KeyId"] == b["Arn"]
    out = kms.decrypt(CiphertextBlob=moved["CiphertextBlob"], EncryptionContext={"k": "2"})
    assert out["Plaintext"] == b"move me" and out["KeyId"] == b["Arn"]
    # into an RSA key and back out
    rsa_key = kms.create_key(KeySpec="RSA_2048")["KeyMetadata"]
    to_rsa = kms.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext={"k": "1"},
        DestinationKeyId=rsa_key["KeyId"],
        DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256",
    )
    assert (
        kms.decrypt(
            CiphertextBlob=to_rsa["CiphertextBlob"],
            KeyId=rsa_key["KeyId"],
            EncryptionAlgorithm="RSAES_OAEP_SHA_256",
        )["Plaintext"]
        == b"move me"
    )


def test_data_keys_decrypt_locally_encrypted_data(server):
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    data_key = kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext={"app": "x"})
    assert len(data_key["Plaintext"]) == 32
    nonce = os.urandom(12)
    sealed = AESGCM(data_key["Plaintext"]).encrypt(nonce, b"local payload", None)
    # later: only the encrypted data key is kept; KMS gives the key back
    recovered = kms.decrypt(
        CiphertextBlob=data_key["CiphertextBlob"], EncryptionContext={"app": "x"}
    )
    assert AESGCM(recovered["Plaintext"]).decrypt(nonce, sealed, None) == b"local payload"

    assert len(kms.generate_data_key(KeyId=key, KeySpec="AES_128")["Plaintext"]) == 16
    assert len(kms.generate_data_key(KeyId=key, NumberOfBytes=64)["Plaintext"]) == 64
    without = kms.generate_data_key_without_plaintext(KeyId=key, KeySpec="AES_256")
    assert "Plaintext" not in without
    assert len(kms.decrypt(CiphertextBlob=without["CiphertextBlob"])["Plaintext"]) == 32
    for bad in ({}, {"KeySpec": "AES_256", "NumberOfBytes": 32}):
        with pytest.raises(ClientError) as exc:
            kms.generate_data_key(KeyId=key, **bad)
        assert code(exc) == "ValidationException"


def test_data_key_pairs(server):
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    pair = kms.generate_data_key_pair(KeyId=key, KeyPairSpec="ECC_NIST_P256")
    private = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], None)
    public = serialization.load_der_public_key(pair["PublicKey"])
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    signature = private.sign(b"msg", ec.ECDSA(hashes.SHA256()))
    public.verify(signature, b"msg", ec.ECDSA(hashes.SHA256()))
    again = kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])["Plaintext"]
    assert again == pair["PrivateKeyPlaintext"]
    bare = kms.generate_data_key_pair_without_plaintext(KeyId=key, KeyPairSpec="RSA_2048")
    assert "PrivateKeyPlaintext" not in bare and bare["KeyPairSpec"] == "RSA_2048"
    rsa_private = serialization.load_der_private_key(
        kms.decrypt(CiphertextBlob=bare["PrivateKeyCiphertextBlob"])["Plaintext"], None
    )
    assert (
        rsa_private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == bare["PublicKey"]
    )


def test_rsa_encryption_limits(sqlite_server):
    kms = sqlite_server.client("kms")
    key = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    for algorithm, limit, hash_cls in (
        ("RSAES_OAEP_SHA_1", 214, hashes.SHA1),
        ("RSAES_OAEP_SHA_256", 190, hashes.SHA256),
    ):
        text = os.urandom(limit)
        blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=text, EncryptionAlgorithm=algorithm)
        out = kms.decrypt(
            CiphertextBlob=blob["CiphertextBlob"], KeyId=key["KeyId"], EncryptionAlgorithm=algorithm
        )
        assert out["Plaintext"] == text and out["EncryptionAlgorithm"] == algorithm
        # encrypted outside Bastion with the public key, decrypted by KMS
        local = public.encrypt(
            b"from outside",
            padding.OAEP(mgf=padding.MGF1(hash_cls()), algorithm=hash_cls(), label=None),
        )
        assert (
            kms.decrypt(CiphertextBlob=local, KeyId=key["Arn"], EncryptionAlgorithm=algorithm)[
                "Plaintext"
            ]
            == b"from outside"
        )
        with pytest.raises(ClientError) as exc:
            kms.encrypt(
                KeyId=key["KeyId"], Plaintext=os.urandom(limit + 1), EncryptionAlgorithm=algorithm
            )
        assert code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")  # SYMMETRIC_DEFAULT on an RSA key
    assert code(exc) == "InvalidKeyUsageException"
    with pytest.raises(ClientError) as exc:
        kms.decrypt(
            CiphertextBlob=os.urandom(256),
            KeyId=key["KeyId"],
            EncryptionAlgorithm="RSAES_OAEP_SHA_256",
        )
    assert code(exc) == "InvalidCiphertextException"


def _verify_outside(public, algorithm: str, message: bytes, signature: bytes, digest: bool) -> None:
    hash_cls = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}[algorithm[-3:]]
    data = utils.Prehashed(hash_cls()) if digest else hash_cls()
    if algorithm.startswith("ECDSA"):
        public.verify(signature, message, ec.ECDSA(data))
    elif algorithm.startswith("RSASSA_PSS"):
        # AWS KMS (and the Encryption SDK) use a salt as long as the digest
        pss = padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=hash_cls.digest_size)
        public.verify(signature, message, pss, data)
    else:
        public.verify(signature, message, padding.PKCS1v15(), data)


@pytest.mark.parametrize(
    ("spec", "algorithms"),
    [
        ("RSA_2048", ["RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_512", "RSASSA_PKCS1_V1_5_SHA_256",
                      "RSASSA_PKCS1_V1_5_SHA_384"]),
        ("ECC_NIST_P256", ["ECDSA_SHA_256"]),
        ("ECC_NIST_P384", ["ECDSA_SHA_384"]),
        ("ECC_NIST_P521", ["ECDSA_SHA_512"]),
        ("ECC_SECG_P256K1", ["ECDSA_SHA_256"]),
    ],
)  # fmt: skip
def test_sign_verifies_outside_bastion(sqlite_server, spec, algorithms):
    kms = sqlite_server.client("kms")
    key = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])
    message = b"the message to sign"
    for algorithm in algorithms:
        raw = kms.sign(KeyId=key, Message=message, MessageType="RAW", SigningAlgorithm=algorithm)
        assert raw["SigningAlgorithm"] == algorithm
        _verify_outside(public, algorithm, message, raw["Signature"], digest=False)
        digest = hashlib.new("sha" + algorithm[-3:], message).digest()
        signed = kms.sign(
            KeyId=key, Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm
        )
        _verify_outside(public, algorithm, digest, signed["Signature"], digest=True)
        _verify_outside(public, algorithm, message, signed["Signature"], digest=False)
        ok = kms.verify(
            KeyId=key, Message=message, Signature=raw["Signature"], SigningAlgorithm=algorithm
        )
        assert ok["SignatureValid"] is True
        with pytest.raises(ClientError) as exc:
            kms.verify(
                KeyId=key, Message=b"other", Signature=raw["Signature"], SigningAlgorithm=algorithm
            )
        assert code(exc) == "KMSInvalidSignatureException"
        with pytest.raises(InvalidSignature):
            _verify_outside(public, algorithm, b"other", raw["Signature"], digest=False)
        with pytest.raises(ClientError) as exc:
            kms.sign(KeyId=key, Message=b"short", MessageType="DIGEST", SigningAlgorithm=algorithm)
        assert code(exc) == "ValidationException"


def test_ed25519_signatures(sqlite_server):
    kms = sqlite_server.client("kms")
    key = kms.create_key(KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY")["KeyMetadata"][
        "KeyId"
    ]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])
    signature = kms.sign(KeyId=key, Message=b"m", SigningAlgorithm="ED25519_SHA_512")["Signature"]
    public.verify(signature, b"m")


def test_hmac(server):
    kms = server.client("kms")
    for spec, algorithm, digest in (
        ("HMAC_224", "HMAC_SHA_224", "sha224"),
        ("HMAC_256", "HMAC_SHA_256", "sha256"),
        ("HMAC_384", "HMAC_SHA_384", "sha384"),
        ("HMAC_512", "HMAC_SHA_512", "sha512"),
    ):
        key = kms.create_key(KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
        mac = kms.generate_mac(KeyId=key, Message=b"payload", MacAlgorithm=algorithm)["Mac"]
        assert len(mac) == hashlib.new(digest).digest_size
        ok = kms.verify_mac(KeyId=key, Message=b"payload", Mac=mac, MacAlgorithm=algorithm)
        assert ok["MacValid"] is True
        with pytest.raises(ClientError) as exc:
            kms.verify_mac(KeyId=key, Message=b"payloaD", Mac=mac, MacAlgorithm=algorithm)
        assert code(exc) == "KMSInvalidMacException"
        again = kms.generate_mac(KeyId=key, Message=b"payload", MacAlgorithm=algorithm)["Mac"]
        assert hmac.compare_digest(mac, again)


def test_imported_hmac_matches_local_hmac(server):
    """With known material, KMS's MAC equals one computed locally: the MAC is real."""
    from bastion.crypto.kms_keys import wrap_key_material

    kms = server.client("kms")
    key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC", Origin="EXTERNAL")[
        "KeyMetadata"
    ]["KeyId"]
    material = os.urandom(32)
    params = kms.get_parameters_for_import(
        KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    kms.import_key_material(
        KeyId=key,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap_key_material(params["PublicKey"], "RSAES_OAEP_SHA_256", material),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    mac = kms.generate_mac(KeyId=key, Message=b"data", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert mac == hmac.new(material, b"data", hashlib.sha256).digest()


def test_derive_shared_secret_matches_local_ecdh(sqlite_server):
    kms = sqlite_server.client("kms")
    key = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
    kms_public = serialization.load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])
    mine = ec.generate_private_key(ec.SECP384R1())
    mine_der = mine.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    out = kms.derive_shared_secret(KeyId=key, KeyAgreementAlgorithm="ECDH", PublicKey=mine_der)
    assert out["SharedSecret"] == mine.exchange(ec.ECDH(), kms_public)
    assert out["KeyOrigin"] == "AWS_KMS"
    other_curve = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ClientError) as exc:
        kms.derive_shared_secret(KeyId=key, KeyAgreementAlgorithm="ECDH", PublicKey=other_curve)
    assert code(exc) == "ValidationException"


def test_generate_random(server):
    kms = server.client("kms")
    first = kms.generate_random(NumberOfBytes=1024)["Plaintext"]
    assert len(first) == 1024 and first != kms.generate_random(NumberOfBytes=1024)["Plaintext"]
    assert len(kms.generate_random(NumberOfBytes=1)["Plaintext"]) == 1
    unchecked = unvalidated_client(server)
    for bad in (0, 1025):
        with pytest.raises(ClientError) as exc:
            unchecked.generate_random(NumberOfBytes=bad)
        assert code(exc) == "ValidationException"


def test_key_material_is_sealed_at_rest(sqlite_server):
    """The database holds key material only as barrier-sealed bytes."""
    from sqlalchemy import select

    from bastion.storage.kms_tables import kms_key_material

    kms = sqlite_server.client("kms")
    key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC", Origin="EXTERNAL")[
        "KeyMetadata"
    ]["KeyId"]
    material = os.urandom(32)
    from bastion.crypto.kms_keys import wrap_key_material

    params = kms.get_parameters_for_import(
        KeyId=key, WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256", WrappingKeySpec="RSA_3072"
    )
    kms.import_key_material(
        KeyId=key,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap_key_material(
            params["PublicKey"], "RSA_AES_KEY_WRAP_SHA_256", material
        ),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    with sqlite_server.runtime.store.read() as conn:
        sealed = conn.execute(select(kms_key_material.c.material_sealed)).scalars().all()
    assert sealed and all(material not in blob for blob in sealed)
    barrier = sqlite_server.runtime.barrier
    assert barrier.unseal(f"kms/us-east-1/{key}/material/1", sealed[0]) == material
