"""The audit writer process: group-commits every worker's read-call records, and exports.

With several workers, storing audit records inside each worker costs more than the
insert itself: the writer and exporter threads compete with the event loop for the
GIL. So the supervisor runs one writer process; workers queue records as before and
their flush thread only hands batches over a Unix socket (`RemoteAuditSink`).

Durability is unchanged: a mutating call's record is still written in the call's own
transaction by the worker; read-call records are group-committed here, and a worker's
`flush()` (LookupEvents, shutdown) waits until the writer has committed everything that
worker sent. If the writer is gone, sending fails and the worker's calls fail (audit
fails closed) until it is back. The socket lives in a 0700 directory with mode 0600:
only the server's own user can connect.

Frames, worker to writer: ``R`` + 4-byte length + an `encode_batch` document;
``F`` + 8-byte token (flush). Writer to worker: ``A`` + token once committed, or ``E``
+ token if the commit failed.
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bastion.clock import Clock
from bastion.spine.audit import AuditLog, encode_batch, insert_batch
from bastion.spine.records import AuditEntry
from bastion.storage import Store

log = logging.getLogger("bastion.audit")

_LENGTH = struct.Struct(">I")
_TOKEN = struct.Struct(">Q")
MAX_FRAME = 256 * 1024 * 1024
COMMIT_INTERVAL = 0.05  # seconds a batch may gather before it is committed
EXPORT_INTERVAL = 0.5
RETRY_AFTER = 1.0


class RemoteAuditSink:
    """A worker's connection to the writer process (thread-safe, reconnects on demand)."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self._path = path
        self._timeout = timeout
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._token = 0

    def _connected(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self._timeout)
            try:
                sock.connect(str(self._path))
            except OSError:
                sock.close()
                raise
            self._sock = sock
        return self._sock

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def send(self, entries: Sequence[AuditEntry]) -> None:
        if not entries:
            return
        frame = _records_frame(entries)
        with self._lock:
            try:
                self._connected().sendall(frame)
            except OSError:
                self._drop()
                raise

    def commit(self, entries: Sequence[AuditEntry]) -> None:
        frames = _records_frame(entries) if entries else b""
        with self._lock:
            self._token += 1
            token = _TOKEN.pack(self._token)
            try:
                sock = self._connected()
                sock.sendall(frames + b"F" + token)
                answer = _recv_exactly(sock, 1 + _TOKEN.size)
            except OSError:
                self._drop()
                raise
            if answer != b"A" + token:
                self._drop()
                raise OSError("the audit writer could not commit the records")

    def close(self) -> None:
        with self._lock:
            self._drop()


def _records_frame(entries: Sequence[AuditEntry]) -> bytes:
    payload = encode_batch(entries)
    return b"R" + _LENGTH.pack(len(payload)) + payload


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the audit writer closed the connection")
        data += chunk
    return data


@dataclass
class _Peer:
    """One worker connection: bytes not yet parsed, and flushes awaiting the commit."""

    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)
    waiting: list[bytes] = field(default_factory=list)


