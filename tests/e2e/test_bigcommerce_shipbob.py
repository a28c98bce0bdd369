"""BigCommerce storefront and ShipBob fulfillment, over the full daemon: every sync flow."""

from __future__ import annotations

import pytest

from tests.e2e import flows
from tests.e2e.conftest import Shop
from tests.e2e.shopping import (
    available,
    decision,
    place,
    ship,
    shipbob_order,
    shipbob_sellable,
    shipment,
    stocked_sku,
    trackings,
)
from tests.e2e.storefronts import BigCommerceStore, Storefront


@pytest.fixture
def storefronts() -> list[Storefront]:
    """One BigCommerce store, channel ``bc``."""
    return [BigCommerceStore("bc")]


async def test_store_products_are_created_in_the_fulfillment_catalog(shop: Shop) -> None:
    await flows.products_created_at_shipbob(shop)


async def test_received_stock_reaches_the_store(shop: Shop) -> None:
    sku = await stocked_sku(shop, on_hand=37)
    assert available(shop, sku) == shipbob_sellable(shop, sku) == 37


async def test_an_order_is_imported_once_shipped_and_its_tracking_written(
    shop: Shop,
) -> None:
    sku = await stocked_sku(shop)
    order, created = await flows.imported(shop, sku, 2, gift_message="Happy birthday")
    assert created.shipping_method == "Ground"
    await flows.read_again_creates_nothing(shop, order)
    await flows.tracked_once(shop, order, sku, 2)


async def test_a_split_shipment_becomes_two_shipments(shop: Shop) -> None:
    sku = await stocked_sku(shop)
    order, _ = await flows.imported(shop, sku, 3)
    await ship(shop, order, shipment(sku, 1, "1ZA"), shipment(sku, 2, "1ZB"))
    await shop.until(lambda: sorted(trackings(shop, order)) == ["1ZA", "1ZB"])
    assert shop.store().fulfilled(order)


async def test_an_unmapped_method_holds_the_order_until_the_mapping_is_fixed(
    shop: Shop,
) -> None:
    mapped = {"Free Shipping": {"ship_option": "Ground"}, "Express": {"ship_option": "2-Day"}}
    await flows.held_until_mapped(shop, "Express", mapped)


async def test_a_store_cancellation_cancels_the_fulfillment_order(shop: Shop) -> None:
    await flows.cancelled_in_the_store(shop)


async def test_an_order_awaiting_payment_is_not_imported(shop: Shop) -> None:
    sku = await stocked_sku(shop)
    unpaid = await place(shop, sku, status_id=7, payment_status="")
    ready = await place(shop, sku)
    await shop.sync("bc", "orders")
    await shop.until(lambda: shipbob_order(shop, ready) is not None)
    assert shipbob_order(shop, unpaid) is None
    assert decision(shop, unpaid) is None  # not among the statuses the stream reads
