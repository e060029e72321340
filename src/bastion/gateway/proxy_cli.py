"""`bastion proxy ...`: run the forward proxy and manage its users, rules and block lists.

    bastion proxy serve [--host H] [--port P]
    bastion proxy user add NAME [--password-stdin | --password P] [--replace]
    bastion proxy user remove NAME | list
    bastion proxy rule add NAME --action allow|deny [--priority N] [--domain D,...
                       [--match exact|suffix|wildcard|regex]] [--cidr NET,...]
                       [--ports 80,443,8000-8100] [--methods GET,HEAD] [--path REGEX]
                       [--source NET,...] [--users U,...]
    bastion proxy rule remove NAME|ID | list
    bastion proxy list load NAME FILE [--kind domain|ip] | show [NAME] | remove NAME
    bastion proxy reload

Changes go to storage and bump a version row; running proxies pick them up within about
a second without dropping connections. Also runnable as
``python -m bastion.gateway.proxy_cli proxy ...``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from bastion.config import Settings
from bastion.gateway import cli_common


def _common(parser: argparse.ArgumentParser) -> None:
    cli_common.add_common_arguments(
        parser,
        data_dir="where the database and the proxy's logs live",
        account_id="the 12-digit account id (for the logs)",
    )


def register(subparsers: Any) -> None:
    """Add the `proxy` command group to `bastion`'s sub-command parsers."""
    proxy = subparsers.add_parser(
        "proxy", help="the forward proxy: serve; manage users, rules and block lists"
    )
    groups = proxy.add_subparsers(dest="proxy_command", required=True)

    serve = groups.add_parser("serve", help="run the forward proxy")
    _common(serve)
    serve.add_argument("--host", dest="proxy_host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", dest="proxy_port", type=int, help="listen port (default 3128)")
    serve.add_argument(
        "--no-auth", dest="proxy_no_auth", action="store_true", help="UNSAFE: no credentials"
    )

    user = groups.add_parser("user", help="proxy users (Basic credentials)")
    users = user.add_subparsers(dest="proxy_action", required=True)
    add = users.add_parser("add", help="add a user (Argon2id password hash)")
    _common(add)
    add.add_argument("name")
    add.add_argument("--password", help="the password (prefer --password-stdin)")
    add.add_argument("--password-stdin", action="store_true", help="read the password on stdin")
    add.add_argument("--replace", action="store_true", help="change an existing user's password")
    remove = users.add_parser("remove", help="remove a user")
    _common(remove)
    remove.add_argument("name")
    _common(users.add_parser("list", help="list users"))

    rule = groups.add_parser("rule", help="ordered allow/deny rules")
    rules = rule.add_subparsers(dest="proxy_action", required=True)
    radd = rules.add_parser("add", help="add a rule (all given conditions must hold)")
    _common(radd)
    radd.add_argument("name")
    radd.add_argument("--action", required=True, choices=("allow", "deny"))
    radd.add_argument("--priority", type=int, default=100, help="lower runs first (100)")
    radd.add_argument("--domain", default="", help="comma-separated destination names")
    radd.add_argument(
        "--match",
        default="suffix",
        choices=("exact", "suffix", "wildcard", "regex"),
        help="how --domain matches (default suffix: the name and its subdomains)",
    )
    radd.add_argument("--cidr", default="", help="destination addresses/networks (after DNS)")
    radd.add_argument("--ports", default="", help="destination ports: 80,443,8000-8100")
    radd.add_argument("--methods", default="", help="HTTP methods (CONNECT for tunnels)")
    radd.add_argument("--path", default="", help="regex searched in the URL path (plain HTTP)")
    radd.add_argument("--source", default="", help="client addresses/networks")
    radd.add_argument("--users", default="", help="proxy user names")
    rremove = rules.add_parser("remove", help="remove a rule by name or id")
    _common(rremove)
    rremove.add_argument("name")
    _common(rules.add_parser("list", help="list rules in evaluation order"))

    lst = groups.add_parser("list", help="block lists of domains or addresses")
    lists = lst.add_subparsers(dest="proxy_action", required=True)
    load = lists.add_parser("load", help="load (or re-load) a list from a file")
    _common(load)
    load.add_argument("name")
    load.add_argument("file", type=Path)
    load.add_argument("--kind", default="domain", choices=("domain", "ip"))
    show = lists.add_parser("show", help="show lists, or one list's entries")
    _common(show)
    show.add_argument("name", nargs="?")
    lremove = lists.add_parser("remove", help="remove a list")
    _common(lremove)
    lremove.add_argument("name")

    _common(groups.add_parser("reload", help="re-read list files; make proxies reload now"))


