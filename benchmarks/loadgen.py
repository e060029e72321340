"""Replay load generator: pre-signed raw HTTP/1.1 requests over keep-alive connections.

A boto3 call costs about a millisecond of client CPU, which would make the client the
bottleneck. So a request is signed once with botocore (SigV4 accepts a signature for
15 minutes; long runs re-sign every few minutes) and the identical bytes are replayed
by a lean closed-loop client: ``processes`` worker processes, each running an event loop
(uvloop when available) with its share of ``concurrency`` connections, one request in
flight per connection. Latency is taken with ``perf_counter_ns`` per request; only
responses completed inside the measurement window (after the warm-up) are counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import multiprocessing as mp
import os
import re
import socket
import sys
import time
import traceback
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from time import perf_counter_ns
from typing import Any, cast

RequestSource = bytes | Callable[[], bytes]

STS_BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
USER_AGENT = "bastion-bench/1"

_NS = 1_000_000_000


class LoadError(RuntimeError):
    """The load could not be generated (worker failed, target unreachable, ...)."""


# --------------------------------------------------------------------------- requests


def sign_request(
    host: str,
    port: int,
    *,
    service: str,
    region: str,
    access_key: str,
    secret_key: str,
    body: bytes,
    content_type: str = FORM_CONTENT_TYPE,
    method: str = "POST",
    path: str = "/",
) -> bytes:
    """Return the raw bytes of one SigV4-signed HTTP/1.1 request, ready to replay."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    authority = f"{host}:{port}"
    headers = {"Host": authority, "Content-Type": content_type, "Content-Length": str(len(body))}
    request = AWSRequest(method=method, url=f"http://{authority}{path}", data=body, headers=headers)
    SigV4Auth(Credentials(access_key, secret_key), service, region).add_auth(request)
    lines = [f"{method} {path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    lines.append(f"User-Agent: {USER_AGENT}")  # unsigned, as boto3 leaves it
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


@dataclass(frozen=True)
class SignedRequest:
    """A picklable request factory: each call signs afresh (new ``X-Amz-Date``)."""

    host: str
    port: int
    service: str
    region: str
    access_key: str
    secret_key: str
    body: bytes
    content_type: str = FORM_CONTENT_TYPE

    def __call__(self) -> bytes:
        return sign_request(
            self.host,
            self.port,
            service=self.service,
            region=self.region,
            access_key=self.access_key,
            secret_key=self.secret_key,
            body=self.body,
            content_type=self.content_type,
        )


def sts_get_caller_identity(
    host: str, port: int, access_key: str, secret_key: str, region: str = "us-east-1"
) -> SignedRequest:
    """Factory of signed ``sts:GetCallerIdentity`` requests (query protocol, POST /)."""
    return SignedRequest(host, port, "sts", region, access_key, secret_key, STS_BODY)


# ------------------------------------------------------------------- response parsing

_ERROR_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>|\"__type\":\s*\"([^\"]{1,100})\"")
_UNTIL_CLOSE = -2
_CHUNKED = -1


