"""`bastion edge ...`: run the edge listeners (load balancers + WAF) on their own.

    bastion edge serve [--workers N]     listeners from storage and [[edge.listeners]]
    bastion edge list                    listeners, targets and web ACLs as stored
    bastion edge reload                  make running edges reload now

Listeners are created with the ELBv2 API (CreateLoadBalancer, CreateTargetGroup,
RegisterTargets, CreateListener) or declared in the config file; web ACLs are associated
with the WAFv2 API. With `--workers N`, N processes share each port (SO_REUSEPORT); rate
limits are then per process unless BASTION_REDIS_URL is set. Set
BASTION_EDGE_IN_SERVE=0 on `bastion serve` when separate edge workers own the ports.
Also runnable as ``python -m bastion.gateway.edge_cli edge ...``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from typing import Any

from bastion.config import Settings
from bastion.gateway import cli_common


def _common(parser: argparse.ArgumentParser) -> None:
    cli_common.add_common_arguments(
        parser,
        data_dir="where the database and the WAF logs live",
        account_id="the 12-digit account id",
    )


def register(subparsers: Any) -> None:
    """Add the `edge` command group to `bastion`'s sub-command parsers."""
    edge = subparsers.add_parser("edge", help="the edge: load balancer listeners with WAF")
    groups = edge.add_subparsers(dest="edge_command", required=True)
    serve = groups.add_parser("serve", help="run the edge listeners")
    _common(serve)
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the ports")
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    _common(groups.add_parser("list", help="show listeners, targets and web ACLs"))
    _common(groups.add_parser("reload", help="make running edges reload now"))


def handle(args: argparse.Namespace, settings: Settings) -> int:
    """Run one `bastion edge ...` command; the exit status."""
    command = args.edge_command
    if command == "serve":
        if args.workers > 1 and not args.worker:
            return _supervise(args, settings)
        return serve(args, settings)
    store = cli_common.open_store(settings)
    try:
        from bastion.dataplane.edge import repo

        if command == "list":
            snapshot = repo.load_snapshot(store)
            for spec in snapshot.listeners:
                acl = snapshot.associations.get(spec.load_balancer_arn, "-")
                targets = ",".join(f"{h}:{p}" for h, p in spec.action.targets) or spec.action.kind
                host = spec.host or "(default)"
                print(f"{spec.protocol} {host}:{spec.port}\t{spec.load_balancer_arn}")
                print(f"    targets: {targets}\n    web ACL: {acl}")
        elif command == "reload":
            from bastion.storage.elbv2_tables import bump_elbv2_version

            with store.write() as conn:
                version = bump_elbv2_version(conn)
            print(f"edge configuration version {version}")
    finally:
        store.dispose()
    return 0


def _supervise(args: argparse.Namespace, settings: Settings) -> int:
    """Start `--workers` edge processes on the same ports; stop them on SIGINT/SIGTERM."""
    from bastion.clock import SystemClock
    from bastion.dataplane.edge import load_edge_config, sync_static_listeners

    store = cli_common.open_store(settings)
    config = load_edge_config()
    if config.listeners:
        sync_static_listeners(
            store,
            config,
            settings.account_id or "000000000000",
            settings.region,
            SystemClock().now(),
        )
    store.dispose()
    env = {
        **os.environ,
        "BASTION_DATA_DIR": str(settings.data_dir),
        "BASTION_DATABASE_URL": settings.database_url,
    }
    if settings.account_id:
        env["BASTION_ACCOUNT_ID"] = settings.account_id
    cmd = [sys.executable, "-m", "bastion.gateway.edge_cli", "edge", "serve", "--worker"]
    procs = [subprocess.Popen(cmd, env=env) for _ in range(args.workers)]
    print(f"Bastion edge: {args.workers} workers (pids {[p.pid for p in procs]})", flush=True)

    def stop(*_: Any) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    for proc in procs:
        status = max(status, proc.wait())
    return status


def serve(args: argparse.Namespace, settings: Settings) -> int:
    from bastion.clock import SystemClock
    from bastion.dataplane.edge import build_server, load_edge_config

    config = load_edge_config()
    store = cli_common.open_store(settings)
    clock = SystemClock()
    worker = bool(getattr(args, "worker", False))
    server = build_server(settings, store, clock, config, reuse_port=worker, sync=not worker)

    def announce() -> None:
        names = (
            ", ".join(f"{lis.spec.host}:{lis.port}" for lis in server.listeners.values())
            or "none yet"
        )
        print(f"Bastion edge (pid {os.getpid()}) listening on {names}", flush=True)

    return cli_common.run_until_signalled(server, store, announce)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: ``python -m bastion.gateway.edge_cli edge ...``."""
    return cli_common.standalone_main(register, handle, argv)


if __name__ == "__main__":
    sys.exit(main())
