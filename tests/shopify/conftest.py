"""Fixtures: a seeded Shopify sandbox and a client talking to it through httpx's ASGI transport."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest

from connectors import model
from connectors.base import CallGate, ConnectorContext, RemoteWrite
from connectors.sandbox_server import SandboxOptions
from connectors.shopify.client import ShopifyClient
from connectors.shopify.connector import CONNECTOR, ShopifyConnector, ShopifySettings
from connectors.shopify.sandbox import ShopifySandbox, create_app
from connectors.shopify.sandbox_state import Order, gid
from daemon.credentials import Secret
from tests.helpers import RecordingGate

SHOP = "sandbox-shop.myshopify.com"
TOKEN = "shpat_sandbox"


@pytest.fixture
def app() -> ShopifySandbox:
    return create_app(SandboxOptions(seed=3, catalog=40))


def make_client(
    http: httpx.AsyncClient, gate: RecordingGate, token: str = TOKEN, version: str = "2026-01"
) -> ShopifyClient:
    return ShopifyClient(http, SHOP, version, Secret(token), gate)


@pytest.fixture
def client(http: httpx.AsyncClient, gate: RecordingGate) -> ShopifyClient:
    return make_client(http, gate)


def make_connector(http: httpx.AsyncClient, gate: CallGate, **settings: Any) -> ShopifyConnector:
    """A Shopify connector for channel "shop" at the sandbox's location, through ``http``."""
    made = CONNECTOR.create(
        ConnectorContext(
            channel="shop",
            settings=ShopifySettings(shop=SHOP, location_id="gid://shopify/Location/1", **settings),
            secrets={"token": Secret(TOKEN), "webhook_secret": Secret("s")},
            http=http,
            gate=gate,
            now=lambda: datetime.now(UTC),
        )
    )
    assert isinstance(made, ShopifyConnector)
    return made


def fulfil(key: str, order: Order, lines: list[tuple[str, int]], number: str | None) -> RemoteWrite:
    """A ``fulfillment.create`` of one shipment of ``order``: ``(sku, quantity)`` lines."""
    push = model.TrackingPush(
        store_order_id=gid("Order", order.id),
        shipment=model.Shipment(
            shipment_id=key,
            order_reference=order.name,
            lines=[model.ShipmentLine(sku=s, quantity=q) for s, q in lines],
            carrier="DHL",
            tracking_number=number,
            tracking_url=None,
            shipped_at=None,
        ),
    )
    return RemoteWrite(kind="fulfillment.create", key=key, payload=msgspec.json.encode(push))


def inventory_write(key: str, app: ShopifySandbox, item: int, quantity: int) -> RemoteWrite:
    """An ``inventory.set`` of the SKU of sandbox inventory item ``item`` to ``quantity``."""
    sku = app.state.variants[app.state.item_to_variant[item]].sku
    push = model.InventoryPush(targets=[model.StockTarget(sku=sku, quantity=quantity)])
    return RemoteWrite(kind="inventory.set", key=key, payload=msgspec.json.encode(push))
