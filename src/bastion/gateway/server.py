"""Running the control plane under uvicorn (uvloop + httptools)."""

from __future__ import annotations

import uvicorn

from bastion.gateway.app import BastionApp
from bastion.gateway.runtime import Runtime


def uvicorn_config(app: BastionApp, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=log_level.lower(),
        server_header=False,
        date_header=True,
        timeout_keep_alive=30,
    )


def serve(runtime: Runtime) -> None:
    settings = runtime.settings
    app = BastionApp(runtime)
    server = uvicorn.Server(uvicorn_config(app, settings.host, settings.port, settings.log_level))
    server.run()