def handle(args: argparse.Namespace, settings: Settings) -> int:
    """Run one `bastion proxy ...` command; the exit status."""
    from bastion.dataplane.proxy import repo

    command = args.proxy_command
    if command == "serve":
        return serve(args, settings)
    store = cli_common.open_store(settings)
    from bastion.clock import SystemClock

    now = SystemClock().now()
    action = getattr(args, "proxy_action", "")
    try:
        if command == "user":
            if action == "add":
                password = args.password
                if args.password_stdin:
                    password = sys.stdin.readline().rstrip("\n")
                elif password is None:
                    password = getpass.getpass(f"Password for {args.name}: ")
                repo.add_user(store, args.name, password, now, replace=args.replace)
                print(f"user {args.name} {'updated' if args.replace else 'added'}")
            elif action == "remove":
                repo.remove_user(store, args.name)
                print(f"user {args.name} removed")
            else:
                for u in repo.list_users(store):
                    state = "enabled" if u["enabled"] else "disabled"
                    print(f"{u['name']}\t{state}\t{u['created_at']}")
        elif command == "rule":
            if action == "add":
                from bastion.rules.proxy_rules import RuleSpec

                spec = RuleSpec(
                    name=args.name,
                    action=args.action,
                    priority=args.priority,
                    domain=args.domain,
                    domain_match=args.match,
                    cidr=args.cidr,
                    ports=args.ports,
                    methods=args.methods,
                    path=args.path,
                    source=args.source,
                    users=args.users,
                )
                rule_id = repo.add_rule(store, spec, now)
                print(f"rule {args.name} added (id {rule_id}, priority {args.priority})")
            elif action == "remove":
                repo.remove_rule(store, args.name)
                print(f"rule {args.name} removed")
            else:
                for spec in repo.load_snapshot(store).rules:
                    print(_describe(spec))
        elif command == "list":
            if action == "load":
                count = repo.load_list(store, args.name, args.kind, args.file, now)
                print(f"list {args.name}: {count} {args.kind} entries from {args.file}")
            elif action == "remove":
                repo.remove_list(store, args.name)
                print(f"list {args.name} removed")
            else:
                for record in repo.load_snapshot(store).lists:
                    if args.name and record.name != args.name:
                        continue
                    print(
                        f"{record.name}\t{record.kind}\t{len(record.entries)} entries\t"
                        f"{record.source_path or '-'}"
                    )
                    if args.name:
                        for entry in record.entries:
                            print(f"  {entry}")
        elif command == "reload":
            refreshed = repo.refresh_lists_from_files(store, now)
            version = repo.bump_version(store)
            names = ", ".join(refreshed) or "none"
            print(f"configuration version {version}; lists re-read: {names}")
    except (repo.ProxyConfigError, ValueError, OSError) as exc:
        print(f"bastion proxy: {exc}", file=sys.stderr)
        return 2
    finally:
        store.dispose()
    return 0


def _describe(spec: Any) -> str:
    conditions = [
        f"{label}={value}"
        for label, value in (
            ("domain", f"{spec.domain} ({spec.domain_match})" if spec.domain else ""),
            ("cidr", spec.cidr),
            ("ports", spec.ports),
            ("methods", spec.methods),
            ("path", spec.path),
            ("source", spec.source),
            ("users", spec.users),
        )
        if value
    ]
    return f"{spec.priority:>5} #{spec.id} {spec.name}: {spec.action} " + (
        " ".join(conditions) or "(everything)"
    )


def serve(args: argparse.Namespace, settings: Settings) -> int:
    from bastion.clock import SystemClock
    from bastion.dataplane.proxy import build_server, load_proxy_config

    overrides: dict[str, Any] = {
        "host": getattr(args, "proxy_host", None),
        "port": getattr(args, "proxy_port", None),
    }
    if getattr(args, "proxy_no_auth", False):
        overrides["auth_required"] = False
    config = load_proxy_config(overrides)
    store = cli_common.open_store(settings)
    clock = SystemClock()
    iam = None
    if config.allow_iam_keys:
        from bastion.auth.credentials import CredentialStore
        from bastion.barrier import Barrier, seal_from_settings

        barrier = Barrier(store, seal_from_settings(settings))
        barrier.open()
        iam = CredentialStore(store, barrier, clock)
    server = build_server(settings, store, clock, config, iam=iam)

    def announce() -> None:
        print(
            f"Bastion forward proxy on {config.host}:{server.port}; "
            f"logs in {server.logs.directory}",
            flush=True,
        )

    return cli_common.run_until_signalled(server, store, announce)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: ``python -m bastion.gateway.proxy_cli proxy ...``."""
    return cli_common.standalone_main(register, handle, argv)


if __name__ == "__main__":
    sys.exit(main())
