"""Shopify storefront and ShipBob fulfillment, over the full daemon: every sync flow."""

from __future__ import annotations

from prometheus_client import generate_latest

from tests.e2e.conftest import Shop
from tests.e2e.shopping import (
    available,
    cancel,
    decision,
    place,
    ship,
    shipbob_order,
    shipbob_sellable,
    shipbob_skus,
    shipment,
    stocked_sku,
    store_skus,
    trackings,
)


async def test_store_products_are_created_in_the_fulfillment_catalog(shop: Shop) -> None:
    wanted = store_skus(shop)
    await shop.until(lambda: wanted <= shipbob_skus(shop))
    created = shop.net.calls("POST", "/2026-01/product")
    assert len(created) >= len(wanted)


async def test_received_stock_reaches_the_store(shop: Shop) -> None:
    sku = await stocked_sku(shop, on_hand=37)
    assert available(shop, sku) == shipbob_sellable(shop, sku) > 0
    writes = shop.net.calls("POST", "/admin/api/2026-01/graphql.json")
    assert any(b"inventorySetQuantities" in e.body for e in writes)


async def test_an_order_is_imported_once_shipped_and_its_tracking_written(shop: Shop) -> None:
    sku = await stocked_sku(shop)
    order = await place(shop, sku, 2, gift_message="Happy birthday")
    await shop.sync("web", "orders")
    await shop.until(lambda: shipbob_order(shop, order) is not None)
    created = shipbob_order(shop, order)
    assert created.shipping_method == "Ground"
    assert [(p.sku, p.quantity) for p in created.products] == [(sku, 2)]
    assert created.gift_message == "Happy birthday"
    assert created.order_number == order.number
    creates = len(shop.net.calls("POST", "/2026-01/order"))

    # Read again (a redelivered webhook, a scheduled run): still one fulfillment order.
    await shop.sync("web", "orders")
    assert len(shop.net.calls("POST", "/2026-01/order")) == creates

    await ship(shop, order, shipment(sku, 2, "1Z9"))
    await shop.until(lambda: trackings(shop, order) == ["1Z9"])
    assert shop.store().fulfilled(order)
    shipments = shop.shipbob.state.orders[created.id].shipments
    await shop.until(lambda: all(s.is_tracking_uploaded for s in shipments))
    await shop.sync("fc", "shipments")
    assert trackings(shop, order) == ["1Z9"]


async def test_an_unmapped_method_holds_the_order_until_the_mapping_is_fixed(shop: Shop) -> None:
    sku = await stocked_sku(shop)
    order = await place(shop, sku, shipping="Express")
    await shop.sync("web", "orders")
    await shop.until(lambda: decision(shop, order) == "held:unmapped_ship_method")
    held = shop.daemon.metrics.orders_held.labels("web", "unmapped_ship_method")
    assert held._value.get() >= 1
    assert shipbob_order(shop, order) is None

    await shop.rewrite_config(
        ship_methods={"Standard": {"ship_option": "Ground"}, "Express": {"ship_option": "2-Day"}}
    )
    await shop.until(lambda: shipbob_order(shop, order) is not None)
    assert shipbob_order(shop, order).shipping_method == "2-Day"
    assert decision(shop, order) == "imported:None"


async def test_a_store_cancellation_cancels_the_fulfillment_order(shop: Shop) -> None:
    sku = await stocked_sku(shop)
    order = await place(shop, sku)
    await shop.sync("web", "orders")
    await shop.until(lambda: shipbob_order(shop, order) is not None)
    await cancel(shop, order)
    await shop.sync("web", "orders")
    await shop.until(lambda: shipbob_order(shop, order).status == "Cancelled")
    assert decision(shop, order) == "cancelled:cancelled in the store"


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
