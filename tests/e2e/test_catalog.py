"""The catalog over the full daemon: a product changed in a store reaches ShipBob once, and a
bundle ShipBob declares is shown as what its scarcest component allows and sold as its
components, before and after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from connectors.sandboxkit import Message, Receive, Scope, Send, header_map, read_body
from daemon.http import HttpApp
from tests.e2e.conftest import SHIPBOB_HOST, Shop, running_shop
from tests.e2e.shopping import (
    available,
    place,
    receive,
    shipbob_order,
    shipbob_sellable,
    shipbob_skus,
    store_skus,
)
from tests.e2e.storefronts import ShopifyStore, Storefront

_CATALOG = ShopifyStore("web")
STOCKED = sorted(s for s in _CATALOG.skus() if _CATALOG.available(s) is not None)
PART_A, PART_B, KIT = STOCKED[:3]
WEBHOOK_BODY_LIMIT = 1 << 20
NO_PRODUCTS = {"streams": {"products": False}}


class Recording:
    """An ASGI app in front of ``app`` that keeps every request it passes on."""

    def __init__(self, app: HttpApp) -> None:
        self.app = app
        self.requests: list[tuple[str, dict[str, str], bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        self.requests.append((scope["path"], header_map(scope), body))

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


@pytest.fixture
def storefronts() -> list[Storefront]:
    """Two stores listing the same SKUs."""
    return [ShopifyStore("web"), ShopifyStore("outlet")]


def patches(shop: Shop) -> int:
    """Variant updates ShipBob received."""
    return sum(1 for e in shop.net.exchanges if e.method == "PATCH" and e.host == SHIPBOB_HOST)


def at_shipbob(shop: Shop, sku: str) -> Any:
    variant = shop.shipbob.state.variant_by_sku(sku)
    assert variant is not None
    return variant


async def test_a_product_changed_in_the_store_reaches_shipbob_once(shop: Shop) -> None:
    store = shop.store()
    await shop.until(lambda: store_skus(shop) <= shipbob_skus(shop))
    await shop.sync("outlet", "products")  # both stores' items seen before the change
    [product] = store.state.products.values()
    skus = [store.state.variants[v].sku for v in product.variant_ids]
    heavy = product.variant_ids[0]
    await shop.http.post(
        f"https://{store.host}/_sandbox/webhooks",
        json={"topic": "products/update", "address": "https://daemon.test/webhooks/web"},
    )
    daemon = Recording(HttpApp(shop.daemon, shop.daemon.metrics.registry, WEBHOOK_BODY_LIMIT))
    assert patches(shop) == 0  # the store's products were created, never updated
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=daemon)) as outbound,
        trio.open_nursery() as deliveries,
    ):
        await deliveries.start(store.app.webhooks.run, outbound)
        change = {
            "title": "Scarf Renamed",
            "variants": [{"id": heavy, "weight": {"value": 2.5, "unit": "POUNDS"}}],
        }
        answer = await shop.http.post(
            f"https://{store.host}/_sandbox/products/{product.id}", json=change
        )
        assert answer.status_code == 200, answer.text
        await shop.until(
            lambda: all(at_shipbob(shop, sku).name.startswith("Scarf Renamed") for sku in skus)
        )
        deliveries.cancel_scope.cancel()
    await shop.until(shop.daemon.quiet)
    assert at_shipbob(shop, skus[0]).weight.weight == 40.0  # 2.5 lb, in ounces
    assert patches(shop) == len(skus)  # one update per variant renamed
    # Shopify redelivers the webhook (same id), and a scheduled run reads the products again.
    [(path, headers, body)] = daemon.requests
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=daemon)) as redelivery:
        again = await redelivery.post(f"https://daemon.test{path}", headers=headers, content=body)
    assert (again.status_code, again.text.strip()) == (200, "duplicate")
    await shop.sync("web", "products")
    # The other store still names the SKUs as before, and is read again (its product touched,
    # nothing that travels changed): ShipBob keeps the new names rather than flipping back.
    outlet = shop.store("outlet")
    touched = await shop.http.post(f"https://{outlet.host}/_sandbox/products/{product.id}", json={})
    assert touched.status_code == 200, touched.text
    await shop.sync("outlet", "products")
    await shop.sync("web", "products")
    await shop.until(shop.daemon.quiet)  # every write queued has been made
    assert patches(shop) == len(skus)
    assert all(at_shipbob(shop, sku).name.startswith("Scarf Renamed") for sku in skus)


async def declare(shop: Shop, sku: str, components: dict[str, int]) -> None:
    """ShipBob's merchant makes ``sku`` a bundle of ``components``; the daemon reads it."""
    response = await shop.http.post(
        f"http://{SHIPBOB_HOST}/_sandbox/bundles", json={"sku": sku, "components": components}
    )
    assert response.status_code == 200, response.text
    await shop.sync("fc", "products")