def parse_head(buf: bytes) -> tuple[int, int, int, bool] | None:
    """Parse a response head: ``(status, body_start, body_length, close)`` or None if
    incomplete. ``body_length`` is -1 for chunked and -2 for a body ending at close."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].lower()
    if not head.startswith(b"http/1."):
        raise ValueError(f"not an HTTP/1.x response: {bytes(buf[:40])!r}")
    status = int(head[9:12])
    if head.startswith(b"http/1.0"):
        close = b"\r\nconnection: keep-alive" not in head
    else:
        close = b"\r\nconnection: close" in head
    i = head.find(b"\r\ncontent-length:")
    if i >= 0:
        j = head.find(b"\r\n", i + 17)
        length = int(head[i + 17 : j if j >= 0 else None])
    elif b"\r\ntransfer-encoding: chunked" in head:
        length = _CHUNKED
    elif status in (204, 304) or status < 200:
        length = 0
    else:
        length, close = _UNTIL_CLOSE, True
    return status, end + 4, length, close


def chunked_end(buf: bytes, pos: int) -> int | None:
    """Index just past a chunked body starting at ``pos``, or None if incomplete."""
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(buf[pos:eol].split(b";", 1)[0], 16)
        if size == 0:
            if buf[eol + 2 : eol + 4] == b"\r\n":
                return eol + 4
            trailers = buf.find(b"\r\n\r\n", eol)
            return None if trailers < 0 else trailers + 4
        pos = eol + 2 + size + 2
        if pos > len(buf):
            return None


def _dechunk(buf: bytes, pos: int) -> bytes:
    out = []
    while True:
        eol = buf.find(b"\r\n", pos)
        size = int(buf[pos:eol].split(b";", 1)[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(buf[eol + 2 : eol + 2 + size])
        pos = eol + 2 + size + 2


def fetch_once(host: str, port: int, raw: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    """Send one raw request on a fresh connection; return ``(status, body)``."""
    _check_loopback(host)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(raw)
        buf = b""
        head = None
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                if head is not None and head[2] == _UNTIL_CLOSE:
                    return head[0], buf[head[1] :]
                raise ConnectionError("connection closed before a full response")
            buf += chunk
            head = head or parse_head(buf)
            if head is None:
                continue
            status, start, length, _ = head
            if length >= 0 and len(buf) >= start + length:
                return status, buf[start : start + length]
            if length == _CHUNKED and chunked_end(buf, start) is not None:
                return status, _dechunk(buf, start)


def check_target(host: str, port: int, raw: bytes, expect: bytes | None) -> bytes:
    """Fail unless ``raw`` gets a 200 whose body contains ``expect``; return the body."""
    status, body = fetch_once(host, port, raw)
    if status != 200 or (expect is not None and expect not in body):
        want = f"200 containing {expect!r}" if expect else "200"
        code = _ERROR_CODE.search(body)
        name = (code.group(1) or code.group(2)).decode(errors="replace") if code else ""
        what = f"{status} {name}".rstrip()
        raise LoadError(f"{host}:{port} answered {what} (want {want}): {body[:300]!r}")
    return body


def _check_loopback(host: str) -> None:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"benchmarks target loopback addresses only, not {host}")


# ------------------------------------------------------------------------- the worker


@dataclass
class _WorkerSpec:
    host: str
    port: int
    connections: int
    source: RequestSource
    timeout_ns: int
    max_requests: int
    resign_every: float


class _Conn(asyncio.Protocol):
    """One keep-alive connection; sends the next request as soon as a response ends."""

    def __init__(self, worker: _Worker) -> None:
        self.worker = worker
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.head: tuple[int, int, int, bool] | None = None
        self.t0 = 0
        self.busy = False
        self.retired = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's isn't a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, t0: int = 0) -> None:
        """Send the request; ``t0`` backdates its start (to include a reconnect)."""
        assert self.transport is not None
        worker = self.worker
        worker.sent += 1
        self.busy = True
        self.buf = b""
        self.head = None
        self.t0 = t0 or perf_counter_ns()
        self.transport.write(worker.request)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        head = self.head
        try:
            if head is None:
                head = parse_head(buf)
                if head is None:
                    self.buf = buf
                    return
                self.head = head
            status, start, length, close = head
            if length >= 0:
                if len(buf) < start + length:
                    self.buf = buf
                    return
            elif length == _CHUNKED:
                if chunked_end(buf, start) is None:
                    self.buf = buf
                    return
            else:  # body delimited by the server closing the connection
                self.buf = buf
                return
        except ValueError:
            self.retire(failed=True)
            return
        self.buf = b""
        self.finish(status, close)

    def finish(self, status: int, close: bool) -> None:
        t1 = perf_counter_ns()
        self.busy = False
        self.head = None
        worker = self.worker
        worker.record(status, t1 - self.t0, t1)
        if close:  # the next request's latency includes the reconnect
            self.retire(failed=False, since=t1)
        elif worker.running and worker.sent < worker.max_requests:
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.retired:
            return
        head = self.head
        if self.busy and head is not None and head[2] == _UNTIL_CLOSE:
            self.finish(head[0], close=True)
        else:
            self.retire(failed=self.busy)

    def retire(self, failed: bool, since: int = 0) -> None:
        """Drop this connection (counting a failure if a request was in flight)."""
        if self.retired:
            return
        self.retired = True
        if failed:
            self.worker.fail(perf_counter_ns())
        self.busy = False
        if self.transport is not None:
            if failed:
                self.transport.abort()
            else:
                self.transport.close()
        self.worker.replace(self, since)


class _Worker:
    """The per-process event-loop side of ``run_load``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, spec: _WorkerSpec) -> None:
        self.loop = loop
        self.spec = spec
        self.source = spec.source
        self.request = spec.source if isinstance(spec.source, bytes) else spec.source()
        self.max_requests = spec.max_requests
        self.conns: set[_Conn] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.running = False
        self.sent = 0
        self.total = 0
        self.m_start = 0
        self.m_end = 0
        self.lat = array("q")
        self.statuses: dict[int, int] = {}
        self.non2xx = 0
        self.failures = 0
        self.timeouts = 0
        self.reconnects = 0

    async def connect(self) -> _Conn:
        spec = self.spec
        _, conn = await self.loop.create_connection(lambda: _Conn(self), spec.host, spec.port)
        self.conns.add(conn)
        return conn

    async def connect_all(self) -> None:
        await asyncio.gather(*(self.connect() for _ in range(self.spec.connections)))

    def record(self, status: int, latency: int, t1: int) -> None:
        self.total += 1
        if self.m_start <= t1 < self.m_end:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if 200 <= status < 300:
                self.lat.append(latency)
            else:
                self.non2xx += 1

    def fail(self, now: int) -> None:
        if self.m_start <= now < self.m_end:
            self.failures += 1

    def replace(self, conn: _Conn, since: int = 0) -> None:
        self.conns.discard(conn)
        if self.running:
            task = self.loop.create_task(self._reconnect(since))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _reconnect(self, since: int) -> None:
        while self.running:
            self.reconnects += 1
            try:
                conn = await self.connect()
            except OSError:
                self.fail(perf_counter_ns())
                await asyncio.sleep(0.05)
                continue
            if self.running and self.sent < self.max_requests:
                conn.send(since)
            return

    async def _watchdog(self) -> None:
        timeout = self.spec.timeout_ns
        while True:
            await asyncio.sleep(0.2)
            now = perf_counter_ns()
            for conn in list(self.conns):
                if conn.busy and now - conn.t0 > timeout:
                    if self.m_start <= now < self.m_end:
                        self.timeouts += 1
                    conn.retire(failed=True)

    async def _resign(self) -> None:
        source = self.source
        assert callable(source)
        while True:
            await asyncio.sleep(self.spec.resign_every)
            self.request = source()

    async def run(self, start_ns: int, m_start: int, m_end: int) -> dict[str, Any]:
        self.m_start, self.m_end = m_start, m_end
        await _sleep_until(start_ns)
        self.running = True
        for conn in list(self.conns):
            conn.send()
        background = [self.loop.create_task(self._watchdog())]
        if callable(self.source):
            background.append(self.loop.create_task(self._resign()))
        await _sleep_until(m_start)
        cpu0 = _cpu_seconds()
        await _sleep_until(m_end)
        cpu1 = _cpu_seconds()
        self.running = False
        drain_until = perf_counter_ns() + self.spec.timeout_ns
        while any(c.busy for c in self.conns) and perf_counter_ns() < drain_until:
            await asyncio.sleep(0.01)
        for task in [*background, *self.tasks]:
            task.cancel()
        for conn in list(self.conns):
            conn.retired = True
            if conn.transport is not None:
                conn.transport.abort()
        await asyncio.sleep(0)
        return {
            "lat": self.lat.tobytes(),
            "statuses": self.statuses,
            "non2xx": self.non2xx,
            "failures": self.failures,
            "timeouts": self.timeouts,
            "reconnects": self.reconnects,
            "total": self.total,
            "cpu": cpu1 - cpu0,
        }


