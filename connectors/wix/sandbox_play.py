"""The Wix sandbox played by ``shelfsync demo`` (see :mod:`connectors.sandbox_play`)."""

from __future__ import annotations

import httpx

from connectors.sandbox_play import ApiUsage, HookedStorefront, Played, post_hook, shopper_hook
from connectors.sandbox_server import SandboxOptions
from connectors.wix.mapping import origin_of_site
from connectors.wix.sandbox import WixSandbox, create_app


class WixPlay(HookedStorefront):
    def __init__(self, app: WixSandbox, base_url: str) -> None:
        """``base_url``: where the sandbox is served."""
        super().__init__(origin_of_site(app.state.site_id), base_url)
        self.app = app

    async def place(
        self, http: httpx.AsyncClient, lines: list[tuple[str, int]], shipping: str
    ) -> str:
        placed = await shopper_hook(http, self.orders_hook, lines, shipping=shipping, paid=True)
        return str(placed["id"])

    def shown_stock(self) -> dict[str, int]:
        # Only products that track inventory show a quantity; the others show "in stock".
        return {
            variant.sku: variant.quantity
            for product in self.app.state.products.values()
            if product.track_inventory
            for variant in product.variants
            if variant.sku
        }

    async def subscribe(self, http: httpx.AsyncClient, url: str) -> None:
        await post_hook(http, f"{self.base_url}/_sandbox/webhooks", {"url": url})

    def usage(self) -> ApiUsage:
        app = self.app
        calls = sum(1 for r in app.state.requests if not r["path"].startswith("/_sandbox/"))
        limit = app.limiter
        return ApiUsage(
            calls=calls,
            spent=calls - app.throttled,
            throttled=app.throttled,
            noop_writes=app.state.noop_writes,
            rate=limit.limit / limit.window,
            burst=limit.limit,
        )

    def tracking_numbers(self) -> dict[str, list[str]]:
        return {
            order.id: [f.get("trackingInfo", {}).get("trackingNumber") or "" for f in fulfilled]
            for order in self.app.state.orders.values()
            if (fulfilled := order.fulfillments)
        }


class WixDemo:
    platform = "wix"

    def __init__(self, options: SandboxOptions) -> None:
        self.app = create_app(options)

    def played(self, url: str) -> Played:
        state = self.app.state
        return Played(
            play=WixPlay(self.app, url),
            settings={"site_id": state.site_id, "base_url": url},
            secrets={"token": state.api_key, "public_key": self.app.webhooks.public_key},
        )


def demo_storefront(options: SandboxOptions) -> WixDemo:
    return WixDemo(options)
