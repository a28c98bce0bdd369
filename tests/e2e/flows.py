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
    shipment,
    stocked_sku,
    trackings,
)
from tests.e2e.storefronts import Placed


async def imported_shipped_and_tracked(shop: Shop) -> tuple[Placed, Any]:
    """An order of two units with a gift message imported once, then shipped whole and
    tracked once in its store (see :func:`imported`, :func:`read_again_creates_nothing`,
    :func:`tracked_once`); the order and its ShipBob order."""
    sku = await stocked_sku(shop)
    order, created = await imported(shop, sku, 2, gift_message="Happy birthday")
    await read_again_creates_nothing(shop, order)
    await tracked_once(shop, order, sku, 2)
    return order, created


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


async def cancelled_in_the_store(shop: Shop) -> None:
    """An imported order cancelled in its store, then read, is cancelled at ShipBob."""
    sku = await stocked_sku(shop)
    order, _ = await imported(shop, sku)
    await cancel(shop, order)
    await shop.sync(order.channel, "orders")
    await shop.until(lambda: shipbob_order(shop, order).status == "Cancelled")
    assert decision(shop, order) == "cancelled:cancelled in the store"
