"""`bastion` command line: serve, init, rotate-root-key."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from bastion import __version__
from bastion.auth.bootstrap import PROFILE, credentials_text
from bastion.barrier import BarrierError, seal_from_settings
from bastion.config import Settings, load_settings
from bastion.gateway import cli_common, edge_cli, proxy_cli


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="where the database, root key and logs live")
    parser.add_argument("--database-url", help="SQLAlchemy URL; default SQLite in the data dir")
    parser.add_argument("--log-level", help="debug, info, warning, error")
    parser.add_argument("--account-id", help="the 12-digit account id (default 000000000000)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bastion", description=__doc__)
    parser.add_argument("--version", action="version", version=f"bastion {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the AWS-compatible endpoint")
    _common(serve)
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default 4566)")
    serve.add_argument(
        "--workers", type=int, help="processes serving the port, one per core (default 1)"
    )
    serve.add_argument(
        "--dev",
        action="store_true",
        default=None,
        help="UNSAFE: accept any unregistered access key (e.g. test/test) unverified,"
        " and enable the state reset and snapshot endpoints",
    )
    init = sub.add_parser("init", help="create the account, its administrator and root key")
    _common(init)
    rotate = sub.add_parser("rotate-root-key", help="re-wrap the keyring under a new root key")
    _common(rotate)
    proxy_cli.register(sub)
    edge_cli.register(sub)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "data_dir": args.data_dir,
        "database_url": args.database_url,
        "log_level": args.log_level,
        "account_id": args.account_id,
    }
    for name in ("host", "port", "dev"):
        overrides[name] = getattr(args, name, None)
    if args.command == "serve":  # `edge serve --workers` counts edge processes instead
        overrides["workers"] = args.workers
    return load_settings(overrides)


def _connection_help(settings: Settings) -> str:
    endpoint = f"http://{settings.host}:{settings.port}"
    creds = settings.credentials_file
    return "\n".join(
        [
            f"  credentials: {creds} (profile '{PROFILE}')",
            "  AWS CLI:",
            f"    export AWS_SHARED_CREDENTIALS_FILE={creds} AWS_PROFILE={PROFILE}",
            f"    aws --endpoint-url {endpoint} sts get-caller-identity",
            "  boto3:",
            f"    boto3.Session(profile_name='{PROFILE}')"
            f".client('sts', endpoint_url='{endpoint}').get_caller_identity()",
        ]
    )


def cmd_serve(settings: Settings) -> int:
    from bastion.clock import SystemClock
    from bastion.gateway.runtime import build_runtime, prepare_storage
    from bastion.gateway.server import serve
    from bastion.gateway.workers import serve_workers

    if settings.workers > 1:
        settings = prepare_storage(settings, SystemClock())[0]
        _banner(settings)
        return serve_workers(settings)
    runtime = build_runtime(settings)
    _banner(runtime.settings)
    serve(runtime)
    return 0


def _banner(settings: Settings) -> None:
    where = (
        settings.effective_database_url.split("@")[-1]
        if settings.database_url
        else str(settings.data_dir / "bastion.db")
    )
    lines = [
        f"Bastion {__version__} on http://{settings.host}:{settings.port}",
        f"  data: {settings.data_dir}  database: {where}",
        f"  account: {settings.account_id}  region (default): {settings.region}",
        _connection_help(settings),
    ]
    if settings.dev:
        lines.append(
            "  WARNING: --dev mode is UNSAFE: any unregistered access key (e.g. test/test) is"
            " accepted WITHOUT signature checks as the account root, and POST /_bastion/reset"
            " wipes state. Never expose this server."
        )
    if settings.workers > 1:
        lines.insert(1, f"  workers: {settings.workers} processes")
    print("\n".join(lines), flush=True)


def cmd_init(settings: Settings) -> int:
    from bastion.clock import SystemClock
    from bastion.gateway.runtime import prepare_storage

    settings, result = prepare_storage(settings, SystemClock())
    if result.secret_access_key:
        print(f"Initialised account {result.account_id}; administrator {result.user_arn}")
        print(f"Credentials written to {settings.credentials_file} (mode 0600):\n")
        print(credentials_text(result.access_key_id, result.secret_access_key, settings.region))
    else:
        print(f"Already initialised: account {result.account_id}, {result.user_arn}")
    print(_connection_help(settings))
    return 0


def cmd_rotate_root_key(settings: Settings) -> int:
    from bastion.barrier import Barrier
    from bastion.storage import Store

    new_passphrase = ""
    if settings.root_passphrase:
        new_passphrase = os.environ.get("BASTION_NEW_ROOT_PASSPHRASE", "")
        if not new_passphrase and sys.stdin.isatty():
            new_passphrase = getpass.getpass("New root passphrase: ")
    store = Store(settings.effective_database_url)
    try:
        barrier = Barrier(store, seal_from_settings(settings, new_passphrase))
        barrier.open()
        term = barrier.rotate_root_key()
    finally:
        store.dispose()
    print(f"Root key rotated; keyring re-wrapped; new data key term {term}.")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ValueError as exc:
        print(f"bastion: {exc}", file=sys.stderr)
        return 2
    cli_common.setup_logging(settings)
    commands = {"serve": cmd_serve, "init": cmd_init, "rotate-root-key": cmd_rotate_root_key}
    commands["proxy"] = lambda s: proxy_cli.handle(args, s)
    commands["edge"] = lambda s: edge_cli.handle(args, s)
    try:
        return commands[args.command](settings)
    except BarrierError as exc:
        print(f"bastion: cannot open the barrier: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
