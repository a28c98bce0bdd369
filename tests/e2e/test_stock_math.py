"""What a store is told about stock, over the full daemon: bundles floored by their scarcest
component (and sold as their components), the safety threshold, and a jump held for review
instead of written."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Shop
from tests.e2e.shopping import (
    available,
    place,
    receive,
    ship,
    shipbob_order,
    shipbob_sellable,
    shipbob_skus,
    trackings,
)
from tests.e2e.storefronts import ShopifyStore, Storefront

THRESHOLD = 3
REVIEW = 50
# Every store of the seed lists the same catalog: the SKUs can be chosen before the shop opens.
_CATALOG = ShopifyStore("web")
STOCKED = sorted(s for s in _CATALOG.skus() if _CATALOG.available(s) is not None)
PART_A, PART_B, KIT = STOCKED[:3]
LOW = BIG = PART_A  # each test has a shop of its own


@pytest.fixture
def storefronts() -> list[Storefront]:
    return [ShopifyStore("web", safety_threshold=THRESHOLD, review_threshold=REVIEW)]


@pytest.fixture
def pool_tables() -> dict[str, Any]:
    return {"bundles": [{"sku": KIT, "components": {PART_A: 2, PART_B: 1}}]}


async def stock(shop: Shop, **on_hand: int) -> None:
    """Receive these units (by SKU) at ShipBob, then read its stock."""
    await shop.until(lambda: set(on_hand) <= shipbob_skus(shop))
    for sku, units in on_hand.items():
        await receive(shop, sku, units)
    await shop.sync("fc", "inventory")


def told(shop: Shop, sku: str) -> int:
    """What the store should show of ``sku``: ShipBob's sellable units (its seeded orders hold
    some), or 0 below the threshold."""
    units = shipbob_sellable(shop, sku)
    return units if units >= THRESHOLD else 0


async def test_a_bundle_shows_what_its_scarcest_component_allows(shop: Shop) -> None:
    await stock(shop, **{PART_A: 30, PART_B: 20})

    def kits() -> int:
        bundles = min(shipbob_sellable(shop, PART_A) // 2, shipbob_sellable(shop, PART_B))
        return bundles if bundles >= THRESHOLD else 0

    assert kits() >= THRESHOLD  # the seed leaves enough for the bundle to be shown
    await shop.until(lambda: available(shop, KIT) == kits())
    assert (available(shop, PART_A), available(shop, PART_B)) == (
        told(shop, PART_A),
        told(shop, PART_B),
    )
    committed = 30 - shipbob_sellable(shop, PART_A)  # what the seeded orders hold
    await stock(shop, **{PART_A: committed + 2})  # one kit's worth: below the threshold
    await shop.until(lambda: available(shop, KIT) == kits() == 0)


async def test_below_the_safety_threshold_the_store_is_told_zero(shop: Shop) -> None:
    await stock(shop, **{LOW: 20})
    await shop.until(lambda: available(shop, LOW) == told(shop, LOW) > 0)
    held = 20 - shipbob_sellable(shop, LOW)  # what the seeded orders take
    await stock(shop, **{LOW: held + THRESHOLD - 1})
    await shop.until(lambda: available(shop, LOW) == 0)
    await stock(shop, **{LOW: held + THRESHOLD})
    await shop.until(lambda: available(shop, LOW) == THRESHOLD)


async def test_a_jump_over_the_review_threshold_is_held_not_written(shop: Shop) -> None:
    await stock(shop, **{BIG: 20})
    await shop.until(lambda: available(shop, BIG) == told(shop, BIG) > 0)
    before = available(shop, BIG)
    await stock(shop, **{BIG: 20 + REVIEW + 1})  # more than the review threshold at once
    assert available(shop, BIG) == before
    [status] = await shop.daemon.status("web")
    assert status.open_exceptions >= 1
    await stock(shop, **{BIG: 20 + REVIEW})  # exactly the threshold from what it was told
    await shop.until(lambda: available(shop, BIG) == told(shop, BIG) == before + REVIEW)


async def test_a_bundle_sold_is_picked_as_its_components_and_fulfilled_as_sold(shop: Shop) -> None:
    await stock(shop, **{PART_A: 30, PART_B: 20})
    await shop.until(lambda: available(shop, PART_B) == told(shop, PART_B))
    before = {sku: shipbob_sellable(shop, sku) for sku in (PART_A, PART_B)}
    order = await place(shop, KIT, 2)
    await shop.sync("web", "orders")
    await shop.until(lambda: shipbob_order(shop, order) is not None)
    picked = {p.sku: p.quantity for p in shipbob_order(shop, order).products}
    assert picked == {PART_A: 4, PART_B: 2}
    # The components the kits take are what every store is now told.
    await shop.until(lambda: available(shop, PART_A) == before[PART_A] - 4)
    assert KIT not in shipbob_skus(shop)  # a bundle is no product of its own at the warehouse
    await ship(
        shop,
        order,
        {
            "products": [{"sku": PART_A, "quantity": 4}, {"sku": PART_B, "quantity": 2}],
            "tracking_number": "1ZKIT",
        },
    )
    await shop.until(lambda: trackings(shop, order) == ["1ZKIT"])
    assert shop.store().fulfilled(order)
