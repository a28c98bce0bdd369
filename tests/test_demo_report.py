"""The demo's consistency report on a settled shop: every broken promise named, and a split
shipment whose second tracking write the store refused held for an operator, not lost."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import msgspec

from actors.pool import Pool
from connectors import model
from connectors.sandbox_play import ProviderOrder, ProviderShipment
from daemon.demo_play import PlacedOrder
from daemon.demo_report import Report, build_report, held_tracking, render, unaccounted_orders
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


def decided(
    store_order_id: str,
    state: str = "imported",
    reason: str | None = None,
    *,
    origin: str = ORIGIN,
    channel: str = "ss",
) -> OrderEntry:
    """The hub's decision about a store order (its body a real canonical order)."""
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    order = model.Order(
        channel=channel,
        origin=origin,
        store_order_id=store_order_id,
        reference_id=f"#{store_order_id}",
        status="open",
        payment_status="paid",
        fulfillment_status="unfulfilled",
        created_at=stamp,
        updated_at=stamp,
        lines=[],
    )
    body = msgspec.json.encode(order)
    return OrderEntry(origin, store_order_id, channel, state, reason, None, body, stamp)  # type: ignore[arg-type]


def pool_of(*entries: OrderEntry) -> Pool:
    return Pool(HubSnapshot(orders=list(entries), stock=[], reservations=[], pushed=[], catalog=[]))


def pool() -> Pool:
    return pool_of(decided("1"))


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
    return HeldException("ss", None, "1", "split_shipment", "", msgspec.json.encode(push), "write")


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
    stock_write = HeldException(
        "web", None, "stock:1", "remote_validation", "", b'{"targets": []}', "write"
    )
    held = held_tracking([stock_write, refused_second_package()])
    assert held == {"902": "split_shipment"}
    assert report(held) == (True, {"split_shipment": 1}, 0)


def test_a_tracking_number_the_store_lacks_with_nothing_held_is_inconsistent() -> None:
    assert report({}) == (False, {}, 1)


SHOP = "shopify:web.example"


def web(store_order_id: str, state: str = "imported", reason: str | None = None) -> OrderEntry:
    return decided(store_order_id, state, reason, origin=SHOP, channel="web")


class Store:
    """A storefront as the report sees it, in a chosen state."""

    origin = SHOP

    def __init__(self, stock: dict[str, int], tracking: dict[str, list[str]]) -> None:
        self.stock = stock
        self.tracking = tracking

    def listed_skus(self) -> list[str]:
        return sorted(self.stock)

    async def place(
        self, http: httpx.AsyncClient, lines: list[tuple[str, int]], shipping: str
    ) -> str:
        raise AssertionError("the report never places orders")

    def shown_stock(self) -> dict[str, int]:
        return self.stock

    def tracking_numbers(self) -> dict[str, list[str]]:
        return self.tracking


def shipped(order_id: int, store_order_id: str, *tracking: str) -> ProviderOrder:
    return ProviderOrder(
        order_id=order_id,
        origin=SHOP,
        store_order_id=store_order_id,
        cancelled=False,
        shipments=[ProviderShipment(f"{order_id}{n}", True, t) for n, t in enumerate(tracking)],
    )


def report_of(store: Store, provider: list[ProviderOrder], *entries: OrderEntry) -> str:
    placed = [PlacedOrder("web", SHOP, e.store_order_id, "Standard") for e in entries]
    placed.append(PlacedOrder("web", SHOP, "never-read", "Standard"))
    report = build_report(
        placed, pool_of(*entries), {"web": store}, provider, {"A": 5, "B": 0}, {"web": 0}, 0
    )
    assert not report.consistent
    return render(report)


def test_the_report_names_every_broken_promise() -> None:
    store = Store(stock={"A": 4, "B": 0}, tracking={"1": ["T1", "T1"]})
    provider = [shipped(10, "1", "T1", "T2"), shipped(11, "1")]
    text = report_of(
        store,
        provider,
        *(web(n) for n in ("1", "2")),
        web("3", "held", "oversell"),
    )
    assert "1 store orders have more than one fulfillment order" in text
    assert "1 imported orders have no fulfillment order" in text  # order 2
    assert "1 placed orders were never decided" in text
    assert "1 shipped shipments have no store fulfillment" in text  # T2
    assert "1 store fulfillments were written twice" in text  # T1
    assert "web: 1 SKUs show the wrong stock" in text
    assert "A: shows 4, should show 5" in text
    assert "held: 1 oversell" in text


KIT = {"KIT": [model.BundleComponent("A", 2), model.BundleComponent("B", 1)]}


def bundle_report(
    shown_kits: int, provider: list[ProviderOrder], sellable: dict[str, int]
) -> Report:
    """The report on a shop selling ``KIT`` (two A and one B) whose store shows ``shown_kits``
    and the provider's stock shows ``sellable``; orders 1 and 2 each sold one kit."""
    entries = [web("1"), web("2")]
    placed = [
        PlacedOrder("web", SHOP, e.store_order_id, "Standard", (("KIT", 1),)) for e in entries
    ]
    store = Store(stock={"A": 5, "B": 3, "KIT": shown_kits}, tracking={})
    return build_report(
        placed, pool_of(*entries), {"web": store}, provider, sellable, {"web": 0}, 0, {}, KIT
    )


def created(store_order_id: str, products: dict[str, int]) -> ProviderOrder:
    return ProviderOrder(int(store_order_id), SHOP, store_order_id, False, [], products)


def test_a_bundle_should_show_its_scarcest_component_and_be_created_as_its_components() -> None:
    as_components = [created("1", {"A": 2, "B": 1}), created("2", {"A": 2, "B": 1})]
    right = bundle_report(2, as_components, {"A": 5, "B": 3})  # A allows 2 kits, B 3
    assert right.consistent, right.problems
    assert (right.bundle_orders, right.bundle_orders_wrong) == (2, 0)
    assert right.stores[0].stock_checked == 3
    assert "orders with a bundle: 2 (not created as its components: 0)" in render(right)

    as_sold = [created("1", {"A": 2, "B": 1}), created("2", {"KIT": 1})]
    wrong = bundle_report(3, as_sold, {"A": 5, "B": 3, "KIT": 1})
    text = render(wrong)
    assert "KIT: shows 3, should show 2" in text
    assert "1 orders with a bundle were not created as its components" in text
    assert "bundles held as products at the provider: KIT" in text


def test_an_order_not_imported_must_be_held_with_an_open_exception_of_its_reason() -> None:
    placed = [PlacedOrder("ss", ORIGIN, number, "Standard") for number in ("1", "2", "3", "4")]
    decisions = pool_of(
        decided("1"),
        decided("2", "held", "oversell"),
        decided("3", "held", "unmapped_ship_method"),
        decided("4", "skipped", None),
    )
    open_holds = [
        HeldException("ss", "orders", "2", "oversell", "SC-1 would go below zero", None, "order"),
        HeldException("ss", "orders", "3", "oversell", "an older reason", None, "order"),
    ]
    assert unaccounted_orders(placed, decisions, open_holds) == [
        "ss 3: held (unmapped_ship_method) with no open exception",
        "ss 4: skipped without a reason",
    ]
