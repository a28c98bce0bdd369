"""The BigCommerce sandbox played by ``shelfsync demo`` (see :mod:`connectors.sandbox_play`)."""

from __future__ import annotations

import httpx

from connectors.bigcommerce.mapping import origin_of_store
from connectors.bigcommerce.sandbox import SANDBOX_TOKEN, STORE_HASH, SandboxApp, create_app
from connectors.bigcommerce.webhooks import DEFAULT_HEADER
from connectors.sandbox_play import ApiUsage, HookedStorefront, Played, post_hook, shopper_hook
from connectors.sandbox_server import SandboxOptions

WEBHOOK_SECRET = "shelfsync-demo-bigcommerce-hooks"
"""BigCommerce hooks carry a header of the merchant's choosing: any long enough secret does."""


class BigCommercePlay(HookedStorefront):
    def __init__(self, app: SandboxApp, base_url: str) -> None:
        """``base_url``: where the sandbox is served."""
        super().__init__(origin_of_store(STORE_HASH), base_url)
        self.app = app

    async def place(
        self, http: httpx.AsyncClient, lines: list[tuple[str, int]], shipping: str
    ) -> str:
        placed = await shopper_hook(http, self.orders_hook, lines, shipping_method=shipping)
        return str(placed["id"])

    def shown_stock(self) -> dict[str, int]:
        # The catalog's inventory_level of each tracked variant with a SKU.
        state = self.app.state
        return {
            variant.sku: state.level(product, variant)
            for product, variant in state.variants()
            if variant.sku and product.inventory_tracking != "none"
        }

    async def subscribe(self, http: httpx.AsyncClient, url: str) -> None:
        hook = {"destination": url, "headers": {DEFAULT_HEADER: WEBHOOK_SECRET}}
        await post_hook(http, f"{self.base_url}/_sandbox/webhooks", hook)

    def usage(self) -> ApiUsage:
        state = self.app.state
        counters, faults = state.counters, state.faults
        return ApiUsage(
            calls=counters["requests"],
            spent=counters["requests"] - counters["throttled"],
            throttled=counters["throttled"],
            noop_writes=counters["noop_writes"],
            rate=faults.scaled_quota / (faults.window_ms / 1000),
            burst=faults.scaled_quota,
        )

    def tracking_numbers(self) -> dict[str, list[str]]:
        return {
            str(order.id): [shipment.tracking_number for shipment in order.shipments]
            for order in self.app.state.orders.values()
            if order.shipments
        }


class BigCommerceDemo:
    platform = "bigcommerce"

    def __init__(self, options: SandboxOptions) -> None:
        self.app = create_app(options)

    def played(self, url: str) -> Played:
        return Played(
            play=BigCommercePlay(self.app, url),
            settings={"store_hash": STORE_HASH, "base_url": url},
            secrets={"token": SANDBOX_TOKEN, "webhook_secret": WEBHOOK_SECRET},
        )


def demo_storefront(options: SandboxOptions) -> BigCommerceDemo:
    return BigCommerceDemo(options)
