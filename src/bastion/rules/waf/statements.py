"""Compiled WAFv2 statements: each model `Statement` becomes a small node with `match()`."""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from . import geo, shared
from .errors import WafConfigError
from .fields import compile_field, field_key
from .request import RequestView
from .transformations import (
    MAX_TRANSFORMATIONS,
    TRANSFORMS,
    compile_pipeline,
    deep_decode,
    transformation_names,
)

DEEP = "BASTION_DEEP_DECODE"


@dataclass
class EvalState:
    """What one evaluation of a web ACL carries besides the request view."""

    now: float
    rate_counter: Any
    acl_arn: str
    rate_log: list[dict] = field(default_factory=list)
    match_details: list[dict] = field(default_factory=list)


@dataclass
class CompileContext:
    account_id: str
    ip_sets: Mapping[str, Mapping]
    regex_pattern_sets: Mapping[str, Mapping]
    rule_groups: Mapping[str, Mapping]
    label_namespace: str  # "awswaf:ACCT:webacl:NAME:" or the group's namespace
    allow_internal: bool = False
    ip_lists: Mapping[str, IpMatcher] = field(default_factory=dict)
    rate_rules: int = 0


class Node:
    __slots__ = ()

    def match(self, view: RequestView, ev: EvalState) -> bool:  # pragma: no cover
        raise NotImplementedError


# --- inspection statements -----------------------------------------------------------------

_cache_ids: dict[str, int] = {}


def _cache_id(key: str) -> int:
    v = _cache_ids.get(key)
    if v is None:
        v = _cache_ids[key] = len(_cache_ids)
    return v


@lru_cache(maxsize=32768)
def _deep(value: str) -> tuple[str, ...]:
    return deep_decode(value)


class Slot:
    """One (field, transformations) reading of the request, shared by every statement that
    inspects it: the values, the forced outcome (oversize/fallback handling), the values'
    detector masks and each predicate's outcome (by predicate key)."""

    __slots__ = ("fmask", "forced", "masks", "results", "vals")

    def __init__(self, vals: list[str], forced: bool | None) -> None:
        self.vals = vals
        self.forced = forced
        self.masks: list[int] | None = None
        self.fmask = 0
        self.results: dict[str, bool] = {}


class Inspect(Node):
    """A statement comparing a transformed request component with a predicate."""

    __slots__ = (
        "bit",
        "deep",
        "det",
        "extract",
        "key",
        "kind",
        "pipeline",
        "pred",
        "pred_key",
        "size_of_body",
    )

    def __init__(
        self,
        kind: str,
        fld: Mapping,
        transformations: list,
        pred: Callable[[str], bool],
        cc: CompileContext,
        *,
        size_of_body: bool = False,
        detector: str | None = None,
        pred_key: str | None = None,
    ) -> None:
        self.kind = kind
        self.extract = compile_field(fld, f"{kind}.FieldToMatch")
        if len(transformations) > MAX_TRANSFORMATIONS:
            raise WafConfigError(
                f"The parameter {kind}.TextTransformations has more than "
                f"{MAX_TRANSFORMATIONS} items."
            )
        names = list(transformation_names(transformations))
        self.deep = DEEP in names
        if self.deep:
            if not cc.allow_internal:
                raise WafConfigError(
                    f"The parameter {kind}.TextTransformations has an invalid type."
                )
            names.remove(DEEP)
        for n in names:
            if n not in TRANSFORMS:
                raise WafConfigError(
                    f"The parameter {kind}.TextTransformations.Type has an invalid value: {n}."
                )
        self.pipeline = compile_pipeline(names)
        self.key = _cache_id(
            field_key(fld) + "|" + ",".join(names) + ("|deep" if self.deep else "")
        )
        self.size_of_body = size_of_body
        if detector is not None:
            self.det = shared.DETECTORS[detector]
            self.bit = shared.BIT[detector]
            self.pred = self.det
            self.pred_key = "det:" + detector
        else:
            self.det = None
            self.bit = 0
            self.pred = pred
            # Without a key, the outcome is still computed once per request for this node.
            self.pred_key = pred_key or f"node:{id(self)}"

    def slot(self, view: RequestView) -> Slot:
        got = view.cache.get(self.key)
        if got is None:
            raw, forced = self.extract(view)
            if forced is None and raw:
                if self.pipeline is not None:
                    pipe = self.pipeline
                    raw = [pipe(x) for x in raw]
                if self.deep:
                    out: list[str] = []
                    for x in raw:
                        out.extend(_deep(x))
                    raw = out
            got = view.cache[self.key] = Slot(raw, forced)
        return got

    def values(self, view: RequestView) -> tuple[list[str], bool | None]:
        s = self.slot(view)
        return s.vals, s.forced

    def match(self, view: RequestView, ev: EvalState) -> bool:
        s = view.cache.get(self.key)
        if s is None:
            s = self.slot(view)
        if s.forced is not None:
            return s.forced
        r = s.results.get(self.pred_key)
        if r is None:
            r = s.results[self.pred_key] = self._run(s)
        return r

    def _run(self, s: Slot) -> bool:
        vals = s.vals
        if not vals:
            return False
        bit = self.bit
        if bit:
            masks = s.masks
            if masks is None:
                vm = shared.value_mask
                masks = s.masks = [vm(v) for v in vals]
                f = 0
                for m in masks:
                    f |= m
                s.fmask = f
            if not s.fmask & bit:
                return False
            det = self.det
            for v, m in zip(vals, masks, strict=True):  # noqa: SIM110 - a plain loop is faster
                if m & bit and det(v):
                    return True
            return False
        pred = self.pred
        for v in vals:  # noqa: SIM110 - a plain loop is faster
            if pred(v):
                return True
        return False


