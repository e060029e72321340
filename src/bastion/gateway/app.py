"""The application behind the HTTP server: an `HttpRequest` in, an `HttpResponse` out."""

from __future__ import annotations

import logging
import os

import orjson

from bastion import __version__
from bastion.dataplane.edge import EdgeServer, load_edge_config
from bastion.dataplane.edge import start_in_loop as start_edge
from bastion.dataplane.proxy import ProxyServer, load_proxy_config, start_in_loop
from bastion.errors import PayloadTooLargeError
from bastion.gateway.control import ControlPlane
from bastion.gateway.devtools import DEV_PATHS, DevTools
from bastion.gateway.runtime import Runtime
from bastion.protocol.http import HttpRequest, HttpResponse
from bastion.protocol.serialize import serialize_error

log = logging.getLogger("bastion.gateway")

HEALTH_PATH = "/_bastion/health"


class BastionApp:
    """Routes requests to the control plane, the health and the development endpoints."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.control = ControlPlane(runtime)
        for provider in runtime.providers.values():  # scheduled work calls other services
            bind = getattr(provider, "bind_invoker", None)
            if bind is not None:
                bind(self.control.invoke)
        self.devtools = DevTools(runtime)
        self.ready = False
        self.proxy: ProxyServer | None = None
        self.edge: EdgeServer | None = None

    def _start_proxy(self) -> None:
        """Run the forward proxy in this process too when it is configured."""
        config = load_proxy_config()
        if not config.enabled:
            return
        rt = self.runtime
        self.proxy = start_in_loop(
            rt.settings, rt.store, rt.clock, config, iam=rt.authenticator.credentials
        )
        log.info("forward proxy listening on %s:%s", config.host, config.port)

    def _start_edge(self) -> None:
        """Run the edge listeners (ELBv2 API and [[edge.listeners]]) in this process."""
        config = load_edge_config()
        if config.in_serve:
            rt = self.runtime
            self.edge = start_edge(rt.settings, rt.store, rt.clock, config)

    def startup(self) -> None:
        """Start the runtime's background work (and, in the leader, the data plane)."""
        self.runtime.start()
        if self.runtime.leader:  # one set of data-plane listeners per server
            self._start_proxy()
            self._start_edge()
        self.ready = True

    async def shutdown(self) -> None:
        self.ready = False
        if self.proxy is not None:
            await self.proxy.stop()
        if self.edge is not None:
            await self.edge.stop()
        self.control.close()
        self.runtime.close()

    async def respond(self, request: HttpRequest) -> HttpResponse:
        """Answer one request, whichever HTTP server received it."""
        path = request.path
        if path in DEV_PATHS:
            return await self._dev(request)
        if path.startswith("/_bastion/"):
            return self._internal(request)
        return await self.control.handle(request)

    async def _dev(self, request: HttpRequest) -> HttpResponse:
        try:
            return await self.control.run_blocking(
                self.devtools.handle, request.method, request.path, request.query_string
            )
        except Exception:
            log.exception("development endpoint %s failed", request.path)
            body = b'{"message":"Internal error; see the server log"}'
            return HttpResponse(500, [("content-type", "application/json")], body)

    def _internal(self, request: HttpRequest) -> HttpResponse:
        if request.path == HEALTH_PATH and request.method in ("GET", "HEAD"):
            body = orjson.dumps(
                {
                    "status": "ok" if self.ready and self.runtime.audit.healthy else "degraded",
                    "version": __version__,
                    "services": sorted(self.runtime.operations),
                    "account": self.runtime.settings.account_id,
                    "worker": self.runtime.worker,
                    "pid": os.getpid(),
                }
            )
            status = 200 if self.ready else 503
            return HttpResponse(status, [("content-type", "application/json")], body)
        return HttpResponse(404, [("content-type", "application/json")], b'{"message":"Not Found"}')

    def too_large(self) -> HttpResponse:
        """The AWS-shaped answer to a body over `max_body_bytes`."""
        limit = self.runtime.settings.max_body_bytes
        model = self.runtime.router.models["kms"]
        err = PayloadTooLargeError(f"Request body exceeds the {limit} byte limit")
        return serialize_error(model, err, "")
