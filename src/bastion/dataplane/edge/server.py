"""The edge reverse proxy: HTTP/1.1 (and TLS) listeners in front of target groups, with
the associated WAF web ACL deciding on every request.

Raw `asyncio.Protocol`s with httptools parsers on both sides, as the forward proxy is
built. Per request: strict framing checks (a request whose framing is ambiguous never
reaches a target), the first `inspect_body_bytes` of its body buffered, WAF evaluated,
then forwarded over a pooled keep-alive connection to one of the listener's targets
(round robin, a target that refused a connection skipped for a few seconds), the body
streamed, the response streamed back. X-Forwarded-For/-Proto/-Port and X-Amzn-Trace-Id
are added as an ALB adds them; hop-by-hop headers are dropped in both directions.

Configuration comes from storage: `reload()` swaps listeners' targets and web ACLs in
place (connections stay) and re-binds only listeners whose address or TLS changed; a
removed listener stops accepting and lets its connections finish (`drain_timeout`).
Timeouts are enforced by one sweep a second against the injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import random
import socket
import ssl
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import httptools

from bastion.clock import Clock
from bastion.dataplane.edge import repo
from bastion.dataplane.edge.config import EdgeConfig
from bastion.dataplane.edge.http import elb_page, hop_names, reason
from bastion.dataplane.edge.repo import ListenerSpec
from bastion.dataplane.edge.waf import AclRuntime, Seen, WafReporter, build_acl, prometheus_text
from bastion.dataplane.http1 import (
    CLOSE,
    KEEP_ALIVE,
    Abort,
    BackgroundTasks,
    ClientBase,
    ExchangeBase,
    Headers,
    UpstreamBase,
    UpstreamPool,
    has_header,
    set_nodelay,
)

log = logging.getLogger("bastion.edge")

TARGET_DOWN_SECONDS = 5.0
_STRIP_IN = frozenset(
    {
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-port",
        b"expect",
        b"host",
        b"content-length",
    }
)
_ids = random.Random()


class BadRequest(httptools.HttpParserError):
    """A request the edge refuses before it reaches any target."""


# ============================================================================ request


class Req:
    __slots__ = (
        "begin",
        "body_kind",
        "cl_values",
        "complete",
        "content_length",
        "discard",
        "expect",
        "head_done",
        "header_bytes",
        "headers",
        "host_count",
        "keep_alive",
        "last_body",
        "method",
        "pending",
        "pending_bytes",
        "sink",
        "te_values",
        "trace_id",
        "url",
        "version",
        "waiting",
    )

    def __init__(self, now: float) -> None:
        self.method = ""
        self.url = b""
        self.headers: Headers = []
        self.version = "1.1"
        self.keep_alive = True
        self.begin = now
        self.head_done = False
        self.complete = False
        self.body_kind = 0  # 0 none, 1 content-length, 2 chunked
        self.content_length = 0
        self.cl_values: list[bytes] = []
        self.te_values: list[bytes] = []
        self.host_count = 0
        self.expect = False
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.sink: Exchange | None = None
        self.discard = False
        self.last_body = now
        self.header_bytes = 0
        self.waiting = False
        self.trace_id = ""


# ========================================================================= client side


class EdgeConnection(ClientBase):
    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.handler = listener
        self.server = listener.server
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.parser = httptools.HttpRequestParser(self)
        self.peer: tuple[str, int] = ("-", 0)
        self.current: Req | None = None
        self.parsing: Req | None = None
        self.queue: deque[Req] = deque()
        self.closed = False
        self.paused: set[str] = set()
        self.write_paused = False
        self.last_activity = 0.0
        self.exchange: Exchange | None = None
        self.head_budget = 0
        self.draining = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername") or ("-", 0)
        self.peer = (str(peer[0]), int(peer[1]))
        self.last_activity = self.server.mono()
        set_nodelay(transport)
        if self.listener.total_connections() >= self.server.config.max_connections:
            self.respond_local(503, close=True)
            return
        self.listener.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = True
        self.listener.conns.discard(self)
        if self.exchange is not None:
            self.exchange.client_lost()

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.exchange is not None:
            self.exchange.pause_upstream()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.exchange is not None:
            self.exchange.resume_upstream()

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.last_activity = self.server.mono()
        parsing = self.parsing
        if parsing is None or not parsing.head_done:
            self.head_budget += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject("protocol upgrade")
            return
        except httptools.HttpParserError as exc:
            self._reject(str(exc))
            return
        parsing = self.parsing
        cfg = self.server.config
        if (parsing is None or not parsing.head_done) and self.head_budget > (
            cfg.max_headers_bytes + cfg.max_request_line
        ):
            self._reject("request header too large")

    def _reject(self, why: str) -> None:
        """A malformed request: answer 400 and close, unless a response is under way."""
        self.server.count("bastion_edge_rejected_requests_total", self.listener.label)
        log.debug("edge %s: rejected request from %s: %s", self.listener.name, self.peer[0], why)
        self.parsing = None
        self.queue.clear()
        if self.current is not None and self.current.sink is not None:
            self.abort()  # garbage behind a forwarded request: no clean answer possible
            return
        if self.exchange is not None:
            self.exchange.client_lost()
            self.exchange = None
        self.current = None
        self.respond_local(400, close=True)

    # ------------------------------------------------------------ parser events

    def on_message_begin(self) -> None:
        self.parsing = Req(self.server.mono())

    def on_url(self, url: bytes) -> None:
        req = self.parsing
        assert req is not None
        req.url += url
        if len(req.url) > self.server.config.max_request_line:
            raise BadRequest("request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        req = self.parsing
        assert req is not None
        cfg = self.server.config
        size = len(name) + len(value) + 4
        req.header_bytes += size
        if size > cfg.max_header_bytes or req.header_bytes > cfg.max_headers_bytes:
            raise BadRequest("request header too large")
        if len(req.headers) >= cfg.max_header_count:
            raise BadRequest("too many headers")
        lname = name.lower()
        if lname == b"content-length":
            req.cl_values.append(value.strip())
        elif lname == b"transfer-encoding":
            req.te_values.append(value.strip().lower())
        elif lname == b"host":
            req.host_count += 1
        elif lname == b"expect" and value.strip().lower() == b"100-continue":
            req.expect = True
        req.headers.append((name, value))

    def on_headers_complete(self) -> None:
        req = self.parsing
        assert req is not None
        parser = self.parser
        self.head_budget = 0
        req.method = parser.get_method().decode("ascii", "replace")
        req.version = parser.get_http_version()
        req.keep_alive = parser.should_keep_alive() and not self.draining
        req.head_done = True
        problem = _framing_problem(req)
        if problem:
            raise BadRequest(problem)
        self._enqueue(req)

    def on_body(self, body: bytes) -> None:
        req = self.parsing
        if req is None or req.discard:
            return
        req.last_body = self.server.mono()
        sink = req.sink
        if sink is not None:
            sink.send_body(body)
            return
        req.pending.append(body)
        req.pending_bytes += len(body)
        if req.waiting and req.pending_bytes >= self.server.config.inspect_body_bytes:
            req.waiting = False
            self.listener.proceed(self, req)
        elif req.pending_bytes > self.server.config.buffer_bytes:
            self.pause("body")

    def on_message_complete(self) -> None:
        req = self.parsing
        if req is None:
            return
        self.parsing = None
        req.complete = True
        if req.waiting:
            req.waiting = False
            self.listener.proceed(self, req)
        elif req.sink is not None and not req.discard:
            req.sink.end_body()

    # ---------------------------------------------------------------- dispatch

    def request_done(self, keep_alive: bool) -> None:
        req = self.current
        self.current = None
        self.exchange = None
        self.last_activity = self.server.mono()
        if self.closed:
            return
        if not keep_alive or req is None or not req.keep_alive or not req.complete or self.draining:
            if req is not None and not req.complete:
                req.discard = True
            self.close()
            return
        if self.queue:
            nxt = self.queue.popleft()
            self.resume("pipeline")
            self.current = nxt
            self.listener.handle(self, nxt)

    # ------------------------------------------------------------ local answers

    def respond(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        close: bool = False,
    ) -> None:
        if self.closed:
            return
        req = self.current
        if req is not None and (not req.complete or not req.keep_alive):
            close = True  # the rest of its body would be read as a request
        if self.draining:
            close = True
        lines = [f"HTTP/1.1 {status} {reason(status)}", "Server: awselb/2.0"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines.append(f"Content-Length: {len(body)}")
        lines.append("Connection: close" if close else "Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        send_body = req is None or req.method != "HEAD"
        self.write(head + body if send_body else head)
        self.server.count_status(self.listener, status)
        if req is None:
            self.close()
        else:
            self.request_done(keep_alive=not close)

    def respond_local(self, status: int, *, close: bool = False) -> None:
        self.respond(status, [("Content-Type", "text/html")], elb_page(status), close=close)

    def header_timed_out(self) -> None:
        self.respond_local(408, close=True)

    def body_timed_out(self) -> None:
        self.abort()


def _framing_problem(req: Req) -> str:
    """Why a request's framing is ambiguous or invalid ('' when it is fine)."""
    if req.version not in ("1.0", "1.1"):
        return "unsupported HTTP version"
    if req.method == "CONNECT":
        return "CONNECT is not served"
    url = req.url
    if (
        not url.startswith(b"/")
        and not (url == b"*" and req.method == "OPTIONS")
        and not url.lower().startswith((b"http://", b"https://"))
    ):
        return "bad request target"
    if any(c < 0x21 or c == 0x7F for c in url):
        return "bad request target"
    if req.te_values:
        if req.cl_values:
            return "both Content-Length and Transfer-Encoding"
        codings = [c.strip() for v in req.te_values for c in v.split(b",")]
        if codings != [b"chunked"]:
            return "unsupported Transfer-Encoding"
        if req.version == "1.0":
            return "Transfer-Encoding in HTTP/1.0"
        req.body_kind = 2
    elif req.cl_values:
        values = {v for raw in req.cl_values for v in raw.split(b",")}
        values = {v.strip() for v in values}
        if len(values) != 1:
            return "conflicting Content-Length"
        value = values.pop()
        if not value.isdigit():
            return "bad Content-Length"
        req.content_length = int(value)
        req.body_kind = 1 if req.content_length else 0
    if req.host_count > 1:
        return "more than one Host header"
    if req.host_count == 0 and req.version == "1.1":
        return "no Host header"
    return ""


