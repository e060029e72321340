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
import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from typing import Any

from bastion.config import Settings, load_settings


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="where the database and the WAF logs live")
    parser.add_argument("--database-url", help="SQLAlchemy URL; default SQLite in the data dir")
    parser.add_argument("--log-level", help="debug, info, warning, error")
    parser.add_argument("--account-id", help="the 12-digit account id")


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


def _store(settings: Settings) -> Any:
    from bastion.storage import Store

    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = Store(settings.effective_database_url)
    store.migrate()
    return store


def handle(args: argparse.Namespace, settings: Settings) -> int:
    """Run one `bastion edge ...` command; the exit status."""
    command = args.edge_command
    if command == "serve":
        if args.workers > 1 and not args.worker:
            return _supervise(args, settings)
        return serve(args, settings)
    store = _store(settings)
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

    store = _store(settings)
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
    store = _store(settings)
    clock = SystemClock()
    worker = bool(getattr(args, "worker", False))
    server = build_server(settings, store, clock, config, reuse_port=worker, sync=not worker)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - Windows
        runner = asyncio.run

    async def main() -> None:
        await server.start()
        names = (
            ", ".join(f"{lis.spec.host}:{lis.port}" for lis in server.listeners.values())
            or "none yet"
        )
        print(f"Bastion edge (pid {os.getpid()}) listening on {names}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop()

    try:
        runner(main())
    finally:
        store.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: ``python -m bastion.gateway.edge_cli edge ...``."""
    parser = argparse.ArgumentParser(prog="bastion")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    overrides = {
        "data_dir": args.data_dir,
        "database_url": args.database_url,
        "log_level": args.log_level,
        "account_id": args.account_id,
    }
    try:
        settings = load_settings(overrides)
    except ValueError as exc:
        print(f"bastion: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return handle(args, settings)


if __name__ == "__main__":
    sys.exit(main())
