"""Plain HTTP request/response values passed between the server and the protocol layer.

The protocol layer never sees ASGI or sockets: the gateway turns a connection into an
`HttpRequest` and writes back an `HttpResponse`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(slots=True)  # built per request; not frozen, whose __init__ costs 3x
class HttpRequest:
    """One received request (read-only by convention).

    `path` is the raw path as sent (still percent-encoded), `query_string` the raw query
    without the leading '?'. Header names are lower-case; repeated headers are joined
    with ','.
    """

    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]
    body: bytes
    client_ip: str = ""
    scheme: str = "http"

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)


@dataclass(slots=True)
class HttpResponse:
    """A response ready to write: status, header pairs and the full body."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
