"""KMS part 1: keys of every spec, their metadata, states and the errors AWS answers."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

SPECS = [
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "EncryptionAlgorithms", ["SYMMETRIC_DEFAULT"]),
    (
        "RSA_2048",
        "ENCRYPT_DECRYPT",
        "EncryptionAlgorithms",
        ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"],
    ),
    ("RSA_3072", "SIGN_VERIFY", "SigningAlgorithms", None),
    ("RSA_4096", "ENCRYPT_DECRYPT", "EncryptionAlgorithms", None),
    ("ECC_NIST_P256", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_256"]),
    ("ECC_NIST_P384", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_384"]),
    ("ECC_NIST_P521", "KEY_AGREEMENT", "KeyAgreementAlgorithms", ["ECDH"]),
    ("ECC_SECG_P256K1", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_256"]),
    ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", "SigningAlgorithms", ["ED25519_SHA_512"]),
    ("HMAC_224", "GENERATE_VERIFY_MAC", "MacAlgorithms", ["HMAC_SHA_224"]),
    ("HMAC_512", "GENERATE_VERIFY_MAC", "MacAlgorithms", ["HMAC_SHA_512"]),
]


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def message(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Message"]


def test_create_every_key_spec(sqlite_server):
    kms = sqlite_server.client("kms")
    for spec, usage, field, algorithms in SPECS:
        md = kms.create_key(KeySpec=spec, KeyUsage=usage, Description=spec)["KeyMetadata"]
        assert md["KeySpec"] == spec and md["CustomerMasterKeySpec"] == spec
        assert md["KeyUsage"] == usage
        assert md["KeyState"] == "Enabled" and md["Enabled"] is True
        assert md["Origin"] == "AWS_KMS" and md["KeyManager"] == "CUSTOMER"
        assert md["Arn"] == f"arn:aws:kms:us-east-1:000000000000:key/{md['KeyId']}"
        assert field in md
        if algorithms:
            assert md[field] == algorithms
        described = kms.describe_key(KeyId=md["Arn"])["KeyMetadata"]
        assert described["KeySpec"] == spec and described["Description"] == spec
        if spec != "SYMMETRIC_DEFAULT" and not spec.startswith("HMAC"):
            public = kms.get_public_key(KeyId=md["KeyId"])
            assert public["KeySpec"] == spec and public["KeyUsage"] == usage
            loaded = serialization.load_der_public_key(public["PublicKey"])
            if spec.startswith("RSA"):
                assert isinstance(loaded, rsa.RSAPublicKey)
                assert loaded.key_size == int(spec.split("_")[1])
            elif spec == "ECC_NIST_EDWARDS25519":
                assert isinstance(loaded, ed25519.Ed25519PublicKey)
            else:
                assert isinstance(loaded, ec.EllipticCurvePublicKey)
    rsa_sign = [m for m in kms.list_keys()["Keys"]]
    assert len(rsa_sign) == len(SPECS)


def test_rsa_signing_algorithms_and_incompatible_usages(sqlite_server):
    kms = sqlite_server.client("kms")
    md = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert set(md["SigningAlgorithms"]) == {
        "RSASSA_PSS_SHA_256",
        "RSASSA_PSS_SHA_384",
        "RSASSA_PSS_SHA_512",
        "RSASSA_PKCS1_V1_5_SHA_256",
        "RSASSA_PKCS1_V1_5_SHA_384",
        "RSASSA_PKCS1_V1_5_SHA_512",
    }
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec="ECC_NIST_P256")  # default usage ENCRYPT_DECRYPT
    assert code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec="ECC_SECG_P256K1", KeyUsage="KEY_AGREEMENT")
    assert code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec="HMAC_256", KeyUsage="ENCRYPT_DECRYPT")
    assert code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        kms.get_public_key(KeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    assert code(exc) == "UnsupportedOperationException"


def test_describe_list_enable_disable_description_tags(server):
    kms = server.client("kms")
    ids = [kms.create_key(Description=f"k{i}")["KeyMetadata"]["KeyId"] for i in range(3)]
    listed = kms.list_keys()["Keys"]
    assert {k["KeyId"] for k in listed} == set(ids)
    assert all(k["KeyArn"].endswith(k["KeyId"]) for k in listed)
    page = kms.list_keys(Limit=2)
    assert page["Truncated"] is True and len(page["Keys"]) == 2
    rest = kms.list_keys(Limit=2, Marker=page["NextMarker"])
    assert rest["Truncated"] is False and len(rest["Keys"]) == 1
    paginated = [
        k
        for p in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 1})
        for k in p["Keys"]
    ]
    assert len(paginated) == 3

    key = ids[0]
    kms.disable_key(KeyId=key)
    md = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert md["KeyState"] == "Disabled" and md["Enabled"] is False
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key, Plaintext=b"x")
    assert code(exc) == "DisabledException"
    assert message(exc) == f"{md['Arn']} is disabled."
    kms.enable_key(KeyId=key)
    assert kms.encrypt(KeyId=key, Plaintext=b"x")["KeyId"] == md["Arn"]

    kms.update_key_description(KeyId=key, Description="new words")
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["Description"] == "new words"

    kms.tag_resource(
        KeyId=key, Tags=[{"TagKey": "team", "TagValue": "a"}, {"TagKey": "env", "TagValue": "p"}]
    )
    kms.tag_resource(KeyId=key, Tags=[{"TagKey": "team", "TagValue": "b"}])
    tags = kms.list_resource_tags(KeyId=key)["Tags"]
    assert tags == [{"TagKey": "env", "TagValue": "p"}, {"TagKey": "team", "TagValue": "b"}]
    kms.untag_resource(KeyId=key, TagKeys=["env"])
    assert kms.list_resource_tags(KeyId=key)["Tags"] == [{"TagKey": "team", "TagValue": "b"}]
    with pytest.raises(ClientError) as exc:
        kms.tag_resource(KeyId=key, Tags=[{"TagKey": "aws:x", "TagValue": "1"}])
    assert code(exc) == "TagException"
    tagged = kms.create_key(Tags=[{"TagKey": "a", "TagValue": "1"}])["KeyMetadata"]["KeyId"]
    assert kms.list_resource_tags(KeyId=tagged)["Tags"] == [{"TagKey": "a", "TagValue": "1"}]


def test_not_found_and_invalid_ids(server):
    kms = server.client("kms")
    missing = "11111111-2222-3333-4444-555555555555"
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=missing)
    assert code(exc) == "NotFoundException"
    assert message(exc) == f"Key 'arn:aws:kms:us-east-1:000000000000:key/{missing}' does not exist"
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId="alias/nothing", Plaintext=b"x")
    assert code(exc) == "NotFoundException"
    assert message(exc).endswith("alias/nothing is not found.")
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId="not-a-key")
    assert code(exc) == "NotFoundException"
    with pytest.raises(ClientError) as exc:
        kms.enable_key(KeyId="alias/x")  # management calls take key ids, not aliases
    assert code(exc) == "NotFoundException"


def test_key_states_and_usage_errors(server):
    kms = server.client("kms")
    sym = kms.create_key()["KeyMetadata"]
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    mac = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]

    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=signing["KeyId"], Plaintext=b"x")
    assert code(exc) == "InvalidKeyUsageException"
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=sym["KeyId"], Message=b"x", SigningAlgorithm="ECDSA_SHA_256")
    assert code(exc) == "InvalidKeyUsageException"
    with pytest.raises(ClientError) as exc:
        kms.generate_mac(KeyId=mac["KeyId"], Message=b"x", MacAlgorithm="HMAC_SHA_512")
    assert code(exc) == "InvalidKeyUsageException"
    with pytest.raises(ClientError) as exc:
        kms.generate_data_key(KeyId=signing["KeyId"], KeySpec="AES_256")
    assert code(exc) == "InvalidKeyUsageException"

    blob = kms.encrypt(KeyId=sym["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=sym["KeyId"], PendingWindowInDays=7)
    for call in (
        lambda: kms.encrypt(KeyId=sym["KeyId"], Plaintext=b"x"),
        lambda: kms.decrypt(CiphertextBlob=blob),
        lambda: kms.enable_key(KeyId=sym["KeyId"]),
        lambda: kms.update_key_description(KeyId=sym["KeyId"], Description="d"),
        lambda: kms.create_alias(AliasName="alias/pending", TargetKeyId=sym["KeyId"]),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == "KMSInvalidStateException"
        assert message(exc) == f"{sym['Arn']} is pending deletion."
    assert kms.describe_key(KeyId=sym["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"

    external = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert external["KeyState"] == "PendingImport" and external["Origin"] == "EXTERNAL"
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=external["KeyId"], Plaintext=b"x")
    assert code(exc) == "KMSInvalidStateException"
    assert message(exc) == f"{external['Arn']} is pending import."


def test_multi_region_flag(server):
    kms = server.client("kms")
    md = kms.create_key(MultiRegion=True)["KeyMetadata"]
    assert md["KeyId"].startswith("mrk-") and md["MultiRegion"] is True
    config = md["MultiRegionConfiguration"]
    assert config["MultiRegionKeyType"] == "PRIMARY"
    assert config["PrimaryKey"] == {"Arn": md["Arn"], "Region": "us-east-1"}
    blob = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"mrk data")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"mrk data"
    assert kms.create_key()["KeyMetadata"]["MultiRegion"] is False


def test_dry_run(server):
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key, Plaintext=b"x", DryRun=True)
    assert code(exc) == "DryRunOperationException"
