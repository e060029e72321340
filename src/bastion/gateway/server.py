"""Running the control plane: `BastionApp` behind Bastion's own HTTP/1.1 server."""

from __future__ import annotations

from bastion.gateway.app import BastionApp
from bastion.gateway.http_server import HttpFront
from bastion.gateway.runtime import Runtime


def serve(runtime: Runtime) -> None:
    settings = runtime.settings
    HttpFront(BastionApp(runtime)).run(settings.host, settings.port)
