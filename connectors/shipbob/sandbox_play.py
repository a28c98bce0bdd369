"""The ShipBob sandbox played by ``shelfsync demo`` (see :mod:`connectors.sandbox_play`)."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from connectors.sandbox_play import (
    ApiUsage,
    ProviderOrder,
    ProviderShipment,
    SandboxFaults,
    inject_knobs,
)
from connectors.sandbox_server import SandboxOptions
from connectors.shipbob import sandbox_shipments as lifecycle
from connectors.shipbob import wire
from connectors.shipbob.mapping import split_reference_id
from connectors.shipbob.sandbox import SandboxApp, create_app
from connectors.shipbob.sandbox_state import SANDBOX_TOKEN, WEBHOOK_TOPICS

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"shelfsync demo: webhooks").decode()
"""The ``whsec_`` secret the demo's channel and its subscription share."""


class ShipBobPlay:
    def __init__(self, app: SandboxApp, base_url: str) -> None:
        self.app = app
        self.base_url = base_url

    async def subscribe(self, http: httpx.AsyncClient, url: str) -> None:
        # Through ShipBob's own API: subscriptions have no sandbox hook.
        subscription = {"url": url, "topics": list(WEBHOOK_TOPICS), "secret": WEBHOOK_SECRET}
        response = await http.post(
            f"{self.base_url}/2026-01/webhook",
            json=subscription,
            headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"},
        )
        response.raise_for_status()

    async def inject(self, http: httpx.AsyncClient, faults: SandboxFaults) -> None:
        await inject_knobs(http, self.base_url, faults)

    def usage(self) -> ApiUsage:
        counters, limit = self.app.counters, self.app.limiter
        return ApiUsage(
            calls=counters["requests"],
            spent=counters["requests"] - counters["throttled"],
            throttled=counters["throttled"],
            noop_writes=0,  # the provider is sent no stock
            rate=limit.limit / limit.window,
            burst=limit.limit,
        )

    def orders(self) -> list[ProviderOrder]:
        result = []
        for order in self.app.state.orders.values():
            store_order = split_reference_id(order.reference_id or "")
            result.append(
                ProviderOrder(
                    order_id=order.id,
                    origin=store_order[0] if store_order else None,
                    store_order_id=store_order[1] if store_order else None,
                    cancelled=order.status == "Cancelled",
                    shipments=[
                        ProviderShipment(
                            shipment_id=str(s.id),
                            shipped=s.status in ("Completed", "Delivered"),
                            tracking_number=s.tracking.tracking_number if s.tracking else None,
                        )
                        for s in order.shipments
                    ],
                    products=_units(order.products),
                )
            )
        return result

    async def ship(self, http: httpx.AsyncClient, order_id: int, *, split: bool) -> bool:
        order = self.app.state.orders.get(order_id)
        unstarted = (
            None
            if order is None
            else next((s for s in order.shipments if lifecycle.step_of(s) == "Processing"), None)
        )
        if unstarted is None:
            return False
        units = [(p.sku or "", lifecycle.quantity(p)) for p in unstarted.products]
        packages = _split(units) if split else [units]
        body = {
            "order_id": order_id,
            "shipments": [
                {
                    "products": [{"sku": sku, "quantity": n} for sku, n in package],
                    "carrier": "USPS",
                    "tracking_number": f"9400{order_id:08d}{index}",
                }
                for index, package in enumerate(packages, start=1)
            ],
        }
        response = await http.post(f"{self.base_url}/_sandbox/ship", json=body)
        return response.status_code == 200

    async def receive(self, http: httpx.AsyncClient, sku: str, units: int) -> None:
        response = await http.post(
            f"{self.base_url}/_sandbox/inventory", json={"sku": sku, "received": units}
        )
        response.raise_for_status()

    def sellable(self) -> dict[str, int]:
        return {
            stock.sku: sum(stock.on_hand.values()) - sum(stock.committed.values()) - stock.exception
            for stock in self.app.state.stock.values()
        }


def _split(units: list[tuple[str, int]]) -> list[list[tuple[str, int]]]:
    """Two packages: the first unit alone, the rest together (one package if only one unit)."""
    (first_sku, first_count), rest = units[0], units[1:]
    if first_count > 1:
        rest = [(first_sku, first_count - 1), *rest]
    return [[(first_sku, 1)], rest] if rest else [[(first_sku, 1)]]


class ShipBobDemo:
    """The provider side of the demo: the sandbox app, and how to play it once served."""

    def __init__(self, options: SandboxOptions) -> None:
        self.app = create_app(options)

    def played(self, url: str) -> tuple[ShipBobPlay, dict[str, Any], dict[str, str]]:
        """The play, the channel's settings and its credentials for the sandbox at ``url``."""
        return (
            ShipBobPlay(self.app, url),
            {"channel_id": self.app.state.channel_id, "base_url": url},
            {"token": SANDBOX_TOKEN, "webhook_secret": WEBHOOK_SECRET},
        )


def demo_provider(options: SandboxOptions) -> ShipBobDemo:
    return ShipBobDemo(options)


def _units(products: list[wire.OrderProduct]) -> dict[str, int]:
    """SKU → units over an order's products (a SKU may be on several lines)."""
    units: dict[str, int] = {}
    for product in products:
        sku = product.sku or ""
        units[sku] = units.get(sku, 0) + product.quantity
    return units
