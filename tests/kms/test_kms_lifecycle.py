"""KMS parts 5, 6 and 8: rotation (scheduled and on demand), deletion, Regional isolation.

Time moves with the injected ManualClock; the scheduler's jobs run with `run_due`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError


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


def test_scheduled_rotation_keeps_old_ciphertexts(server, clock, tick):
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    status = kms.get_key_rotation_status(KeyId=key)
    assert status["KeyRotationEnabled"] is False and "NextRotationDate" not in status
    unchecked = unvalidated_client(server)
    for bad in (89, 2561):
        with pytest.raises(ClientError) as exc:
            unchecked.enable_key_rotation(KeyId=key, RotationPeriodInDays=bad)
        assert code(exc) == "ValidationException"
    kms.enable_key_rotation(KeyId=key)
    status = kms.get_key_rotation_status(KeyId=key)
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 365
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=key)
    assert status["RotationPeriodInDays"] == 90
    due = status["NextRotationDate"]
    assert timedelta(days=89) < due - clock.now() <= timedelta(days=90)

    blobs = [
        kms.encrypt(KeyId=key, Plaintext=b"v0", EncryptionContext={"n": "0"})["CiphertextBlob"]
    ]
    material_ids = [kms.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"]]
    tick(30)  # not due yet
    assert kms.list_key_rotations(KeyId=key)["Rotations"] == []
    for n in (1, 2):
        tick(91)
        rotations = kms.list_key_rotations(KeyId=key)["Rotations"]
        assert len(rotations) == n and rotations[-1]["RotationType"] == "AUTOMATIC"
        current = kms.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"]
        assert current not in material_ids and rotations[-1]["KeyMaterialId"] == current
        material_ids.append(current)
        ctx = {"n": str(n)}
        blobs.append(
            kms.encrypt(KeyId=key, Plaintext=f"v{n}".encode(), EncryptionContext=ctx)[
                "CiphertextBlob"
            ]
        )
    # new ciphertexts use the newest material; every older one still decrypts
    assert len({b[2:18] for b in blobs}) == 1  # same key id in every blob
    assert len({b[18:22] for b in blobs}) == 3  # three material versions
    for n, blob in enumerate(blobs):
        out = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"n": str(n)})
        assert out["Plaintext"] == f"v{n}".encode()
    next_date = kms.get_key_rotation_status(KeyId=key)["NextRotationDate"]
    assert timedelta(days=89) < next_date - clock.now() <= timedelta(days=90)

    kms.disable_key_rotation(KeyId=key)
    tick(200)
    assert len(kms.list_key_rotations(KeyId=key)["Rotations"]) == 2


def test_on_demand_rotation_and_unsupported_keys(server, clock, tick):
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    old = kms.encrypt(KeyId=key, Plaintext=b"before")["CiphertextBlob"]
    assert kms.rotate_key_on_demand(KeyId=key)["KeyId"].endswith(key)
    rotations = kms.list_key_rotations(KeyId=key)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["ON_DEMAND"]
    new = kms.encrypt(KeyId=key, Plaintext=b"after")["CiphertextBlob"]
    assert old[18:22] != new[18:22]
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"before"
    assert kms.decrypt(CiphertextBlob=new)["Plaintext"] == b"after"
    # on-demand rotation does not turn automatic rotation on
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is False

    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    hmac = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"][
        "KeyId"
    ]
    external = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    for other in (rsa, hmac):
        for call in (kms.enable_key_rotation, kms.rotate_key_on_demand):
            with pytest.raises(ClientError) as exc:
                call(KeyId=other)
            assert code(exc) == "UnsupportedOperationException"
    with pytest.raises(ClientError) as exc:
        kms.enable_key_rotation(KeyId=external)
    assert code(exc) in ("UnsupportedOperationException", "KMSInvalidStateException")

    kms.disable_key(KeyId=key)
    with pytest.raises(ClientError) as exc:
        kms.rotate_key_on_demand(KeyId=key)
    assert code(exc) == "DisabledException"


def test_disabled_keys_rotate_when_enabled_again(server, clock, tick):
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=90)
    kms.disable_key(KeyId=key)
    tick(100)
    assert kms.list_key_rotations(KeyId=key)["Rotations"] == []
    kms.enable_key(KeyId=key)
    tick(0.1)
    assert len(kms.list_key_rotations(KeyId=key)["Rotations"]) == 1


def test_schedule_cancel_and_delete(server, clock, tick):
    kms = server.client("kms")
    md = kms.create_key()["KeyMetadata"]
    key = md["KeyId"]
    kms.create_alias(AliasName="alias/doomed", TargetKeyId=key)
    blob = kms.encrypt(KeyId=key, Plaintext=b"last words")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=6)
    assert code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=31)
    assert code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        kms.cancel_key_deletion(KeyId=key)
    assert code(exc) == "KMSInvalidStateException"

    out = kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert out["KeyState"] == "PendingDeletion" and out["PendingWindowInDays"] == 7
    assert out["KeyId"] == md["Arn"]
    assert timedelta(days=6, hours=23) < out["DeletionDate"] - clock.now() <= timedelta(days=7)
    described = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert (
        described["KeyState"] == "PendingDeletion" and described["PendingDeletionWindowInDays"] == 7
    )
    with pytest.raises(ClientError) as exc:
        kms.schedule_key_deletion(KeyId=key)
    assert code(exc) == "KMSInvalidStateException"

    # cancelling leaves the key Disabled, as AWS does
    assert kms.cancel_key_deletion(KeyId=key)["KeyId"] == md["Arn"]
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Disabled"
    tick(10)
    kms.enable_key(KeyId=key)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"last words"

    # the default window is 30 days; the scheduler deletes the key when it ends
    assert kms.schedule_key_deletion(KeyId=key)["PendingWindowInDays"] == 30
    tick(29)
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    tick(1.01)
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=key)
    assert code(exc) == "NotFoundException"
    # its ciphertexts can never be decrypted again, its aliases are gone
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob)
    assert code(exc) in ("NotFoundException", "InvalidCiphertextException")
    assert "alias/doomed" not in [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    assert key not in [k["KeyId"] for k in kms.list_keys()["Keys"]]
    from sqlalchemy import func, select

    from bastion.storage.kms_tables import kms_key_material

    with server.runtime.store.read() as conn:
        left = conn.execute(
            select(func.count())
            .select_from(kms_key_material)
            .where(kms_key_material.c.key_id == key)
        ).scalar_one()
    assert left == 0


def test_keys_are_regional(server):
    east = server.client("kms", region="us-east-1")
    west = server.client("kms", region="us-west-2")
    md = east.create_key()["KeyMetadata"]
    assert md["Arn"].startswith("arn:aws:kms:us-east-1:")
    west_key = west.create_key()["KeyMetadata"]
    assert west_key["Arn"].startswith("arn:aws:kms:us-west-2:")
    assert [k["KeyId"] for k in west.list_keys()["Keys"]] == [west_key["KeyId"]]
    blob = east.encrypt(KeyId=md["KeyId"], Plaintext=b"east only")["CiphertextBlob"]

    with pytest.raises(ClientError) as exc:  # the ARN names another Region
        west.encrypt(KeyId=md["Arn"], Plaintext=b"x")
    assert code(exc) == "NotFoundException"
    assert exc.value.response["Error"]["Message"] == "Invalid arn us-east-1"
    with pytest.raises(ClientError) as exc:  # a bare key id is looked up in the caller's Region
        west.describe_key(KeyId=md["KeyId"])
    assert code(exc) == "NotFoundException"
    assert md["KeyId"] in exc.value.response["Error"]["Message"]
    assert "us-west-2" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:  # a ciphertext from another Region does not decrypt
        west.decrypt(CiphertextBlob=blob)
    assert code(exc) == "InvalidCiphertextException"
    # aliases are per Region too
    east.create_alias(AliasName="alias/same", TargetKeyId=md["KeyId"])
    west.create_alias(AliasName="alias/same", TargetKeyId=west_key["KeyId"])
    assert west.describe_key(KeyId="alias/same")["KeyMetadata"]["KeyId"] == west_key["KeyId"]
    assert east.describe_key(KeyId="alias/same")["KeyMetadata"]["KeyId"] == md["KeyId"]
    # AWS managed keys are per Region
    managed_east = east.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]
    managed_west = west.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]
    assert managed_east["KeyId"] != managed_west["KeyId"]
    assert east.decrypt(CiphertextBlob=blob)["Plaintext"] == b"east only"
