"""Evaluate Bastion's managed rules against nginx + ModSecurity v3 + OWASP CRS on one corpus.

    python benchmarks/waf_eval/harness.py [--split tune_v2|heldout_v2|both] [--no-crs] [--misses]

Bastion: its engine directly, with a web ACL of AWSManagedRulesCommonRuleSet,
KnownBadInputs, SQLi, Linux, Unix and PHP rule sets (default action Allow).
CRS: Debian's nginx, libnginx-mod-http-modsecurity and modsecurity-crs (installed with
apt-get if missing), nginx started on a loopback port with a throwaway config in a temp dir
and proxying to a second loopback server block as upstream, in blocking mode at paranoia
level 1 and 2; any answer but 200 counts as blocked. Only 127.0.0.1 is contacted.
Prints detection rate per attack class, false-positive rate per benign class, overall.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bastion.rules.waf import MemoryRateCounter, WafRequest, compile_web_acl  # noqa: E402

GROUPS = [
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet",
    "AWSManagedRulesLinuxRuleSet",
    "AWSManagedRulesUnixRuleSet",
    "AWSManagedRulesPHPRuleSet",
]


def load(split: str) -> list[dict]:
    return [
        json.loads(line)
        for line in (HERE / f"corpus_{split}.jsonl").read_text().splitlines()
        if line.strip()
    ]


def bastion_acl():
    acl = {
        "Name": "eval",
        "ARN": "arn:aws:wafv2:us-east-1:000000000000:regional/webacl/eval/1",
        "DefaultAction": {"Allow": {}},
        "Rules": [
            {
                "Name": f"AWS-{g}",
                "Priority": i,
                "OverrideAction": {"None": {}},
                "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": g}},
                "VisibilityConfig": {
                    "SampledRequestsEnabled": True,
                    "CloudWatchMetricsEnabled": True,
                    "MetricName": g,
                },
            }
            for i, g in enumerate(GROUPS)
        ],
        "VisibilityConfig": {
            "SampledRequestsEnabled": True,
            "CloudWatchMetricsEnabled": True,
            "MetricName": "eval",
        },
    }
    return compile_web_acl(acl, account_id="000000000000")


def to_request(r: dict) -> WafRequest:
    body = r["body"].encode()
    headers = [tuple(h) for h in r["headers"]]
    if body:
        headers.append(("Content-Length", str(len(body))))
    return WafRequest(
        client_ip="203.0.113.10",
        method=r["method"],
        uri_path=r["path"],
        query_string=r["query"],
        headers=tuple(headers),
        body=body,
        body_size=len(body),
    )


def run_bastion(rows: list[dict]) -> tuple[dict[str, bool], dict[str, str], float]:
    acl = bastion_acl()
    counter = MemoryRateCounter()
    out: dict[str, bool] = {}
    why: dict[str, str] = {}
    reqs = [(r["id"], to_request(r)) for r in rows]
    t0 = time.perf_counter()
    for rid, req in reqs:
        d = acl.evaluate(req, now=time.time(), rate_counter=counter)
        out[rid] = d.action == "BLOCK"
        why[rid] = ",".join(d.matched_rule_names)
    elapsed = time.perf_counter() - t0
    return out, why, elapsed / max(1, len(reqs)) * 1e6


# --- nginx + ModSecurity + CRS -------------------------------------------------------------------

MODSEC_CONF = """
SecRuleEngine On
SecRequestBodyAccess On
SecRule REQUEST_HEADERS:Content-Type "(?:application(?:/soap\\+|/)|text/)xml" \
  "id:'200000',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "application/json" \
  "id:'200001',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRequestBodyLimit 13107200