# ======================================================================= upstream side


class Upstream(UpstreamBase):
    """A keep-alive connection to a target, used by one exchange at a time."""

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.pool_discard(self)
        if self.exchange is not None:
            self.exchange.upstream_lost()


class Exchange(ExchangeBase):
    """One request forwarded to a target and its response streamed back."""

    def __init__(
        self,
        listener: Listener,
        client: EdgeConnection,
        req: Req,
        target: tuple[str, int],
        inserted: tuple[tuple[str, str], ...],
    ) -> None:
        self.listener = listener
        self.server = listener.server
        self.client = client
        self.req = req
        self.target = target
        self.inserted = inserted
        self.upstream: Upstream | None = None
        self.parser: Any = None
        self.status = 0
        self.reason = b""
        self.headers: Headers = []
        self.head_sent = False
        self.chunked_out = False
        self.up_keep_alive = True
        self.done = False
        self.is_head = req.method == "HEAD"
        self.in_1xx = False
        self.attempts = 0
        self.sent_any_response = False
        self.client_keep = False
        self.until_close = False
        self.pending_head = b""
        self.last_upstream = self.server.mono()

    def request_head(self) -> bytes:
        req = self.req
        listener = self.listener
        hop = hop_names(req.headers)
        parts = [b"%s %s HTTP/1.1\r\n" % (req.method.encode(), req.url)]
        xff: list[bytes] = []
        host = None
        for name, value in req.headers:
            lname = name.lower()
            if lname in hop:
                continue
            if lname in _STRIP_IN:
                if lname == b"x-forwarded-for":
                    xff.append(value.strip())
                elif lname == b"host":
                    host = value
                elif lname == b"expect" and not req.expect:
                    parts.append(name + b": " + value + b"\r\n")
                continue
            parts.append(name + b": " + value + b"\r\n")
        if host is None:
            host = b"%s:%d" % (self.target[0].encode(), self.target[1])
        client_ip = self.client.peer[0].encode()
        xff.append(client_ip)
        parts.append(b"Host: " + host + b"\r\n")
        parts.append(b"X-Forwarded-For: " + b", ".join(v for v in xff if v) + b"\r\n")
        parts.append(b"X-Forwarded-Proto: " + listener.scheme + b"\r\n")
        parts.append(b"X-Forwarded-Port: %d\r\n" % listener.spec.port)
        if not has_header(req.headers, b"x-amzn-trace-id"):
            parts.append(b"X-Amzn-Trace-Id: " + req.trace_id.encode() + b"\r\n")
        for name, value in self.inserted:
            parts.append(name.encode("latin-1") + b": " + value.encode("latin-1") + b"\r\n")
        if req.body_kind == 2:
            parts.append(b"Transfer-Encoding: chunked\r\n")
        elif req.body_kind == 1:
            parts.append(b"Content-Length: %d\r\n" % req.content_length)
        parts.append(b"\r\n")
        return b"".join(parts)

    def send_body(self, chunk: bytes) -> None:
        up = self.upstream
        if up is None or up.closed or not chunk:
            return
        if self.req.body_kind == 2:
            up.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        else:
            up.write(chunk)

    # ----------------------------------------------------------- response side

    def on_headers_complete(self) -> None:
        parser = self.parser
        status = parser.get_status_code()
        self.status = status
        self.sent_any_response = True
        if 100 <= status < 200:
            self.in_1xx = True
            if status == 103:
                self.client.write(b"HTTP/1.1 103 %s\r\n\r\n" % self.reason)
            return
        self.in_1xx = False
        self.up_keep_alive = parser.should_keep_alive()
        headers = self.headers
        no_body = self.is_head or status in (204, 304)
        hop = hop_names(headers)
        length = None
        chunked_in = has_header(headers, b"transfer-encoding")
        out = [b"HTTP/1.1 %d %s\r\n" % (status, self.reason or reason(status).encode())]
        for name, value in headers:
            lname = name.lower()
            if lname in hop:
                continue
            if lname == b"content-length":
                if chunked_in:
                    continue
                length = value
            out.append(name + b": " + value + b"\r\n")
        client_keep = self.req.keep_alive and self.req.complete and not self.client.draining
        if not no_body and length is None:
            self.until_close = not chunked_in
            if self.req.version == "1.1":
                self.chunked_out = True
                out.append(b"Transfer-Encoding: chunked\r\n")
            else:
                client_keep = False
        self.client_keep = client_keep
        out.append(KEEP_ALIVE if client_keep else CLOSE)
        self.client.exchange = self
        self.pending_head = b"".join(out)
        self.head_sent = True
        if self.is_head:
            self.on_message_complete()
            raise Abort

    def on_body(self, body: bytes) -> None:
        if self.in_1xx:
            return
        head = self.pending_head
        if self.chunked_out:
            body = b"%x\r\n" % len(body) + body + b"\r\n"
        if head:
            self.pending_head = b""
            self.client.write(head + body)
        else:
            self.client.write(body)

    def on_message_complete(self) -> None:
        if self.in_1xx:
            self.in_1xx = False
            return
        if self.done:
            return
        self.done = True
        tail = b"0\r\n\r\n" if self.chunked_out else b""
        if self.pending_head or tail:
            self.client.write(self.pending_head + tail)
            self.pending_head = b""
        self.finish_upstream()
        self.server.count_status(self.listener, self.status)
        self.client.request_done(self.client_keep)

    def fail(self, status: int) -> None:
        if not self.drop_upstream():
            return
        self.server.count("bastion_edge_target_errors_total", self.listener.label)
        if self.head_sent:  # too late for an error page: cut the response short
            self.client.abort()
            self.client.request_done(False)
            return
        self.client.respond_local(status)

    def bad_response(self) -> None:
        self.fail(502)

    def retry(self) -> None:
        self.server.spawn(self.listener.connect_then(self, retry=True))

    def upstream_closed(self) -> None:
        self.fail(502)


