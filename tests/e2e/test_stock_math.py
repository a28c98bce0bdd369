"""What a store is told about stock, over the full daemon, once per storefront platform that
keeps stock: bundles floored by their scarcest component (and sold as their components), the
safety threshold, a jump held for review instead of written, and a sale reserved until the
fulfillment provider counts it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from tests.e2e.conftest import Shop, running_shop
from tests.e2e.shopping import (
    available,
    everywhere,
    place,
    receive,
    ship,
    shipbob_order,
    shipbob_sellable,
    shipbob_skus,
    stocked_sku,
    trackings,
)
from tests.e2e.storefronts import STOCKING_PLATFORMS, Storefront

THRESHOLD = 3
REVIEW = 50


class Skus(msgspec.Struct, frozen=True):
    """Three SKUs the platform's store tracks stock of: a bundle ``kit`` of two ``part_a`` and
    one ``part_b``; a test about one SKU takes ``part_a`` (each test has a shop of its own)."""

    part_a: str
    part_b: str
    kit: str


@pytest.fixture(params=list(STOCKING_PLATFORMS))
def platform(request: pytest.FixtureRequest) -> type[Storefront]:
    return STOCKING_PLATFORMS[request.param]


@pytest.fixture
def skus(platform: type[Storefront]) -> Skus:
    # Every store of the seed lists the same catalog: the SKUs can be chosen before the shop
    # opens, from a store of its own.
    catalog = platform("web")
    stocked = sorted(s for s in catalog.skus() if catalog.available(s) is not None)
    return Skus(*stocked[:3])


@pytest.fixture
def storefronts(platform: type[Storefront]) -> list[Storefront]:
    return [platform("web", safety_threshold=THRESHOLD, review_threshold=REVIEW)]


@pytest.fixture
def pool_tables(skus: Skus) -> dict[str, Any]:
    return {"bundles": [{"sku": skus.kit, "components": {skus.part_a: 2, skus.part_b: 1}}]}


async def stock(shop: Shop, on_hand: dict[str, int]) -> None:
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


async def test_a_bundle_shows_what_its_scarcest_component_allows(shop: Shop, skus: Skus) -> None:
    await stock(shop, {skus.part_a: 30, skus.part_b: 20})

    def kits() -> int:
        bundles = min(shipbob_sellable(shop, skus.part_a) // 2, shipbob_sellable(shop, skus.part_b))
        return bundles if bundles >= THRESHOLD else 0

    assert kits() >= THRESHOLD  # the seed leaves enough for the bundle to be shown
    await shop.until(lambda: available(shop, skus.kit) == kits())
    assert (available(shop, skus.part_a), available(shop, skus.part_b)) == (
        told(shop, skus.part_a),
        told(shop, skus.part_b),
    )
    committed = 30 - shipbob_sellable(shop, skus.part_a)  # what the seeded orders hold
    await stock(shop, {skus.part_a: committed + 2})  # one kit's worth: below the threshold
    await shop.until(lambda: available(shop, skus.kit) == kits() == 0)


async def test_below_the_safety_threshold_the_store_is_told_zero(shop: Shop, skus: Skus) -> None:
    await stock(shop, {skus.part_a: 20})
    await shop.until(lambda: available(shop, skus.part_a) == told(shop, skus.part_a) > 0)
    held = 20 - shipbob_sellable(shop, skus.part_a)  # what the seeded orders take
    await stock(shop, {skus.part_a: held + THRESHOLD - 1})
    await shop.until(lambda: available(shop, skus.part_a) == 0)
    await stock(shop, {skus.part_a: held + THRESHOLD})
    await shop.until(lambda: available(shop, skus.part_a) == THRESHOLD)


async def test_a_jump_over_the_review_threshold_is_held_not_written(shop: Shop, skus: Skus) -> None:
    await stock(shop, {skus.part_a: 20})
    await shop.until(lambda: available(shop, skus.part_a) == told(shop, skus.part_a) > 0)
    before = told(shop, skus.part_a)
    await stock(shop, {skus.part_a: 20 + REVIEW + 1})  # more than the review threshold at once
    assert available(shop, skus.part_a) == before
    [status] = await shop.daemon.status("web")
    assert status.open_exceptions >= 1
    await stock(shop, {skus.part_a: 20 + REVIEW})  # exactly the threshold from what it was told
    await shop.until(
        lambda: available(shop, skus.part_a) == told(shop, skus.part_a) == before + REVIEW
    )


async def test_a_bundle_sold_is_picked_as_its_components_and_fulfilled_as_sold(
    shop: Shop, skus: Skus
) -> None:
    await stock(shop, {skus.part_a: 30, skus.part_b: 20})
    await shop.until(lambda: available(shop, skus.part_b) == told(shop, skus.part_b))
    before = {sku: shipbob_sellable(shop, sku) for sku in (skus.part_a, skus.part_b)}
    order = await place(shop, skus.kit, 2)
    await shop.sync("web", "orders")
    await shop.until(lambda: shipbob_order(shop, order) is not None)
    picked = {p.sku: p.quantity for p in shipbob_order(shop, order).products}
    assert picked == {skus.part_a: 4, skus.part_b: 2}
    # The components the kits take are what every store is now told.
    await shop.until(lambda: available(shop, skus.part_a) == before[skus.part_a] - 4)
    assert skus.kit not in shipbob_skus(shop)  # a bundle is no product of its own at the warehouse
    await ship(
        shop,
        order,
        {
            "products": [{"sku": skus.part_a, "quantity": 4}, {"sku": skus.part_b, "quantity": 2}],
            "tracking_number": "1ZKIT",
        },
    )
    await shop.until(lambda: trackings(shop, order) == ["1ZKIT"])
    assert shop.store().fulfilled(order)


async def test_a_sale_is_reserved_on_every_store_until_the_provider_counts_it_once(
    tmp_path: Path, nursery: trio.Nursery, platform: type[Storefront]
) -> None:
    # Every stocking platform's store, selling the same SKUs from one pool; the order is
    # placed on the platform's own, ``web``.
    stores = [platform("web", shared_catalog=True)] + [
        other(name, shared_catalog=True)
        for name, other in STOCKING_PLATFORMS.items()
        if other is not platform
    ]
    async with running_shop(tmp_path, nursery, stores) as shop:
        sku = await stocked_sku(shop, on_hand=20)
        before = shipbob_sellable(shop, sku)
        last_read = shop.last_success("fc", "inventory")
        order = await place(shop, sku, 3)
        await shop.sync("web", "orders")
        await shop.until(lambda: shipbob_order(shop, order) is not None)
        await shop.until(lambda: everywhere(shop, sku, before - 3))
        # ShipBob has committed the units, but its stock was not read since: the sale is
        # reserved here, which is what lowered every store.
        assert shop.last_success("fc", "inventory") == last_read
        assert shipbob_sellable(shop, sku) == before - 3
        reserved = shop.daemon.hub.pool.reservations[(order.origin, order.store_order_id)]
        assert [(r.sku, r.quantity) for r in reserved] == [(sku, 3)]
        # The first read after ShipBob created the order counts the units there: the
        # reservation ends, and the sale is not subtracted a second time.
        await shop.sync("fc", "inventory")
        assert not shop.daemon.hub.pool.reservations.get((order.origin, order.store_order_id))
        assert shop.daemon.hub.pool.sellable(sku) == before - 3
        await shop.until(lambda: everywhere(shop, sku, before - 3))
