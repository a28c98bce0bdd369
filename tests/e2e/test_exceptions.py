"""The exception queue and the audit log, as an operator uses them: ``shelfsync ctl`` run as a
child process against the control socket of a daemon syncing a Shopify store with ShipBob."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import generate_latest

from tests.daemon_process import ctl, ctl_json
from tests.e2e.conftest import Shop
from tests.e2e.shopping import (
    available,
    decision,
    place,
    receive,
    ship,
    shipbob_order,
    shipbob_sellable,
    shipment,
    stocked_sku,
    trackings,
)
from tests.e2e.storefronts import Placed, ShopifyStore


def socket(shop: Shop) -> Any:
    return shop.config_path.parent / "control.sock"


async def open_exceptions(shop: Shop, *args: str) -> list[dict[str, Any]]:
    answer = await ctl_json(socket(shop), "exceptions", "list", *args)
    return list(answer.get("exceptions", []))


async def the_exception(shop: Shop, reason: str, entity: str) -> dict[str, Any]:
    [found] = [e for e in await open_exceptions(shop, "--reason", reason) if e["entity"] == entity]
    return found


def shipbob_orders_of(shop: Shop, order: Placed) -> int:
    reference = shipbob_order(shop, order).reference_id
    return sum(o.reference_id == reference for o in shop.shipbob.state.orders.values())


async def test_a_held_order_replayed_is_held_again_until_the_mapping_is_fixed(shop: Shop) -> None:
    sku = await stocked_sku(shop)
    order = await place(shop, sku, shipping="Express")
    await shop.sync("web", "orders")
    held = await the_exception(shop, "unmapped_ship_method", order.store_order_id)
    assert (held["kind"], held["channel"], held["attempts"], held["retryable"]) == (
        "order",
        "web",
        1,
        True,
    )

    code, output = await ctl(socket(shop), "exceptions", "replay", str(held["id"]))
    assert code == 0, output
    assert "held again: unmapped_ship_method" in output
    # Still broken: the same exception, one more attempt, not a second row.
    again = await the_exception(shop, "unmapped_ship_method", order.store_order_id)
    assert (again["id"], again["attempts"]) == (held["id"], 2)

    # The operator fixes the mapping; the reload decides the order again and imports it.
    mapped = {**shop.tables["web"]["ship_methods"], "Express": {"ship_option": "2-Day"}}
    await shop.rewrite_config(ship_methods=mapped)
    await shop.until(lambda: shipbob_order(shop, order) is not None)
    code, output = await ctl(socket(shop), "exceptions", "replay", str(held["id"]))
    assert (code, output) == (1, f"exception {held['id']}: already resolved\n")
    assert shipbob_orders_of(shop, order) == 1


async def test_an_oversell_replayed_is_imported_once_as_an_operators_override(shop: Shop) -> None:
    sku = await stocked_sku(shop, on_hand=1)
    first = await place(shop, sku)
    second = await place(shop, sku)
    await shop.sync("web", "orders")
    assert decision(shop, second) == "held:oversell"
    held = await the_exception(shop, "oversell", second.store_order_id)
    assert held["retryable"] is False  # an approval: never replayed in bulk

    code, output = await ctl(socket(shop), "exceptions", "replay", "--all-retryable")
    assert (code, decision(shop, second)) == (0, "held:oversell"), output

    code, output = await ctl(socket(shop), "exceptions", "replay", str(held["id"]))
    assert code == 0, output
    assert output.strip().endswith("imported as an operator's override of the oversell")
    assert decision(shop, second) == "imported:None"
    await shop.until(lambda: shipbob_order(shop, second) is not None)
    assert shipbob_orders_of(shop, second) == 1 and shipbob_orders_of(shop, first) == 1
    shown = await ctl_json(socket(shop), "exceptions", "show", str(held["id"]))
    [closed] = shown["exceptions"]
    assert closed["resolution"] == "replayed" and closed["resolved_at"] is not None
    assert await the_exception_gone(shop, "oversell")


async def the_exception_gone(shop: Shop, reason: str) -> bool:
    return not await open_exceptions(shop, "--reason", reason)


async def refused_fulfillment(shop: Shop) -> tuple[Placed, dict[str, Any], list[Any]]:
    """An imported order that the store's admin marked as having nothing left to fulfil when
    ShipBob ships it: the tracking write is refused and waits in the exception queue. Also the
    order's fulfillment order lines, to give back what they had."""
    sku = await stocked_sku(shop)
    order = await place(shop, sku)
    await shop.sync("web", "orders")
    await shop.until(lambda: shipbob_order(shop, order) is not None)
    state = shop.store().state
    lines = [
        line
        for fo in state.fulfillment_orders.values()
        if str(fo.order_id) == order.id
        for line in fo.lines
    ]
    for line in lines:
        line.remaining = 0
    shipped = await ship(shop, order, shipment(sku, 1, "1ZHOLD"))
    key = f"shipment:{shipped.shipments[0].id}"

    async def listed() -> bool:
        return any(e["entity"] == key for e in await open_exceptions(shop, "--channel", "web"))

    await shop.until(listed)
    [refused] = [e for e in await open_exceptions(shop) if e["entity"] == key]
    return order, refused, lines


