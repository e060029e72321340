"""The driver shared by the per-operation benchmarks (KMS, Parameter Store/Secrets).

Each script supplies its operations, a `bench_target(name, ops, args)` that measures
them on one target, and a title; this module parses the common flags, runs every
target, prints the tables and ratios, and writes `results/<name>.json`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import loadgen, targets
from benchmarks.bench_kms import print_tables
from benchmarks.bench_sts import environment

RESULTS_DIR = Path(__file__).resolve().parent / "results"

BenchTarget = Callable[[str, list[str], argparse.Namespace], dict[str, dict[str, Any]]]


def run_matrix(
    argv: list[str] | None,
    *,
    description: str,
    name: str,
    benchmark: str,
    all_targets: Sequence[str],
    all_ops: Sequence[str],
    bench_target: BenchTarget,
    title: Callable[[list[str], argparse.Namespace], str],
    extra_params: dict[str, Any] | None = None,
) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per op")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--concurrency", type=int, default=16, help="connections in total")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes for bastion (and hello)"
    )
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--targets", default=",".join(all_targets), help="comma-separated")
    parser.add_argument("--ops", default=",".join(all_ops), help="comma-separated")
    parser.add_argument("--name", default=name, help="results file: results/<name>.json")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    if set(names) - set(all_targets) or set(ops) - set(all_ops):
        parser.error(f"targets: {', '.join(all_targets)}; ops: {', '.join(all_ops)}")
    print(title(ops, args), flush=True)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    failed: dict[str, str] = {}
    for target in names:
        print(f"  {target} ...", flush=True)
        try:
            results[target] = bench_target(target, ops, args)
        except (targets.TargetError, loadgen.LoadError, OSError, AssertionError) as exc:
            failed[target] = str(exc)
            print(f"  {target} failed: {exc}", file=sys.stderr, flush=True)
    verdicts = print_tables(results, ops)
    for target, error in failed.items():
        print(f"{target} FAILED: {error.splitlines()[0] if error else ''}")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"{args.name}.json"
    document = {
        "benchmark": benchmark,
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "params": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "concurrency": args.concurrency,
            "processes": args.processes,
            "workers": args.workers,
            "targets": names,
            "ops": ops,
            **(extra_params or {}),
        },
        "environment": environment(),
        "results": results,
        "failed": failed,
        "verdicts": verdicts,
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results written to {out.relative_to(RESULTS_DIR.parent.parent)}")
    return 1 if failed else 0