# ============================================================================ listener


class Listener:
    """One bound listener ("ALB listener") with its current targets and web ACL."""

    def __init__(self, server: EdgeServer, spec: ListenerSpec) -> None:
        self.server = server
        self.spec = spec
        self.name = f"{spec.load_balancer_name}:{spec.port}"
        self.label = f'listener="{self.name}"'
        self.scheme = b"https" if spec.protocol == "HTTPS" else b"http"
        self.acl: AclRuntime | None = None
        self.conns: set[EdgeConnection] = set()
        self.aserver: asyncio.AbstractServer | None = None
        self.sock: socket.socket | None = None
        self.rr = 0
        self.http_source_id = (
            f"{spec.account_id}-app/{spec.load_balancer_name}/"
            f"{spec.load_balancer_arn.rsplit('/', 1)[-1]}"
        )

    def total_connections(self) -> int:
        return sum(len(lis.conns) for lis in self.server.listeners.values())

    @property
    def port(self) -> int:
        if self.sock is not None:
            return int(self.sock.getsockname()[1])
        return self.spec.port

    def bind(self) -> None:
        host = self.spec.host or "0.0.0.0"  # noqa: S104
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.server.reuse_port and hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((host, self.spec.port))
            sock.listen(4096)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self.sock = sock

    def tls_context(self) -> ssl.SSLContext | None:
        if self.spec.protocol != "HTTPS":
            return None
        if not self.spec.certificate or not self.spec.private_key:
            raise OSError("HTTPS listener without bastion:certificate-file/private-key-file")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.spec.certificate, self.spec.private_key)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ctx = self.tls_context()
        if self.sock is None:
            self.bind()
        self.aserver = await loop.create_server(
            lambda: EdgeConnection(self), sock=self.sock, ssl=ctx
        )

    async def stop(self, drain: float) -> None:
        """Stop accepting; idle connections close now, busy ones after their response."""
        if self.aserver is not None:
            self.aserver.close()
        for conn in list(self.conns):
            conn.draining = True
            if conn.current is None and conn.parsing is None:
                conn.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain
        while self.conns and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for conn in list(self.conns):
            conn.abort()

    # ------------------------------------------------------------- requests

    def handle(self, conn: EdgeConnection, req: Req) -> None:
        try:
            server = self.server
            req.trace_id = f"Root=1-{int(server.wall()):08x}-{_ids.getrandbits(96):024x}"
            if req.url == server.metrics_path_b and server.metrics_allowed(conn.peer[0]):
                server.spawn(server.serve_metrics(conn, req))
                return
            if req.expect and req.body_kind and not req.complete:
                conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            acl = self.acl
            if (
                acl is not None
                and acl.compiled is not None
                and req.body_kind
                and not req.complete
                and req.pending_bytes < server.config.inspect_body_bytes
            ):
                req.waiting = True
                return
            self.proceed(conn, req)
        except Exception:
            self.internal_error(conn, req)

    def internal_error(self, conn: EdgeConnection, req: Req) -> None:
        log.exception("edge request failed")
        if conn.current is req and not conn.closed:
            conn.respond_local(502, close=True)

    def proceed(self, conn: EdgeConnection, req: Req) -> None:
        try:
            inserted: tuple[tuple[str, str], ...] = ()
            acl = self.acl
            if acl is not None and acl.compiled is not None:
                decision, seen = self.server.evaluate(self, conn, req, acl)
                if decision is not None:
                    if decision.action != "ALLOW":
                        self.enforce(conn, req, acl, decision, seen)
                        return
                    inserted = tuple(decision.insert_headers or ())
                    self.server.reporter.record(acl, decision, seen, self.server.wall(), None)
            self.forward(conn, req, inserted)
        except Exception:
            self.internal_error(conn, req)

    def enforce(
        self, conn: EdgeConnection, req: Req, acl: AclRuntime, decision: Any, seen: Seen
    ) -> None:
        custom = decision.custom_response
        code: int | None = None
        if custom:
            status = int(custom.get("status") or 403)
            headers = [(str(k), str(v)) for k, v in custom.get("headers") or ()]
            raw = custom.get("body") or b""
            body = raw.encode() if isinstance(raw, str) else bytes(raw)
            if body and custom.get("content_type"):
                headers.append(("Content-Type", str(custom["content_type"])))
            if decision.action == "BLOCK":
                code = status
        else:
            status, body = 403, elb_page(403)
            headers = [("Content-Type", "text/html")]
        self.server.reporter.record(acl, decision, seen, self.server.wall(), code)
        conn.respond(status, headers, body)

    def forward(
        self, conn: EdgeConnection, req: Req, inserted: tuple[tuple[str, str], ...]
    ) -> None:
        action = self.spec.action
        if action.kind == "fixed-response":
            conn.respond(
                action.status, [("Content-Type", action.content_type)], action.body.encode()
            )
            return
        target = self.pick_target()
        if target is None:
            conn.respond_local(503)
            return
        exchange = Exchange(self, conn, req, target, inserted)
        conn.exchange = exchange
        up = self.server.pool_take(target)
        if up is not None:
            exchange.attach(up)
            return
        self.server.spawn(self.connect_then(exchange))

    def pick_target(self) -> tuple[str, int] | None:
        targets = self.spec.action.targets
        if not targets:
            return None
        down = self.server.down
        now = self.server.mono()
        n = len(targets)
        for i in range(n):
            target = targets[(self.rr + i) % n]
            if down.get(target, 0.0) <= now:
                self.rr = (self.rr + i + 1) % n
                return target
        self.rr = (self.rr + 1) % n
        return targets[self.rr]

    async def connect_then(self, exchange: Exchange, retry: bool = False) -> None:
        server = self.server
        loop = asyncio.get_running_loop()
        host, port = exchange.target
        try:
            _, up = await asyncio.wait_for(
                loop.create_connection(lambda: Upstream(server, (host, port)), host, port),
                server.config.connect_timeout,
            )
        except TimeoutError:
            server.down[exchange.target] = server.mono() + TARGET_DOWN_SECONDS
            exchange.fail(504)
            return
        except OSError:
            server.down[exchange.target] = server.mono() + TARGET_DOWN_SECONDS
            exchange.fail(502)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            self.internal_error(exchange.client, exchange.req)
            return
        if exchange.client.closed or exchange.done:
            up.close()
            return
        exchange.attach(up)


