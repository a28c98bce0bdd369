"""Orders through ShipStation, fulfilled by ShipBob, over the full daemon; and a Shopify
store behind ShipStation whose channel only receives stock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from tests.e2e import flows
from tests.e2e.conftest import Shop, running_shop
from tests.e2e.shopping import (
    available,
    decision,
    place,
    receive,
    shipbob_order,
    shipbob_sellable,
    stocked_sku,
)
from tests.e2e.storefronts import ShipStationStore, ShopifyStore, Storefront


@pytest.fixture
def notify_sales_channel() -> bool:
    """The ShipStation channel's setting; a test parametrizes it to try the other value."""
    return True


@pytest.fixture
def storefronts(notify_sales_channel: bool) -> list[Storefront]:
    """Orders through one ShipStation store, channel ``ss``."""
    return [ShipStationStore("ss", settings={"notify_sales_channel": notify_sales_channel})]


@pytest.fixture
async def relay(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[Shop]:
    """A Shopify store ``web`` whose orders reach the daemon through ShipStation (``ss``):
    the Shopify channel reads nothing and only receives inventory."""
    stores = [
        ShipStationStore("ss"),
        ShopifyStore("web", streams={"products": False, "orders": False}),
    ]
    async with running_shop(tmp_path, nursery, stores) as running:
        yield running


def ship_option(shop: Shop, service: str) -> str:
    """The ship option the ShipStation channel maps a requested shipping service to."""
    return str(shop.tables["ss"]["ship_methods"][service]["ship_option"])


@pytest.mark.parametrize("notify_sales_channel", [True, False])
async def test_an_order_is_imported_once_and_marked_shipped_with_its_tracking(
    shop: Shop, notify_sales_channel: bool
) -> None:
    sku = await stocked_sku(shop)
    order, created = await flows.imported(shop, sku, 2, gift_message="Happy birthday")
    account = shop.store().state
    service = account.orders[int(order.id)].requested_shipping_service
    assert created.shipping_method == ship_option(shop, service)
    await flows.read_again_creates_nothing(shop, order)
    await flows.tracked_once(shop, order, sku, 2)
    assert len(shop.net.calls("POST", "/orders/markasshipped")) == 1
    assert account.notified == [
        {
            "orderId": int(order.id),
            "notifyCustomer": True,
            "notifySalesChannel": notify_sales_channel,
        }
    ]


async def test_a_cancellation_in_shipstation_cancels_the_fulfillment_order(
    shop: Shop,
) -> None:
    await flows.cancelled_in_the_store(shop)


async def test_orders_from_before_the_switch_over_are_not_imported(shop: Shop) -> None:

    store = shop.store()
    assert isinstance(store, ShipStationStore)
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
