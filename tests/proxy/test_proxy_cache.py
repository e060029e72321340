"""RFC 9111 caching through the proxy, with the clock injected (no sleeping)."""

from __future__ import annotations

from proxy_support import Harness

from bastion.dataplane.proxy.logs import parse_access_line


def _codes(harness: Harness) -> list[str]:
    return [parse_access_line(line)["code"] for line in harness.flush_logs()["access"]]


def test_hit_after_cacheable_response(harness: Harness) -> None:
    first = harness.get("/cache/a?max-age=60")
    second = harness.get("/cache/a?max-age=60")
    assert first[0] == second[0] == 200
    assert first[2] == second[2]  # same body: served from the cache
    assert harness.upstream.hits["/cache/a"] == 1
    assert "age" in second[1]
    assert _codes(harness)[-2:] == ["TCP_MISS", "TCP_MEM_HIT"]


def test_revalidation_after_expiry(harness: Harness) -> None:
    harness.get("/cache/b?max-age=10")
    harness.clock.advance(5)
    harness.get("/cache/b?max-age=10")
    assert harness.upstream.hits["/cache/b"] == 1
    harness.clock.advance(10)  # now stale: a conditional request, answered 304
    status, _, body = harness.get("/cache/b?max-age=10")
    assert status == 200 and body.startswith(b"/cache/b")
    assert harness.upstream.hits["/cache/b"] == 2
    assert harness.upstream.requests[-1]["headers"].get("if-none-match") == '"v1"'
    harness.get("/cache/b?max-age=10")  # fresh again after the 304
    assert harness.upstream.hits["/cache/b"] == 2
    harness.clock.advance(20)
    harness.upstream.etags["/cache/b"] = '"v2"'  # changed at the origin: full 200
    status, _, body = harness.get("/cache/b?max-age=10")
    assert b'"v2"' in body
    assert _codes(harness) == [
        "TCP_MISS",
        "TCP_MEM_HIT",
        "TCP_REFRESH_UNMODIFIED",
        "TCP_MEM_HIT",
        "TCP_REFRESH_MODIFIED",
    ]


def test_not_cached_when_private_no_store_or_authorized(harness: Harness) -> None:
    for cc in ("private", "no-store"):
        harness.get(f"/cache/{cc}?cc={cc}")
        harness.get(f"/cache/{cc}?cc={cc}")
        assert harness.upstream.hits[f"/cache/{cc}"] == 2
    harness.get("/cache/auth?max-age=60", headers={"Authorization": "Bearer x"})
    harness.get("/cache/auth?max-age=60", headers={"Authorization": "Bearer x"})
    assert harness.upstream.hits["/cache/auth"] == 2


def test_no_cache_request_revalidates(harness: Harness) -> None:
    harness.get("/cache/c?max-age=60")
    harness.get("/cache/c?max-age=60", headers={"Cache-Control": "no-cache"})
    assert harness.upstream.hits["/cache/c"] == 2
    assert harness.upstream.requests[-1]["headers"].get("if-none-match") == '"v1"'


def test_vary(harness: Harness) -> None:
    en = harness.get("/cache/v?max-age=60&vary=Accept-Language", headers={"Accept-Language": "en"})
    fr = harness.get("/cache/v?max-age=60&vary=Accept-Language", headers={"Accept-Language": "fr"})
    en2 = harness.get("/cache/v?max-age=60&vary=Accept-Language", headers={"Accept-Language": "en"})
    assert harness.upstream.hits["/cache/v"] == 2
    assert en[2] == en2[2] != fr[2]


def test_head_served_from_cached_get(harness: Harness) -> None:
    harness.get("/cache/h?max-age=60")
    status, headers, body = harness.get("/cache/h?max-age=60", method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0
    assert harness.upstream.hits["/cache/h"] == 1


def test_unsafe_method_invalidates(harness: Harness) -> None:
    harness.get("/cache/p?max-age=60")
    harness.get("/cache/p?max-age=60", method="POST", body=b"x")
    harness.get("/cache/p?max-age=60")
    assert harness.upstream.hits["/cache/p"] == 3


def test_lru_memory_limit() -> None:
    from bastion.dataplane.proxy.cache import HttpCache

    cache = HttpCache(memory_bytes=3000, max_object_bytes=2000, now=lambda: 0.0)
    headers = [(b"Cache-Control", b"max-age=60")]
    for i in range(5):
        cache.store(f"http://x/{i}", [], 200, b"OK", headers, b"y" * 500, 0.0, 0.0)
    assert cache.memory_used <= 3000
    assert cache.lookup("http://x/0", []) is None
    assert cache.lookup("http://x/4", []) is not None
    assert cache.store("http://x/big", [], 200, b"OK", headers, b"z" * 2001, 0, 0) is None


def test_disk_tier(tmp_path) -> None:
    from bastion.dataplane.proxy.cache import HttpCache

    cache = HttpCache(
        memory_bytes=2000,
        max_object_bytes=2000,
        now=lambda: 0.0,
        disk_dir=tmp_path / "c",
        disk_bytes=10_000,
    )
    headers = [(b"Cache-Control", b"max-age=60")]
    for i in range(6):
        cache.store(f"http://x/{i}", [], 200, b"OK", headers, bytes([65 + i]) * 500, 0.0, 0.0)
    entry = cache.lookup("http://x/0", [])  # spilled to disk, back in memory now
    assert entry is not None and entry.body == b"A" * 500
