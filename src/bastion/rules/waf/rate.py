"""Rate counters for rate-based rules: in process, or shared by several edge processes
through Redis (`BASTION_REDIS_URL`)."""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Any, Protocol

SUB_WINDOWS = 10  # a window is counted in ten buckets: a sliding window at 1/10 resolution


class RateCounter(Protocol):
    def hit(self, key: str, window_seconds: int, now: float) -> int:
        """Record one request for `key`; the count in the window ending now, this one included."""
        ...


class MemoryRateCounter:
    """Sliding-window counts in process (exact: one timestamp per request, bounded)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._hits: dict[tuple[str, int], deque[float]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def hit(self, key: str, window_seconds: int, now: float) -> int:
        k = (key, window_seconds)
        cutoff = now - window_seconds
        with self._lock:
            q = self._hits.get(k)
            if q is None:
                if len(self._hits) >= self._max_keys:
                    self._evict(now)
                q = self._hits[k] = deque()
            while q and q[0] <= cutoff:
                q.popleft()
            q.append(now)
            return len(q)

    def count(self, key: str, window_seconds: int, now: float) -> int:
        with self._lock:
            q = self._hits.get((key, window_seconds))
            if not q:
                return 0
            return sum(1 for t in q if t > now - window_seconds)

    def _evict(self, now: float) -> None:
        for k in [k for k, q in self._hits.items() if not q or q[-1] <= now - k[1]]:
            del self._hits[k]
        if len(self._hits) >= self._max_keys:
            for k in list(self._hits)[: len(self._hits) // 10 + 1]:
                del self._hits[k]


_LUA = """
local total = 0
local n = tonumber(ARGV[2])
local current = tonumber(ARGV[1])
redis.call('INCR', KEYS[1] .. ':' .. current)
redis.call('EXPIRE', KEYS[1] .. ':' .. current, tonumber(ARGV[3]))
for i = 0, n - 1 do
  local v = redis.call('GET', KEYS[1] .. ':' .. (current - i))
  if v then total = total + tonumber(v) end
end
return total
"""


class RedisRateCounter:
    """Counts kept in Redis so several edge processes enforce one limit.

    A window is split into ten buckets (`window/10` seconds each); a hit increments the
    current bucket and sums the last ten in one Lua script, so the count is atomic and the
    window slides at a tenth of its length."""

    def __init__(
        self, url: str | None = None, *, client: Any = None, prefix: str = "bastion:waf:rate"
    ) -> None:
        if client is None:
            import redis  # made for the job; imported lazily so the engine runs without it

            client = redis.Redis.from_url(url or "redis://127.0.0.1:6379/0")
        self._client = client
        self._script = client.register_script(_LUA)
        self._prefix = prefix

    def hit(self, key: str, window_seconds: int, now: float) -> int:
        bucket_len = window_seconds / SUB_WINDOWS
        current = math.floor(now / bucket_len)
        rkey = f"{self._prefix}:{window_seconds}:{key}"
        return int(self._script(keys=[rkey], args=[current, SUB_WINDOWS, window_seconds + 60]))


def rate_counter_from_env(environ: dict[str, str] | None = None) -> RateCounter:
    """A Redis counter when BASTION_REDIS_URL is set, else an in-process one."""
    import os

    env = os.environ if environ is None else environ
    url = env.get("BASTION_REDIS_URL")
    if url:
        return RedisRateCounter(url)
    return MemoryRateCounter()
