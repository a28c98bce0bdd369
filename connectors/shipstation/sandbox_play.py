"""The ShipStation sandbox played by ``shelfsync demo`` (see :mod:`connectors.sandbox_play`).

The channel reads the orders ShipStation imported from one of its stores (the seeded "Web
Shop"): a shopper's order there is placed through the sandbox's import hook. ShipStation keeps
no stock, so the store shows none; tracking reaches it by mark-as-shipped, which the sandbox
lists as fulfillments.
"""

from __future__ import annotations

import urllib.parse

import httpx

from connectors.sandbox_play import ApiUsage, HookedStorefront, Played, post_hook, shopper_hook
from connectors.sandbox_server import SandboxOptions
from connectors.shipstation.mapping import origin_of_store
from connectors.shipstation.sandbox import SANDBOX_KEY, SANDBOX_SECRET, SandboxApp, create_app
from connectors.shipstation.sandbox_state import STORES
from connectors.shipstation.webhooks import TOKEN_PARAMETER

STORE_ID = STORES[0][0]
"""The store whose orders the demo's channel reads."""
WEBHOOK_SECRET = "shelfsync-demo-shipstation-hooks"
"""The secret in the webhook target URL: the channel chooses it, any long enough one does."""


class ShipStationPlay(HookedStorefront):
    def __init__(self, app: SandboxApp, base_url: str) -> None:
        """``base_url``: where the sandbox is served."""
        super().__init__(origin_of_store(STORE_ID), base_url)
        self.app = app

    def listed_skus(self) -> list[str]:
        return sorted(item.sku for item in self.app.state.catalog.items if item.sku)

    async def place(
        self, http: httpx.AsyncClient, lines: list[tuple[str, int]], shipping: str
    ) -> str:
        [placed] = await shopper_hook(
            http, self.orders_hook, lines, store_id=STORE_ID, shipping=shipping
        )
        return str(placed["orderId"])

    def shown_stock(self) -> dict[str, int]:
        return {}

    async def subscribe(self, http: httpx.AsyncClient, url: str) -> None:
        # V1 signs nothing: the channel's secret rides in the target URL.
        target = f"{url}?{urllib.parse.urlencode({TOKEN_PARAMETER: WEBHOOK_SECRET})}"
        subscription = {"target_url": target, "event": "ORDER_NOTIFY", "store_id": STORE_ID}
        await post_hook(http, f"{self.base_url}/_sandbox/webhooks", subscription)

    def usage(self) -> ApiUsage:
        counters, limit = self.app.state.counters, self.app.limiter.limit
        return ApiUsage(
            calls=counters["requests"],
            spent=counters["requests"] - counters["throttled"],
            throttled=counters["throttled"],
            noop_writes=0,  # V1 keeps no stock: nothing is written to it
            rate=limit / self.app.limiter.window,
            burst=limit,
        )

    def tracking_numbers(self) -> dict[str, list[str]]:
        numbers: dict[str, list[str]] = {}
        for fulfillment in self.app.state.fulfillments:
            if not fulfillment.voided:
                number = fulfillment.tracking_number or ""
                numbers.setdefault(str(fulfillment.order_id), []).append(number)
        return numbers


class ShipStationDemo:
    platform = "shipstation"

    def __init__(self, options: SandboxOptions) -> None:
        self.app = create_app(options)

    def played(self, url: str) -> Played:
        return Played(
            play=ShipStationPlay(self.app, url),
            settings={"store_id": STORE_ID, "base_url": url},
            secrets={
                "api_key": SANDBOX_KEY,
                "api_secret": SANDBOX_SECRET,
                "webhook_secret": WEBHOOK_SECRET,
            },
        )


def demo_storefront(options: SandboxOptions) -> ShipStationDemo:
    return ShipStationDemo(options)
