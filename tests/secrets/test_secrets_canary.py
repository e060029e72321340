"""No SecureString or secret value in the database file, the audit log or the server log."""

from __future__ import annotations

import base64
import json
import uuid

from support import ProcessServer

LAMBDA = "arn:aws:lambda:us-east-1:000000000000:function:bastion-rotator-random-password"


def _scan(paths, needles: list[bytes]) -> list[str]:
    hits = []
    for path in paths:
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path}: {n[:12]!r}" for n in needles if n in data]
    return hits


def test_no_secret_value_at_rest_or_in_logs(tmp_path):
    canary = f"canary-{uuid.uuid4().hex}"
    srv = ProcessServer(tmp_path / "data").start()
    try:
        kms = srv.client("kms")
        kms.describe_key(KeyId="alias/aws/ssm")
        kms.describe_key(KeyId="alias/aws/secretsmanager")
        ssm, sm = srv.client("ssm"), srv.client("secretsmanager")
        ssm.put_parameter(Name="/canary/std", Value=canary + "-ssm", Type="SecureString")
        ssm.put_parameter(
            Name="/canary/adv", Value=canary + "-adv", Type="SecureString", Tier="Advanced"
        )
        assert (
            ssm.get_parameter(Name="/canary/adv", WithDecryption=True)["Parameter"]["Value"]
            == canary + "-adv"
        )
        ssm.get_parameters_by_path(Path="/canary", WithDecryption=True)
        ssm.get_parameter_history(Name="/canary/std", WithDecryption=True)
        arn = sm.create_secret(Name="canary", SecretString=json.dumps({"password": canary}))["ARN"]
        sm.put_secret_value(SecretId=arn, SecretString=canary + "-2")
        sm.put_secret_value(SecretId=arn, SecretBinary=(canary + "-bin").encode())
        sm.update_secret(SecretId=arn, SecretString=canary + "-3")
        assert sm.get_secret_value(SecretId=arn)["SecretString"] == canary + "-3"
        sm.batch_get_secret_value(SecretIdList=[arn])
        sm.rotate_secret(SecretId=arn, RotationLambdaARN=LAMBDA)
        password = sm.get_random_password()["RandomPassword"]
    finally:
        srv.stop()
    data = tmp_path / "data"
    files = [p for p in data.rglob("*") if p.name not in ("credentials", "root.key")]
    files.append(srv.log_path)
    assert any(p.suffix == ".jsonl" for p in files)
    needles = [canary.encode(), base64.b64encode(canary.encode()), password.encode()]
    assert _scan(files, needles) == []
    # the scan can find things
    probe = tmp_path / "probe"
    probe.write_text(canary)
    assert _scan([probe], needles)
