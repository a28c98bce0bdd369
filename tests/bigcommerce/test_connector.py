"""The connector against the sandbox: both streams, both writes, retries after a lost reply."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx
import msgspec
import pytest

from connectors import model
from connectors.base import Record, RemoteWrite
from connectors.bigcommerce import mapping, wire
from connectors.bigcommerce.client import BigCommerceClient
from connectors.bigcommerce.connector import BigCommerceConnector, read_as
from connectors.bigcommerce.paging import keyset_pages
from connectors.bigcommerce.sandbox import SandboxApp, create_app
from connectors.bigcommerce.sandbox_state import STORE_HASH, Product, StoreState, Variant
from connectors.errors import RateLimited, RecordError, Retryable
from connectors.sandbox_server import SandboxOptions
from tests.bigcommerce.conftest import (
    CHANNEL,
    RecordingGate,
    canonical_lines,
    inventory_write,
    make_connector,
    open_order,
    tracking_write,
)


async def test_products_stream_reads_every_product_oldest_first(
    connector: BigCommerceConnector, app: SandboxApp
) -> None:
    records = [
        r for page in [p async for p in connector.read("products", None)] for r in page.records
    ]
    assert sorted(int(r.key) for r in records) == sorted(app.state.products)
    assert [r.updated_at for r in records] == sorted(r.updated_at for r in records)
    items = [
        i
        for r in records
        for i in mapping.items_from_product(CHANNEL, msgspec.json.decode(r.body, type=wire.Product))
    ]
    assert len(items) == len(app.state.variants())
    assert any(i.sku.startswith(f"{CHANNEL}:") for i in items)  # some variants have no SKU
    later = [p async for p in connector.read("products", records[-1].updated_at)]
    assert [r.key for page in later for r in page.records] == [
        r.key for r in records if r.updated_at == records[-1].updated_at
    ]


async def test_keyset_pages_cross_a_second_fuller_than_a_page_and_survive_an_edit(
    client: BigCommerceClient, app: SandboxApp, gate: RecordingGate
) -> None:
    # Three products share each second; pages of two end inside a second.
    edited = min(app.state.products)
    gate.before[3] = lambda: app.state.touch(app.state.products[edited])

    async def fetch(
        floor: datetime | None, after_id: int | None
    ) -> list[tuple[wire.ProductStamp, bytes]]:
        return await client.products_page(floor, after_id, limit=2)

    seen = [s.id for batch in [b async for b in keyset_pages(fetch, None, 2)] for s, _ in batch]
    assert set(seen) == set(app.state.products)
    assert seen[-1] == edited  # moved to the end by its edit, and read there again
    assert len(seen) == len(app.state.products) + 1


async def test_orders_stream_reads_ready_and_cancelled_statuses_merged(
    connector: BigCommerceConnector, app: SandboxApp
) -> None:
    assert connector.order_statuses() == [3, 4, 5, 6, 9, 11]
    pages = [p async for p in connector.read("orders", None)]
    records = [r for page in pages for r in page.records]
    expected = {o.id for o in app.state.orders.values() if o.status_id in (3, 4, 5, 6, 9, 11)}
    assert {int(r.key) for r in records} == expected
    assert [r.updated_at for r in records] == sorted(r.updated_at for r in records)
    assert msgspec.json.decode(msgspec.json.encode(records), type=list[Record]) == records
    orders = [mapping.order_from_record(CHANNEL, STORE_HASH, r.body) for r in records]
    assert "cancelled" in {o.status for o in orders}
    gift = next(o for o in orders if o.gift_message)
    assert gift.gift_message == "Happy birthday!"
    assert all(o.recipient is not None and o.lines for o in orders)


async def test_a_read_request_that_fails_is_tried_again_alone(
    connector: BigCommerceConnector, app: SandboxApp, gate: RecordingGate
) -> None:
    # Each order takes three calls: were a server error among them to fail the whole read,
    # a page of fifty orders would hardly ever pass at a few percent of errors.
    def answer_500s(on: bool) -> Callable[[], None]:
        return lambda: setattr(app.state.faults, "error_rate", 1.0 if on else 0.0)

    clean = [r async for page in connector.read("orders", None) for r in page.records]
    read_calls = gate.calls
    gate.before = {read_calls + 5: answer_500s(True), read_calls + 6: answer_500s(False)}
    again = [r async for page in connector.read("orders", None) for r in page.records]
    assert again == clean
    assert gate.calls - read_calls == read_calls + 1  # the one that failed, asked once more
    # A throttled one is the channel's to wait for (its limiter, its retries, its count).
    gate.before = {gate.calls + 3: lambda: setattr(app.state.faults, "throttle_burst", 1)}
    before = gate.calls
    with pytest.raises(RateLimited):
        _ = [r async for page in connector.read("orders", None) for r in page.records]
    assert gate.calls - before == 3


async def test_fetch_reads_named_orders_by_id_as_the_stream_does_whatever_their_status(
    connector: BigCommerceConnector, app: SandboxApp
) -> None:
    read = {r.key: r for p in [p async for p in connector.read("orders", None)] for r in p.records}
    ready = next(o for o in app.state.orders.values() if o.status_id == 11)
    unread = next(o for o in app.state.orders.values() if str(o.id) not in read)  # Pending...
    unknown = max(app.state.orders) + 1
    page = await connector.fetch(
        "orders", [str(ready.id), f"#{ready.id}", str(unread.id), str(unknown), "web-1"]
    )
    by_key = {r.key: r for r in page.records}
    assert sorted(by_key) == sorted([str(ready.id), str(unread.id)])
    assert by_key[str(ready.id)] == read[str(ready.id)]
    order = mapping.order_from_record(CHANNEL, STORE_HASH, by_key[str(unread.id)].body)
    assert order.store_order_id == str(unread.id) and order.recipient is not None
    # A webhook's fetch keeps only what the stream reads.
    as_read = await connector.fetch("orders", [str(ready.id), str(unread.id)], as_read=True)
    assert as_read.records == [read[str(ready.id)]]


async def test_a_partially_shipped_order_reads_as_what_is_left_to_ship(
    connector: BigCommerceConnector, app: SandboxApp
) -> None:
    partial = next(o for o in app.state.orders.values() if o.status_id == 3)
    left = {str(p.id): p.quantity - p.quantity_shipped for p in partial.products}
    assert left != {str(p.id): p.quantity for p in partial.products}  # seeded half shipped
    records = [r for p in [p async for p in connector.read("orders", None)] for r in p.records]
    [body] = [r.body for r in records if r.key == str(partial.id)]
    order = mapping.order_from_record(CHANNEL, STORE_HASH, body)
    assert {line.store_line_id: line.quantity for line in order.lines} == {
        line_id: n for line_id, n in left.items() if n > 0
    }


async def test_a_cancellation_reaches_the_next_read(
    connector: BigCommerceConnector, app: SandboxApp, http: httpx.AsyncClient
) -> None:
    records = [r for p in [p async for p in connector.read("orders", None)] for r in p.records]
    order = open_order(app)
    await http.post(f"http://127.0.0.1:9/_sandbox/orders/{order.id}/cancel")
    since = max(r.updated_at for r in records)
    again = [r for p in [p async for p in connector.read("orders", since)] for r in p.records]
    cancelled = next(r for r in again if r.key == str(order.id))
    decoded = mapping.decode_order_record(cancelled.body)
    assert mapping.order_from_wire(CHANNEL, STORE_HASH, *decoded).status == "cancelled"


async def test_a_malformed_order_fails_alone(
    connector: BigCommerceConnector, app: SandboxApp
) -> None:
    broken = open_order(app)
    broken.products[0].wrapping_message = 7  # type: ignore[assignment]
    records = [r for p in [p async for p in connector.read("orders", None)] for r in p.records]
    outcomes = {}
    for record in records:
        try:
            mapping.order_from_record(CHANNEL, STORE_HASH, record.body)
            outcomes[record.key] = "ok"
        except RecordError as exc:
            outcomes[record.key] = str(exc)
    assert "products" in outcomes.pop(str(broken.id)) and "wrapping_message" in str(records)
    assert set(outcomes.values()) == {"ok"}


def tracked_variants(state: StoreState, *, with_sku: bool = True) -> list[tuple[Product, Variant]]:
    """The store's variants tracked by variant, with a SKU (or without one)."""
    return [
        (p, v)
        for p, v in state.variants()
        if p.inventory_tracking == "variant" and bool(v.sku) == with_sku
    ]


