"""Callbacks from the sandbox to a receiver that verifies them as the daemon does."""

from __future__ import annotations

import json

import httpx
import trio
import trio.testing

from connectors.bigcommerce.sandbox import SandboxApp
from connectors.bigcommerce.sandbox_webhooks import RETRY_INTERVALS
from tests.bigcommerce.conftest import (
    API,
    BASE_URL,
    HEADERS,
    Receiver,
    open_order,
    subscribe,
)
from tests.helpers import delivering_to

SHOPPER = f"{BASE_URL}/_sandbox"


async def place(http: httpx.AsyncClient, app: SandboxApp) -> int:
    variant = next(v for p, v in app.state.variants() if v.sku and p.inventory_tracking != "none")
    response = await http.post(f"{SHOPPER}/orders", json={"lines": [{"sku": variant.sku}]})
    assert response.status_code == 201
    order_id: int = response.json()["id"]
    return order_id


async def test_genuine_callbacks_are_accepted_and_name_the_stream(
    app: SandboxApp, http: httpx.AsyncClient, mock_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver()
    await subscribe(http)
    async with delivering_to(app, receiver) as nursery:
        order_id = await place(http, app)
        variant = next(
            v for p, v in app.state.variants() if v.sku and p.inventory_tracking == "variant"
        )
        await http.post(f"{SHOPPER}/stock", json={"sku": variant.sku, "quantity": 3})
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    # Callbacks due together are sent concurrently: their arrival order is not promised.
    assert sorted((e.topic, e.streams) for e in receiver.accepted) == [
        ("store/order/created", ("orders",)),
        ("store/order/statusUpdated", ("orders",)),
        ("store/sku/inventory/updated", ()),  # stock: the daemon's to set, not to read
    ]
    created = next(e for e in receiver.accepted if e.topic == "store/order/created")
    assert json.loads(created.body)["data"] == {"type": "order", "id": order_id}
    # An order callback names its order by the orders stream's key; a SKU's names no record.
    assert {e.topic: e.entity for e in receiver.accepted} == {
        "store/order/created": str(order_id),
        "store/order/statusUpdated": str(order_id),
        "store/sku/inventory/updated": None,
    }
    headers, _ = receiver.raw[0]
    assert headers["x-shelfsync-webhook-secret"] and headers["content-type"] == "application/json"
    assert len({e.webhook_id for e in receiver.accepted}) == 3  # one hash per event


async def test_tampered_callbacks_are_refused_retried_on_the_ladder_then_the_hook_stops(
    app: SandboxApp, http: httpx.AsyncClient, mock_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver()
    await subscribe(http, secret="someone-elses-secret-value", scopes=("store/order/created",))
    async with delivering_to(app, receiver) as nursery:
        started = trio.current_time()
        await place(http, app)
        await trio.sleep(sum(RETRY_INTERVALS) + 60)
        nursery.cancel_scope.cancel()
    assert receiver.accepted == [] and len(receiver.rejected) == len(RETRY_INTERVALS) + 1
    assert {h.is_active for h in app.state.hooks.values()} == {False}
    log = app.webhooks.log
    assert len({entry.hash for entry in log}) == 1  # the same event every time
    assert [entry.status for entry in log] == [401] * (len(RETRY_INTERVALS) + 1)
    assert trio.current_time() - started >= sum(RETRY_INTERVALS)


async def test_a_failed_delivery_is_redelivered_with_the_same_hash(
    app: SandboxApp, http: httpx.AsyncClient, mock_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver(statuses=[500])
    await subscribe(http, scopes=("store/order/created",))
    async with delivering_to(app, receiver) as nursery:
        await place(http, app)
        await trio.sleep(RETRY_INTERVALS[0] + 1)
        nursery.cancel_scope.cancel()
    first, second = receiver.accepted
    assert first.webhook_id == second.webhook_id and first.body == second.body
    assert [(e.attempt, e.status) for e in app.webhooks.log] == [(1, 500), (2, 200)]


async def test_duplicate_and_out_of_order_faults(
    app: SandboxApp, http: httpx.AsyncClient, mock_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver()
    await subscribe(http, scopes=("store/order/*",))
    await http.post(f"{SHOPPER}/faults", json={"duplicate_webhooks": True})
    async with delivering_to(app, receiver) as nursery:
        await place(http, app)
        await trio.sleep(1)
        topics = sorted(e.topic for e in receiver.accepted)
        assert topics == ["store/order/created"] * 2 + ["store/order/statusUpdated"] * 2
        assert len({e.webhook_id for e in receiver.accepted}) == 2  # each twice, same hash
        await http.post(
            f"{SHOPPER}/faults", json={"duplicate_webhooks": False, "out_of_order_webhooks": True}
        )
        order = open_order(app)
        await http.post(f"{SHOPPER}/orders/{order.id}/cancel")
        await trio.sleep(RETRY_INTERVALS[0] + 1)
        nursery.cancel_scope.cancel()
    later = [e.topic for e in receiver.accepted[4:]]
    # store/order/updated was held back; statusUpdated, queued after it, arrived first.
    assert later == ["store/order/statusUpdated", "store/order/updated"]


async def test_connector_shipment_fires_shipment_and_order_callbacks(
    app: SandboxApp, http: httpx.AsyncClient, mock_clock: trio.testing.MockClock
) -> None:
    receiver = Receiver()
    await subscribe(http, scopes=("store/shipment/*", "store/order/statusUpdated"))
    order = open_order(app)
    line = order.products[0]
    body = {
        "order_address_id": line.order_address_id,
        "items": [{"order_product_id": p.id, "quantity": p.quantity} for p in order.products],
        "tracking_number": "1Z",
        "shipping_provider": "ups",
    }
    async with delivering_to(app, receiver) as nursery:
        response = await http.post(
            f"{API}/v2/orders/{order.id}/shipments", json=body, headers=HEADERS
        )
        assert response.status_code == 201
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    by_topic = {e.topic: e for e in receiver.accepted}
    assert {(t, e.streams) for t, e in by_topic.items()} == {
        ("store/shipment/created", ()),
        ("store/order/statusUpdated", ("orders",)),
    }
    status = json.loads(by_topic["store/order/statusUpdated"].body)["data"]["status"]
    assert status == {"previous_status_id": 11, "new_status_id": 2}
