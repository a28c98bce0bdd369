"""Shopify storefront and ShipBob fulfillment, over the full daemon: what the daemon tells
Prometheus (the flows every storefront goes through are in ``test_storefronts``)."""

from __future__ import annotations

from prometheus_client import generate_latest

from tests.e2e.conftest import Shop
from tests.e2e.shopping import stocked_sku


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
