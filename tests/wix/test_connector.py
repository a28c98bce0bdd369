"""The connector against the sandbox: streams, writes, idempotency after a lost reply."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
import trio
import trio.testing

from connectors.base import Page, RateSignal, RemoteWrite
from connectors.errors import RateLimited, RecordError, Retryable
from connectors.wix import mapping, wire
from connectors.wix.connector import WixConnector
from connectors.wix.sandbox import WixSandbox
from tests.wix.conftest import BASE_URL, RecordingGate, fulfil, inventory_write, make_connector


async def read_all(
    connector: WixConnector, stream: str, since: datetime | None = None
) -> list[Page]:
    return [page async for page in connector.read(stream, since)]


async def test_products_stream_is_complete_oldest_first(
    connector: WixConnector, app: WixSandbox
) -> None:
    pages = await read_all(connector, "products")
    records = [r for page in pages for r in page.records]
    assert sorted(r.key for r in records) == sorted(app.state.products)
    stamps = [r.updated_at for r in records]
    assert stamps == sorted(stamps)
    items = [
        item
        for r in records
        for item in mapping.items_from_product(
            "wix", msgspec.json.decode(r.body, type=wire.Product)
        )
    ]
    assert len(items) == sum(len(p.variants) for p in app.state.products.values())
    assert len({i.sku for i in items}) == len(items)


async def test_products_stream_keeps_a_run_of_equal_stamps_whole(
    connector: WixConnector, app: WixSandbox
) -> None:
    # 250 products stamped with the same millisecond: more than two pages of ties.
    same = app.state.epoch - timedelta(days=3)
    for product in list(app.state.products.values())[:250]:
        product.last_updated = same
    records = [r for page in await read_all(connector, "products") for r in page.records]
    assert len(records) == len(app.state.products)
    assert len({r.key for r in records}) == len(records)
    assert [r.updated_at for r in records] == sorted(r.updated_at for r in records)


async def test_products_stream_is_incremental(
    http: httpx.AsyncClient, connector: WixConnector, app: WixSandbox
) -> None:
    product = next(iter(app.state.products.values()))
    since = app.state.now() - timedelta(seconds=1)
    await http.post(f"{BASE_URL}/_sandbox/products/{product.id}", json={"name": "Renamed"})
    records = [r for page in await read_all(connector, "products", since) for r in page.records]
    assert [r.key for r in records] == [product.id]
    assert msgspec.json.decode(records[0].body, type=wire.Product).name == "Renamed"


async def test_orders_stream_merges_the_import_filter_with_cancellations(
    http: httpx.AsyncClient, connector: WixConnector, app: WixSandbox
) -> None:
    records = [r for page in await read_all(connector, "orders") for r in page.records]
    orders = [
        mapping.order_from_wire("wix", "wix:s", msgspec.json.decode(r.body, type=wire.Order))
        for r in records
    ]
    statuses = {(o.status, o.payment_status, o.fulfillment_status) for o in orders}
    assert statuses == {
        ("open", "paid", "unfulfilled"),
        ("open", "paid", "partially_fulfilled"),
        ("cancelled", "paid", "unfulfilled"),
    }
    assert [r.updated_at for r in records] == sorted(r.updated_at for r in records)
    # An imported order cancelled later comes back through the cancellations search.
    since = app.state.now()
    target = next(o for o in orders if o.status == "open")
    await http.post(f"{BASE_URL}/_sandbox/orders/{target.store_order_id}/cancel")
    again = [r for page in await read_all(connector, "orders", since) for r in page.records]
    assert [r.key for r in again] == [target.store_order_id]
    assert msgspec.json.decode(again[0].body, type=wire.Order).status == "CANCELED"


async def test_fetch_reads_named_orders_by_id_or_number_as_the_stream_does(
    connector: WixConnector, app: WixSandbox
) -> None:
    read = {r.key: r for page in await read_all(connector, "orders") for r in page.records}
    placed = [o for o in app.state.orders.values() if o.status != "INITIALIZED"]
    by_id, by_number = [o for o in placed if o.id in read][:2]
    unread = next(o for o in placed if o.id not in read)  # its statuses keep it out of the stream
    keys = [by_id.id, f"#{by_number.number}", str(unread.number), "99999999", "no-such-id"]
    page = await connector.fetch("orders", keys)
    fetched = {r.key: r for r in page.records}
    assert sorted(fetched) == sorted([by_id.id, by_number.id, unread.id])
    assert fetched[by_id.id] == read[by_id.id] and fetched[by_number.id] == read[by_number.id]
    assert (await connector.fetch("orders", ["99999999"])).records == []
    # A webhook's fetch keeps only what the stream's searches return.
    as_read = await connector.fetch("orders", [by_id.id, unread.id], as_read=True)
    assert as_read.records == [read[by_id.id]]


async def test_a_partially_fulfilled_order_reads_as_what_is_left_to_ship(
    http: httpx.AsyncClient, connector: WixConnector, app: WixSandbox
) -> None:
    partial = next(
        o for o in app.state.orders.values() if o.fulfillment_status == "PARTIALLY_FULFILLED"
    )
    placed = {line.id: line.quantity for line in partial.lines}
    left = {line.id: placed[line.id] - partial.fulfilled(line.id) for line in partial.lines}
    assert left != placed  # the seeded order has a fulfillment
    records = [r for page in await read_all(connector, "orders") for r in page.records]
    [body] = [r.body for r in records if r.key == partial.id]
    order = mapping.order_from_wire("wix", "wix:s", msgspec.json.decode(body, type=wire.Order))
    assert {line.store_line_id: line.quantity for line in order.lines} == {
        line_id: n for line_id, n in left.items() if n > 0
    }


async def test_orders_stream_pages_and_cursor_per_page(
    http: httpx.AsyncClient,
    app: WixSandbox,
    gate: RecordingGate,
    autojump_clock: trio.testing.MockClock,
) -> None:
    sku = next(v.sku for p in app.state.products.values() for v in p.variants if v.sku)
    for n in range(230):
        await http.post(
            f"{BASE_URL}/_sandbox/orders", json={"lines": [{"sku": sku}], "paid": n % 2 == 0}
        )
        if n % 50 == 0:
            first = next(iter(app.state.orders.values()))
            await http.post(f"{BASE_URL}/_sandbox/orders/{first.id}/cancel")
        await trio.sleep(1)
    connector = make_connector(http, app, gate)
    pages = await read_all(connector, "orders")
    records = [r for page in pages for r in page.records]
    expected = {
        o.id
        for o in app.state.orders.values()
        if o.status == "CANCELED"
        or (
            o.status == "APPROVED"
            and o.payment_status == "PAID"
            and o.fulfillment_status != "FULFILLED"
        )
    }
    assert {r.key for r in records} == expected and len(records) == len(expected)
    # Every page ends at or before where the next begins: a cursor promoted per page is safe.
    for earlier, later in itertools.pairwise(pages):
        assert max(r.updated_at for r in earlier.records) <= min(
            r.updated_at for r in later.records
        )
    assert len(pages) > 1


async def test_inventory_set_writes_tracked_skips_untracked_and_unknown(
    connector: WixConnector, app: WixSandbox, gate: RecordingGate
) -> None:
    tracked = next(
        p for p in app.state.products.values() if p.track_inventory and len(p.variants) > 2
    )
    untracked = next(
        p for p in app.state.products.values() if not p.track_inventory and p.variants[0].sku
    )
    no_sku = next(
        p
        for p in app.state.products.values()
        if p.track_inventory and not p.options and p is not tracked
    )
    no_sku.sku = no_sku.variants[0].sku = ""
    targets = {v.sku: 40 + n for n, v in enumerate(tracked.variants) if v.sku}
    targets[f"wix:{no_sku.id}"] = 9
    targets[untracked.variants[0].sku] = 5
    targets["NOT-ON-WIX"] = 1
    untracked_before = untracked.variants[0].quantity
    before = len(app.state.requests)
    result = await connector.write(inventory_write("w1", targets))
    for variant in tracked.variants:
        if variant.sku:
            assert variant.quantity == targets[variant.sku]
    assert no_sku.variants[0].quantity == 9
    assert untracked.variants[0].quantity == untracked_before
    assert "NOT-ON-WIX" in result.summary and untracked.variants[0].sku in result.summary
    assert "untracked" in result.summary
    patches = [r for r in app.state.requests[before:] if r["method"] == "PATCH"]
    assert len(patches) == 2  # one call per product, all its variants in it
    # The same targets again: nothing left to write.
    again = await connector.write(inventory_write("w1", targets))
    assert again.summary.startswith("set 0 quantities")


def tracked_product(app: WixSandbox, nth: int = 0) -> Any:
    """The ``nth`` tracked product whose variants all have a SKU."""
    return [
        p
        for p in app.state.products.values()
        if p.track_inventory and all(v.sku for v in p.variants)
    ][nth]


async def one_sku_written(connector: WixConnector, app: WixSandbox) -> tuple[Any, str]:
    """A tracked product and the SKU of its first variant, written once by ``connector``."""
    product = tracked_product(app)
    sku = product.variants[0].sku
    await connector.write(inventory_write("w1", {sku: 7}))
    return product, sku


async def test_a_push_to_skus_written_before_is_the_patch_alone(
    connector: WixConnector, app: WixSandbox
) -> None:
    product = tracked_product(app)
    await connector.write(inventory_write("w1", {v.sku: 7 for v in product.variants}))
    before = len(app.state.requests)
    result = await connector.write(inventory_write("w2", {product.variants[0].sku: 3}))
    assert [r["method"] for r in app.state.requests[before:]] == ["PATCH"]
    assert product.variants[0].quantity == 3
    assert result.summary == "set 1 quantities on 1 products (where last written)"


async def test_a_product_read_again_is_looked_up_before_its_next_write(
    connector: WixConnector, app: WixSandbox
) -> None:
    product, sku = await one_sku_written(connector, app)
    # The merchant stops tracking it; the products stream reads it again.
    product.track_inventory = False
    app.state.product_changed(product, ["inventory"])
    assert [p async for p in connector.read("products", None)]
    result = await connector.write(inventory_write("w2", {sku: 3}))
    assert "1 SKUs untracked" in result.summary
    assert not product.track_inventory  # a remembered write would have tracked it again


async def test_a_remembered_product_gone_is_looked_up_again(
    connector: WixConnector, app: WixSandbox
) -> None:
    product, sku = await one_sku_written(connector, app)
    del app.state.products[product.id]
    before = len(app.state.requests)
    result = await connector.write(inventory_write("w2", {sku: 3}))
    assert f"1 SKUs not on this store: {sku}" in result.summary
    assert [r["method"] for r in app.state.requests[before:]] == ["PATCH", "POST"]


async def test_fulfillment_is_created_once_even_when_the_reply_is_lost(
    http: httpx.AsyncClient, app: WixSandbox, gate: RecordingGate
) -> None:
    product = next(
        p for p in app.state.products.values() if p.variants[0].sku and len(p.variants) > 1
    )
    skus = [product.variants[0].sku, product.variants[1].sku]
    placed = await http.post(
        f"{BASE_URL}/_sandbox/orders",
        json={"lines": [{"sku": skus[0], "quantity": 2}, {"sku": skus[1], "quantity": 1}]},
    )
    order_id = placed.json()["id"]

    class LosesOneReply(httpx.AsyncBaseTransport):
        """Forwards to the sandbox; the first create-fulfillment is applied, its reply lost."""

        def __init__(self) -> None:
            self.inner = httpx.ASGITransport(app=app)
            self.lost = False

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await self.inner.handle_async_request(request)
            if request.url.path.endswith("/create-fulfillment") and not self.lost:
                self.lost = True
                await response.aread()
                raise httpx.ReadTimeout("reply lost", request=request)
            return response

    write = fulfil("ship-1", order_id, [(skus[0], 1), (skus[1], 1)], number="1Z1", carrier="UPS")
    async with httpx.AsyncClient(transport=LosesOneReply()) as lossy:
        connector = make_connector(lossy, app, gate)
        with pytest.raises(Retryable):
            await connector.write(write)
        retried = await connector.write(write)
    assert retried.summary == "already fulfilled"
    order = app.state.orders[order_id]
    assert len(order.fulfillments) == 1
    assert order.fulfillments[0]["trackingInfo"]["trackingLink"].endswith("1Z1")
    assert order.fulfillment_status == "PARTIALLY_FULFILLED"
    # The rest of the order, as a second shipment under another tracking number.
    connector = make_connector(http, app, gate)
    rest = fulfil(
        "ship-2",
        order_id,
        [(skus[0], 1)],
        number="LC-2",
        carrier="Local Couriers",
        url="https://t.example/LC-2",
    )
    created = await connector.write(rest)
    assert created.remote_id == order.fulfillments[1]["id"]
    assert order.fulfillments[1]["trackingInfo"] == {
        "trackingNumber": "LC-2",
        "shippingProvider": "Local Couriers",
        "trackingLink": "https://t.example/LC-2",
    }
    assert order.fulfillment_status == "FULFILLED"
    with pytest.raises(RecordError) as nothing_left:
        await connector.write(fulfil("ship-3", order_id, [(skus[1], 1)], number="1Z3"))
    assert nothing_left.value.reason == "remote_validation"


async def test_fulfillment_refusals(connector: WixConnector, app: WixSandbox) -> None:
    order = next(o for o in app.state.orders.values() if o.status == "CANCELED")
    with pytest.raises(RecordError) as refused:
        await connector.write(fulfil("s", order.id, [(order.lines[0].sku, 1)], number="X1"))
    assert refused.value.reason == "precondition"
    with pytest.raises(RecordError) as untracked:
        await connector.write(fulfil("s", order.id, [(order.lines[0].sku, 1)], number=None))
    assert untracked.value.reason == "no_tracking"
    with pytest.raises(RecordError) as missing:
        await connector.write(fulfil("s", "5e0e0e0e-0000-4000-8000-000000000000", [("A", 1)]))
    assert missing.value.reason == "not_found"
    with pytest.raises(RecordError) as unknown:
        await connector.write(RemoteWrite(kind="product.create", key="k", payload=b"{}"))
    assert unknown.value.reason == "unsupported"
    with pytest.raises(RecordError) as bad:
        await connector.write(RemoteWrite(kind="inventory.set", key="k", payload=b'{"targets": 1}'))
    assert bad.value.reason == "schema"


async def throttled_wait(connector: WixConnector) -> float | None:
    """The wait a read that is answered 429 asks for."""
    with pytest.raises(RateLimited) as caught:
        await read_all(connector, "products")
    return caught.value.retry_after


async def test_a_throttled_call_raises_rate_limited_and_stops_the_gate_longer_each_time(
    connector: WixConnector,
    app: WixSandbox,
    gate: RecordingGate,
    autojump_clock: trio.testing.MockClock,
) -> None:
    # No Retry-After: 5 s after the first 429 in a row, twice as long after each further one
    # (a call sent once the last wait has passed), never more than Wix's one-minute window;
    # an answer that is not a 429 starts again.
    app.state.faults.throttle_burst = 7
    waits = []
    for _ in range(6):
        wait = await throttled_wait(connector)
        assert wait is not None
        assert gate.signals[-1] == RateSignal(remaining=0, retry_after=wait)
        waits.append(wait)
        await trio.sleep(wait)
    assert waits == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]
    assert await throttled_wait(connector) == 60.0
    # Calls sent during that wait, side by side with the one throttled, are of its throttle:
    # an answer to one resets nothing, a 429 to one asks for what is left of the wait.
    await trio.sleep(1.0)
    assert len(await read_all(connector, "products")) > 0
    app.state.faults.throttle_burst = 1
    assert await throttled_wait(connector) == 59.0
    await trio.sleep(59.0)
    assert len(await read_all(connector, "products")) > 0
    app.state.faults.throttle_burst = 1
    assert await throttled_wait(connector) == 5.0


async def test_a_malformed_record_fails_alone(connector: WixConnector, app: WixSandbox) -> None:
    # A product of unexpected shape still reaches the actor raw; decoding it fails alone.
    product = next(iter(app.state.products.values()))
    original = app.state.product_json

    def broken(p, *, variants=True):  # type: ignore[no-untyped-def]
        body = original(p, variants=variants)
        if p is product:
            body["variants"][0]["variant"]["sku"] = 12345
        return body

    app.state.product_json = broken  # type: ignore[method-assign]
    records = [r for page in await read_all(connector, "products") for r in page.records]
    assert len(records) == len(app.state.products)
    failures = 0
    for record in records:
        try:
            msgspec.json.decode(record.body, type=wire.Product)
        except msgspec.ValidationError as exc:
            failures += 1
            assert "$.variants[0].variant.sku" in str(exc)
    assert failures == 1
