"""A shared HTTP cache for plain-HTTP GET/HEAD, as RFC 9111 allows.

Stored: final responses to GET whose request carried no `Authorization`, without
`no-store`, `private`, `Vary: *` or `Set-Cookie`, that have explicit freshness
(`s-maxage`, `max-age`, `Expires`), a heuristic one (`Last-Modified`), or a validator
(`ETag`/`Last-Modified`) to revalidate with. Freshness and age follow RFC 9111 §4.2;
stale or `no-cache` entries are revalidated with `If-None-Match`/`If-Modified-Since`.
Variants are kept per `Vary`. Entries live in memory under an LRU byte budget; with a
disk budget, entries evicted from memory spill to files (also LRU) and come back on use.
Unsafe methods (POST, PUT, DELETE, PATCH) invalidate the URL.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

Headers = list[tuple[bytes, bytes]]

HEURISTIC_STATUSES = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})
UNSAFE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})
# never stored with an entry: framing and per-hop headers, and what the proxy adds
_NOT_STORED = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"te",
        b"trailer",
        b"upgrade",
        b"proxy-authenticate",
        b"content-length",
        b"age",
        b"via",
    }
)
HEURISTIC_FRACTION = 0.1
HEURISTIC_MAX = 86400.0


def parse_cache_control(value: bytes | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if not value:
        return out
    for part in value.decode("latin-1").split(","):
        name, _, arg = part.strip().partition("=")
        if name:
            out[name.lower()] = arg.strip().strip('"')
    return out


def _seconds(arg: str | None) -> float | None:
    if arg is None:
        return None
    try:
        return max(0.0, float(int(arg)))
    except ValueError:
        return None


def http_date(value: bytes | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value.decode("latin-1")).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def format_http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


def header(headers: Headers, name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


@dataclass
class CacheEntry:
    url: str
    status: int
    reason: bytes
    headers: Headers  # end-to-end headers as stored (no framing, no Age)
    body: bytes
    request_time: float
    response_time: float
    vary: tuple[tuple[bytes, bytes], ...] = ()  # (lower-case name, request value)
    # derived
    date_value: float = 0.0
    age_value: float = 0.0
    lifetime: float = 0.0
    must_revalidate: bool = False  # `no-cache`: revalidate on every use
    etag: bytes | None = None
    last_modified: bytes | None = None
    head_bytes: bytes = field(default=b"", repr=False)  # status line + stored headers

    @property
    def size(self) -> int:
        return len(self.body) + len(self.head_bytes) + 256

    def current_age(self, now: float) -> float:
        apparent = max(0.0, self.response_time - self.date_value)
        corrected = self.age_value + (self.response_time - self.request_time)
        return max(apparent, corrected) + max(0.0, now - self.response_time)

    def is_fresh(self, now: float, request_cc: dict[str, str]) -> bool:
        if self.must_revalidate or "no-cache" in request_cc:
            return False
        age = self.current_age(now)
        max_age = _seconds(request_cc.get("max-age"))
        if max_age is not None and age > max_age:
            return False
        return self.lifetime > age

    def derive(self) -> None:
        headers = self.headers
        cc = parse_cache_control(header(headers, b"cache-control"))
        self.date_value = http_date(header(headers, b"date")) or self.response_time
        self.age_value = _seconds((header(headers, b"age") or b"").decode() or None) or 0.0
        self.etag = header(headers, b"etag")
        self.last_modified = header(headers, b"last-modified")
        self.must_revalidate = "no-cache" in cc
        self.lifetime = freshness_lifetime(headers, cc, self.date_value, self.status)
        self.head_bytes = b"HTTP/1.1 %d %s\r\n" % (self.status, self.reason) + b"".join(
            k + b": " + v + b"\r\n" for k, v in headers
        )


def freshness_lifetime(headers: Headers, cc: dict[str, str], date: float, status: int) -> float:
    for directive in ("s-maxage", "max-age"):
        value = _seconds(cc.get(directive))
        if value is not None:
            return value
    expires_raw = header(headers, b"expires")
    if expires_raw is not None:
        expires = http_date(expires_raw)
        return max(0.0, expires - date) if expires is not None else 0.0  # invalid: expired
    last_modified = http_date(header(headers, b"last-modified"))
    if last_modified is not None and status in HEURISTIC_STATUSES:
        return min(HEURISTIC_MAX, max(0.0, date - last_modified) * HEURISTIC_FRACTION)
    return 0.0


def request_cacheable(method: str, headers: Headers) -> bool:
    if method not in ("GET", "HEAD"):
        return False
    for name, value in headers:
        lname = name.lower()
        if lname == b"authorization":
            return False
        if lname == b"cache-control" and b"no-store" in value.lower():
            return False
    return True


def response_storable(method: str, status: int, headers: Headers) -> bool:
    if method != "GET" or status < 200:
        return False
    cc = parse_cache_control(header(headers, b"cache-control"))
    if "no-store" in cc or "private" in cc:
        return False
    if header(headers, b"set-cookie") is not None:
        return False
    vary = header(headers, b"vary")
    if vary is not None and b"*" in vary:
        return False
    explicit = (
        "max-age" in cc
        or "s-maxage" in cc
        or "public" in cc
        or header(headers, b"expires") is not None
    )
    if explicit:
        return True
    if status not in HEURISTIC_STATUSES:
        return False
    return header(headers, b"last-modified") is not None or header(headers, b"etag") is not None


def stored_headers(headers: Headers) -> Headers:
    return [(k, v) for k, v in headers if k.lower() not in _NOT_STORED]


def vary_key(headers: Headers, request_headers: Headers) -> tuple[tuple[bytes, bytes], ...]:
    vary = header(headers, b"vary")
    if not vary:
        return ()
    names = sorted({n.strip().lower() for n in vary.split(b",") if n.strip()})
    return tuple((n, _request_value(request_headers, n)) for n in names)


def _request_value(request_headers: Headers, name: bytes) -> bytes:
    values = [v.strip() for k, v in request_headers if k.lower() == name]
    return b", ".join(values)


def _matches(entry: CacheEntry, request_headers: Headers) -> bool:
    return all(_request_value(request_headers, n) == v for n, v in entry.vary)


class HttpCache:
    def __init__(
        self,
        *,
        memory_bytes: int,
        max_object_bytes: int,
        now: Callable[[], float],
        disk_dir: Path | None = None,
        disk_bytes: int = 0,
    ) -> None:
        self.memory_bytes = memory_bytes
        self.max_object_bytes = max_object_bytes
        self.now = now
        self._mem: OrderedDict[str, list[CacheEntry]] = OrderedDict()
        self._mem_used = 0
        self.disk_dir = disk_dir if disk_bytes > 0 else None
        self.disk_bytes = disk_bytes
        self._disk: OrderedDict[str, int] = OrderedDict()  # file key -> size
        self._disk_used = 0
        self.stats = {"hits": 0, "misses": 0, "stores": 0, "evictions": 0, "revalidations": 0}
        if self.disk_dir is not None:
            self.disk_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            for stale in self.disk_dir.glob("*"):  # a fresh start: old files are not trusted
                with contextlib.suppress(OSError):
                    stale.unlink()

    # ----------------------------------------------------------------- lookups

    def lookup(self, url: str, request_headers: Headers) -> CacheEntry | None:
        variants = self._mem.get(url)
        if variants is not None:
            self._mem.move_to_end(url)
            for entry in variants:
                if _matches(entry, request_headers):
                    return entry
        if self.disk_dir is not None:
            for entry in self._disk_variants(url):
                if _matches(entry, request_headers):
                    self._unspill(entry)
                    self._put_memory(entry)
                    return entry
        return None

    def invalidate(self, url: str) -> None:
        for entry in self._mem.pop(url, []):
            self._mem_used -= entry.size
        if self.disk_dir is not None:
            for key in [k for k in self._disk if k.startswith(_url_key(url))]:
                self._drop_disk(key)

    def __len__(self) -> int:
        return sum(len(v) for v in self._mem.values()) + len(self._disk)

    @property
    def memory_used(self) -> int:
        return self._mem_used

    # ----------------------------------------------------------------- stores

    def store(
        self,
        url: str,
        request_headers: Headers,
        status: int,
        reason: bytes,
        headers: Headers,
        body: bytes,
        request_time: float,
        response_time: float,
    ) -> CacheEntry | None:
        if len(body) > self.max_object_bytes:
            return None
        entry = CacheEntry(
            url=url,
            status=status,
            reason=reason or b"OK",
            headers=stored_headers(headers),
            body=body,
            request_time=request_time,
            response_time=response_time,
            vary=vary_key(headers, request_headers),
        )
        entry.derive()
        if entry.size > self.memory_bytes:
            return None
        self._remove_variant(url, entry.vary)
        self._put_memory(entry)
        self.stats["stores"] += 1
        return entry

    def refresh(
        self, entry: CacheEntry, headers_304: Headers, request_time: float, response_time: float
    ) -> CacheEntry:
        """Merge a 304's headers into `entry` (RFC 9111 §4.3.4) and restart its age."""
        updates = {k.lower(): (k, v) for k, v in stored_headers(headers_304)}
        merged: Headers = []
        for k, v in entry.headers:
            lk = k.lower()
            if lk in updates:
                merged.append(updates.pop(lk))
            else:
                merged.append((k, v))
        merged.extend(updates.values())
        entry.headers = merged
        entry.request_time = request_time
        entry.response_time = response_time
        old_size = entry.size
        entry.derive()
        if entry.url in self._mem and any(e is entry for e in self._mem[entry.url]):
            self._mem_used += entry.size - old_size
        self.stats["revalidations"] += 1
        return entry

    def _remove_variant(self, url: str, vary: tuple[tuple[bytes, bytes], ...]) -> None:
        variants = self._mem.get(url)
        if variants:
            keep = []
            for e in variants:
                if e.vary == vary:
                    self._mem_used -= e.size
                else:
                    keep.append(e)
            if keep:
                self._mem[url] = keep
            else:
                del self._mem[url]
        if self.disk_dir is not None:
            key = _file_key(url, vary)
            if key in self._disk:
                self._drop_disk(key)

    def _put_memory(self, entry: CacheEntry) -> None:
        variants = self._mem.setdefault(entry.url, [])
        if not any(e is entry for e in variants):
            variants.append(entry)
            self._mem_used += entry.size
        self._mem.move_to_end(entry.url)
        while self._mem_used > self.memory_bytes and self._mem:
            _, old = self._mem.popitem(last=False)
            for victim in old:
                self._mem_used -= victim.size
                self.stats["evictions"] += 1
                self._spill(victim)

    # ------------------------------------------------------------------- disk

    def _spill(self, entry: CacheEntry) -> None:
        if self.disk_dir is None or entry.size > self.disk_bytes:
            return
        key = _file_key(entry.url, entry.vary)
        meta = {
            "url": entry.url,
            "status": entry.status,
            "reason": entry.reason.decode("latin-1"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in entry.headers],
            "request_time": entry.request_time,
            "response_time": entry.response_time,
            "vary": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in entry.vary],
        }
        blob = json.dumps(meta).encode() + b"\n" + entry.body
        try:
            with open(self.disk_dir / key, "wb") as fh:
                fh.write(blob)
        except OSError:
            return
        if key in self._disk:
            self._disk_used -= self._disk.pop(key)
        self._disk[key] = len(blob)
        self._disk_used += len(blob)
        while self._disk_used > self.disk_bytes and self._disk:
            self._drop_disk(next(iter(self._disk)))

    def _disk_variants(self, url: str) -> list[CacheEntry]:
        prefix = _url_key(url)
        out = []
        for key in [k for k in self._disk if k.startswith(prefix)]:
            try:
                blob = (self.disk_dir / key).read_bytes()  # type: ignore[operator]
            except OSError:
                self._drop_disk(key)
                continue
            meta_raw, _, body = blob.partition(b"\n")
            meta = json.loads(meta_raw)
            entry = CacheEntry(
                url=meta["url"],
                status=meta["status"],
                reason=meta["reason"].encode("latin-1"),
                headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in meta["headers"]],
                body=body,
                request_time=meta["request_time"],
                response_time=meta["response_time"],
                vary=tuple((k.encode("latin-1"), v.encode("latin-1")) for k, v in meta["vary"]),
            )
            entry.derive()
            out.append(entry)
        return out

    def _unspill(self, entry: CacheEntry) -> None:
        key = _file_key(entry.url, entry.vary)
        if key in self._disk:
            self._drop_disk(key)

    def _drop_disk(self, key: str) -> None:
        self._disk_used -= self._disk.pop(key, 0)
        with contextlib.suppress(OSError):
            os.unlink(self.disk_dir / key)  # type: ignore[operator]


def _url_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:40]


def _file_key(url: str, vary: tuple[tuple[bytes, bytes], ...]) -> str:
    v = hashlib.sha256(repr(vary).encode()).hexdigest()[:16]
    return f"{_url_key(url)}-{v}"
