"""Build corpus_tune.jsonl and corpus_heldout.jsonl from payloads.py (deterministic).

Every payload becomes several requests: placed in a query argument, a form, JSON or
multipart body, a custom header, a cookie or the path, plain or encoded (double URL, HTML
entities, Base64, JSON unicode escapes), behind realistic browser headers.

    python benchmarks/waf_eval/gen_corpus.py
"""

from __future__ import annotations

import base64
import json
import random
import sys
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from payloads import ATTACKS, BENIGN  # noqa: E402

UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148",
]
PATHS = ["/search", "/api/v1/comments", "/products/view", "/account/profile", "/blog/post"]


def base_headers(rng: random.Random) -> list[list[str]]:
    h = [
        ["Host", "shop.example.com"],
        ["User-Agent", rng.choice(UAS)],
        ["Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
        ["Accept-Language", "en-US,en;q=0.9"],
        ["Accept-Encoding", "gzip, deflate, br"],
    ]
    if rng.random() < 0.6:
        h.append(["Cookie", f"session={rng.getrandbits(128):032x}; theme=dark; consent=yes"])
    if rng.random() < 0.4:
        h.append(["Referer", "https://shop.example.com/products?page=2"])
    return h


def html_entities(s: str) -> str:
    return "".join(f"&#x{ord(c):x};" if not c.isalnum() and c != " " else c for c in s)


def json_unicode(s: str) -> str:
    return "".join(f"\\u{ord(c):04x}" if not c.isalnum() and c != " " else c for c in s)


def place(payload: str, how: str, rng: random.Random) -> dict:
    headers = base_headers(rng)
    method, path, query, body = "GET", rng.choice(PATHS), "", ""
    param = rng.choice(["q", "comment", "id", "name", "file", "url", "redirect", "search"])
    if how == "query":
        query = f"{param}={quote(payload, safe='')}"
    elif how == "query_double":
        query = f"{param}={quote(quote(payload, safe=''), safe='')}"
    elif how == "query_html":
        query = f"{param}={quote(html_entities(payload), safe='')}"
    elif how == "form":
        method = "POST"
        body = f"title=hello&{param}={quote(payload, safe='')}"
        headers.append(["Content-Type", "application/x-www-form-urlencoded"])
    elif how == "json":
        method = "POST"
        body = json.dumps({"title": "hello", param: payload})
        headers.append(["Content-Type", "application/json"])
    elif how == "json_unicode":
        method = "POST"
        body = '{"title": "hello", "' + param + '": "' + json_unicode(payload) + '"}'
        headers.append(["Content-Type", "application/json"])
    elif how == "multipart":
        method = "POST"
        b = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
        body = (
            f'--{b}\r\nContent-Disposition: form-data; name="{param}"\r\n\r\n{payload}\r\n'
            f'--{b}\r\nContent-Disposition: form-data; name="submit"\r\n\r\nSend\r\n--{b}--\r\n'
        )
        headers.append(["Content-Type", f"multipart/form-data; boundary={b}"])
    elif how == "header":
        name = rng.choice(["X-Api-Filter", "X-Custom-Data", "X-Search-Term", "X-Request-Note"])
        headers.append([name, payload.replace("\r", "%0d").replace("\n", "%0a")])
    elif how == "header_b64":
        headers.append(["X-Payload", base64.b64encode(payload.encode()).decode()])
    elif how == "cookie":
        headers = [h for h in headers if h[0] != "Cookie"]
        headers.append(["Cookie", f"session=abc123; prefs={quote(payload, safe='')}"])
    elif how == "path":
        path = "/files/" + quote(payload, safe="/")
    elif how == "raw_query":
        query = payload
    elif how == "raw_body":
        method = "POST"
        body = payload
        ctype = (
            "application/xml"
            if payload.lstrip().startswith("<")
            else (
                "application/json"
                if payload.lstrip().startswith("{")
                else "application/x-www-form-urlencoded"
            )
        )
        headers.append(["Content-Type", ctype])
    else:
        raise ValueError(how)
    return {
        "method": method,
        "path": path,
        "query": query,
        "headers": headers,
        "body": body,
        "placement": how,
    }


PLACEMENTS = {
    "default": [
        "query",
        "query",
        "form",
        "json",
        "header",
        "cookie",
        "query_double",
        "query_html",
        "json_unicode",
        "multipart",
        "header_b64",
    ],
    "path_traversal": ["query", "path", "cookie", "header", "json", "query_double"],
    "xxe": ["raw_body", "multipart"],
    "nosql": ["auto"],
    "benign": ["query", "query", "form", "json", "header", "cookie", "multipart"],
}


def build(split: str) -> list[dict]:
    rng = random.Random(f"bastion-waf-{split}")
    out: list[dict] = []
    for cls, sets in ATTACKS.items():
        hows = PLACEMENTS.get(cls, PLACEMENTS["default"])
        for i, p in enumerate(sets[split]):
            if cls == "nosql":
                if p.lstrip().startswith("{"):
                    variants = ["raw_body", "json", "header_b64"]
                elif "[$" in p:
                    variants = ["raw_query", "raw_body"]
                else:
                    variants = ["query", "form", "json"]
            else:
                variants = [hows[(i + k * 3) % len(hows)] for k in range(3 if cls != "xxe" else 2)]
            for how in variants:
                out.append(_mk(place(p, how, rng), cls, "attack", p))
    for cls, sets in BENIGN.items():
        hows = PLACEMENTS["benign"]
        for i, p in enumerate(sets[split]):
            for k in range(3):
                out.append(_mk(place(p, hows[(i + k * 2) % len(hows)], rng), cls, "benign", p))
    # Plain browsing traffic.
    for i in range(40):
        r = place("x", "query", rng)
        r["query"] = rng.choice(
            ["", "page=2", "sort=price&dir=asc", "utm_source=newsletter", "ref=homepage&lang=en"]
        )
        r["path"] = rng.choice(
            [
                "/",
                "/index.html",
                "/static/app.js",
                "/images/logo.png",
                "/products/42",
                "/cart",
                "/api/v1/items?limit=20",
            ]
        ).split("?")[0]
        out.append(_mk(r, "benign_browse", "benign", f"browse-{i}"))
    for n, r in enumerate(out):
        r["id"] = f"{split}-{n:04d}"
    return out


def _mk(req: dict, cls: str, label: str, payload: str) -> dict:
    req.update({"class": cls, "label": label, "payload": payload})
    return req


def main() -> None:
    for split in ("tune", "heldout"):
        rows = build(split)
        with open(HERE / f"corpus_{split}.jsonl", "w") as fh:
            for r in rows:
                fh.write(json.dumps(r) + "\n")
        print(
            f"{split}: {len(rows)} requests ({sum(r['label'] == 'attack' for r in rows)} attacks)"
        )


if __name__ == "__main__":
    main()
