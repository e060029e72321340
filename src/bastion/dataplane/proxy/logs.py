"""The proxy's three logs, in the formats their readers (GuardDuty, Athena, ...) expect.

* ``access.log``: Squid's native format, one line per request::

    time.ms elapsed client code/status bytes method URL user hierarchy/peer type rule

  (the eleventh field, the rule that decided, is Bastion's; Squid's parsers read the
  first ten).
* ``vpc-flow.log``: VPC Flow Logs version 2 default format, one record per direction of
  each connection::

    version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes
    start end action log-status

* ``resolver-query.log``: Route 53 Resolver query logs, one JSON object per line, for
  every DNS lookup the proxy makes.

Lines are buffered in memory and written every `flush_interval` seconds (and on close).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

ACCESS_LOG = "access.log"
FLOW_LOG = "vpc-flow.log"
DNS_LOG = "resolver-query.log"

FLOW_FIELDS = (
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
)
DNS_FIELDS = (
    "version",
    "account_id",
    "region",
    "vpc_id",
    "query_timestamp",
    "query_name",
    "query_type",
    "query_class",
    "rcode",
    "answers",
    "srcaddr",
    "srcport",
    "transport",
    "srcids",
)
TCP = 6
MSS = 1448


def interface_id_for(seed: str) -> str:
    return "eni-" + hashlib.sha256(seed.encode()).hexdigest()[:17]


class _Sink:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[str] = []

    def flush(self) -> None:
        if not self.lines:
            return
        data = "".join(self.lines)
        self.lines = []
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(data)


class ProxyLogs:
    """Access, flow and DNS query logs under `directory`."""

    def __init__(
        self,
        directory: Path,
        *,
        now: Callable[[], datetime],
        account_id: str,
        region: str,
        vpc_id: str,
        interface_id: str,
        instance_id: str = "i-0bastionproxy0000",
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o750)
        self.directory = directory
        self.now = now
        self.account_id = account_id
        self.region = region
        self.vpc_id = vpc_id
        self.interface_id = interface_id
        self.instance_id = instance_id
        self.access = _Sink(directory / ACCESS_LOG)
        self.flow = _Sink(directory / FLOW_LOG)
        self.dns = _Sink(directory / DNS_LOG)
        self._flow_prefix = f"2 {account_id} {interface_id} "

    def timestamp(self) -> float:
        return self.now().timestamp()

    # -------------------------------------------------------------- access (Squid)

    def request(
        self,
        *,
        start: float,
        elapsed_ms: int,
        client: str,
        code: str,
        status: int,
        nbytes: int,
        method: str,
        url: str,
        user: str,
        hierarchy: str,
        content_type: str,
        rule: str,
    ) -> None:
        self.access.lines.append(
            f"{start:.3f} {elapsed_ms:>6} {client} {code}/{status:03d} {nbytes} {method} "
            f"{url or '-'} {user or '-'} {hierarchy} {content_type or '-'} {rule or '-'}\n"
        )

    # ----------------------------------------------------------------- VPC flow

    def flow_record(
        self,
        src: str,
        dst: str,
        sport: int,
        dport: int,
        nbytes: int,
        start: int,
        end: int,
        action: str,
        packets: int | None = None,
    ) -> None:
        if packets is None:
            packets = max(1, math.ceil(nbytes / MSS)) if nbytes else 1
        self.flow.lines.append(
            f"{self._flow_prefix}{src} {dst} {sport} {dport} {TCP} {packets} {nbytes} "
            f"{start} {end} {action} OK\n"
        )

    def connection(
        self,
        local: tuple[str, int],
        remote: tuple[str, int],
        sent: int,
        received: int,
        start: int,
        end: int,
        *,
        outbound: bool,
    ) -> None:
        """Both directions of an accepted TCP connection. `outbound`: the proxy opened it
        (local -> remote); otherwise a client connected to the proxy (remote -> local)."""
        if outbound:
            first, second, first_bytes, second_bytes = local, remote, sent, received
        else:
            first, second, first_bytes, second_bytes = remote, local, received, sent
        # +3/+2 packets: the handshake and the close, as a capture would see them
        self.flow_record(
            first[0],
            second[0],
            first[1],
            second[1],
            first_bytes,
            start,
            end,
            "ACCEPT",
            math.ceil(first_bytes / MSS) + 3,
        )
        self.flow_record(
            second[0],
            first[0],
            second[1],
            first[1],
            second_bytes,
            start,
            end,
            "ACCEPT",
            math.ceil(second_bytes / MSS) + 2,
        )

    def rejected(self, client: tuple[str, int], dst: str, dport: int, when: int) -> None:
        """A flow the proxy refused to open on the client's behalf."""
        self.flow_record(client[0], dst or "-", client[1], dport, 0, when, when, "REJECT", 1)

    # ---------------------------------------------------------- Route 53 Resolver

    def dns_query(
        self,
        name: str,
        qtype: str,
        rcode: str,
        answers: list[str],
        src: tuple[str, int],
    ) -> None:
        when = self.now()
        record: dict[str, Any] = {
            "version": "1.100000",
            "account_id": self.account_id,
            "region": self.region,
            "vpc_id": self.vpc_id,
            "query_timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "query_name": name.rstrip(".") + ".",
            "query_type": qtype,
            "query_class": "IN",
            "rcode": rcode,
            "answers": [{"Rdata": a, "Type": qtype, "Class": "IN"} for a in answers],
            "srcaddr": src[0],
            "srcport": str(src[1]),
            "transport": "UDP",
            "srcids": {"instance": self.instance_id},
        }
        self.dns.lines.append(orjson.dumps(record).decode() + "\n")

    def flush(self) -> None:
        for sink in (self.access, self.flow, self.dns):
            try:
                sink.flush()
            except OSError:  # pragma: no cover - disk full: keep serving
                sink.lines = []

    def paths(self) -> dict[str, Path]:
        return {"access": self.access.path, "flow": self.flow.path, "dns": self.dns.path}


def parse_access_line(line: str) -> dict[str, Any]:
    parts = line.split()
    code, _, status = parts[3].partition("/")
    return {
        "time": float(parts[0]),
        "elapsed_ms": int(parts[1]),
        "client": parts[2],
        "code": code,
        "status": int(status),
        "bytes": int(parts[4]),
        "method": parts[5],
        "url": parts[6],
        "user": parts[7],
        "hierarchy": parts[8],
        "type": parts[9],
        "rule": parts[10] if len(parts) > 10 else "-",
    }


def parse_flow_line(line: str) -> dict[str, str]:
    values = line.split()
    if len(values) != len(FLOW_FIELDS):
        raise ValueError(f"not a version 2 flow log record: {line!r}")
    return dict(zip(FLOW_FIELDS, values, strict=True))


def parse_dns_line(line: str) -> dict[str, Any]:
    record = orjson.loads(line)
    missing = [f for f in DNS_FIELDS if f not in record]
    if missing:
        raise ValueError(f"resolver query log record without {missing}")
    return record


def _ensure_dir(path: Path) -> None:  # pragma: no cover - helper for callers
    os.makedirs(path, exist_ok=True)
