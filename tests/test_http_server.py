"""Bastion's HTTP/1.1 server on raw sockets: what clients and proxies rely on."""

from __future__ import annotations

import socket

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HEALTH = b"GET /_bastion/health HTTP/1.1\r\nHost: x\r\n\r\n"


def connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.settings.port), timeout=10)
    return sock


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One response from `sock` (content-length framed), leaving the rest in `buffer`."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response head")
        buffer += chunk
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    del buffer[: len(head) + 4]
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    if status == 100:
        return status, headers, b""
    while len(buffer) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a body")
        buffer += chunk
    body = bytes(buffer[:length])
    del buffer[:length]
    return status, headers, body


def closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_keep_alive_and_pipelined_requests_are_answered_in_order(sqlite_server) -> None:
    with connect(sqlite_server) as sock:
        buffer = bytearray()
        sock.sendall(HEALTH)
        assert read_response(sock, buffer)[0] == 200
        missing = b"GET /_bastion/nothing HTTP/1.1\r\nHost: x\r\n\r\n"
        sock.sendall(HEALTH + missing + HEALTH)  # three at once
        statuses = [read_response(sock, buffer)[0] for _ in range(3)]
        assert statuses == [200, 404, 200]
        status, headers, body = read_response_after(sock, buffer, HEALTH)
        assert status == 200 and headers["date"] and b'"status":"ok"' in body


def read_response_after(sock, buffer, request):
    sock.sendall(request)
    return read_response(sock, buffer)


def test_head_has_length_but_no_body_and_http10_closes(sqlite_server) -> None:
    with connect(sqlite_server) as sock:
        buffer = bytearray()
        sock.sendall(b"HEAD /_bastion/health HTTP/1.1\r\nHost: x\r\n\r\n" + HEALTH)
        head_status, head_headers, _ = read_response_headers_only(sock, buffer)
        assert head_status == 200 and int(head_headers["content-length"]) > 0
        status, _, body = read_response(sock, buffer)  # the next response follows at once
        assert status == 200 and body.startswith(b"{")
    with connect(sqlite_server) as sock:
        sock.sendall(b"GET /_bastion/health HTTP/1.0\r\n\r\n")
        status, headers, _ = read_response(sock, bytearray())
        assert status == 200 and headers["connection"] == "close"
        assert closed(sock)


def read_response_headers_only(sock, buffer):
    while b"\r\n\r\n" not in buffer:
        buffer += sock.recv(65536)
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    del buffer[: len(head) + 4]
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return int(lines[0].split()[1]), headers, b""


def signed_form_head(server, service: str, body: bytes) -> str:
    """The header lines of a SigV4-signed form POST of `body` (no framing headers)."""
    access_key, secret_key = server.credentials
    url = f"http://127.0.0.1:{server.settings.port}/"
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Host": "x"}
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(Credentials(access_key, secret_key), service, "us-east-1").add_auth(request)
    return "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())


def test_a_chunked_signed_body_with_expect_continue_is_served(sqlite_server) -> None:
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    head = signed_form_head(sqlite_server, "sts", body)
    raw = (
        f"POST / HTTP/1.1\r\n{head}Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    with connect(sqlite_server) as sock:
        buffer = bytearray()
        sock.sendall(raw)
        assert read_response(sock, buffer)[0] == 100  # before any body byte is sent
        sock.sendall(
            b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, body[:10], len(body) - 10, body[10:])
        )
        status, _, answer = read_response(sock, buffer)
        assert status == 200 and b"user/admin" in answer


def test_hundreds_of_requests_pipelined_behind_a_waiting_one_are_all_answered(
    sqlite_server,
) -> None:
    """The first call reads storage (it waits on a thread); 400 more arrive in the same
    packet and queue behind it; each must be answered, in order, once it is done."""
    body = b"Action=ListUsers&Version=2010-05-08"
    head = signed_form_head(sqlite_server, "iam", body)
    first = f"POST / HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
    with connect(sqlite_server) as sock:
        buffer = bytearray()
        sock.sendall(first + HEALTH * 400)
        status, _, answer = read_response(sock, buffer)
        assert status == 200 and b"<ListUsersResponse" in answer
        answers = [read_response(sock, buffer) for _ in range(400)]
        assert all(s == 200 and b'"status":"ok"' in b for s, _, b in answers)


