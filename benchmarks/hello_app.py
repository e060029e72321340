"""Bare ASGI app: the throughput ceiling of the server stack Bastion runs on.

It reads the whole request body (as a real handler must) and answers 200 with a tiny
body to anything, so the only costs left are uvicorn's, httptools' and uvloop's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BODY = b"hello\n"
_START: Message = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"text/plain"),
        (b"content-length", str(len(BODY)).encode()),
    ],
}
_BODY: Message = {"type": "http.response.body", "body": BODY}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer every HTTP request with 200 ``hello``; acknowledge lifespan events."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(_START)
    await send(_BODY)
