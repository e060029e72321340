"""Plumbing shared by the `bastion edge ...` and `bastion proxy ...` command groups.

The options every sub-command takes, opening (and migrating) the store, running a
server's coroutine until SIGINT/SIGTERM, and the standalone ``python -m`` entry point.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

from bastion.config import Settings, load_settings


def add_common_arguments(
    parser: argparse.ArgumentParser, *, data_dir: str, account_id: str
) -> None:
    """The options every edge/proxy sub-command takes (help texts vary per group)."""
    parser.add_argument("--data-dir", help=data_dir)
    parser.add_argument("--database-url", help="SQLAlchemy URL; default SQLite in the data dir")
    parser.add_argument("--log-level", help="debug, info, warning, error")
    parser.add_argument("--account-id", help=account_id)


def open_store(settings: Settings) -> Any:
    """The store in the settings' data dir, migrated to the latest schema."""
    from bastion.storage import Store

    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = Store(settings.effective_database_url)
    store.migrate()
    return store


def run_until_signalled(server: Any, store: Any, announce: Callable[[], None]) -> int:
    """Start `server`, call `announce`, wait for SIGINT/SIGTERM, stop; dispose `store`."""
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - Windows
        runner = asyncio.run

    async def main() -> None:
        await server.start()
        announce()
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


def standalone_main(
    register: Callable[[Any], None],
    handle: Callable[[argparse.Namespace, Settings], int],
    argv: list[str] | None,
) -> int:
    """A ``python -m`` entry point: parse `argv`, load settings, set up logging, handle."""
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
    setup_logging(settings)
    return handle(args, settings)


def setup_logging(settings: Settings, process: str = "") -> None:
    """Log lines at the configured level; `process` tags a worker's lines (e.g. "w1")."""
    name = f"%(name)s[{process}]" if process else "%(name)s"
    logging.basicConfig(
        level=settings.log_level.upper(),
        format=f"%(asctime)s %(levelname)s {name}: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
