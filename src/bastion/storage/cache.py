"""A small read-through cache for hot read paths (GetParameter, GetSecretValue...).

Entries live for `ttl` seconds and are dropped at once by `invalidate()`, which the
gateway calls after every committed write of the owning service; other nodes sharing
the database see a change within `ttl`. Values must be immutable (row mappings are).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")

_MISSING = object()


class ReadCache:
    def __init__(
        self,
        ttl: float = 2.0,
        max_entries: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._now = monotonic
        self._entries: dict[Hashable, tuple[float, int, object]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        entry = self._entries.get(key)
        now = self._now()
        if entry is not None and entry[0] > now and entry[1] == self._generation:
            return entry[2]  # type: ignore[return-value]
        generation = self._generation
        value = load()
        with self._lock:
            if generation == self._generation:  # no write happened while loading
                if len(self._entries) >= self._max:
                    self._entries.clear()
                self._entries[key] = (now + self._ttl, generation, value)
        return value

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
