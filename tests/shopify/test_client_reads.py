"""Contract: the client's reads against the sandbox (incremental, filtered, paginated, paced)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import httpx
import msgspec
import pytest
import trio
import trio.testing

from connectors.base import RateSignal
from connectors.errors import AuthFailed, ChannelFatal, RateLimited
from connectors.shopify import queries, wire
from connectors.shopify.client import THROTTLE_RETRIES, ShopifyClient
from connectors.shopify.sandbox import ShopifySandbox
from connectors.shopify.sandbox_state import gid
from tests.shopify.conftest import RecordingGate, make_client


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


async def read_all_products(client: ShopifyClient, since=None) -> list[wire.Product]:  # type: ignore[no-untyped-def]
    out: list[wire.Product] = []
    after = None
    while True:
        page = await client.products_page(since, after)
        out.extend(msgspec.json.decode(raw, type=wire.Product) for _, raw in page.nodes)
        if not page.has_next_page:
            return out
        after = page.end_cursor


async def test_products_paginate_to_the_whole_catalog(
    client: ShopifyClient, app: ShopifySandbox, gate: RecordingGate
) -> None:
    products = await read_all_products(client)
    assert len(products) == len(app.state.products)
    variants = [v.id for p in products for v in p.variants.nodes]
    assert len(variants) == len(set(variants)) == len(app.state.variants) == 40
    # Oldest change first: the order the actor's cursor rule needs.
    assert [p.updated_at for p in products] == sorted(p.updated_at for p in products)
    # Paced by Shopify's cost: the first call estimates, later ones use what Shopify charged.
    assert gate.costs[0] == 954
    assert all(s.limit == 2000.0 for s in gate.signals)


async def test_products_incremental_by_updated_at(
    client: ShopifyClient, app: ShopifySandbox
) -> None:
    stamps = sorted(p.updated_at for p in app.state.products.values())
    since = stamps[len(stamps) // 2]
    products = await read_all_products(client, since)
    expected = {p.id for p in app.state.products.values() if p.updated_at >= since}
    assert {int(p.id.rsplit("/", 1)[1]) for p in products} == expected
    assert 0 < len(expected) < len(app.state.products)


async def test_product_change_is_read_again(
    client: ShopifyClient, app: ShopifySandbox, http: httpx.AsyncClient
) -> None:
    before = await read_all_products(client)
    since = max(p.updated_at for p in before) + timedelta(seconds=1)
    assert await read_all_products(client, since) == []
    product = next(iter(app.state.products.values()))
    app.state.epoch += timedelta(hours=1)  # the shopper edits an hour later
    response = await http.post(
        f"http://sandbox/_sandbox/products/{product.id}", json={"title": "Renamed"}
    )
    assert response.status_code == 200
    (changed,) = await read_all_products(client, since)
    assert changed.title == "Renamed"
    assert len(changed.variants.nodes) == len(product.variant_ids)


async def test_product_with_more_variants_than_a_page_is_read_whole(
    client: ShopifyClient, app: ShopifySandbox, gate: RecordingGate
) -> None:
    product = next(iter(app.state.products.values()))
    template = app.state.variants[product.variant_ids[0]]
    for n in range(queries.PRODUCT_VARIANTS_PAGE_SIZE + queries.MORE_VARIANTS_PAGE_SIZE + 5):
        variant_id = app.state.next_id("ProductVariant")
        item_id = app.state.next_id("InventoryItem")
        app.state.variants[variant_id] = dataclasses.replace(
            template,
            id=variant_id,
            inventory_item_id=item_id,
            sku=f"MANY-{n}",
            options=[("Size", str(n))],
        )
        app.state.item_to_variant[item_id] = variant_id
        product.variant_ids.append(variant_id)
    products = await read_all_products(client)
    (whole,) = [p for p in products if p.id == gid("Product", product.id)]
    assert [v.id for v in whole.variants.nodes] == [
        gid("ProductVariant", i) for i in product.variant_ids
    ]
    assert whole.variants.page_info.has_next_page is False
    operations = [entry["operation"] for entry in app.state.request_log]
    assert operations.count("MoreVariants") == 2


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
        await client.products_page(None, None)
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
        await client.products_page(None, None)


async def test_persistent_throttle_is_rate_limited_with_computed_wait(
    client: ShopifyClient, app: ShopifySandbox, gate: RecordingGate
) -> None:
    # Another app drains the bucket before every attempt, the re-sends included.
    app.state.faults.throttle_burst = THROTTLE_RETRIES + 1
    with pytest.raises(RateLimited) as caught:
        await client.products_page(None, None)
    # (requested - currentlyAvailable) / restoreRate = (954 - 0) / 100
    assert caught.value.retry_after == pytest.approx(9.54)
    assert gate.signals[-1].retry_after == pytest.approx(9.54)
    assert app.state.counters["throttled"] == THROTTLE_RETRIES + 1
    assert len(gate.costs) == THROTTLE_RETRIES + 1


class WaitingGate(RecordingGate):
    """A RecordingGate whose calls sleep out the latest ``retry_after`` it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.pending = 0.0
        self.waited = 0.0

    async def let_through(self, cost: float) -> None:
        await super().let_through(cost)
        wait, self.pending = self.pending, 0.0
        self.waited += wait
        await trio.sleep(wait)

    def observe(self, signal: RateSignal) -> None:
        super().observe(signal)
        if signal.retry_after is not None:
            self.pending = signal.retry_after


async def test_throttled_answer_is_sent_again_after_the_gate(
    http: httpx.AsyncClient, app: ShopifySandbox, autojump_clock: trio.testing.MockClock
) -> None:
    gate = WaitingGate()
    client = make_client(http, gate)
    app.state.faults.throttle_burst = 1  # another app drained the bucket just now
    page = await client.products_page(None, None)
    assert page.nodes
    assert app.state.counters["throttled"] == 1
    assert len(gate.costs) == 2  # the gate was asked again before the re-send
    assert gate.waited == pytest.approx(9.54)
