"""AWS's own libraries against Bastion, unchanged but for the endpoint:
the AWS Encryption SDK (KMS keyring and master key provider) and the AWS CLI."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest

aws_encryption_sdk = pytest.importorskip("aws_encryption_sdk")


def cli_env(server, tmp_path) -> dict[str, str]:
    key, secret = server.credentials
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=key,
        AWS_SECRET_ACCESS_KEY=secret,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
    )
    return env


def test_encryption_sdk_with_kms_keyring(server):
    from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
    from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
    from aws_cryptographic_material_providers.mpl.models import CreateAwsKmsKeyringInput

    kms = server.client("kms")
    arn = kms.create_key(Description="esdk")["KeyMetadata"]["Arn"]
    providers = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
    keyring = providers.create_aws_kms_keyring(
        input=CreateAwsKmsKeyringInput(kms_key_id=arn, kms_client=kms)
    )
    sdk = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=aws_encryption_sdk.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    message = os.urandom(10_000)
    context = {"purpose": "bastion-test", "tenant": "7"}
    ciphertext, _ = sdk.encrypt(source=message, keyring=keyring, encryption_context=context)
    assert message not in ciphertext
    plaintext, header = sdk.decrypt(source=ciphertext, keyring=keyring)
    assert plaintext == message
    assert all(header.encryption_context[k] == v for k, v in context.items())


def test_encryption_sdk_with_master_key_provider(server, monkeypatch):
    """The legacy provider builds its own boto3 clients: only AWS_ENDPOINT_URL points them."""
    import botocore.session

    key, secret = server.credentials
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    kms = server.client("kms")
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
        key_ids=[arn], botocore_session=botocore.session.Session()
    )
    sdk = aws_encryption_sdk.EncryptionSDKClient()
    ciphertext, _ = sdk.encrypt(source=b"legacy path", key_provider=provider)
    plaintext, _ = sdk.decrypt(source=ciphertext, key_provider=provider)
    assert plaintext == b"legacy path"


def test_aws_cli_encrypt_decrypt(server, tmp_path):
    kms = server.client("kms")
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/cli", TargetKeyId=arn)
    env = cli_env(server, tmp_path)
    (tmp_path / "plain.txt").write_bytes(b"hello from the aws cli")
    plain = f"fileb://{tmp_path / 'plain.txt'}"
    base = [sys.executable, "-m", "awscli", "kms"]
    endpoint = ["--endpoint-url", server.endpoint, "--output", "text"]
    encrypted = subprocess.run(
        [*base, "encrypt", "--key-id", "alias/cli", "--plaintext", plain,
         "--encryption-context", "app=cli", "--query", "CiphertextBlob", *endpoint],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    (tmp_path / "blob").write_bytes(base64.b64decode(encrypted.stdout.strip()))
    decrypted = subprocess.run(
        [*base, "decrypt", "--ciphertext-blob", f"fileb://{tmp_path / 'blob'}",
         "--encryption-context", "app=cli", "--query", "[KeyId,Plaintext]", *endpoint],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    key_id, plaintext = decrypted.stdout.split()
    assert key_id == arn
    assert base64.b64decode(plaintext) == b"hello from the aws cli"
    failed = subprocess.run(
        [*base, "decrypt", "--ciphertext-blob", f"fileb://{tmp_path / 'blob'}", *endpoint],
        env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert failed.returncode != 0 and "InvalidCiphertextException" in failed.stderr
