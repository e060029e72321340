"""Cross-process "storage changed" signal for the worker processes of one server.

Each worker keeps caches derived from storage (credentials, policies, key material,
parameter and secret reads). Inside one process a commit clears them directly; with
several workers, a commit in one must clear the others' before they serve another
request, or a deactivated access key or a disabled KMS key would keep working there.

The signal is a small shared memory map (a file in the data directory): one 64-bit
counter per worker slot. A worker bumps only its own slot after each committed write
(one writer per slot, so no locking), and before each request compares the whole map
with what it saw last: a 512-byte comparison, far cheaper than any cache it guards.
A bump happens after the commit and before the response, so a client that got an
answer and then calls any other worker is served from fresh state.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable
from pathlib import Path

MAX_SLOTS = 64
_SLOT = struct.Struct("<Q")
SIZE = MAX_SLOTS * _SLOT.size


def create_signal_file(path: Path) -> None:
    """Create (or zero) the map before the workers start; private to the server's user."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, bytes(SIZE))
    finally:
        os.close(fd)


class ChangeSignal:
    """One worker's view of the shared counters: bump its own slot, notice the others'."""

    def __init__(self, path: Path, slot: int) -> None:
        if not 0 <= slot < MAX_SLOTS:
            raise ValueError(f"worker slot must be in 0..{MAX_SLOTS - 1}")
        fd = os.open(path, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, SIZE)
        finally:
            os.close(fd)
        self._offset = slot * _SLOT.size
        self._count = _SLOT.unpack_from(self._map, self._offset)[0]  # a restarted worker
        self._seen = self._map[:]

    def bump(self) -> None:
        """Tell the other workers that storage changed (call after a commit)."""
        self._count += 1
        _SLOT.pack_into(self._map, self._offset, self._count)

    def sync(self, clear: Callable[[], None]) -> bool:
        """Run `clear` if any worker committed since the last sync; whether it ran.

        The snapshot is remembered only after `clear` returns, so a thread racing this
        one never skips the clear and serves from caches that are still stale.
        """
        now = self._map[:]
        if now == self._seen:
            return False
        clear()
        self._seen = now
        return True

    def close(self) -> None:
        self._map.close()
