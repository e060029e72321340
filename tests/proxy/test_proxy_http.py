"""Plain HTTP forwarding and CONNECT tunnelling through a real proxy, real sockets."""

from __future__ import annotations

import http.client
import socket

from proxy_support import Harness, basic, raw_exchange


def test_get_through_proxy(harness: Harness) -> None:
    status, headers, body = harness.get("/small")
    assert status == 200
    assert body == b"hello"
    assert "bastion" in headers["via"]


def test_keep_alive_both_sides(harness: Harness) -> None:
    conn = harness.conn()
    for _ in range(5):
        status, _, body = harness.get("/small", conn=conn)
        assert (status, body) == (200, b"hello")
    conn.close()
    assert harness.upstream.connections == 1  # one pooled upstream connection reused


def test_hop_by_hop_headers_stripped(harness: Harness) -> None:
    status, _, body = harness.get(
        "/echo",
        headers={"Connection": "keep-alive, X-Secret-Hop", "X-Secret-Hop": "1", "X-End": "2"},
    )
    assert status == 200
    text = body.decode()
    assert "proxy-authorization" not in text
    assert "x-secret-hop" not in text
    assert "x-end: 2" in text
    assert "via: 1.1 bastion" in text


def test_request_body_streamed(harness: Harness) -> None:
    payload = b"a" * 3_000_000
    status, _, body = harness.get("/echo", method="POST", body=payload)
    assert status == 200
    assert body.startswith(b"size=3000000\n")


def test_chunked_request_body(harness: Harness) -> None:
    def gen():
        for _ in range(10):
            yield b"z" * 1000

    conn = harness.conn()
    conn.request(
        "POST",
        harness.url("/echo"),
        body=gen(),
        headers={"Proxy-Authorization": basic(), "Transfer-Encoding": "chunked"},
        encode_chunked=True,
    )
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.read().startswith(b"size=10000\n")


def test_large_response_body(harness: Harness) -> None:
    status, _, body = harness.get("/big?n=5000000")
    assert status == 200
    assert len(body) == 5_000_000


def test_chunked_and_close_delimited_responses(harness: Harness) -> None:
    conn = harness.conn()
    assert harness.get("/chunked", conn=conn)[2] == b"hello world"
    assert harness.get("/close", conn=conn)[2] == b"until close"
    assert harness.get("/small", conn=conn)[2] == b"hello"  # client side still alive


def test_head_request(harness: Harness) -> None:
    conn = harness.conn()
    status, headers, body = harness.get("/big?n=1000", method="HEAD", conn=conn)
    assert status == 200 and body == b"" and headers["content-length"] == "1000"
    assert harness.get("/small", conn=conn)[2] == b"hello"


def test_connect_tunnel(harness: Harness) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", harness.port, timeout=5)
    conn.set_tunnel("127.0.0.1", harness.upstream.port, headers={"Proxy-Authorization": basic()})
    for _ in range(3):
        conn.request("GET", "/small")
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"hello")
    conn.close()
    lines = harness.log_lines("access", lambda line: "TCP_TUNNEL/200" in line)
    assert any("TCP_TUNNEL/200" in line and " CONNECT " in line for line in lines)


def test_connect_with_early_data(harness: Harness) -> None:
    # the client sends its first tunnel bytes in the same packet as the CONNECT head
    target = f"127.0.0.1:{harness.upstream.port}"
    with socket.create_connection(("127.0.0.1", harness.port), timeout=5) as sock:
        sock.sendall(
            f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
            f"Proxy-Authorization: {basic()}\r\n\r\n".encode()
            + b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        data = b""
        while b"hello" not in data:
            chunk = sock.recv(65536)
            assert chunk
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 Connection established")


def test_ipv6_destination(harness: Harness) -> None:
    status, _, _ = harness.get("/small", host="[::1]")
    # the test upstream listens on 127.0.0.1 only, so ::1 is allowed but refused
    assert status in (200, 502)


def test_origin_form_and_bad_requests(harness: Harness) -> None:
    out = raw_exchange(harness.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=1)
    assert out.startswith(b"HTTP/1.1 400")
    out = raw_exchange(harness.port, b"BLAH\x00\r\n\r\n", timeout=1)
    assert out.startswith(b"HTTP/1.1 400")


def test_upstream_refused_is_502(harness: Harness) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    harness.set_rules(
        *__import__("proxy_support").loopback_rules(f"{harness.upstream.port},{dead}")
    )
    status, _, _ = harness.get("/small", port=dead)
    assert status == 502
