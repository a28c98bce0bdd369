"""The connector as the actor drives it: streams, writes by kind, and the mapping of reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import msgspec
import pytest

from connectors import model
from connectors.base import RemoteWrite
from connectors.errors import ChannelFatal, RecordError
from connectors.registry import BUILTIN
from connectors.shopify import mapping, wire
from connectors.shopify.connector import CONNECTOR, ShopifyConnector
from connectors.shopify.sandbox import ShopifySandbox
from connectors.shopify.sandbox_state import Order, gid
from tests.shopify.conftest import SHOP, RecordingGate, fulfil, inventory_write, make_connector


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


async def test_products_stream_pages_oldest_change_first(
    connector: ShopifyConnector, app: ShopifySandbox
) -> None:
    pages = [p async for p in connector.read("products", None)]
    assert [len(p.records) for p in pages] == [17] * (len(app.state.products) // 17) + (
        [len(app.state.products) % 17] if len(app.state.products) % 17 else []
    )
    records = [r for p in pages for r in p.records]
    assert [r.updated_at for r in records] == sorted(r.updated_at for r in records)
    products = [msgspec.json.decode(r.body, type=wire.Product) for r in records]
    assert [r.key for r in records] == [p.id for p in products]
    items = [i for p in products for i in mapping.items_from_product("shop", p)]
    assert len({i.sku for i in items}) == len(app.state.variants) == 40


async def test_a_page_refused_as_too_costly_is_asked_again_smaller(
    connector: ShopifyConnector, app: ShopifySandbox
) -> None:
    # A shop (or a pricing rule) that allows less than the client planned for.
    app.state.max_query_cost = 500
    records = [r async for p in connector.read("products", None) for r in p.records]
    assert len(records) == len(app.state.products)
    assert app.state.counters["max_cost_exceeded"] == 1  # 17 refused; 8 per page from then on
    sizes = [len(msgspec.json.decode(r.body, type=wire.Product).variants.nodes) for r in records]
    assert sum(sizes) == 40


async def test_a_read_that_cannot_shrink_enough_is_channel_fatal(
    connector: ShopifyConnector, app: ShopifySandbox
) -> None:
    app.state.max_query_cost = 10  # not even one product fits
    with pytest.raises(ChannelFatal, match="exceeds the single query max cost"):
        [r async for p in connector.read("products", None) for r in p.records]


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


async def test_orders_query_setting_narrows_the_stream_and_a_webhooks_fetch(
    http: httpx.AsyncClient, gate: RecordingGate, app: ShopifySandbox
) -> None:
    connector = make_connector(http, gate, orders_query="test:true")
    records = [r async for p in connector.read("orders", None) for r in p.records]
    assert len(records) == 1
    # A webhook's fetch keeps what the stream would read; an operator's gets every order named.
    real = next(o for o in app.state.orders.values() if not o.test)
    keys = [records[0].key, gid("Order", real.id), real.name]
    assert (await connector.fetch("orders", keys, as_read=True)).records == records
    assert len((await connector.fetch("orders", keys)).records) == 2


def unfulfilled(app: ShopifySandbox) -> Order:
    return next(
        o
        for o in app.state.orders.values()
        if o.fulfillment == "UNFULFILLED" and not o.test and o.cancelled_at is None
    )


async def test_inventory_set_write(connector: ShopifyConnector, app: ShopifySandbox) -> None:
    (item, _), level = next(iter(sorted(app.state.levels.items())))
    write = inventory_write("w-1", app, item, 9)
    result = await connector.write(write)
    assert level["available"] == 9
    assert "1 quantities" in result.summary
    # Replayed after a crash: lands at the same target, not a stale error.
    await connector.write(write)
    assert level["available"] == 9


async def test_inventory_set_skips_skus_the_store_does_not_list(
    connector: ShopifyConnector, app: ShopifySandbox
) -> None:
    (item, _), level = next(iter(sorted(app.state.levels.items())))
    sku = app.state.variants[app.state.item_to_variant[item]].sku
    push = model.InventoryPush(
        targets=[
            model.StockTarget(sku=sku, quantity=4),
            model.StockTarget(sku="SOLD-ELSEWHERE", quantity=7),
            # A prefix of a real SKU: Shopify's search may match it, the write must not.
            model.StockTarget(sku=sku[:-1], quantity=7),
        ]
    )
    result = await connector.write(
        RemoteWrite(kind="inventory.set", key="w-2", payload=msgspec.json.encode(push))
    )
    assert level["available"] == 4
    assert "2 SKUs not on this store" in result.summary
    assert "SOLD-ELSEWHERE" in result.summary


async def test_inventory_set_skips_items_not_stocked_at_the_location(
    connector: ShopifyConnector, app: ShopifySandbox
) -> None:
    state = app.state
    stocked_item, _ = next(iter(sorted(state.levels)))
    unstocked = next(
        v for v in state.variants.values() if (v.inventory_item_id, 1) not in state.levels and v.sku
    )
    stocked = state.variants[state.item_to_variant[stocked_item]]
    push = model.InventoryPush(
        targets=[model.StockTarget(unstocked.sku, 3), model.StockTarget(stocked.sku, 5)]
    )
    result = await connector.write(
        RemoteWrite(kind="inventory.set", key="w-u", payload=msgspec.json.encode(push))
    )
    # The rest of the batch lands; the unstocked item is named, not activated behind the
    # merchant's back, and does not fail the write.
    assert state.levels[(stocked_item, 1)]["available"] == 5
    assert (unstocked.inventory_item_id, 1) not in state.levels
    assert f"1 SKUs not stocked at the location: {unstocked.sku}" in result.summary


async def test_variant_without_sku_is_stocked_and_fulfilled_by_its_fallback_key(
    connector: ShopifyConnector, app: ShopifySandbox, http: httpx.AsyncClient
) -> None:
    variant = next(
        v for v in app.state.variants.values() if (v.inventory_item_id, 1) in app.state.levels
    )
    answer = await http.post(
        f"http://sandbox/_sandbox/products/{variant.product_id}",
        json={"variants": [{"id": variant.id, "sku": ""}]},
    )
    assert answer.status_code == 200
    key = mapping.fallback_sku("shop", gid("ProductVariant", variant.id))

    # Stock is set through the fallback key.
    push = model.InventoryPush(targets=[model.StockTarget(sku=key, quantity=11)])
    await connector.write(
        RemoteWrite(kind="inventory.set", key="w-3", payload=msgspec.json.encode(push))
    )
    assert app.state.levels[(variant.inventory_item_id, 1)]["available"] == 11

    # An order for it carries the same key, and its shipment is fulfilled by that key, once.
    placed = await http.post(
        "http://sandbox/_sandbox/orders",
        json={"lines": [{"variant_id": variant.id, "quantity": 2}]},
    )
    assert placed.status_code == 201
    order = max(app.state.orders.values(), key=lambda o: o.id)
    records = [r async for p in connector.read("orders", None) for r in p.records]
    node = next(r for r in records if r.key == gid("Order", order.id))
    canonical = mapping.order_from_wire(
        "shop", mapping.origin_of_shop(SHOP), msgspec.json.decode(node.body, type=wire.OrderNode)
    )
    assert [(line.sku, line.quantity) for line in canonical.lines] == [(key, 2)]
    write = fulfil("s-1", order, [(key, 2)], "JD0100")
    first = await connector.write(write)
    again = await connector.write(write)
    assert again.summary == "already fulfilled"
    assert again.remote_id == first.remote_id
    assert len(app.state.fulfillments) == 1
    assert app.state.orders[order.id].fulfillment == "FULFILLED"


async def test_fulfillment_write_is_idempotent_by_tracking_number(
    connector: ShopifyConnector, app: ShopifySandbox
) -> None:
    order = unfulfilled(app)
    line = order.lines[0]
    push = model.TrackingPush(
        store_order_id=gid("Order", order.id),
        shipment=model.Shipment(
            shipment_id="s-1",
            order_reference=order.name,
            lines=[model.ShipmentLine(sku=line.sku, quantity=line.quantity)],
            carrier="DHL",
            tracking_number="JD0001",
            tracking_url="https://dhl.example/JD0001",
            shipped_at=None,
        ),
    )
    write = RemoteWrite(kind="fulfillment.create", key="s-1", payload=msgspec.json.encode(push))
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
    assert fulfillment.notify_customer


async def test_fulfillment_of_unknown_sku_is_a_record_error(
    connector: ShopifyConnector, app: ShopifySandbox
) -> None:
    with pytest.raises(RecordError) as caught:
        await connector.write(fulfil("s", unfulfilled(app), [("NOPE", 1)], "X"))
    assert caught.value.reason == "remote_validation"
    assert app.state.fulfillments == {}


async def test_shipment_without_lines_is_refused(
    connector: ShopifyConnector, app: ShopifySandbox
) -> None:
    with pytest.raises(RecordError) as caught:
        await connector.write(fulfil("s", unfulfilled(app), [], "X"))
    assert caught.value.reason == "schema"


async def test_unknown_write_kind(connector: ShopifyConnector) -> None:
    with pytest.raises(RecordError) as caught:
        await connector.write(RemoteWrite(kind="product.delete", key="k", payload=b"{}"))
    assert caught.value.reason == "unsupported"


def product(**changes: object) -> wire.Product:
    variant: dict[str, object] = {
        "id": "gid://shopify/ProductVariant/7",
        "sku": "TEE-BLU-S",
        "barcode": "0123456789012",
        "title": "Blue / S",
        "updatedAt": "2026-01-05T10:00:00Z",
        "selectedOptions": [{"name": "Color", "value": "Blue"}, {"name": "Size", "value": "S"}],
        "inventoryItem": {
            "id": "gid://shopify/InventoryItem/70",
            "measurement": {"weight": {"value": 0.25, "unit": "KILOGRAMS"}},
        },
    }
    variant.update(changes)
    base = {
        "id": "gid://shopify/Product/3",
        "title": "Shirt",
        "status": "ACTIVE",
        "updatedAt": "2026-01-06T10:00:00Z",
        "featuredMedia": {"preview": {"image": {"url": "https://cdn.example/shirt.jpg"}}},
        "variants": {"pageInfo": {"hasNextPage": False}, "nodes": [variant]},
    }
    return msgspec.json.decode(msgspec.json.encode(base), type=wire.Product)


def test_variant_maps_to_item() -> None:
    (item,) = mapping.items_from_product("shop", product())
    assert item.name == "Shirt - Blue / S"
    assert item.sku == "TEE-BLU-S"
    assert item.weight is not None and item.weight.unit == "kg"
    assert item.weight.value == Decimal("0.25")
    assert item.barcode == "0123456789012"
    assert item.image_url == "https://cdn.example/shirt.jpg"
    assert item.store_item_id == "gid://shopify/ProductVariant/7"
    # The product's edit is the variant's too (its name comes from the product).
    assert item.updated_at == datetime(2026, 1, 6, 10, tzinfo=UTC)


def test_variant_without_sku_or_options() -> None:
    (item,) = mapping.items_from_product(
        "shop",
        product(sku="", selectedOptions=[{"name": "Title", "value": "Default Title"}], barcode=""),
    )
    assert item.sku == "shop:gid://shopify/ProductVariant/7"
    assert item.name == "Shirt"
    assert item.barcode is None


async def test_fetch_reads_named_orders_by_gid_or_name_as_the_stream_does(
    connector: ShopifyConnector, app: ShopifySandbox
) -> None:
    read = {r.key: r for p in [p async for p in connector.read("orders", None)] for r in p.records}
    first, second, third = sorted(app.state.orders.values(), key=lambda o: o.id)[:3]
    keys = [gid("Order", first.id), second.name, third.name.lstrip("#"), gid("Order", first.id)]
    page = await connector.fetch("orders", [*keys, "gid://shopify/Order/999999", "#99999"])
    by_key = {r.key: r for r in page.records}
    assert sorted(by_key) == sorted(gid("Order", o.id) for o in (first, second, third))
    assert len(page.records) == 3  # the GID asked twice is one record
    assert all(by_key[key] == read[key] for key in by_key)


async def test_fetch_keeps_only_exact_names(
    connector: ShopifyConnector, app: ShopifySandbox
) -> None:
    order = next(iter(app.state.orders.values()))
    prefix = order.name.lstrip("#")[:-1]  # no order is named so: a search by it matches none
    assert (await connector.fetch("orders", [prefix])).records == []
    with pytest.raises(ValueError, match="no 'products' by key"):
        await connector.fetch("products", ["gid://shopify/Product/1"])
