"""Benchmark targets, each started as a subprocess on a free loopback port.

- ``bastion``: ``bastion init`` + ``bastion serve`` on a fresh data directory; ready when
  ``GET /_bastion/health`` answers 200.
- ``moto``: ``moto_server`` (the peer); ready when any HTTP request gets an answer.
- ``hello``: ``hello_app`` under uvicorn with the flags Bastion's server uses (uvloop,
  httptools, no access log, log level warning, one worker): the ceiling.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .loadgen import SignedRequest, fetch_once, sts_get_caller_identity

HOST = "127.0.0.1"
BENCH_DIR = Path(__file__).resolve().parent
READY_TIMEOUT = 60.0


class TargetError(RuntimeError):
    """A target failed to start or to become ready."""


@dataclass
class Target:
    """A running target server and the credentials to sign requests for it."""

    name: str
    host: str
    port: int
    proc: subprocess.Popen[bytes]
    access_key: str
    secret_key: str
    expect: bytes | None  # substring a correct GetCallerIdentity answer must contain
    command: list[str]
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    def sts_request(self) -> SignedRequest:
        """Factory of signed GetCallerIdentity requests addressed to this target."""
        return sts_get_caller_identity(self.host, self.port, self.access_key, self.secret_key)

    def stop(self) -> None:
        """Terminate the target's process group (SIGTERM, then SIGKILL after 10 s)."""
        _signal_group(self.proc, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            _signal_group(self.proc, signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the target's combined stdout/stderr."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def free_port(host: str = HOST) -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, sig)  # the group we created with start_new_session
        else:
            proc.send_signal(sig)


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS"):
        env.pop(name, None)
    return env


def _spawn(
    name: str,
    command: list[str],
    workdir: Path,
    access_key: str,
    secret_key: str,
    expect: bytes | None,
    port: int,
    cwd: Path | None = None,
) -> Target:
    log_path = workdir / f"{name}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_env(),
        cwd=cwd or workdir,
        start_new_session=True,
    )
    return Target(name, HOST, port, proc, access_key, secret_key, expect, command, log_path, log)


def _http_status(host: str, port: int, path: str) -> int:
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    return fetch_once(host, port, request.encode(), timeout=2.0)[0]


def wait_ready(target: Target, path: str = "/", want: int | None = None) -> None:
    """Poll until an HTTP request to ``path`` is answered (with status ``want`` if set)."""
    deadline = time.monotonic() + READY_TIMEOUT
    last: object = None
    while time.monotonic() < deadline:
        if target.proc.poll() is not None:
            target.stop()
            raise TargetError(
                f"{target.name} exited with {target.proc.returncode}:\n{target.log_tail()}"
            )
        try:
            status = _http_status(target.host, target.port, path)
        except (OSError, ValueError) as exc:
            last = exc
        else:
            if want is None or status == want:
                return
            last = f"status {status}"
        time.sleep(0.1)
    target.stop()
    raise TargetError(f"{target.name} not ready after {READY_TIMEOUT:.0f}s ({last})")


def start_moto(workdir: Path, workers: int = 1) -> Target:
    """``moto_server -H 127.0.0.1 -p PORT``; moto accepts any credentials. Its state is
    in memory, so it has no multi-process mode: ``workers`` does not apply."""
    port = free_port()
    exe = shutil.which("moto_server")
    base = [exe] if exe else [sys.executable, "-m", "moto.server"]
    command = [*base, "-H", HOST, "-p", str(port)]
    target = _spawn("moto", command, workdir, "testing", "testing", b"<Arn>", port)
    wait_ready(target)
    return target


def start_hello(workdir: Path, workers: int = 1) -> Target:
    """The bare ASGI app under uvicorn, configured like Bastion's server used to be
    (uvloop, httptools, no access log); with several workers, each process has its own
    SO_REUSEPORT socket, as Bastion's workers do."""
    port = free_port()
    if workers > 1:
        command = [
            sys.executable, str(BENCH_DIR / "hello_app.py"),
            "--host", HOST, "--port", str(port), "--workers", str(workers),
        ]  # fmt: skip
    else:
        command = [
            sys.executable, "-m", "uvicorn", "hello_app:app",
            "--app-dir", str(BENCH_DIR),
            "--host", HOST, "--port", str(port),
            "--loop", "uvloop", "--http", "httptools",
            "--no-access-log", "--log-level", "warning", "--no-server-header",
        ]  # fmt: skip
    target = _spawn("hello", command, workdir, "testing", "testing", b"hello", port)
    wait_ready(target)
    return target


def bastion_command() -> list[str]:
    """How to invoke the ``bastion`` CLI of the interpreter running the benchmark."""
    exe = Path(sys.executable).with_name("bastion")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("bastion")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from bastion.cli import main; sys.exit(main())"]


def start_bastion(workdir: Path, workers: int = 1) -> Target:
    """``bastion init`` on a fresh data directory, then ``bastion serve --workers N``."""
    data_dir = workdir / "bastion-data"
    cli = bastion_command()
    init = subprocess.run(
        [*cli, "init", "--data-dir", str(data_dir)],
        env=_env(),
        cwd=workdir,
        capture_output=True,
        timeout=120,
        check=False,
    )
    if init.returncode != 0:
        output = (init.stdout + init.stderr).decode(errors="replace")[-2000:]
        raise TargetError(f"bastion init failed ({init.returncode}):\n{output}")
    credentials = configparser.ConfigParser()
    if not credentials.read(data_dir / "credentials") or "bastion" not in credentials:
        raise TargetError(f"bastion init wrote no [bastion] profile in {data_dir}/credentials")
    profile = credentials["bastion"]
    port = free_port()
    command = [*cli, "serve", "--host", HOST, "--port", str(port), "--data-dir", str(data_dir)]
    command += ["--workers", str(workers)]
    target = _spawn(
        "bastion",
        command,
        workdir,
        profile["aws_access_key_id"],
        profile["aws_secret_access_key"],
        b"<Arn>",
        port,
    )
    wait_ready(target, "/_bastion/health", want=200)
    return target


STARTERS: dict[str, Callable[[Path, int], Target]] = {
    "bastion": start_bastion,
    "moto": start_moto,
    "hello": start_hello,
}


@contextlib.contextmanager
def running(name: str, workers: int = 1) -> Iterator[Target]:
    """Start target ``name`` (with ``workers`` processes where it can) in a temporary
    directory; stop it on exit."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        target = STARTERS[name](Path(tmp), workers)
        try:
            yield target
        finally:
            target.stop()
