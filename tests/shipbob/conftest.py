"""Fixtures: a seeded ShipBob sandbox and a client talking to it through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from connectors import model
from connectors.errors import InvalidSignature
from connectors.sandbox_server import SandboxOptions
from connectors.sandboxkit import read_body
from connectors.shipbob import webhooks
from connectors.shipbob.client import ShipBobClient
from connectors.shipbob.sandbox import SANDBOX_TOKEN, SandboxApp, create_app
from connectors.shipbob.wire import Address, CreateOrderRequest, OrderProductRequest, Recipient
from daemon.credentials import Secret
from tests.helpers import RecordingGate

BASE_URL = "http://shipbob.test"
SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk"[:32]
"""A webhook secret of ShipBob's shape (``whsec_`` + 32 base64 characters)."""


@pytest.fixture
def app() -> SandboxApp:
    return create_app(SandboxOptions(seed=7, catalog=30))


def make_client(
    http: httpx.AsyncClient, gate: RecordingGate, token: str = SANDBOX_TOKEN, channel_id: int = 4007
) -> ShipBobClient:
    return ShipBobClient(http, BASE_URL, Secret(token), channel_id, gate)


@pytest.fixture
def client(http: httpx.AsyncClient, gate: RecordingGate) -> ShipBobClient:
    return make_client(http, gate)


@pytest.fixture
def mock_clock() -> trio.testing.MockClock:
    """Virtual time that jumps as soon as every task waits (no threads or real I/O here)."""
    return trio.testing.MockClock(autojump_threshold=0)


def order_request(reference: str = "web-1001", *skus: str) -> CreateOrderRequest:
    lines = skus or ("SKU-0001", "SKU-0002")
    return CreateOrderRequest(
        reference_id=reference,
        type="DTC",
        order_number="#1001",
        shipping_method="Standard",
        recipient=Recipient(
            name="Jane Doe",
            email="jane@example.com",
            address=Address(
                address1="100 Main St", city="Austin", state="TX", zip_code="78751", country="US"
            ),
        ),
        products=[
            OrderProductRequest(
                reference_id=sku, sku=sku, name=f"Item {sku}", quantity=2, unit_price=10.0
            )
            for sku in lines
        ],
        gift_message="Happy birthday",
        purchase_date=datetime(2026, 1, 5, 12, 0, tzinfo=UTC),
    )


def order_of(store_order_id: str, *skus: str) -> model.Order:
    """A paid, unshipped canonical order from channel \"web\" (shop ``web.myshopify.com``),
    one of each SKU."""
    stamp = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    return model.Order(
        channel="web",
        origin="shopify:web.myshopify.com",
        store_order_id=store_order_id,
        reference_id=f"#{store_order_id}",
        status="open",
        payment_status="paid",
        fulfillment_status="unfulfilled",
        created_at=stamp,
        updated_at=stamp,
        lines=[
            model.OrderLine(sku=s, quantity=1, name=f"Item {s}", unit_price=Decimal("9.99"))
            for s in skus
        ],
        recipient=model.Address(
            name="Jane Doe",
            address1="1 Main St",
            city="Austin",
            country="US",
            state="TX",
            zip="78751",
        ),
        shipping_method="Ground",
        gift_message="Enjoy",
    )


class Receiver:
    """An ASGI webhook endpoint that verifies with our verifier and answers scripted statuses."""

    def __init__(self, secret: str, statuses: list[int] | None = None) -> None:
        self.secret = secret
        self.statuses = statuses or []
        self.accepted: list[webhooks.WebhookEvent] = []
        self.rejected: list[str] = []
        self.raw: list[tuple[dict[str, str], bytes]] = []
        self.arrived = trio.Event()

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        body = await read_body(receive)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.raw.append((headers, body))
        try:
            self.accepted.append(webhooks.verify(self.secret, headers, body))
            status = self.statuses.pop(0) if self.statuses else 200
        except InvalidSignature as exc:
            self.rejected.append(str(exc))
            status = 400
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        self.arrived.set()
