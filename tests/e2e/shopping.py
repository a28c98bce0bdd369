"""What the end-to-end tests do to the sandboxes and read back from them.

Storefronts are named by channel (``web``, ``outlet``); every function defaults to ``web``.
"""

from __future__ import annotations

from typing import Any

from connectors.shopify.sandbox_state import LOCATION_ID
from tests.e2e.conftest import Shop, store_host


def origin(channel: str = "web") -> str:
    return f"shopify:{store_host(channel)}"


def shopify_skus(shop: Shop, channel: str = "web") -> set[str]:
    return {v.sku for v in shop.stores[channel].state.variants.values() if v.sku}


def shipbob_skus(shop: Shop) -> set[str]:
    return {s.sku for s in shop.shipbob.state.stock.values()}


def shopify_available(shop: Shop, sku: str, channel: str = "web") -> int | None:
    state = shop.stores[channel].state
    variant = next(v for v in state.variants.values() if v.sku == sku)
    level = state.levels.get((variant.inventory_item_id, LOCATION_ID))
    return None if level is None else int(level["available"])


def shipbob_sellable(shop: Shop, sku: str) -> int:
    stock = next(s for s in shop.shipbob.state.stock.values() if s.sku == sku)
    fulfillable = sum(stock.on_hand[loc] - stock.committed[loc] for loc in stock.on_hand)
    return fulfillable - stock.exception


def shipbob_order(shop: Shop, order_id: int, channel: str = "web") -> Any:
    """The ShipBob order created for the storefront's order ``order_id``, or None."""
    reference = f"{origin(channel)}:gid://shopify/Order/{order_id}"
    orders = shop.shipbob.state.orders.values()
    return next((o for o in orders if o.reference_id == reference), None)


def decision(shop: Shop, order_id: int, channel: str = "web") -> str | None:
    """``"<state>:<reason>"`` of the hub's decision about the order, or None if none yet."""
    entry = shop.daemon.hub.pool.order(origin(channel), f"gid://shopify/Order/{order_id}")
    return None if entry is None else f"{entry.state}:{entry.reason}"


async def receive(shop: Shop, sku: str, on_hand: int) -> None:
    response = await shop.http.post(
        "http://shipbob.test/_sandbox/inventory", json={"sku": sku, "on_hand": on_hand}
    )
    assert response.status_code == 200, response.text


async def place(
    shop: Shop, sku: str, quantity: int = 1, *, channel: str = "web", **extra: object
) -> int:
    response = await shop.http.post(
        f"https://{store_host(channel)}/_sandbox/orders",
        json={"lines": [{"sku": sku, "quantity": quantity}], **extra},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def everywhere(shop: Shop, sku: str, quantity: int) -> bool:
    """Whether every storefront shows ``quantity`` of ``sku``."""
    return all(shopify_available(shop, sku, name) == quantity for name in shop.stores)


async def stocked_sku(shop: Shop, on_hand: int = 20) -> str:
    """A SKU every storefront stocks, present at ShipBob with ``on_hand`` units received,
    once every storefront shows what ShipBob can sell."""
    sku = min(
        s
        for s in shopify_skus(shop)
        if all(shopify_available(shop, s, name) is not None for name in shop.stores)
    )
    await shop.until(lambda: sku in shipbob_skus(shop))
    await receive(shop, sku, on_hand)
    await shop.sync("fc", "inventory")
    await shop.until(lambda: everywhere(shop, sku, shipbob_sellable(shop, sku)))
    return sku
