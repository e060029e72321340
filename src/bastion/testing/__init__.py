"""Run Bastion for tests: `running()` for any code, fixtures for pytest (see pytest_plugin).

The server runs in a child process in `--dev` mode with a throwaway data directory, so
tests get any-credentials access, fast resets and no state left behind.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

DEV_ACCESS_KEY = "test"
DEV_SECRET_KEY = "test"  # noqa: S105 - the public development-mode credentials


@dataclass(frozen=True)
class BastionEndpoint:
    """A running Bastion: where it is, and helpers to talk to it."""

    url: str
    region: str = "us-east-1"

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client pointed at Bastion with development credentials."""
        import boto3

        options: dict[str, Any] = {
            "endpoint_url": self.url,
            "region_name": self.region,
            "aws_access_key_id": DEV_ACCESS_KEY,
            "aws_secret_access_key": DEV_SECRET_KEY,
        }
        options.update(kwargs)
        return boto3.client(service, **options)

    def reset(self, service: str | None = None) -> dict[str, Any]:
        """Bring every service (or one) back to its initial state."""
        return self._post("/_bastion/reset", service=service)

    def save_state(self, name: str) -> dict[str, Any]:
        return self._post("/_bastion/state/save", name=name)

    def load_state(self, name: str) -> dict[str, Any]:
        return self._post("/_bastion/state/load", name=name)

    def _post(self, path: str, **params: str | None) -> dict[str, Any]:
        import json
        from urllib.parse import urlencode

        query = urlencode({k: v for k, v in params.items() if v is not None})
        url = f"{self.url}{path}?{query}"
        request = urllib.request.Request(url, data=b"", method="POST")  # noqa: S310 - http(s) only
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bastion exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_bastion/health", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    raise RuntimeError("bastion did not become healthy in time")


@contextmanager
def running(
    *, port: int | None = None, data_dir: str | None = None, timeout: float = 60.0
) -> Iterator[BastionEndpoint]:
    """Start a development-mode Bastion for the duration of the block.

    With `BASTION_ENDPOINT` set, nothing is started: that server is used as is.
    """
    existing = os.environ.get("BASTION_ENDPOINT")
    if existing:
        yield BastionEndpoint(existing.rstrip("/"))
        return
    port = port or _free_port()
    with tempfile.TemporaryDirectory(prefix="bastion-") as tmp:
        env = {
            **os.environ,
            "BASTION_DATA_DIR": data_dir or tmp,
            "BASTION_HOST": "127.0.0.1",
            "BASTION_PORT": str(port),
            "BASTION_DEV": "1",
            "BASTION_LOG_LEVEL": "warning",
        }
        env.pop("BASTION_DATABASE_URL", None)
        log = open(os.path.join(tmp, "server.log"), "wb")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            [sys.executable, "-m", "bastion.cli", "serve"], env=env, stdout=log, stderr=log
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, proc, timeout)
            yield BastionEndpoint(url)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
