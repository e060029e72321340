"""The forward proxy's own settings: a `[proxy]` TOML section and `BASTION_PROXY_*`.

`Settings` (bastion.config) stays the one object for the control plane; the proxy reads
its section of the same file (``BASTION_CONFIG``) and its own environment variables once,
at start-up.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    host: str = "127.0.0.1"
    port: int = 3128
    enabled: bool = False  # `bastion serve` starts the proxy only when this is true
    auth_required: bool = True
    allow_iam_keys: bool = False  # IAM access key id / secret as proxy credentials
    default_action: str = "allow"  # when no rule matches (private ranges stay denied)
    # timeouts, seconds
    header_timeout: float = 10.0  # first byte of a request to the end of its headers
    idle_timeout: float = 60.0  # keep-alive connection with no request
    body_timeout: float = 30.0  # no progress while a request body is expected
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # no byte from upstream while a response is awaited
    tunnel_idle_timeout: float = 600.0
    happy_eyeballs_delay: float = 0.25
    # limits
    max_connections: int = 10_000
    max_header_bytes: int = 64 * 1024
    buffer_bytes: int = 256 * 1024  # per direction before reading pauses
    upstream_pool_size: int = 64  # idle keep-alive connections kept per destination
    upstream_idle_timeout: float = 30.0
    # cache
    cache_enabled: bool = True
    cache_memory_bytes: int = 64 * 1024 * 1024
    cache_disk_bytes: int = 0  # 0: memory only
    cache_max_object_bytes: int = 8 * 1024 * 1024
    # DNS
    dns_cache_ttl: float = 30.0
    # logs (under <data_dir>/proxy/ unless absolute)
    log_dir: str = ""
    log_flush_interval: float = 0.2
    vpc_id: str = "vpc-0bastion00000000"
    interface_id: str = ""  # eni-...; derived from host:port when empty
    # storage polling
    poll_interval: float = 1.0


_TRUE = {"1", "true", "yes", "on"}


def _coerce(name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in fields(ProxyConfig)}[name]
    if kind in ("int", int):
        return int(value)
    if kind in ("float", float):
        return float(value)
    if kind in ("bool", bool):
        return value if isinstance(value, bool) else str(value).strip().lower() in _TRUE
    return str(value)


def load_proxy_config(
    overrides: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    config_file: Path | None = None,
) -> ProxyConfig:
    """Defaults, then the `[proxy]` section of the TOML file, then `BASTION_PROXY_<NAME>`
    variables, then `overrides` (None values ignored)."""
    env = dict(os.environ) if env is None else env
    values: dict[str, Any] = {}
    names = {f.name for f in fields(ProxyConfig)}
    path = config_file or (Path(env["BASTION_CONFIG"]) if env.get("BASTION_CONFIG") else None)
    if path is not None and path.exists():
        with open(path, "rb") as fh:
            document = tomllib.load(fh)
        section = document.get("proxy") or document.get("bastion", {}).get("proxy") or {}
        for key, value in section.items():
            key = key.replace("-", "_")
            if key in names:
                values[key] = _coerce(key, value)
    for name in names:
        var = f"BASTION_PROXY_{name.upper()}"
        if var in env:
            values[name] = _coerce(name, env[var])
    if "BASTION_PROXY_PORT" in env and "BASTION_PROXY_ENABLED" not in env:
        values["enabled"] = True
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _coerce(key, value)
    return replace(ProxyConfig(), **values)
