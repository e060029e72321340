"""The command line: version, init, serve banner."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from bastion import __version__
from support import ProcessServer, read_credentials


def bastion(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "bastion.cli", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_version():
    out = bastion("--version")
    assert out.returncode == 0 and __version__ in out.stdout


def test_init_writes_private_credentials_once(tmp_path):
    data = tmp_path / "d"
    first = bastion("init", "--data-dir", str(data), "--account-id", "123456789012")
    assert first.returncode == 0, first.stderr
    creds = data / "credentials"
    assert stat.S_IMODE(os.stat(creds).st_mode) == 0o600
    key, secret = read_credentials(creds)
    assert key.startswith("AKIA") and len(secret) == 40
    assert "[bastion]" in first.stdout and "arn:aws:iam::123456789012:user/admin" in first.stdout
    second = bastion("init", "--data-dir", str(data))
    assert "Already initialised" in second.stdout
    assert read_credentials(creds) == (key, secret)


def test_serve_prints_how_to_connect_and_answers_health(tmp_path):
    srv = ProcessServer(tmp_path / "data").start()
    try:
        import json
        import urllib.request

        with urllib.request.urlopen(f"{srv.endpoint}/_bastion/health", timeout=5) as response:
            health = json.loads(response.read())
        assert health["status"] == "ok" and "sts" in health["services"]
    finally:
        srv.stop()
    banner = srv.log_path.read_text()
    assert f"aws --endpoint-url {srv.endpoint} sts get-caller-identity" in banner
    assert "boto3.Session(profile_name='bastion')" in banner


def test_serve_also_runs_the_forward_proxy_when_configured(tmp_path):
    import socket

    from support import free_port

    proxy_port = free_port()
    srv = ProcessServer(tmp_path / "data", extra_env={"BASTION_PROXY_PORT": str(proxy_port)})
    srv.start()
    try:
        with socket.create_connection(("127.0.0.1", proxy_port), timeout=5) as sock:
            sock.sendall(b"GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n")
            status_line = sock.recv(4096).split(b"\r\n", 1)[0]
        assert status_line.startswith(b"HTTP/1.1 407")  # users must authenticate
    finally:
        srv.stop()


def test_edge_list_shows_listeners_created_through_elbv2(tmp_path):
    srv = ProcessServer(tmp_path / "data", extra_env={"BASTION_EDGE_IN_SERVE": "0"}).start()
    try:
        elb = srv.client("elbv2")
        lb = elb.create_load_balancer(Name="shop")["LoadBalancers"][0]["LoadBalancerArn"]
        tg = elb.create_target_group(Name="app", Protocol="HTTP", Port=8080, TargetType="ip")[
            "TargetGroups"
        ][0]["TargetGroupArn"]
        elb.create_listener(
            LoadBalancerArn=lb,
            Protocol="HTTP",
            Port=18080,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
        )
    finally:
        srv.stop()
    out = bastion("edge", "list", "--data-dir", str(tmp_path / "data"))
    assert out.returncode == 0, out.stderr
    assert "18080" in out.stdout
