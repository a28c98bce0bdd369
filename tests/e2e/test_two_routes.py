"""One store order seen through two routes (its store directly, and ShipStation, which imports
the same store's orders) is imported once, whichever route reads it first."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.shipstation.sandbox import SANDBOX_KEY, SANDBOX_SECRET
from daemon.control import ControlRequest
from tests.e2e.conftest import Shop
from tests.e2e.shopping import decision, place, shipbob_order
from tests.e2e.storefronts import Placed, ShipStationStore, ShopifyStore, Storefront


@pytest.fixture
def storefronts() -> list[Storefront]:
    """A Shopify store ``web`` read directly, and ShipStation's copy of it, channel ``ss``."""
    return [ShopifyStore("web"), ShipStationStore("ss", relays="web")]


async def copy_into_shipstation(shop: Shop, original: Placed) -> Placed:
    """ShipStation imports ``original`` (its store integration spells the number without the
    "#"): an order placed there, renumbered through ``createorder`` as that import would."""
    store = shop.store("ss")
    sku = min(store.skus())
    copy = await place(shop, sku, channel="ss")
    url = f"https://{store.host}/orders"
    auth = (SANDBOX_KEY, SANDBOX_SECRET)
    current: dict[str, Any] = (await shop.http.get(f"{url}/{copy.id}", auth=auth)).json()
    renumbered = current | {"orderNumber": original.number.lstrip("#")}
    answer = await shop.http.post(f"{url}/createorder", json=renumbered, auth=auth)
    assert answer.status_code == 200, answer.text
    return copy


async def test_an_order_read_from_its_store_first_is_not_imported_again_from_shipstation(
    shop: Shop,
) -> None:
    sku = min(shop.store("web").skus())
    original = await place(shop, sku, channel="web")
    await shop.sync("web", "orders")
    assert decision(shop, original) == "imported:None"
    copy = await copy_into_shipstation(shop, original)
    await shop.sync("ss", "orders")
    assert decision(shop, copy) == "skipped:another_route"
    assert shipbob_order(shop, copy) is None
    await shop.until(lambda: shipbob_order(shop, original) is not None)


async def test_an_order_read_from_shipstation_first_is_not_imported_again_from_its_store(
    shop: Shop,
) -> None:
    # The store's own channel must not read the order first: it is paused until ShipStation's
    # copy has been read. It is paused once idle, so that no read of it is under way (a read
    # the pause caught halfway would wait, in hand, at the closed gate).
    web = shop.actor("web")
    await shop.until(lambda: not web.statistics().busy and not web.statistics().pending)
    await shop.daemon.handle_control(ControlRequest(verb="pause", channel="web"))
    assert not web.statistics().busy
    sku = min(shop.store("web").skus())
    original = await place(shop, sku, channel="web")
    copy = await copy_into_shipstation(shop, original)
    await shop.sync("ss", "orders")
    assert decision(shop, copy) == "imported:None"
    await shop.daemon.handle_control(ControlRequest(verb="resume", channel="web"))
    await shop.sync("web", "orders")
    assert decision(shop, original) == "skipped:another_route"
    await shop.until(lambda: shipbob_order(shop, copy) is not None)
    assert shipbob_order(shop, original) is None