def test_a_100_continue_for_a_pipelined_request_follows_the_answer_before_it(
    sqlite_server,
) -> None:
    """Answers go out when the loop turn ends; an interim 100 must still come after the
    final answer to the request ahead of it on the connection."""
    waiting = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    with connect(sqlite_server) as sock:
        buffer = bytearray()
        sock.sendall(HEALTH + waiting)
        status, _, body = read_response(sock, buffer)
        assert status == 200 and b'"status":"ok"' in body
        assert read_response(sock, buffer)[0] == 100
        sock.sendall(b"hello")
        assert read_response(sock, buffer)[0] >= 400  # unsigned: refused, but answered


def test_malformed_and_oversized_requests_get_400_and_close(sqlite_server) -> None:
    with connect(sqlite_server) as sock:
        sock.sendall(b"NOT A REQUEST\r\n\r\n")
        assert read_response(sock, bytearray())[0] == 400
        assert closed(sock)
    with connect(sqlite_server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")
        assert read_response(sock, bytearray())[0] == 400
        assert closed(sock)
    with connect(sqlite_server) as sock:  # Content-Length and chunked together: smuggling
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        assert read_response(sock, bytearray())[0] == 400
        assert closed(sock)
    with connect(sqlite_server) as sock:  # the server still serves afterwards
        assert read_response_after(sock, bytearray(), HEALTH)[0] == 200


def _sweep(server, seconds_later: float) -> None:
    """Run the server's idle sweep as if `seconds_later` had passed, on its own loop."""
    import threading
    import time

    front = server._server
    done = threading.Event()

    def sweep() -> None:
        for conn in list(front.connections):
            conn.sweep(time.monotonic() + seconds_later)
        done.set()

    front.loop.call_soon_threadsafe(sweep)
    assert done.wait(5)


def test_idle_and_slow_connections_are_closed_by_the_sweep(sqlite_server) -> None:
    with connect(sqlite_server) as idle, connect(sqlite_server) as slow:
        buffer = bytearray()
        assert read_response_after(idle, buffer, HEALTH)[0] == 200
        slow.sendall(b"GET /_bastion/health HTTP/1.1\r\nHost: x\r\n")  # head not finished
        _sweep(sqlite_server, 5)  # within both limits: both stay open
        assert read_response_after(idle, buffer, HEALTH)[0] == 200
        _sweep(sqlite_server, 61)  # past keep-alive (30 s) and request (60 s) timeouts
        assert closed(idle) and closed(slow)


def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(sqlite_server) -> None:
    with connect(sqlite_server) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
            b"Content-Length: 99999999\r\nExpect: 100-continue\r\n\r\n"
        )
        status, headers, body = read_response(sock, bytearray())
        assert status == 413 and headers["connection"] == "close"
        assert b"exceeds" in body
        assert closed(sock)


def test_a_header_value_holding_cr_or_lf_cannot_start_a_header_of_its_own() -> None:
    from bastion.gateway.http_server import HttpFront, _Connection
    from bastion.protocol.http import HttpResponse

    class Transport:
        def __init__(self) -> None:
            self.sent = b""

        def write(self, data: bytes) -> None:
            self.sent += data

        def resume_reading(self) -> None:
            pass

        def is_closing(self) -> bool:
            return False

        def close(self) -> None:
            pass

    class App:
        runtime = None

    conn = _Connection(HttpFront(App()))  # type: ignore[arg-type]
    conn.transport = Transport()  # type: ignore[assignment]
    evil = HttpResponse(200, [("x-value", "a\r\nset-cookie: stolen=1\nx: y")], b"ok")
    conn._write(evil, True, False)
    head = conn.transport.sent.split(b"\r\n\r\n")[0].split(b"\r\n")  # type: ignore[union-attr]
    assert b"x-value: a  set-cookie: stolen=1 x: y" in head
    assert not any(line.lower().startswith((b"set-cookie", b"x:")) for line in head)