def tracked_product(state: StoreState, tracking: str = "product") -> Product:
    """The store's first product tracked so (``product``, ``none``)."""
    return next(p for p in state.products.values() if p.inventory_tracking == tracking)


async def test_inventory_set_by_tracking_mode(
    connector: BigCommerceConnector, app: SandboxApp, gate: RecordingGate
) -> None:
    state = app.state
    by_variant, no_sku = tracked_variants(state)[0], tracked_variants(state, with_sku=False)[0]
    simple, untracked = tracked_product(state), tracked_product(state, "none")
    simple_sku = model.fallback_sku(CHANNEL, str(simple.id)) if not simple.sku else simple.sku
    by_product_level = state.level(simple)
    targets = {
        by_variant[1].sku.lower(): 11,  # BigCommerce SKUs compare without case
        model.fallback_sku(CHANNEL, f"{no_sku[0].id}/{no_sku[1].id}"): 12,
        simple_sku: by_product_level + 1,
        model.fallback_sku(CHANNEL, str(untracked.id)) if not untracked.sku else untracked.sku: 14,
        "NOT-ON-THIS-STORE": 15,
        model.fallback_sku(CHANNEL, "999999"): 16,
    }
    result = await connector.write(inventory_write(targets))
    assert state.level(*by_variant) == 11
    assert state.level(*no_sku) == 12
    assert state.level(simple) == by_product_level + 1
    assert result.summary.startswith("set 3 quantities in 1 requests (0 unchanged)")
    assert "2 SKUs not on this store: NOT-ON-THIS-STORE, bc:999999" in result.summary
    assert "1 not tracked by the store" in result.summary
    assert gate.calls == 3  # SKU look-up, products' tracking, one adjustment
    assert result.drift_units == 0  # not a reconcile: nothing compared, nothing counted


