"""Contract: every call the connector makes, against the sandbox, through the real client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import msgspec
import pytest

from connectors import model
from connectors.base import RemoteWrite
from connectors.errors import AuthFailed, RecordError, Retryable
from connectors.shipstation import mapping, pacific, wire
from connectors.shipstation.client import ShipStationClient
from connectors.shipstation.connector import ShipStationConnector
from connectors.shipstation.sandbox import SandboxApp
from tests.shipstation.conftest import NOW, STORE_ID, RecordingGate, make_connector


def tracking_push(order_id: int, tracking: str | None = "9400111", carrier: str = "USPS") -> bytes:
    shipment = model.Shipment(
        shipment_id="sb-1",
        order_reference="ref",
        lines=[],
        carrier=carrier,
        tracking_number=tracking,
        tracking_url=None,
        shipped_at=NOW,
    )
    push = model.TrackingPush(store_order_id=str(order_id), shipment=shipment)
    return msgspec.json.encode(push)


def write(kind: str, payload: bytes) -> RemoteWrite:
    return RemoteWrite(kind=kind, key="k-1", payload=payload)


def store_orders(app: SandboxApp, *statuses: str) -> list[wire.Order]:
    return [
        o
        for o in app.state.orders.values()
        if o.order_status in statuses
        and o.advanced_options is not None
        and o.advanced_options.store_id == STORE_ID
    ]


async def test_orders_stream_reads_awaiting_and_cancelled_orders_oldest_change_first(
    connector: ShipStationConnector, app: SandboxApp, gate: RecordingGate
) -> None:
    pages = [page async for page in connector.read("orders", None)]
    records = [r for page in pages for r in page.records]
    expected = store_orders(app, "awaiting_shipment", "cancelled")
    assert sorted(r.key for r in records) == sorted(str(o.order_id) for o in expected)
    assert [r.updated_at for r in records] == sorted(r.updated_at for r in records)
    assert all(r.updated_at.utcoffset() == timedelta(0) for r in records)
    # One request per status, every one of them paced by the gate and its headers observed.
    assert gate.calls == 2 and len(gate.signals) == 2
    assert gate.signals[-1].limit == 40 and gate.signals[-1].remaining == 38
    decoded = [msgspec.json.decode(r.body, type=wire.Order) for r in records]
    assert {o.order_status for o in decoded} == {"awaiting_shipment", "cancelled"}


async def test_fetch_reads_named_orders_of_the_store_by_id_or_number_as_the_stream_does(
    connector: ShipStationConnector, app: SandboxApp
) -> None:
    pages = [page async for page in connector.read("orders", None)]
    read = {r.key: r for page in pages for r in page.records}
    by_id, by_number = store_orders(app, "awaiting_shipment")[:2]
    # Shipped or on hold: in the store, but not what the stream reads.
    (unread, *_) = store_orders(app, "shipped", "on_hold", "awaiting_payment")
    elsewhere = next(
        o
        for o in app.state.orders.values()
        if o.advanced_options is not None and o.advanced_options.store_id != STORE_ID
    )
    keys = [
        str(by_id.order_id),
        by_number.order_number.removeprefix("#"),
        unread.order_number,
        str(elsewhere.order_id),
        elsewhere.order_number,
        "999999",
    ]
    page = await connector.fetch("orders", keys)
    fetched = {r.key: r for r in page.records}
    assert sorted(fetched) == sorted(str(o.order_id) for o in (by_id, by_number, unread))
    assert fetched[str(by_id.order_id)] == read[str(by_id.order_id)]
    assert fetched[str(by_number.order_id)] == read[str(by_number.order_id)]
    # A webhook's fetch keeps only what the stream reads.
    as_read = await connector.fetch(
        "orders", [str(by_id.order_id), unread.order_number], as_read=True
    )
    assert as_read.records == [read[str(by_id.order_id)]]


async def test_orders_since_a_cursor_are_those_modified_at_or_after_it(
    connector: ShipStationConnector, app: SandboxApp
) -> None:
    expected = sorted(
        store_orders(app, "awaiting_shipment", "cancelled"), key=lambda o: o.modify_date
    )
    cursor = pacific.aware(expected[1].modify_date)
    records = [
        r for page in [p async for p in connector.read("orders", cursor)] for r in page.records
    ]
    assert [r.key for r in records] == [str(o.order_id) for o in expected[1:]]


async def test_a_cancellation_is_read_after_the_orders_before_it(
    connector: ShipStationConnector, app: SandboxApp
) -> None:
    first = sorted(store_orders(app, "awaiting_shipment"), key=lambda o: o.order_id)[0]
    app.state.now = lambda: NOW + timedelta(hours=1)
    app.state.store_update(first.order_id, "cancelled")
    records = [r for page in [p async for p in connector.read("orders", NOW)] for r in page.records]
    assert [r.key for r in records] == [str(first.order_id)]
    cancelled = mapping.order_from_wire("ss", msgspec.json.decode(records[0].body, type=wire.Order))
    assert cancelled.status == "cancelled"


async def test_pages_walk_every_order_once_when_one_leaves_the_filter_mid_walk(
    client: ShipStationClient, app: SandboxApp
) -> None:
    for n in range(9):
        app.state.place_order(at=NOW + timedelta(minutes=n), notify=False)
    awaiting = {
        o.order_id for o in app.state.orders.values() if o.order_status == "awaiting_shipment"
    }
    seen: list[int] = []
    pages = client.order_pages("awaiting_shipment", None, page_size=3)
    first = await anext(pages)
    seen += [raw.stamps.order_id for raw in first]
    # An order of the first page ships: by position, the rest would move up one place.
    app.shipping.mark_as_shipped(wire.MarkShippedRequest(order_id=seen[0], carrier_code="usps"))
    seen += [raw.stamps.order_id async for page in pages for raw in page]
    assert sorted(seen) == sorted(awaiting)


async def test_fulfillment_create_marks_the_order_shipped_and_tells_the_store(
    connector: ShipStationConnector, app: SandboxApp
) -> None:
    order = store_orders(app, "awaiting_shipment")[0]
    result = await connector.write(write("fulfillment.create", tracking_push(order.order_id)))
    assert result.remote_id == str(order.order_id)
    assert app.state.orders[order.order_id].order_status == "shipped"
    [fulfillment] = app.state.fulfillments
    assert (fulfillment.tracking_number, fulfillment.carrier_code) == ("9400111", "usps")
    # 18:00 UTC on 6 January is 10:00 the same day in Los Angeles.
    assert fulfillment.ship_date == "2026-01-06"
    assert fulfillment.marketplace_notified is True
    assert app.state.notified == [
        {"orderId": order.order_id, "notifyCustomer": True, "notifySalesChannel": True}
    ]


async def test_notify_sales_channel_follows_the_setting(
    http: httpx.AsyncClient, gate: RecordingGate, app: SandboxApp
) -> None:
    connector = make_connector(http, gate, notify_sales_channel=False)
    order = store_orders(app, "awaiting_shipment")[0]
    await connector.write(write("fulfillment.create", tracking_push(order.order_id)))
    assert app.state.fulfillments[0].marketplace_notified is False


async def test_a_retry_after_a_lost_reply_finds_the_fulfillment_and_marks_nothing_twice(
    connector: ShipStationConnector, app: SandboxApp
) -> None:
    order = store_orders(app, "awaiting_shipment")[0]
    app.state.faults.lose_markasshipped_replies = 1
    payload = tracking_push(order.order_id)
    with pytest.raises(Retryable):
        await connector.write(write("fulfillment.create", payload))
    again = await connector.write(write("fulfillment.create", payload))
    assert again.summary == "already marked shipped"
    assert again.remote_id == str(app.state.fulfillments[0].fulfillment_id)
    assert len(app.state.fulfillments) == 1
    assert [r for r in app.state.requests if "markasshipped" in r] == [
        "POST /orders/markasshipped 504"
    ]


async def test_a_second_shipment_of_a_marked_order_is_held_not_lost(
    connector: ShipStationConnector, app: SandboxApp
) -> None:
    order = store_orders(app, "awaiting_shipment")[0]
    await connector.write(write("fulfillment.create", tracking_push(order.order_id, "1Z-A")))
    with pytest.raises(RecordError) as caught:
        await connector.write(write("fulfillment.create", tracking_push(order.order_id, "1Z-B")))
    assert caught.value.reason == "split_shipment"
    assert "1Z-A" in str(caught.value) and "1Z-B" in str(caught.value)
    assert len(app.state.fulfillments) == 1


async def test_writes_refused_by_shipstation_or_malformed_are_record_errors(
    connector: ShipStationConnector, app: SandboxApp
) -> None:
    cancelled = store_orders(app, "cancelled")[0]
    with pytest.raises(RecordError) as refused:
        await connector.write(write("fulfillment.create", tracking_push(cancelled.order_id)))
    assert refused.value.reason == "remote_validation"
    assert "cannot be marked shipped" in str(refused.value)
    with pytest.raises(RecordError) as untracked:
        await connector.write(write("fulfillment.create", tracking_push(cancelled.order_id, None)))
    assert untracked.value.reason == "no_tracking"
    with pytest.raises(RecordError) as bad:
        await connector.write(write("fulfillment.create", b'{"store_order_id": 5}'))
    assert bad.value.reason == "schema"
    with pytest.raises(RecordError) as unknown:
        await connector.write(write("order.create", b"{}"))
    assert unknown.value.reason == "unsupported"


async def test_inventory_set_writes_nothing_and_names_the_skus(
    connector: ShipStationConnector, app: SandboxApp
) -> None:
    push = model.InventoryPush(targets=[model.StockTarget(sku="SS-0001", quantity=3)])
    result = await connector.write(write("inventory.set", msgspec.json.encode(push)))
    assert (
        result.summary == "set 0 quantities; 1 SKUs not on this store (V1 keeps no stock): SS-0001"
    )
    assert app.state.counters["requests"] == 0


async def test_refused_credentials_are_auth_failed(
    http: httpx.AsyncClient, gate: RecordingGate
) -> None:
    connector = make_connector(http, gate, secret="wrong")
    with pytest.raises(AuthFailed, match="401"):
        async for _ in connector.read("orders", None):
            pass


async def test_products_stream_scans_the_catalog_and_returns_what_changed_since(
    connector: ShipStationConnector, app: SandboxApp, gate: RecordingGate
) -> None:
    [page] = [page async for page in connector.read("products", None)]
    assert sorted(r.key for r in page.records) == sorted(str(p) for p in app.state.catalog.products)
    assert [r.updated_at for r in page.records] == sorted(r.updated_at for r in page.records)
    edited = next(iter(app.state.catalog.products))
    later = NOW + timedelta(minutes=1)
    app.state.catalog.edit(edited, {"weight_oz": 9.5}, later)
    calls = gate.calls
    [changed] = [page async for page in connector.read("products", later)]
    assert [r.key for r in changed.records] == [str(edited)]
    assert gate.calls == calls + 1  # one page of up to 500 products: the whole catalog
    [item] = mapping.items_from_product(
        "ss", msgspec.json.decode(changed.records[0].body, type=wire.Product)
    )
    assert item.weight == model.Weight(value=Decimal("9.5"), unit="oz")
    assert [p async for p in connector.read("products", later + timedelta(seconds=1))] == []


async def test_a_cursor_in_the_repeated_hour_skips_no_order_after_it(
    client: ShipStationClient, app: SandboxApp
) -> None:
    # 1 November 2026, clocks fall back at 09:00 UTC: 01:00-02:00 Pacific happens twice.
    fall_back = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    placed = {
        minutes: app.state.place_order(at=fall_back + timedelta(minutes=minutes), notify=False)
        for minutes in (-50, -10, 10, 50, 70)
    }
    cursor = fall_back + timedelta(minutes=30)  # 01:30 the second time (PST)
    read = {
        raw.stamps.order_id
        async for page in client.order_pages("awaiting_shipment", cursor)
        for raw in page
    }
    after = {placed[m].order_id for m in (50, 70)}
    assert after <= read
    # Asked from 01:30 the first time (PDT): what is re-read is at most an hour's worth.
    assert placed[-50].order_id not in read