SecRequestBodyNoFilesLimit 131072
SecRequestBodyLimitAction Reject
SecPcreMatchLimit 100000
SecPcreMatchLimitRecursion 100000
SecResponseBodyAccess Off
SecTmpDir {tmp}
SecDataDir {tmp}
SecAuditEngine Off
SecArgumentSeparator &
SecCookieFormat 0
Include /etc/modsecurity/crs/crs-setup.conf
SecAction "id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level={pl}"
Include /usr/share/modsecurity-crs/rules/*.conf
"""

NGINX_CONF = """
load_module /usr/lib/nginx/modules/ngx_http_modsecurity_module.so;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  large_client_header_buffers 8 32k;
  server {{
    listen 127.0.0.1:{up};
    location / {{ return 200 "ok"; }}
  }}
  server {{
    listen 127.0.0.1:{port};
    modsecurity on;
    modsecurity_rules_file {tmp}/modsec.conf;
    location / {{ proxy_pass http://127.0.0.1:{up}; }}
  }}
}}
"""


def ensure_crs() -> bool:
    if (
        Path("/usr/lib/nginx/modules/ngx_http_modsecurity_module.so").exists()
        and Path("/usr/share/modsecurity-crs/rules").is_dir()
    ):
        return True
    if shutil.which("apt-get") is None:
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    subprocess.run(
        [
            "apt-get",
            "install",
            "-y",
            "-qq",
            "nginx",
            "libnginx-mod-http-modsecurity",
            "modsecurity-crs",
        ],
        check=False,
        env=env,
    )
    return Path("/usr/lib/nginx/modules/ngx_http_modsecurity_module.so").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_crs(rows: list[dict], pl: int) -> dict[str, bool]:
    tmp = tempfile.mkdtemp(prefix="waf-eval-crs-")
    port, up = free_port(), free_port()
    Path(tmp, "modsec.conf").write_text(MODSEC_CONF.format(tmp=tmp, pl=pl))
    Path(tmp, "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=port, up=up))
    proc = subprocess.Popen(
        ["nginx", "-p", tmp, "-c", f"{tmp}/nginx.conf", "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode()[-2000:]
                    raise RuntimeError("nginx failed: " + err) from None
                time.sleep(0.2)
        out: dict[str, bool] = {}
        for r in rows:
            out[r["id"]] = send(port, r) != 200
        return out
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def send(port: int, r: dict) -> int:
    target = r["path"] + ("?" + r["query"] if r["query"] else "")
    body = r["body"].encode()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.putrequest(r["method"], target, skip_host=True, skip_accept_encoding=True)
        for k, v in r["headers"]:
            conn.putheader(k, v)
        if body:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        status = conn.getresponse().status
        conn.close()
        return status
    except (OSError, http.client.HTTPException, ValueError):
        return 400  # refused before reaching the application


# --- report ------------------------------------------------------------------------------------


def table(rows: list[dict], results: dict[str, dict[str, bool]]) -> str:
    names = list(results)
    by_class: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_class[r["class"]].append(r)
    lines = []
    head = f"{'class':<16}{'n':>5}  " + "".join(f"{n:>14}" for n in names)
    lines.append(head)
    lines.append("-" * len(head))
    attack_classes = sorted(c for c in by_class if by_class[c][0]["label"] == "attack")
    benign_classes = sorted(c for c in by_class if by_class[c][0]["label"] == "benign")
    lines.append("detection rate (attacks blocked)")
    for c in attack_classes:
        rs = by_class[c]
        cells = "".join(
            f"{100 * sum(res[r['id']] for r in rs) / len(rs):>13.1f}%" for res in results.values()
        )
        lines.append(f"  {c:<14}{len(rs):>5}  {cells}")
    atk = [r for r in rows if r["label"] == "attack"]
    cells = "".join(
        f"{100 * sum(res[r['id']] for r in atk) / len(atk):>13.1f}%" for res in results.values()
    )
    lines.append(f"  {'ALL ATTACKS':<14}{len(atk):>5}  {cells}")
    lines.append("false-positive rate (benign blocked)")
    for c in benign_classes:
        rs = by_class[c]
        cells = "".join(
            f"{100 * sum(res[r['id']] for r in rs) / len(rs):>13.1f}%" for res in results.values()
        )
        lines.append(f"  {c:<14}{len(rs):>5}  {cells}")
    ben = [r for r in rows if r["label"] == "benign"]
    cells = "".join(
        f"{100 * sum(res[r['id']] for r in ben) / len(ben):>13.1f}%" for res in results.values()
    )
    lines.append(f"  {'ALL BENIGN':<14}{len(ben):>5}  {cells}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--split",
        default="both",
        help="a corpus_<split>.jsonl name (tune, heldout, tune_v2, heldout_v2) or 'both': "
        "tune_v2 and heldout_v2",
    )
    ap.add_argument("--no-crs", action="store_true", help="Bastion only")
    ap.add_argument("--misses", action="store_true", help="list Bastion's misses and FPs")
    ap.add_argument("--json", help="write the numbers to this file")
    args = ap.parse_args()
    splits = ["tune_v2", "heldout_v2"] if args.split == "both" else args.split.split(",")
    crs_ok = not args.no_crs and ensure_crs()
    if not args.no_crs and not crs_ok:
        print("nginx + ModSecurity + CRS not available: Bastion only")
    summary = {}
    for split in splits:
        rows = load(split)
        results: dict[str, dict[str, bool]] = {}
        res, why, us = run_bastion(rows)
        results["Bastion"] = res
        if crs_ok:
            for pl in (1, 2):
                results[f"CRS PL{pl}"] = run_crs(rows, pl)
        print(f"\n=== corpus: {split} ({len(rows)} requests) ===")
        print(table(rows, results))
        print(f"Bastion engine: {us:.0f} us/request on average (single thread, this corpus)")
        summary[split] = {
            name: {r["id"]: v for r in rows for v in [res_[r["id"]]]}
            for name, res_ in results.items()
        }
        if args.misses:
            for r in rows:
                blocked = res[r["id"]]
                if (r["label"] == "attack") != blocked:
                    kind = "MISS" if r["label"] == "attack" else f"FP[{why[r['id']]}]"
                    print(f"{kind} {r['class']} {r['placement']}: {r['payload'][:100]!r}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
