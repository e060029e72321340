"""Slow and hostile clients don't stop others from being served; timeouts by the clock."""

from __future__ import annotations

import contextlib
import resource
import socket
import time

from proxy_support import Harness, basic


def _open(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        socks.append(s)
    return socks


def test_hostile_clients_do_not_block_others(harness: Harness) -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    idle_count = min(2000, max(100, (soft - 200) // 2))
    idle = _open(harness.port, idle_count)  # thousands of idle connections
    slow = _open(harness.port, 20)
    for s in slow:  # slowloris: a request head that never ends
        s.sendall(b"GET http://127.0.0.1/ HTTP/1.1\r\nX-a: ")
    bodies = _open(harness.port, 5)
    url = f"http://127.0.0.1:{harness.upstream.port}/echo"
    for s in bodies:  # a chunked body that never ends, pushed as fast as possible
        s.setblocking(False)
        s.sendall(
            f"POST {url} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: {basic()}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
    chunk = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"
    for _ in range(50):
        for s in bodies:
            with contextlib.suppress(BlockingIOError):  # backpressure: the proxy stopped reading
                s.send(chunk)
    started = time.monotonic()
    for _ in range(20):
        status, _, body = harness.get("/small")
        assert (status, body) == (200, b"hello")
    assert time.monotonic() - started < 5
    assert len(harness.proxy.clients) >= idle_count

    # the clock moves past the header timeout: the slowloris connections get 408
    harness.clock.advance(harness.proxy.config.header_timeout + 1)
    harness.sweep()
    for s in slow:
        s.settimeout(5)
        assert s.recv(1000).startswith(b"HTTP/1.1 408")
    # and past the idle timeout: idle connections are closed
    harness.clock.advance(harness.proxy.config.idle_timeout + 1)
    harness.sweep()
    for s in idle[:50]:
        s.settimeout(5)
        assert s.recv(10) == b""
    for s in idle + slow + bodies:
        s.close()


def test_upstream_read_timeout(harness: Harness) -> None:
    conn = harness.conn(timeout=10)
    conn.request("GET", harness.url("/slow"), headers={"Proxy-Authorization": basic()})
    deadline = time.monotonic() + 5
    while harness.upstream.hits.get("/slow") is None and time.monotonic() < deadline:
        time.sleep(0.01)  # wait for the request to reach the origin (I/O, not a timer)
    harness.clock.advance(harness.proxy.config.read_timeout + 1)
    harness.sweep()
    assert conn.getresponse().status == 504


def test_header_too_large(harness: Harness) -> None:
    from proxy_support import raw_exchange

    big = b"X-Big: " + b"a" * 70_000 + b"\r\n"
    out = raw_exchange(harness.port, b"GET http://127.0.0.1/ HTTP/1.1\r\n" + big + b"\r\n", 2)
    assert out.startswith(b"HTTP/1.1 4")