def kits(shop: Shop, parts: dict[str, int]) -> int:
    """What the store should show of a bundle of ``parts``: the scarcest component's units at
    ShipBob divided by what one bundle takes."""
    return min(shipbob_sellable(shop, sku) // units for sku, units in parts.items())


async def sell(shop: Shop, sku: str, quantity: int) -> None:
    """A shopper buys ``quantity`` of ``sku``; its fulfillment order reaches ShipBob."""
    order = await place(shop, sku, quantity)
    await shop.sync("web", "orders")
    await shop.until(lambda: shipbob_order(shop, order) is not None)


async def test_a_bundle_shipbob_declares_shows_its_scarcest_component_across_a_restart(
    tmp_path: Path,
) -> None:
    store = ShopifyStore("web")
    pair, crate = {PART_A: 2, PART_B: 1}, {PART_A: 8, PART_B: 1}
    async with trio.open_nursery() as first_run, running_shop(tmp_path, first_run, [store]) as shop:
        await shop.until(lambda: {PART_A, PART_B, KIT} <= shipbob_skus(shop))
        await receive(shop, PART_A, 40)
        await receive(shop, PART_B, 12)
        await shop.sync("fc", "inventory")
        await shop.until(lambda: available(shop, KIT) == 0)  # a product holding none
        await declare(shop, KIT, pair)
        await shop.until(lambda: available(shop, KIT) == kits(shop, pair) > 0)
        before = kits(shop, pair)
        assert shipbob_sellable(shop, PART_B) == before  # B is the scarcest
        await sell(shop, PART_B, 2)
        await shop.until(lambda: available(shop, KIT) == kits(shop, pair) == before - 2)
        await declare(shop, KIT, crate)  # redefined: its stock is pushed again
        await shop.until(lambda: available(shop, KIT) == kits(shop, crate) < before - 2)
        shipbob = shop.shipbob
    # Started again on the same state, ShipBob's products unread: the bundle was kept.
    async with (
        trio.open_nursery() as second_run,
        running_shop(
            tmp_path, second_run, [store], shipbob=shipbob, shipbob_table=NO_PRODUCTS
        ) as shop,
    ):
        before = kits(shop, crate)
        assert shipbob_sellable(shop, PART_A) // 8 == before  # A is the scarcest now
        await sell(shop, PART_A, 8)
        await shop.until(lambda: available(shop, KIT) == kits(shop, crate) == before - 1)
        # A crate sold is picked as its components, as a configured bundle is.
        order = await place(shop, KIT, 1)
        await shop.sync("web", "orders")
        await shop.until(lambda: shipbob_order(shop, order) is not None)
        assert {p.sku: p.quantity for p in shipbob_order(shop, order).products} == crate
        await shop.until(lambda: available(shop, KIT) == kits(shop, crate) == before - 2)
    assert not any(e.path == "/2026-01/product" and e.method == "GET" for e in shop.net.exchanges)