async def test_inventory_set_skips_what_the_store_already_shows(
    connector: BigCommerceConnector, app: SandboxApp
) -> None:
    right, wrong = tracked_variants(app.state)[:2]
    targets = {right[1].sku: app.state.level(*right), wrong[1].sku: app.state.level(*wrong) + 4}
    result = await connector.write(inventory_write(targets))
    assert result.summary.startswith("set 1 quantities in 1 requests (1 unchanged)")
    [adjustment] = [r for r in app.state.requests if "adjustments" in r]
    assert adjustment.endswith(" 200")
    assert app.state.level(*wrong) == targets[wrong[1].sku]


async def test_a_reconcile_reads_every_level_and_counts_the_drift_it_corrects(
    connector: BigCommerceConnector, app: SandboxApp, gate: RecordingGate
) -> None:
    state = app.state
    by_variant, right = tracked_variants(state)[:2]
    no_sku = tracked_variants(state, with_sku=False)[0]
    simple = tracked_product(state)
    no_sku_key = model.fallback_sku(CHANNEL, f"{no_sku[0].id}/{no_sku[1].id}")
    simple_key = model.fallback_sku(CHANNEL, str(simple.id))
    targets = {
        by_variant[1].sku: state.level(*by_variant) + 3,  # 3 units shown too few
        no_sku_key: state.level(*no_sku) - 2,  # 2 too many, known by the variant id
        simple_key: state.level(simple) + 5,  # the product's one level, by product id
        right[1].sku: state.level(*right),  # already right: not written
    }
    result = await connector.write(inventory_write(targets, reconcile=True))
    assert result.drift_units == 3 + 2 + 5
    assert (
        result.summary
        == "set 3 quantities in 1 requests (1 unchanged); 10 units of drift corrected"
    )
    assert state.level(*by_variant) == targets[by_variant[1].sku]
    assert state.level(*no_sku) == targets[no_sku_key]
    assert state.level(simple) == targets[simple_key]
    # SKU look-up, products' tracking, the fallback keys' levels by variant id, one adjustment.
    assert gate.calls == 4

    again = await connector.write(inventory_write(targets, key="inv-2", reconcile=True))
    assert again.drift_units == 0
    assert again.summary.startswith("set 0 quantities in 0 requests (4 unchanged)")
    assert len([r for r in state.requests if "adjustments" in r]) == 1  # no write changes nothing


