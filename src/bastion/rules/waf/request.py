"""The request the WAF inspects, and a per-request view that caches parsed and
transformed field values across rules."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class WafRequest:
    client_ip: str  # socket peer address
    method: str
    uri_path: str  # raw path as received, still percent-encoded
    query_string: str  # raw, without '?'
    headers: tuple[tuple[str, str], ...]  # as received: original names and order
    body: bytes  # at most the inspection limit's bytes (the edge reads 64 KiB max)
    body_size: int  # the full Content-Length / streamed size
    scheme: str = "http"
    http_version: str = "HTTP/1.1"


HEADER_INSPECTION_LIMIT = 8192
HEADER_ITEM_LIMIT = 200

_MISSING = object()


def _pct(s: str) -> str:
    from .transformations import url_decode

    return url_decode(s)


@dataclass(slots=True)
class RequestView:
    """Parsed parts of one request, computed on first use and shared by every rule."""

    request: WafRequest
    body_limit: int
    cache: dict[Any, Any] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    label_set: set[str] = field(default_factory=set)
    label_namespaces: set[str] = field(default_factory=set)
    geo: str | None = None

    # -- labels -----------------------------------------------------------------------------
    def add_label(self, label: str) -> None:
        if label in self.label_set:
            return
        self.labels.append(label)
        self.label_set.add(label)
        parts = label.split(":")
        for i in range(1, len(parts)):
            self.label_namespaces.add(":".join(parts[:i]) + ":")

    # -- request parts ----------------------------------------------------------------------
    def query_args(self) -> list[tuple[str, str]]:
        """Query arguments with names and values URL-decoded once, as AWS presents them."""
        v = self.cache.get("qargs")
        if v is None:
            v = []
            qs = self.request.query_string
            if qs:
                for part in qs.split("&"):
                    if not part:
                        continue
                    name, _sep, value = part.partition("=")
                    v.append((_pct(name), _pct(value)))
            self.cache["qargs"] = v
        return v

    def headers(self) -> list[tuple[str, str]]:
        """(lowercased name, value) pairs."""
        v = self.cache.get("headers")
        if v is None:
            v = [(k.lower(), val) for k, val in self.request.headers]
            self.cache["headers"] = v
        return v

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers():
            if k == name:
                return v
        return None

    def headers_oversize(self) -> bool:
        v = self.cache.get("hdr_over")
        if v is None:
            total = sum(len(k) + len(val) + 4 for k, val in self.request.headers)
            v = total > HEADER_INSPECTION_LIMIT or len(self.request.headers) > HEADER_ITEM_LIMIT
            self.cache["hdr_over"] = v
        return v

    def cookies(self) -> list[tuple[str, str]]:
        v = self.cache.get("cookies")
        if v is None:
            v = []
            for k, val in self.headers():
                if k != "cookie":
                    continue
                for part in val.split(";"):
                    part = part.strip()
                    if not part:
                        continue
                    name, _, value = part.partition("=")
                    v.append((name.strip(), value.strip()))
            self.cache["cookies"] = v
        return v

    def cookies_oversize(self) -> bool:
        v = self.cache.get("ck_over")
        if v is None:
            total = sum(len(val) for k, val in self.headers() if k == "cookie")
            v = total > HEADER_INSPECTION_LIMIT or len(self.cookies()) > HEADER_ITEM_LIMIT
            self.cache["ck_over"] = v
        return v

    def body_text(self) -> str:
        v = self.cache.get("body")
        if v is None:
            v = self.request.body[: self.body_limit].decode("latin-1")
            self.cache["body"] = v
        return v

    def body_oversize(self) -> bool:
        return max(self.request.body_size, len(self.request.body)) > self.body_limit

    def json_body(self) -> Any:
        """The parsed JSON body; `_MISSING` when it is not valid JSON."""
        v = self.cache.get("json", _MISSING)
        if v is _MISSING:
            text = self.body_text()
            try:
                v = json.loads(text.encode("latin-1").decode("utf-8")) if text.strip() else None
                if v is None:
                    v = _INVALID
            except (ValueError, UnicodeDecodeError):
                v = _INVALID
            self.cache["json"] = v
        return v

    def content_type(self) -> str:
        return (self.header("content-type") or "").lower()

    def body_values(self) -> list[str]:
        """Bastion's structured reading of the body: form fields, JSON keys and leaf values,
        multipart parts (names, filenames, contents); the raw text otherwise."""
        v = self.cache.get("body_values")
        if v is not None:
            return v
        text = self.body_text()
        out: list[str] = []
        ctype = self.content_type()
        if text:
            parsed = False
            if "multipart/" in ctype:
                out.extend(_multipart_values(text, ctype))
                parsed = bool(out)
            if not parsed and (text.lstrip()[:1] in "{[" or "json" in ctype):
                doc = self.json_body()
                if doc is not _INVALID:
                    _json_leaves(doc, out, keys=True)
                    parsed = True
            if not parsed and ("urlencoded" in ctype or ("=" in text and "\n" not in text.strip())):
                for part in text.split("&"):
                    name, _, value = part.partition("=")
                    if name:
                        out.append(_pct(name))
                    if value:
                        out.append(_pct(value))
                parsed = bool(out)
            if not parsed:
                out.append(text)
        self.cache["body_values"] = out
        return out


_INVALID = object()


def is_invalid_json(v: Any) -> bool:
    return v is _INVALID


def _json_leaves(doc: Any, out: list[str], *, keys: bool) -> None:
    if isinstance(doc, dict):
        for k, v in doc.items():
            if keys:
                out.append(str(k))
            _json_leaves(v, out, keys=keys)
    elif isinstance(doc, list):
        for v in doc:
            _json_leaves(v, out, keys=keys)
    elif isinstance(doc, str):
        out.append(doc)
    elif doc is not None and not isinstance(doc, bool):
        out.append(json.dumps(doc))


def _multipart_values(text: str, ctype: str) -> list[str]:
    boundary = ""
    for piece in ctype.split(";"):
        piece = piece.strip()
        if piece.startswith("boundary="):
            boundary = piece[9:].strip('"')
    if not boundary:
        return []
    out: list[str] = []
    for part in text.split("--" + boundary):
        if not part.strip() or part.strip() == "--":
            continue
        head, _, content = part.lstrip("\r\n").partition("\r\n\r\n")
        if not _:
            head, _, content = part.lstrip("\n").partition("\n\n")
        for line in head.splitlines():
            if line.lower().startswith("content-disposition"):
                for attr in line.split(";")[1:]:
                    k, _, val = attr.strip().partition("=")
                    if k in ("name", "filename") and val:
                        out.append(val.strip('"'))
        content = content.rstrip("\r\n")
        if content:
            out.append(content)
    return out
