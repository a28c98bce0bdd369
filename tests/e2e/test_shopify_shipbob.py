"""Shopify storefront and ShipBob fulfillment, over the full daemon: every sync flow."""

from __future__ import annotations

from prometheus_client import generate_latest

from tests.e2e import flows
from tests.e2e.conftest import Shop
from tests.e2e.shopping import available, shipbob_sellable, stocked_sku


async def test_store_products_are_created_in_the_fulfillment_catalog(shop: Shop) -> None:
    await flows.products_created_at_shipbob(shop)


async def test_received_stock_reaches_the_store(shop: Shop) -> None:
    sku = await stocked_sku(shop, on_hand=37)
    assert available(shop, sku) == shipbob_sellable(shop, sku) > 0
    writes = shop.net.calls("POST", "/admin/api/2026-01/graphql.json")
    assert any(b"inventorySetQuantities" in e.body for e in writes)


async def test_an_order_is_imported_once_shipped_and_its_tracking_written(shop: Shop) -> None:
    sku = await stocked_sku(shop)
    order, created = await flows.imported(shop, sku, 2, gift_message="Happy birthday")
    assert created.shipping_method == "Ground"
    await flows.read_again_creates_nothing(shop, order)
    await flows.tracked_once(shop, order, sku, 2)


async def test_an_unmapped_method_holds_the_order_until_the_mapping_is_fixed(shop: Shop) -> None:
    mapped = {"Standard": {"ship_option": "Ground"}, "Express": {"ship_option": "2-Day"}}
    await flows.held_until_mapped(shop, "Express", mapped)


async def test_a_store_cancellation_cancels_the_fulfillment_order(shop: Shop) -> None:
    await flows.cancelled_in_the_store(shop)


async def test_metrics_count_calls_records_and_rate_budget(shop: Shop) -> None:
    await stocked_sku(shop)
    wanted = [
        'shelfsync_api_requests_total{channel="web",status="200"}',
        'shelfsync_api_requests_total{channel="fc",status="201"}',
        'shelfsync_api_request_duration_seconds_count{channel="fc"}',
        'shelfsync_records_synced_total{channel="fc",direction="in",stream="inventory"}',
        'shelfsync_records_synced_total{channel="web",direction="out",stream="inventory.set"}',
        'shelfsync_records_synced_total{channel="fc",direction="out",stream="product.create"}',
        'shelfsync_rate_limit_remaining_ratio{channel="web"}',
        "shelfsync_propagation_seconds_count 1.0",
    ]

    def missing() -> list[str]:
        text = generate_latest(shop.daemon.metrics.registry).decode()
        return [series for series in wanted if series not in text]

    # The store shows the quantity before the actor has recorded its write as done.
    await shop.until(lambda: not missing())
    ratio = shop.daemon.metrics.rate_limit_remaining.labels("web")._value.get()
    assert 0 < ratio <= 1
