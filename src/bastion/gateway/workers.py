"""`bastion serve --workers N`: N control-plane processes serving one port.

One Python process serves on one core at most (the GIL). The supervisor here prepares
storage once (migrations, bootstrap), reserves the port, and spawns N workers that each
build their own runtime and listen on the port with SO_REUSEPORT, so the kernel spreads
connections across them (with one shared listening socket, the first worker to wake
accepts a whole burst of keep-alive connections and the others idle). SO_REUSEPORT
only lets processes of the same user join the port. Worker 0 leads: it alone runs
the scheduler's storage jobs, the audit export and the data-plane listeners; every
worker group-commits its own audit records. Caches stay coherent through the shared
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
import threading
import time
from types import FrameType

import uvicorn

from bastion.config import Settings
from bastion.storage.changes import create_signal_file

log = logging.getLogger("bastion.workers")

RESTART_BACKOFF = 1.0  # seconds before restarting a worker that died young
YOUNG = 5.0  # a worker dying sooner than this after its start is restarted with backoff
STOP_TIMEOUT = 15.0


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


def run_worker(settings: Settings, worker: int) -> None:
    """A worker process: its own runtime and uvicorn server on its own share of the port."""
    from bastion.gateway.app import BastionApp
    from bastion.gateway.runtime import build_runtime
    from bastion.gateway.server import uvicorn_config

    logging.basicConfig(
        level=settings.log_level.upper(),
        format=f"%(asctime)s %(levelname)s %(name)s[w{worker}]: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    _exit_with_parent()
    runtime = build_runtime(settings, worker=worker)
    config = uvicorn_config(BastionApp(runtime), settings.host, settings.port, settings.log_level)
    sock = reuse_port_socket(settings.host, settings.port)
    sock.listen(config.backlog)
    uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    """Starts the workers, restarts the ones that die, stops them all on SIGTERM/SIGINT."""

    def __init__(self, settings: Settings, port: socket.socket) -> None:
        self._settings = settings
        self._port = port  # bound, never listening: holds the port against other users
        self._spawn = multiprocessing.get_context("spawn")
        self._procs: dict[int, multiprocessing.process.BaseProcess] = {}
        self._started: dict[int, float] = {}
        self._stopping = threading.Event()

    def _start(self, worker: int) -> None:
        proc = self._spawn.Process(
            target=run_worker,
            args=(self._settings, worker),
            name=f"bastion-worker-{worker}",
        )
        proc.start()
        self._procs[worker] = proc
        self._started[worker] = time.monotonic()

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self._stopping.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for worker in range(self._settings.workers):
            self._start(worker)
        log.info("%d workers started (pids %s)", len(self._procs), self.pids())
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
        return [self._procs[w].pid for w in sorted(self._procs)]

    def _stop(self) -> int:
        for proc in self._procs.values():
            if proc.is_alive():
                proc.terminate()  # SIGTERM: uvicorn finishes in-flight requests
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in self._procs.values():
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
    return Supervisor(settings, port).run()