async def test_a_write_the_store_refused_is_listed_and_replayed_under_its_key(shop: Shop) -> None:
    order, refused, lines = await refused_fulfillment(shop)
    assert (refused["kind"], refused["reason"], refused["retryable"]) == (
        "write",
        "remote_validation",
        True,
    )
    code, table = await ctl(socket(shop), "exceptions", "list", "--channel", "web")
    assert code == 0
    header, *rows = table.splitlines()
    assert header.split()[:4] == ["ID", "CHANNEL", "KIND", "REASON"]
    assert any(
        row.split()[:4] == [str(refused["id"]), "web", "write", "remote_validation"] for row in rows
    )
    code, shown = await ctl(socket(shop), "exceptions", "show", str(refused["id"]))
    assert code == 0 and "payload:\n  {" in shown and '"tracking_number": "1ZHOLD"' in shown

    # The merchant puts the lines back in Shopify; every retryable exception is replayed.
    for line in lines:
        line.remaining = line.total
    code, output = await ctl(socket(shop), "exceptions", "replay", "--all-retryable")
    assert code == 0, output
    assert f"queued again as {refused['entity']}" in output
    await shop.until(lambda: trackings(shop, order) == ["1ZHOLD"])

    async def closed() -> bool:
        shown = await ctl_json(socket(shop), "exceptions", "show", str(refused["id"]))
        return bool(shown["exceptions"][0]["resolution"] == "resolved")

    await shop.until(closed)

    # The audit log tells the write's story: tried, refused, replayed, tried, done.
    code, exported = await ctl(socket(shop), "audit", "--entity", refused["entity"], "--jsonl")
    assert code == 0
    entries = [json.loads(line) for line in exported.splitlines()]
    assert [e["action"] for e in entries] == [
        "write.started",
        "write.failed",
        "exception.replayed",
        "write.started",
        "write.done",
    ]
    done = entries[-1]
    assert done["channel"] == "web" and done["idempotency_key"] == refused["entity"]
    assert done["remote_id"] and done["summary"].startswith("fulfillment.create shipment ")
    assert "1ZHOLD" in entries[0]["summary"] and "nothing left" in entries[1]["result"]


async def test_a_discarded_write_stays_out_of_the_outbox(shop: Shop) -> None:
    order, refused, _ = await refused_fulfillment(shop)
    code, output = await ctl(socket(shop), "exceptions", "discard", str(refused["id"]))
    assert (code, output) == (0, f"exception {refused['id']}: discarded\n")
    assert refused["entity"] not in [e["entity"] for e in await open_exceptions(shop)]
    every = await open_exceptions(shop, "--all")
    assert [e["resolution"] for e in every if e["id"] == refused["id"]] == ["discarded"]
    code, output = await ctl(socket(shop), "exceptions", "replay", str(refused["id"]))
    assert code == 1 and "already discarded" in output
    assert await shop.daemon.quiet()
    assert trackings(shop, order) == []
    audit = await ctl_json(socket(shop), "audit", "--channel", "web", "--entity", refused["entity"])
    assert audit["audit"][-1]["action"] == "exception.discarded"
    code, output = await ctl(socket(shop), "exceptions", "show", "99999")
    assert (code, output) == (1, "no exception 99999\n")


