"""The ShipBob client against the sandbox: each endpoint the flows use, and its errors."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx
import pytest
import trio

from connectors.errors import AuthFailed, RateLimited, RecordError
from connectors.model import Dimensions, InventoryLevel, Item, Weight
from connectors.sandbox_server import serve_app
from connectors.shipbob import mapping
from connectors.shipbob.client import ShipBobClient
from connectors.shipbob.sandbox import SANDBOX_TOKEN, SandboxApp
from connectors.shipbob.wire import CreateProductRequest, CreateVariantRequest
from daemon.credentials import Secret
from tests.shipbob.conftest import RecordingGate, make_client, order_request


async def ship(http: httpx.AsyncClient, order_id: int, *shipments: dict[str, object]) -> None:
    response = await http.post(
        "http://shipbob.test/_sandbox/ship",
        json={"order_id": order_id, "shipments": list(shipments)},
    )
    assert response.status_code == 200, response.text


async def test_create_order_returns_processing_order(
    client: ShipBobClient, gate: RecordingGate
) -> None:
    created = await client.create_order(order_request("web-1"))
    assert not created.already_existed
    assert created.order.reference_id == "web-1"
    assert created.order.status == "Processing"
    assert [p.sku for p in created.order.products] == ["SKU-0001", "SKU-0002"]
    assert gate.calls == 1
    assert gate.signals[-1].remaining == 149


async def test_duplicate_create_resolves_to_the_existing_order(
    client: ShipBobClient, app: SandboxApp
) -> None:
    first = await client.create_order(order_request("web-2"))
    again = await client.create_order(order_request("web-2"))
    assert again.already_existed
    assert again.order.id == first.order.id
    assert [o.reference_id for o in app.state.orders.values()] == ["web-2"]


async def test_lookup_by_reference(client: ShipBobClient) -> None:
    created = await client.create_order(order_request("web-3"))
    found = await client.get_order_by_reference("web-3")
    assert found is not None and found.id == created.order.id
    assert await client.get_order_by_reference("web-404") is None


async def test_cancel_before_and_after_shipping(
    client: ShipBobClient, http: httpx.AsyncClient
) -> None:
    open_order = (await client.create_order(order_request("web-4"))).order
    result = await client.cancel_order(open_order.id)
    assert result.status == "Success"
    assert result.order is not None and result.order.status == "Cancelled"

    shipped = (await client.create_order(order_request("web-5", "SKU-0003"))).order
    await ship(
        http,
        shipped.id,
        {
            "products": [{"sku": "SKU-0003", "quantity": 2}],
            "carrier": "USPS",
            "tracking_number": "9400",
        },
    )
    with pytest.raises(RecordError, match="cannot be cancelled") as caught:
        await client.cancel_order(shipped.id)
    assert caught.value.reason == "remote_validation"


async def test_products_pagination_is_complete(client: ShipBobClient, app: SandboxApp) -> None:
    products = await client.list_products(page_size=4)
    assert sorted(p.id for p in products) == sorted(app.state.products)
    skus = [v.sku for p in products for v in p.variants]
    assert len(skus) == len(set(skus)) == 30


async def test_create_product_in_ounces_and_inches(client: ShipBobClient) -> None:
    item = Item(
        channel="web",
        store_item_id="77",
        sku="NEW-1",
        name="Mug - Blue",
        weight=Weight(value=Decimal(454), unit="g"),
        dimensions=Dimensions(
            length=Decimal("25.4"), width=Decimal("12.7"), height=Decimal("2.54"), unit="cm"
        ),
    )
    created = await client.create_product(mapping.product_request(item))
    assert not created.already_existed
    variant = created.product.variants[0]
    assert variant.sku == "NEW-1"
    assert variant.weight is not None and variant.weight.weight == pytest.approx(16.0, abs=0.02)
    assert variant.dimension is not None
    assert (variant.dimension.length, variant.dimension.width, variant.dimension.height) == (
        10,
        5,
        1,
    )
    # A retry after a lost reply: ShipBob's 422 "already exists" → the product holding it.
    again = await client.create_product(mapping.product_request(item))
    assert again.already_existed and again.product.id == created.product.id
    # Two variants of one SKU in one request are refused, not mistaken for a retry.
    with pytest.raises(RecordError, match="already exists"):
        await client.create_product(
            CreateProductRequest(
                name="x",
                variants=[
                    CreateVariantRequest(name="x", sku="NEW-2"),
                    CreateVariantRequest(name="y", sku="NEW-2"),
                ],
            )
        )


async def test_inventory_per_fulfillment_center_maps_to_levels(
    client: ShipBobClient, app: SandboxApp
) -> None:
    by_location = await client.inventory_levels_by_location(page_size=7)
    totals = {t.inventory_id: t for t in await client.inventory_totals(page_size=9)}
    assert len(by_location) == len(totals) == 30
    first = by_location[0]
    stock = app.state.stock[first.inventory_id]
    levels = mapping.inventory_levels("shipbob", first, totals[first.inventory_id])
    assert levels == [
        InventoryLevel(
            sku=stock.sku,
            location="10",
            fulfillable=stock.on_hand[10] - stock.committed[10],
            on_hand=stock.on_hand[10],
            committed=stock.committed[10],
        ),
        InventoryLevel(
            sku=stock.sku,
            location="28",
            fulfillable=stock.on_hand[28] - stock.committed[28],
            on_hand=stock.on_hand[28],
            committed=stock.committed[28],
        ),
        InventoryLevel(
            sku=stock.sku,
            location="network",
            fulfillable=0,
            on_hand=0,
            committed=0,
            exception=stock.exception,
        ),
    ]


async def test_split_shipments_then_mark_tracking_uploaded(
    client: ShipBobClient, http: httpx.AsyncClient
) -> None:
    order = (await client.create_order(order_request("web-6", "SKU-0004", "SKU-0005"))).order
    await client.create_order(order_request("web-7", "SKU-0006"))  # never shipped: not listed
    await ship(
        http,
        order.id,
        {
            "products": [{"sku": "SKU-0004", "quantity": 2}],
            "carrier": "USPS",
            "tracking_number": "T-1",
        },
        {
            "products": [{"reference_id": "SKU-0005", "quantity": 1}],
            "carrier": "UPS",
            "tracking_number": "T-2",
        },
    )
    pending = await client.list_orders_needing_tracking()
    assert [o.id for o in pending] == [order.id]
    assert pending[0].status == "PartiallyFulfilled"
    shipments = mapping.shipments(pending[0])
    assert [
        (s.carrier, s.tracking_number, [(line.sku, line.quantity) for line in s.lines])
        for s in shipments
    ] == [
        ("USPS", "T-1", [("SKU-0004", 2)]),
        ("UPS", "T-2", [("SKU-0005", 1)]),
    ]
    assert all(s.order_reference == "web-6" for s in shipments)

    result = await client.mark_tracking_uploaded([int(s.shipment_id) for s in shipments])
    assert result.summary is not None and result.summary.successful == 2
    assert await client.list_orders_needing_tracking() == []


async def test_orders_pagination_follows_next_page_header(
    client: ShipBobClient, http: httpx.AsyncClient
) -> None:
    ids = []
    for n in range(7):
        order = (await client.create_order(order_request(f"web-p{n}", "SKU-0007"))).order
        await ship(
            http,
            order.id,
            {
                "products": [{"sku": "SKU-0007", "quantity": 2}],
                "carrier": "USPS",
                "tracking_number": f"P{n}",
            },
        )
        ids.append(order.id)
    pages = [
        [raw.order.id for raw in page] async for page in client.orders_needing_tracking(limit=3)
    ]
    assert pages == [ids[0:3], ids[3:6], ids[6:7]]


async def test_list_channels(client: ShipBobClient) -> None:
    channels = await client.list_channels()
    assert [c.id for c in channels] == [4007]


async def test_wrong_token_is_auth_failed(http: httpx.AsyncClient, gate: RecordingGate) -> None:
    client = make_client(http, gate, token="not-the-token")
    with pytest.raises(AuthFailed):
        await client.list_channels()
    assert "not-the-token" not in repr(client.__dict__)


async def test_throttled_call_is_rate_limited_with_the_wait(
    client: ShipBobClient, http: httpx.AsyncClient, gate: RecordingGate
) -> None:
    await http.post("http://shipbob.test/_sandbox/faults", json={"throttle_burst": 1})
    with pytest.raises(RateLimited) as caught:
        await client.list_channels()
    assert caught.value.retry_after == 1.0
    assert gate.signals[-1].retry_after == 1.0 and gate.signals[-1].remaining == 0
    assert await client.list_channels()


async def test_validation_error_carries_shipbobs_message(client: ShipBobClient) -> None:
    request = order_request("web-8")
    request.recipient.address.city = ""
    expected = re.escape("recipient.address.city: The recipient.address.city field is required")
    with pytest.raises(RecordError, match=expected) as caught:
        await client.create_order(request)
    assert caught.value.reason == "remote_validation"


async def test_missing_channel_header_is_refused(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "http://shipbob.test/2026-01/order",
        json={},
        headers={"Authorization": "Bearer shipbob-sandbox-token"},
    )
    assert response.status_code == 403


async def test_over_real_loopback_http(app: SandboxApp, gate: RecordingGate) -> None:
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        url = await serve_app(nursery, app, "127.0.0.1", 0, stop)
        async with httpx.AsyncClient() as http:
            client = ShipBobClient(http, url, Secret(SANDBOX_TOKEN), 4007, gate)
            created = await client.create_order(order_request("web-loop"))
            again = await client.create_order(order_request("web-loop"))
            assert again.already_existed and again.order.id == created.order.id
            assert len(await client.list_products(page_size=5)) == len(app.state.products)
        stop.set()


async def test_business_rule_422_carries_shipbobs_message(client: ShipBobClient) -> None:
    request = order_request("web-b2b")
    request.type = "B2B"
    with pytest.raises(RecordError, match="B2B orders need retailer_program_data") as caught:
        await client.create_order(request)
    assert caught.value.reason == "remote_validation"
    assert "422" in str(caught.value)
