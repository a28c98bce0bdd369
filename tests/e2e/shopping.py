"""What the end-to-end tests do to the sandboxes and read back from them.

Storefronts are named by channel; every function defaults to the shop's first storefront.
Orders are the :class:`~tests.e2e.storefronts.Placed` that :func:`place` returns.
"""

from __future__ import annotations

from typing import Any

from connectors.shipbob.mapping import reference_id
from tests.e2e.conftest import SHIPBOB_HOST, Shop
from tests.e2e.storefronts import Placed


def store_skus(shop: Shop, channel: str | None = None) -> set[str]:
    return shop.store(channel).skus()


def available(shop: Shop, sku: str, channel: str | None = None) -> int | None:
    """What the storefront shows of ``sku``; None if it keeps no stock of it."""
    return shop.store(channel).available(sku)


def shipbob_skus(shop: Shop) -> set[str]:
    return {s.sku for s in shop.shipbob.state.stock.values()}


def shipbob_sellable(shop: Shop, sku: str) -> int:
    stock = next(s for s in shop.shipbob.state.stock.values() if s.sku == sku)
    fulfillable = sum(stock.on_hand[loc] - stock.committed[loc] for loc in stock.on_hand)
    return int(fulfillable - stock.exception)


def shipbob_order(shop: Shop, order: Placed) -> Any:
    """The ShipBob order created for the storefront's ``order``, or None."""
    reference = reference_id(order.origin, order.store_order_id)
    orders = shop.shipbob.state.orders.values()
    return next((o for o in orders if o.reference_id == reference), None)


def decision(shop: Shop, order: Placed) -> str | None:
    """``"<state>:<reason>"`` of the hub's decision about the order, or None if none yet."""
    entry = shop.daemon.hub.pool.order(order.origin, order.store_order_id)
    return None if entry is None else f"{entry.state}:{entry.reason}"


async def receive(shop: Shop, sku: str, on_hand: int) -> None:
    response = await shop.http.post(
        f"http://{SHIPBOB_HOST}/_sandbox/inventory", json={"sku": sku, "on_hand": on_hand}
    )
    assert response.status_code == 200, response.text


async def place(
    shop: Shop,
    sku: str,
    quantity: int = 1,
    *,
    channel: str | None = None,
    gift_message: str | None = None,
    shipping: str | None = None,
    **extra: object,
) -> Placed:
    """A shopper's order on the storefront (see :meth:`Storefront.place`)."""
    store = shop.store(channel)
    return await store.place(
        shop.http, sku, quantity, gift_message=gift_message, shipping=shipping, **extra
    )


async def cancel(shop: Shop, order: Placed) -> None:
    """The merchant cancels ``order`` in its store."""
    await shop.store(order.channel).cancel(shop.http, order)


async def ship(shop: Shop, order: Placed, *shipments: dict[str, Any]) -> Any:
    """ShipBob ships the fulfillment order of ``order`` as ``shipments`` (one each), then
    reads its shipments stream; the ShipBob order."""
    created = shipbob_order(shop, order)
    assert created is not None
    response = await shop.http.post(
        f"http://{SHIPBOB_HOST}/_sandbox/ship",
        json={"order_id": created.id, "shipments": list(shipments)},
    )
    assert response.status_code == 200, response.text
    await shop.sync("fc", "shipments")
    return created


def shipment(sku: str, quantity: int, tracking_number: str) -> dict[str, Any]:
    """One shipment for :func:`ship`: ``quantity`` of ``sku`` under ``tracking_number``."""
    products = [{"sku": sku, "quantity": quantity}]
    return {"products": products, "tracking_number": tracking_number}


def trackings(shop: Shop, order: Placed) -> list[str]:
    """The tracking number of each fulfillment the order's store holds for it."""
    return shop.store(order.channel).trackings(order)


def everywhere(shop: Shop, sku: str, quantity: int) -> bool:
    """Whether every storefront that keeps stock shows ``quantity`` of ``sku``."""
    stocking = [store for store in shop.stores.values() if store.keeps_stock]
    return all(store.available(sku) == quantity for store in stocking)


async def stocked_sku(shop: Shop, on_hand: int = 20) -> str:
    """A SKU every storefront that keeps stock stocks (tracks), present at ShipBob with
    ``on_hand`` units received, once every such storefront shows what ShipBob can sell."""
    stocking = [store for store in shop.stores.values() if store.keeps_stock]
    sku = min(
        s for s in shop.store().skus() if all(store.available(s) is not None for store in stocking)
    )
    await shop.until(lambda: sku in shipbob_skus(shop))
    await receive(shop, sku, on_hand)
    await shop.sync("fc", "inventory")
    await shop.until(lambda: everywhere(shop, sku, shipbob_sellable(shop, sku)))
    return sku
