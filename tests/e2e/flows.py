"""The flows every storefront goes through, over the full daemon, each asserting its outcome
on the sandboxes; a platform's test calls them and adds what is its own.

Each acts on the shop's first storefront, or on the storefront the given order came from.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Shop
from tests.e2e.shopping import (
    cancel,
    decision,
    place,
    ship,
    shipbob_order,
    shipbob_skus,
    shipment,
    stocked_sku,
    store_skus,
    trackings,
)
from tests.e2e.storefronts import Placed


async def products_created_at_shipbob(shop: Shop) -> None:
    """Every SKU the first storefront lists is created in ShipBob's catalog."""
    wanted = store_skus(shop)
    await shop.until(lambda: wanted <= shipbob_skus(shop))
    assert len(shop.net.calls("POST", "/2026-01/product")) >= len(wanted)


async def imported(
    shop: Shop, sku: str, quantity: int = 1, *, gift_message: str | None = None
) -> tuple[Placed, Any]:
    """A shopper's order on the first storefront, read by its orders stream: the order and its
    ShipBob order, which holds the order's lines, number and gift message."""
    order = await place(shop, sku, quantity, gift_message=gift_message)
    await shop.sync(order.channel, "orders")
    await shop.until(lambda: shipbob_order(shop, order) is not None)
    created = shipbob_order(shop, order)
    assert [(p.sku, p.quantity) for p in created.products] == [(sku, quantity)]
    assert created.order_number == order.number
    assert created.gift_message == gift_message
    return order, created


async def read_again_creates_nothing(shop: Shop, order: Placed) -> None:
    """Reading the order's stream again (a redelivered webhook, a scheduled run) creates no
    second fulfillment order."""
    creates = len(shop.net.calls("POST", "/2026-01/order"))
    await shop.sync(order.channel, "orders")
    assert len(shop.net.calls("POST", "/2026-01/order")) == creates
    assert decision(shop, order) == "imported:None"


async def tracked_once(shop: Shop, order: Placed, sku: str, quantity: int) -> None:
    """ShipBob ships the order whole: its store holds one fulfillment with the tracking
    number and counts the order shipped, still one once ShipBob is read again after it
    learnt that the tracking was uploaded."""
    created = await ship(shop, order, shipment(sku, quantity, "1Z9"))
    await shop.until(lambda: trackings(shop, order) == ["1Z9"])
    assert shop.store(order.channel).fulfilled(order)
    shipments = shop.shipbob.state.orders[created.id].shipments
    await shop.until(lambda: all(s.is_tracking_uploaded for s in shipments))
    await shop.sync("fc", "shipments")
    assert trackings(shop, order) == ["1Z9"]


async def held_until_mapped(shop: Shop, method: str, ship_methods: dict[str, Any]) -> None:
    """An order shipped by ``method``, which the first storefront does not map, is held; a
    reload with ``ship_methods`` (mapping it to ``2-Day``) imports it."""
    sku = await stocked_sku(shop)
    order = await place(shop, sku, shipping=method)
    await shop.sync(order.channel, "orders")
    await shop.until(lambda: decision(shop, order) == "held:unmapped_ship_method")
    held = shop.daemon.metrics.orders_held.labels(order.channel, "unmapped_ship_method")
    assert held._value.get() >= 1
    assert shipbob_order(shop, order) is None

    await shop.rewrite_config(ship_methods=ship_methods)
    await shop.until(lambda: shipbob_order(shop, order) is not None)
    assert shipbob_order(shop, order).shipping_method == "2-Day"
    assert decision(shop, order) == "imported:None"


async def cancelled_in_the_store(shop: Shop) -> None:
    """An imported order cancelled in its store, then read, is cancelled at ShipBob."""
    sku = await stocked_sku(shop)
    order, _ = await imported(shop, sku)
    await cancel(shop, order)
    await shop.sync(order.channel, "orders")
    await shop.until(lambda: shipbob_order(shop, order).status == "Cancelled")
    assert decision(shop, order) == "cancelled:cancelled in the store"
