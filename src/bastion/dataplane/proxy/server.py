"""The forward proxy: HTTP/1.1 absolute-form requests and CONNECT tunnels.

Raw `asyncio.Protocol`s with httptools parsers on both sides, no framework. Per request:
authenticate (memory cache first), filter before DNS, resolve, filter each address,
serve from the cache or forward over a pooled keep-alive upstream connection, stream the
response back, log. Memory stays bounded: a side whose peer cannot keep up stops reading
(transport pause/resume), and request bodies are buffered only up to `buffer_bytes`.

Timeouts are checked by one sweep a second against the injected clock, so tests move a
`ManualClock` and call `sweep()` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import socket
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import httptools

from bastion.clock import Clock
from bastion.dataplane.http1 import (
    CLOSE,
    HOP_BY_HOP,
    KEEP_ALIVE,
    Abort,
    BackgroundTasks,
    ClientBase,
    ExchangeBase,
    UpstreamBase,
    UpstreamPool,
    get_header,
    has_header,
    set_nodelay,
)
from bastion.dataplane.proxy.auth import IamKeys, ProxyAuthenticator
from bastion.dataplane.proxy.cache import (
    UNSAFE_METHODS,
    CacheEntry,
    Headers,
    HttpCache,
    format_http_date,
    parse_cache_control,
    request_cacheable,
    response_storable,
)
from bastion.dataplane.proxy.config import ProxyConfig
from bastion.dataplane.proxy.logs import ProxyLogs, interface_id_for
from bastion.dataplane.proxy.resolver import (
    ResolveError,
    Resolver,
    SystemResolver,
    interleave,
)
from bastion.rules.proxy_rules import (
    NEED_IP,
    BlockLists,
    Decision,
    IPAddress,
    RequestView,
    RuleSet,
    normalize_host,
)

log = logging.getLogger("bastion.proxy")

VIA = b"1.1 bastion"
REALM = b'Basic realm="Bastion proxy"'
REASONS = {
    200: "OK",
    304: "Not Modified",
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _hop_names(headers: Headers) -> frozenset[bytes]:
    """Hop-by-hop names, including any listed in `Connection`."""
    extra = [
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.split(b",")
    ]
    return HOP_BY_HOP | frozenset(extra) if extra else HOP_BY_HOP


# ============================================================================ request


class Request:
    __slots__ = (
        "auth",
        "begin",
        "body_kind",
        "complete",
        "discard",
        "head_done",
        "header_bytes",
        "headers",
        "keep_alive",
        "last_body",
        "method",
        "pending",
        "pending_bytes",
        "sink",
        "start_wall",
        "url",
        "version",
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
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.sink: Exchange | None = None  # where body bytes go once connected
        self.discard = False
        self.last_body = now
        self.header_bytes = 0
        self.start_wall = 0.0
        self.auth: bytes | None = None


# ========================================================================= client side


class ClientConnection(ClientBase):
    def __init__(self, server: ProxyServer) -> None:
        self.server = server
        self.handler = server
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.parser = httptools.HttpRequestParser(self)
        self.peer: tuple[str, int] = ("-", 0)
        self.local: tuple[str, int] = ("-", 0)
        self.current: Request | None = None  # being handled
        self.parsing: Request | None = None  # being parsed
        self.queue: deque[Request] = deque()
        self.tunnel: Tunnel | None = None
        self.closed = False
        self.paused: set[str] = set()
        self.write_paused = False
        self.last_activity = 0.0
        self.bytes_in = 0
        self.bytes_out = 0
        self.start = 0
        self.exchange: Exchange | None = None
        self.close_after = False
        self.connect_req: Request | None = None

    # ---------------------------------------------------------------- transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        server = self.server
        peer = transport.get_extra_info("peername") or ("-", 0)
        local = transport.get_extra_info("sockname") or ("-", 0)
        self.peer = (str(peer[0]), int(peer[1]))
        self.local = (str(local[0]), int(local[1]))
        self.last_activity = server.mono()
        self.start = int(server.wall())
        set_nodelay(transport)
        if len(server.clients) >= server.config.max_connections:
            self.respond_error(503, "too many connections", close=True)
            return
        server.clients.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = True
        server = self.server
        server.clients.discard(self)
        if self.tunnel is not None:
            self.tunnel.client_lost()
        if self.exchange is not None:
            self.exchange.client_lost()
        server.logs.connection(
            self.local,
            self.peer,
            self.bytes_out,
            self.bytes_in,
            self.start,
            int(server.wall()),
            outbound=False,
        )

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.exchange is not None:
            self.exchange.pause_upstream()
        elif self.tunnel is not None:
            self.tunnel.pause_upstream()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.exchange is not None:
            self.exchange.resume_upstream()
        elif self.tunnel is not None:
            self.tunnel.resume_upstream()

    def write(self, data: bytes) -> None:
        self.bytes_out += len(data)
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        self.last_activity = self.server.mono()
        if self.tunnel is not None:
            self.tunnel.from_client(data)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            offset = exc.args[0] if exc.args else len(data)
            req = self.connect_req
            self.connect_req = None
            self.parsing = None
            if req is None or req.method != "CONNECT":
                self.respond_error(501, "protocol upgrades are not supported", close=True)
                return
            req.complete = True
            extra = data[offset:]
            if extra:
                req.pending.append(extra)
                req.pending_bytes += len(extra)
            self.pause("tunnel")  # until the tunnel is up
            self._enqueue(req)
        except httptools.HttpParserError as exc:
            if self.current is not None or self.tunnel is not None:
                self.abort()  # garbage behind a request in flight: no clean answer possible
            elif not self.closed:
                status = 431 if "header" in str(exc).lower() and "large" in str(exc) else 400
                self.respond_error(status, "malformed request", close=True)

    def eof_received(self) -> bool | None:
        if self.tunnel is not None:
            return self.tunnel.client_eof()
        return None

    # ------------------------------------------------------------ parser events

    def on_message_begin(self) -> None:
        self.parsing = Request(self.server.mono())

    def on_url(self, url: bytes) -> None:
        req = self.parsing
        assert req is not None
        req.url += url
        req.header_bytes += len(url)
        if req.header_bytes > self.server.config.max_header_bytes:
            raise httptools.HttpParserError("request header too large")

    def on_header(self, name: bytes, value: bytes) -> None:
        req = self.parsing
        assert req is not None
        req.header_bytes += len(name) + len(value) + 4
        if req.header_bytes > self.server.config.max_header_bytes:
            raise httptools.HttpParserError("request header too large")
        lname = name.lower()
        if lname == b"proxy-authorization":
            req.auth = value
            return
        if lname == b"content-length":
            req.body_kind = 1
        elif lname == b"transfer-encoding" and b"chunked" in value.lower():
            req.body_kind = 2
        req.headers.append((name, value))

    def on_headers_complete(self) -> None:
        req = self.parsing
        assert req is not None
        parser = self.parser
        req.method = parser.get_method().decode("ascii", "replace")
        req.version = parser.get_http_version()
        req.keep_alive = parser.should_keep_alive()
        req.head_done = True
        req.start_wall = self.server.wall()
        if req.method == "CONNECT":
            self.connect_req = req
            return  # the parser raises HttpParserUpgrade next
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
        if req.pending_bytes > self.server.config.buffer_bytes:
            self.pause("body")

    def on_message_complete(self) -> None:
        req = self.parsing
        if req is None or req is self.connect_req:
            return
        self.parsing = None
        req.complete = True
        if req.sink is not None and not req.discard:
            req.sink.end_body()

    # ---------------------------------------------------------------- dispatch

    def request_done(self, keep_alive: bool) -> None:
        """The response to `current` has been written (or aborted)."""
        req = self.current
        self.current = None
        self.exchange = None
        self.last_activity = self.server.mono()
        if self.closed:
            return
        if not keep_alive or req is None or not req.keep_alive or not req.complete:
            if req is not None and not req.complete:
                req.discard = True
            self.close()
            return
        if req.method == "CONNECT" and self.tunnel is None:
            if req.pending:  # the client already sent tunnel bytes: no way back to HTTP
                self.close()
                return
            self.parser = httptools.HttpRequestParser(self)  # out of its upgrade state
            self.resume("tunnel")
        if self.queue:
            nxt = self.queue.popleft()
            self.resume("pipeline")
            self.current = nxt
            self.server.handle(self, nxt)

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
        if req is not None and not req.complete:
            close = True  # the rest of its body would be read as a request
        if req is not None and not req.keep_alive:
            close = True
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines.append(f"Content-Length: {len(body)}")
        lines.append("Via: 1.1 bastion")
        lines.append("Connection: close" if close else "Connection: keep-alive")
        self.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        if req is None:
            self.close()
        else:
            self.request_done(keep_alive=not close)

    def respond_error(
        self, status: int, message: str, *, close: bool = False, rule: str = ""
    ) -> None:
        body = _error_page(status, message, rule)
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")]
        if rule:
            headers.append(("X-Bastion-Rule", rule))
        if status == 407:
            headers.append(("Proxy-Authenticate", REALM.decode()))
        self.respond(status, headers, body, close=close)

    def header_timed_out(self) -> None:
        self.respond_error(408, "request headers too slow", close=True)

    def body_timed_out(self) -> None:
        exchange = self.exchange
        if exchange is not None:
            exchange.fail(408, "request body too slow")
        self.abort()


def _error_page(status: int, message: str, rule: str) -> bytes:
    title = f"{status} {REASONS.get(status, 'Error')}"
    detail = f"<p>Denied by rule <b>{html.escape(rule)}</b>.</p>" if rule else ""
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title></head><body>"
        f"<h1>{title}</h1><p>{html.escape(message)}</p>{detail}"
        f"<hr><address>Bastion forward proxy</address></body></html>\n"
    ).encode()


# ======================================================================= upstream side


class Upstream(UpstreamBase):
    """A keep-alive connection to an origin server, used by one exchange at a time."""

    def __init__(self, server: ProxyServer, key: tuple[str, int]) -> None:
        super().__init__(server, key)
        self.sent = 0
        self.received = 0
        self.start = 0
        self.local: tuple[str, int] = ("-", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.start = int(self.server.wall())
        local = transport.get_extra_info("sockname") or ("-", 0)
        self.local = (str(local[0]), int(local[1]))
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        server = self.server
        server.pool_discard(self)
        server.logs.connection(
            self.local,
            self.key,
            self.sent,
            self.received,
            self.start,
            int(server.wall()),
            outbound=True,
        )
        if self.exchange is not None:
            self.exchange.upstream_lost()

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        exchange = self.exchange
        if exchange is None:  # unsolicited bytes on an idle connection
            self.close()
            return
        exchange.from_upstream(data)

    def write(self, data: bytes) -> None:
        self.sent += len(data)
        self.transport.write(data)


class Exchange(ExchangeBase):
    """One plain-HTTP request forwarded upstream and its response streamed back."""

    def __init__(
        self,
        server: ProxyServer,
        client: ClientConnection,
        req: Request,
        target: _Target,
        user: str,
        rule: str,
        cache_entry: CacheEntry | None,
        cacheable: bool,
    ) -> None:
        self.server = server
        self.client = client
        self.req = req
        self.target = target
        self.user = user
        self.rule = rule
        self.upstream: Upstream | None = None
        self.parser: Any = None
        self.status = 0
        self.reason = b""
        self.headers: Headers = []
        self.head_sent = False
        self.chunked_out = False
        self.up_keep_alive = True
        self.done = False
        self.body_bytes = 0
        self.revalidating = cache_entry
        self.cacheable = cacheable
        self.store_body: list[bytes] | None = None
        self.store_size = 0
        self.last_upstream = server.mono()
        self.request_time = 0.0
        self.code = "TCP_MISS"
        self.is_head = req.method == "HEAD"
        self.in_1xx = False
        self.attempts = 0
        self.sent_any_response = False
        self.content_type = ""
        self.client_keep = False
        self.until_close = False
        self.pending_head = b""

    # ------------------------------------------------------------ request side

    def attach(self, upstream: Upstream) -> None:
        self.request_time = self.server.wall()
        super().attach(upstream)

    def request_head(self) -> bytes:
        req = self.req
        target = self.target
        hop = _hop_names(req.headers)
        parts = [b"%s %s HTTP/1.1\r\n" % (req.method.encode(), target.path)]
        host_written = False
        for name, value in req.headers:
            lname = name.lower()
            if lname in hop:
                continue
            if lname == b"host":
                if host_written:
                    continue
                value = target.authority
                host_written = True
            elif lname == b"via":
                value = value + b", " + VIA
            parts.append(name + b": " + value + b"\r\n")
        if not host_written:
            parts.append(b"Host: " + target.authority + b"\r\n")
        if req.body_kind == 2:
            parts.append(b"Transfer-Encoding: chunked\r\n")
        if self.revalidating is not None:
            entry = self.revalidating
            if entry.etag is not None:
                parts.append(b"If-None-Match: " + entry.etag + b"\r\n")
            if entry.last_modified is not None:
                parts.append(b"If-Modified-Since: " + entry.last_modified + b"\r\n")
        parts.append(b"Via: " + VIA + b"\r\n\r\n")
        return b"".join(parts)

    def send_body(self, chunk: bytes) -> None:
        up = self.upstream
        if up is None or up.closed:
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
            if status == 100 or status == 103:
                self.client.write(b"HTTP/1.1 %d %s\r\n\r\n" % (status, self.reason))
            return
        self.in_1xx = False
        self.up_keep_alive = parser.should_keep_alive()
        headers = self.headers
        server = self.server
        entry = self.revalidating
        if entry is not None and status == 304:
            cache = server.cache
            assert cache is not None
            cache.refresh(entry, headers, self.request_time, server.wall())
            self.code = "TCP_REFRESH_UNMODIFIED"
            self.done = True
            self.finish_upstream()
            server.serve_entry(
                self.client, self.req, entry, self.code, self.user, self.rule, self.target
            )
            raise Abort
        if entry is not None:
            self.code = "TCP_REFRESH_MODIFIED"
        no_body = self.is_head or status in (204, 304)
        if (
            self.cacheable
            and server.cache is not None
            and response_storable(self.req.method, status, headers)
        ):
            self.store_body = []
        hop = _hop_names(headers)
        length = None
        chunked_in = False
        out = [b"HTTP/1.1 %d %s\r\n" % (status, self.reason)]
        for name, value in headers:
            lname = name.lower()
            if lname in hop:
                if lname == b"transfer-encoding":
                    chunked_in = True
                continue
            if lname == b"content-length":
                if chunked_in or has_header(headers, b"transfer-encoding"):
                    chunked_in = True
                    continue
                length = value
            elif lname == b"content-type":
                self.content_type = value.decode("latin-1")
            elif lname == b"via":
                value = value + b", " + VIA
            out.append(name + b": " + value + b"\r\n")
        client_keep = self.req.keep_alive and self.req.complete
        if no_body:
            pass
        elif length is None:
            self.until_close = not chunked_in
            if self.req.version == "1.1":
                self.chunked_out = True
                out.append(b"Transfer-Encoding: chunked\r\n")
            else:
                client_keep = False
        self.client_keep = client_keep
        out.append(b"Via: " + VIA + b"\r\n")
        out.append(KEEP_ALIVE if client_keep else CLOSE)
        self.client.exchange = self
        self.pending_head = b"".join(out)  # sent with the first body bytes: one write
        self.head_sent = True
        if self.is_head:
            self.on_message_complete()
            raise Abort

    def on_body(self, body: bytes) -> None:
        if self.in_1xx:
            return
        self.body_bytes += len(body)
        head = self.pending_head
        if head:
            self.pending_head = b""
            body_out = b"%x\r\n" % len(body) + body + b"\r\n" if self.chunked_out else body
            self.client.write(head + body_out if len(body_out) < 65536 else head)
            if len(body_out) >= 65536:
                self.client.write(body_out)
        elif self.chunked_out:
            self.client.write(b"%x\r\n" % len(body) + body + b"\r\n")
        else:
            self.client.write(body)
        store = self.store_body
        if store is not None:
            self.store_size += len(body)
            if self.store_size > self.server.config.cache_max_object_bytes:
                self.store_body = None
            else:
                store.append(body)

    def on_message_complete(self) -> None:
        if self.in_1xx:
            self.in_1xx = False
            return
        if self.done:
            return
        self.done = True
        server = self.server
        tail = b"0\r\n\r\n" if self.chunked_out else b""
        if self.pending_head or tail:
            self.client.write(self.pending_head + tail)
            self.pending_head = b""
        if self.store_body is not None and server.cache is not None:
            server.cache.store(
                self.target.cache_key,
                self.req.headers,
                self.status,
                self.reason,
                self.headers,
                b"".join(self.store_body),
                self.request_time,
                server.wall(),
            )
        self.finish_upstream()
        server.log_request(
            self.client,
            self.req,
            self.code,
            self.status,
            self.body_bytes,
            self.user,
            f"HIER_DIRECT/{self.target.ip}",
            self.content_type,
            self.rule,
            self.target,
        )
        self.client.request_done(self.client_keep)

    # --------------------------------------------------------------- failures

    def fail(self, status: int, message: str) -> None:
        if not self.drop_upstream():
            return
        if self.head_sent:  # too late for an error page: cut the response short
            self.server.log_request(
                self.client,
                self.req,
                "TCP_MISS_ABORTED",
                self.status,
                self.body_bytes,
                self.user,
                f"HIER_DIRECT/{self.target.ip}",
                self.content_type,
                self.rule,
                self.target,
            )
            self.client.abort()
            self.client.request_done(False)
            return
        self.server.log_request(
            self.client,
            self.req,
            "TCP_MISS",
            status,
            0,
            self.user,
            f"HIER_DIRECT/{self.target.ip}",
            "text/html",
            self.rule,
            self.target,
        )
        self.client.respond_error(status, message)

    def bad_response(self) -> None:
        self.fail(502, "the upstream server sent an invalid response")

    def retry(self) -> None:
        self.server.retry(self)

    def upstream_closed(self) -> None:
        self.fail(502, "the upstream server closed the connection")


# ============================================================================== tunnel


class TunnelUpstream(asyncio.Protocol):
    def __init__(self, tunnel: Tunnel) -> None:
        self.tunnel = tunnel
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.start = 0
        self.local: tuple[str, int] = ("-", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.start = int(self.tunnel.server.wall())
        local = transport.get_extra_info("sockname") or ("-", 0)
        self.local = (str(local[0]), int(local[1]))
        set_nodelay(transport)
        self.transport.set_write_buffer_limits(high=self.tunnel.server.config.buffer_bytes)

    def data_received(self, data: bytes) -> None:
        self.tunnel.from_upstream(data)

    def eof_received(self) -> bool | None:
        return self.tunnel.upstream_eof()

    def connection_lost(self, exc: Exception | None) -> None:
        self.tunnel.upstream_lost()

    def pause_writing(self) -> None:
        self.tunnel.client.pause("tunnel-upstream")

    def resume_writing(self) -> None:
        self.tunnel.client.resume("tunnel-upstream")


class Tunnel:
    """A CONNECT tunnel: bytes copied both ways, with half-close and backpressure."""

    def __init__(
        self,
        server: ProxyServer,
        client: ClientConnection,
        req: Request,
        target: _Target,
        user: str,
        rule: str,
    ) -> None:
        self.server = server
        self.client = client
        self.req = req
        self.target = target
        self.user = user
        self.rule = rule
        self.up: TunnelUpstream | None = None
        self.up_bytes = 0
        self.down_bytes = 0
        self.client_eof_seen = False
        self.upstream_eof_seen = False
        self.finished = False

    def established(self, up: TunnelUpstream) -> None:
        self.up = up
        client = self.client
        client.tunnel = self
        client.write(b"HTTP/1.1 200 Connection established\r\nVia: 1.1 bastion\r\n\r\n")
        for chunk in self.req.pending:
            self.from_client(chunk)
        self.req.pending = []
        client.resume("tunnel")

    def from_client(self, data: bytes) -> None:
        up = self.up
        if up is None:
            self.req.pending.append(data)
            return
        self.up_bytes += len(data)
        up.transport.write(data)

    def from_upstream(self, data: bytes) -> None:
        self.client.last_activity = self.server.mono()
        self.down_bytes += len(data)
        self.client.write(data)

    def client_eof(self) -> bool:
        self.client_eof_seen = True
        up = self.up
        if up is not None and up.transport.can_write_eof():
            up.transport.write_eof()
        if self.upstream_eof_seen:
            self.close()
            return False
        return True

    def upstream_eof(self) -> bool:
        self.upstream_eof_seen = True
        transport = self.client.transport
        if not self.client.closed and transport.can_write_eof():
            transport.write_eof()
        if self.client_eof_seen:
            self.close()
            return False
        return True

    def upstream_lost(self) -> None:
        self.client.close()
        self._log()

    def client_lost(self) -> None:
        if self.up is not None:
            self.up.transport.close()
        self._log()

    def close(self) -> None:
        self.client.close()
        if self.up is not None:
            self.up.transport.close()

    def pause_upstream(self) -> None:
        if self.up is not None:
            self.up.transport.pause_reading()

    def resume_upstream(self) -> None:
        if self.up is not None:
            self.up.transport.resume_reading()

    def _log(self) -> None:
        if self.finished:
            return
        self.finished = True
        server = self.server
        up = self.up
        if up is not None:
            server.logs.connection(
                up.local,
                (str(self.target.ip), self.target.port),
                self.up_bytes,
                self.down_bytes,
                up.start,
                int(server.wall()),
                outbound=True,
            )
        server.log_request(
            self.client,
            self.req,
            "TCP_TUNNEL",
            200,
            self.down_bytes,
            self.user,
            f"HIER_DIRECT/{self.target.ip}",
            "-",
            self.rule,
            self.target,
        )


# ============================================================================== server


class _Target:
    __slots__ = ("authority", "cache_key", "host", "ip", "path", "port", "url")

    def __init__(self, host: str, port: int, path: bytes, authority: bytes, url: str) -> None:
        self.host = host
        self.port = port
        self.path = path
        self.authority = authority
        self.url = url
        self.cache_key = url
        self.ip: IPAddress | str = "-"


def _parse_target(req: Request) -> _Target | str:
    """The destination of a request, or an error message."""
    raw = req.url
    if req.method == "CONNECT":
        host_b, sep, port_b = raw.rpartition(b":")
        if not sep or not port_b.isdigit():
            return "CONNECT needs host:port"
        host = normalize_host(host_b.decode("latin-1"))
        port = int(port_b)
        if not host or not 0 < port < 65536:
            return "bad CONNECT target"
        return _Target(host, port, b"", raw, raw.decode("latin-1"))
    try:
        url = httptools.parse_url(raw)
    except httptools.HttpParserInvalidURLError:
        return "invalid URL"
    schema = (url.schema or b"").lower()
    if not schema or not url.host:
        return "this is a proxy: send absolute-form requests (http://host/path)"
    if schema != b"http":
        return f"unsupported scheme {schema.decode('latin-1')!r} (use CONNECT for https)"
    if url.userinfo:
        return "credentials in the URL are not accepted"
    host = normalize_host(url.host.decode("latin-1"))
    port = url.port or 80
    path = url.path or b"/"
    if url.query is not None:
        path += b"?" + url.query
    host_b = url.host if b":" not in url.host else b"[" + url.host + b"]"
    authority = host_b if port == 80 else host_b + b":%d" % port
    canonical = "http://" + authority.decode("latin-1").lower() + path.decode("latin-1")
    return _Target(host, port, path, authority, canonical)


class ProxyServer(UpstreamPool, BackgroundTasks):
    """The forward proxy. Build, `await start()`, `await stop()`."""

    _log = log
    _task_failed = "proxy background task failed"

    def __init__(
        self,
        config: ProxyConfig,
        *,
        clock: Clock,
        log_dir: Path,
        account_id: str = "000000000000",
        region: str = "us-east-1",
        store: Any = None,
        resolver: Resolver | None = None,
        iam: IamKeys | None = None,
        rules: RuleSet | None = None,
        users: dict[str, tuple[str, bool]] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.mono: Callable[[], float] = clock.monotonic
        self.store = store
        self.rules = rules or RuleSet(default_action=config.default_action)
        self.auth = ProxyAuthenticator(users, monotonic=clock.monotonic, iam=iam)
        self.resolver: Resolver = resolver or SystemResolver(clock.monotonic, config.dns_cache_ttl)
        self.logs = ProxyLogs(
            log_dir,
            now=clock.now,
            account_id=account_id,
            region=region,
            vpc_id=config.vpc_id,
            interface_id=config.interface_id or interface_id_for(f"{config.host}:{config.port}"),
        )
        self.cache: HttpCache | None = (
            HttpCache(
                memory_bytes=config.cache_memory_bytes,
                max_object_bytes=config.cache_max_object_bytes,
                now=self.wall,
                disk_dir=log_dir / "cache" if config.cache_disk_bytes else None,
                disk_bytes=config.cache_disk_bytes,
            )
            if config.cache_enabled
            else None
        )
        self.clients: set[ClientConnection] = set()
        self.pool: dict[tuple[str, int], list[Upstream]] = {}
        self.servers: list[asyncio.AbstractServer] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.version = -1
        self._list_mtimes: dict[str, float] = {}
        self._background: list[asyncio.Task[Any]] = []
        self.sockets: list[socket.socket] = []
        self._query_source: tuple[str, int] = ("127.0.0.1", 0)
        hook = getattr(self.resolver, "on_query", "absent")
        if hook is None:
            self.resolver.on_query = self._dns_logged  # type: ignore[attr-defined]

    # ------------------------------------------------------------ lifecycle

    def wall(self) -> float:
        return self.clock.now().timestamp()

    @property
    def port(self) -> int:
        for srv in self.servers:
            for sock in srv.sockets:
                return int(sock.getsockname()[1])
        for sock in self.sockets:
            return int(sock.getsockname()[1])
        return self.config.port

    def bind(self) -> list[socket.socket]:
        """Bind the listening sockets now (so a busy port fails at once)."""
        if self.sockets:
            return self.sockets
        host = self.config.host
        hosts = [h.strip() for h in host.split(",")] if host else ["0.0.0.0"]  # noqa: S104
        port = self.config.port
        for h in hosts:
            family = socket.AF_INET6 if ":" in h else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((h, port))
            sock.listen(4096)
            sock.setblocking(False)
            self.sockets.append(sock)
            if port == 0:
                port = sock.getsockname()[1]
        return self.sockets

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        if self.store is not None:
            await self.reload()
        for sock in self.bind():
            srv = await self.loop.create_server(lambda: ClientConnection(self), sock=sock)
            self.servers.append(srv)
        self._background = [
            self.loop.create_task(self._every(1.0, self.sweep)),
            self.loop.create_task(self._every(self.config.log_flush_interval, self.logs.flush)),
        ]
        if self.store is not None:
            self._background.append(self.loop.create_task(self._poll()))
        log.info("forward proxy listening on %s:%d", self.config.host, self.port)

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        for srv in self.servers:
            srv.close()
        for client in list(self.clients):
            client.abort()
        self.pool_close_all()
        for task in list(self.tasks):
            task.cancel()
        for srv in self.servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(srv.wait_closed(), 2)
        await asyncio.sleep(0)
        self.logs.flush()

    # -------------------------------------------------------- configuration

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_interval)
            try:
                await self.reload(only_if_changed=True)
            except Exception:  # pragma: no cover - storage hiccup: keep the old rules
                log.exception("proxy configuration reload failed")

    async def reload(self, *, only_if_changed: bool = False) -> bool:
        """Load users, rules and lists from storage and swap them in (connections stay)."""
        from bastion.dataplane.proxy import repo

        loop = asyncio.get_running_loop()
        store = self.store
        if store is None:
            return False
        if only_if_changed:
            version = await loop.run_in_executor(None, repo.current_version, store)
            files_changed = await loop.run_in_executor(None, self._lists_changed)
            if version == self.version and not files_changed:
                return False
        snapshot = await loop.run_in_executor(None, repo.load_snapshot, store)
        rules = await loop.run_in_executor(None, self._compile, snapshot)
        self.rules = rules
        self.auth.set_users(snapshot.users)
        self.version = snapshot.version
        return True

    def _compile(self, snapshot: Any) -> RuleSet:
        from bastion.dataplane.proxy.repo import read_list_file

        lists = BlockLists()
        for record in snapshot.lists:
            entries = list(record.entries)
            path = Path(record.source_path) if record.source_path else None
            if path is not None and path.is_file():
                try:
                    mtime = path.stat().st_mtime
                    if self._list_mtimes.get(record.name, mtime) != mtime:
                        entries = read_list_file(path, record.kind)  # changed on disk
                    self._list_mtimes[record.name] = mtime
                except (OSError, ValueError):
                    log.warning("block list %s: cannot re-read %s", record.name, path)
            lists.add(record.name, record.kind, entries)
        self._list_paths = {r.name: r.source_path for r in snapshot.lists if r.source_path}
        return RuleSet(
            snapshot.rules,
            lists,
            default_action=self.config.default_action,
            version=snapshot.version,
        )

    def _lists_changed(self) -> bool:
        for name, path in getattr(self, "_list_paths", {}).items():
            try:
                mtime = Path(path).stat().st_mtime
            except OSError:
                continue
            if self._list_mtimes.get(name) != mtime:
                return True
        return False

    def set_rules(self, rules: RuleSet) -> None:
        self.rules = rules

    # ------------------------------------------------------------- requests

    def handle(self, client: ClientConnection, req: Request) -> None:
        """Serve `req`: synchronously as far as possible (cached credentials, cached DNS,
        a pooled upstream connection or a cache hit need no coroutine); a task only for
        what must wait (password hashing, DNS, connecting)."""
        try:
            target = _parse_target(req)
            if isinstance(target, str):
                self.log_request(client, req, "NONE", 400, 0, "", "HIER_NONE/-", "-", "-", None)
                client.respond_error(400, target)
                return
            user = ""
            if self.config.auth_required:
                header = req.auth
                if header is None:
                    self._auth_failed(client, req, target, "proxy authentication required")
                    return
                known, identity = self.auth.cached(header)
                if not known:
                    self.spawn(self._verify_then(client, req, target, header))
                    return
                if identity is None:
                    self._auth_failed(client, req, target, "wrong proxy credentials")
                    return
                user = identity.user
            self._filter(client, req, target, user)
        except Exception:
            self._internal_error(client, req)

    def _internal_error(self, client: ClientConnection, req: Request) -> None:
        log.exception("proxy request failed")
        if client.current is req and not client.closed:
            client.respond_error(502, "internal proxy error", close=True)

    def _auth_failed(
        self, client: ClientConnection, req: Request, target: _Target, message: str
    ) -> None:
        self.log_request(client, req, "TCP_DENIED", 407, 0, "", "HIER_NONE/-", "-", "-", target)
        client.respond_error(407, message)

    async def _verify_then(
        self, client: ClientConnection, req: Request, target: _Target, header: bytes
    ) -> None:
        try:
            identity = await self.auth.verify(header)
            if client.closed:
                return
            if identity is None:
                self._auth_failed(client, req, target, "wrong proxy credentials")
                return
            self._filter(client, req, target, identity.user)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._internal_error(client, req)

    def _filter(self, client: ClientConnection, req: Request, target: _Target, user: str) -> None:
        path = "" if req.method == "CONNECT" else target.path.decode("latin-1")
        view = RequestView(target.host, target.port, req.method, path, client.peer[0], user)
        decision = self.rules.evaluate(view)
        if decision is not NEED_IP and not decision.allowed:
            self._deny(client, req, target, user, decision, "-")
            return
        addresses = self.resolver.cached(target.host)
        if addresses is None:
            self.spawn(self._resolve_then(client, req, target, user, view, decision))
            return
        self._route(client, req, target, user, view, decision, addresses)

    async def _resolve_then(
        self,
        client: ClientConnection,
        req: Request,
        target: _Target,
        user: str,
        view: RequestView,
        decision: Decision,
    ) -> None:
        try:
            self._query_source = client.local
            try:
                addresses = await self.resolver.resolve(target.host)
            except ResolveError as exc:
                self.log_request(client, req, "NONE", 503, 0, user, "HIER_NONE/-", "-", "-", target)
                client.respond_error(503, f"cannot resolve {target.host} ({exc.rcode})")
                return
            if not client.closed:
                self._route(client, req, target, user, view, decision, addresses)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._internal_error(client, req)

    def _route(
        self,
        client: ClientConnection,
        req: Request,
        target: _Target,
        user: str,
        view: RequestView,
        decision: Decision,
        addresses: list[IPAddress],
    ) -> None:
        rules = self.rules
        allowed: list[IPAddress] = []
        denial: Decision | None = None
        rule_name = decision.rule if decision is not NEED_IP else "-"
        for ip in addresses:
            d = rules.evaluate(view, ip)
            if d.allowed:
                allowed.append(ip)
                rule_name = d.rule
            elif denial is None:
                denial = d
        if not allowed:
            denial = denial or Decision("deny", "no-address", "the name has no address")
            self._deny(client, req, target, user, denial, str(addresses[0]) if addresses else "-")
            return
        target.ip = allowed[0]
        if req.method == "CONNECT":
            self.spawn(self._tunnel(client, req, target, user, rule_name, allowed))
            return
        cache = self.cache
        entry = None
        cacheable = False
        if cache is not None:
            if req.method in UNSAFE_METHODS:
                cache.invalidate(target.cache_key)
            elif request_cacheable(req.method, req.headers):
                cacheable = True
                entry = cache.lookup(target.cache_key, req.headers)
                if entry is not None:
                    cc = parse_cache_control(get_header(req.headers, b"cache-control"))
                    pragma = get_header(req.headers, b"pragma")
                    if pragma is not None and b"no-cache" in pragma.lower() and not cc:
                        cc = {"no-cache": ""}
                    if entry.is_fresh(self.wall(), cc):
                        cache.stats["hits"] += 1
                        self.serve_entry(client, req, entry, "TCP_MEM_HIT", user, rule_name, target)
                        return
                cache.stats["misses"] += 1
        exchange = Exchange(self, client, req, target, user, rule_name, entry, cacheable)
        client.exchange = exchange
        for ip in allowed:
            up = self.pool_take((str(ip), target.port))
            if up is not None:
                target.ip = ip
                exchange.attach(up)
                return
        self.spawn(self._connect_then(client, exchange, allowed, target.port))

    async def _connect_then(
        self,
        client: ClientConnection,
        exchange: Exchange,
        addresses: list[IPAddress],
        port: int,
    ) -> None:
        try:
            up = await self._upstream(client, exchange, addresses, port, pooled=False)
            if up is not None:
                exchange.attach(up)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._internal_error(client, exchange.req)

    def retry(self, exchange: Exchange) -> None:
        async def again() -> None:
            ip = exchange.target.ip
            up = await self._upstream(
                exchange.client, exchange, [ip], exchange.target.port, pooled=False
            )  # type: ignore[list-item]
            if up is not None:
                exchange.attach(up)

        self.spawn(again())

    async def _upstream(
        self,
        client: ClientConnection,
        exchange: Exchange,
        addresses: list[IPAddress],
        port: int,
        *,
        pooled: bool = True,
    ) -> Upstream | None:
        if pooled:
            for ip in addresses:
                up = self.pool_take((str(ip), port))
                if up is not None:
                    exchange.target.ip = ip
                    return up
        try:
            up, ip = await self._connect(
                addresses, port, lambda ip: Upstream(self, (str(ip), port))
            )
        except TimeoutError:
            exchange.fail(504, f"connecting to {exchange.target.host} timed out")
            return None
        except OSError as exc:
            exchange.fail(502, f"cannot connect to {exchange.target.host}: {exc.strerror or exc}")
            return None
        exchange.target.ip = ip
        if client.closed or exchange.done:
            up.close()
            return None
        return up  # type: ignore[return-value]

    async def _connect(
        self, addresses: list[IPAddress], port: int, factory: Callable[[IPAddress], Any]
    ) -> tuple[Any, IPAddress]:
        """Happy eyeballs (RFC 8305): families interleaved, a new attempt every
        `happy_eyeballs_delay` seconds until one connects; the others are dropped."""
        loop = asyncio.get_running_loop()
        timeout = self.config.connect_timeout
        ordered = interleave(addresses)
        if len(ordered) == 1:
            ip = ordered[0]
            _, proto = await asyncio.wait_for(
                loop.create_connection(lambda: factory(ip), str(ip), port), timeout
            )
            return proto, ip

        async def attempt(ip: IPAddress) -> tuple[Any, IPAddress]:
            _, proto = await loop.create_connection(lambda: factory(ip), str(ip), port)
            return proto, ip

        pending: set[asyncio.Task[tuple[Any, IPAddress]]] = set()
        errors: list[BaseException] = []
        deadline = loop.time() + timeout
        remaining = list(ordered)
        try:
            while remaining or pending:
                if remaining:
                    pending.add(loop.create_task(attempt(remaining.pop(0))))
                wait = min(self.config.happy_eyeballs_delay, deadline - loop.time())
                if not remaining:
                    wait = deadline - loop.time()
                if wait <= 0:
                    raise TimeoutError
                done, _ = await asyncio.wait(
                    pending, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    pending.discard(task)
                    if task.exception() is None:
                        return task.result()
                    errors.append(task.exception())  # type: ignore[arg-type]
            raise errors[-1] if errors else TimeoutError
        finally:
            for task in pending:
                task.cancel()
                task.add_done_callback(_close_winner)

    async def _tunnel(
        self,
        client: ClientConnection,
        req: Request,
        target: _Target,
        user: str,
        rule: str,
        addresses: list[IPAddress],
    ) -> None:
        tunnel = Tunnel(self, client, req, target, user, rule)
        try:
            up, ip = await self._connect(addresses, target.port, lambda ip: TunnelUpstream(tunnel))
        except TimeoutError:
            self.log_request(client, req, "NONE", 504, 0, user, "HIER_NONE/-", "-", rule, target)
            client.respond_error(504, f"connecting to {target.host} timed out", close=True)
            return
        except OSError as exc:
            self.log_request(client, req, "NONE", 502, 0, user, "HIER_NONE/-", "-", rule, target)
            client.respond_error(
                502, f"cannot connect to {target.host}: {exc.strerror or exc}", close=True
            )
            return
        target.ip = ip
        if client.closed:
            up.transport.close()
            return
        tunnel.established(up)

    def _deny(
        self,
        client: ClientConnection,
        req: Request,
        target: _Target,
        user: str,
        decision: Decision,
        ip: str,
    ) -> None:
        self.logs.rejected(client.peer, ip, target.port, int(self.wall()))
        self.log_request(
            client,
            req,
            "TCP_DENIED",
            403,
            0,
            user,
            "HIER_NONE/-",
            "text/html",
            decision.rule,
            target,
        )
        client.respond_error(
            403,
            f"Access to {target.host}:{target.port} is denied: {decision.reason}",
            rule=decision.rule,
        )

    def serve_entry(
        self,
        client: ClientConnection,
        req: Request,
        entry: CacheEntry,
        code: str,
        user: str,
        rule: str,
        target: _Target,
    ) -> None:
        now = self.wall()
        age = int(entry.current_age(now))
        inm = get_header(req.headers, b"if-none-match")
        keep = req.keep_alive and req.complete
        tail = b"Connection: keep-alive\r\n\r\n" if keep else b"Connection: close\r\n\r\n"
        if (
            inm is not None
            and entry.etag is not None
            and (inm.strip() == b"*" or entry.etag in [t.strip() for t in inm.split(b",")])
        ):
            head = entry.head_bytes.replace(b"HTTP/1.1 %d " % entry.status, b"HTTP/1.1 304 ", 1)
            client.write(head + b"Age: %d\r\nVia: 1.1 bastion\r\n" % age + tail)
            status, nbytes = 304, 0
        else:
            body = b"" if req.method == "HEAD" else entry.body
            client.write(
                entry.head_bytes
                + b"Age: %d\r\nContent-Length: %d\r\nVia: 1.1 bastion\r\n" % (age, len(entry.body))
                + tail
                + body
            )
            status, nbytes = entry.status, len(body)
        ctype = get_header(entry.headers, b"content-type")
        self.log_request(
            client,
            req,
            code,
            status,
            nbytes,
            user,
            "HIER_NONE/-" if code.endswith("HIT") else f"HIER_DIRECT/{target.ip}",
            ctype.decode("latin-1") if ctype else "-",
            rule,
            target,
        )
        client.request_done(keep)

    # ---------------------------------------------------------------- sweep

    def sweep(self) -> None:
        """Enforce every timeout against the clock (called once a second)."""
        now = self.mono()
        cfg = self.config
        for client in list(self.clients):
            if client.closed:
                continue
            if client.tunnel is not None:
                if now - client.last_activity > cfg.tunnel_idle_timeout:
                    client.tunnel.close()
                continue
            exchange = client.exchange
            if (
                exchange is not None
                and not exchange.done
                and (
                    not exchange.head_sent
                    and exchange.upstream is not None
                    and now - exchange.last_upstream > cfg.read_timeout
                )
            ):
                exchange.fail(504, "the upstream server did not answer in time")
                continue
            client.sweep_timeouts(now, cfg)
        self.pool_sweep(now)

    # ------------------------------------------------------------------ logs

    def log_request(
        self,
        client: ClientConnection,
        req: Request,
        code: str,
        status: int,
        nbytes: int,
        user: str,
        hierarchy: str,
        content_type: str,
        rule: str,
        target: _Target | None,
    ) -> None:
        start = req.start_wall or self.wall()
        elapsed = int((self.wall() - start) * 1000)
        if target is None:
            url = req.url.decode("latin-1")
        elif req.method == "CONNECT":
            url = f"{target.host}:{target.port}"
        else:
            url = target.url
        self.logs.request(
            start=start,
            elapsed_ms=elapsed,
            client=client.peer[0],
            code=code,
            status=status,
            nbytes=nbytes,
            method=req.method or "NONE",
            url=url,
            user=user,
            hierarchy=hierarchy,
            content_type=(content_type or "-").split(";")[0].strip() or "-",
            rule=rule,
        )

    def _dns_logged(self, name: str, qtype: str, rcode: str, answers: list[str]) -> None:
        self.logs.dns_query(name, qtype, rcode, answers, self._query_source)

    def stats(self) -> dict[str, Any]:
        return {
            "clients": len(self.clients),
            "pooled": sum(len(v) for v in self.pool.values()),
            "cache": dict(self.cache.stats) if self.cache else {},
            "rules_version": self.version,
        }


def _close_winner(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is None:
        proto, _ = task.result()
        transport = getattr(proto, "transport", None)
        if transport is not None:
            transport.close()


def format_date(ts: float) -> str:
    return format_http_date(ts)
