"""The role-separation story: one role may only encrypt, another only decrypt."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

ACCOUNT = "000000000000"


def _role(iam, name: str, actions: list[str]) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    if actions:
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }
        iam.put_role_policy(RoleName=name, PolicyName="kms", PolicyDocument=json.dumps(policy))
    return arn


def _session(server, role_arn: str, service: str):
    creds = server.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="work")[
        "Credentials"
    ]
    return server.client(
        service,
        access_key=creds["AccessKeyId"],
        secret_key=creds["SecretAccessKey"],
        session_token=creds["SessionToken"],
    )


def _denied(call, **kwargs) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kwargs)
    assert info.value.response["Error"]["Code"] == "AccessDeniedException"


def test_encrypt_only_decrypt_only_and_neither_roles_through_iam_policies(server):
    iam = server.client("iam")
    key_id = server.client("kms").create_key()["KeyMetadata"]["KeyId"]
    encryptor = _session(server, _role(iam, "encryptor", ["kms:Encrypt"]), "kms")
    decryptor = _session(server, _role(iam, "decryptor", ["kms:Decrypt"]), "kms")
    bystander = _session(server, _role(iam, "bystander", []), "kms")

    blob = encryptor.encrypt(KeyId=key_id, Plaintext=b"payroll")["CiphertextBlob"]
    _denied(encryptor.decrypt, CiphertextBlob=blob)
    assert decryptor.decrypt(CiphertextBlob=blob)["Plaintext"] == b"payroll"
    _denied(decryptor.encrypt, KeyId=key_id, Plaintext=b"x")
    _denied(bystander.encrypt, KeyId=key_id, Plaintext=b"x")
    _denied(bystander.decrypt, CiphertextBlob=blob)
