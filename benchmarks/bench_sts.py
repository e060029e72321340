"""STS GetCallerIdentity, SigV4-signed: Bastion vs moto vs the bare-uvicorn ceiling.

    python benchmarks/bench_sts.py [--duration 10] [--concurrency 16] [--processes 4]
                                   [--warmup 2] [--targets bastion,moto,hello]

Targets run one at a time under the same load; each is checked first (one response
must be 200 and contain ``<Arn>``). Prints a table and the ratios, and writes
``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import loadgen, targets

NAME = "sts_get_caller_identity"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
ALL_TARGETS = ("bastion", "moto", "hello")
# (numerator, denominator, goal, format): Bastion must beat moto 10x and reach half the ceiling
RATIOS = (("bastion", "moto", 10.0, "{:.1f}x"), ("bastion", "hello", 0.5, "{:.2f}"))


def bench_target(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Start target ``name``, check that it answers correctly, load it, stop it."""
    with targets.running(name, args.workers) as target:
        factory = target.sts_request()
        loadgen.check_target(target.host, target.port, factory(), target.expect)
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
        try:  # does the target still serve correctly after the load?
            loadgen.check_target(target.host, target.port, factory(), target.expect)
            stats["healthy_after"] = True
        except (loadgen.LoadError, OSError) as exc:
            stats["healthy_after"] = False
            stats["after_error"] = str(exc)
        stats["command"] = [Path(target.command[0]).name, *target.command[1:]]
        return stats


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(results: dict[str, dict[str, Any]], failed: dict[str, str]) -> None:
    """Print one line per target, then the ratio lines."""
    print(f"{'target':<9}{'ops/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"{'client CPU':>12}{'server CPU':>12}{'other CPU':>11}")  # fmt: skip
    for name, s in results.items():
        print(
            f"{name:<9}{s['ops_per_s']:>10.1f}{_fmt(s['p50_ms'], '.3f'):>9}"
            f"{_fmt(s['p99_ms'], '.3f'):>9}{s['errors']:>8}"
            f"{s['client_cpu_share']:>12.2f}{_fmt(s['server_cpu_share'], '.2f'):>12}"
            f"{_fmt(_other_cpu(s), '.2f'):>11}"
        )
    for name, error in failed.items():
        print(f"{name:<9}  FAILED: {error.splitlines()[0] if error else ''}")
    print("(CPU = CPU seconds per wall second of the measured window, 1.00 = one core;"
          " other = the rest of the machine.)")  # fmt: skip
    for name, s in results.items():
        if s["non_2xx"]:
            print(f"({name} answered statuses {s['statuses']}.)")
        if not s.get("healthy_after", True):
            print(f"({name} failed the check after the run: {s['after_error'][:110]})")
    for name, s in results.items():
        if s["reconnects"] > s["requests"] // 2:
            print(f"({name} closed connections ({s['reconnects']} reconnects, warm-up included);"
                  " latency includes reconnecting.)")  # fmt: skip
    for num, den, goal, fmt in RATIOS:
        if num in results and den in results and results[den]["ops_per_s"]:
            ratio = results[num]["ops_per_s"] / results[den]["ops_per_s"]
            verdict = "met" if ratio >= goal else "NOT met"
            noisy = [n for n in (num, den) if results[n]["errors"]]
            caveat = f" (with errors from {', '.join(noisy)})" if noisy else ""
            print(f"{num}/{den} = {fmt.format(ratio)} (target >= {fmt.format(goal)}): "
                  f"{verdict}{caveat}")  # fmt: skip


def _other_cpu(stats: dict[str, Any]) -> float | None:
    """CPU used by the rest of the machine during the window (noise from outside)."""
    machine, server = stats.get("machine_cpu_share"), stats.get("server_cpu_share")
    if machine is None or server is None:
        return None
    return max(0.0, machine - server - stats["client_cpu_share"])


def compute_ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Throughput ratios between the targets measured in this run."""
    ratios = {}
    for num, den, goal, _ in RATIOS:
        if num in results and den in results and results[den]["ops_per_s"]:
            value = results[num]["ops_per_s"] / results[den]["ops_per_s"]
            ratios[f"{num}/{den}"] = {"value": round(value, 3), "goal": goal}
    return ratios


def environment() -> dict[str, Any]:
    """Versions and machine facts that make a result interpretable."""
    versions = {}
    for dist in ("bastion", "moto", "uvicorn", "uvloop", "httptools", "botocore"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=RESULTS_DIR.parent,
        check=False,
    ).stdout.strip()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "git_commit": commit or None,
        "versions": versions,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--concurrency", type=int, default=16, help="connections in total")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes for bastion (and hello)"
    )
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--targets", default=",".join(ALL_TARGETS), help="comma-separated")
    parser.add_argument("--name", default=NAME, help="results file: results/<name>.json")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    unknown = sorted(set(names) - set(ALL_TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}; choose from {', '.join(ALL_TARGETS)}")

    print(
        f"STS GetCallerIdentity (SigV4, pre-signed replay): {args.concurrency} keep-alive "
        f"connections over {args.processes} client processes, {args.warmup:g} s warm-up, "
        f"{args.duration:g} s measured; {os.cpu_count()} CPUs",
        flush=True,
    )
    results: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    for name in names:
        print(f"  {name} ...", flush=True)
        try:
            results[name] = bench_target(name, args)
        except (targets.TargetError, loadgen.LoadError, OSError) as exc:
            failed[name] = str(exc)
            print(f"  {name} failed: {exc}", file=sys.stderr, flush=True)
    print()
    print_table(results, failed)

    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"{args.name}.json"
    document = {
        "benchmark": "sts:GetCallerIdentity",
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "params": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "concurrency": args.concurrency,
            "processes": args.processes,
            "workers": args.workers,
            "targets": names,
        },
        "environment": environment(),
        "results": results,
        "failed": failed,
        "ratios": compute_ratios(results),
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results written to {out.relative_to(RESULTS_DIR.parent.parent)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
