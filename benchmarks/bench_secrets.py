"""GetParameter (SecureString, WithDecryption) and GetSecretValue: Bastion vs moto.

    python benchmarks/bench_secrets.py [--duration 10] [--concurrency 16] [--processes 4]
                                       [--warmup 2] [--targets bastion,moto] [--ops ...]

Each target is started once (``targets.py``); a SecureString parameter (under
alias/aws/ssm) and a secret are created with boto3, then each read is loaded in turn
with pre-signed replayed requests (``loadgen.py``). On Bastion every call is
SigV4-verified, authorized (IAM, then the KMS key policy through kms:ViaService),
audited twice (the read and its KMS Decrypt) and decrypts for real. Results are printed
with the bastion/moto ratio (goal >= 10x) and written to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import loadgen, targets
from benchmarks.matrix import run_matrix

NAME = "secrets_reads"
ALL_TARGETS = ("bastion", "moto")
ALL_OPS = ("GetParameter", "GetSecretValue")
SERVICE = {
    "GetParameter": ("ssm", "AmazonSSM"),
    "GetSecretValue": ("secretsmanager", "secretsmanager"),
}
EXPECT = {"GetParameter": b"bench-secure-value", "GetSecretValue": b"bench-secret-value"}
BODIES = {
    "GetParameter": json.dumps({"Name": "/bench/secure", "WithDecryption": True}).encode(),
    "GetSecretValue": json.dumps({"SecretId": "bench/secret"}).encode(),
}


@dataclass(frozen=True)
class JsonRequest:
    """A picklable factory of signed awsJson1_1 requests (X-Amz-Target signed too)."""

    host: str
    port: int
    access_key: str
    secret_key: str
    operation: str
    region: str = "us-east-1"

    def __call__(self) -> bytes:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        service, prefix = SERVICE[self.operation]
        body = BODIES[self.operation]
        authority = f"{self.host}:{self.port}"
        headers = {
            "Host": authority,
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"{prefix}.{self.operation}",
            "Content-Length": str(len(body)),
        }
        request = AWSRequest(method="POST", url=f"http://{authority}/", data=body, headers=headers)
        SigV4Auth(Credentials(self.access_key, self.secret_key), service, self.region).add_auth(
            request
        )
        lines = ["POST / HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in request.headers.items()]
        lines.append(f"User-Agent: {loadgen.USER_AGENT}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


def prepare(target: targets.Target) -> None:
    import boto3
    import botocore.config

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=f"http://{target.host}:{target.port}",
            region_name="us-east-1",
            aws_access_key_id=target.access_key,
            aws_secret_access_key=target.secret_key,
            config=botocore.config.Config(retries={"max_attempts": 1}),
        )

    try:  # Bastion: create the AWS managed keys before the first write that uses them
        kms = client("kms")
        kms.describe_key(KeyId="alias/aws/ssm")
        kms.describe_key(KeyId="alias/aws/secretsmanager")
    except Exception:
        pass
    client("ssm").put_parameter(
        Name="/bench/secure", Value="bench-secure-value", Type="SecureString", Overwrite=True
    )
    client("secretsmanager").create_secret(Name="bench/secret", SecretString="bench-secret-value")


def bench_target(name: str, ops: list[str], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    with targets.running(name, args.workers) as target:
        prepare(target)
        for op in ops:
            factory = JsonRequest(
                target.host, target.port, target.access_key, target.secret_key, op
            )
            loadgen.check_target(target.host, target.port, factory(), EXPECT[op])
            stats = loadgen.run_load(
                factory,
                target.host,
                target.port,
                concurrency=args.concurrency,
                processes=args.processes,
                duration=args.duration,
                warmup=args.warmup,
                server_pid=target.proc.pid,
            )
            if target.proc.poll() is not None:
                raise targets.TargetError(f"{name} died during the run:\n{target.log_tail()}")
            try:
                loadgen.check_target(target.host, target.port, factory(), EXPECT[op])
                stats["healthy_after"] = True
            except (loadgen.LoadError, OSError) as exc:
                stats["healthy_after"] = False
                stats["after_error"] = str(exc)
            results[op] = stats
            print(f"    {name} {op}: {stats['ops_per_s']:.0f} ops/s", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    def title(ops: list[str], args: argparse.Namespace) -> str:
        return (
            f"{', '.join(ops)} (SigV4, pre-signed replay, decrypting): {args.concurrency}"
            f" keep-alive connections over {args.processes} client processes,"
            f" {args.warmup:g} s warm-up, {args.duration:g} s measured per operation;"
            f" {os.cpu_count()} CPUs"
        )

    return run_matrix(
        argv,
        description=__doc__.split("\n\n")[0],
        name=NAME,
        benchmark="ssm:GetParameter(SecureString,WithDecryption),secretsmanager:GetSecretValue",
        all_targets=ALL_TARGETS,
        all_ops=ALL_OPS,
        bench_target=bench_target,
        title=title,
    )


if __name__ == "__main__":
    sys.exit(main())
