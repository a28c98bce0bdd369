"""Orders through ShipStation, fulfilled by ShipBob, over the full daemon; and a Shopify
store behind ShipStation whose channel only receives stock."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Shop
from tests.e2e.shopping import (
    available,
    cancel,
    decision,
    place,
    receive,
    ship,
    shipbob_order,
    shipbob_sellable,
    shipment,
    stocked_sku,
    trackings,
)


def ship_option(shop: Shop, service: str) -> str:
    """The ship option the ShipStation channel maps a requested shipping service to."""
    return str(shop.tables["ss"]["ship_methods"][service]["ship_option"])


@pytest.mark.parametrize("notify_sales_channel", [True, False])
async def test_an_order_is_imported_once_and_marked_shipped_with_its_tracking(
    shipstation: Shop, notify_sales_channel: bool
) -> None:
    shop = shipstation
    sku = await stocked_sku(shop)
    order = await place(shop, sku, 2, gift_message="Happy birthday")
    await shop.sync("ss", "orders")
    await shop.until(lambda: shipbob_order(shop, order) is not None)
    created = shipbob_order(shop, order)
    service = shop.store().state.orders[int(order.id)].requested_shipping_service
    assert created.shipping_method == ship_option(shop, service)
    assert [(p.sku, p.quantity) for p in created.products] == [(sku, 2)]
    assert created.gift_message == "Happy birthday"
    assert created.order_number == order.number
    creates = len(shop.net.calls("POST", "/2026-01/order"))

    # Read again (a redelivered webhook, a scheduled run): still one fulfillment order.
    await shop.sync("ss", "orders")
    assert len(shop.net.calls("POST", "/2026-01/order")) == creates

    await ship(shop, order, shipment(sku, 2, "1Z9"))
    await shop.until(lambda: trackings(shop, order) == ["1Z9"])
    assert shop.store().fulfilled(order)
    assert shop.store().state.notified == [
        {
            "orderId": int(order.id),
            "notifyCustomer": True,
            "notifySalesChannel": notify_sales_channel,
        }
    ]
    shipments = shop.shipbob.state.orders[created.id].shipments
    await shop.until(lambda: all(s.is_tracking_uploaded for s in shipments))
    await shop.sync("fc", "shipments")
    assert trackings(shop, order) == ["1Z9"]
    assert len(shop.net.calls("POST", "/orders/markasshipped")) == 1


async def test_a_cancellation_in_shipstation_cancels_the_fulfillment_order(
    shipstation: Shop,
) -> None:
    shop = shipstation
    sku = await stocked_sku(shop)
    order = await place(shop, sku)
    await shop.sync("ss", "orders")
    await shop.until(lambda: shipbob_order(shop, order) is not None)
    await cancel(shop, order)
    await shop.sync("ss", "orders")
    await shop.until(lambda: shipbob_order(shop, order).status == "Cancelled")
    assert decision(shop, order) == "cancelled:cancelled in the store"


async def test_orders_from_before_the_switch_over_are_not_imported(shipstation: Shop) -> None:
    shop = shipstation
    store = shop.store()
    # The account's seeded orders waiting for shipment, in the channel's store.
    waiting = [
        o
        for o in store.state.orders.values()
        if o.order_status == "awaiting_shipment" and o.advanced_options.store_id == store.store_id
    ]
    assert waiting
    await shop.sync("ss", "orders")
    origin = store.origin
    decisions = [shop.daemon.hub.pool.order(origin, str(o.order_id)) for o in waiting]
    assert [(d.state, d.reason) for d in decisions if d] == [
        ("skipped", "before_ship_start")
    ] * len(waiting)
    assert not shop.shipbob.state.orders


async def test_stock_reaches_the_store_behind_shipstation_which_is_never_read(
    relay: Shop,
) -> None:
    web = relay.store("web")
    sku = min(s for s in web.skus() if web.available(s) is not None)
    # A shopper's order on Shopify itself: ShipStation would bring it; the channel never reads it.
    direct = await place(relay, sku, channel="web")
    # The Shopify store's order, as ShipStation imported it: the SKU reaches ShipBob with it.
    order = await place(relay, sku, channel="ss")
    await relay.sync("ss", "orders")
    await relay.until(lambda: shipbob_order(relay, order) is not None)

    await receive(relay, sku, 20)
    await relay.sync("fc", "inventory")
    await relay.until(lambda: available(relay, sku, "web") == shipbob_sellable(relay, sku) == 19)

    assert relay.actor("web").statistics().streams == []
    calls = [e for e in relay.net.exchanges if e.host == web.host and e.path.startswith("/admin/")]
    assert calls  # the stock writes
    assert not any(b"orders(" in e.body or b"products(" in e.body for e in calls)
    assert decision(relay, direct) is None
    assert all(entry.channel == "ss" for entry in relay.daemon.hub.pool.orders.values())
