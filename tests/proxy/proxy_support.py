"""Fixtures for the forward proxy: a real upstream HTTP server and a real proxy on
loopback, both on one background event loop; a ManualClock; a fake resolver."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httptools
import pytest
import uvloop

from bastion.clock import ManualClock
from bastion.dataplane.proxy.auth import hash_password
from bastion.dataplane.proxy.config import ProxyConfig
from bastion.dataplane.proxy.resolver import StaticResolver
from bastion.dataplane.proxy.server import ProxyServer
from bastion.rules.proxy_rules import RuleSet, RuleSpec

USER, PASSWORD = "alice", "correct horse"
FAST_HASH = {"memory_kib": 1024, "iterations": 1}  # still Argon2id; tests need speed

FAKE_DNS = {
    "upstream.test": ["127.0.0.1"],  # allowed explicitly by name in the rules below
    "rebind.test": ["127.0.0.1"],  # DNS rebinding: a public-looking name -> loopback
    "private.test": ["10.0.0.5"],  # -> RFC 1918; must be denied before any connect
    "mixed.test": ["10.0.0.5", "127.0.0.1"],
    "meta.test": ["169.254.169.254"],
    "v6.test": ["::1"],
}


def basic(user: str = USER, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class LoopThread:
    """An event loop (uvloop) running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = uvloop.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], Any], timeout: float = 10) -> Any:
        future: Future[Any] = Future()

        def go() -> None:
            try:
                future.set_result(fn())
            except Exception as exc:
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(go)
        return future.result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


# ---------------------------------------------------------------------- upstream


@dataclass
class Upstream:
    """Counts what reached the origin, so tests can tell a cache hit from a miss."""

    port: int = 0
    hits: dict[str, int] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    etags: dict[str, str] = field(default_factory=dict)
    connections: int = 0


