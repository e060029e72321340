"""AWS's own clients against Bastion: the aws-secretsmanager-caching library and the
AWS CLI (`ssm get-parameters-by-path`, `secretsmanager get-secret-value`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest


def test_aws_secretsmanager_caching_reads_from_bastion(sqlite_server):
    caching = pytest.importorskip("aws_secretsmanager_caching")
    sm = sqlite_server.client("secretsmanager")
    sm.create_secret(Name="cached", SecretString='{"password": "p1"}')
    sm.create_secret(Name="binary", SecretBinary=b"\x01\x02")
    cache = caching.SecretCache(config=caching.SecretCacheConfig(), client=sm)
    assert json.loads(cache.get_secret_string("cached")) == {"password": "p1"}
    assert cache.get_secret_binary("binary") == b"\x01\x02"
    sm.put_secret_value(SecretId="cached", SecretString='{"password": "p2"}')
    assert json.loads(cache.get_secret_string("cached")) == {"password": "p1"}  # cached
    refreshed = caching.SecretCache(config=caching.SecretCacheConfig(), client=sm)
    assert json.loads(refreshed.get_secret_string("cached")) == {"password": "p2"}
    previous = refreshed.get_secret_string("cached", version_stage="AWSPREVIOUS")
    assert json.loads(previous) == {"password": "p1"}


def _cli(server, *args: str) -> dict:
    key, secret = server.credentials
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    aws = shutil.which("aws")
    command = [aws] if aws else [sys.executable, "-m", "awscli"]
    out = subprocess.run(
        [*command, "--endpoint-url", server.endpoint, "--output", "json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)


def test_aws_cli(sqlite_server):
    ssm = sqlite_server.client("ssm")
    for i in range(12):
        ssm.put_parameter(Name=f"/cli/p{i:02d}", Value=f"v{i}", Type="String")
    ssm.put_parameter(Name="/cli/sub/secure", Value="hidden", Type="SecureString")
    out = _cli(
        sqlite_server,
        "ssm",
        "get-parameters-by-path",
        "--path",
        "/cli",
        "--recursive",
        "--with-decryption",
    )
    values = {p["Name"]: p["Value"] for p in out["Parameters"]}
    assert len(values) == 13 and values["/cli/sub/secure"] == "hidden"
    sm = sqlite_server.client("secretsmanager")
    sm.create_secret(Name="cli/secret", SecretString="from-cli")
    out = _cli(sqlite_server, "secretsmanager", "get-secret-value", "--secret-id", "cli/secret")
    assert out["SecretString"] == "from-cli" and out["VersionStages"] == ["AWSCURRENT"]
