"""Wix storefront and ShipBob fulfillment, over the full daemon: what is Wix's own (the flows
every storefront goes through are in ``test_storefronts``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from tests.e2e.conftest import Shop, running_shop
from tests.e2e.shopping import (
    available,
    cancel,
    decision,
    place,
    receive,
    shipbob_order,
    shipbob_sellable,
    shipbob_skus,
    stocked_sku,
)
from tests.e2e.storefronts import Placed, Storefront, WixStore


@pytest.fixture
def storefronts() -> list[Storefront]:
    """One Wix site, channel ``wix``."""
    return [WixStore("wix")]


async def test_received_stock_reaches_the_site_for_tracked_variants(shop: Shop) -> None:
    # The merchant stopped tracking the first product's inventory: Wix keeps no quantity of
    # it, only "in stock", which is theirs to set.
    untracked = next(iter(shop.store().state.products.values()))
    untracked.track_inventory = False
    [kept] = untracked.variants
    before = kept.quantity
    await shop.until(lambda: kept.sku in shipbob_skus(shop))
    await receive(shop, kept.sku, 5)

    sku = await stocked_sku(shop, on_hand=37)
    assert available(shop, sku) == shipbob_sellable(shop, sku) == 37
    patched = {e.path for e in shop.net.exchanges if e.method == "PATCH"}
    assert f"/stores/v2/inventoryItems/product/{untracked.id}" not in patched
    assert kept.quantity == before


async def orders_not_to_ship(shop: Shop, sku: str) -> dict[str, Placed]:
    """One order of each kind the import rules leave alone, by what is wrong with it."""
    unpaid = await place(shop, sku, paid=False)
    checkout = await place(shop, sku, initialized=True)
    cancelled = await place(shop, sku)
    await cancel(shop, cancelled)
    shipped = await place(shop, sku)
    # Shipped from the merchant's own shelf, in Wix's dashboard, before the daemon saw it.
    site = shop.store().state
    [line] = site.orders[shipped.id].lines
    site.create_fulfillment(site.orders[shipped.id], {"lineItems": [{"id": line.id}]})
    return {"unpaid": unpaid, "checkout": checkout, "cancelled": cancelled, "shipped": shipped}


async def test_orders_the_import_filter_leaves_out_are_not_imported(shop: Shop) -> None:
    sku = await stocked_sku(shop)
    left_out = await orders_not_to_ship(shop, sku)
    ready = await place(shop, sku)
    await shop.sync("wix", "orders")
    await shop.until(lambda: shipbob_order(shop, ready) is not None)
    assert len(shop.shipbob.state.orders) == 1  # the ready one alone
    # Wix's search filter keeps them from being read at all, but for the cancelled one.
    assert {kind: decision(shop, order) for kind, order in left_out.items()} == {
        "unpaid": None,
        "checkout": None,
        "cancelled": "skipped:cancelled",
        "shipped": None,
    }


@pytest.fixture
async def wide(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[Shop]:
    """A Wix site whose orders search takes every payment and fulfillment status, so the
    daemon's own import rules decide."""
    settings = {
        "order_payment_statuses": ["PAID", "NOT_PAID"],
        "order_fulfillment_statuses": ["NOT_FULFILLED", "PARTIALLY_FULFILLED", "FULFILLED"],
    }
    async with running_shop(tmp_path, nursery, [WixStore("wix", settings=settings)]) as shop:
        yield shop


async def test_orders_the_import_rules_skip_are_not_imported(wide: Shop) -> None:
    sku = await stocked_sku(wide)
    left_out = await orders_not_to_ship(wide, sku)
    await wide.sync("wix", "orders")
    assert {kind: decision(wide, order) for kind, order in left_out.items()} == {
        "unpaid": "skipped:payment_status",
        "checkout": None,  # a checkout not placed is never in Wix's search
        "cancelled": "skipped:cancelled",
        "shipped": "skipped:fulfillment_status",
    }
    assert not wide.shipbob.state.orders
