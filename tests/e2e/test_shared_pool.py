"""Two storefronts selling from one fulfillment pool, over the full daemon."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import msgspec
import pytest

from connectors.model import InventoryPush
from tests.e2e.conftest import Shop
from tests.e2e.shopping import (
    decision,
    everywhere,
    place,
    shipbob_order,
    shipbob_sellable,
    stocked_sku,
)
from tests.e2e.storefronts import ShopifyStore, Storefront


@pytest.fixture
def storefronts() -> list[Storefront]:
    """Two Shopify storefronts, ``web`` and ``outlet``, selling from one pool."""
    return [ShopifyStore("web"), ShopifyStore("outlet")]


async def test_a_sale_on_one_storefront_lowers_the_other(shop: Shop) -> None:
    sku = await stocked_sku(shop, on_hand=20)
    order = await place(shop, sku, 3, channel="web")
    await shop.sync("web", "orders")
    # The provider has not been read since: the sale is reserved, and both stores show it.
    await shop.until(lambda: everywhere(shop, sku, 17))
    assert decision(shop, order) == "imported:None"
    # Once the provider is read after it created the order, it counts the units itself: the
    # reservation ends without the sale being subtracted twice, or given back.
    await shop.sync("fc", "inventory")
    assert shop.daemon.hub.pool.reserved[sku] == 0
    assert shipbob_sellable(shop, sku) == 17
    assert everywhere(shop, sku, 17)


async def test_two_storefronts_selling_the_last_unit_make_exactly_one_oversell(shop: Shop) -> None:
    sku = await stocked_sku(shop, on_hand=1)
    first = await place(shop, sku, channel="web")
    second = await place(shop, sku, channel="outlet")
    await shop.sync("web", "orders")
    await shop.sync("outlet", "orders")
    assert decision(shop, first) == "imported:None"
    assert decision(shop, second) == "held:oversell"
    assert shipbob_order(shop, second) is None
    assert shop.daemon.metrics.oversells.labels("outlet")._value.get() == 1
    await shop.until(lambda: everywhere(shop, sku, 0))


async def test_an_order_held_in_its_store_leaves_the_store_showing_the_pools_stock(
    shop: Shop,
) -> None:
    sku = await stocked_sku(shop, on_hand=20)
    order = await place(shop, sku, 2, channel="web", shipping="Overnight")
    # The store took the units off at checkout, but the hub holds the order (no ship option
    # for Overnight): the provider ships nothing, so the pool still sells what it did.
    await shop.sync("web", "orders")
    assert decision(shop, order) == "held:unmapped_ship_method"
    await shop.until(lambda: everywhere(shop, sku, shipbob_sellable(shop, sku)))


def last_stock_push(shop: Shop, channel: str) -> InventoryPush:
    with closing(sqlite3.connect(shop.config_path.parent / "state.db")) as db:
        [(payload,)] = db.execute(
            "SELECT payload FROM outbox WHERE channel = ? AND kind = 'inventory.set'"
            " ORDER BY id DESC LIMIT 1",
            (channel,),
        )
    return msgspec.json.decode(payload, type=InventoryPush)


async def test_only_the_store_that_sold_is_read_before_its_stock_is_written(shop: Shop) -> None:
    sku = await stocked_sku(shop, on_hand=20)
    await place(shop, sku, 2, channel="web")
    await shop.sync("web", "orders")
    await shop.until(lambda: everywhere(shop, sku, 18))
    # web took the units off at checkout by itself: what it shows is read before writing. The
    # outlet shows what it was last written.
    assert last_stock_push(shop, "web").read_first
    assert not last_stock_push(shop, "outlet").read_first
