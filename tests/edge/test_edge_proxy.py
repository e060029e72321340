"""The edge as a load balancer: forwarding, headers, pooling, streaming, errors, reload."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from edge_support import create_alb, raw, status_of, wait_closed, wait_port

from support import free_port


def _get(
    port: int,
    path: str = "/",
    headers: dict | None = None,
    method: str = "GET",
    body: bytes | None = None,
):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def test_forwards_with_alb_headers(edge_server, upstream):
    alb = create_alb(edge_server, [upstream.port])
    resp, data = _get(
        alb["port"],
        "/hello?x=1",
        {
            "Host": "app.example",
            "X-Forwarded-For": "203.0.113.9",
            "Connection": "Foo",
            "Foo": "hop",
            "Keep-Alive": "timeout=5",
            "X-Keep": "yes",
        },
    )
    assert resp.status == 200
    seen = json.loads(data)
    headers = {k.lower(): v for k, v in seen["headers"]}
    assert seen["path"] == "/hello?x=1"
    assert headers["host"] == "app.example"
    assert headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-port"] == str(alb["port"])
    assert headers["x-amzn-trace-id"].startswith("Root=1-")
    assert headers["x-keep"] == "yes"
    assert "foo" not in headers and "keep-alive" not in headers
    assert resp.getheader("X-Upstream") == "a"


def test_keep_alive_pooling_and_bodies(edge_server, upstream):
    alb = create_alb(edge_server, [upstream.port])
    conn = http.client.HTTPConnection("127.0.0.1", alb["port"], timeout=10)
    for i in range(5):
        conn.request("POST", f"/p{i}", body=b"x" * (20000 + i), headers={"Host": "h"})
        resp = conn.getresponse()
        assert resp.status == 200
        assert len(json.loads(resp.read())["body"]) == 20000 + i
    # chunked request body, streamed
    conn.putrequest("PUT", "/chunked", skip_host=True)
    conn.putheader("Host", "h")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for part in (b"hello ", b"chunked ", b"world"):
        conn.send(b"%x\r\n%s\r\n" % (len(part), part))
    conn.send(b"0\r\n\r\n")
    resp = conn.getresponse()
    assert json.loads(resp.read())["body"] == "hello chunked world"
    conn.request("GET", "/stream", headers={"Host": "h"})
    resp = conn.getresponse()
    assert resp.read() == b"part0\npart1\npart2\n"
    conn.request("HEAD", "/head", headers={"Host": "h"})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read() == b""
    conn.close()


def test_round_robin_and_target_errors(edge_server, upstream, upstream_b):
    alb = create_alb(edge_server, [upstream.port, upstream_b.port])
    names = {_get(alb["port"], "/", {"Host": "h"})[0].getheader("X-Upstream") for _ in range(4)}
    assert names == {"a", "b"}
    dead = free_port()
    elb = alb["elb"]
    elb.deregister_targets(
        TargetGroupArn=alb["tg"],
        Targets=[
            {"Id": "127.0.0.1", "Port": upstream.port},
            {"Id": "127.0.0.1", "Port": upstream_b.port},
        ],
    )
    elb.register_targets(TargetGroupArn=alb["tg"], Targets=[{"Id": "127.0.0.1", "Port": dead}])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        resp, body = _get(alb["port"], "/", {"Host": "h"})
        if resp.status == 502:
            break
        time.sleep(0.05)
    assert resp.status == 502
    assert b"502 Bad Gateway" in body
    assert resp.getheader("Server") == "awselb/2.0"


def test_read_timeout_is_504(edge_server, upstream, clock):
    alb = create_alb(edge_server, [upstream.port])
    result = {}

    def call():
        result["resp"] = _get(alb["port"], "/slow/3", {"Host": "h"})

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(0.3)
    clock.advance(120)  # past the 60 s read timeout; the sweep runs every second
    worker.join(10)
    assert result["resp"][0].status == 504


def test_no_targets_is_503_and_fixed_response(edge_server):
    elb = edge_server.client("elbv2")
    lb = elb.create_load_balancer(Name="fixed")["LoadBalancers"][0]["LoadBalancerArn"]
    port = free_port()
    elb.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=port,
        DefaultActions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {
                    "StatusCode": "418",
                    "ContentType": "text/plain",
                    "MessageBody": "teapot",
                },
            }
        ],
    )
    wait_port(port)
    resp, body = _get(port, "/", {"Host": "h"})
    assert (resp.status, body) == (418, b"teapot")


def test_reload_keeps_connections_and_delete_closes_port(edge_server, upstream, upstream_b):
    alb = create_alb(edge_server, [upstream.port])
    conn = http.client.HTTPConnection("127.0.0.1", alb["port"], timeout=10)
    conn.request("GET", "/", headers={"Host": "h"})
    resp = conn.getresponse()
    resp.read()
    assert resp.getheader("X-Upstream") == "a"
    elb = alb["elb"]
    elb.register_targets(
        TargetGroupArn=alb["tg"], Targets=[{"Id": "127.0.0.1", "Port": upstream_b.port}]
    )
    elb.deregister_targets(
        TargetGroupArn=alb["tg"], Targets=[{"Id": "127.0.0.1", "Port": upstream.port}]
    )
    deadline = time.monotonic() + 5
    name = "a"
    while time.monotonic() < deadline and name != "b":
        conn.request("GET", "/", headers={"Host": "h"})  # the same client connection
        resp = conn.getresponse()
        resp.read()
        name = resp.getheader("X-Upstream")
        time.sleep(0.05)
    assert name == "b"
    conn.close()
    elb.delete_listener(ListenerArn=alb["listener"])
    wait_closed(alb["port"])


BAD_REQUESTS = [
    b"GARBAGE\r\n\r\n",
    b"GET /\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\n"
    + b"".join(b"X-%d: %s\r\n" % (i, b"b" * 900) for i in range(80))
    + b"\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
    b"0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n",
    b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/3.0\r\nHost: h\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
]


def test_malformed_requests_get_400_and_never_reach_the_target(edge_server, upstream):
    alb = create_alb(edge_server, [upstream.port])
    for request in BAD_REQUESTS:
        response = raw(alb["port"], request, timeout=3)
        assert status_of(response) == 400, (request[:80], response[:200])
    assert upstream.seen == []
    # a well-formed request on the same listener still works
    assert (
        status_of(raw(alb["port"], b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"))
        == 200
    )


def test_metrics_endpoint(edge_server, upstream):
    alb = create_alb(edge_server, [upstream.port])
    _get(alb["port"], "/", {"Host": "h"})
    resp, body = _get(alb["port"], "/__bastion/edge/metrics", {"Host": "h"})
    assert resp.status == 200
    assert b"bastion_edge_requests_total" in body
    assert not any(r["path"].startswith("/__bastion") for r in upstream.seen)


def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "c.pem", tmp_path / "k.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def test_https_listener(edge_server, upstream, tmp_path):
    cert, key = _self_signed(tmp_path)
    elb = edge_server.client("elbv2")
    lb = elb.create_load_balancer(Name="tls")["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(
        Name="tls-tg", Protocol="HTTP", Port=upstream.port, TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1"}])
    port = free_port()
    elb.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTPS",
        Port=port,
        Certificates=[{"CertificateArn": f"file://{cert}#{key}"}],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )
    wait_port(port)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port)) as sock, ctx.wrap_socket(sock) as tls:
        tls.sendall(b"GET /tls HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    assert status_of(data) == 200
    seen = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert ["X-Forwarded-Proto", "https"] in seen["headers"]


def test_config_file_listener_has_an_alb_arn(tmp_path, clock, monkeypatch, upstream):
    from edge_support import json_env

    from support import ThreadServer, make_settings

    port = free_port()
    config = tmp_path / "bastion.toml"
    config.write_text(
        f'[[edge.listeners]]\nname = "static"\nport = {port}\n'
        f'targets = ["127.0.0.1:{upstream.port}"]\n'
    )
    json_env(monkeypatch)
    monkeypatch.setenv("BASTION_CONFIG", str(config))
    srv = ThreadServer(make_settings(tmp_path / "data"), clock).start()
    try:
        wait_port(port)
        resp, _ = _get(port, "/", {"Host": "h"})
        assert resp.status == 200
        lbs = srv.client("elbv2").describe_load_balancers(Names=["static"])["LoadBalancers"]
        assert lbs[0]["LoadBalancerArn"].split(":")[-1].startswith("loadbalancer/app/static/")
    finally:
        srv.stop()
