"""What IAM enforcement costs: signed iam:GetUser with enforcement on vs off, same run.

The caller is a user in 5 groups with 10 attached customer managed policies each: 50
policies of 20 statements (wildcards, NotAction, conditions), as in a real account.
Both servers share one data directory (started one after the other) and get the same
pre-signed request replayed by the same load generator.

    python benchmarks/bench_authz.py [--duration 8] [--concurrency 16] [--processes 4]
"""

from __future__ import annotations

import argparse
import configparser
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loadgen import SignedRequest, run_load
from benchmarks.targets import free_port

HERE = Path(__file__).resolve().parent
BODY = b"Action=GetUser&Version=2010-05-08&UserName=bench"


def statement(i: int, j: int, user_arn: str) -> dict:
    """Mostly statements that don't match GetUser, as in real policies."""
    kinds = [
        {"Effect": "Allow", "Action": [f"s3:Get{i}{j}*", f"ec2:Describe{j}*"], "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "dynamodb:*",
            "Resource": f"arn:aws:dynamodb:*:*:table/t{i}-{j}",
        },
        {"Effect": "Deny", "Action": "iam:Delete*", "Resource": f"arn:aws:iam::*:role/r{i}{j}"},
        {
            "Effect": "Allow",
            "NotAction": ["iam:*", "organizations:*"],
            "Resource": f"arn:aws:sqs:*:*:q{i}{j}",
            "Condition": {"StringEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}},
        },
        {
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:Encrypt"],
            "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}},
        },
    ]
    chosen = dict(kinds[(i + j) % len(kinds)])
    if i == 49 and j == 19:  # the one statement that grants the benchmarked call
        chosen = {"Effect": "Allow", "Action": "iam:GetUser", "Resource": user_arn}
    return chosen


def setup(endpoint: str, credentials: Path) -> tuple[str, str]:
    profile = configparser.ConfigParser()
    profile.read(credentials)
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=profile["bastion"]["aws_access_key_id"],
        aws_secret_access_key=profile["bastion"]["aws_secret_access_key"],
    )
    user_arn = iam.create_user(UserName="bench")["User"]["Arn"]
    for g in range(5):
        iam.create_group(GroupName=f"g{g}")
        iam.add_user_to_group(GroupName=f"g{g}", UserName="bench")
        for p in range(10):
            i = g * 10 + p
            document = {
                "Version": "2012-10-17",
                "Statement": [statement(i, j, user_arn) for j in range(20)],
            }
            arn = iam.create_policy(PolicyName=f"p{i}", PolicyDocument=json.dumps(document))[
                "Policy"
            ]["Arn"]
            iam.attach_group_policy(GroupName=f"g{g}", PolicyArn=arn)
    key = iam.create_access_key(UserName="bench")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def start(data_dir: Path, port: int, enforcement: bool) -> subprocess.Popen:
    command = [
        sys.executable,
        str(HERE / "authz_server.py"),
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
    ]
    if not enforcement:
        command.append("--no-enforcement")
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_bastion/health", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-authz-") as tmp:
        data_dir = Path(tmp) / "data"
        key = secret = ""
        for enforcement in (True, False):
            port = free_port()
            proc = start(data_dir, port, enforcement)
            try:
                if not key:
                    key, secret = setup(f"http://127.0.0.1:{port}", data_dir / "credentials")
                request = SignedRequest("127.0.0.1", port, "iam", "us-east-1", key, secret, BODY)
                stats = run_load(
                    request,
                    "127.0.0.1",
                    port,
                    concurrency=args.concurrency,
                    processes=args.processes,
                    duration=args.duration,
                    warmup=args.warmup,
                    server_pid=proc.pid,
                )
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            results["on" if enforcement else "off"] = stats
    print(
        "iam:GetUser signed by a user with 50 policies x 20 statements "
        f"({args.concurrency} connections, {args.duration:.0f} s each)"
    )
    print(f"{'enforcement':12} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, s in results.items():
        row = f"{name:12} {s['ops_per_s']:9.1f} {s['p50_ms']:8.3f} {s['p99_ms']:8.3f}"
        print(f"{row} {s['errors']:7d}")
    loss = 1 - results["on"]["ops_per_s"] / results["off"]["ops_per_s"]
    verdict = "met" if loss <= 0.15 else "NOT met"
    print(f"throughput lost to enforcement: {loss:.1%} (target <= 15%): {verdict}")


if __name__ == "__main__":
    main()
