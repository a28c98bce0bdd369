"""The ShipBob sandbox's shipment lifecycle: each step's changes and webhooks, the hooks that
drive it, and out-of-order delivery as a receiver sees it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
import trio
import trio.testing

from connectors.shipbob import mapping, wire
from connectors.shipbob.client import ShipBobClient
from connectors.shipbob.sandbox import SandboxApp
from connectors.shipbob.sandbox_shipments import quantity
from connectors.shipbob.wire import CreateWebhookRequest
from tests.helpers import delivering_to
from tests.shipbob.conftest import BASE_URL, SECRET, Receiver, order_request

LABEL = {"carrier": "UPS", "tracking_number": "1Z9"}
SHIPMENT_TOPICS = [
    "order.shipped",
    "order.shipment.delivered",
    "order.shipment.exception",
    "order.shipment.on_hold",
    "order.shipment.cancelled",
]


@pytest.fixture
def ticking(app: SandboxApp) -> None:
    """The account's clock moves one second per reading (from now, so that receivers accept
    the webhook timestamps): every change gets its own ``last_update_at``."""
    start = datetime.now(UTC).replace(microsecond=0)
    readings = iter(start + timedelta(seconds=n) for n in range(10_000))
    app.state.now = lambda: next(readings)


async def step(http: httpx.AsyncClient, shipment_id: int, to: str, **tracking: str) -> Any:
    response = await http.post(
        f"{BASE_URL}/_sandbox/shipments/{shipment_id}", json={"to": to, **tracking}
    )
    assert response.status_code == 200, response.text
    return response.json()


def ship_body(order_id: int, sku: str, quantity: int) -> dict[str, Any]:
    """A ``/_sandbox/ship`` body: one shipment of ``quantity`` of ``sku``."""
    return {"order_id": order_id, "shipments": [{"products": [{"sku": sku, "quantity": quantity}]}]}


def shipment_of(order: Any, shipment_id: int) -> Any:
    return next(s for s in order["shipments"] if s["id"] == shipment_id)


async def test_a_new_order_comes_with_one_processing_shipment(
    client: ShipBobClient, http: httpx.AsyncClient
) -> None:
    created = await client.create_order(order_request("web-new", "SKU-0001", "SKU-0002"))
    [shipment] = created.order.shipments
    assert (shipment.status, shipment.status_details, shipment.tracking) == ("Processing", [], None)
    assert [(p.sku, quantity(p)) for p in shipment.products] == [
        ("SKU-0001", 2),
        ("SKU-0002", 2),
    ]
    assert created.order.status == "Processing"


async def test_every_order_representation_lists_its_shipments_even_when_empty(
    client: ShipBobClient, http: httpx.AsyncClient, app: SandboxApp
) -> None:
    created = await client.create_order(order_request("web-empty", "SKU-0001"))
    app.state.orders[created.order.id].shipments.clear()  # as an order in ImportReview has none
    listed = await http.get(
        f"{BASE_URL}/2026-01/order",
        params={"IDs": str(created.order.id)},
        headers={"Authorization": "Bearer shipbob-sandbox-token"},
    )
    [order] = listed.json()
    assert order["shipments"] == [] and order["gift_message"] == "Happy birthday"
    state = (await http.get(f"{BASE_URL}/_sandbox/state")).json()
    assert state["orders"][0]["shipments"] == []


async def test_each_step_changes_what_shipbob_changes_and_fires_its_webhook(
    app: SandboxApp, client: ShipBobClient, http: httpx.AsyncClient, ticking: None
) -> None:
    receiver = Receiver(SECRET)
    async with delivering_to(app, receiver) as nursery:
        await client.subscribe_webhook(
            CreateWebhookRequest(
                url="http://receiver.test/hook", topics=SHIPMENT_TOPICS, secret=SECRET
            )
        )
        order = (await client.create_order(order_request("web-steps", "SKU-0003"))).order
        shipment_id = order.shipments[0].id
        seen: list[Any] = []
        for to in ("Picked", "Packed", "LabeledCreated", "Completed", "Delivered"):
            tracking = (
                {"carrier": "UPS", "tracking_number": "1Z9"} if to == "LabeledCreated" else {}
            )
            seen.append(shipment_of(await step(http, shipment_id, to, **tracking), shipment_id))
        while len(receiver.accepted) < 2:
            receiver.arrived = trio.Event()
            await receiver.arrived.wait()
        nursery.cancel_scope.cancel()

    assert [(s["status"], [d["name"] for d in s["status_details"]]) for s in seen] == [
        ("Processing", ["Picked"]),
        ("Processing", ["Packed"]),
        ("LabeledCreated", ["Labeled"]),
        ("Completed", ["Processing"]),  # 200: waiting for carrier pickup
        ("Completed", ["Delivered"]),
    ]
    stamps = [s["last_update_at"] for s in seen]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    picked, _, labeled, completed, delivered = seen
    assert "tracking" not in picked and "actual_fulfillment_date" not in picked
    assert labeled["tracking"] == {"carrier": "UPS", "tracking_number": "1Z9"}
    assert labeled["actual_fulfillment_date"] == labeled["last_update_at"]
    assert completed["tracking"]["shipping_date"] == completed["last_update_at"]
    assert delivered["delivery_date"] == delivered["last_tracking_update_at"]
    # Only leaving the warehouse and delivery are announced (no 2026-01 topic for a label);
    # deliveries run concurrently, so even without a fault their order is not promised.
    topics = sorted(e.topic for e in receiver.accepted)
    assert topics == ["order.shipment.delivered", "order.shipped"]
    assert app.state.orders[order.id].status == "Fulfilled"


async def test_holds_and_exceptions_fire_their_topics_and_release_back_to_processing(
    app: SandboxApp, client: ShipBobClient, http: httpx.AsyncClient
) -> None:
    topics: list[str] = []
    app.state.notify = lambda topic, order: topics.append(topic)
    order = (await client.create_order(order_request("web-hold", "SKU-0004"))).order
    shipment_id = order.shipments[0].id
    held = shipment_of(await step(http, shipment_id, "OnHold"), shipment_id)
    assert (held["status"], held["status_details"][0]["id"]) == ("OnHold", 401)
    assert "status_details" not in shipment_of(
        await step(http, shipment_id, "Processing"), shipment_id
    )
    failed = await step(http, shipment_id, "Exception")
    assert failed["status"] == "Exception"  # the order's status follows its only shipment
    assert topics == ["order.shipment.on_hold", "order.shipment.exception"]


async def test_a_step_out_of_turn_is_refused_and_changes_nothing(
    app: SandboxApp, client: ShipBobClient, http: httpx.AsyncClient
) -> None:
    order = (await client.create_order(order_request("web-skip", "SKU-0005"))).order
    shipment_id = order.shipments[0].id
    before = msgspec.json.encode(app.state.orders[order.id])
    for body, status in (
        ({"to": "Completed"}, 422),  # not picked, packed and labeled yet
        ({"to": "Cancelled"}, 400),  # that is the API's :cancel
        ({"to": "Shipped"}, 400),
    ):
        answer = await http.post(f"{BASE_URL}/_sandbox/shipments/{shipment_id}", json=body)
        assert answer.status_code == status, answer.text
    assert (await http.post(f"{BASE_URL}/_sandbox/shipments/1", json={})).status_code == 404
    assert msgspec.json.encode(app.state.orders[order.id]) == before


async def test_ship_splits_the_unstarted_shipment_and_can_stop_at_the_label(
    client: ShipBobClient, http: httpx.AsyncClient
) -> None:
    order = (await client.create_order(order_request("web-split", "SKU-0006", "SKU-0007"))).order
    response = await http.post(
        f"{BASE_URL}/_sandbox/ship",
        json=ship_body(order.id, "SKU-0006", 2) | {"to": "LabeledCreated"},
    )
    assert response.status_code == 200, response.text
    rest, labeled = msgspec.convert(response.json(), wire.Order).shipments
    assert (rest.id, rest.status, [p.sku for p in rest.products]) == (
        order.shipments[0].id,
        "Processing",
        ["SKU-0007"],
    )
    assert labeled.status == "LabeledCreated" and labeled.location is not None
    assert labeled.location.id != (rest.location and rest.location.id)  # the other centre
    assert labeled.tracking is not None and labeled.tracking.tracking_number
    assert labeled.tracking.shipping_date is None
    too_many = await http.post(
        f"{BASE_URL}/_sandbox/ship",
        json={
            "order_id": order.id,
            "shipments": [{"products": [{"sku": "SKU-0006", "quantity": 1}]}],
        },
    )
    assert too_many.status_code == 400  # all of SKU-0006 is in the labeled shipment


async def test_out_of_order_fault_delivers_an_older_state_after_a_newer_one(
    app: SandboxApp,
    client: ShipBobClient,
    http: httpx.AsyncClient,
    mock_clock: trio.testing.MockClock,
    ticking: None,
) -> None:
    receiver = Receiver(SECRET)
    await http.post(f"{BASE_URL}/_sandbox/faults", json={"out_of_order_webhooks": True})
    async with delivering_to(app, receiver) as nursery:
        await client.subscribe_webhook(
            CreateWebhookRequest(
                url="http://receiver.test/hook", topics=SHIPMENT_TOPICS, secret=SECRET
            )
        )
        order = (await client.create_order(order_request("web-late", "SKU-0008"))).order
        shipment_id = order.shipments[0].id
        started = trio.current_time()
        await http.post(
            f"{BASE_URL}/_sandbox/ship",
            json={
                "order_id": order.id,
                "shipments": [{"products": [{"sku": "SKU-0008", "quantity": 2}]}],
            },
        )
        await step(http, shipment_id, "Delivered")
        while len(receiver.accepted) < 2:
            receiver.arrived = trio.Event()
            await receiver.arrived.wait()
        held_for = trio.current_time() - started
        nursery.cancel_scope.cancel()

    # Both verify (signed at send time), and arrive newest first.
    assert receiver.rejected == []
    assert [e.topic for e in receiver.accepted] == ["order.shipment.delivered", "order.shipped"]
    # What a receiver does about it: compare the shipment's last_update_at with the newest
    # seen (the rule for reordered webhooks) and drop the older state.
    newest: dict[int, datetime] = {}
    applied = []
    for event in receiver.accepted:
        [shipment] = msgspec.json.decode(event.body, type=wire.Order).shipments
        assert shipment.last_update_at is not None
        if shipment.last_update_at > newest.get(shipment.id, datetime.min.replace(tzinfo=UTC)):
            newest[shipment.id] = shipment.last_update_at
            applied.append(event.topic)
    assert applied == ["order.shipment.delivered"]
    late = json.loads(receiver.accepted[1].body)["shipments"][0]
    assert "delivery_date" not in late and late["status"] == "Completed"
    # The held event went out when a first retry would have: 5 s after the event.
    assert held_for == pytest.approx(5.0)


async def test_labeled_is_not_shipped_for_the_stream_and_mapping(
    client: ShipBobClient, http: httpx.AsyncClient, app: SandboxApp
) -> None:
    order = (await client.create_order(order_request("web-label", "SKU-0009"))).order
    shipment_id = order.shipments[0].id
    for to in ("Picked", "Packed", "LabeledCreated"):
        await step(http, shipment_id, to, carrier="USPS", tracking_number="L1")
    # ShipBob lists it as having tracking not yet uploaded...
    [listed] = await client.list_orders_needing_tracking()
    assert listed.shipments[0].tracking is not None
    # ...but it has not left the warehouse: nothing to push yet.
    assert mapping.shipments(listed) == []
    await step(http, shipment_id, "Completed")
    [shipped] = mapping.shipments((await client.list_orders_needing_tracking())[0])
    assert (shipped.tracking_number, shipped.shipped_at) == (
        "L1",
        app.state.orders[order.id].shipments[0].tracking.shipping_date,  # type: ignore[union-attr]
    )
