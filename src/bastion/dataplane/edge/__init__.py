"""Bastion's edge ("Application Load Balancer" + AWS WAF): HTTP/1.1 and TLS listeners in
front of your apps, each filtered by the WAFv2 web ACL associated with its load balancer.

Listeners come from the ELBv2 API and from `[[edge.listeners]]` in the config file.
`start_in_loop(settings, store, clock)` runs them inside a running event loop (what
`bastion serve` does); `bastion edge` runs them alone, optionally as several worker
processes sharing the ports (SO_REUSEPORT).
"""

from __future__ import annotations

import asyncio
from typing import Any

from bastion.clock import Clock
from bastion.config import DEFAULT_ACCOUNT_ID, Settings
from bastion.dataplane.edge.config import METRICS_PATH, EdgeConfig, load_edge_config
from bastion.dataplane.edge.repo import static_arns, sync_static_listeners
from bastion.dataplane.edge.server import EdgeServer

__all__ = [
    "METRICS_PATH",
    "EdgeConfig",
    "EdgeServer",
    "build_server",
    "load_edge_config",
    "start_in_loop",
    "static_arns",
    "sync_static_listeners",
]


def build_server(
    settings: Settings,
    store: Any,
    clock: Clock,
    config: EdgeConfig | None = None,
    *,
    reuse_port: bool = False,
    sync: bool = True,
) -> EdgeServer:
    """An edge over `store`; with `sync`, the config file's listeners are written to
    storage first (so they have ARNs WAF can be associated with)."""
    config = config or load_edge_config()
    if sync and config.listeners:
        sync_static_listeners(
            store,
            config,
            settings.account_id or DEFAULT_ACCOUNT_ID,
            settings.region,
            clock.now(),
        )
    return EdgeServer(
        config,
        clock=clock,
        store=store,
        log_dir=settings.data_dir / "waf-logs",
        reuse_port=reuse_port,
    )


def start_in_loop(
    settings: Settings, store: Any, clock: Clock, config: EdgeConfig | None = None
) -> EdgeServer:
    """Start the edge on the running event loop; keep it and `await edge.stop()` later.

    Listeners bind as their configuration is loaded (immediately, then whenever the
    ELBv2/WAFv2 configuration changes)."""
    loop = asyncio.get_running_loop()
    server = build_server(settings, store, clock, config)
    task = loop.create_task(server.start())
    server.tasks.add(task)
    task.add_done_callback(server.tasks.discard)
    return server
