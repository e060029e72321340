"""Name resolution for the proxy: the system resolver with a small TTL cache, or a fake.

Every lookup that really happens (a cache miss) is reported to `on_query`, which writes
the Route 53 Resolver query log. IP literals are never looked up.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Protocol

from bastion.rules.proxy_rules import IPAddress

QueryHook = Callable[[str, str, str, list[str]], None]  # name, qtype, rcode, answers


class ResolveError(OSError):
    """The name does not resolve (NXDOMAIN, SERVFAIL, ...)."""

    def __init__(self, name: str, rcode: str) -> None:
        super().__init__(f"{name}: {rcode}")
        self.rcode = rcode


class Resolver(Protocol):
    def cached(self, host: str) -> list[IPAddress] | None: ...

    async def resolve(self, host: str) -> list[IPAddress]: ...


def ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class _CachingResolver:
    def __init__(self, monotonic: Callable[[], float], ttl: float) -> None:
        self.monotonic = monotonic
        self.ttl = ttl
        self.on_query: QueryHook | None = None
        self._cache: dict[str, tuple[float, list[IPAddress]]] = {}
        self._inflight: dict[str, asyncio.Future[list[IPAddress]]] = {}
        self._literals: dict[str, list[IPAddress]] = {}

    def cached(self, host: str) -> list[IPAddress] | None:
        hit = self._literals.get(host)
        if hit is not None:
            return hit
        literal = ip_literal(host)
        if literal is not None:
            if len(self._literals) > 10_000:
                self._literals.clear()
            self._literals[host] = [literal]
            return [literal]
        entry = self._cache.get(host)
        if entry is not None and entry[0] >= self.monotonic():
            return entry[1]
        return None

    async def resolve(self, host: str) -> list[IPAddress]:
        hit = self.cached(host)
        if hit is not None:
            return hit
        pending = self._inflight.get(host)
        if pending is not None:  # one lookup per name at a time
            return await asyncio.shield(pending)
        future: asyncio.Future[list[IPAddress]] = asyncio.get_running_loop().create_future()
        self._inflight[host] = future
        try:
            addresses = await self._lookup(host)
        except ResolveError as exc:
            self._report(host, [], exc.rcode)
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning
            raise
        finally:
            self._inflight.pop(host, None)
        self._report(host, addresses, "NOERROR")
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[host] = (self.monotonic() + self.ttl, addresses)
        future.set_result(addresses)
        return addresses

    def _report(self, host: str, addresses: list[IPAddress], rcode: str) -> None:
        if self.on_query is None:
            return
        v4 = [str(a) for a in addresses if a.version == 4]
        v6 = [str(a) for a in addresses if a.version == 6]
        self.on_query(host, "A", rcode, v4)
        self.on_query(host, "AAAA", rcode, v6)

    async def _lookup(self, host: str) -> list[IPAddress]:  # pragma: no cover - abstract
        raise NotImplementedError

    def clear(self) -> None:
        self._cache.clear()


class SystemResolver(_CachingResolver):
    """`loop.getaddrinfo` (the system's resolver, off the event loop)."""

    def __init__(self, monotonic: Callable[[], float], ttl: float = 30.0) -> None:
        super().__init__(monotonic, ttl)

    async def _lookup(self, host: str) -> list[IPAddress]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            rcode = "NXDOMAIN" if exc.errno in (socket.EAI_NONAME, -5) else "SERVFAIL"
            raise ResolveError(host, rcode) from None
        out: list[IPAddress] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            addr = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
            if addr not in out:
                out.append(addr)
        return out


class StaticResolver(_CachingResolver):
    """A fixed name -> addresses map (tests; DNS-rebinding names need no network)."""

    def __init__(
        self,
        mapping: dict[str, Iterable[str]],
        monotonic: Callable[[], float],
        ttl: float = 30.0,
    ) -> None:
        super().__init__(monotonic, ttl)
        self.mapping = {k.lower(): [ipaddress.ip_address(a) for a in v] for k, v in mapping.items()}
        self.lookups: list[str] = []

    async def _lookup(self, host: str) -> list[IPAddress]:
        self.lookups.append(host)
        addresses = self.mapping.get(host)
        if not addresses:
            raise ResolveError(host, "NXDOMAIN")
        return list(addresses)


def interleave(addresses: list[IPAddress]) -> list[IPAddress]:
    """RFC 8305 ordering: alternate families, starting with the first one returned."""
    if len({a.version for a in addresses}) < 2:
        return addresses
    first = addresses[0].version
    a = [x for x in addresses if x.version == first]
    b = [x for x in addresses if x.version != first]
    out: list[IPAddress] = []
    for i in range(max(len(a), len(b))):
        if i < len(a):
            out.append(a[i])
        if i < len(b):
            out.append(b[i])
    return out
