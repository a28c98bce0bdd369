"""The Shopify sandbox played by ``shelfsync demo`` (see :mod:`connectors.sandbox_play`)."""

from __future__ import annotations

import httpx

from connectors.sandbox_play import ApiUsage, Played, SandboxFaults, post_hook, shopper_hook
from connectors.sandbox_server import SandboxOptions
from connectors.shopify.mapping import origin_of_shop
from connectors.shopify.sandbox import ShopifySandbox, create_app
from connectors.shopify.sandbox_state import LOCATION_ID, gid

WEBHOOK_TOPICS = ("orders/create", "orders/updated", "orders/cancelled", "products/update")
"""The topics a channel subscribes: each names a stream the daemon re-reads."""


class ShopifyPlay:
    def __init__(self, app: ShopifySandbox, shop: str, base_url: str) -> None:
        """``shop`` is the domain the channel is configured with; ``base_url`` where the
        sandbox is served."""
        self.app = app
        self.origin = origin_of_shop(shop)
        self.base_url = base_url

    def _stocked(self) -> dict[str, int]:
        state = self.app.state
        return {
            variant.sku: int(state.levels[(variant.inventory_item_id, LOCATION_ID)]["available"])
            for variant in state.variants.values()
            if variant.sku and (variant.inventory_item_id, LOCATION_ID) in state.levels
        }

    def listed_skus(self) -> list[str]:
        return sorted(self._stocked())

    async def place(
        self, http: httpx.AsyncClient, lines: list[tuple[str, int]], shipping: str
    ) -> str:
        placed = await shopper_hook(
            http, f"{self.base_url}/_sandbox/orders", lines, shipping=shipping
        )
        return gid("Order", int(placed["id"]))

    def shown_stock(self) -> dict[str, int]:
        return self._stocked()

    async def subscribe(self, http: httpx.AsyncClient, url: str) -> None:
        for topic in WEBHOOK_TOPICS:
            await post_hook(
                http, f"{self.base_url}/_sandbox/webhooks", {"topic": topic, "address": url}
            )

    async def inject(self, http: httpx.AsyncClient, faults: SandboxFaults) -> None:
        # Shopify's webhook knobs are shares of deliveries, and its overtaking is a reorder.
        knobs = {
            "error_rate": faults.error_rate,
            "latency_ms": faults.latency_ms,
            "timeout_rate": faults.timeout_rate,
            "throttle_burst": faults.throttle_burst,
            "duplicate_webhooks": 1.0 if faults.duplicate_webhooks else 0.0,
            "reorder_webhooks": 0.5 if faults.out_of_order_webhooks else 0.0,
        }
        await post_hook(http, f"{self.base_url}/_sandbox/faults", knobs)

    def usage(self) -> ApiUsage:
        state = self.app.state
        counters, bucket = state.counters, state.bucket
        return ApiUsage(
            calls=counters["requests"],
            spent=counters["cost"],
            throttled=counters["throttled"],
            noop_writes=counters["noop_writes"],
            rate=bucket.restore_rate,
            burst=bucket.maximum,
        )

    def tracking_numbers(self) -> dict[str, list[str]]:
        numbers: dict[str, list[str]] = {}
        for fulfillment in self.app.state.fulfillments.values():
            number = fulfillment.tracking.get("number") or ""
            numbers.setdefault(gid("Order", fulfillment.order_id), []).append(number)
        return numbers


class ShopifyDemo:
    platform = "shopify"

    def __init__(self, options: SandboxOptions) -> None:
        self.app = create_app(options)

    def played(self, url: str) -> Played:
        shop = url.removeprefix("http://")
        return Played(
            play=ShopifyPlay(self.app, shop, url),
            settings={
                "shop": shop,
                "scheme": "http",
                "location_id": gid("Location", LOCATION_ID),
            },
            secrets={
                "token": self.app.state.access_token,
                "webhook_secret": self.app.state.webhook_secret,
            },
        )


def demo_storefront(options: SandboxOptions) -> ShopifyDemo:
    return ShopifyDemo(options)
