"""The role-separation story: one role may only Encrypt, another only Decrypt, a third
neither — granted once through the key policy, once through IAM policies."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "000000000000"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"}],
    }
)


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def assume(server, role_arn: str):
    creds = server.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="kms-test")[
        "Credentials"
    ]
    return server.client(
        "kms",
        access_key=creds["AccessKeyId"],
        secret_key=creds["SecretAccessKey"],
        session_token=creds["SessionToken"],
    )


def make_roles(server, prefix: str) -> dict[str, str]:
    iam = server.client("iam")
    return {
        name: iam.create_role(RoleName=f"{prefix}-{name}", AssumeRolePolicyDocument=TRUST)["Role"][
            "Arn"
        ]
        for name in ("encryptor", "decryptor", "nobody")
    }


def check_separation(server, key_id: str, roles: dict[str, str]) -> None:
    encryptor = assume(server, roles["encryptor"])
    decryptor = assume(server, roles["decryptor"])
    nobody = assume(server, roles["nobody"])
    context = {"app": "payroll"}

    blob = encryptor.encrypt(KeyId=key_id, Plaintext=b"salary", EncryptionContext=context)[
        "CiphertextBlob"
    ]
    with pytest.raises(ClientError) as exc:
        encryptor.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    assert code(exc) == "AccessDeniedException"

    assert (
        decryptor.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == b"salary"
    )
    with pytest.raises(ClientError) as exc:
        decryptor.encrypt(KeyId=key_id, Plaintext=b"x")
    assert code(exc) == "AccessDeniedException"

    for call in (
        lambda: nobody.encrypt(KeyId=key_id, Plaintext=b"x"),
        lambda: nobody.decrypt(CiphertextBlob=blob, EncryptionContext=context),
        lambda: nobody.generate_data_key(KeyId=key_id, KeySpec="AES_256"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == "AccessDeniedException"


def test_role_separation_through_the_key_policy(server):
    roles = make_roles(server, "kp")
    kms = server.client("kms")

    def allow(role: str, action: str) -> dict:
        return {
            "Sid": f"{role} {action}",
            "Effect": "Allow",
            "Principal": {"AWS": roles[role]},
            "Action": action,
            "Resource": "*",
        }

    key_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Key administrators",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/admin"},
                "Action": "kms:*",
                "Resource": "*",
            },
            allow("encryptor", "kms:Encrypt"),
            allow("decryptor", "kms:Decrypt"),
        ],
    }
    key = kms.create_key(Policy=json.dumps(key_policy))["KeyMetadata"]["KeyId"]
    check_separation(server, key, roles)


def test_role_separation_through_iam_policies(server):
    roles = make_roles(server, "iam")
    kms = server.client("kms")
    iam = server.client("iam")
    key = kms.create_key()["KeyMetadata"]  # default policy: the account root delegates to IAM
    for role, action in (("encryptor", "kms:Encrypt"), ("decryptor", "kms:Decrypt")):
        iam.put_role_policy(
            RoleName=roles[role].split("/")[-1],
            PolicyName="kms-use",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": action, "Resource": key["Arn"]}],
                }
            ),
        )
    check_separation(server, key["KeyId"], roles)
