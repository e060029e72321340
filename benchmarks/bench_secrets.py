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
import datetime
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import loadgen, targets
from benchmarks.bench_kms import print_tables
from benchmarks.bench_sts import environment

NAME = "secrets_reads"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
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
    with targets.running(name) as target:
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--targets", default=",".join(ALL_TARGETS))
    parser.add_argument("--ops", default=",".join(ALL_OPS))
    parser.add_argument("--name", default=NAME)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    if set(names) - set(ALL_TARGETS) or set(ops) - set(ALL_OPS):
        parser.error(f"targets: {', '.join(ALL_TARGETS)}; ops: {', '.join(ALL_OPS)}")
    print(
        f"{', '.join(ops)} (SigV4, pre-signed replay, decrypting): {args.concurrency} keep-alive"
        f" connections over {args.processes} client processes, {args.warmup:g} s warm-up,"
        f" {args.duration:g} s measured per operation; {os.cpu_count()} CPUs",
        flush=True,
    )
    results: dict[str, dict[str, dict[str, Any]]] = {}
    failed: dict[str, str] = {}
    for name in names:
        print(f"  {name} ...", flush=True)
        try:
            results[name] = bench_target(name, ops, args)
        except (targets.TargetError, loadgen.LoadError, OSError, AssertionError) as exc:
            failed[name] = str(exc)
            print(f"  {name} failed: {exc}", file=sys.stderr, flush=True)
    verdicts = print_tables(results, ops)
    for name, error in failed.items():
        print(f"{name} FAILED: {error.splitlines()[0] if error else ''}")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"{args.name}.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "ssm:GetParameter(SecureString,WithDecryption),"
                "secretsmanager:GetSecretValue",
                "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "params": vars(args),
                "environment": environment(),
                "results": results,
                "failed": failed,
                "verdicts": verdicts,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"results written to {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
