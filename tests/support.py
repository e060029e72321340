"""Test helpers: a real Bastion server on a free port, in a thread or a process."""

from __future__ import annotations

import configparser
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import psycopg

from bastion.clock import Clock
from bastion.config import Settings, load_settings
from bastion.gateway.app import BastionApp
from bastion.gateway.http_server import HttpFront
from bastion.gateway.runtime import Runtime, build_runtime

PG_ADMIN_URL = os.environ.get("BASTION_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

NO_RETRY = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test run; dropped afterwards."""
    name = f"bastion_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def read_credentials(path: Path) -> tuple[str, str]:
    parser = configparser.ConfigParser()
    parser.read(path)
    section = parser["bastion"]
    return section["aws_access_key_id"], section["aws_secret_access_key"]


class Server:
    """Common client helpers for a running server."""

    endpoint: str
    settings: Settings

    @property
    def credentials(self) -> tuple[str, str]:
        return read_credentials(self.settings.credentials_file)

    def client(
        self,
        service: str,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        session_token: str | None = None,
        region: str = "us-east-1",
    ) -> Any:
        default_key, default_secret = self.credentials
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=access_key or default_key,
            aws_secret_access_key=secret_key or default_secret,
            aws_session_token=session_token,
            config=NO_RETRY,
        )


class ThreadServer(Server):
    """Bastion in this process (so tests can hand it a ManualClock)."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.runtime: Runtime = build_runtime(settings, clock)
        self.app = BastionApp(self.runtime)
        self._server = HttpFront(self.app)
        self._thread = threading.Thread(
            target=self._server.run, args=(settings.host, settings.port), daemon=True
        )
        self.endpoint = f"http://{settings.host}:{settings.port}"

    def start(self) -> ThreadServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=20)


def make_settings(data_dir: Path, database_url: str = "", **extra: Any) -> Settings:
    overrides: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "port": free_port(),
        "log_level": "warning",
    }
    overrides.update(extra)
    return load_settings(overrides, env={})


class ProcessServer(Server):
    """`bastion serve` as a real child process, for crash and CLI tests."""

    def __init__(
        self, data_dir: Path, database_url: str = "", extra_env: dict[str, str] | None = None
    ):
        self.settings = make_settings(data_dir, database_url)
        self.endpoint = f"http://127.0.0.1:{self.settings.port}"
        self.log_path = data_dir.parent / f"server-{self.settings.port}.log"
        self.env = {
            **os.environ,
            "BASTION_DATA_DIR": str(data_dir),
            "BASTION_PORT": str(self.settings.port),
            "BASTION_DATABASE_URL": database_url,
            "BASTION_LOG_LEVEL": "info",
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ProcessServer:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bastion.cli", "serve"], env=self.env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + 30
        import urllib.request

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/_bastion/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not become healthy")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no shutdown hooks run
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
