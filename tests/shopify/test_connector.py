"""The connector as the actor drives it: streams, writes by kind, and the mapping of reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import msgspec
import pytest

from connectors.base import RemoteWrite
from connectors.errors import RecordError
from connectors.registry import BUILTIN
from connectors.shopify import mapping, wire
from connectors.shopify.connector import CONNECTOR, ShopifyConnector
from connectors.shopify.sandbox import ShopifySandbox
from connectors.shopify.sandbox_state import gid
from tests.shopify.conftest import RecordingGate, make_connector


@pytest.fixture
async def connector(
    http: httpx.AsyncClient, gate: RecordingGate
) -> AsyncIterator[ShopifyConnector]:
    made = make_connector(http, gate)
    yield made
    await made.aclose()


def test_registered_builtin() -> None:
    assert BUILTIN["shopify"] is CONNECTOR
    assert CONNECTOR.stream_names == ("products", "orders")
    assert CONNECTOR.credentials == ("token", "webhook_secret")


async def test_products_stream_one_page_oldest_first(
    connector: ShopifyConnector, app: ShopifySandbox
) -> None:
    pages = [p async for p in connector.read("products", None)]
    (page,) = pages
    assert len(page.records) == 40
    assert [r.updated_at for r in page.records] == sorted(r.updated_at for r in page.records)
    record = page.records[0]
    variant = msgspec.json.decode(record.body, type=wire.Variant)
    assert record.key == variant.id


async def test_orders_stream_pages_by_updated_at(
    connector: ShopifyConnector, app: ShopifySandbox
) -> None:
    pages = [p async for p in connector.read("orders", None)]
    assert [len(p.records) for p in pages] == [9, 1]
    stamps = [r.updated_at for p in pages for r in p.records]
    assert stamps == sorted(stamps)
    assert CONNECTOR.origin is not None
    store = CONNECTOR.origin(connector.settings)
    orders = [
        mapping.order_from_wire("shop", store, msgspec.json.decode(r.body, type=wire.OrderNode))
        for p in pages
        for r in p.records
    ]
    assert {o.origin for o in orders} == {"shopify:sandbox-shop.myshopify.com"}
    assert {o.status for o in orders} == {"open", "cancelled"}
    assert any(o.test for o in orders)
    assert any(o.gift_message == "Happy birthday!" for o in orders)
    assert {o.fulfillment_status for o in orders} >= {"unfulfilled", "fulfilled"}
    assert all(o.recipient is not None and o.recipient.country == "GB" for o in orders)


async def test_orders_query_setting_narrows_the_stream(
    http: httpx.AsyncClient, gate: RecordingGate
) -> None:
    connector = make_connector(http, gate, orders_query="test:true")
    records = [r async for p in connector.read("orders", None) for r in p.records]
    assert len(records) == 1


async def test_inventory_set_write(connector: ShopifyConnector, app: ShopifySandbox) -> None:
    (item, _), level = next(iter(sorted(app.state.levels.items())))
    payload = {
        "quantities": [
            {
                "inventory_item_id": gid("InventoryItem", item),
                "quantity": 9,
                "change_from": level["available"],
            }
        ]
    }
    write = RemoteWrite(kind="inventory.set", key="w-1", payload=msgspec.json.encode(payload))
    result = await connector.write(write)
    assert level["available"] == 9
    assert "1 quantities" in result.summary
    # Replayed after a crash: the idempotency key makes it a no-op, not a stale error.
    await connector.write(write)
    assert level["available"] == 9


async def test_fulfillment_write_is_idempotent_by_tracking_number(
    connector: ShopifyConnector, app: ShopifySandbox
) -> None:
    order = next(
        o for o in app.state.orders.values() if o.fulfillment == "UNFULFILLED" and not o.test
        and o.cancelled_at is None
    )  # fmt: skip
    line = order.lines[0]
    payload = {
        "order_id": gid("Order", order.id),
        "lines": [{"sku": line.sku, "quantity": line.quantity}],
        "tracking": {"company": "DHL", "number": "JD0001", "url": "https://dhl.example/JD0001"},
    }
    write = RemoteWrite(kind="fulfillment.create", key="s-1", payload=msgspec.json.encode(payload))
    first = await connector.write(write)
    second = await connector.write(write)
    assert first.remote_id == second.remote_id
    assert second.summary == "already fulfilled"
    assert len(app.state.fulfillments) == 1
    (fulfillment,) = app.state.fulfillments.values()
    assert fulfillment.tracking == {
        "company": "DHL",
        "number": "JD0001",
        "url": "https://dhl.example/JD0001",
    }


async def test_fulfillment_of_unknown_sku_is_a_record_error(
    connector: ShopifyConnector, app: ShopifySandbox
) -> None:
    order = next(o for o in app.state.orders.values() if o.fulfillment == "UNFULFILLED")
    payload = {
        "order_id": gid("Order", order.id),
        "lines": [{"sku": "NOPE", "quantity": 1}],
        "tracking": {"number": "X"},
    }
    with pytest.raises(RecordError):
        await connector.write(
            RemoteWrite(kind="fulfillment.create", key="s", payload=msgspec.json.encode(payload))
        )


async def test_unknown_write_kind(connector: ShopifyConnector) -> None:
    with pytest.raises(RecordError) as caught:
        await connector.write(RemoteWrite(kind="product.delete", key="k", payload=b"{}"))
    assert caught.value.reason == "unsupported"


def variant(**changes: object) -> wire.Variant:
    base: dict[str, object] = {
        "id": "gid://shopify/ProductVariant/7",
        "sku": "TEE-BLU-S",
        "barcode": "0123456789012",
        "title": "Blue / S",
        "updatedAt": "2026-01-05T10:00:00Z",
        "selectedOptions": [{"name": "Color", "value": "Blue"}, {"name": "Size", "value": "S"}],
        "product": {
            "id": "gid://shopify/Product/3",
            "title": "Shirt",
            "status": "ACTIVE",
            "updatedAt": "2026-01-05T10:00:00Z",
            "featuredMedia": {"preview": {"image": {"url": "https://cdn.example/shirt.jpg"}}},
        },
        "inventoryItem": {
            "id": "gid://shopify/InventoryItem/70",
            "measurement": {"weight": {"value": 0.25, "unit": "KILOGRAMS"}},
        },
    }
    base.update(changes)
    return msgspec.json.decode(msgspec.json.encode(base), type=wire.Variant)


def test_variant_maps_to_item() -> None:
    item = mapping.item_from_variant("shop", variant())
    assert item.name == "Shirt - Blue / S"
    assert item.sku == "TEE-BLU-S"
    assert item.weight is not None and item.weight.unit == "kg"
    assert item.weight.value == Decimal("0.25")
    assert item.barcode == "0123456789012"
    assert item.image_url == "https://cdn.example/shirt.jpg"
    assert item.store_item_id == "gid://shopify/ProductVariant/7"


def test_variant_without_sku_or_options() -> None:
    item = mapping.item_from_variant(
        "shop",
        variant(sku="", selectedOptions=[{"name": "Title", "value": "Default Title"}], barcode=""),
    )
    assert item.sku == "shop:gid://shopify/ProductVariant/7"
    assert item.name == "Shirt"
    assert item.barcode is None