async def _sleep_until(ns: int) -> None:
    delay = (ns - perf_counter_ns()) / _NS
    if delay > 0:
        await asyncio.sleep(delay)


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _worker_main(pipe: Connection, spec: _WorkerSpec) -> None:
    loop = _new_loop()
    asyncio.set_event_loop(loop)
    worker = _Worker(loop, spec)
    try:
        loop.run_until_complete(worker.connect_all())
    except OSError as exc:
        pipe.send(("error", f"connect to {spec.host}:{spec.port} failed: {exc!r}"))
        return
    pipe.send(("ready", None))
    if not pipe.poll(60):
        return
    start_ns, m_start, m_end = pipe.recv()
    try:
        result = loop.run_until_complete(worker.run(start_ns, m_start, m_end))
    except Exception:
        pipe.send(("error", f"load worker crashed:\n{traceback.format_exc()}"))
        return
    finally:
        loop.close()
    pipe.send(("result", result))


# ------------------------------------------------------------------------- the parent


@dataclass
class _Merged:
    lat: array[int] = field(default_factory=lambda: array("q"))
    statuses: dict[int, int] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)


def _recv(pipe: Connection, timeout: float, what: str) -> Any:
    if not pipe.poll(timeout):
        raise LoadError(f"a load worker did not report {what} within {timeout:.0f}s")
    try:
        kind, payload = pipe.recv()
    except EOFError:
        raise LoadError(f"a load worker exited before reporting {what}") from None
    if kind == "error":
        raise LoadError(payload)
    return payload


