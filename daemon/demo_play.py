"""The small shop ``shelfsync demo`` plays: shoppers ordering on every storefront, and a
warehouse at the fulfillment provider that ships after a delay and receives stock.

Both work only through :mod:`connectors.sandbox_play`, so they know no platform. Randomness
comes from one seeded generator: the same seed plays the same shop.
"""

from __future__ import annotations

import random

import httpx
import msgspec
import trio

from connectors.sandbox_play import ProviderPlay, StorefrontPlay

SHIPPING_METHODS = (("Standard", 0.9), ("Express", 0.07), ("Overnight", 0.03))
"""What shoppers pick. The demo maps Standard and Express; Overnight is left unmapped, so
those orders are held with that reason, as a merchant would see before mapping it."""


BUNDLE_SHARE = 0.2
"""Share of baskets that hold a bundle (when the shop sells one): often enough that a short
demo sells some."""


class PlacedOrder(msgspec.Struct, frozen=True):
    channel: str
    origin: str
    store_order_id: str
    shipping: str
    lines: tuple[tuple[str, int], ...] = ()
    """``(SKU, quantity)`` of each line the shopper ordered."""


class Shoppers:
    """Place orders on random storefronts at ``per_second`` orders a second; a share of the
    baskets (:data:`BUNDLE_SHARE`) holds one of ``bundles`` the store lists."""

    def __init__(
        self,
        stores: dict[str, StorefrontPlay],
        http: httpx.AsyncClient,
        rng: random.Random,
        per_second: float,
        *,
        bundles: list[str] | None = None,
    ) -> None:
        self.stores = stores
        self.http = http
        self.rng = rng
        self.per_second = per_second
        self.bundles = bundles or []
        self.placed: list[PlacedOrder] = []
        self.refused = 0
        """Orders a store refused (a SKU it no longer sells): not placed, not counted."""

    async def run(self) -> None:
        """Shop until cancelled."""
        while True:
            await self.place_one()
            await trio.sleep(self.rng.expovariate(self.per_second))

    async def place_one(self) -> None:
        channel = self.rng.choice(sorted(self.stores))
        store = self.stores[channel]
        skus = store.listed_skus()
        if not skus:
            return
        basket = self.rng.sample(skus, k=min(len(skus), self.rng.choice((1, 1, 1, 2))))
        bundles = [sku for sku in self.bundles if sku in skus and sku not in basket]
        if bundles and self.rng.random() < BUNDLE_SHARE:
            basket[0] = self.rng.choice(bundles)
        lines = [(sku, self.rng.choice((1, 1, 2))) for sku in basket]
        shipping = self.rng.choices(
            [m for m, _ in SHIPPING_METHODS], weights=[w for _, w in SHIPPING_METHODS]
        )[0]
        try:
            store_order_id = await store.place(self.http, lines, shipping)
        except httpx.HTTPStatusError:
            self.refused += 1
            return
        self.placed.append(
            PlacedOrder(channel, store.origin, store_order_id, shipping, tuple(lines))
        )


class Warehouse:
    """Ship each order ``ship_after`` seconds after the warehouse first sees it (a quarter of
    them in two packages), and receive stock for SKUs running low."""

    def __init__(
        self,
        provider: ProviderPlay,
        http: httpx.AsyncClient,
        rng: random.Random,
        ship_after: float,
    ) -> None:
        self.provider = provider
        self.http = http
        self.rng = rng
        self.ship_after = ship_after
        self.first_seen: dict[int, float] = {}
        self.shipped = 0
        self.received = 0

    async def run(self) -> None:
        """Work until cancelled."""
        while True:
            await self.ship_due()
            await self.restock()
            await trio.sleep(0.5)

    async def ship_due(self) -> None:
        now = trio.current_time()
        for order in self.provider.orders():
            if order.cancelled or order.origin is None:
                continue
            if not any(not s.shipped for s in order.shipments):
                continue
            seen = self.first_seen.setdefault(order.order_id, now)
            if now - seen >= self.ship_after and await self.provider.ship(
                self.http, order.order_id, split=self.rng.random() < 0.25
            ):
                self.shipped += 1

    async def restock(self) -> None:
        for sku, units in sorted(self.provider.sellable().items()):
            if units < 2 and self.rng.random() < 0.2:
                await self.provider.receive(self.http, sku, self.rng.randint(5, 20))
                self.received += 1
