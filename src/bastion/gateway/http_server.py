"""The control plane's HTTP/1.1 server: httptools on uvloop, straight to `BastionApp`.

Every API call pays this layer's cost, so it does the least a correct server can: one
parser per connection, the request handed over as an `HttpRequest` (no ASGI messages
in between), a call that never waits answered without a task (`eager`), and the whole
response (head and body) written with one send, where an ASGI server issues two; the
sends of one loop turn go out together when it ends. What it guarantees:
- keep-alive per HTTP/1.1 (HTTP/1.0 only when asked), requests on a connection answered
  in order (pipelined requests wait; reading pauses meanwhile);
- chunked request bodies, `Expect: 100-continue`, HEAD without a body;
- limits: the request head (64 KiB), the body (`max_body_bytes`, 413 in AWS's shape),
  a request must arrive within `request_timeout`, an idle connection closes after
  `keep_alive`; a malformed request gets 400 and the connection closes;
- on shutdown: stop accepting, finish the requests in flight, close the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import gc
import logging
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Coroutine
from http import HTTPStatus
from typing import Any

import httptools

from bastion.gateway import eager
from bastion.gateway.app import BastionApp
from bastion.protocol.http import HttpRequest, HttpResponse

log = logging.getLogger("bastion.http")

MAX_HEAD = 64 * 1024
SWEEP_INTERVAL = 1.0  # seconds between checks of idle and slow connections
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_UNSAFE = str.maketrans({"\r": " ", "\n": " "})


class _DateHeader:
    """The `date` header line, formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def line(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._line = b"date: " + email.utils.formatdate(now, usegmt=True).encode() + b"\r\n"
        return self._line


class _Connection(asyncio.Protocol):
    """One client connection: parse, queue, answer in order."""

    def __init__(self, front: HttpFront) -> None:
        self.front = front
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.client_ip = ""
        self.queue: deque[tuple[HttpRequest | HttpResponse, bool]] = deque()
        self.busy = False
        self.closing = False
        self.failed = False
        self.write_paused = False
        self.deadline: float | None = None
        self._reset_message()

    # --- connection events ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.client_ip = peer[0] if isinstance(peer, tuple) else ""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.front.connections.add(self)
        self._arm(self.front.keep_alive)

    def connection_lost(self, exc: Exception | None) -> None:
        self.front.connections.discard(self)
        self.closing = True
        self._disarm()

    def data_received(self, data: bytes) -> None:
        if self.closing or self.failed:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400)
        except httptools.HttpParserError:
            self._fail(400)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if not self.busy and not self.closing and self.transport is not None:
            self.transport.resume_reading()

    # --- parser callbacks -------------------------------------------------------------

    def _reset_message(self) -> None:
        self.url = b""
        self.headers: dict[str, str] = {}
        self.head_size = 0
        self.chunks: list[bytes] = []
        self.body_size = 0
        self.rejected: HttpResponse | None = None

    def on_message_begin(self) -> None:
        self._reset_message()
        self._arm(self.front.request_timeout)

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.head_size += len(url)
        if self.head_size > MAX_HEAD:
            raise httptools.HttpParserError("request head too large")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_size += len(name) + len(value) + 4
        if self.head_size > MAX_HEAD:
            raise httptools.HttpParserError("request head too large")
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers = self.headers
        headers[key] = f"{headers[key]},{text}" if key in headers else text

    def on_headers_complete(self) -> None:
        declared = self.headers.get("content-length", "")
        limit = self.front.app.runtime.settings.max_body_bytes
        if declared.isdigit() and int(declared) > limit:
            self.rejected = self.front.app.too_large()
            if not self.busy:  # answer now: a client awaiting 100-continue sends nothing
                self.busy = True
                self._write(self.rejected, False, False)
        elif self.headers.get("expect", "").lower() == "100-continue" and self.transport:
            self.front.send(self.transport, _CONTINUE)  # after any answer still queued

    def on_body(self, body: bytes) -> None:
        if self.rejected is not None:
            return
        self.body_size += len(body)
        if self.body_size > self.front.app.runtime.settings.max_body_bytes:
            self.rejected = self.front.app.too_large()
            self.chunks = []
            return
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self._disarm()
        keep_alive = bool(self.parser.should_keep_alive()) and self.rejected is None
        if self.rejected is not None:
            item: HttpRequest | HttpResponse = self.rejected
        else:
            url = httptools.parse_url(self.url)
            item = HttpRequest(
                method=self.parser.get_method().decode("ascii", "replace"),
                path=(url.path or b"/").decode("latin-1"),
                query_string=(url.query or b"").decode("latin-1"),
                headers=self.headers,
                body=b"".join(self.chunks),
                client_ip=self.client_ip,
                scheme="http",
            )
        self.queue.append((item, keep_alive))
        if self.busy:
            if self.transport is not None:
                self.transport.pause_reading()  # pipelined: answer in order first
        else:
            self._next()

    # --- answering ----------------------------------------------------------------------

    def _next(self) -> None:
        """Answer queued requests in order, until one has to wait (it gets a task).

        A loop, not recursion: a client may pipeline hundreds of requests in one packet.
        """
        while self.queue and not self.closing and not self.busy:
            self.busy = True
            item, keep_alive = self.queue.popleft()
            if isinstance(item, HttpResponse):
                self._write(item, False, False)
                continue
            coro = self.front.app.respond(item)
            try:  # most calls finish without waiting: answer them without a task
                finished, outcome = eager.start(coro)
            except Exception:
                log.exception("unhandled error answering %s %s", item.method, item.path)
                finished, outcome = True, None
            if finished:
                self._answer(item, keep_alive, outcome)
                continue
            task = asyncio.ensure_future(self._answer_later(coro, outcome, item, keep_alive))
            self.front.tasks.add(task)
            task.add_done_callback(self.front.tasks.discard)
            return

    async def _answer_later(
        self,
        coro: Coroutine[Any, Any, HttpResponse],
        waiting: Any,
        request: HttpRequest,
        keep_alive: bool,
    ) -> None:
        try:
            response: HttpResponse | None = await eager.resume(coro, waiting)
        except Exception:
            log.exception("unhandled error answering %s %s", request.method, request.path)
            response = None
        self._answer(request, keep_alive, response)
        self._next()  # what was pipelined behind it

    def _answer(
        self, request: HttpRequest, keep_alive: bool, response: HttpResponse | None
    ) -> None:
        """Write `response`, or a bare 500 when answering raised (None)."""
        if response is None:
            response = HttpResponse(500, [("content-type", "application/json")], b"{}")
        self._write(response, keep_alive and not self.front.stopping, request.method == "HEAD")

    def _write(self, response: HttpResponse, keep_alive: bool, head_only: bool) -> None:
        transport = self.transport
        if transport is None or self.closing:
            self.busy = False
            return
        status = response.status
        headers = response.headers
        lines = "".join([f"{name}: {value}\r\n" for name, value in headers])
        if lines.count("\n") != len(headers) or lines.count("\r") != len(headers):
            # a CR or LF inside a name or value must not start a header of its own
            lines = "".join(
                [f"{n.translate(_UNSAFE)}: {v.translate(_UNSAFE)}\r\n" for n, v in headers]
            )
        parts = [
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Unknown")),
            lines.encode("latin-1", "replace"),
            b"content-length: %d\r\n" % len(response.body),
        ]
        parts.append(self.front.date.line())
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        if not head_only:
            parts.append(response.body)
        self.front.send(transport, b"".join(parts))
        self.busy = False
        if not keep_alive:
            self.closing = True
            self.front.send(transport, None)
            return
        if not self.queue:  # else `_next` goes on with the next one
            self._arm(self.front.keep_alive)
            if not self.write_paused:
                transport.resume_reading()

    def _fail(self, status: int) -> None:
        """A request that can't be parsed: answer it (once nothing is in flight), close."""
        if self.failed:
            return
        self.failed = True
        if self.transport is not None:
            self.transport.pause_reading()
        self.queue.clear()
        bad = HttpResponse(status, [("content-type", "text/plain")], b"Bad Request\n")
        if self.busy:
            self.queue.append((bad, False))
        else:
            self.busy = True
            self._write(bad, False, False)

    # --- timers ---------------------------------------------------------------------------
    # A deadline per connection, checked by the server's once-a-second sweep: cheaper on
    # every request than a timer of its own.

    def _arm(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def _disarm(self) -> None:
        self.deadline = None

    def sweep(self, now: float) -> None:
        """Close the connection if it idled (or took to send its request) too long."""
        if self.deadline is not None and now > self.deadline and not self.busy:
            self.deadline = None
            if self.transport is not None:
                self.closing = True
                self.front.send(self.transport, None)

    def close_when_idle(self) -> None:
        if not self.busy and not self.queue and self.transport is not None:
            self.closing = True
            self.front.send(self.transport, None)


class HttpFront:
    """Serves a `BastionApp` on a socket until `should_exit` (or SIGTERM/SIGINT)."""

    def __init__(
        self,
        app: BastionApp,
        *,
        keep_alive: float = 30.0,
        request_timeout: float = 60.0,
        drain_timeout: float = 15.0,
    ) -> None:
        self.app = app
        self.keep_alive = keep_alive
        self.request_timeout = request_timeout
        self.drain_timeout = drain_timeout
        self.connections: set[_Connection] = set()
        self.tasks: set[asyncio.Future[Any]] = set()
        self.date = _DateHeader()
        self.started = False
        self.should_exit = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping = False
        self._outbox: list[tuple[asyncio.Transport, bytes | None]] = []

    def send(self, transport: asyncio.Transport, data: bytes | None) -> None:
        """Queue bytes (None: a close) for `transport`, sent when this loop turn ends.

        A send that wakes a client lets it preempt this process; sending the answers of
        one loop turn together, after they are all computed, is one preemption per
        turn instead of one per request. Per connection the order is kept.
        """
        if not self._outbox and self.loop is not None:
            self.loop.call_soon(self._flush)
        self._outbox.append((transport, data))
        if self.loop is None:  # not serving (tests driving a connection): send now
            self._flush()

    def _flush(self) -> None:
        outbox, self._outbox = self._outbox, []
        for transport, data in outbox:
            if transport.is_closing():
                continue
            try:
                if data is None:
                    transport.close()
                else:
                    transport.write(data)
            except Exception:  # one broken connection must not cost the others' answers
                log.exception("sending an answer failed; closing that connection")
                transport.abort()

    def run(
        self, host: str = "127.0.0.1", port: int = 0, sock: socket.socket | None = None
    ) -> None:
        """Start the app, serve until asked to stop, then shut down cleanly (blocking)."""
        import uvloop

        uvloop.run(self.serve(host, port, sock))

    async def serve(self, host: str, port: int, sock: socket.socket | None) -> None:
        loop = self.loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
        self.app.startup()
        # What start-up built (service models, caches) lives as long as the server: keep
        # it out of the collector's full passes, which would otherwise walk it each time.
        gc.collect()
        gc.freeze()
        try:
            if sock is not None:
                server = await loop.create_server(lambda: _Connection(self), sock=sock)
            else:
                server = await loop.create_server(
                    lambda: _Connection(self), host, port, backlog=2048, reuse_address=True
                )
            self.started = True
            last_sweep = time.monotonic()
            while not stop.is_set() and not self.should_exit:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.1)
                now = time.monotonic()
                if now - last_sweep >= SWEEP_INTERVAL:
                    last_sweep = now
                    for conn in list(self.connections):
                        conn.sweep(now)
            await self._drain(server)
        finally:
            await self.app.shutdown()

    async def _drain(self, server: asyncio.Server) -> None:
        self.stopping = True
        server.close()
        for conn in list(self.connections):
            conn.close_when_idle()
        deadline = time.monotonic() + self.drain_timeout
        while self.tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self.tasks), timeout=max(0.0, deadline - time.monotonic()))
        self._flush()  # answers still queued go out before their connections close
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
