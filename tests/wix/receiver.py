"""A webhook receiver for the sandbox's deliveries: an ASGI app answering scripted statuses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import trio

from connectors import sandboxkit
from connectors.wix.sandbox import WixSandbox

RECEIVER_URL = "http://receiver.test/webhooks/wix"


class Receiver:
    """Remembers every body; answers ``statuses`` in turn, then 200 (202, which another
    webhook receiver might answer for "accepted", is a failure to Wix)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.bodies: list[bytes] = []
        self.statuses = list(statuses or [])
        self.received = trio.Event()

    async def __call__(
        self, scope: sandboxkit.Scope, receive: sandboxkit.Receive, send: sandboxkit.Send
    ) -> None:
        if scope["type"] == "lifespan":  # served by serve_app in loopback tests
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        self.bodies.append(await sandboxkit.read_body(receive))
        self.received.set()
        status = self.statuses.pop(0) if self.statuses else 200
        await sandboxkit.send_response(send, status, b"ok")


@asynccontextmanager
async def delivering(app: WixSandbox, receiver: Receiver) -> AsyncIterator[None]:
    """Subscribe ``receiver`` and run the sandbox's sender towards it until the block ends."""
    app.webhooks.receivers.append(RECEIVER_URL)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver)) as http,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(app.run_webhooks, http)
        yield
        nursery.cancel_scope.cancel()
    app.webhooks.receivers.remove(RECEIVER_URL)
