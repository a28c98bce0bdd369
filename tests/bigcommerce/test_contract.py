"""Contract: every call the BigCommerce client makes, against the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import msgspec
import pytest

from connectors.base import RateSignal
from connectors.bigcommerce import wire
from connectors.bigcommerce.client import BigCommerceClient, TrackingMismatch, rate_signal
from connectors.bigcommerce.sandbox import STORE_HASH, SandboxApp
from connectors.errors import AuthFailed, ChannelFatal, RecordError
from daemon.credentials import Secret
from tests.bigcommerce.conftest import BASE_URL, RecordingGate, open_order


async def test_products_page_carries_variants_images_and_rate_headers(
    client: BigCommerceClient, app: SandboxApp, gate: RecordingGate
) -> None:
    records = await client.products_page(None, limit=5)
    assert len(records) == 5
    product = msgspec.json.decode(records[0][1], type=wire.Product)
    assert product.variants and product.id == records[0][0].id
    stamps = [s.date_modified for s, _ in records]
    assert stamps == sorted(stamps)
    assert gate.calls == 1
    assert gate.signals == [RateSignal(remaining=149.0, limit=150.0, reset_after=30.0)]


async def test_products_page_since_is_inclusive(client: BigCommerceClient, app: SandboxApp) -> None:
    products = sorted(app.state.products.values(), key=lambda p: (p.date_modified, p.id))
    pivot = products[10].date_modified
    records = await client.products_page(pivot)
    assert {s.id for s, _ in records} == {p.id for p in products if p.date_modified >= pivot}
    within = await client.products_page(pivot, products[10].id)
    assert [s.id for s, _ in within] == [
        p.id for p in products if p.date_modified == pivot and p.id > products[10].id
    ]


async def test_products_tracking_and_inventory_items(
    client: BigCommerceClient, app: SandboxApp
) -> None:
    skus = [v.sku for _, v in app.state.variants() if v.sku][:7]
    items = await client.inventory_items("sku", [s.lower() for s in skus], 1)
    assert sorted(i.identity.sku for i in items) == sorted(skus)  # SKUs compare without case
    tracking = await client.products_tracking([i.identity.product_id or 0 for i in items])
    assert {p.id: p.inventory_tracking for p in tracking} == {
        p.id: p.inventory_tracking
        for p in app.state.products.values()
        if p.id in {i.identity.product_id for i in items}
    }


async def test_set_absolute_and_tracking_mismatch(
    client: BigCommerceClient, app: SandboxApp
) -> None:
    product, variant = next(
        (p, v) for p, v in app.state.variants() if p.inventory_tracking == "variant" and v.sku
    )
    result = await client.set_absolute(
        [wire.AdjustmentItem(location_id=1, quantity=42, sku=variant.sku)], reason="test"
    )
    assert len(result.transaction_id) == 32
    assert app.state.level(product, variant) == 42
    by_product = next(p for p in app.state.products.values() if p.inventory_tracking == "product")
    with pytest.raises(TrackingMismatch, match="tracked by product"):
        await client.set_absolute(
            [wire.AdjustmentItem(location_id=1, quantity=1, variant_id=by_product.variants[0].id)],
            reason="test",
        )


async def test_orders_page_one_status_and_the_empty_204(
    client: BigCommerceClient, app: SandboxApp
) -> None:
    same_second = await client.orders_page(
        11, next(iter(app.state.orders.values())).date_modified, 0
    )
    assert [s.id for s, _ in same_second] == [next(iter(app.state.orders))]
    orders = await client.orders_page(11, None)
    assert {s.id for s, _ in orders} == {
        o.id for o in app.state.orders.values() if o.status_id == 11
    }
    assert await client.orders_page(14, None) == []  # nothing Partially Refunded: 204
    later = datetime.now(UTC) + timedelta(days=1)
    assert await client.orders_page(11, later) == []


async def test_order_products_addresses_and_shipments(
    client: BigCommerceClient, app: SandboxApp
) -> None:
    order = open_order(app)
    lines = msgspec.json.decode(await client.order_products(order.id), type=list[wire.OrderProduct])
    assert [line.id for line in lines] == [p.id for p in order.products]
    addresses = msgspec.json.decode(
        await client.order_shipping_addresses(order.id), type=list[wire.ShippingAddress]
    )
    assert [a.id for a in addresses] == [order.addresses[0].id]
    assert await client.order_shipments(order.id) == []  # none yet: 204
    request = wire.CreateShipment(
        order_address_id=addresses[0].id,
        items=[wire.ShipmentItem(lines[0].id, lines[0].quantity)],
        tracking_number="1Z1",
        shipping_provider="ups",
    )
    created = await client.create_shipment(order.id, request)
    assert [s.id for s in await client.order_shipments(order.id)] == [created.id]
    assert created.items == request.items


async def test_shipment_refusals_are_record_errors(
    client: BigCommerceClient, app: SandboxApp
) -> None:
    order = open_order(app)
    line = order.products[0]
    too_many = wire.CreateShipment(
        order_address_id=line.order_address_id,
        items=[wire.ShipmentItem(line.id, line.quantity + 1)],
        tracking_number="1Z2",
    )
    with pytest.raises(RecordError, match="greater than the quantity") as caught:
        await client.create_shipment(order.id, too_many)
    assert caught.value.reason == "remote_validation"
    with pytest.raises(RecordError) as missing:
        await client.order_shipments(99_999)
    assert missing.value.reason == "not_found"


async def test_hooks_crud(client: BigCommerceClient) -> None:
    request = wire.HookRequest(
        scope="store/order/*",
        destination="https://shelfsync.example/webhooks/bc",
        headers={"X-Shelfsync-Webhook-Secret": "s" * 20},
    )
    hook = await client.create_hook(request)
    assert hook.headers == request.headers and hook.is_active
    assert [h.id for h in await client.list_hooks()] == [hook.id]
    off = msgspec.structs.replace(request, is_active=False)
    assert (await client.update_hook(hook.id, off)).is_active is False
    assert (await client.delete_hook(hook.id)).id == hook.id
    assert await client.list_hooks() == []
    with pytest.raises(RecordError, match="BigCommerce refused \\(422\\)"):
        await client.create_hook(
            wire.HookRequest(scope="store/order/*", destination="http://x.example")
        )


async def test_bad_token_is_auth_failed(http: httpx.AsyncClient) -> None:
    bad = BigCommerceClient(http, BASE_URL, STORE_HASH, Secret("wrong"), RecordingGate())
    with pytest.raises(AuthFailed, match="401"):
        await bad.products_page(None)
    with pytest.raises(AuthFailed, match="401"):
        await bad.orders_page(11, None)


async def test_page_size_above_the_maximum_is_fatal(client: BigCommerceClient) -> None:
    with pytest.raises(ChannelFatal, match="413"):
        await client.products_page(None, limit=251)


async def test_a_next_link_to_another_host_is_not_followed(app: SandboxApp) -> None:
    def elsewhere(request: httpx.Request) -> httpx.Response:
        body = {
            "data": [{"identity": {"sku": "A", "variant_id": 1, "product_id": 1}}],
            "meta": {"pagination": {"links": {"next": "https://evil.example/steal?page=2"}}},
        }
        return httpx.Response(200, json=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(elsewhere)) as http:
        bc = BigCommerceClient(http, BASE_URL, STORE_HASH, Secret("t"), RecordingGate())
        with pytest.raises(RecordError, match=r"refusing to follow a link off 127\.0\.0\.1"):
            await bc.inventory_items("sku", ["A"], 1)


def test_rate_signal_reads_the_window_headers() -> None:
    headers = {
        "X-Rate-Limit-Time-Window-Ms": "30000",
        "X-Rate-Limit-Time-Reset-Ms": "15000",
        "X-Rate-Limit-Requests-Quota": "150",
        "X-Rate-Limit-Requests-Left": "0",
        "X-Retry-After": "15",
    }
    throttled = rate_signal(httpx.Response(429, headers=headers))
    assert (throttled.remaining, throttled.limit, throttled.reset_after, throttled.retry_after) == (
        0.0,
        150.0,
        15.0,
        15.0,
    )
    assert rate_signal(httpx.Response(200, headers=headers)).retry_after is None
    assert rate_signal(httpx.Response(429)).reset_after is None  # overload: no window known