async def test_inventory_set_rereads_when_the_tracking_mode_changed(
    connector: BigCommerceConnector, app: SandboxApp, gate: RecordingGate
) -> None:
    product, variant = tracked_variants(app.state)[0]

    def switch() -> None:
        product.inventory_tracking = "product"

    gate.before[3] = switch  # between the look-ups and the adjustment
    await connector.write(inventory_write({variant.sku: 9}))
    assert app.state.level(product) == 9
    assert [r.split()[0] for r in app.state.requests if "adjustments" in r] == ["PUT", "PUT"]
    assert [r.split()[-1] for r in app.state.requests if "adjustments" in r] == ["422", "200"]


async def test_a_push_to_skus_written_before_is_one_call_unless_it_reads_first(
    connector: BigCommerceConnector, app: SandboxApp, gate: RecordingGate
) -> None:
    state = app.state
    (a, va), (b, vb) = tracked_variants(state)[:2]
    no_sku = tracked_variants(state, with_sku=False)[0]
    no_sku_key = model.fallback_sku(CHANNEL, f"{no_sku[0].id}/{no_sku[1].id}")
    await connector.write(inventory_write({va.sku: 5, vb.sku: 6, no_sku_key: 7}))
    assert gate.calls == 3  # SKU look-up, products' tracking, one adjustment

    again = await connector.write(inventory_write({va.sku: 4, no_sku_key: 8}, key="inv-2"))
    assert gate.calls == 4  # the adjustment alone
    assert again.summary == "set 2 quantities in 1 requests (where last written)"
    assert (state.level(a, va), state.level(*no_sku)) == (4, 8)

    # The store sold one itself: a push that reads first sees it already at its target.
    state.set_stock(1, b, vb, 5)  # at the channel's location, the default
    checked = await connector.write(inventory_write({vb.sku: 5}, key="inv-3", read_first=True))
    assert checked.summary.startswith("set 0 quantities in 0 requests (1 unchanged)")
    assert gate.calls == 6  # the look-ups, no adjustment


async def test_a_remembered_item_refused_is_looked_up_again(
    connector: BigCommerceConnector, app: SandboxApp
) -> None:
    state = app.state
    (a, va), (b, vb) = tracked_variants(state)[:2]
    await connector.write(inventory_write({va.sku: 5, vb.sku: 6}))
    a.inventory_tracking = "product"  # the merchant switched the tracking mode
    b.variants.remove(vb)  # and deleted a variant
    state.touch(b)
    result = await connector.write(inventory_write({va.sku: 3, vb.sku: 2}, key="inv-2"))
    assert state.level(a) == 3
    assert f"1 SKUs not on this store: {vb.sku}" in result.summary
    adjustments = [r.split()[-1] for r in state.requests if "adjustments" in r]
    assert adjustments == ["200", "422", "200"]


async def test_inventory_set_batches_at_2000_one_at_a_time() -> None:
    app = create_app(SandboxOptions(seed=3, catalog=2500))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        connector = make_connector(http, RecordingGate())
        skus = {
            v.sku: 5 for p, v in app.state.variants() if v.sku and p.inventory_tracking != "none"
        }
        await connector.write(inventory_write(skus))
    writes = [r for r in app.state.requests if "adjustments" in r]
    assert writes == [f"PUT /stores/{STORE_HASH}/v3/inventory/adjustments/absolute 200"] * 2
    assert len(skus) > 2000


async def test_fulfillment_creates_one_shipment_and_a_retry_finds_it(
    connector: BigCommerceConnector, app: SandboxApp
) -> None:
    order = open_order(app)
    write = tracking_write(order, canonical_lines(order), url="https://track.example/1")
    first = await connector.write(write)
    assert first.summary == "1 shipments created" and order.status_id == 2
    (shipment,) = order.shipments
    assert (shipment.shipping_provider, shipment.tracking_link) == (
        "ups",
        "https://track.example/1",
    )
    again = await connector.write(write)
    assert (again.remote_id, again.summary) == (first.remote_id, "already shipped")
    assert len(order.shipments) == 1