# ============================================================================== server


class EdgeServer(UpstreamPool, BackgroundTasks):
    """Every listener of this process. Build, `await start()`, `await stop()`."""

    _log = log
    _task_failed = "edge background task failed"

    def __init__(
        self,
        config: EdgeConfig,
        *,
        clock: Clock,
        store: Any,
        log_dir: Path,
        reuse_port: bool = False,
    ) -> None:
        self.config = config
        self.clock = clock
        self.mono: Callable[[], float] = clock.monotonic
        self.store = store
        self.log_dir = log_dir
        self.reuse_port = reuse_port
        self.listeners: dict[str, Listener] = {}
        self.failed: dict[str, str] = {}  # listener ARN -> why it is not bound
        self.acls: dict[str, AclRuntime] = {}
        self.pool: dict[tuple[str, int], list[Upstream]] = {}
        self.down: dict[tuple[str, int], float] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self._background: list[asyncio.Task[Any]] = []
        self.versions: tuple[int, int] = (-1, -1)
        self.reporter = WafReporter()
        self.edge_counters: dict[tuple[str, str], int] = {}
        self.rate_counter: Any = None
        self.metrics_path_b = config.metrics_path.encode()
        self._metrics_nets = [
            ipaddress.ip_network(n.strip(), strict=False)
            for n in config.metrics_allow.split(",")
            if n.strip()
        ]
        self._reload_lock: asyncio.Lock | None = None
        self._reports = 0
        self._report_lock = asyncio.Lock()

    # ------------------------------------------------------------ lifecycle

    def wall(self) -> float:
        return self.clock.now().timestamp()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._reload_lock = asyncio.Lock()
        await self.reload()
        self._background = [
            loop.create_task(self._every(1.0, self.sweep)),
            loop.create_task(self._poll()),
            loop.create_task(self._every_async(self.config.report_interval, self.report)),
            loop.create_task(self._every_async(self.config.log_flush_interval, self.flush_logs)),
        ]

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(
            *(lis.stop(0.5) for lis in self.listeners.values()), return_exceptions=True
        )
        self.listeners.clear()
        self.pool_close_all()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.sleep(0)
        with contextlib.suppress(Exception):
            await self.flush_logs()
            await self.report()

    async def _every_async(self, interval: float, fn: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await fn()
            except asyncio.CancelledError:
                raise
            except Exception:  # pragma: no cover - storage hiccup
                log.exception("edge background task failed")

    # -------------------------------------------------------- configuration

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_interval)
            try:
                await self.reload(only_if_changed=True)
            except asyncio.CancelledError:
                raise
            except Exception:  # pragma: no cover - storage hiccup: keep the old config
                log.exception("edge configuration reload failed")

    async def reload(self, *, only_if_changed: bool = False) -> bool:
        """Load listeners and web ACLs from storage and apply them (connections stay)."""
        loop = asyncio.get_running_loop()
        assert self._reload_lock is not None
        async with self._reload_lock:
            if only_if_changed:
                versions = await loop.run_in_executor(None, repo.current_versions, self.store)
                if versions == self.versions and not self.failed:
                    return False
            snapshot = await loop.run_in_executor(None, repo.load_snapshot, self.store)
            acls = await loop.run_in_executor(None, self._build_acls, snapshot)
            await self._apply(snapshot, acls)
            self.versions = snapshot.versions
            return True

    def _build_acls(self, snapshot: repo.EdgeSnapshot) -> dict[str, AclRuntime]:
        out = {}
        for arn, source in snapshot.acls.items():
            try:
                out[arn] = build_acl(source, snapshot, self.log_dir, self.acls.get(arn))
            except Exception:
                log.exception("web ACL %s could not be loaded", arn)
        return out

    async def _apply(self, snapshot: repo.EdgeSnapshot, acls: dict[str, AclRuntime]) -> None:
        if acls and self.rate_counter is None:
            self.rate_counter = self._make_rate_counter()
        self.acls = acls
        default_host = self.config.default_host
        wanted = {
            spec.arn: spec if spec.host else dataclasses.replace(spec, host=default_host)
            for spec in snapshot.listeners
        }
        for arn in list(self.listeners):
            lis = self.listeners[arn]
            spec = wanted.get(arn)
            if spec is None or spec.binding != lis.spec.binding:
                del self.listeners[arn]
                self.spawn(lis.stop(self.config.drain_timeout))
                log.info("edge listener %s stopped", lis.name)
        self.failed = {}
        for arn, spec in wanted.items():
            lis = self.listeners.get(arn)
            if lis is None:
                lis = Listener(self, spec)
                try:
                    await lis.start()
                except (OSError, ssl.SSLError) as exc:
                    self.failed[arn] = str(exc)
                    log.error("edge listener %s:%d cannot start: %s", spec.host, spec.port, exc)
                    continue
                self.listeners[arn] = lis
                log.info(
                    "edge listener %s on %s:%d (%s)", lis.name, spec.host, lis.port, spec.protocol
                )
            else:
                lis.spec = spec
            acl_arn = snapshot.associations.get(spec.load_balancer_arn)
            lis.acl = acls.get(acl_arn) if acl_arn else None

    def _make_rate_counter(self) -> Any:
        from bastion.rules import waf

        if self.config.redis_url:
            try:
                return waf.RedisRateCounter(self.config.redis_url)
            except Exception:
                log.exception("Redis rate counter unavailable; counting in memory")
        return waf.MemoryRateCounter()

    def listener_port(self, arn: str) -> int | None:
        lis = self.listeners.get(arn)
        return lis.port if lis else None

    # ------------------------------------------------------------------- WAF

    def evaluate(
        self, listener: Listener, conn: EdgeConnection, req: Req, acl: AclRuntime
    ) -> tuple[Any, Seen]:
        from bastion.rules.waf import WafRequest

        raw = req.url
        path, _, query = raw.partition(b"?")
        headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in req.headers)
        body = b"".join(req.pending) if req.pending else b""
        limit = self.config.inspect_body_bytes
        if req.body_kind == 1:
            size = req.content_length
        else:
            size = req.pending_bytes + (0 if req.complete else 1)
        version = f"HTTP/{req.version}"
        request = WafRequest(
            client_ip=conn.peer[0],
            method=req.method,
            uri_path=path.decode("latin-1"),
            query_string=query.decode("latin-1"),
            headers=headers,
            body=body[:limit],
            body_size=size,
            scheme=listener.scheme.decode(),
            http_version=version,
        )
        seen = Seen(
            client_ip=conn.peer[0],
            method=req.method,
            uri=request.uri_path,
            args=request.query_string,
            http_version=version,
            headers=headers,
            request_id=req.trace_id,
            http_source_id=listener.http_source_id,
        )
        try:
            decision = acl.compiled.evaluate(
                request, now=self.wall(), rate_counter=self.rate_counter
            )
        except Exception:  # fail open, as AWS WAF does when it cannot decide
            log.exception("web ACL %s failed on a request", acl.arn)
            return None, seen
        return decision, seen

    async def report(self) -> None:
        # Exclusive with serve_metrics: while a report is being written, its counters are
        # neither in memory nor (yet) in storage, and a concurrent read would miss them.
        async with self._report_lock:
            counters, samples = self.reporter.take()
            if not counters and not samples:
                return
            self._reports += 1
            prune = self._reports % 30 == 1
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(
                    None,
                    lambda: repo.report(self.store, counters, samples, self.wall(), prune=prune),
                )
            except Exception:
                self.reporter.restore(counters)
                raise

    async def flush_logs(self) -> None:
        if self.reporter.log_lines:
            pending = WafReporter()
            pending.log_lines, self.reporter.log_lines = self.reporter.log_lines, {}
            await asyncio.get_running_loop().run_in_executor(None, pending.flush_logs)

    # --------------------------------------------------------------- metrics

    def count(self, metric: str, label: str) -> None:
        key = (metric, label)
        self.edge_counters[key] = self.edge_counters.get(key, 0) + 1

    def count_status(self, listener: Listener, status: int) -> None:
        key = (
            "bastion_edge_requests_total",
            f'{listener.label},code="{status // 100}xx"',
        )
        self.edge_counters[key] = self.edge_counters.get(key, 0) + 1

    def metrics_allowed(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in net for net in self._metrics_nets)

    async def serve_metrics(self, conn: EdgeConnection, req: Req) -> None:
        try:
            loop = asyncio.get_running_loop()
            totals: dict[tuple[str, str, str], int] = {}
            async with self._report_lock:  # stored + in memory, with no report in between
                stored = await loop.run_in_executor(None, repo.read_metrics, self.store)
                for acl, rule, metric, value in stored:
                    totals[(acl, rule, metric)] = value
                for key, value in self.reporter.counters.items():
                    totals[key] = totals.get(key, 0) + value
            names = {arn: acl.metric_name for arn, acl in self.acls.items()}
            regions = {arn: acl.region for arn, acl in self.acls.items()}
            counters = dict(self.edge_counters)
            for lis in self.listeners.values():
                counters[("bastion_edge_open_connections", lis.label)] = len(lis.conns)
            body = prometheus_text(totals, names, regions, counters)
            if not conn.closed and conn.current is req:
                conn.respond(200, [("Content-Type", "text/plain; version=0.0.4")], body)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("edge metrics failed")
            if not conn.closed and conn.current is req:
                conn.respond_local(500)

    # ---------------------------------------------------------------- sweep

    def sweep(self) -> None:
        """Enforce every timeout against the clock (called once a second)."""
        now = self.mono()
        cfg = self.config
        for lis in list(self.listeners.values()):
            for conn in list(lis.conns):
                if conn.closed:
                    continue
                exchange = conn.exchange
                if (
                    exchange is not None
                    and not exchange.done
                    and exchange.upstream is not None
                    and now - exchange.last_upstream > cfg.read_timeout
                ):
                    exchange.fail(504)
                    continue
                conn.sweep_timeouts(now, cfg)
        self.pool_sweep(now)