class _UpstreamProto(asyncio.Protocol):
    def __init__(self, state: Upstream) -> None:
        self.state = state
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.body_size = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.state.connections += 1

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_message_begin(self) -> None:
        self.url, self.headers, self.body, self.body_size = b"", {}, [], 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)
        if self.body_size < 1_000_000:
            self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.transport is not None
        url = httptools.parse_url(self.url)
        path = url.path.decode()
        query = dict(
            part.split("=", 1) for part in (url.query or b"").decode().split("&") if "=" in part
        )
        method = self.parser.get_method().decode()
        state = self.state
        state.hits[path] = state.hits.get(path, 0) + 1
        state.requests.append({"path": path, "method": method, "headers": dict(self.headers)})
        send = self.transport.write
        if path == "/slow":
            return  # never answers
        if path == "/echo":
            body = b"".join(self.body)
            lines = "".join(f"{k}: {v}\n" for k, v in self.headers.items()).encode()
            payload = b"size=%d\n" % self.body_size + lines + b"\n" + body[:1000]
            send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload)
            return
        if path == "/big":
            n = int(query.get("n", "1048576"))
            send(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n")
            send(b"Content-Length: %d\r\n\r\n" % n)
            block = b"x" * 65536
            while n > 0:
                send(block[: min(n, len(block))])
                n -= len(block)
            return
        if path == "/chunked":
            send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            send(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            return
        if path == "/close":
            send(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
            self.transport.close()
            return
        if path.startswith("/cache/"):
            etag = state.etags.setdefault(path, '"v1"')
            headers = [f"ETag: {etag}", "Content-Type: text/plain"]
            if "max-age" in query:
                headers.append(f"Cache-Control: max-age={query['max-age']}")
            if "cc" in query:
                headers.append(f"Cache-Control: {query['cc']}")
            if "vary" in query:
                headers.append(f"Vary: {query['vary']}")
            if self.headers.get("if-none-match") == etag:
                send(("HTTP/1.1 304 Not Modified\r\n" + "\r\n".join(headers) + "\r\n\r\n").encode())
                return
            extra = self.headers.get(query.get("vary", "").lower(), "")
            body = f"{path} {etag} {extra} #{state.hits[path]}".encode()
            head = "HTTP/1.1 200 OK\r\n" + "\r\n".join(headers)
            send(head.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            return
        body = b"hello"
        send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n" + body)


async def start_upstream(state: Upstream, host: str = "127.0.0.1") -> asyncio.AbstractServer:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _UpstreamProto(state), host, 0)
    state.port = server.sockets[0].getsockname()[1]
    return server


# ------------------------------------------------------------------------- proxy


@dataclass
class Harness:
    lt: LoopThread
    proxy: ProxyServer
    upstream: Upstream
    clock: ManualClock
    resolver: StaticResolver
    log_dir: Path

    @property
    def port(self) -> int:
        return self.proxy.port

    def url(self, path: str, host: str = "127.0.0.1", port: int | None = None) -> str:
        return f"http://{host}:{port or self.upstream.port}{path}"

    def conn(self, timeout: float = 5) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def get(
        self,
        path: str,
        *,
        host: str = "127.0.0.1",
        method: str = "GET",
        auth: str | None = "default",
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        port: int | None = None,
        conn: http.client.HTTPConnection | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        own = conn is None
        c = conn or self.conn()
        hdrs = dict(headers or {})
        if auth == "default":
            auth = basic()
        if auth is not None:
            hdrs["Proxy-Authorization"] = auth
        c.request(method, self.url(path, host, port), body=body, headers=hdrs)
        resp = c.getresponse()
        data = resp.read()
        result = resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        if own:
            c.close()
        return result

    def set_rules(self, *specs: RuleSpec, default_action: str = "allow") -> None:
        rules = RuleSet(specs, self.proxy.rules.blocklists, default_action=default_action)
        self.lt.call(lambda: self.proxy.set_rules(rules))

    def sweep(self) -> None:
        self.lt.call(self.proxy.sweep)

    def log_lines(self, kind: str, predicate: Callable[[str], bool]) -> list[str]:
        """Lines of log `kind` once one satisfies `predicate` (waits for the I/O that
        produces it, e.g. a tunnel's close, for at most 5 s)."""
        deadline = time.monotonic() + 5
        while True:
            lines = self.flush_logs()[kind]
            if any(predicate(line) for line in lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.01)

    def flush_logs(self) -> dict[str, list[str]]:
        self.lt.call(self.proxy.logs.flush)
        out = {}
        for kind, path in self.proxy.logs.paths().items():
            out[kind] = path.read_text().splitlines() if path.exists() else []
        return out


def loopback_rules(port_range: str) -> list[RuleSpec]:
    """Allow the test upstreams on 127.0.0.1 (by address literal and by the name
    upstream.test) while every other private destination stays denied."""
    return [
        RuleSpec(
            name="allow-test-upstream",
            action="allow",
            priority=10,
            domain="127.0.0.1,upstream.test,::1",
            domain_match="exact",
            cidr="127.0.0.1/32,::1/128",
            ports=port_range,
        )
    ]


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    try:
        yield lt
    finally:
        lt.stop()


def make_proxy(
    lt: LoopThread,
    tmp_path: Path,
    clock: ManualClock,
    upstream: Upstream,
    *,
    config: ProxyConfig | None = None,
    store: Any = None,
    users: dict[str, tuple[str, bool]] | None = None,
) -> Harness:
    resolver = StaticResolver(FAKE_DNS, clock.monotonic)
    cfg = config or ProxyConfig(host="127.0.0.1", port=0)
    cfg = replace(cfg, port=0, host="127.0.0.1")
    if users is None and store is None:
        users = {USER: (hash_password(PASSWORD, **FAST_HASH), True)}
    rules = RuleSet(loopback_rules(f"{upstream.port}"), default_action=cfg.default_action)
    proxy = ProxyServer(
        cfg,
        clock=clock,
        log_dir=tmp_path / "proxy",
        store=store,
        resolver=resolver,
        rules=rules,
        users=users,
    )
    lt.run(proxy.start())
    return Harness(lt, proxy, upstream, clock, resolver, tmp_path / "proxy")


@pytest.fixture
def upstream(loop_thread: LoopThread) -> Iterator[Upstream]:
    state = Upstream()
    server = loop_thread.run(start_upstream(state))
    try:
        yield state
    finally:
        server.close()


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def harness(
    loop_thread: LoopThread, upstream: Upstream, tmp_path: Path, manual_clock: ManualClock
) -> Iterator[Harness]:
    h = make_proxy(loop_thread, tmp_path, manual_clock, upstream)
    try:
        yield h
    finally:
        with contextlib.suppress(Exception):
            loop_thread.run(h.proxy.stop())


def raw_exchange(port: int, data: bytes, timeout: float = 5) -> bytes:
    """Send raw bytes to the proxy; read until the connection closes or a full head."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        out = b""
        with contextlib.suppress(TimeoutError):
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                out += chunk
        return out