class LosingTransport(httpx.AsyncBaseTransport):
    """Delivers requests to the app but loses the reply to the next shipment POST."""

    def __init__(self, app: SandboxApp) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.lose = 1

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path.endswith("/shipments") and self.lose:
            self.lose -= 1
            raise httpx.ReadError("connection reset after the request was sent")
        return response


async def test_a_lost_reply_does_not_ship_twice(app: SandboxApp) -> None:
    order = open_order(app)
    async with httpx.AsyncClient(transport=LosingTransport(app)) as http:
        connector = make_connector(http, RecordingGate())
        write = tracking_write(order, canonical_lines(order))
        with pytest.raises(Retryable):
            await connector.write(write)
        assert len(order.shipments) == 1  # it was created; only the answer was lost
        result = await connector.write(write)
    assert result.summary == "already shipped" and len(order.shipments) == 1


async def test_split_shipments_each_their_own(
    connector: BigCommerceConnector, app: SandboxApp
) -> None:
    order = next(o for o in app.state.orders.values() if o.status_id == 11 and len(o.products) > 1)
    lines = canonical_lines(order)
    await connector.write(tracking_write(order, lines[:1], number="T-1", carrier="DHL Express"))
    assert order.status_id == 3
    await connector.write(tracking_write(order, lines[1:], number="T-2", carrier="Pigeon Post"))
    assert order.status_id == 2
    assert [
        (s.tracking_number, s.shipping_provider, s.tracking_carrier) for s in order.shipments
    ] == [
        ("T-1", "", "dhl"),
        ("T-2", "", ""),
    ]


async def test_fulfillment_refusals(connector: BigCommerceConnector, app: SandboxApp) -> None:
    order = open_order(app)
    lines = canonical_lines(order)
    with pytest.raises(RecordError) as no_tracking:
        await connector.write(tracking_write(order, lines, number=None))
    assert no_tracking.value.reason == "no_tracking"
    with pytest.raises(RecordError) as not_on_order:
        await connector.write(tracking_write(order, [("SOMETHING-ELSE", 1)]))
    assert not_on_order.value.reason == "nothing_to_fulfil"
    assert order.shipments == []
    with pytest.raises(RecordError) as unknown:
        await connector.write(RemoteWrite(kind="product.create", key="k", payload=b"{}"))
    assert unknown.value.reason == "unsupported"
    with pytest.raises(RecordError) as bad:
        await connector.write(RemoteWrite(kind="inventory.set", key="k", payload=b'{"targets": 1}'))
    assert bad.value.reason == "schema"


async def test_a_malformed_product_fails_alone(
    connector: BigCommerceConnector, app: SandboxApp
) -> None:
    broken = next(iter(app.state.products.values()))
    broken.variants[0].sku = 12345  # type: ignore[assignment]
    records = [r for p in [p async for p in connector.read("products", None)] for r in p.records]
    assert len(records) == len(app.state.products)  # the read itself goes on
    failed = []
    for record in records:
        try:
            msgspec.json.decode(record.body, type=wire.Product)
        except msgspec.ValidationError as exc:
            failed.append((record.key, str(exc)))
    assert failed == [(str(broken.id), "Expected `str`, got `int` - at `$.variants[0].sku`")]


def test_a_webhooks_fetch_leaves_out_an_archived_order_as_the_stream_does() -> None:
    # The sandbox answers 404 for an archived order; BigCommerce may answer it with
    # is_deleted, which the orders list leaves out.
    def stamp(is_deleted: bool) -> wire.OrderStamp:
        body = {"id": 1, "status_id": 11, "date_modified": "Wed, 25 Jun 2025 05:22:10 +0200"}
        return msgspec.json.decode(
            msgspec.json.encode(body | {"is_deleted": is_deleted}),
            type=wire.OrderStamp,
            dec_hook=wire.DEC_HOOK,
        )

    assert read_as(stamp(is_deleted=False), {11})
    assert not read_as(stamp(is_deleted=True), {11})
    assert not read_as(stamp(is_deleted=False), {9})