def _search_string(stmt: Mapping) -> str:
    s = stmt.get("SearchString")
    if s is None or s == b"" or s == "":
        raise WafConfigError("The parameter ByteMatchStatement.SearchString is required.")
    if isinstance(s, bytes | bytearray):
        return bytes(s).decode("latin-1")
    return str(s)


def _byte_pred(stmt: Mapping) -> Callable[[str], bool]:
    s = _search_string(stmt)
    pos = stmt.get("PositionalConstraint")
    if pos == "EXACTLY":
        return lambda v: v == s
    if pos == "STARTS_WITH":
        return lambda v: v.startswith(s)
    if pos == "ENDS_WITH":
        return lambda v: v.endswith(s)
    if pos == "CONTAINS":
        return lambda v: s in v
    if pos == "CONTAINS_WORD":
        rx = re.compile(r"(?<![A-Za-z0-9_])" + re.escape(s) + r"(?![A-Za-z0-9_])", re.S)
        return lambda v: s in v and rx.search(v) is not None
    raise WafConfigError(
        "The parameter ByteMatchStatement.PositionalConstraint has an invalid value."
    )


def _regex(pattern: str, where: str) -> re.Pattern[str]:
    if not pattern:
        raise WafConfigError(f"The parameter {where} is required.")
    try:
        # PCRE-isms Python lacks: possessive quantifiers and atomic groups are rare in WAF
        # rules; a pattern that does not compile is rejected as AWS rejects a bad regex.
        return re.compile(pattern, re.S)
    except re.error as exc:
        raise WafConfigError(
            f"The parameter {where} has an invalid regular expression: {exc}."
        ) from None


_SIZE_OPS: dict[str, Callable[[int, int], bool]] = {
    "EQ": lambda a, b: a == b,
    "NE": lambda a, b: a != b,
    "LE": lambda a, b: a <= b,
    "LT": lambda a, b: a < b,
    "GE": lambda a, b: a >= b,
    "GT": lambda a, b: a > b,
}


class SizeBody(Node):
    """SizeConstraint on the body: the whole body's size, as Content-Length tells it."""

    __slots__ = ("inner", "limit", "op")

    def __init__(self, inner: Inspect, op: Callable[[int, int], bool], limit: int) -> None:
        self.inner, self.op, self.limit = inner, op, limit

    def match(self, view: RequestView, ev: EvalState) -> bool:
        vals, forced = self.inner.values(view)
        if forced is not None:
            return forced
        size = max(view.request.body_size, len(view.request.body))
        if self.inner.pipeline is None:
            return self.op(size, self.limit)
        return any(self.op(len(v), self.limit) for v in vals) if vals else self.op(0, self.limit)


