"""Helpers for edge tests: a tiny upstream app on 127.0.0.1 and raw-socket clients."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from support import free_port


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        elif length:
            body = self.rfile.read(length)
        record = {
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body.decode("latin-1"),
        }
        self.server.seen.append(record)  # type: ignore[attr-defined]
        if self.path.startswith("/slow"):
            time.sleep(float(self.path.rsplit("/", 1)[-1]))
        if self.path.startswith("/stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(3):
                chunk = f"part{i}\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
            return
        out = json.dumps(record).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.send_header("X-Upstream", self.server.name)  # type: ignore[attr-defined]
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _serve


class Upstream:
    """An HTTP/1.1 keep-alive app that echoes each request as JSON and records it."""

    def __init__(self, name: str = "app") -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.seen = []  # type: ignore[attr-defined]
        self.httpd.name = name  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def seen(self) -> list[dict[str, Any]]:
        return self.httpd.seen  # type: ignore[attr-defined]

    def start(self) -> Upstream:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"nothing listens on {host}:{port}")


def wait_closed(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                time.sleep(0.02)
        except OSError:
            return
    raise AssertionError(f"port {port} still open")


def raw(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send bytes, read until the server closes or `timeout`."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/") else 0


def create_alb(srv: Any, targets: list[int], *, name: str = "web", port: int | None = None):
    """CreateLoadBalancer + CreateTargetGroup + RegisterTargets + CreateListener."""
    elb = srv.client("elbv2")
    lb = elb.create_load_balancer(Name=name, Subnets=["subnet-1", "subnet-2"])
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(
        Name=f"{name}-tg", Protocol="HTTP", Port=targets[0], TargetType="ip", VpcId="vpc-123"
    )
    tg_arn = tg["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(
        TargetGroupArn=tg_arn, Targets=[{"Id": "127.0.0.1", "Port": p} for p in targets]
    )
    port = port or free_port()
    listener = elb.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="HTTP",
        Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
    )
    wait_port(port)
    return {
        "lb": lb_arn,
        "tg": tg_arn,
        "listener": listener["Listeners"][0]["ListenerArn"],
        "port": port,
        "elb": elb,
    }


def json_env(monkeypatch: Any) -> None:
    monkeypatch.setenv("BASTION_EDGE_POLL_INTERVAL", "0.05")
    monkeypatch.setenv("BASTION_EDGE_REPORT_INTERVAL", "0.1")
    monkeypatch.setenv("BASTION_EDGE_LOG_FLUSH_INTERVAL", "0.05")


__all__ = ["Upstream", "create_alb", "json", "json_env", "raw", "status_of", "wait_port"]
