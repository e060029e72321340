"""The forward proxy's filter: ordered allow/deny rules, block lists, private ranges.

Pure: no I/O. `RuleSet.evaluate` is called twice per request: first before any DNS
lookup (``ip=None``), which settles every rule that does not look at the destination
address and answers `NEED_IP` otherwise; then once per resolved address. The proxy
connects only to an address that was itself checked, so a name that resolves (or
re-resolves) into a private range is caught: the DNS-rebinding defence.

Order of evaluation:
1. block lists (domains before DNS, addresses after): always deny;
2. the operator's rules, by ascending priority (then id); the first whose conditions all
   hold decides;
3. the built-in deny of private, loopback and link-local ranges, unless the deciding
   allow rule named the address explicitly (a ``cidr`` condition that contains it);
4. the default action.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

PRIVATE_RANGES: tuple[str, ...] = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "::1/128",
    "::/128",
    "fc00::/7",
    "fe80::/10",
    "::ffff:0:0/96",  # IPv4-mapped: never let ::ffff:127.0.0.1 slip through
)

DOMAIN_MATCHES = ("exact", "suffix", "wildcard", "regex")
ACTIONS = ("allow", "deny")

Action = Literal["allow", "deny"]


class RuleError(ValueError):
    """A rule or list entry that cannot be compiled."""


@dataclass(slots=True)
class RequestView:
    """What the filter sees of a request (read-only by convention: not frozen, because
    a frozen dataclass costs microseconds to build on the proxy's hot path)."""

    host: str  # lower-case, no trailing dot; an IP literal for IP destinations
    port: int
    method: str = "GET"
    path: str = ""  # plain HTTP only; "" for CONNECT
    source: str = "127.0.0.1"
    user: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    rule: str  # the name of the rule (or list, or built-in) that decided
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


NEED_IP = Decision("deny", "-", "destination address needed")  # a sentinel


@dataclass(frozen=True)
class RuleSpec:
    """One rule as stored; every condition is optional and all given ones must hold."""

    name: str
    action: str
    priority: int = 100
    id: int = 0
    domain: str = ""  # comma-separated patterns
    domain_match: str = "exact"
    cidr: str = ""  # comma-separated networks
    ports: str = ""  # "80,443,8000-9000"
    methods: str = ""  # "GET,HEAD"
    path: str = ""  # a regex searched in the path (plain HTTP only)
    source: str = ""  # comma-separated client networks
    users: str = ""  # comma-separated proxy user names


def _ranges(networks: Iterable[IPNetwork]) -> tuple[tuple[int, int, int], ...]:
    return tuple((n.version, int(n.network_address), int(n.broadcast_address)) for n in networks)


def _in_ranges(ip: IPAddress, ranges: tuple[tuple[int, int, int], ...]) -> bool:
    version = ip.version
    value = int(ip)
    for v, lo, hi in ranges:  # noqa: SIM110 - a plain loop beats any() here
        if v == version and lo <= value <= hi:
            return True
    return False


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def normalize_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


def parse_networks(text: str | Iterable[str]) -> tuple[IPNetwork, ...]:
    items = _split(text) if isinstance(text, str) else list(text)
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in items)
    except ValueError as exc:
        raise RuleError(f"bad address or network: {exc}") from None


def parse_ports(text: str) -> tuple[tuple[int, int], ...]:
    ranges = []
    for item in _split(text):
        low, _, high = item.partition("-")
        try:
            lo, hi = int(low), int(high or low)
        except ValueError:
            raise RuleError(f"bad port or range: {item!r}") from None
        if not (0 < lo <= hi <= 65535):
            raise RuleError(f"bad port or range: {item!r}")
        ranges.append((lo, hi))
    return tuple(ranges)


