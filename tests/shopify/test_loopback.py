"""Over real HTTP on loopback: the client against a served sandbox, and webhook delivery
from the sandbox to a receiver that verifies it like the daemon does."""

from __future__ import annotations

import json
from typing import Any

import httpx
import trio

from connectors.base import WebhookEvent
from connectors.sandbox_server import SandboxOptions, serve_app
from connectors.sandboxkit import header_map, read_body
from connectors.shopify.client import ShopifyClient
from connectors.shopify.connector import CONNECTOR, ShopifySettings
from connectors.shopify.sandbox import create_app
from daemon.credentials import Secret
from tests.shopify.conftest import TOKEN, RecordingGate


class Receiver:
    """A webhook endpoint: verifies each delivery with the connector's own check.

    It answers 500 to the first ``fail_first`` deliveries (to make the sandbox retry).
    """

    def __init__(self, secret: str, fail_first: int = 0) -> None:
        self.secret = secret
        self.fail_first = fail_first
        self.attempts: list[dict[str, str]] = []
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
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        headers = header_map(scope)
        self.attempts.append(headers)
        status = 500
        if len(self.attempts) > self.fail_first:
            settings = ShopifySettings(shop="x", location_id="gid://shopify/Location/1")
            secrets = {"token": Secret(TOKEN), "webhook_secret": Secret(self.secret)}
            self.events.append(CONNECTOR.verify_webhook(settings, secrets, headers, body))
            status = 200
            self.arrived.set()
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def test_client_over_loopback_and_signed_webhook_with_redelivery() -> None:
    app = create_app(SandboxOptions(seed=2, catalog=20))
    app.webhooks.retry_delays = (0.05, 0.05)
    receiver = Receiver(app.state.webhook_secret, fail_first=1)
    stop = trio.Event()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            shop_url = await serve_app(nursery, app, "127.0.0.1", 0, stop)
            hook_url = await serve_app(nursery, receiver, "127.0.0.1", 0, stop)
            shop = shop_url.removeprefix("http://")
            async with httpx.AsyncClient(base_url=shop_url) as http:
                client = ShopifyClient(
                    http, shop, "2026-01", Secret(TOKEN), RecordingGate(), scheme="http"
                )
                page = await client.products_page(None, None)
                assert len(page.nodes) == min(17, len(app.state.products))
                subscribed = await http.post(
                    "/_sandbox/webhooks", json={"topic": "orders/create", "address": hook_url}
                )
                assert subscribed.status_code == 201
                sku = next(v.sku for v in app.state.variants.values() if v.sku)
                placed = await http.post(
                    "/_sandbox/orders",
                    json={"lines": [{"sku": sku, "quantity": 2}], "shipping": "Express"},
                )
                assert placed.status_code == 201
                await receiver.arrived.wait()
                state = (await http.get("/_sandbox/state")).json()
            stop.set()
    (event,) = receiver.events
    assert event.topic == "orders/create" and event.streams == ("orders",)
    assert json.loads(event.body)["id"] == placed.json()["id"]
    assert event.entity == f"gid://shopify/Order/{placed.json()['id']}"  # the record's key
    first, second = receiver.attempts
    # A redelivery repeats the delivery and event ids: the dedupe key holds across retries.
    assert first["x-shopify-webhook-id"] == second["x-shopify-webhook-id"]
    assert first["x-shopify-event-id"] == second["x-shopify-event-id"]
    assert [a["delivered"] for a in state["webhooks"]["log"]] == [False, True]