# --- IP addresses -----------------------------------------------------------------------------


class IpMatcher:
    """CIDR membership by binary search over merged integer ranges."""

    __slots__ = ("v4e", "v4s", "v6e", "v6s")

    def __init__(self, cidrs: list[str] | tuple[str, ...], where: str = "Addresses") -> None:
        r4: list[tuple[int, int]] = []
        r6: list[tuple[int, int]] = []
        for c in cidrs:
            c = c.strip()
            if not c or c.startswith("#"):
                continue
            try:
                net = ipaddress.ip_network(c, strict=False)
            except ValueError:
                raise WafConfigError(f"The parameter {where} has an invalid CIDR: {c}.") from None
            (r4 if net.version == 4 else r6).append(
                (int(net.network_address), int(net.broadcast_address))
            )
        self.v4s, self.v4e = _merge(r4)
        self.v6s, self.v6e = _merge(r6)

    def __contains__(self, ip: str) -> bool:
        parsed = _ip_number(ip)
        if parsed is None:
            return False
        v4, n = parsed
        starts, ends = (self.v4s, self.v4e) if v4 else (self.v6s, self.v6e)
        if not starts:
            return False
        i = bisect.bisect_right(starts, n) - 1
        return i >= 0 and n <= ends[i]

    def __len__(self) -> int:
        return len(self.v4s) + len(self.v6s)


@lru_cache(maxsize=65536)
def _ip_number(ip: str) -> tuple[bool, int] | None:
    """(is IPv4, address as an integer); an IPv4-mapped IPv6 address reads as IPv4."""
    try:
        addr = ipaddress.ip_address(ip.strip().strip("[]"))
    except ValueError:
        return None
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.version == 4, int(addr)


