"""The ShipBob sandbox's warehouse hook: receipts and adjustments show up in the API."""

from __future__ import annotations

import httpx

from connectors.model import InventoryLevel
from connectors.shipbob import mapping
from connectors.shipbob.client import ShipBobClient
from connectors.shipbob.sandbox import SandboxApp

BASE = "http://sandbox.test"


async def test_a_receipt_changes_what_the_inventory_api_reports(
    http: httpx.AsyncClient, client: ShipBobClient, app: SandboxApp
) -> None:
    stock = next(iter(app.state.stock.values()))
    answer = await http.post(
        BASE + "/_sandbox/inventory",
        json={"sku": stock.sku, "location_id": 28, "on_hand": 40, "committed": 5, "exception": 2},
    )
    assert answer.status_code == 200
    located = {i.inventory_id: i for i in await client.inventory_levels_by_location()}
    totals = {t.inventory_id: t for t in await client.inventory_totals()}
    levels = mapping.inventory_levels(
        "shipbob", located[stock.inventory_id], totals[stock.inventory_id]
    )
    by_location = {level.location: level for level in levels}
    assert by_location["28"] == InventoryLevel(
        sku=stock.sku, location="28", fulfillable=35, on_hand=40, committed=5
    )
    assert by_location["network"].exception == 2


async def test_impossible_counts_are_refused_and_change_nothing(
    http: httpx.AsyncClient, app: SandboxApp
) -> None:
    stock = next(iter(app.state.stock.values()))
    before = (dict(stock.on_hand), dict(stock.committed), stock.exception)
    for body, status in (
        ({"sku": stock.sku, "location_id": 10, "on_hand": 1, "committed": 2}, 400),
        ({"sku": stock.sku, "location_id": 99, "on_hand": 1}, 400),
        ({"sku": stock.sku, "on_hand": -1}, 400),
        ({"sku": "NO-SUCH-SKU", "on_hand": 1}, 404),
    ):
        assert (await http.post(BASE + "/_sandbox/inventory", json=body)).status_code == status
    assert (dict(stock.on_hand), dict(stock.committed), stock.exception) == before