def run_load(
    raw_request: RequestSource,
    host: str,
    port: int,
    concurrency: int = 16,
    processes: int = 4,
    duration: float = 10.0,
    warmup: float = 2.0,
    *,
    timeout: float = 5.0,
    max_requests: int = 5_000_000,
    resign_every: float = 240.0,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """Replay ``raw_request`` (bytes, or a callable that re-signs) in a closed loop.

    ``concurrency`` keep-alive connections are spread over ``processes`` processes; after
    ``warmup`` seconds, responses completed during ``duration`` seconds are measured.
    Each request is bounded by ``timeout`` seconds and the run by ``max_requests``.
    Returns the throughput and latency percentiles (ms) of 2xx responses, error counts
    (non-2xx, failed requests) and the CPU share (CPU seconds / wall seconds) of the
    client processes, of ``server_pid``'s process tree and of the whole machine.
    """
    _check_loopback(host)
    if concurrency < 1 or duration <= 0 or warmup < 0:
        raise ValueError("concurrency >= 1, duration > 0 and warmup >= 0 are required")
    processes = max(1, min(processes, concurrency))
    shares = [concurrency // processes + (i < concurrency % processes) for i in range(processes)]
    per_worker_cap = -(-max_requests // processes)
    ctx = mp.get_context("fork" if sys.platform == "linux" else "spawn")
    pipes: list[Connection] = []
    procs: list[Any] = []
    results: list[dict[str, Any]] = []
    server0 = server1 = machine0 = machine1 = None
    try:
        for share in shares:
            spec = _WorkerSpec(
                host, port, share, raw_request, int(timeout * _NS), per_worker_cap, resign_every
            )
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, args=(child_end, spec), daemon=True)
            proc.start()
            child_end.close()
            pipes.append(parent_end)
            procs.append(proc)
        for pipe in pipes:
            _recv(pipe, 30, "readiness")
        start_ns = perf_counter_ns() + 50_000_000
        m_start = start_ns + int(warmup * _NS)
        m_end = m_start + int(duration * _NS)
        for pipe in pipes:
            pipe.send((start_ns, m_start, m_end))
        time.sleep(max(0.0, (m_start - perf_counter_ns()) / _NS))
        server0 = process_tree_cpu(server_pid) if server_pid else None
        machine0 = machine_busy_cpu()
        time.sleep(max(0.0, (m_end - perf_counter_ns()) / _NS))
        server1 = process_tree_cpu(server_pid) if server_pid else None
        machine1 = machine_busy_cpu()
        results = [_recv(pipe, timeout + 30, "results") for pipe in pipes]
    finally:
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for pipe in pipes:
            pipe.close()

    merged = _Merged()
    for result in results:
        merged.lat.frombytes(result["lat"])
        for status, count in result["statuses"].items():
            merged.statuses[status] = merged.statuses.get(status, 0) + count
        for key in ("non2xx", "failures", "timeouts", "reconnects", "total", "cpu"):
            merged.counters[key] = merged.counters.get(key, 0) + result[key]
    lat = sorted(merged.lat)
    n = len(lat)
    c = merged.counters
    server_cpu = machine_cpu = None
    if server0 is not None and server1 is not None:
        server_cpu = round((server1 - server0) / duration, 3)
    if machine0 is not None and machine1 is not None:
        machine_cpu = round((machine1 - machine0) / duration, 3)
    return {
        "requests": n,
        "ops_per_s": round(n / duration, 1),
        "p50_ms": _percentile(lat, 0.50),
        "p90_ms": _percentile(lat, 0.90),
        "p99_ms": _percentile(lat, 0.99),
        "max_ms": round(lat[-1] / 1e6, 3) if n else None,
        "mean_ms": round(sum(lat) / n / 1e6, 3) if n else None,
        "errors": int(c["non2xx"] + c["failures"]),
        "non_2xx": int(c["non2xx"]),
        "failures": int(c["failures"]),
        "timeouts": int(c["timeouts"]),
        "reconnects": int(c["reconnects"]),
        "statuses": {str(k): v for k, v in sorted(merged.statuses.items())},
        "client_cpu_s": round(c["cpu"], 3),
        "client_cpu_share": round(c["cpu"] / duration, 3),
        "server_cpu_share": server_cpu,
        "machine_cpu_share": machine_cpu,
        "concurrency": concurrency,
        "processes": processes,
        "duration_s": duration,
        "warmup_s": warmup,
    }


def _percentile(sorted_ns: list[int], q: float) -> float | None:
    """Nearest-rank percentile of nanosecond samples, in milliseconds."""
    if not sorted_ns:
        return None
    rank = max(0, math.ceil(round(q * len(sorted_ns), 6)) - 1)
    return round(sorted_ns[rank] / 1e6, 3)


def machine_busy_cpu() -> float | None:
    """CPU seconds all CPUs have spent busy since boot (Linux /proc/stat); else None."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_tree_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by ``pid`` and its live descendants.

    Linux only (reads /proc); None elsewhere or if the process is gone.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}  # pid -> (ppid, cpu seconds)
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    if pid not in stats:
        return None
    children: dict[int, list[int]] = {}
    for child, (parent, _) in stats.items():
        children.setdefault(parent, []).append(child)
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += stats[current][1]
        todo.extend(children.get(current, []))
    return total
