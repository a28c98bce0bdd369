"""Regressions: records lost across pages, non-idempotent product create, cancel failures
reported as done, one malformed order blocking a stream, naive timestamps, foreign links."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import msgspec
import pytest

from actors.rules.cursor import advance, read_from
from connectors.base import ConnectorContext, RemoteWrite
from connectors.errors import RecordError, Retryable
from connectors.shipbob import mapping, wire
from connectors.shipbob.connector import ShipBobConnector, ShipBobSettings
from connectors.shipbob.sandbox import SANDBOX_TOKEN, SandboxApp
from daemon.credentials import Secret
from tests.shipbob.conftest import BASE_URL, RecordingGate, make_client, order_request

T0 = datetime(2026, 1, 10, tzinfo=UTC)


def make_connector(http: httpx.AsyncClient, gate: RecordingGate) -> ShipBobConnector:
    return ShipBobConnector(
        ConnectorContext(
            channel="fulfil",
            settings=ShipBobSettings(channel_id=4007, base_url=BASE_URL),
            secrets={"token": Secret(SANDBOX_TOKEN), "webhook_secret": Secret("whsec_" + "A" * 32)},
            http=http,
            gate=gate,
            now=lambda: T0 + timedelta(days=30),
        )
    )


def write(kind: str, key: str, payload: object) -> RemoteWrite:
    return RemoteWrite(kind=kind, key=key, payload=msgspec.json.encode(payload))


class FailOnce(httpx.AsyncBaseTransport):
    """Passes requests to ``inner``, answering 503 to the first one ``matches`` picks."""

    def __init__(self, inner: httpx.AsyncBaseTransport, matches: Callable[[httpx.URL], bool]):
        self.inner = inner
        self.matches = matches
        self.failed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.failed and self.matches(request.url):
            self.failed += 1
            return httpx.Response(503, request=request)
        return await self.inner.handle_async_request(request)


def tracked_orders(app: SandboxApp, count: int) -> list[int]:
    """``count`` shipped orders, ids ascending; the last created has the oldest update."""
    ids = []
    # Enough stock for every order: one ShipBob cannot fulfil waits out of stock, unshippable.
    app.state.adjust_stock({"sku": "SKU-0001", "location_id": 10, "received": 2 * count})
    for n in range(count):
        status, order = app.state.create_order(
            msgspec.to_builtins(order_request(f"web-{n}", "SKU-0001"))
        )
        assert status == 201
        ids.append(order.id)
    shipment = {"products": [{"sku": "SKU-0001", "quantity": 1}], "tracking_number": "T"}
    order_ids = [ids[-1], *ids[:-1]]  # the last order (page 2) is shipped first
    for n, order_id in enumerate(order_ids):
        stamp = T0 + timedelta(hours=n)
        app.state.now = lambda stamp=stamp: stamp
        assert app.warehouse.ship(order_id, [shipment])[0] == 200
    return ids


async def test_a_failed_later_page_loses_no_record(app: SandboxApp, gate: RecordingGate) -> None:
    ids = tracked_orders(app, 251)
    transport = FailOnce(httpx.ASGITransport(app=app), lambda url: b"Page=2" in url.query)
    async with httpx.AsyncClient(transport=transport) as http:
        connector = make_connector(http, gate)
        run_started = T0 + timedelta(days=30)
        cursor: datetime | None = None
        delivered: set[str] = set()
        for _attempt in range(3):  # what the channel actor does: retry from the committed cursor
            try:
                async for page in connector.read("shipments", read_from(cursor)):
                    cursor = advance(cursor, (r.updated_at for r in page.records), run_started)
                    delivered |= {r.key for r in page.records}
                break
            except Retryable:
                continue
    assert transport.failed == 1
    assert str(ids[-1]) in delivered
    assert delivered == {str(i) for i in ids}


async def test_product_create_retried_after_a_lost_reply_reports_the_existing_product(
    http: httpx.AsyncClient, gate: RecordingGate, app: SandboxApp
) -> None:
    connector = make_connector(http, gate)
    item = {"channel": "web", "store_item_id": "7", "sku": "WEB-7", "name": "Seven"}
    first = await connector.write(write("product.create", "p:7", item))
    again = await connector.write(write("product.create", "p:7", item))
    assert (first.summary, again.summary) == ("product created", "product already existed")
    assert first.remote_id == again.remote_id
    assert sum(v.sku == "WEB-7" for p in app.state.products.values() for v in p.variants) == 1


def cancel_answer(status: int, body: object) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/2026-01/order/77:cancel"
        return httpx.Response(status, json=body)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    "body",
    [
        {"order_id": 77, "status": "Failure"},
        {
            "order_id": 77,
            "status": "PartialSuccess",
            "canceled_shipment_results": [
                {"shipment_id": 1, "is_success": True},
                {"shipment_id": 2, "is_success": False, "reason": "Picked"},
            ],
        },
        {
            "order_id": 77,
            "status": "Success",
            "canceled_shipment_results": [{"shipment_id": 2, "is_success": False}],
        },
    ],
)
async def test_a_cancel_shipbob_did_not_fully_do_is_a_record_error(
    body: dict[str, object], gate: RecordingGate
) -> None:
    # Every shape ShipBob's spec allows, including one the sandbox never sends (a Success
    # naming a failed shipment); the sandbox's own answers are tested in test_connector.
    async with cancel_answer(200, body) as http:
        with pytest.raises(RecordError) as failed:
            await make_connector(http, gate).client.cancel_order(77)
    assert failed.value.reason == "remote_validation"
    assert str(body["status"]) in str(failed.value)


async def test_a_full_cancel_is_done(gate: RecordingGate) -> None:
    body = {
        "order_id": 77,
        "status": "Success",
        "canceled_shipment_results": [{"shipment_id": 2, "is_success": True}],
    }
    async with cancel_answer(200, body) as http:
        result = await make_connector(http, gate).client.cancel_order(77)
    assert result.status == "Success"


async def test_a_malformed_order_does_not_block_the_others(
    http: httpx.AsyncClient, gate: RecordingGate, app: SandboxApp
) -> None:
    ids = tracked_orders(app, 3)
    app.state.orders[ids[1]].status = 5  # type: ignore[assignment]  # not a string
    records = [
        r async for p in make_connector(http, gate).read("shipments", None) for r in p.records
    ]
    assert sorted(r.key for r in records) == sorted(str(i) for i in ids)
    bodies = {r.key: r.body for r in records}
    with pytest.raises(msgspec.ValidationError, match=r"\$\.status"):
        msgspec.json.decode(bodies[str(ids[1])], type=wire.Order)
    assert mapping.decode_order(bodies[str(ids[0])]).id == ids[0]
    with pytest.raises(RecordError, match=r"\$\.status") as undecodable:
        mapping.decode_order(bodies[str(ids[1])])
    assert undecodable.value.reason == "schema"
    [bad] = [
        raw
        for page in [p async for p in make_client(http, gate).orders_needing_tracking()]
        for raw in page
        if raw.stamps.id == ids[1]
    ]
    with pytest.raises(RecordError) as failed:
        _ = bad.order
    assert failed.value.reason == "schema"


async def test_a_naive_timestamp_is_a_record_error_naming_the_field(
    http: httpx.AsyncClient, gate: RecordingGate, app: SandboxApp
) -> None:
    ids = tracked_orders(app, 2)
    app.state.orders[ids[1]].shipments[0].last_update_at = datetime(2026, 1, 11)  # no offset
    with pytest.raises(RecordError) as failed:
        [p async for p in make_connector(http, gate).read("shipments", None)]
    assert failed.value.reason == "schema"
    assert "$[1].shipments[0].last_update_at" in str(failed.value)


def test_wire_replication_timestamps_require_an_offset() -> None:
    order = {"id": 1, "created_date": "2026-01-01T00:00:00", "status": "Processing"}
    with pytest.raises(msgspec.ValidationError, match="created_date"):
        msgspec.convert(order, wire.Order)


async def test_a_next_link_to_another_host_is_not_followed(gate: RecordingGate) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.host))
        page = {"items": [], "next": "https://elsewhere.example/2026-01/product?Cursor=9"}
        return httpx.Response(200, json=page)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(RecordError) as refused:
            await make_client(http, gate).list_products()
    assert refused.value.reason == "schema"
    assert seen == ["shipbob.test"]
