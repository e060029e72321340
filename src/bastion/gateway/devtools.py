"""Development-mode endpoints: reset state, save and load snapshots (never outside --dev).

`POST /_bastion/reset[?service=kms]` and moto's `POST /moto-api/reset` bring services
back to their freshly initialised state without a restart: one transaction deletes
their resources (the bootstrap administrator and its key stay), then in-memory caches
are dropped. The audit log is not reset: it records what happened, resets included.
Snapshots (`/_bastion/state/save?name=X`, `/_bastion/state/load?name=X`) are JSON files
in `<data dir>/snapshots/`; sealed columns stay sealed.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from urllib.parse import parse_qs

import orjson

from bastion.gateway.runtime import Runtime
from bastion.protocol.http import HttpResponse
from bastion.storage.files import write_private_file

log = logging.getLogger("bastion.dev")

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
DEV_PATHS = ("/_bastion/reset", "/_bastion/state/save", "/_bastion/state/load", "/moto-api/reset")


def _json(status: int, body: dict[str, object]) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json")], orjson.dumps(body))


class DevTools:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    @property
    def snapshot_dir(self) -> Path:
        return self.rt.settings.data_dir / "snapshots"

    def handle(self, method: str, path: str, query: str) -> HttpResponse:
        """Blocking (storage work): the app runs it off the event loop."""
        if not self.rt.settings.dev:
            return _json(404, {"message": "Not Found"})
        if method != "POST":
            return _json(405, {"message": "Use POST"})
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        try:
            services = self._services(params.get("service"))
        except KeyError as exc:
            return _json(400, {"message": f"Unknown service {exc.args[0]!r}"})
        if path in ("/_bastion/reset", "/moto-api/reset"):
            started = time.perf_counter()
            self.reset(services)
            elapsed = round((time.perf_counter() - started) * 1000, 3)
            return _json(200, {"reset": services, "milliseconds": elapsed})
        name = params.get("name", "")
        if not _NAME.match(name):
            return _json(400, {"message": "name must be 1-128 of [A-Za-z0-9._-]"})
        if path == "/_bastion/state/save":
            self.save(name, services)
            return _json(200, {"saved": name, "services": services})
        try:
            loaded = self.load(name, services)
        except FileNotFoundError:
            return _json(404, {"message": f"No snapshot named {name}"})
        except (ValueError, KeyError, orjson.JSONDecodeError) as exc:
            return _json(400, {"message": f"Snapshot {name} does not fit this schema: {exc}"})
        return _json(200, {"loaded": name, "services": loaded})

    def _services(self, only: str | None) -> list[str]:
        providers = self.rt.providers
        if only is None:
            return [name for name, p in providers.items() if p.state_tables]
        if only not in providers:
            raise KeyError(only)
        return [only]

    def reset(self, services: list[str]) -> None:
        with self.rt.store.write() as conn:
            for name in services:
                self.rt.providers[name].reset_state(conn)
        for name in services:
            self.rt.providers[name].clear_caches()
        log.info("reset state of %s", ", ".join(services))

    def save(self, name: str, services: list[str]) -> None:
        with self.rt.store.read() as conn:
            state = {s: self.rt.providers[s].dump_state(conn) for s in services}
        self.snapshot_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private_file(self.snapshot_dir / f"{name}.json", orjson.dumps(state))

    def load(self, name: str, services: list[str]) -> list[str]:
        state = orjson.loads((self.snapshot_dir / f"{name}.json").read_bytes())
        chosen = [s for s in services if s in state]
        with self.rt.store.write() as conn:
            for service in chosen:
                self.rt.providers[service].load_state(conn, state[service])
        for service in chosen:
            self.rt.providers[service].clear_caches()
        return chosen
