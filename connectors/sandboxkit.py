"""ASGI plumbing shared by the platform sandboxes: request bodies, headers, responses, lifespan.

Platform knowledge (routes, status codes, error bodies, content types) stays in each
platform's ``sandbox`` module; these helpers only move bytes between ASGI and it.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import msgspec
import trio

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Background = Callable[..., Awaitable[None]]
"""A task for ``nursery.start``: takes ``task_status=`` and calls ``started()`` once ready."""


class Request(msgspec.Struct):
    """One HTTP request as a sandbox routes it."""

    method: str
    path: str
    query: dict[str, str]
    """The query string's parameters (a repeated name: the last wins)."""
    headers: dict[str, str]
    """Lower-cased names (see :func:`header_map`)."""
    body: bytes


async def read_request(scope: Scope, receive: Receive) -> Request:
    """The ``http`` request of ``scope``, its whole body read."""
    return Request(
        method=scope["method"],
        path=scope["path"],
        query=dict(urllib.parse.parse_qsl(scope.get("query_string", b"").decode())),
        headers=header_map(scope),
        body=await read_body(receive),
    )


async def accept(
    scope: Scope, receive: Receive, send: Send, background: Background
) -> Request | None:
    """The ``http`` request of ``scope``; None once any other scope has been served (the
    lifespan runs ``background``, see :func:`run_lifespan`; websockets are not served)."""
    if scope["type"] == "lifespan":
        await run_lifespan(receive, send, background)
        return None
    if scope["type"] != "http":
        return None
    return await read_request(scope, receive)


async def read_body(receive: Receive) -> bytes:
    """The whole request body, joined from every ``http.request`` message."""
    body = b""
    while True:
        message = await receive()
        chunk: bytes = message.get("body", b"")
        body += chunk
        if not message.get("more_body"):
            return body


def header_map(scope: Scope) -> dict[str, str]:
    """The request's headers as ``{lowercased name: value}`` (a repeated name: the last wins)."""
    return {k.decode().lower(): v.decode() for k, v in scope["headers"]}


async def send_response(
    send: Send,
    status: int,
    content: bytes,
    headers: Iterable[tuple[str, str]] = (),
    *,
    content_type: str | None = None,
) -> None:
    """Answer with ``content``: ``headers``, then ``content_type`` (when given and there is
    content), then ``content-length``."""
    raw = [(k.encode(), v.encode()) for k, v in headers]
    if content_type is not None and content:
        raw.append((b"content-type", content_type.encode()))
    raw.append((b"content-length", str(len(content)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})


async def run_lifespan(receive: Receive, send: Send, background: Background) -> None:
    """Serve the ASGI lifespan: start ``background`` on startup, cancel it on shutdown."""
    async with trio.open_nursery() as nursery:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await nursery.start(background)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                nursery.cancel_scope.cancel()
                await send({"type": "lifespan.shutdown.complete"})
                return
