"""`bastion serve --workers N`: N control-plane processes serving one port.

One Python process serves on one core at most (the GIL). The supervisor here prepares
storage once (migrations, bootstrap), reserves the port, and spawns N workers that each
build their own runtime and listen on the port with SO_REUSEPORT, so the kernel spreads
connections across them (with one shared listening socket, the first worker to wake
accepts a whole burst of keep-alive connections and the others idle). SO_REUSEPORT
only lets processes of the same user join the port. Worker 0 leads: it alone runs
the scheduler's storage jobs and the data-plane listeners. One more process, the audit
writer (spine.audit_writer), commits every worker's read-call records and exports the
audit files, keeping that work off the workers' GILs. Caches stay coherent through the shared
change counters of `storage.changes`. A worker that dies is started again in its slot;
a worker whose supervisor dies shuts itself down.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from bastion.config import Settings
from bastion.gateway.cli_common import setup_logging
from bastion.storage.changes import create_signal_file

log = logging.getLogger("bastion.workers")

RESTART_BACKOFF = 1.0  # seconds before restarting a worker that died young
YOUNG = 5.0  # a worker dying sooner than this after its start is restarted with backoff
STOP_TIMEOUT = 15.0
STARTUP_TIMEOUT = 30.0
AUDIT = -1  # the audit writer's slot among the supervised processes


def _exit_with_parent() -> None:
    """Shut this worker down gracefully (SIGTERM to itself) when the supervisor is gone."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port that other processes of this user can share."""
    family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def run_worker(
    settings: Settings, worker: int, audit_socket: Path, start_together: Any = None
) -> None:
    """A worker process: its own runtime and HTTP server on its own share of the port.

    At server start the workers wait for each other (`start_together`, a barrier) before
    listening: connections made while only some workers listen all go to those, and
    keep-alive clients would stay there.
    """
    from bastion.gateway.app import BastionApp
    from bastion.gateway.http_server import HttpFront
    from bastion.gateway.runtime import build_runtime

    setup_logging(settings, f"w{worker}")
    _exit_with_parent()
    runtime = build_runtime(settings, worker=worker, audit_socket=audit_socket)
    sock = reuse_port_socket(settings.host, settings.port)  # listens once serving starts
    if start_together is not None:
        try:
            start_together.wait(STARTUP_TIMEOUT)
        except threading.BrokenBarrierError:
            log.warning("worker %d: not every worker started in time; serving anyway", worker)
    HttpFront(BastionApp(runtime)).run(sock=sock)


def run_audit_writer(settings: Settings, path: Path) -> None:
    """The audit writer process (see spine.audit_writer). On SIGTERM or SIGINT it stops
    accepting and keeps serving the workers still connected until they have left, so
    their last records are committed."""
    from bastion.clock import SystemClock
    from bastion.spine.audit_writer import AuditWriter
    from bastion.storage import Store

    setup_logging(settings, "audit")
    _exit_with_parent()
    store = Store(settings.effective_database_url)
    writer = AuditWriter(store, settings.audit_dir, SystemClock(), path)
    signal.signal(signal.SIGTERM, lambda *_: writer.stop())
    signal.signal(signal.SIGINT, lambda *_: writer.stop())
    try:
        writer.run()
    finally:
        store.dispose()


def audit_socket_path(settings: Settings) -> Path:
    """In the data directory, unless that path is too long for a Unix socket (108 bytes);
    then in a new private temporary directory."""
    path = settings.data_dir / "run" / "audit.sock"
    if len(str(path).encode()) < 100:
        return path
    return Path(tempfile.mkdtemp(prefix="bastion-")) / "audit.sock"


class Supervisor:
    """Starts the workers, restarts the ones that die, stops them all on SIGTERM/SIGINT."""

    def __init__(self, settings: Settings, port: socket.socket, audit_socket: Path) -> None:
        self._settings = settings
        self._port = port  # bound, never listening: holds the port against other users
        self._audit_socket = audit_socket
        self._spawn = multiprocessing.get_context("spawn")
        self._procs: dict[int, multiprocessing.process.BaseProcess] = {}
        self._started: dict[int, float] = {}
        self._stopping = threading.Event()
        self._barrier: Any = None

    def _start(self, worker: int, start_together: Any = None) -> None:
        """Start `worker` (or the audit writer); a worker started again later joins at
        once, without waiting for the others."""
        if worker == AUDIT:
            self._audit_socket.unlink(missing_ok=True)  # a stale one would look ready
            proc = self._spawn.Process(
                target=run_audit_writer,
                args=(self._settings, self._audit_socket),
                name="bastion-audit",
            )
        else:
            proc = self._spawn.Process(
                target=run_worker,
                args=(self._settings, worker, self._audit_socket, start_together),
                name=f"bastion-worker-{worker}",
            )
        proc.start()
        self._procs[worker] = proc
        self._started[worker] = time.monotonic()
        if worker == AUDIT:
            self._await_audit_writer(proc)

    def _await_audit_writer(self, proc: multiprocessing.process.BaseProcess) -> None:
        """Workers start once the writer listens (their first records need it)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._audit_socket.exists() and proc.is_alive():
            if time.monotonic() > deadline or self._stopping.wait(0.02):
                return

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self._stopping.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self._start(AUDIT)
        # kept referenced while the workers start: they unpickle it after spawning
        self._barrier = self._spawn.Barrier(self._settings.workers)
        for worker in range(self._settings.workers):
            self._start(worker, self._barrier)
        log.info("%d workers started (pids %s)", self._settings.workers, self.pids())
        while not self._stopping.is_set():
            sentinels = [p.sentinel for p in self._procs.values()]
            multiprocessing.connection.wait(sentinels, timeout=0.5)
            for worker, proc in list(self._procs.items()):
                if proc.is_alive() or self._stopping.is_set():
                    continue
                lived = time.monotonic() - self._started[worker]
                log.error("worker %d (pid %s) exited with %s", worker, proc.pid, proc.exitcode)
                if lived < YOUNG and self._stopping.wait(RESTART_BACKOFF):
                    break
                self._start(worker)
        return self._stop()

    def pids(self) -> list[int | None]:
        return [self._procs[w].pid for w in sorted(self._procs) if w != AUDIT]

    def _stop(self) -> int:
        """Workers first (they hand their last records to the writer), then the writer."""
        workers = [p for w, p in self._procs.items() if w != AUDIT]
        for group in (workers, [self._procs[AUDIT]]):
            for proc in group:
                if proc.is_alive():
                    proc.terminate()  # SIGTERM: in-flight requests finish first
            deadline = time.monotonic() + STOP_TIMEOUT
            for proc in group:
                proc.join(max(0.0, deadline - time.monotonic()))
                if proc.is_alive():
                    proc.kill()
                    proc.join()
        self._port.close()
        return 0


def serve_workers(settings: Settings) -> int:
    """Run `settings.workers` workers on the configured port until signalled."""
    port = reuse_port_socket(settings.host, settings.port)  # fails now if the port is taken
    create_signal_file(settings.changes_file)
    log.info("serving http://%s:%d with %d workers", settings.host, settings.port, settings.workers)
    return Supervisor(settings, port, audit_socket_path(settings)).run()
