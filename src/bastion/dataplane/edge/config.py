"""The edge's own settings: an `[edge]` TOML section and `BASTION_EDGE_*` variables.

Listeners ("protected resources") come from storage (the ELBv2 API) and from
`[[edge.listeners]]` tables in the same file:

    [[edge.listeners]]
    name = "web"                  # the load balancer's name (its ARN is derived from it)
    host = "0.0.0.0"
    port = 8443
    targets = ["127.0.0.1:8080", "127.0.0.1:8081"]
    certificate = "/etc/bastion/web.crt"   # both set: TLS (HTTPS listener)
    private_key = "/etc/bastion/web.key"

`bastion serve` and `bastion edge` write these into the ELBv2 tables at start-up, so they
have real ALB ARNs that `AssociateWebACL` accepts.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

METRICS_PATH = "/__bastion/edge/metrics"


@dataclass(frozen=True, slots=True)
class StaticListener:
    name: str
    port: int
    targets: tuple[str, ...]
    host: str = "127.0.0.1"
    certificate: str = ""
    private_key: str = ""


@dataclass(frozen=True, slots=True)
class EdgeConfig:
    in_serve: bool = True  # `bastion serve` runs the listeners itself
    default_host: str = "127.0.0.1"  # bind address of API-created load balancers
    poll_interval: float = 1.0
    # timeouts, seconds (ALB: idle 60 s, connect 10 s)
    header_timeout: float = 60.0
    idle_timeout: float = 60.0
    body_timeout: float = 60.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # no byte from the target while a response is awaited
    drain_timeout: float = 30.0  # a removed listener's connections finish within this
    # limits (ALB: 16 KB request line, 16 KB per header, 64 KB of headers)
    max_request_line: int = 16 * 1024
    max_header_bytes: int = 16 * 1024
    max_headers_bytes: int = 64 * 1024
    max_header_count: int = 100
    max_connections: int = 10_000
    buffer_bytes: int = 256 * 1024
    inspect_body_bytes: int = 8 * 1024  # what WAF sees of a body on an ALB
    upstream_pool_size: int = 128
    upstream_idle_timeout: float = 55.0
    # visibility
    metrics_path: str = METRICS_PATH
    metrics_allow: str = "127.0.0.0/8,::1/128"  # other clients' requests go upstream
    log_flush_interval: float = 0.5
    report_interval: float = 2.0  # counters and samples to storage
    redis_url: str = ""
    listeners: tuple[StaticListener, ...] = field(default=())


_TRUE = {"1", "true", "yes", "on"}


def _coerce(name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in fields(EdgeConfig)}[name]
    if kind in ("int", int):
        return int(value)
    if kind in ("float", float):
        return float(value)
    if kind in ("bool", bool):
        return value if isinstance(value, bool) else str(value).strip().lower() in _TRUE
    return str(value)


def _static(item: dict[str, Any]) -> StaticListener:
    targets = item.get("targets") or item.get("upstream") or []
    if isinstance(targets, str):
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    if not item.get("name") or not item.get("port") or not targets:
        raise ValueError("[[edge.listeners]] needs name, port and targets")
    return StaticListener(
        name=str(item["name"]),
        port=int(item["port"]),
        targets=tuple(str(t) for t in targets),
        host=str(item.get("host", "127.0.0.1")),
        certificate=str(item.get("certificate", "")),
        private_key=str(item.get("private_key", "")),
    )


def load_edge_config(
    overrides: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    config_file: Path | None = None,
) -> EdgeConfig:
    """Defaults, then `[edge]` of the TOML file, then `BASTION_EDGE_<NAME>`, then
    `overrides` (None values ignored)."""
    env = dict(os.environ) if env is None else env
    values: dict[str, Any] = {}
    names = {f.name for f in fields(EdgeConfig)} - {"listeners"}
    path = config_file or (Path(env["BASTION_CONFIG"]) if env.get("BASTION_CONFIG") else None)
    if path is not None and path.exists():
        with open(path, "rb") as fh:
            document = tomllib.load(fh)
        section = document.get("edge") or document.get("bastion", {}).get("edge") or {}
        for key, value in section.items():
            key = key.replace("-", "_")
            if key in names:
                values[key] = _coerce(key, value)
        if section.get("listeners"):
            values["listeners"] = tuple(_static(item) for item in section["listeners"])
    for name in names:
        var = f"BASTION_EDGE_{name.upper()}"
        if var in env:
            values[name] = _coerce(name, env[var])
    if "redis_url" not in values and env.get("BASTION_REDIS_URL"):
        values["redis_url"] = env["BASTION_REDIS_URL"]
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value if key == "listeners" else _coerce(key, value)
    return replace(EdgeConfig(), **values)