class DomainMatcher:
    """Exact names, suffixes (".example.com" or "example.com" matches both the name and
    its subdomains), shell wildcards and regular expressions."""

    def __init__(self, patterns: Sequence[str], how: str) -> None:
        if how not in DOMAIN_MATCHES:
            raise RuleError(f"domain match must be one of {', '.join(DOMAIN_MATCHES)}")
        self.how = how
        self.exact: frozenset[str] = frozenset()
        self.suffixes: tuple[str, ...] = ()
        self.regex: re.Pattern[str] | None = None
        pats = [normalize_host(p) if how != "regex" else p for p in patterns]
        if how == "exact":
            self.exact = frozenset(pats)
        elif how == "suffix":
            names = [p.lstrip(".") for p in pats]
            self.exact = frozenset(names)
            self.suffixes = tuple("." + n for n in names)
        else:
            sources = [fnmatch.translate(p) for p in pats] if how == "wildcard" else pats
            try:
                self.regex = re.compile("|".join(f"(?:{s})" for s in sources), re.IGNORECASE)
            except re.error as exc:
                raise RuleError(f"bad domain pattern: {exc}") from None

    def __call__(self, host: str) -> bool:
        if host in self.exact:
            return True
        if self.suffixes and host.endswith(self.suffixes):
            return True
        if self.regex is not None:
            return (self.regex.fullmatch if self.how == "wildcard" else self.regex.search)(
                host
            ) is not None
        return False


@dataclass(frozen=True, eq=False)
class Rule:
    """A compiled `RuleSpec`."""

    spec: RuleSpec
    action: Action
    domain: DomainMatcher | None
    networks: tuple[IPNetwork, ...]
    ports: tuple[tuple[int, int], ...]
    methods: frozenset[str]
    path: re.Pattern[str] | None
    sources: tuple[IPNetwork, ...]
    users: frozenset[str]
    decision: Decision
    ranges: tuple[tuple[int, int, int], ...]  # (version, first, last) of `networks`

    @classmethod
    def compile(cls, spec: RuleSpec) -> Rule:
        action = spec.action.strip().lower()
        if action not in ACTIONS:
            raise RuleError("action must be allow or deny")
        try:
            path = re.compile(spec.path) if spec.path else None
        except re.error as exc:
            raise RuleError(f"bad path regex: {exc}") from None
        networks = parse_networks(spec.cidr)
        return cls(
            spec=spec,
            action=action,  # type: ignore[arg-type]
            domain=DomainMatcher(_split(spec.domain), spec.domain_match or "exact")
            if spec.domain
            else None,
            networks=networks,
            ports=parse_ports(spec.ports),
            methods=frozenset(m.upper() for m in _split(spec.methods)),
            path=path,
            sources=parse_networks(spec.source),
            users=frozenset(_split(spec.users)),
            decision=Decision(action, spec.name, f"rule {spec.name}"),  # type: ignore[arg-type]
            ranges=_ranges(networks),
        )

    def matches(self, view: RequestView, ip: IPAddress | None) -> bool | None:
        """True/False, or None when only the destination address could tell."""
        if self.methods and view.method not in self.methods:
            return False
        if self.ports and not any(lo <= view.port <= hi for lo, hi in self.ports):
            return False
        if self.users and view.user not in self.users:
            return False
        if self.sources:
            try:
                src = ipaddress.ip_address(view.source)
            except ValueError:
                return False
            if not any(src in net for net in self.sources):
                return False
        if self.domain is not None and not self.domain(view.host):
            return False
        if self.path is not None and (not view.path or not self.path.search(view.path)):
            return False
        if self.ranges:
            if ip is None:
                return None
            return _in_ranges(ip, self.ranges)
        return True


