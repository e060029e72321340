"""Bastion's forward proxy ("the EC2 proxy server"): authenticated outbound HTTP and
HTTPS (CONNECT) with filtering, caching, and access / VPC flow / Resolver query logs.

`start_in_loop(settings, store, clock)` starts it inside a running event loop (what
`bastion serve` does when the proxy is configured); `bastion proxy serve` runs it alone.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bastion.clock import Clock
from bastion.config import DEFAULT_ACCOUNT_ID, Settings
from bastion.dataplane.proxy.config import ProxyConfig, load_proxy_config
from bastion.dataplane.proxy.server import ProxyServer

__all__ = [
    "ProxyConfig",
    "ProxyServer",
    "build_server",
    "load_proxy_config",
    "proxy_configured",
    "start_in_loop",
]


def proxy_configured(config: ProxyConfig | None = None) -> bool:
    """True when `bastion serve` should also start the proxy (`[proxy] enabled = true`
    in the config file, or `BASTION_PROXY_PORT` / `BASTION_PROXY_ENABLED=1` set)."""
    return (config or load_proxy_config()).enabled


def build_server(
    settings: Settings,
    store: Any,
    clock: Clock,
    config: ProxyConfig | None = None,
    *,
    iam: Any = None,
    resolver: Any = None,
) -> ProxyServer:
    config = config or load_proxy_config()
    log_dir = settings.data_dir / "proxy"
    if config.log_dir:
        from pathlib import Path

        log_dir = Path(config.log_dir)
    return ProxyServer(
        config,
        clock=clock,
        log_dir=log_dir,
        account_id=settings.account_id or DEFAULT_ACCOUNT_ID,
        region=settings.region,
        store=store,
        iam=iam if config.allow_iam_keys else None,
        resolver=resolver,
    )


def start_in_loop(
    settings: Settings,
    store: Any,
    clock: Clock,
    config: ProxyConfig | None = None,
    *,
    iam: Any = None,
) -> ProxyServer:
    """Bind the proxy's port now and start serving on the running event loop.

    Call from a coroutine (or a callback) of the loop that should serve it; keep the
    returned server and `await server.stop()` on shutdown. `iam` (a
    `bastion.auth.credentials.CredentialStore`) lets IAM access keys act as proxy
    credentials when the config's `allow_iam_keys` is on.
    """
    loop = asyncio.get_running_loop()
    server = build_server(settings, store, clock, config, iam=iam)
    server.bind()
    task = loop.create_task(server.start())
    server.tasks.add(task)
    task.add_done_callback(server.tasks.discard)
    return server
