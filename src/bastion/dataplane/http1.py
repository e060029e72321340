"""HTTP/1.1 plumbing shared by the edge (reverse proxy) and the forward proxy.

Both are raw `asyncio.Protocol`s with httptools parsers on both sides. What is the same
logic on both lives here as base classes, so the hot paths pay no extra call: the client
side's read pausing and pipelining, the upstream side's keep-alive connection, the
exchange's parser callbacks, body relaying, back-pressure and upstream hand-back, and
the servers' upstream connection pool. What differs (error pages, logging, headers
added, retry policy) stays in each server, through the few hooks named below.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Any, cast

import httptools

Headers = list[tuple[bytes, bytes]]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authorization",
        b"proxy-authenticate",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
KEEP_ALIVE = b"Connection: keep-alive\r\n\r\n"
CLOSE = b"Connection: close\r\n\r\n"


class Abort(Exception):
    """Stop feeding the current parser (the message ended early, e.g. a HEAD response)."""


def has_header(headers: Headers, name: bytes) -> bool:
    return any(key.lower() == name for key, _ in headers)


def get_header(headers: Headers, name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle off on the transport's socket (where there is one)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


# ========================================================================= client side


class ClientBase(asyncio.Protocol):
    """The client side's shared transport handling. Subclasses set `transport`, `closed`,
    `paused`, `current`, `queue` and `handler` (whose `handle(conn, req)` serves one
    request at a time)."""

    transport: asyncio.Transport
    closed: bool
    paused: set[str]
    current: Any
    parsing: Any
    queue: Any
    handler: Any
    last_activity: float

    def header_timed_out(self) -> None:
        """A request's head is too slow and no response is under way: answer 408."""
        raise NotImplementedError

    def body_timed_out(self) -> None:
        """A request's body is too slow."""
        raise NotImplementedError

    def pause(self, why: str) -> None:
        if not self.paused and not self.closed:
            self.transport.pause_reading()
        self.paused.add(why)

    def resume(self, why: str) -> None:
        if why in self.paused:
            self.paused.discard(why)
            if not self.paused and not self.closed:
                self.transport.resume_reading()

    def close(self) -> None:
        if not self.closed:
            self.transport.close()

    def abort(self) -> None:
        if not self.closed:
            self.transport.abort()

    def _enqueue(self, req: Any) -> None:
        if self.current is None:
            self.current = req
            self.handler.handle(self, req)
        else:
            self.queue.append(req)
            if len(self.queue) >= 4:
                self.pause("pipeline")

    def sweep_timeouts(self, now: float, cfg: Any) -> None:
        """Enforce the header, body and idle timeouts (from the server's sweep)."""
        parsing = self.parsing
        if parsing is not None and not parsing.head_done:
            if now - parsing.begin > cfg.header_timeout:
                if self.current is None:
                    self.header_timed_out()
                else:
                    self.abort()
            return
        if parsing is not None and parsing.head_done and not parsing.complete:
            if now - parsing.last_body > cfg.body_timeout:
                self.body_timed_out()
            return
        if self.current is None and parsing is None and now - self.last_activity > cfg.idle_timeout:
            self.close()


# ======================================================================= upstream side


class UpstreamBase(asyncio.Protocol):
    """A keep-alive connection upstream, used by one exchange at a time."""

    def __init__(self, server: Any, key: tuple[str, int]) -> None:
        self.server = server
        self.key = key
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.exchange: Any = None
        self.closed = False
        self.idle_since = 0.0
        self.reused = False
        self.write_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        set_nodelay(transport)
        self.transport.set_write_buffer_limits(high=self.server.config.buffer_bytes)

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:  # unsolicited bytes on an idle connection
            self.close()
            return
        exchange.from_upstream(data)

    def eof_received(self) -> bool | None:
        return None

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.exchange is not None:
            self.exchange.client.pause("upstream")

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.exchange is not None:
            self.exchange.client.resume("upstream")

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()


