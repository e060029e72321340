"""Users, rules and lists in storage, edited with `bastion proxy ...`, applied live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from proxy_support import FAST_HASH, Harness, LoopThread, Upstream, basic, make_proxy

from bastion.clock import ManualClock
from bastion.dataplane.proxy import repo
from bastion.gateway import proxy_cli
from bastion.rules.proxy_rules import RuleSpec
from bastion.storage import Store
from support import postgres_database


def _cli(data_dir: Path, *args: str, url: str = "") -> int:
    extra = ["--database-url", url] if url else []
    return proxy_cli.main(["proxy", *args, "--data-dir", str(data_dir), *extra])


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'bastion.db'}"
    else:
        with postgres_database() as url:
            yield url


def test_repo_round_trip(db_url: str, tmp_path: Path) -> None:
    store = Store(db_url)
    store.migrate()
    clock = ManualClock()
    try:
        repo.add_user(store, "bob", "correct-horse-battery-staple", clock.now(), **FAST_HASH)
        with pytest.raises(repo.ProxyConfigError):
            repo.add_user(store, "bob", "correct-horse-battery-staple", clock.now(), **FAST_HASH)
        repo.add_rule(store, RuleSpec("r2", "deny", 20, domain="b.test"), clock.now())
        repo.add_rule(store, RuleSpec("r1", "allow", 10, cidr="127.0.0.1/32"), clock.now())
        with pytest.raises(ValueError):
            repo.add_rule(store, RuleSpec("bad", "deny", cidr="nope"), clock.now())
        (tmp_path / "l.txt").write_text("0.0.0.0 evil.test\n")
        assert repo.load_list(store, "m", "domain", tmp_path / "l.txt", clock.now()) == 1
        snap = repo.load_snapshot(store)
        assert [r.name for r in snap.rules] == ["r1", "r2"]
        assert "bob" in snap.users and "correct-horse-battery-staple" not in snap.users["bob"][0]
        assert snap.users["bob"][0].startswith("argon2id$")
        assert snap.lists[0].entries == ("evil.test",)
        v = snap.version
        repo.remove_rule(store, "r2")
        repo.remove_user(store, "bob")
        assert repo.current_version(store) == v + 2
    finally:
        store.dispose()


def test_cli_and_live_reload(
    tmp_path: Path, loop_thread: LoopThread, upstream: Upstream, capsys
) -> None:
    data = tmp_path / "data"
    assert (
        _cli(
            data,
            "rule",
            "add",
            "lo",
            "--action",
            "allow",
            "--priority",
            "10",
            "--domain",
            "127.0.0.1",
            "--match",
            "exact",
            "--cidr",
            "127.0.0.1/32",
        )
        == 0
    )
    store = Store(f"sqlite:///{data / 'bastion.db'}")
    repo.add_user(store, "alice", "correct horse", ManualClock().now(), **FAST_HASH)
    h: Harness = make_proxy(loop_thread, tmp_path, ManualClock(), upstream, store=store)
    try:
        conn = h.conn()
        assert h.get("/small", conn=conn)[0] == 200
        # a new deny rule and a block list, through the CLI, while the connection is open
        assert (
            _cli(
                data,
                "rule",
                "add",
                "no-echo",
                "--action",
                "deny",
                "--priority",
                "5",
                "--path",
                "^/echo",
            )
            == 0
        )
        assert loop_thread.run(h.proxy.reload(only_if_changed=True)) is True
        result = h.get("/echo", conn=conn)
        assert result[0] == 403 and result[1]["x-bastion-rule"] == "no-echo"
        assert h.get("/small", conn=conn)[0] == 200  # same connection, still served
        blocklist = tmp_path / "hosts.txt"
        blocklist.write_text("0.0.0.0 upstream.test\n")
        assert _cli(data, "list", "load", "malware", str(blocklist)) == 0
        loop_thread.run(h.proxy.reload(only_if_changed=True))
        assert h.get("/small", host="upstream.test", conn=conn)[1]["x-bastion-rule"] == (
            "list:malware"
        )
        # the file changes on disk: picked up without any command
        blocklist.write_text("other.test\n")
        os.utime(blocklist, (1, 1))
        assert loop_thread.run(h.proxy.reload(only_if_changed=True)) is True
        # no longer listed; still private (the storage rule allows only the literal)
        rule = h.get("/small", host="upstream.test", conn=conn)[1]["x-bastion-rule"]
        assert rule == "default-private-ranges"
        # users: removal applies to new verifications at once
        assert _cli(data, "user", "remove", "alice") == 0
        loop_thread.run(h.proxy.reload(only_if_changed=True))
        assert h.get("/small", conn=conn, auth=basic())[0] == 407
        assert _cli(data, "rule", "list") == 0
        assert _cli(data, "list", "show", "malware") == 0
        assert _cli(data, "reload") == 0
        out = capsys.readouterr().out
        assert "no-echo" in out and "lists re-read: malware" in out
        assert repo.load_snapshot(store).lists[0].entries == ("other.test",)
        assert _cli(data, "rule", "remove", "nonexistent") == 2
        conn.close()
    finally:
        loop_thread.run(h.proxy.stop())
        store.dispose()


def test_start_in_loop(tmp_path: Path, loop_thread: LoopThread) -> None:
    from bastion.config import load_settings
    from bastion.dataplane.proxy import ProxyConfig, start_in_loop

    settings = load_settings({"data_dir": tmp_path / "d"}, env={})
    store = Store(settings.effective_database_url)
    store.migrate()
    config = ProxyConfig(port=0, enabled=True)

    async def go():
        return start_in_loop(settings, store, ManualClock(), config)

    server = loop_thread.run(go())
    try:
        assert server.port > 0
        from proxy_support import raw_exchange

        out = raw_exchange(server.port, b"GET http://127.0.0.1/ HTTP/1.1\r\n\r\n", 2)
        assert out.startswith(b"HTTP/1.1 407")
    finally:
        loop_thread.run(server.stop())
        store.dispose()
