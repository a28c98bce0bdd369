"""The HTTP side of the daemon: a small ASGI app, served by :mod:`daemon.http_server`.

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

from collections.abc import Mapping
from typing import Protocol

import trio
from prometheus_client import CollectorRegistry, make_asgi_app

from daemon.http_server import Receive, Scope, Send, serve


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
        try:
            body = await _read_body(receive, self._max_body)
        except _ClientGone:
            return  # no answer: the platform delivers it again
        if body is None:
            await _respond(send, 413, f"body over {self._max_body} bytes\n")
            return
        answer = await self._daemon.receive_webhook(channel, headers, body)
        await _respond(send, answer.status, answer.body + "\n" if answer.body else "")


class _ClientGone(Exception):
    """The client closed the connection before its request's body ended."""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request's body; None if it is over ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
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
    host, _, port = listen.rpartition(":")
    await serve(
        app, host.strip("[]"), int(port), grace=grace, shutdown=shutdown, task_status=task_status
    )
