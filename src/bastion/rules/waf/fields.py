"""FieldToMatch: which part of the request a statement inspects.

`compile_field` turns the model's FieldToMatch structure into an extractor
`view -> (values, forced)`: `values` are the strings to inspect (any one matching makes the
statement match); `forced` is True/False when oversize or fallback handling decides the
outcome without inspection (MATCH/NO_MATCH), None otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from .errors import WafConfigError
from .request import RequestView, is_invalid_json

Extracted = tuple[list[str], bool | None]
Extractor = Callable[[RequestView], Extracted]

_OVERSIZE = ("CONTINUE", "MATCH", "NO_MATCH")


def field_key(field: Mapping) -> str:
    return json.dumps(field, sort_keys=True, default=str)


def _oversize(field: Mapping, name: str) -> str:
    handling = field.get("OversizeHandling", "CONTINUE")
    if handling not in _OVERSIZE:
        raise WafConfigError(f"The parameter {name}.OversizeHandling has an invalid value.")
    return handling


def _forced(handling: str) -> bool | None:
    return None if handling == "CONTINUE" else handling == "MATCH"


def _pattern_filter(pattern: Mapping, kind: str, *, lower: bool) -> Callable[[str], bool]:
    if not pattern:
        raise WafConfigError(f"The parameter MatchPattern for {kind} is required.")
    if "All" in pattern:
        return lambda _n: True
    inc = pattern.get(f"Included{kind}")
    exc = pattern.get(f"Excluded{kind}")
    if inc is not None:
        names = {n.lower() if lower else n for n in inc}
        return (lambda n: n.lower() in names) if lower else (lambda n: n in names)
    if exc is not None:
        names = {n.lower() if lower else n for n in exc}
        return (lambda n: n.lower() not in names) if lower else (lambda n: n not in names)
    raise WafConfigError(f"The parameter MatchPattern for {kind} has no valid option.")


def _scope(field: Mapping, kind: str) -> str:
    scope = field.get("MatchScope")
    if scope not in ("ALL", "KEY", "VALUE"):
        raise WafConfigError(f"The parameter {kind}.MatchScope must be ALL, KEY or VALUE.")
    return scope


def _pairs(pairs: list[tuple[str, str]], keep: Callable[[str], bool], scope: str) -> list[str]:
    out: list[str] = []
    for k, v in pairs:
        if not keep(k):
            continue
        if scope in ("ALL", "KEY"):
            out.append(k)
        if scope in ("ALL", "VALUE"):
            out.append(v)
    return out


def _json_pointer(doc: Any, pointer: str) -> tuple[bool, Any]:
    if pointer == "":
        return True, doc
    if not pointer.startswith("/"):
        return False, None
    cur = doc
    for raw in pointer[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return False, None
    return True, cur


def _json_elements(doc: Any, scope: str, out: list[str]) -> None:
    if isinstance(doc, dict):
        for k, v in doc.items():
            if scope in ("ALL", "KEY"):
                out.append(str(k))
            _json_elements(v, scope, out)
    elif isinstance(doc, list):
        for v in doc:
            _json_elements(v, scope, out)
    elif scope in ("ALL", "VALUE"):
        if isinstance(doc, str):
            out.append(doc)
        else:
            out.append(json.dumps(doc))


def compile_field(field: Mapping | None, where: str = "FieldToMatch") -> Extractor:
    if not field or len(field) != 1:
        raise WafConfigError(f"The parameter {where} must name exactly one request component.")
    ((kind, spec),) = field.items()
    spec = spec or {}

    if kind == "UriPath":
        return lambda v: ([v.request.uri_path], None)
    if kind == "QueryString":
        return lambda v: ([v.request.query_string], None)
    if kind == "Method":
        return lambda v: ([v.request.method], None)
    if kind == "UriFragment":
        fb = spec.get("FallbackBehavior")
        # Fragments never reach a server: there is nothing to inspect.
        return lambda v: ([], True if fb == "MATCH" else None) if fb == "MATCH" else ([], None)
    if kind == "SingleHeader":
        name = str(spec.get("Name", "")).lower()
        if not name:
            raise WafConfigError(f"The parameter {where}.SingleHeader.Name is required.")
        return lambda v: ([val for k, val in v.headers() if k == name], None)
    if kind == "SingleQueryArgument":
        name = str(spec.get("Name", "")).lower()
        if not name:
            raise WafConfigError(f"The parameter {where}.SingleQueryArgument.Name is required.")
        return lambda v: ([val for k, val in v.query_args() if k.lower() == name], None)
    if kind == "AllQueryArguments":
        return lambda v: ([val for _, val in v.query_args()], None)
    if kind == "Body":
        forced = _forced(_oversize(spec, f"{where}.Body"))

        def body(v: RequestView) -> Extracted:
            if forced is not None and v.body_oversize():
                return [], forced
            text = v.body_text()
            return ([text] if text else []), None

        return body
    if kind == "JsonBody":
        forced = _forced(_oversize(spec, f"{where}.JsonBody"))
        scope = _scope(spec, "JsonBody")
        pattern = spec.get("MatchPattern") or {}
        paths = pattern.get("IncludedPaths")
        if "All" not in pattern and not paths:
            raise WafConfigError(f"The parameter {where}.JsonBody.MatchPattern is required.")
        fallback = spec.get("InvalidFallbackBehavior")
        if fallback not in (None, "MATCH", "NO_MATCH", "EVALUATE_AS_STRING"):
            raise WafConfigError(
                f"The parameter {where}.JsonBody.InvalidFallbackBehavior has an invalid value."
            )

        def jbody(v: RequestView) -> Extracted:
            if forced is not None and v.body_oversize():
                return [], forced
            if not v.body_text():
                return [], None
            doc = v.json_body()
            if is_invalid_json(doc):
                if fallback == "MATCH":
                    return [], True
                if fallback == "NO_MATCH":
                    return [], False
                return [v.body_text()], None
            out: list[str] = []
            if paths is None:
                _json_elements(doc, scope, out)
            else:
                for p in paths:
                    found, node = _json_pointer(doc, p)
                    if found:
                        _json_elements(node, scope, out)
            return out, None

        return jbody
    if kind == "Headers":
        forced = _forced(_oversize(spec, f"{where}.Headers"))
        scope = _scope(spec, "Headers")
        keep = _pattern_filter(spec.get("MatchPattern") or {}, "Headers", lower=True)

        def headers(v: RequestView) -> Extracted:
            if forced is not None and v.headers_oversize():
                return [], forced
            return _pairs(v.headers(), keep, scope), None

        return headers
    if kind == "Cookies":
        forced = _forced(_oversize(spec, f"{where}.Cookies"))
        scope = _scope(spec, "Cookies")
        keep = _pattern_filter(spec.get("MatchPattern") or {}, "Cookies", lower=False)

        def cookies(v: RequestView) -> Extracted:
            if forced is not None and v.cookies_oversize():
                return [], forced
            return _pairs(v.cookies(), keep, scope), None

        return cookies
    if kind == "HeaderOrder":
        forced = _forced(_oversize(spec, f"{where}.HeaderOrder"))

        def order(v: RequestView) -> Extracted:
            if forced is not None and v.headers_oversize():
                return [], forced
            return [":".join(k for k, _ in v.request.headers)], None

        return order
    if kind in ("JA3Fingerprint", "JA4Fingerprint"):
        fb = spec.get("FallbackBehavior")
        if fb not in ("MATCH", "NO_MATCH"):
            raise WafConfigError(f"The parameter {where}.{kind}.FallbackBehavior is required.")
        # The edge terminates TLS without a ClientHello fingerprint: always the fallback.
        return lambda v: ([], fb == "MATCH")
    if kind == "BastionBodyValues":
        forced = _forced(_oversize(spec, f"{where}.BastionBodyValues"))

        def bvalues(v: RequestView) -> Extracted:
            if forced is not None and v.body_oversize():
                return [], forced
            return v.body_values(), None

        return bvalues
    if kind == "BastionQueryParts":
        # Names and values of every query argument (managed rules look at both).
        def qparts(v: RequestView) -> Extracted:
            out: list[str] = []
            for k, val in v.query_args():
                if k:
                    out.append(k)
                if val:
                    out.append(val)
            return out, None

        return qparts
    raise WafConfigError(f"The parameter {where} has an unsupported component: {kind}.")
