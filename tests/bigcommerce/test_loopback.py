"""Over real HTTP on loopback: the served sandbox (as ``shelfsync sandbox bigcommerce`` serves
it, webhook sender started by the ASGI lifespan), the client, and a hook registered through
``/v3/hooks`` whose callback a receiver verifies as the daemon does."""

from __future__ import annotations

from typing import Any

import httpx
import trio

from connectors.base import WebhookEvent
from connectors.bigcommerce import wire
from connectors.bigcommerce.client import BigCommerceClient
from connectors.bigcommerce.connector import CONNECTOR
from connectors.bigcommerce.sandbox import SANDBOX_TOKEN, STORE_HASH
from connectors.sandbox_server import SandboxOptions, load_sandbox, serve_app
from connectors.sandboxkit import header_map, read_body
from daemon.credentials import Secret
from tests.bigcommerce.conftest import SECRET, RecordingGate, settings


class LoopbackReceiver:
    def __init__(self) -> None:
        self.events: list[WebhookEvent] = []
        self.arrived = trio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        body = await read_body(receive)
        secrets = {"token": Secret(SANDBOX_TOKEN), "webhook_secret": Secret(SECRET)}
        self.events.append(CONNECTOR.verify_webhook(settings(), secrets, header_map(scope), body))
        self.arrived.set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def test_served_sandbox_client_and_callback_over_loopback() -> None:
    app = load_sandbox("bigcommerce")(SandboxOptions(seed=4, catalog=20))
    receiver = LoopbackReceiver()
    stop = trio.Event()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            url = await serve_app(nursery, app, "127.0.0.1", 0, stop)
            hook_url = await serve_app(nursery, receiver, "127.0.0.1", 0, stop)
            async with httpx.AsyncClient() as http:
                client = BigCommerceClient(
                    http, url, STORE_HASH, Secret(SANDBOX_TOKEN), RecordingGate()
                )
                assert len(await client.products_page(None)) == len(app.state.products)
                await client.create_hook(
                    wire.HookRequest(
                        scope="store/order/created",
                        destination=f"{hook_url}/webhooks/bc",
                        headers={"X-Shelfsync-Webhook-Secret": SECRET},
                    )
                )
                variant = next(v for _, v in app.state.variants() if v.sku)
                placed = await http.post(
                    f"{url}/_sandbox/orders", json={"lines": [{"sku": variant.sku}]}
                )
                assert placed.status_code == 201
                await receiver.arrived.wait()
            stop.set()
    (event,) = receiver.events
    assert (event.topic, event.streams) == ("store/order/created", ("orders",))