def _merge(ranges: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    ranges.sort()
    starts: list[int] = []
    ends: list[int] = []
    for s, e in ranges:
        if starts and s <= ends[-1] + 1:
            ends[-1] = max(ends[-1], e)
        else:
            starts.append(s)
            ends.append(e)
    return starts, ends


def forwarded_ips(view: RequestView, header: str) -> list[str] | None:
    value = view.header(header)
    if value is None:
        return None
    out = []
    for part in value.split(","):
        part = part.strip()
        if part.startswith("[") and "]" in part:
            part = part[1 : part.index("]")]
        elif part.count(":") == 1 and "." in part:
            part = part.split(":")[0]
        try:
            ipaddress.ip_address(part)
        except ValueError:
            return None
        out.append(part)
    return out or None


def _fwd_config(cfg: Mapping, where: str) -> tuple[str, bool]:
    header = cfg.get("HeaderName")
    fb = cfg.get("FallbackBehavior")
    if not header or fb not in ("MATCH", "NO_MATCH"):
        raise WafConfigError(f"The parameter {where} needs HeaderName and FallbackBehavior.")
    return header, fb == "MATCH"


class IPSetMatch(Node):
    __slots__ = ("fallback", "header", "ips", "position")

    def __init__(self, ips: IpMatcher, fwd: Mapping | None) -> None:
        self.ips = ips
        self.header = None
        self.fallback = False
        self.position = "FIRST"
        if fwd:
            self.header, self.fallback = _fwd_config(fwd, "IPSetForwardedIPConfig")
            self.position = fwd.get("Position", "FIRST")
            if self.position not in ("FIRST", "LAST", "ANY"):
                raise WafConfigError(
                    "The parameter IPSetForwardedIPConfig.Position has an invalid value."
                )

    def match(self, view: RequestView, ev: EvalState) -> bool:
        if self.header is None:
            return view.request.client_ip in self.ips
        addrs = forwarded_ips(view, self.header)
        if addrs is None:
            return self.fallback
        if self.position == "FIRST":
            return addrs[0] in self.ips
        if self.position == "LAST":
            return addrs[-1] in self.ips
        return any(a in self.ips for a in addrs)


class GeoMatchNode(Node):
    __slots__ = ("codes", "fallback", "header")

    def __init__(self, codes: list[str], fwd: Mapping | None) -> None:
        if not codes:
            raise WafConfigError("The parameter GeoMatchStatement.CountryCodes is required.")
        self.codes = frozenset(codes)
        self.header = None
        self.fallback = False
        if fwd:
            self.header, self.fallback = _fwd_config(fwd, "ForwardedIPConfig")

    def match(self, view: RequestView, ev: EvalState) -> bool:
        if self.header is None:
            cc = geo.country_of(view.request.client_ip)
            view.add_label("awswaf:clientip:geo:country:" + cc)
            return cc in self.codes
        addrs = forwarded_ips(view, self.header)
        if addrs is None:
            return self.fallback
        cc = geo.country_of(addrs[0])
        view.add_label("awswaf:forwardedip:geo:country:" + cc)
        return cc in self.codes


# --- logical, labels ---------------------------------------------------------------------------


class AndNode(Node):
    __slots__ = ("kids",)

    def __init__(self, kids: list[Node]) -> None:
        self.kids = kids

    def match(self, view: RequestView, ev: EvalState) -> bool:
        return all(k.match(view, ev) for k in self.kids)


class OrNode(AndNode):
    __slots__ = ()

    def match(self, view: RequestView, ev: EvalState) -> bool:
        return any(k.match(view, ev) for k in self.kids)


class NotNode(Node):
    __slots__ = ("kid",)

    def __init__(self, kid: Node) -> None:
        self.kid = kid

    def match(self, view: RequestView, ev: EvalState) -> bool:
        return not self.kid.match(view, ev)


class LabelMatchNode(Node):
    __slots__ = ("key", "scope")

    def __init__(self, scope: str, key: str, namespace: str) -> None:
        if scope not in ("LABEL", "NAMESPACE") or not key:
            raise WafConfigError(
                "The parameter LabelMatchStatement needs Scope LABEL or NAMESPACE and a Key."
            )
        if scope == "NAMESPACE" and not key.endswith(":"):
            key += ":"
        if not key.startswith("awswaf:"):
            key = namespace + key
        self.scope, self.key = scope, key

    def match(self, view: RequestView, ev: EvalState) -> bool:
        if self.scope == "LABEL":
            return self.key in view.label_set
        return self.key in view.label_namespaces


class Const(Node):
    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def match(self, view: RequestView, ev: EvalState) -> bool:
        return self.value


# --- compile -----------------------------------------------------------------------------------


def _never(_v: str) -> bool:
    return False


@lru_cache(maxsize=65536)
def _rx_search(rx: re.Pattern[str], v: str) -> bool:
    return rx.search(v) is not None


def _regex_pred(rx: re.Pattern[str]) -> Callable[[str], bool]:
    """A regex predicate memoised per value (header values recur across requests)."""

    def pred(v: str) -> bool:
        return _rx_search(rx, v)

    return pred


def compile_statement(stmt: Mapping, cc: CompileContext, *, top: bool = False) -> Node:
    if not stmt or len(stmt) != 1:
        raise WafConfigError("The parameter Statement must contain exactly one statement.")
    ((kind, s),) = stmt.items()
    s = s or {}
    tt = s.get("TextTransformations") or []
    if kind == "ByteMatchStatement":
        if not tt:
            raise WafConfigError(
                "The parameter ByteMatchStatement.TextTransformations is required."
            )
        return Inspect(kind, s.get("FieldToMatch"), tt, _byte_pred(s), cc)
    if kind == "SqliMatchStatement":
        level = s.get("SensitivityLevel", "LOW")
        if level not in ("LOW", "HIGH"):
            raise WafConfigError(
                "The parameter SqliMatchStatement.SensitivityLevel has an invalid value."
            )
        det = "sqli_high" if level == "HIGH" else "sqli"
        return Inspect(kind, s.get("FieldToMatch"), tt, _never, cc, detector=det)
    if kind == "XssMatchStatement":
        return Inspect(kind, s.get("FieldToMatch"), tt, _never, cc, detector="xss")
    if kind == "RegexMatchStatement":
        rx = _regex(s.get("RegexString", ""), "RegexMatchStatement.RegexString")
        return Inspect(
            kind, s.get("FieldToMatch"), tt, _regex_pred(rx), cc, pred_key="re:" + rx.pattern
        )
    if kind == "RegexPatternSetReferenceStatement":
        arn = s.get("ARN", "")
        rps = cc.regex_pattern_sets.get(arn)
        if rps is None:
            raise WafConfigError(
                f"The referenced item does not exist: {arn}.", reason="NONEXISTENT_ITEM"
            )
        pats = [
            _regex(r.get("RegexString", ""), "RegularExpressionList.RegexString")
            for r in rps.get("RegularExpressionList", [])
        ]
        combined = re.compile("|".join(f"(?:{p.pattern})" for p in pats), re.S) if pats else None
        if combined is None:
            return Const(False)
        return Inspect(
            kind,
            s.get("FieldToMatch"),
            tt,
            _regex_pred(combined),
            cc,
            pred_key="re:" + combined.pattern,
        )
    if kind == "SizeConstraintStatement":
        op = _SIZE_OPS.get(s.get("ComparisonOperator", ""))
        if op is None:
            raise WafConfigError(
                "The parameter SizeConstraintStatement.ComparisonOperator has an invalid value."
            )
        limit = int(s.get("Size", -1))
        if not 0 <= limit <= 21474836480:
            raise WafConfigError("The parameter SizeConstraintStatement.Size is out of range.")
        fld = s.get("FieldToMatch") or {}
        insp = Inspect(kind, fld, tt, lambda v: op(len(v), limit), cc)
        if "Body" in fld or "JsonBody" in fld:
            return SizeBody(insp, op, limit)
        return insp
    if kind == "GeoMatchStatement":
        return GeoMatchNode(list(s.get("CountryCodes") or []), s.get("ForwardedIPConfig"))
    if kind == "IPSetReferenceStatement":
        arn = s.get("ARN", "")
        if arn in cc.ip_lists:
            return IPSetMatch(cc.ip_lists[arn], s.get("IPSetForwardedIPConfig"))
        ipset = cc.ip_sets.get(arn)
        if ipset is None:
            raise WafConfigError(
                f"The referenced item does not exist: {arn}.", reason="NONEXISTENT_ITEM"
            )
        return IPSetMatch(
            IpMatcher(list(ipset.get("Addresses") or [])), s.get("IPSetForwardedIPConfig")
        )
    if kind == "LabelMatchStatement":
        return LabelMatchNode(s.get("Scope", ""), s.get("Key", ""), cc.label_namespace)
    if kind in ("AndStatement", "OrStatement"):
        kids = [compile_statement(x, cc) for x in s.get("Statements") or []]
        if len(kids) < 2:
            raise WafConfigError(f"The parameter {kind}.Statements needs at least 2 statements.")
        return AndNode(kids) if kind == "AndStatement" else OrNode(kids)
    if kind == "NotStatement":
        return NotNode(compile_statement(s.get("Statement") or {}, cc))
    if kind == "BastionDetectStatement" and cc.allow_internal:
        name = s["Detector"]
        if name not in shared.DETECTORS:
            raise WafConfigError(f"Unknown Bastion detector: {name}.")
        return Inspect(kind, s.get("FieldToMatch"), tt, _never, cc, detector=name)
    if kind in ("RateBasedStatement", "RuleGroupReferenceStatement", "ManagedRuleGroupStatement"):
        raise WafConfigError(
            f"The parameter Statement has a {kind} nested where it is not allowed."
        )
    if kind == "AsnMatchStatement":
        raise WafConfigError("AsnMatchStatement is not supported: Bastion has no ASN database.")
    raise WafConfigError(f"The parameter Statement has an unsupported statement: {kind}.")
