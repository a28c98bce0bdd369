"""Shopify storefront and ShipBob fulfillment, over the full daemon: every sync flow."""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest

from connectors.shopify.sandbox_state import LOCATION_ID
from daemon.control import ControlRequest
from tests.e2e.conftest import SHOP, Shop
from tests.e2e.shopping import (
    decision,
    place,
    shipbob_order,
    shipbob_sellable,
    shipbob_skus,
    shopify_available,
    shopify_skus,
    stocked_sku,
)


async def test_store_products_are_created_in_the_fulfillment_catalog(shop: Shop) -> None:
    wanted = shopify_skus(shop)
    await shop.until(lambda: wanted <= shipbob_skus(shop))
    created = shop.net.calls("POST", "/2026-01/product")
    assert len(created) >= len(wanted)


async def test_received_stock_reaches_the_store(shop: Shop) -> None:
    sku = await stocked_sku(shop, on_hand=37)
    assert shopify_available(shop, sku) == shipbob_sellable(shop, sku) > 0
    writes = shop.net.calls("POST", "/admin/api/2026-01/graphql.json")
    assert any(b"inventorySetQuantities" in e.body for e in writes)


async def test_an_order_is_imported_once_shipped_and_its_tracking_written(shop: Shop) -> None:
    sku = await stocked_sku(shop)
    order_id = await place(shop, sku, 2, gift_message="Happy birthday")
    await shop.sync("web", "orders")
    await shop.until(lambda: shipbob_order(shop, order_id) is not None)
    created = shipbob_order(shop, order_id)
    assert created.shipping_method == "Ground"
    assert [(p.sku, p.quantity) for p in created.products] == [(sku, 2)]
    assert created.gift_message == "Happy birthday"
    assert created.order_number == f"#{order_id}"
    creates = len(shop.net.calls("POST", "/2026-01/order"))

    # Read again (a redelivered webhook, a scheduled run): still one fulfillment order.
    await shop.sync("web", "orders")
    assert len(shop.net.calls("POST", "/2026-01/order")) == creates

    shipped = await shop.http.post(
        "http://shipbob.test/_sandbox/ship",
        json={
            "order_id": created.id,
            "shipments": [{"products": [{"sku": sku, "quantity": 2}], "tracking_number": "1Z9"}],
        },
    )
    assert shipped.status_code == 200, shipped.text
    await shop.sync("fc", "shipments")
    state = shop.shopify.state

    def fulfillments() -> list[Any]:
        return [f for f in state.fulfillments.values() if f.order_id == order_id]

    await shop.until(lambda: len(fulfillments()) == 1)
    assert fulfillments()[0].tracking["number"] == "1Z9"
    assert state.orders[order_id].fulfillment == "FULFILLED"
    shipments = shop.shipbob.state.orders[created.id].shipments
    await shop.until(lambda: all(s.is_tracking_uploaded for s in shipments))
    await shop.sync("fc", "shipments")
    assert len(fulfillments()) == 1


async def test_an_unmapped_method_holds_the_order_until_the_mapping_is_fixed(shop: Shop) -> None:
    sku = await stocked_sku(shop)
    order_id = await place(shop, sku, shipping="Express")
    await shop.sync("web", "orders")
    await shop.until(lambda: decision(shop, order_id) == "held:unmapped_ship_method")
    held = shop.daemon.metrics.orders_held.labels("web", "unmapped_ship_method")
    assert held._value.get() >= 1
    assert shipbob_order(shop, order_id) is None

    await shop.rewrite_config(
        ship_methods={"Standard": {"ship_option": "Ground"}, "Express": {"ship_option": "2-Day"}}
    )
    await shop.until(lambda: shipbob_order(shop, order_id) is not None)
    assert shipbob_order(shop, order_id).shipping_method == "2-Day"
    assert decision(shop, order_id) == "imported:None"


async def test_a_store_cancellation_cancels_the_fulfillment_order(shop: Shop) -> None:
    sku = await stocked_sku(shop)
    order_id = await place(shop, sku)
    await shop.sync("web", "orders")
    await shop.until(lambda: shipbob_order(shop, order_id) is not None)
    cancelled = await shop.http.post(f"https://{SHOP}/_sandbox/orders/{order_id}/cancel", json={})
    assert cancelled.status_code == 200, cancelled.text
    await shop.sync("web", "orders")
    await shop.until(lambda: shipbob_order(shop, order_id).status == "Cancelled")
    assert decision(shop, order_id) == "cancelled:cancelled in the store"


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


async def test_a_reconcile_corrects_a_store_that_drifted_and_counts_the_units(shop: Shop) -> None:
    sku = await stocked_sku(shop)
    expected = shipbob_sellable(shop, sku)
    # A merchant edits the stock in the store's admin: no webhook, no change at the provider.
    state = shop.shopify.state
    variant = next(v for v in state.variants.values() if v.sku == sku)
    state.levels[(variant.inventory_item_id, LOCATION_ID)]["available"] = expected + 7
    drift = shop.daemon.metrics.inventory_drift.labels("web")
    await shop.until(lambda: shopify_available(shop, sku) == expected and drift._value.get() >= 7)
    assert drift._value.get() == 7


async def test_ctl_import_reports_per_order_what_happened(shop: Shop) -> None:
    sku = await stocked_sku(shop)
    fresh = await place(shop, sku)
    unpaid = await place(shop, sku, paid=False)
    unmapped = await place(shop, sku, shipping="Overnight")
    done = await place(shop, sku)
    await shop.sync("web", "orders")
    assert decision(shop, done) == "imported:None"
    fresh_number = f"#{fresh}"  # an operator may name an order by its number
    wanted = [fresh_number, f"gid://shopify/Order/{unpaid}", f"gid://shopify/Order/{unmapped}"]
    # ``fresh`` was read too by the sync above; place one more the import itself reads.
    late = await place(shop, sku)
    wanted += [f"#{late}", f"gid://shopify/Order/{done}", "#999999"]
    answer = await shop.daemon.handle_control(
        ControlRequest(verb="import", channel="web", orders=wanted)
    )
    assert answer.lines == [
        f"{fresh_number}: already imported",
        f"gid://shopify/Order/{unpaid}: skipped: payment_status (payment status pending, not paid)",
        f"gid://shopify/Order/{unmapped}: held: unmapped_ship_method "
        "(shipping method 'Overnight' has no ship option)",
        f"#{late}: imported",
        f"gid://shopify/Order/{done}: already imported",
        "#999999: not found: the store's orders stream did not return it",
    ]
    assert not answer.ok  # one was not found
    await shop.until(lambda: shipbob_order(shop, late) is not None)
