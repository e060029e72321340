"""IAM policy evaluation engine: evaluations per second on a realistic account.

The account: 50 identity policies of 20 statements each (1,000 statements) over a dozen
services, with action and resource wildcards, policy variables and conditions of every
common family (tags, source IP, TLS, time windows, ARNs, set operators), plus a
permissions boundary and a KMS key policy for the KMS requests. Requests mix actions and
resources so that allows, implicit denies and explicit denies all occur.

Printed: parse time, then evaluations/s and p50/p99 latency (µs) for the engine and for a
naive baseline that scans every statement of every policy on each request (the engine
without its per-action statement index), and the ratio between the two.

    python benchmarks/bench_policy.py                 # 200,000 evaluations
    python benchmarks/bench_policy.py -n 50000 --seed 7
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import statistics
import sys
import time
from typing import Any

from bastion.auth.policy import RequestFacts, evaluate, parse_policy
from bastion.auth.policy.document import Policy

# the module (the package re-exports the function under the same name)
engine = importlib.import_module("bastion.auth.policy.evaluate")

ACCT = "111122223333"
REGIONS = ["us-east-1", "us-west-2", "eu-west-1"]
SERVICES: dict[str, list[str]] = {
    "s3": ["GetObject", "PutObject", "DeleteObject", "ListBucket", "GetBucketPolicy"],
    "kms": ["Decrypt", "Encrypt", "GenerateDataKey", "DescribeKey", "CreateGrant"],
    "secretsmanager": ["GetSecretValue", "PutSecretValue", "DescribeSecret", "RotateSecret"],
    "ssm": ["GetParameter", "GetParameters", "PutParameter", "DeleteParameter"],
    "ec2": ["RunInstances", "DescribeInstances", "TerminateInstances", "CreateTags"],
    "iam": ["GetUser", "CreateAccessKey", "ListUsers", "PassRole"],
    "dynamodb": ["GetItem", "PutItem", "Query", "UpdateItem"],
    "sqs": ["SendMessage", "ReceiveMessage", "DeleteMessage"],
    "sns": ["Publish", "Subscribe"],
    "logs": ["PutLogEvents", "CreateLogStream"],
    "lambda": ["InvokeFunction", "UpdateFunctionCode"],
    "cloudwatch": ["PutMetricData", "GetMetricData"],
}
TEAMS = ["blue", "red", "green", "gold"]


def resource_for(rng: random.Random, service: str, name: str) -> str:
    region = rng.choice(REGIONS)
    return {
        "s3": f"arn:aws:s3:::{name}-bucket/reports/{rng.randint(1, 99)}.csv",
        "kms": f"arn:aws:kms:{region}:{ACCT}:key/{name}-{rng.randint(1, 9)}",
        "secretsmanager": f"arn:aws:secretsmanager:{region}:{ACCT}:secret:{name}/db-AbCdEf",
        "ssm": f"arn:aws:ssm:{region}:{ACCT}:parameter/{name}/config",
        "ec2": f"arn:aws:ec2:{region}:{ACCT}:instance/i-{rng.randint(10**6, 10**7)}",
        "iam": f"arn:aws:iam::{ACCT}:user/{name}",
        "dynamodb": f"arn:aws:dynamodb:{region}:{ACCT}:table/{name}",
        "sqs": f"arn:aws:sqs:{region}:{ACCT}:{name}-queue",
        "sns": f"arn:aws:sns:{region}:{ACCT}:{name}-topic",
        "logs": f"arn:aws:logs:{region}:{ACCT}:log-group:/app/{name}:log-stream:x",
        "lambda": f"arn:aws:lambda:{region}:{ACCT}:function:{name}",
        "cloudwatch": "*",
    }[service]


def pattern_for(rng: random.Random, service: str, name: str, *, specific: bool = False) -> str:
    """A Resource pattern; ``specific`` picks the one that names the app."""
    pick = (lambda options: options[0]) if specific else rng.choice
    return pick(
        {
            "s3": [f"arn:aws:s3:::{name}-bucket/*", "arn:aws:s3:::*-bucket/reports/*"],
            "kms": [f"arn:aws:kms:*:{ACCT}:key/{name}-*", f"arn:aws:kms:us-east-1:{ACCT}:key/*"],
            "secretsmanager": [f"arn:aws:secretsmanager:*:{ACCT}:secret:{name}/*"],
            "ssm": [f"arn:aws:ssm:*:{ACCT}:parameter/{name}/*", "arn:aws:ssm:*:*:parameter/*"],
            "ec2": [f"arn:aws:ec2:*:{ACCT}:instance/*", "*"],
            "iam": [f"arn:aws:iam::{ACCT}:user/${{aws:username}}", f"arn:aws:iam::{ACCT}:user/*"],
            "dynamodb": [f"arn:aws:dynamodb:*:{ACCT}:table/{name}", "arn:aws:dynamodb:*:*:table/*"],
            "sqs": [f"arn:aws:sqs:*:{ACCT}:{name}-*"],
            "sns": [f"arn:aws:sns:*:{ACCT}:*"],
            "logs": [f"arn:aws:logs:*:{ACCT}:log-group:/app/{name}:*"],
            "lambda": [f"arn:aws:lambda:*:{ACCT}:function:{name}*"],
            "cloudwatch": ["*"],
        }[service]
    )


def condition_for(rng: random.Random) -> dict[str, Any] | None:
    choice = rng.randrange(9)
    return [
        None,
        None,
        {"StringEquals": {"aws:PrincipalTag/team": rng.choice(TEAMS)}},
        {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"]}},
        {"Bool": {"aws:SecureTransport": "true"}},
        {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
        {"StringEqualsIfExists": {"aws:RequestedRegion": rng.sample(REGIONS, 2)}},
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env", "owner"]}},
        {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}},
    ][choice]


def statement(rng: random.Random, index: int) -> dict[str, Any]:
    service = rng.choice(list(SERVICES))
    name = f"app{rng.randrange(20)}"
    kind = rng.randrange(10)
    if kind < 2:
        action: Any = f"{service}:*"
    elif kind < 4:
        action = f"{service}:{rng.choice(['Get', 'Describe', 'List', 'Put'])}*"
    else:
        action = [f"{service}:{a}" for a in rng.sample(SERVICES[service], 2)]
    body: dict[str, Any] = {
        "Sid": f"S{index}",
        "Effect": "Allow",
        "Action": action,
        "Resource": [pattern_for(rng, service, name) for _ in range(rng.randint(1, 3))],
    }
    target = pattern_for(rng, service, name, specific=True)
    if rng.random() < 0.05 and target != "*":  # guard rails: targeted denies on one app
        body["Effect"] = "Deny"
        body["Action"] = [f"{service}:{a}" for a in rng.sample(SERVICES[service], 2)]
        body["Resource"] = target
    condition = condition_for(rng)
    if condition:
        body["Condition"] = condition
    return body


def build_account(rng: random.Random, policies: int, statements: int) -> list[str]:
    texts = []
    for p in range(policies):
        body = [statement(rng, p * statements + s) for s in range(statements)]
        texts.append(json.dumps({"Version": "2012-10-17", "Statement": body}))
    return texts


BOUNDARY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"},
            {"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::app0-*"},
        ],
    }
)
KEY_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "Allow use of the key via SSM",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCT}:role/app"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*",
                "Condition": {"StringLike": {"kms:ViaService": "ssm.*.amazonaws.com"}},
            },
        ],
    }
)


def requests(rng: random.Random, count: int) -> list[tuple[RequestFacts, bool]]:
    out = []
    for _ in range(count):
        service = rng.choice(list(SERVICES))
        action = f"{service}:{rng.choice(SERVICES[service])}"
        name = f"app{rng.randrange(24)}"
        team = rng.choice(TEAMS)
        context = {
            "aws:SourceIp": rng.choice(["10.1.2.3", "192.0.2.7", "203.0.113.9"]),
            "aws:SecureTransport": rng.random() < 0.9,
            "aws:CurrentTime": "2025-03-01T12:00:00Z",
            "aws:RequestedRegion": rng.choice(REGIONS),
            "aws:username": name,
            "aws:PrincipalTag/team": team,
            "aws:ResourceTag/team": rng.choice(TEAMS),
            "aws:TagKeys": rng.choice([["team"], ["team", "env"], ["cost"]]),
        }
        if service == "kms" and rng.random() < 0.5:
            context["kms:ViaService"] = "ssm.us-east-1.amazonaws.com"
        facts = RequestFacts(
            action,
            (resource_for(rng, service, name),),
            f"arn:aws:sts::{ACCT}:assumed-role/app/{name}",
            ACCT,
            context,
            role_arn=f"arn:aws:iam::{ACCT}:role/app",
        )
        out.append((facts, service == "kms"))
    return out


def decide(
    item: tuple[RequestFacts, bool], identity: list[Policy], boundary: Policy, key_policy: Policy
) -> Any:
    facts, kms = item
    return evaluate(
        facts,
        identity=identity,
        boundary=(boundary,),
        resource=key_policy if kms else None,
        resource_policy_required=kms,
    )


def run(
    label: str,
    work: list[tuple[RequestFacts, bool]],
    identity: list[Policy],
    boundary: Policy,
    key_policy: Policy,
    n: int,
) -> tuple[float, dict[str, int]]:
    """Time n evaluations twice: one throughput loop, one loop timing each call."""

    def one(item: tuple[RequestFacts, bool]) -> Any:
        return decide(item, identity, boundary, key_policy)

    # Warm-up: fills the per-action statement index and the regex caches.
    for item in work[: min(len(work), 2000)]:
        one(item)
    outcomes: dict[str, int] = {}
    start = time.perf_counter()
    for i in range(n):
        result = one(work[i % len(work)])
        name = result.decision.name
        outcomes[name] = outcomes.get(name, 0) + 1
    elapsed = time.perf_counter() - start
    rate = n / elapsed

    samples = []
    clock = time.perf_counter_ns
    for i in range(min(n, 50_000)):
        item = work[i % len(work)]
        t0 = clock()
        one(item)
        samples.append(clock() - t0)
    samples.sort()
    p50 = samples[len(samples) // 2] / 1000
    p99 = samples[int(len(samples) * 0.99)] / 1000
    mean = statistics.fmean(samples) / 1000
    print(
        f"{label:<28} {rate:>12,.0f} eval/s   p50 {p50:7.1f} µs   p99 {p99:7.1f} µs"
        f"   mean {mean:7.1f} µs"
    )
    return rate, outcomes


def naive(policies: Any, action: str) -> Any:
    """The engine without its statement index: every statement is checked every time."""
    statements = [s for p in policies for s in p.statements if s.matches_action(action)]
    return (
        tuple(s for s in statements if s.deny),
        tuple(s for s in statements if not s.deny),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200_000, help="evaluations per engine")
    parser.add_argument("--policies", type=int, default=50)
    parser.add_argument("--statements", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    texts = build_account(rng, args.policies, args.statements)
    start = time.perf_counter()
    identity = [parse_policy(t, max_length=None, managed=True) for t in texts]
    parse_ms = (time.perf_counter() - start) * 1000
    boundary = parse_policy(BOUNDARY, kind="boundary")
    key_policy = parse_policy(KEY_POLICY, kind="resource")
    start = time.perf_counter()
    for t in texts:
        parse_policy(t, managed=True)
    cached_us = (time.perf_counter() - start) * 1e6 / len(texts)
    work = requests(rng, 20_000)

    total = sum(len(p.statements) for p in identity)
    print(
        f"account: {len(identity)} identity policies, {total} statements, 1 boundary, "
        f"1 key policy; {len(work)} distinct requests"
    )
    print(
        f"parse + compile: {parse_ms:.1f} ms for all policies; cached re-parse {cached_us:.2f} µs"
    )

    engine_rate, outcomes = run("engine (indexed)", work, identity, boundary, key_policy, args.n)
    print("  decisions:", ", ".join(f"{k.lower()} {v:,}" for k, v in sorted(outcomes.items())))

    sample = work[:2000]
    fast = [decide(item, identity, boundary, key_policy).decision for item in sample]
    original = engine._statements
    engine._statements = naive
    try:
        slow = [decide(item, identity, boundary, key_policy).decision for item in sample]
        naive_n = max(args.n // 10, 1000)
        naive_rate, _ = run(
            "naive baseline (full scan)", work, identity, boundary, key_policy, naive_n
        )
    finally:
        engine._statements = original
    print(f"engine / naive: {engine_rate / naive_rate:.1f}x")
    if fast != slow:
        print("MISMATCH: the engine and the naive baseline disagree")
        return 1
    print(f"engine and naive baseline agree on {len(sample):,} sampled requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