class AuditWriter:
    """The writer process's loop: read batches from every worker, commit, acknowledge."""

    def __init__(self, store: Store, audit_dir: Path, clock: Clock, path: Path) -> None:
        self._store = store
        self._path = path
        self._exporter = AuditLog(store, audit_dir, clock)
        self._selector = selectors.DefaultSelector()
        self._listener = _listen(path)
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._peers: dict[int, _Peer] = {}
        self._batches: list[bytes] = []
        self._stop = threading.Event()
        self._gathering_since: float | None = None
        self._retry_at = 0.0

    def stop(self) -> None:
        """Stop accepting workers; the loop ends once the connected ones have left."""
        self._stop.set()

    def run(self, drain_timeout: float = 15.0) -> None:
        exporter = threading.Thread(target=self._export_loop, name="audit-export", daemon=True)
        exporter.start()
        deadline: float | None = None
        while True:
            if self._stop.is_set():
                if deadline is None:
                    deadline = time.monotonic() + drain_timeout
                    self._selector.unregister(self._listener)
                    self._listener.close()
                if not self._peers or time.monotonic() > deadline:
                    break
            for key, _events in self._selector.select(self._wait()):
                if key.fileobj is self._listener:
                    self._accept()
                else:
                    self._read(self._peers[key.fd])
            self._commit_if_due()
        self._commit_if_due(force=True)
        for peer in list(self._peers.values()):
            self._close(peer)
        exporter.join(timeout=EXPORT_INTERVAL * 4)
        self._exporter.export()
        self._path.unlink(missing_ok=True)

    def _wait(self) -> float:
        if self._gathering_since is None and not self._any_waiting():
            return 0.5
        return max(0.0, COMMIT_INTERVAL / 5)

    def _any_waiting(self) -> bool:
        return any(peer.waiting for peer in self._peers.values())

    def _accept(self) -> None:
        sock, _ = self._listener.accept()
        sock.setblocking(False)
        self._peers[sock.fileno()] = _Peer(sock)
        self._selector.register(sock, selectors.EVENT_READ)

    def _close(self, peer: _Peer) -> None:
        self._selector.unregister(peer.sock)
        self._peers.pop(peer.sock.fileno(), None)
        peer.sock.close()

    def _read(self, peer: _Peer) -> None:
        try:
            chunk = peer.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._close(peer)
            return
        peer.buffer += chunk
        self._parse(peer)

    def _parse(self, peer: _Peer) -> None:
        buf = peer.buffer
        at = 0
        while at < len(buf):
            kind = buf[at : at + 1]
            if kind == b"R":
                if len(buf) - at < 5:
                    break
                (size,) = _LENGTH.unpack_from(buf, at + 1)
                if size > MAX_FRAME:
                    log.error("audit writer: oversized frame from a worker; dropping it")
                    self._close(peer)
                    return
                if len(buf) - at < 5 + size:
                    break
                self._batches.append(bytes(buf[at + 5 : at + 5 + size]))
                if self._gathering_since is None:
                    self._gathering_since = time.monotonic()
                at += 5 + size
            elif kind == b"F":
                if len(buf) - at < 1 + _TOKEN.size:
                    break
                peer.waiting.append(bytes(buf[at + 1 : at + 1 + _TOKEN.size]))
                at += 1 + _TOKEN.size
            else:
                log.error("audit writer: malformed frame from a worker; closing it")
                self._close(peer)
                return
        del buf[:at]

    def _commit_if_due(self, force: bool = False) -> None:
        now = time.monotonic()
        if now < self._retry_at and not force:
            return
        due = (
            force
            or self._any_waiting()
            or (
                self._gathering_since is not None and now - self._gathering_since >= COMMIT_INTERVAL
            )
        )
        if not due:
            return
        ok = True
        if self._batches:
            try:
                with self._store.write(notify=False) as conn:
                    for batch in self._batches:
                        insert_batch(conn, batch)
            except Exception:
                log.exception("audit writer: commit failed; workers' flushes fail until it works")
                ok = False
                self._retry_at = now + RETRY_AFTER
            else:
                self._batches.clear()
                self._gathering_since = None
        for peer in list(self._peers.values()):
            answers = b"".join((b"A" if ok else b"E") + token for token in peer.waiting)
            peer.waiting.clear()
            if answers:
                try:
                    peer.sock.setblocking(True)
                    peer.sock.sendall(answers)
                    peer.sock.setblocking(False)
                except OSError:
                    self._close(peer)

    def _export_loop(self) -> None:
        while not self._stop.wait(EXPORT_INTERVAL):
            try:
                self._exporter.export()
            except Exception:
                log.exception("audit export to files failed; will retry")


def _listen(path: Path) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o177)  # the socket file is created 0600
    try:
        sock.bind(str(path))
    finally:
        os.umask(old_mask)
    sock.listen(64)
    sock.setblocking(False)
    return sock
