"""Contract: the client's reads against the sandbox (incremental, filtered, paginated, paced)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import msgspec
import pytest
import trio
import trio.testing

from connectors.base import RateSignal
from connectors.errors import AuthFailed, ChannelFatal, RateLimited
from connectors.shopify import wire
from connectors.shopify.client import THROTTLE_RETRIES, ShopifyClient
from connectors.shopify.sandbox import ShopifySandbox
from tests.shopify.conftest import RecordingGate, make_client


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


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


async def test_persistent_throttle_is_rate_limited_with_computed_wait(
    client: ShopifyClient, app: ShopifySandbox, gate: RecordingGate
) -> None:
    # Another app drains the bucket before every attempt, the re-sends included.
    app.state.faults.throttle_burst = THROTTLE_RETRIES + 1
    with pytest.raises(RateLimited) as caught:
        await client.variants_page(None, None)
    # (requested - currentlyAvailable) / restoreRate = (902 - 0) / 100
    assert caught.value.retry_after == pytest.approx(9.02)
    assert gate.signals[-1].retry_after == pytest.approx(9.02)
    assert app.state.counters["throttled"] == THROTTLE_RETRIES + 1
    assert len(gate.costs) == THROTTLE_RETRIES + 1


class WaitingGate(RecordingGate):
    """A RecordingGate whose ``before_call`` sleeps out the latest ``retry_after`` it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.pending = 0.0
        self.waited = 0.0

    async def before_call(self, cost: float = 1.0) -> None:
        await super().before_call(cost)
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
    page = await client.variants_page(None, None)
    assert page.nodes
    assert app.state.counters["throttled"] == 1
    assert len(gate.costs) == 2  # the gate was asked again before the re-send
    assert gate.waited == pytest.approx(9.02)
