"""Development-mode reset speed: median time of POST /_bastion/reset with 100 resources.

Each round loads a snapshot holding 100 resources (IAM users and their access keys, KMS
keys, secrets and parameters, a fifth each), checks they exist, then times the reset.
Prints the median and p95 of the server-side reset time and of the client's round trip.

    python benchmarks/bench_reset.py [--rounds 100] [--resources 100]
"""

from __future__ import annotations

import argparse
import statistics
import time

from bastion.testing import running


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--resources", type=int, default=100)
    args = parser.parse_args()
    with running() as bastion:
        iam, kms = bastion.client("iam"), bastion.client("kms")
        secrets, ssm = bastion.client("secretsmanager"), bastion.client("ssm")
        users = args.resources // 5
        for i in range(users):
            iam.create_user(UserName=f"bench-user-{i}")
            iam.create_access_key(UserName=f"bench-user-{i}")
            kms.create_key(Description=f"bench key {i}")
            secrets.create_secret(Name=f"bench/secret/{i}", SecretString=f"value-{i}")
            ssm.put_parameter(Name=f"/bench/param/{i}", Value=f"v{i}", Type="String")
        bastion.save_state("bench-reset")
        server_ms, round_trip_ms = [], []
        for _ in range(args.rounds):
            bastion.load_state("bench-reset")
            present = len(iam.list_users(MaxItems=1000)["Users"]) - 1
            assert present == users, present
            started = time.perf_counter()
            result = bastion.reset()
            round_trip_ms.append((time.perf_counter() - started) * 1000)
            server_ms.append(result["milliseconds"])
            assert len(iam.list_users()["Users"]) == 1
            assert secrets.list_secrets()["SecretList"] == []

    def p95(values: list[float]) -> float:
        return sorted(values)[int(len(values) * 0.95) - 1]

    print(
        f"reset with {users} users, {users} access keys, {users} KMS keys, {users} secrets"
        f" and {users} parameters present, {args.rounds} rounds"
    )
    print(
        f"  server-side: median {statistics.median(server_ms):.2f} ms, p95 {p95(server_ms):.2f} ms"
    )
    print(
        f"  round trip:  median {statistics.median(round_trip_ms):.2f} ms,"
        f" p95 {p95(round_trip_ms):.2f} ms (target: well under 100 ms)"
    )


if __name__ == "__main__":
    main()
