"""KMS part 3: aliases, and the AWS managed keys services create on first use."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "000000000000"


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def test_alias_lifecycle_and_use_wherever_aws_accepts(server):
    kms = server.client("kms")
    a = kms.create_key()["KeyMetadata"]
    b = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=a["KeyId"])
    kms.create_alias(AliasName="alias/app-arn", TargetKeyId=a["Arn"])
    alias_arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/app"

    # alias names and alias ARNs work in cryptographic calls, DescribeKey, GetPublicKey
    for ref in ("alias/app", alias_arn):
        out = kms.encrypt(KeyId=ref, Plaintext=b"via alias")
        assert out["KeyId"] == a["Arn"]
        assert (
            kms.decrypt(CiphertextBlob=out["CiphertextBlob"], KeyId=ref)["Plaintext"]
            == b"via alias"
        )
        assert kms.describe_key(KeyId=ref)["KeyMetadata"]["KeyId"] == a["KeyId"]
        assert kms.generate_data_key(KeyId=ref, KeySpec="AES_256")["KeyId"] == a["Arn"]

    listed = {x["AliasName"]: x for x in kms.list_aliases()["Aliases"]}
    assert listed["alias/app"]["TargetKeyId"] == a["KeyId"]
    assert listed["alias/app"]["AliasArn"] == alias_arn
    assert "CreationDate" in listed["alias/app"]
    # AWS lists its predefined aliases even before their keys exist
    assert "TargetKeyId" not in listed["alias/aws/secretsmanager"]
    only_a = kms.list_aliases(KeyId=a["KeyId"])["Aliases"]
    assert [x["AliasName"] for x in only_a] == ["alias/app", "alias/app-arn"]

    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName="alias/app", TargetKeyId=b["KeyId"])
    assert code(exc) == "AlreadyExistsException"

    old = kms.encrypt(KeyId="alias/app", Plaintext=b"old")["CiphertextBlob"]
    kms.update_alias(AliasName="alias/app", TargetKeyId=b["KeyId"])
    assert kms.describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"] == b["KeyId"]
    assert kms.encrypt(KeyId="alias/app", Plaintext=b"new")["KeyId"] == b["Arn"]
    assert kms.decrypt(CiphertextBlob=old)["KeyId"] == a["Arn"]  # the blob names its key
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=old, KeyId="alias/app")
    assert code(exc) == "IncorrectKeyException"

    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    with pytest.raises(ClientError) as exc:
        kms.update_alias(AliasName="alias/app", TargetKeyId=signing["KeyId"])
    assert code(exc) == "ValidationException"

    kms.delete_alias(AliasName="alias/app")
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId="alias/app")
    assert code(exc) == "NotFoundException"
    assert exc.value.response["Error"]["Message"] == f"Alias {alias_arn} is not found."
    with pytest.raises(ClientError) as exc:
        kms.delete_alias(AliasName="alias/app")
    assert code(exc) == "NotFoundException"
    with pytest.raises(ClientError) as exc:
        kms.update_alias(AliasName="alias/nope", TargetKeyId=a["KeyId"])
    assert code(exc) == "NotFoundException"


def test_alias_names_are_checked_and_aws_prefix_reserved(server):
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName="no-prefix", TargetKeyId=key)
    assert code(exc) == "ValidationException"
    for name in ("alias/aws/mine", "alias/aws/ssm"):
        with pytest.raises(ClientError) as exc:
            kms.create_alias(AliasName=name, TargetKeyId=key)
        assert code(exc) == "NotAuthorizedException"
    with pytest.raises(ClientError) as exc:
        kms.delete_alias(AliasName="alias/aws/ssm")
    assert code(exc) == "NotAuthorizedException"
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName="alias/x", TargetKeyId="alias/other")
    assert code(exc) == "NotFoundException"


def test_aws_managed_keys_created_on_first_use(server):
    kms = server.client("kms")
    for alias, service in (
        ("alias/aws/ssm", "ssm"),
        ("alias/aws/secretsmanager", "secretsmanager"),
    ):
        # the first reference to the predefined alias creates its AWS managed key
        md = kms.describe_key(KeyId=alias)["KeyMetadata"]
        assert md["KeyManager"] == "AWS" and md["KeySpec"] == "SYMMETRIC_DEFAULT"
        assert md["KeyState"] == "Enabled"
        # the same key afterwards, not a new one
        assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == md["KeyId"]
        policy = json.loads(kms.get_key_policy(KeyId=md["KeyId"])["Policy"])
        first = policy["Statement"][0]
        assert first["Principal"] == {"AWS": "*"}
        assert first["Condition"]["StringEquals"] == {
            "kms:ViaService": f"{service}.us-east-1.amazonaws.com",
            "kms:CallerAccount": ACCOUNT,
        }
        # its policy allows cryptography only through the service (kms:ViaService), so a
        # direct call, even by an administrator, is denied as on AWS
        with pytest.raises(ClientError) as exc:
            kms.encrypt(KeyId=alias, Plaintext=b"value")
        assert code(exc) == "AccessDeniedException"
        # yearly rotation that the customer cannot turn off or change
        status = kms.get_key_rotation_status(KeyId=md["KeyId"])
        assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 365
        for call in (
            lambda k=md["KeyId"]: kms.disable_key_rotation(KeyId=k),
            lambda k=md["KeyId"]: kms.enable_key_rotation(KeyId=k, RotationPeriodInDays=90),
            lambda k=md["KeyId"]: kms.rotate_key_on_demand(KeyId=k),
        ):
            with pytest.raises(ClientError) as exc:
                call()
            assert code(exc) in ("AccessDeniedException", "UnsupportedOperationException")
        for call in (
            lambda k=md["KeyId"]: kms.schedule_key_deletion(KeyId=k),
            lambda k=md["KeyId"]: kms.disable_key(KeyId=k),
            lambda k=md["KeyId"]: kms.put_key_policy(KeyId=k, PolicyName="default", Policy="{}"),
        ):
            with pytest.raises(ClientError) as exc:
                call()
            assert code(exc) == "AccessDeniedException"
    managed = [a for a in kms.list_aliases()["Aliases"] if a["AliasName"].startswith("alias/aws/")]
    assert all("TargetKeyId" in a for a in managed)
    assert len(kms.list_keys()["Keys"]) == 2


def test_aws_managed_key_concurrent_first_use(server):
    """Many first uses at once still make exactly one key."""
    from concurrent.futures import ThreadPoolExecutor

    def use(_: int) -> str:
        kms = server.client("kms")
        return kms.describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]["Arn"]

    with ThreadPoolExecutor(6) as pool:
        arns = set(pool.map(use, range(6)))
    assert len(arns) == 1
    assert len(server.client("kms").list_keys()["Keys"]) == 1