async def test_the_open_exceptions_gauge_is_labelled_by_channel_and_reason(shop: Shop) -> None:
    sku = await stocked_sku(shop)
    for _ in range(2):
        await place(shop, sku, shipping="Express")
    await shop.sync("web", "orders")
    await shop.daemon.refresh_exception_gauge()
    text = generate_latest(shop.daemon.metrics.registry).decode()
    # The seeded store has orders of its own with unmapped methods; ours are two more.
    unmapped = await open_exceptions(shop, "--reason", "unmapped_ship_method")
    assert len(unmapped) >= 2
    series = 'shelfsync_exceptions_open{channel="web",reason="unmapped_ship_method"}'
    assert f"{series} {len(unmapped)}.0" in text
    for held in unmapped:
        assert (await ctl(socket(shop), "exceptions", "discard", str(held["id"])))[0] == 0
    text = generate_latest(shop.daemon.metrics.registry).decode()
    assert series not in text  # no pair left open: the series is gone, not 0


async def test_holds_are_audited_and_the_audit_is_filtered(shop: Shop) -> None:
    sku = await stocked_sku(shop)
    order = await place(shop, sku, shipping="Express")
    started = datetime.now(UTC).isoformat()
    await shop.sync("web", "orders")
    answer = await ctl_json(socket(shop), "audit", "--entity", order.store_order_id)
    [hold] = answer["audit"]
    assert (hold["action"], hold["channel"], hold["summary"]) == (
        "hold",
        "web",
        "unmapped_ship_method",
    )
    assert "Express" in hold["result"]
    # The hold changed nothing at the provider, but the store is told the pool's stock again.
    code, table = await ctl(socket(shop), "audit", "--channel", "web", "--since", started)
    assert code == 0
    header, *rows = table.splitlines()
    assert header.split()[:3] == ["AT", "CHANNEL", "ACTION"]
    assert {row.split()[3] for row in rows} >= {"hold", "write.started", "write.done"}
    assert all(row.split()[2] == "web" for row in rows)
    code, table = await ctl(socket(shop), "audit", "--since", "1h", "--limit", "1")
    assert code == 0 and len(table.splitlines()) == 2


@pytest.mark.parametrize(
    "storefronts", [[ShopifyStore("web", write_attempts=1, retry_attempts=1)]], ids=["shopify"]
)
async def test_a_stock_write_given_up_is_replayed_with_the_current_quantities(shop: Shop) -> None:
    sku = await stocked_sku(shop)
    faults = f"http://{shop.store().host}/_sandbox/faults"
    assert (await shop.http.post(faults, json={"error_rate": 1.0})).status_code == 200
    await receive(shop, sku, 30)
    await shop.sync("fc", "inventory")
    stale = shipbob_sellable(shop, sku)

    async def held() -> dict[str, Any] | None:
        found = [e for e in await open_exceptions(shop, "--channel", "web") if e["kind"] == "stock"]
        return found[0] if found else None

    await shop.until(held)
    failed = await held()
    assert failed is not None and failed["reason"] == "retries_exhausted"

    # The store answers again, and a newer change is written before anyone replays the old one.
    assert (await shop.http.post(faults, json={"error_rate": 0.0})).status_code == 200
    await receive(shop, sku, 40)
    await shop.sync("fc", "inventory")
    current = shipbob_sellable(shop, sku)
    assert current != stale
    await shop.until(lambda: available(shop, sku) == current)

    code, output = await ctl(socket(shop), "exceptions", "replay", str(failed["id"]))
    assert code == 0, output
    assert "at their current quantities" in output
    assert await shop.daemon.quiet()
    assert available(shop, sku) == current  # not the quantity the failed write held
    shown = await ctl_json(socket(shop), "exceptions", "show", str(failed["id"]))
    assert shown["exceptions"][0]["resolution"] == "replayed"
