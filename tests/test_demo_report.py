"""The demo's consistency report on a settled shop: a split shipment whose second tracking
write the store refused is held for an operator, not lost."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import msgspec

from actors.pool import Pool
from connectors import model
from connectors.sandbox_play import ProviderOrder, ProviderShipment
from daemon.demo_play import PlacedOrder
from daemon.demo_report import build_report, held_tracking
from daemon.store import HeldException, HubSnapshot, OrderEntry

ORIGIN = "shipstation:2001"


class OneTrackingStore:
    """A store that took the first package's tracking number only."""

    origin = ORIGIN

    def listed_skus(self) -> list[str]:
        return ["SKU-1"]

    async def place(
        self, http: httpx.AsyncClient, lines: list[tuple[str, int]], shipping: str
    ) -> str:
        return "1"

    def shown_stock(self) -> dict[str, int]:
        return {}

    def tracking_numbers(self) -> dict[str, list[str]]:
        return {"1": ["T-1"]}


def pool() -> Pool:
    entry = OrderEntry(ORIGIN, "1", "ss", "imported", None, None, b"{}", datetime.now(UTC))
    return Pool(HubSnapshot(orders=[entry], stock=[], reservations=[], pushed=[], catalog=[]))


def refused_second_package() -> HeldException:
    shipment = model.Shipment(
        shipment_id="902",
        order_reference=f"{ORIGIN}:1",
        lines=[model.ShipmentLine(sku="SKU-1", quantity=1)],
        carrier="USPS",
        tracking_number="T-2",
        tracking_url=None,
        shipped_at=None,
    )
    push = model.TrackingPush(store_order_id="1", shipment=shipment)
    return HeldException("ss", None, "1", "split_shipment", "", msgspec.json.encode(push))


def report(held: dict[str, str]) -> tuple[bool, dict[str, int], int]:
    shipments = [
        ProviderShipment(id_, True, number) for id_, number in (("901", "T-1"), ("902", "T-2"))
    ]
    provider = [ProviderOrder(7, ORIGIN, "1", False, shipments)]
    placed = [PlacedOrder("ss", ORIGIN, "1", "Standard")]
    made = build_report(
        placed, pool(), {"ss": OneTrackingStore()}, provider, {}, {"ss": 0}, 0, held
    )
    return made.consistent, made.tracking_held, made.tracking_missing


def test_a_refused_tracking_write_held_for_an_operator_is_listed_not_missing() -> None:
    stock_write = HeldException("web", None, "stock:1", "refused", "", b'{"targets": []}')
    held = held_tracking([stock_write, refused_second_package()])
    assert held == {"902": "split_shipment"}
    assert report(held) == (True, {"split_shipment": 1}, 0)


def test_a_tracking_number_the_store_lacks_with_nothing_held_is_inconsistent() -> None:
    assert report({}) == (False, {}, 1)