class ExchangeBase:
    """One request forwarded upstream and its response streamed back: the shared parts.

    Subclasses set the attributes in `__init__` and define `send_body`, `request_head`,
    the response callbacks `on_headers_complete`/`on_body`/`on_message_complete`, and
    the hooks `bad_response()` (the upstream sent an unparseable response),
    `retry()` (try a fresh connection) and `upstream_closed()` (answer its loss).
    """

    server: Any
    client: Any
    req: Any
    upstream: Any
    parser: Any
    reason: bytes
    headers: Headers
    head_sent: bool
    up_keep_alive: bool
    done: bool
    attempts: int
    sent_any_response: bool
    until_close: bool
    last_upstream: float

    def send_body(self, chunk: bytes) -> None:
        raise NotImplementedError

    def request_head(self) -> bytes:
        raise NotImplementedError

    def on_message_complete(self) -> None:
        raise NotImplementedError

    def bad_response(self) -> None:
        raise NotImplementedError

    def retry(self) -> None:
        raise NotImplementedError

    def upstream_closed(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ request side

    def attach(self, upstream: Any) -> None:
        self.upstream = upstream
        upstream.exchange = self
        self.attempts += 1
        self.parser = httptools.HttpResponseParser(self)
        self.last_upstream = self.server.mono()
        req = self.req
        upstream.write(self.request_head())
        if req.pending:
            for chunk in req.pending:
                self.send_body(chunk)
            if self.attempts > 1 or not self.idempotent():
                req.pending = []
        if req.pending_bytes:
            req.pending_bytes = 0
            self.client.resume("body")
        if self.attempts == 1:
            req.sink = self
        if req.complete and req.body_kind:
            self.end_body()

    def idempotent(self) -> bool:
        return self.req.method in ("GET", "HEAD", "OPTIONS") and not self.req.body_kind

    def end_body(self) -> None:
        up = self.upstream
        if up is not None and not up.closed and self.req.body_kind == 2:
            up.write(b"0\r\n\r\n")

    # ----------------------------------------------------------- response side

    def from_upstream(self, data: bytes) -> None:
        self.last_upstream = self.server.mono()
        try:
            self.parser.feed_data(data)
        except Abort:
            pass
        except httptools.HttpParserError:
            self.bad_response()

    def on_message_begin(self) -> None:
        self.headers = []

    def on_status(self, status: bytes) -> None:
        self.reason = status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def finish_upstream(self) -> None:
        up = self.upstream
        if up is None:
            return
        self.upstream = None
        up.exchange = None
        if self.client.write_paused:
            with contextlib.suppress(Exception):
                up.transport.resume_reading()
        if self.up_keep_alive and self.req.complete and not up.closed:
            self.server.pool_put(up)
        else:
            up.close()
        self.client.resume("upstream")

    # --------------------------------------------------------------- failures

    def upstream_lost(self) -> None:
        if self.done:
            return
        up = self.upstream
        self.upstream = None
        if (
            not self.head_sent
            and not self.sent_any_response
            and up is not None
            and up.reused
            and self.attempts == 1
            and self.idempotent()
        ):
            # a pooled connection the server had closed meanwhile: try a fresh one
            self.retry()
            return
        if self.head_sent and self.until_close:  # a body delimited by the close
            self.up_keep_alive = False
            self.on_message_complete()
        if not self.done:
            self.upstream_closed()

    def drop_upstream(self) -> bool:
        """Mark the exchange done and close its upstream connection (for a failure);
        False when it was done already."""
        if self.done:
            return False
        self.done = True
        up = self.upstream
        if up is not None:
            up.exchange = None
            up.close()
            self.upstream = None
        return True

    def client_lost(self) -> None:
        if not self.done:
            self.done = True
            up = self.upstream
            if up is not None:
                up.exchange = None
                up.close()

    def pause_upstream(self) -> None:
        up = self.upstream
        if up is not None and not up.closed:
            up.transport.pause_reading()

    def resume_upstream(self) -> None:
        up = self.upstream
        if up is not None and not up.closed:
            up.transport.resume_reading()


# ============================================================================== server


class UpstreamPool:
    """Idle keep-alive upstream connections by (host, port). Subclasses set `pool`,
    `config` (with `upstream_pool_size`, `upstream_idle_timeout`) and `mono`."""

    pool: dict[tuple[str, int], list[Any]]
    config: Any
    mono: Any

    def pool_take(self, key: tuple[str, int]) -> Any:
        conns = self.pool.get(key)
        while conns:
            up = conns.pop()
            if not up.closed:
                up.reused = True
                return up
        return None

    def pool_put(self, up: Any) -> None:
        conns = self.pool.setdefault(up.key, [])
        if len(conns) >= self.config.upstream_pool_size:
            up.close()
            return
        up.idle_since = self.mono()
        conns.append(up)

    def pool_discard(self, up: Any) -> None:
        conns = self.pool.get(up.key)
        if conns and up in conns:
            conns.remove(up)

    def pool_close_all(self) -> None:
        for conns in list(self.pool.values()):
            for up in list(conns):
                up.close()

    def pool_sweep(self, now: float) -> None:
        """Close connections idle longer than `upstream_idle_timeout`."""
        timeout = self.config.upstream_idle_timeout
        for conns in list(self.pool.values()):
            for up in list(conns):
                if now - up.idle_since > timeout:
                    up.close()


class BackgroundTasks:
    """Fire-and-forget tasks and periodic jobs of a server. Subclasses set `tasks`,
    `_log` (their logger) and `_task_failed` (the message a failed periodic job logs)."""

    tasks: set[asyncio.Task[Any]]
    _log: logging.Logger
    _task_failed: str

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _every(self, interval: float, fn: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                fn()
            except Exception:  # pragma: no cover - keep the loop alive
                self._log.exception(self._task_failed)
