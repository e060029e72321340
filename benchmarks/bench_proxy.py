"""Forward proxy: Bastion vs Squid, same origin, same load, same run.

    python benchmarks/bench_proxy.py [--duration 5] [--warmup 1] [--concurrency 32]
                                     [--processes 2] [--scenarios small,hit,1mb,connect]

Starts, on loopback only:
* an origin server (a separate process: uvloop, canned responses): ``/small`` (5 bytes,
  ``no-store``), ``/small-cached`` (5 bytes, ``max-age=3600``), ``/1mb`` (1 MiB,
  ``no-store``);
* Bastion's proxy (``python -m bastion.gateway.proxy_cli proxy serve``) with a proxy user
  (Argon2id), an allow rule for 127.0.0.1 and the same deny rules as Squid's config;
* Squid (Debian package ``squid``; installed with apt-get when missing) from
  ``peers/squid.conf.template``: NCSA Basic auth, the same ACLs, ``cache deny all`` for
  the uncached runs and a 64 MB memory cache for the cache-hit run.

Scenarios (each on both proxies, one after the other, with `loadgen.run_load`'s closed
loop of keep-alive connections carrying ``Proxy-Authorization``):
* ``small``: uncached small GETs, requests/s;     goal Bastion >= 1.0x Squid
* ``hit``: cache hits on a small GET, requests/s;   goal Bastion >= 0.5x Squid
* ``1mb``: uncached 1 MiB GETs, MB/s;              goal Bastion >= 0.8x Squid
* ``connect``: new CONNECT tunnel + one GET inside + close, tunnels/s (reported only).

Results: a table, the ratios, and ``benchmarks/results/proxy.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime
import json
import multiprocessing as mp
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import loadgen

HOST = "127.0.0.1"
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "proxy.json"
USER, PASSWORD = "bench", "bench-password-1"
MIB = 1024 * 1024
GOALS = {"small": 1.0, "hit": 0.5, "1mb": 0.8}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------- origin


def _origin_main(port: int, ready: Any) -> None:
    import uvloop

    small = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\n"
    small += b"Content-Length: 5\r\n\r\nhello"
    cached = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: max-age=3600\r\n"
    cached += b"Content-Length: 5\r\n\r\nhello"
    big_head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
    big_head += b"Cache-Control: no-store\r\nContent-Length: %d\r\n\r\n" % MIB
    big_body = b"x" * MIB

    class Origin(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.t = transport
            self.buf = b""
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def data_received(self, data: bytes) -> None:
            buf = self.buf + data
            while True:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                line = buf[: buf.find(b"\r\n")]
                buf = buf[end + 4 :]
                if b" /1mb" in line:
                    self.t.write(big_head)
                    self.t.write(big_body)
                elif b" /small-cached" in line:
                    self.t.write(cached)
                else:
                    self.t.write(small)
            self.buf = buf

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Origin, HOST, port, backlog=4096)
        ready.set()
        async with server:
            await server.serve_forever()

    uvloop.run(main())


@contextlib.contextmanager
def origin() -> Iterator[int]:
    port = free_port()
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    proc = ctx.Process(target=_origin_main, args=(port, ready), daemon=True)
    proc.start()
    if not ready.wait(10):
        raise RuntimeError("origin did not start")
    try:
        yield port
    finally:
        proc.terminate()
        proc.join(5)


# ------------------------------------------------------------------------ proxies


def wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def bastion(origin_port: int, workdir: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    data = workdir / "bastion"
    port = free_port()
    cli = [sys.executable, "-m", "bastion.gateway.proxy_cli", "proxy"]
    common = ["--data-dir", str(data), "--log-level", "warning"]
    run = lambda *a, **k: subprocess.run([*cli, *a, *common], check=True, capture_output=True, **k)  # noqa: E731
    run("user", "add", USER, "--password-stdin", input=PASSWORD.encode())
    run(
        "rule",
        "add",
        "blocked-domain",
        "--action",
        "deny",
        "--priority",
        "10",
        "--domain",
        "blocked.test",
        "--match",
        "suffix",
    )
    run(
        "rule",
        "add",
        "blocked-url",
        "--action",
        "deny",
        "--priority",
        "20",
        "--path",
        r"/malware/|\.exe$",
    )
    run(
        "rule",
        "add",
        "connect-origin-only",
        "--action",
        "deny",
        "--priority",
        "30",
        "--methods",
        "CONNECT",
        "--ports",
        f"1-{origin_port - 1},{origin_port + 1}-65535",
    )
    run(
        "rule",
        "add",
        "origin",
        "--action",
        "allow",
        "--priority",
        "40",
        "--domain",
        HOST,
        "--match",
        "exact",
        "--cidr",
        f"{HOST}/32",
    )
    log = workdir / "bastion.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [*cli, "serve", "--host", HOST, "--port", str(port), *common],
            stdout=fh,
            stderr=fh,
            start_new_session=True,
        )
    try:
        wait_port(port, proc, "bastion proxy", log)
        yield port, proc
    finally:
        stop(proc)


def ensure_squid() -> str:
    found = shutil.which("squid") or (Path("/usr/sbin/squid").exists() and "/usr/sbin/squid")
    if found:
        return str(found)
    print("squid not found: installing the Debian package (apt-get) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "squid"], check=True, env=env)
    found = shutil.which("squid") or "/usr/sbin/squid"
    return str(found)


def squid_version(binary: str) -> str:
    out = subprocess.run([binary, "-v"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "squid"


def _htpasswd(path: Path) -> None:
    import crypt as _crypt

    hashed = _crypt.crypt(PASSWORD, _crypt.mksalt(_crypt.METHOD_MD5))
    path.write_text(f"{USER}:{hashed}\n")


@contextlib.contextmanager
def squid(
    origin_port: int, workdir: Path, *, caching: bool
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    binary = ensure_squid()
    sdir = workdir / ("squid-cache" if caching else "squid-nocache")
    sdir.mkdir(parents=True, exist_ok=True)
    os.chmod(workdir, 0o755)
    os.chmod(sdir, 0o777)
    htpasswd = sdir / "htpasswd"
    _htpasswd(htpasswd)
    os.chmod(htpasswd, 0o644)
    port = free_port()
    cache = (
        "cache_mem 64 MB\nmaximum_object_size_in_memory 2 MB\nmemory_cache_mode always"
        if caching
        else "cache deny all"
    )
    conf = (HERE / "peers" / "squid.conf.template").read_text()
    for key, value in {
        "{port}": str(port),
        "{dir}": str(sdir),
        "{htpasswd}": str(htpasswd),
        "{origin_port}": str(origin_port),
        "{cache}": cache,
    }.items():
        conf = conf.replace(key, value)
    conf_path = sdir / "squid.conf"
    conf_path.write_text(conf)
    log = sdir / "stdout.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [binary, "-N", "-f", str(conf_path)], stdout=fh, stderr=fh, start_new_session=True
        )
    try:
        wait_port(port, proc, "squid", sdir / "cache.log")
        yield port, proc
    finally:
        stop(proc)


# -------------------------------------------------------------------- requests


def auth_header() -> str:
    return "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def get_request(origin_port: int, path: str) -> bytes:
    return (
        f"GET http://{HOST}:{origin_port}{path} HTTP/1.1\r\n"
        f"Host: {HOST}:{origin_port}\r\n"
        f"Proxy-Authorization: {auth_header()}\r\n"
        f"User-Agent: {loadgen.USER_AGENT}\r\n\r\n"
    ).encode()


# ------------------------------------------------------------ CONNECT load client


def _tunnel_worker(
    proxy_port: int, origin_port: int, conns: int, start: float, end: float, out: Any
) -> None:
    import uvloop

    connect = (
        f"CONNECT {HOST}:{origin_port} HTTP/1.1\r\nHost: {HOST}:{origin_port}\r\n"
        f"Proxy-Authorization: {auth_header()}\r\n\r\n"
    ).encode()
    inner = f"GET /small HTTP/1.1\r\nHost: {HOST}:{origin_port}\r\n\r\n".encode()

    async def one() -> bool:
        reader, writer = await asyncio.open_connection(HOST, proxy_port)
        try:
            writer.write(connect)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200") and not head.startswith(b"HTTP/1.0 200"):
                return False
            writer.write(inner)
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(5)
            return head.startswith(b"HTTP/1.1 200")
        finally:
            writer.close()

    async def loop_one(counts: list[int]) -> None:
        while time.time() < end:
            try:
                ok = await asyncio.wait_for(one(), 5)
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                ok = False
            if start <= time.time() < end:
                counts[0 if ok else 1] += 1

    async def main() -> list[int]:
        counts = [0, 0]
        await asyncio.gather(*(loop_one(counts) for _ in range(conns)))
        return counts

    out.send(uvloop.run(main()))


def run_tunnels(
    proxy_port: int,
    origin_port: int,
    concurrency: int,
    processes: int,
    duration: float,
    warmup: float,
) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    start = time.time() + warmup + 0.2
    end = start + duration
    pipes, procs = [], []
    for i in range(processes):
        share = concurrency // processes + (i < concurrency % processes)
        parent, child = ctx.Pipe()
        p = ctx.Process(
            target=_tunnel_worker,
            args=(proxy_port, origin_port, share, start, end, child),
            daemon=True,
        )
        p.start()
        pipes.append(parent)
        procs.append(p)
    ok = failed = 0
    for parent in pipes:
        good, bad = parent.recv()
        ok += good
        failed += bad
    for p in procs:
        p.join(5)
    return {
        "requests": ok,
        "ops_per_s": round(ok / duration, 1),
        "errors": failed,
        "p50_ms": None,
        "p99_ms": None,
        "server_cpu_share": None,
    }


# ------------------------------------------------------------------------- driver


def check(port: int, raw: bytes, expect_len: int) -> None:
    status, body = loadgen.fetch_once(HOST, port, raw)
    if status != 200 or len(body) != expect_len:
        raise RuntimeError(f"proxy on {port} answered {status} with {len(body)} bytes")


def measure(
    scenario: str, port: int, pid: int, origin_port: int, args: argparse.Namespace
) -> dict[str, Any]:
    if scenario == "connect":
        return run_tunnels(
            port, origin_port, args.concurrency, args.processes, args.duration, args.warmup
        )
    path, size = {"small": ("/small", 5), "hit": ("/small-cached", 5), "1mb": ("/1mb", MIB)}[
        scenario
    ]
    raw = get_request(origin_port, path)
    check(port, raw, size)
    if scenario == "hit":
        check(port, raw, size)  # warm the cache
    concurrency = args.concurrency if scenario != "1mb" else max(4, args.concurrency // 4)
    stats = loadgen.run_load(
        raw,
        HOST,
        port,
        concurrency=concurrency,
        processes=args.processes,
        duration=args.duration,
        warmup=args.warmup,
        server_pid=pid,
    )
    if scenario == "1mb":
        stats["mb_per_s"] = round(stats["ops_per_s"] * MIB / 1e6, 1)
    return stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--scenarios", default="small,hit,1mb,connect")
    args = parser.parse_args()
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    squid_bin = ensure_squid()
    results: dict[str, dict[str, Any]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    try:
        with origin() as origin_port, bastion(origin_port, workdir) as (bport, bproc):
            for scenario in scenarios:
                results[scenario] = {}
                print(f"[{scenario}] bastion ...", flush=True)
                results[scenario]["bastion"] = measure(
                    scenario, bport, bproc.pid, origin_port, args
                )
                caching = scenario == "hit"
                with squid(origin_port, workdir, caching=caching) as (sport, sproc):
                    print(f"[{scenario}] squid ...", flush=True)
                    results[scenario]["squid"] = measure(
                        scenario, sport, sproc.pid, origin_port, args
                    )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(
        f"{'scenario':<10} {'proxy':<8} {'ops/s':>10} {'MB/s':>8} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'errors':>7} {'srv cpu':>8}"
    )
    for scenario, pair in results.items():
        for name, st in pair.items():
            mbs = st.get("mb_per_s")
            print(
                f"{scenario:<10} {name:<8} {st['ops_per_s']:>10.1f} "
                f"{(f'{mbs:.1f}' if mbs else '-'):>8} {st.get('p50_ms') or '-'!s:>8} "
                f"{st.get('p99_ms') or '-'!s:>8} {st['errors']:>7} "
                f"{st.get('server_cpu_share') or '-'!s:>8}"
            )
    print()
    ratios = {}
    for scenario, pair in results.items():
        if "squid" not in pair or not pair["squid"]["ops_per_s"]:
            continue
        ratio = pair["bastion"]["ops_per_s"] / pair["squid"]["ops_per_s"]
        ratios[scenario] = round(ratio, 3)
        goal = GOALS.get(scenario)
        verdict = (
            f"(target >= {goal:.2f}x): {'met' if ratio >= goal else 'NOT met'}"
            if goal
            else "(reported)"
        )
        print(f"bastion/squid {scenario} = {ratio:.2f}x {verdict}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "name": "proxy",
                "when": datetime.datetime.now(datetime.UTC).isoformat(),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "peer": squid_version(squid_bin),
                "parameters": vars(args),
                "results": results,
                "ratios": ratios,
                "goals": GOALS,
            },
            indent=2,
            default=str,
        )
    )
    print(f"\nresults: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
