"""Shopify storefront and ShipBob fulfillment, over the full daemon: what the daemon tells
Prometheus and ``ctl import`` (the flows every storefront goes through are
in ``test_storefronts``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import generate_latest

from daemon.control import ControlRequest
from tests.e2e.conftest import Shop
from tests.e2e.shopping import (
    decision,
    place,
    shipbob_order,
    stocked_sku,
)


async def test_metrics_count_calls_records_and_rate_budget(shop: Shop) -> None:
    await stocked_sku(shop)
    wanted = [
        'shelfsync_api_requests_total{channel="web",status="200"}',
        'shelfsync_api_requests_total{channel="fc",status="201"}',
        'shelfsync_api_request_duration_seconds_count{channel="fc"}',
        'shelfsync_records_synced_total{channel="fc",direction="in",stream="inventory"}',
        'shelfsync_records_synced_total{channel="web",direction="out",stream="inventory.set"}',
        'shelfsync_records_synced_total{channel="fc",direction="out",stream="product.create"}',
        'shelfsync_rate_limit_remaining_ratio{channel="web"}',
        "shelfsync_propagation_seconds_count 1.0",
    ]

    def missing() -> list[str]:
        text = generate_latest(shop.daemon.metrics.registry).decode()
        return [series for series in wanted if series not in text]

    # The store shows the quantity before the actor has recorded its write as done.
    await shop.until(lambda: not missing())
    ratio = shop.daemon.metrics.rate_limit_remaining.labels("web")._value.get()
    assert 0 < ratio <= 1


async def test_ctl_import_reports_per_order_what_happened(shop: Shop) -> None:
    sku = await stocked_sku(shop)
    fresh = await place(shop, sku)
    unpaid = await place(shop, sku, paid=False)
    unmapped = await place(shop, sku, shipping="Overnight")
    await shop.sync("web", "orders")
    assert decision(shop, fresh) == "imported:None"
    # Placed after that read: the import itself reads it.
    late = await place(shop, sku)
    # An operator may name an order by its number or by its id.
    wanted = [fresh.number, unpaid.store_order_id, unmapped.store_order_id, late.number, "#9999"]
    answer = await shop.daemon.handle_control(
        ControlRequest(verb="import", channel="web", orders=wanted)
    )
    assert answer.lines == [
        f"{fresh.number}: already imported",
        f"{unpaid.store_order_id}: skipped: payment_status (payment status pending, not paid)",
        f"{unmapped.store_order_id}: held: unmapped_ship_method "
        "(shipping method 'Overnight' has no ship option)",
        f"{late.number}: imported",
        "#9999: not found in the store",
    ]
    assert not answer.ok  # one was not found
    await shop.until(lambda: shipbob_order(shop, late) is not None)


async def test_ctl_import_fetches_an_order_older_than_the_cursor_that_no_read_returned(
    shop: Shop,
) -> None:
    sku = await stocked_sku(shop)
    await shop.sync("web", "orders")
    cursor = orders_cursor(shop)
    assert cursor is not None
    old = await place(shop, sku)
    # Placed before the cursor and its webhook lost: no read of the stream returns it.
    stored = shop.store().state.orders[int(old.id)]
    stored.created_at = stored.updated_at = cursor - timedelta(hours=1)
    await shop.sync("web", "orders")
    assert decision(shop, old) is None
    answer = await shop.daemon.handle_control(
        ControlRequest(verb="import", channel="web", orders=[old.number])
    )
    assert (answer.ok, answer.lines) == (True, [f"{old.number}: imported"])
    assert orders_cursor(shop) == cursor  # a fetch says nothing of how far the stream is read
    await shop.until(lambda: shipbob_order(shop, old) is not None)
    again = await shop.daemon.handle_control(
        ControlRequest(verb="import", channel="web", orders=[old.store_order_id])
    )
    assert (again.ok, again.lines) == (True, [f"{old.store_order_id}: already imported"])


async def test_ctl_import_on_a_paused_channel_says_so_at_once(shop: Shop) -> None:
    await shop.until(shop.daemon.quiet)  # the first reads done: the shop stops between reads
    await shop.daemon.handle_control(ControlRequest(verb="pause", channel="web"))
    answer = await shop.daemon.handle_control(
        ControlRequest(verb="import", channel="web", orders=["#1001"])
    )
    assert (answer.ok, answer.lines) == (
        False,
        ["web: paused, it makes no calls; resume it to import"],
    )


def orders_cursor(shop: Shop) -> datetime | None:
    streams = shop.actor("web").statistics().streams
    return next(s.cursor for s in streams if s.stream == "orders")
