"""The Shopify sandbox played by ``shelfsync demo`` (see :mod:`connectors.sandbox_play`)."""

from __future__ import annotations

from typing import Any

import httpx

from connectors.sandbox_play import (
    ApiUsage,
    Played,
    SandboxFaults,
    Throttled,
    post_hook,
    shopper_hook,
)
from connectors.sandbox_server import SandboxOptions
from connectors.shopify import queries
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
        if faults.rate_scale is not None:
            knobs["rate_scale"] = faults.rate_scale
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

    async def read_one(self, http: httpx.AsyncClient, sku: str) -> tuple[str, int] | None:
        """What a one-SKU-at-a-time script asks the Admin API: the SKU's inventory item and
        its available units at the location (one call); None if no variant has it."""
        found = await self._graphql(
            http,
            queries.VARIANTS_BY_SKU,
            {"first": 1, "query": f"sku:{sku}", "locationId": gid("Location", LOCATION_ID)},
        )
        for node in found["productVariants"]["nodes"]:
            level = node["inventoryItem"]["inventoryLevel"]
            if node["sku"] == sku and level is not None:
                return node["inventoryItem"]["id"], level["quantities"][0]["quantity"]
        return None

    async def write_one(self, http: httpx.AsyncClient, item: str, quantity: int) -> None:
        """Set one inventory item's available units (one call), as such a script does."""
        change = {
            "inventoryItemId": item,
            "locationId": gid("Location", LOCATION_ID),
            "quantity": quantity,
        }
        payload = {
            "name": "available",
            "reason": "correction",
            "ignoreCompareQuantity": True,
            "quantities": [change],
        }
        await self._graphql(
            http, queries.INVENTORY_SET_QUANTITIES, {"input": payload, "key": f"{item}:{quantity}"}
        )

    async def _graphql(self, http: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> Any:
        response = await http.post(
            f"{self.base_url}/admin/api/2026-01/graphql.json",
            json={"query": query, "variables": variables},
            headers={"X-Shopify-Access-Token": self.app.state.access_token},
        )
        response.raise_for_status()
        answer = response.json()
        errors = answer.get("errors") or []
        if any(e.get("extensions", {}).get("code") == "THROTTLED" for e in errors):
            status = answer["extensions"]["cost"]["throttleStatus"]
            short = (
                answer["extensions"]["cost"]["requestedQueryCost"] - status["currentlyAvailable"]
            )
            raise Throttled(max(0.0, short) / status["restoreRate"])
        if errors:
            raise RuntimeError(f"shopify sandbox refused the call: {errors}")
        return answer["data"]

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
