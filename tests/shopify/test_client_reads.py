"""Contract: the client's reads against the sandbox (incremental, filtered, paginated, paced)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import msgspec
import pytest

from connectors.errors import AuthFailed, ChannelFatal, RateLimited
from connectors.shopify import wire
from connectors.shopify.client import ShopifyClient
from connectors.shopify.sandbox import ShopifySandbox
from tests.shopify.conftest import RecordingGate, make_client


async def read_all_variants(client: ShopifyClient, since=None) -> list[wire.Variant]:  # type: ignore[no-untyped-def]
    out: list[wire.Variant] = []
    after = None
    while True:
        page = await client.variants_page(since, after)
        out.extend(msgspec.json.decode(raw, type=wire.Variant) for _, raw in page.nodes)
        if not page.has_next_page:
            return out
        after = page.end_cursor


async def test_variants_paginate_to_the_whole_catalog(
    client: ShopifyClient, app: ShopifySandbox, gate: RecordingGate
) -> None:
    variants = await read_all_variants(client)
    assert len(variants) == len(app.state.variants) == 40
    assert len({v.id for v in variants}) == 40
    # Paced by Shopify's cost: the first call estimates, later ones use what Shopify charged.
    assert gate.costs[0] == 902
    assert all(s.limit == 2000.0 for s in gate.signals)


async def test_variants_incremental_by_updated_at(
    client: ShopifyClient, app: ShopifySandbox
) -> None:
    stamps = sorted(v.updated_at for v in app.state.variants.values())
    since = stamps[len(stamps) // 2]
    variants = await read_all_variants(client, since)
    expected = {v.id for v in app.state.variants.values() if v.updated_at >= since}
    assert {int(v.id.rsplit("/", 1)[1]) for v in variants} == expected
    assert 0 < len(expected) < 40


async def test_product_change_is_read_again(
    client: ShopifyClient, app: ShopifySandbox, http: httpx.AsyncClient
) -> None:
    before = await read_all_variants(client)
    since = max(v.updated_at for v in before) + timedelta(seconds=1)
    assert await read_all_variants(client, since) == []
    product = next(iter(app.state.products.values()))
    app.state.epoch += timedelta(hours=1)  # the shopper edits an hour later
    response = await http.post(
        f"http://sandbox/_sandbox/products/{product.id}", json={"title": "Renamed"}
    )
    assert response.status_code == 200
    changed = await read_all_variants(client, since)
    assert {v.product.title for v in changed} == {"Renamed"}
    assert len(changed) == len(product.variant_ids)


async def test_orders_filtered_like_the_connector_asks(
    client: ShopifyClient, app: ShopifySandbox
) -> None:
    page = await client.orders_page(
        None, None, financial_status="paid", status="-cancelled", test=False
    )
    orders = [msgspec.json.decode(raw, type=wire.OrderNode) for _, raw in page.nodes]
    assert orders, "the seed has paid, open, non-test orders"
    for order in orders:
        assert order.display_financial_status == "PAID"
        assert order.cancelled_at is None
        assert not order.test
    seeded = [
        o
        for o in app.state.orders.values()
        if o.financial == "PAID" and o.cancelled_at is None and not o.test
    ]
    assert len(orders) == len(seeded)
    # Oldest change first, as the actor's cursor rule needs.
    assert [o.updated_at for o in orders] == sorted(o.updated_at for o in orders)


async def test_orders_fulfillment_status_filter(client: ShopifyClient) -> None:
    page = await client.orders_page(None, None, fulfillment_status="unfulfilled")
    statuses = {
        msgspec.json.decode(raw, type=wire.OrderNode).display_fulfillment_status
        for _, raw in page.nodes
    }
    assert statuses == {"UNFULFILLED"}


async def test_orders_carry_what_travels(client: ShopifyClient) -> None:
    page = await client.orders_page(None, None)
    orders = [msgspec.json.decode(raw, type=wire.OrderNode) for _, raw in page.nodes]
    assert any(o.note for o in orders)
    assert any(a.key == "gift_message" for o in orders for a in o.custom_attributes)
    order = orders[0]
    assert order.shipping_line is not None and order.shipping_line.title
    assert order.shipping_address is not None and order.shipping_address.country_code_v2 == "GB"
    assert all(line.sku and line.quantity > 0 for line in order.line_items.nodes)
    assert order.name.startswith("#")


async def test_orders_paginate(
    client: ShopifyClient, app: ShopifySandbox, http: httpx.AsyncClient
) -> None:
    sku = next(v.sku for v in app.state.variants.values() if v.sku)
    for _ in range(20):
        response = await http.post(
            "http://sandbox/_sandbox/orders", json={"lines": [{"sku": sku, "quantity": 1}]}
        )
        assert response.status_code == 201
    seen: list[str] = []
    after = None
    while True:
        page = await client.orders_page(None, after)
        seen.extend(stamp.id for stamp, _ in page.nodes)
        if not page.has_next_page:
            break
        after = page.end_cursor
    assert len(seen) == len(set(seen)) == len(app.state.orders) == 30


async def test_wrong_token_is_auth_failed(
    http: httpx.AsyncClient, gate: RecordingGate, app: ShopifySandbox
) -> None:
    client = make_client(http, gate, token="shpat_wrong")
    with pytest.raises(AuthFailed):
        await client.variants_page(None, None)
    response = await http.post(
        "https://sandbox-shop.myshopify.com/admin/api/2026-01/graphql.json",
        json={"query": "{ shop { name } }"},
    )
    assert response.status_code == 401
    assert response.json() == {
        "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
    }


async def test_unknown_version_is_fatal(http: httpx.AsyncClient, gate: RecordingGate) -> None:
    client = make_client(http, gate, version="2019-13")
    with pytest.raises(ChannelFatal):
        await client.variants_page(None, None)


async def test_throttled_answer_is_rate_limited_with_computed_wait(
    client: ShopifyClient, app: ShopifySandbox, gate: RecordingGate
) -> None:
    app.state.faults.throttle_burst = 1  # another app drained the bucket just now
    with pytest.raises(RateLimited) as caught:
        await client.variants_page(None, None)
    # (requested - currentlyAvailable) / restoreRate = (902 - 0) / 100
    assert caught.value.retry_after == pytest.approx(9.02)
    assert gate.signals[-1].retry_after == pytest.approx(9.02)
    assert app.state.counters["throttled"] == 1
