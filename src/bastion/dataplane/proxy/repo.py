"""Reading and editing the proxy's users, rules and block lists in storage.

Blocking (SQLAlchemy); the server calls `load_snapshot`/`current_version` off the event
loop. Every mutation bumps the version row in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, delete, insert, select, update

from bastion.dataplane.proxy.auth import hash_password
from bastion.rules.proxy_rules import RuleSet, RuleSpec, parse_list
from bastion.storage import Store
from bastion.storage.proxy_tables import proxy_lists, proxy_meta, proxy_rules, proxy_users

VERSION = "version"


class ProxyConfigError(ValueError):
    """A management request that cannot be applied (unknown name, duplicate, bad rule)."""


@dataclass(frozen=True)
class ListRecord:
    name: str
    kind: str
    source_path: str
    entries: tuple[str, ...]
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Snapshot:
    version: int
    users: dict[str, tuple[str, bool]] = field(default_factory=dict)  # name -> (hash, enabled)
    rules: tuple[RuleSpec, ...] = ()
    lists: tuple[ListRecord, ...] = ()


def _bump(conn: Connection) -> int:
    current = conn.execute(select(proxy_meta.c.value).where(proxy_meta.c.name == VERSION)).scalar()
    if current is None:
        conn.execute(insert(proxy_meta).values(name=VERSION, value=1))
        return 1
    conn.execute(update(proxy_meta).where(proxy_meta.c.name == VERSION).values(value=current + 1))
    return int(current) + 1


def current_version(store: Store) -> int:
    with store.read() as conn:
        value = conn.execute(
            select(proxy_meta.c.value).where(proxy_meta.c.name == VERSION)
        ).scalar()
    return int(value or 0)


def bump_version(store: Store) -> int:
    """Force every running proxy to reload (and re-read list files)."""
    with store.write() as conn:
        return _bump(conn)


def load_snapshot(store: Store) -> Snapshot:
    with store.read() as conn:
        version = conn.execute(
            select(proxy_meta.c.value).where(proxy_meta.c.name == VERSION)
        ).scalar()
        users = {
            row.user_name: (row.password_hash, bool(row.enabled))
            for row in conn.execute(select(proxy_users))
        }
        rules = tuple(
            _spec(row._mapping)
            for row in conn.execute(
                select(proxy_rules).order_by(proxy_rules.c.priority, proxy_rules.c.rule_id)
            )
        )
        lists = tuple(
            ListRecord(
                row.name,
                row.kind,
                row.source_path,
                tuple(e for e in row.entries.split("\n") if e),
                row.updated_at,
            )
            for row in conn.execute(select(proxy_lists).order_by(proxy_lists.c.name))
        )
    return Snapshot(int(version or 0), users, rules, lists)


def _spec(row: object) -> RuleSpec:
    r = dict(row)  # type: ignore[call-overload]
    return RuleSpec(
        name=r["name"],
        action=r["action"],
        priority=r["priority"],
        id=r["rule_id"],
        domain=r["domain"],
        domain_match=r["domain_match"],
        cidr=r["cidr"],
        ports=r["ports"],
        methods=r["methods"],
        path=r["path"],
        source=r["source"],
        users=r["users"],
    )


# ------------------------------------------------------------------------------ users


def add_user(
    store: Store,
    name: str,
    password: str,
    now: datetime,
    *,
    replace: bool = False,
    memory_kib: int | None = None,
    iterations: int | None = None,
) -> None:
    if not name or ":" in name or len(name) > 128:
        raise ProxyConfigError("a user name is 1-128 characters without ':'")
    if not password:
        raise ProxyConfigError("the password must not be empty")
    encoded = hash_password(password, memory_kib=memory_kib, iterations=iterations)
    with store.write() as conn:
        exists = conn.execute(
            select(proxy_users.c.user_name).where(proxy_users.c.user_name == name)
        ).first()
        if exists and not replace:
            raise ProxyConfigError(f"user {name} already exists (use --replace)")
        if exists:
            conn.execute(
                update(proxy_users)
                .where(proxy_users.c.user_name == name)
                .values(password_hash=encoded, enabled=True)
            )
        else:
            conn.execute(
                insert(proxy_users).values(
                    user_name=name, password_hash=encoded, enabled=True, created_at=now
                )
            )
        _bump(conn)


def remove_user(store: Store, name: str) -> None:
    with store.write() as conn:
        gone = conn.execute(delete(proxy_users).where(proxy_users.c.user_name == name)).rowcount
        if not gone:
            raise ProxyConfigError(f"no such user: {name}")
        _bump(conn)


def list_users(store: Store) -> list[dict[str, object]]:
    with store.read() as conn:
        rows = conn.execute(
            select(
                proxy_users.c.user_name, proxy_users.c.enabled, proxy_users.c.created_at
            ).order_by(proxy_users.c.user_name)
        ).all()
    return [{"name": r[0], "enabled": bool(r[1]), "created_at": r[2]} for r in rows]


# ------------------------------------------------------------------------------ rules


def add_rule(store: Store, spec: RuleSpec, now: datetime) -> int:
    RuleSet([spec])  # compile it: a bad rule never reaches storage
    if not spec.name:
        raise ProxyConfigError("a rule needs a name")
    values = {
        "name": spec.name,
        "priority": spec.priority,
        "action": spec.action.lower(),
        "domain": spec.domain,
        "domain_match": spec.domain_match or "exact",
        "cidr": spec.cidr,
        "ports": spec.ports,
        "methods": spec.methods,
        "path": spec.path,
        "source": spec.source,
        "users": spec.users,
        "created_at": now,
    }
    with store.write() as conn:
        exists = conn.execute(
            select(proxy_rules.c.rule_id).where(proxy_rules.c.name == spec.name)
        ).first()
        if exists:
            raise ProxyConfigError(f"rule {spec.name} already exists")
        result = conn.execute(insert(proxy_rules).values(**values))
        _bump(conn)
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def remove_rule(store: Store, name_or_id: str) -> None:
    with store.write() as conn:
        where = proxy_rules.c.name == name_or_id
        if name_or_id.isdigit():
            where = where | (proxy_rules.c.rule_id == int(name_or_id))
        gone = conn.execute(delete(proxy_rules).where(where)).rowcount
        if not gone:
            raise ProxyConfigError(f"no such rule: {name_or_id}")
        _bump(conn)


# ------------------------------------------------------------------------------ lists


def read_list_file(path: Path, kind: str) -> list[str]:
    return parse_list(path.read_text(encoding="utf-8", errors="replace"), kind)


def load_list(store: Store, name: str, kind: str, path: Path, now: datetime) -> int:
    """Store the block list `name` from `path` (hosts-file or plain format)."""
    entries = read_list_file(path, kind)
    values = {
        "kind": kind,
        "source_path": str(path.resolve()),
        "entries": "\n".join(entries),
        "entry_count": len(entries),
        "updated_at": now,
    }
    with store.write() as conn:
        exists = conn.execute(select(proxy_lists.c.name).where(proxy_lists.c.name == name)).first()
        if exists:
            conn.execute(update(proxy_lists).where(proxy_lists.c.name == name).values(**values))
        else:
            conn.execute(insert(proxy_lists).values(name=name, **values))
        _bump(conn)
    return len(entries)


def remove_list(store: Store, name: str) -> None:
    with store.write() as conn:
        gone = conn.execute(delete(proxy_lists).where(proxy_lists.c.name == name)).rowcount
        if not gone:
            raise ProxyConfigError(f"no such list: {name}")
        _bump(conn)


def refresh_lists_from_files(store: Store, now: datetime) -> list[str]:
    """Re-read every list whose source file still exists; the names refreshed."""
    snapshot = load_snapshot(store)
    done = []
    for record in snapshot.lists:
        path = Path(record.source_path) if record.source_path else None
        if path is not None and path.is_file():
            load_list(store, record.name, record.kind, path, now)
            done.append(record.name)
    return done
