"""Over real HTTP on loopback: the client against a served sandbox, and webhook delivery
from the sandbox to a receiver that verifies it like the daemon does."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from connectors.base import WebhookEvent
from connectors.sandbox_server import SandboxOptions
from connectors.shopify.client import ShopifyClient
from connectors.shopify.connector import CONNECTOR, ShopifySettings
from connectors.shopify.sandbox import create_app
from daemon.credentials import Secret
from tests.shopify.conftest import TOKEN, RecordingGate

ASGI = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def start_server(nursery: trio.Nursery, app: ASGI, stop: trio.Event) -> str:
    """Serve ``app`` on 127.0.0.1 with an OS-chosen port; the URL once it is listening."""
    config = HypercornConfig()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    urls = await nursery.start(
        lambda task_status: serve(app, config, shutdown_trigger=stop.wait, task_status=task_status)
    )
    return str(urls[0])


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
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
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
            shop_url = await start_server(nursery, app, stop)
            hook_url = await start_server(nursery, receiver, stop)
            shop = shop_url.removeprefix("http://")
            async with httpx.AsyncClient(base_url=shop_url) as http:
                client = ShopifyClient(
                    http, shop, "2026-01", Secret(TOKEN), RecordingGate(), scheme="http"
                )
                page = await client.variants_page(None, None)
                assert len(page.nodes) == 20
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
    assert event.topic == "orders/create" and event.stream == "orders"
    assert json.loads(event.body)["id"] == placed.json()["id"]
    first, second = receiver.attempts
    # A redelivery repeats the delivery and event ids: the dedupe key holds across retries.
    assert first["x-shopify-webhook-id"] == second["x-shopify-webhook-id"]
    assert first["x-shopify-event-id"] == second["x-shopify-event-id"]
    assert [a["delivered"] for a in state["webhooks"]["log"]] == [False, True]