@dataclass
class BlockLists:
    """Domains and addresses from block lists, each remembered with its list's name."""

    domains: dict[str, str] = field(default_factory=dict)  # name -> list name
    networks: list[tuple[IPNetwork, str]] = field(default_factory=list)
    addresses: dict[IPAddress, str] = field(default_factory=dict)

    def add(self, list_name: str, kind: str, entries: Iterable[str]) -> None:
        for entry in entries:
            if kind == "domain":
                self.domains.setdefault(normalize_host(entry), list_name)
            else:
                net = ipaddress.ip_network(entry, strict=False)
                if net.num_addresses == 1:
                    self.addresses.setdefault(net.network_address, list_name)
                else:
                    self.networks.append((net, list_name))

    def domain_hit(self, host: str) -> str | None:
        """A listed name blocks itself and all its subdomains."""
        domains = self.domains
        if not domains:
            return None
        name = host
        while True:
            hit = domains.get(name)
            if hit is not None:
                return hit
            dot = name.find(".")
            if dot < 0:
                return None
            name = name[dot + 1 :]

    def ip_hit(self, ip: IPAddress) -> str | None:
        hit = self.addresses.get(ip)
        if hit is not None:
            return hit
        for net, name in self.networks:
            if ip.version == net.version and ip in net:
                return name
        return None


def parse_list(text: str, kind: str) -> list[str]:
    """Entries of a block list file: plain lists (one per line) or hosts files
    (``0.0.0.0 bad.example other.example``); ``#`` starts a comment."""
    if kind not in ("domain", "ip"):
        raise RuleError("list kind must be domain or ip")
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if kind == "domain":
            hosts_format = len(parts) > 1 and _is_ip(parts[0])
            names = parts[1:] if hosts_format else parts[:1]
            for name in names:
                name = normalize_host(name)
                if name in ("localhost", "localhost.localdomain", "local", "broadcasthost"):
                    continue
                if name and not _is_ip(name):
                    out.append(name)
        else:
            entry = parts[0]
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise RuleError(f"not an address or network: {entry!r}") from None
            out.append(entry)
    return out


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class RuleSet:
    """An immutable, compiled filter. Swapped whole when the configuration changes."""

    def __init__(
        self,
        specs: Iterable[RuleSpec] = (),
        blocklists: BlockLists | None = None,
        *,
        default_action: str = "allow",
        private_ranges: Iterable[str] = PRIVATE_RANGES,
        version: int = 0,
    ) -> None:
        ordered = sorted(specs, key=lambda s: (s.priority, s.id))
        self.rules: tuple[Rule, ...] = tuple(Rule.compile(s) for s in ordered)
        self.blocklists = blocklists or BlockLists()
        if default_action not in ACTIONS:
            raise RuleError("default action must be allow or deny")
        self.default = Decision(default_action, "default")  # type: ignore[arg-type]
        self.private = parse_networks(list(private_ranges))
        self._private_ranges = _ranges(self.private)
        self.version = version
        self._needs_ip = any(r.networks for r in self.rules)

    def evaluate(self, view: RequestView, ip: IPAddress | None = None) -> Decision:
        """The decision for `view` going to `ip` (None: not resolved yet, may answer
        `NEED_IP`). An allowed request without an address is allowed *so far*: the
        caller must evaluate again with each address before connecting."""
        listed = self.blocklists.domain_hit(view.host)
        if listed is not None:
            return Decision("deny", f"list:{listed}", "destination domain is block-listed")
        if ip is not None:
            listed = self.blocklists.ip_hit(ip)
            if listed is not None:
                return Decision("deny", f"list:{listed}", "destination address is block-listed")
        decided: Decision | None = None
        explicit = False
        for rule in self.rules:
            hit = rule.matches(view, ip)
            if hit is None:
                return NEED_IP
            if hit:
                decided = rule.decision
                explicit = bool(rule.ranges)
                break
        if decided is None:
            decided = self.default
        if decided.action == "deny" or ip is None or explicit:
            return decided
        if _in_ranges(ip, self._private_ranges):
            net = next(n for n in self.private if ip.version == n.version and ip in n)
            return Decision("deny", "default-private-ranges", f"{ip} is in a private range ({net})")
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return self.evaluate(view, ip.ipv4_mapped)
        return decided
