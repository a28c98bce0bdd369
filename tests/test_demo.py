"""``shelfsync demo``: the real command end to end, and the report's verdicts."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import msgspec
import trio

from actors.pool import Pool
from connectors.model import Order
from connectors.sandbox_play import ProviderOrder, ProviderShipment
from daemon.demo_play import PlacedOrder
from daemon.demo_report import build_report, render
from daemon.store import HubSnapshot, OrderEntry
from tests.daemon_process import SHELFSYNC, child_env

ORIGIN = "shopify:web.example"


async def test_the_demo_plays_a_shop_and_reports_it_consistent() -> None:
    finished = await trio.run_process(
        [SHELFSYNC, "demo", "--duration", "8", "--no-view", "--seed", "3"],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=child_env(),
    )
    out = finished.stdout.decode()
    assert finished.returncode == 0, out + finished.stderr.decode()
    assert "shelfsync demo: consistency report" in out
    assert "consistent: every order once" in out
    assert "duplicates: 0" in out


class Store:
    """A storefront as the report sees it, in a chosen state."""

    origin = ORIGIN

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


def decided(store_order_id: str, state: str = "imported", reason: str | None = None) -> OrderEntry:
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    order = Order(
        channel="web",
        origin=ORIGIN,
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
    return OrderEntry(ORIGIN, store_order_id, "web", state, reason, None, body, stamp)  # type: ignore[arg-type]


def shipped(order_id: int, store_order_id: str, *tracking: str) -> ProviderOrder:
    return ProviderOrder(
        order_id=order_id,
        origin=ORIGIN,
        store_order_id=store_order_id,
        cancelled=False,
        shipments=[ProviderShipment(f"{order_id}{n}", True, t) for n, t in enumerate(tracking)],
    )


def report_of(store: Store, provider: list[ProviderOrder], *entries: OrderEntry) -> str:
    pool = Pool(HubSnapshot(orders=list(entries), stock=[], reservations=[], pushed=[], catalog=[]))
    placed = [PlacedOrder("web", ORIGIN, e.store_order_id, "Standard") for e in entries]
    placed.append(PlacedOrder("web", ORIGIN, "never-read", "Standard"))
    report = build_report(placed, pool, {"web": store}, provider, {"A": 5, "B": 0}, {"web": 0}, 0)
    assert not report.consistent
    return render(report)


def test_the_report_names_every_broken_promise() -> None:
    store = Store(stock={"A": 4, "B": 0}, tracking={"1": ["T1", "T1"]})
    provider = [shipped(10, "1", "T1", "T2"), shipped(11, "1")]
    text = report_of(store, provider, decided("1"), decided("2"), decided("3", "held", "oversell"))
    assert "1 store orders have more than one fulfillment order" in text
    assert "1 imported orders have no fulfillment order" in text  # order 2
    assert "1 placed orders were never decided" in text
    assert "1 shipped shipments have no store fulfillment" in text  # T2
    assert "1 store fulfillments were written twice" in text  # T1
    assert "web: 1 SKUs show the wrong stock" in text
    assert "A: shows 4, should show 5" in text
    assert "held: 1 oversell" in text
