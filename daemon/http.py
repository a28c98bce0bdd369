"""The HTTP side of the daemon: a small ASGI app served by hypercorn's Trio worker.

Routes::

    GET  /metrics              Prometheus text format
    GET  /healthz              200 while the process runs
    GET  /readyz               200 when the store is open and every enabled channel runs,
                               503 with the reason otherwise
    POST /webhooks/{channel}   verified by the channel's connector, persisted, then answered;
                               the verifier also gets the request target (path and query)
                               as the pseudo-header ``:path``

Webhooks are acknowledged only after they are durably stored, so a 200 always means "kept"
(200 and not 202: Wix redelivers anything but 200). A webhook kept as it came is answered
with no body: the status says it all, and a body is one more write to the socket for every
delivery (without it, a flash sale's webhooks took about a tenth less of the daemon's CPU).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Protocol

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from prometheus_client import CollectorRegistry, make_asgi_app

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class WebhookAnswer:
    __slots__ = ("body", "status")

    def __init__(self, status: int, body: str) -> None:
        self.status = status
        self.body = body


class DaemonView(Protocol):
    """What the HTTP app needs from the daemon."""

    def readiness(self) -> str | None:
        """None when ready, else why not."""

    def knows_channel(self, channel: str) -> bool: ...

    async def receive_webhook(
        self, channel: str, headers: Mapping[str, str], body: bytes
    ) -> WebhookAnswer: ...


class HttpApp:
    def __init__(self, daemon: DaemonView, registry: CollectorRegistry, max_body: int) -> None:
        self._daemon = daemon
        self._metrics = make_asgi_app(registry)
        self._max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if path == "/metrics" and method == "GET":
            await self._metrics(scope, receive, send)
        elif path == "/healthz" and method == "GET":
            await _respond(send, 200, "ok\n")
        elif path == "/readyz" and method == "GET":
            reason = self._daemon.readiness()
            await _respond(send, 200 if reason is None else 503, f"{reason or 'ready'}\n")
        elif path.startswith("/webhooks/"):
            await self._webhook(scope, receive, send, path.removeprefix("/webhooks/"))
        else:
            await _respond(send, 404, "not found\n")

    async def _webhook(self, scope: Scope, receive: Receive, send: Send, channel: str) -> None:
        if scope["method"] != "POST":
            await _respond(send, 405, "method not allowed\n", [(b"allow", b"POST")])
            return
        if not self._daemon.knows_channel(channel):
            await _respond(send, 404, f"no channel named {channel!r}\n")
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        # The request target, for platforms that authenticate by a secret in the URL (no
        # HTTP/1.1 header name starts with ":", so it cannot be forged as a header). It holds
        # that secret: never log it.
        query = scope.get("query_string", b"").decode("latin-1")
        headers[":path"] = scope["path"] + (f"?{query}" if query else "")
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_body:
            await _respond(send, 413, f"body over {self._max_body} bytes\n")
            return
        body = await _read_body(receive, self._max_body)
        if body is None:
            await _respond(send, 413, f"body over {self._max_body} bytes\n")
            return
        answer = await self._daemon.receive_webhook(channel, headers, body)
        await _respond(send, answer.status, answer.body + "\n" if answer.body else "")


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(
    send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def serve_http(
    app: HttpApp,
    listen: str,
    *,
    grace: float,
    shutdown: trio.Event,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``listen`` until ``shutdown`` is set, then drain for up to ``grace``.

    ``started`` hands back the bound URLs (so port 0 works).
    """
    config = HypercornConfig()
    config.bind = [listen]
    config.graceful_timeout = grace
    config.accesslog = None
    # A Logger object, not the default "-", or hypercorn also prints its own copy to stderr.
    config.errorlog = logging.getLogger("hypercorn.error")
    await serve(app, config, shutdown_trigger=shutdown.wait, task_status=task_status)  # type: ignore[arg-type]
