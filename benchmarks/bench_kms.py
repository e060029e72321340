"""KMS Encrypt (1 KB), Decrypt and GenerateDataKey, SigV4-signed: Bastion vs moto.

    python benchmarks/bench_kms.py [--duration 10] [--concurrency 16] [--processes 4]
                                   [--warmup 2] [--targets bastion,moto] [--ops ...]

Each target is started once (see ``targets.py``); a symmetric key is created on it with
boto3, a 1 KB plaintext is encrypted once for the Decrypt load, then every operation is
loaded in turn with pre-signed replayed requests (``loadgen.py``). On Bastion every call
is SigV4-verified, authorized against the key policy and IAM (enforcement is always on),
audited, and does real AES-256-GCM. Each load is checked before and after (one response
must be 200 and carry the expected member). Prints one table per operation with the
ratios and the p99 goal, and writes ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import loadgen, targets

NAME = "kms_crypto"
ALL_TARGETS = ("bastion", "moto")
ALL_OPS = ("Encrypt", "Decrypt", "GenerateDataKey")
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
RATIO_GOAL = 10.0  # bastion/moto ops/s
P99_GOAL_MS = 20.0  # Bastion's p99
OPS_GOAL = 3000.0  # Bastion's ops/s
EXPECT = {"Encrypt": b"CiphertextBlob", "Decrypt": b"Plaintext", "GenerateDataKey": b"Plaintext"}


@dataclass(frozen=True)
class KmsRequest:
    """A picklable factory of signed KMS json requests (``X-Amz-Target`` signed too)."""

    host: str
    port: int
    access_key: str
    secret_key: str
    operation: str
    body: bytes
    region: str = "us-east-1"

    def __call__(self) -> bytes:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        authority = f"{self.host}:{self.port}"
        headers = {
            "Host": authority,
            "Content-Type": JSON_CONTENT_TYPE,
            "X-Amz-Target": f"TrentService.{self.operation}",
            "Content-Length": str(len(self.body)),
        }
        request = AWSRequest(
            method="POST", url=f"http://{authority}/", data=self.body, headers=headers
        )
        SigV4Auth(Credentials(self.access_key, self.secret_key), "kms", self.region).add_auth(
            request
        )
        lines = ["POST / HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in request.headers.items()]
        lines.append(f"User-Agent: {loadgen.USER_AGENT}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + self.body


def prepare(target: targets.Target) -> dict[str, bytes]:
    """Create a key on the target and the request bodies of every operation."""
    import boto3
    import botocore.config

    client = boto3.client(
        "kms",
        endpoint_url=f"http://{target.host}:{target.port}",
        region_name="us-east-1",
        aws_access_key_id=target.access_key,
        aws_secret_access_key=target.secret_key,
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )
    key_arn = client.create_key(Description="bench")["KeyMetadata"]["Arn"]
    plaintext = os.urandom(1024)
    context = {"bench": "kms"}
    blob = client.encrypt(KeyId=key_arn, Plaintext=plaintext, EncryptionContext=context)[
        "CiphertextBlob"
    ]
    assert client.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == plaintext
    b64 = base64.b64encode
    return {
        "Encrypt": json.dumps(
            {"KeyId": key_arn, "Plaintext": b64(plaintext).decode(), "EncryptionContext": context}
        ).encode(),
        "Decrypt": json.dumps(
            {"CiphertextBlob": b64(blob).decode(), "KeyId": key_arn, "EncryptionContext": context}
        ).encode(),
        "GenerateDataKey": json.dumps(
            {"KeyId": key_arn, "KeySpec": "AES_256", "EncryptionContext": context}
        ).encode(),
    }


def bench_target(name: str, ops: list[str], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    with targets.running(name, args.workers) as target:
        bodies = prepare(target)
        for op in ops:
            factory = KmsRequest(
                target.host, target.port, target.access_key, target.secret_key, op, bodies[op]
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


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_tables(results: dict[str, dict[str, dict[str, Any]]], ops: list[str]) -> dict[str, Any]:
    verdicts: dict[str, Any] = {}
    for op in ops:
        print(f"\n{op}")
        print(f"{'target':<9}{'ops/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
              f"{'client CPU':>12}{'server CPU':>12}")  # fmt: skip
        for name, per_op in results.items():
            s = per_op.get(op)
            if s is None:
                continue
            print(
                f"{name:<9}{s['ops_per_s']:>10.1f}{_fmt(s['p50_ms'], '.3f'):>9}"
                f"{_fmt(s['p99_ms'], '.3f'):>9}{s['errors']:>8}"
                f"{s['client_cpu_share']:>12.2f}{_fmt(s['server_cpu_share'], '.2f'):>12}"
            )
            if s["non_2xx"]:
                print(f"  ({name} answered statuses {s['statuses']}.)")
            if not s.get("healthy_after", True):
                print(f"  ({name} failed the check after the run: {s['after_error'][:110]})")
            if s["reconnects"] > s["requests"] // 2:
                print(f"  ({name} closed connections ({s['reconnects']} reconnects);"
                      " latency includes reconnecting.)")  # fmt: skip
        bastion = results.get("bastion", {}).get(op)
        moto = results.get("moto", {}).get(op)
        verdict: dict[str, Any] = {}
        if bastion and moto and moto["ops_per_s"]:
            ratio = bastion["ops_per_s"] / moto["ops_per_s"]
            verdict["bastion/moto"] = {"value": round(ratio, 2), "goal": RATIO_GOAL}
            print(f"bastion/moto = {ratio:.1f}x (target >= {RATIO_GOAL:.0f}x): "
                  f"{'met' if ratio >= RATIO_GOAL else 'NOT met'}")  # fmt: skip
        if bastion:
            p99 = bastion["p99_ms"]
            ok = p99 is not None and p99 < P99_GOAL_MS
            verdict["bastion_p99_ms"] = {"value": p99, "goal": P99_GOAL_MS}
            print(f"bastion p99 = {_fmt(p99, '.2f')} ms (target < {P99_GOAL_MS:.0f} ms): "
                  f"{'met' if ok else 'NOT met'}")  # fmt: skip
            rate = bastion["ops_per_s"]
            verdict["bastion_ops_per_s"] = {"value": rate, "goal": OPS_GOAL}
            print(f"bastion = {rate:.0f} ops/s (target >= {OPS_GOAL:.0f}): "
                  f"{'met' if rate >= OPS_GOAL else 'NOT met'}")  # fmt: skip
        verdicts[op] = verdict
    return verdicts


def main(argv: list[str] | None = None) -> int:
    from benchmarks.matrix import run_matrix  # imports this module's print_tables

    def title(ops: list[str], args: argparse.Namespace) -> str:
        return (
            f"KMS {', '.join(ops)} (SigV4, pre-signed replay, 1 KB plaintext): "
            f"{args.concurrency} keep-alive connections over {args.processes} client "
            f"processes, {args.warmup:g} s warm-up, {args.duration:g} s measured per "
            f"operation; {os.cpu_count()} CPUs"
        )

    return run_matrix(
        argv,
        description=__doc__.split("\n\n")[0],
        name=NAME,
        benchmark="kms:Encrypt,Decrypt,GenerateDataKey",
        all_targets=ALL_TARGETS,
        all_ops=ALL_OPS,
        bench_target=bench_target,
        title=title,
        extra_params={"plaintext_bytes": 1024},
    )


if __name__ == "__main__":
    sys.exit(main())
