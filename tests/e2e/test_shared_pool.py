"""Two storefronts selling from one fulfillment pool, over the full daemon."""

from __future__ import annotations

from tests.e2e.conftest import Shop
from tests.e2e.shopping import (
    decision,
    everywhere,
    place,
    shipbob_order,
    shipbob_sellable,
    stocked_sku,
)


async def test_a_sale_on_one_storefront_lowers_the_other(pool: Shop) -> None:
    sku = await stocked_sku(pool, on_hand=20)
    order_id = await place(pool, sku, 3, channel="web")
    await pool.sync("web", "orders")
    # The provider has not been read since: the sale is reserved, and both stores show it.
    await pool.until(lambda: everywhere(pool, sku, 17))
    assert decision(pool, order_id) == "imported:None"
    # Once the provider is read after it created the order, it counts the units itself: the
    # reservation ends without the sale being subtracted twice, or given back.
    await pool.sync("fc", "inventory")
    assert pool.daemon.hub.pool.reserved[sku] == 0
    assert shipbob_sellable(pool, sku) == 17
    assert everywhere(pool, sku, 17)


async def test_two_storefronts_selling_the_last_unit_make_exactly_one_oversell(pool: Shop) -> None:
    sku = await stocked_sku(pool, on_hand=1)
    first = await place(pool, sku, channel="web")
    second = await place(pool, sku, channel="outlet")
    await pool.sync("web", "orders")
    await pool.sync("outlet", "orders")
    assert decision(pool, first, "web") == "imported:None"
    assert decision(pool, second, "outlet") == "held:oversell"
    assert shipbob_order(pool, second, "outlet") is None
    assert pool.daemon.metrics.oversells.labels("outlet")._value.get() == 1
    await pool.until(lambda: everywhere(pool, sku, 0))


async def test_an_order_held_in_its_store_leaves_the_store_showing_the_pools_stock(
    pool: Shop,
) -> None:
    sku = await stocked_sku(pool, on_hand=20)
    order_id = await place(pool, sku, 2, channel="web", shipping="Overnight")
    # The store took the units off at checkout, but the hub holds the order (no ship option
    # for Overnight): the provider ships nothing, so the pool still sells 20.
    await pool.sync("web", "orders")
    assert decision(pool, order_id) == "held:unmapped_ship_method"
    await pool.until(lambda: everywhere(pool, sku, 20))
