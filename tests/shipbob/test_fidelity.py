"""Sandbox fidelity: stable pagination, the sliding-minute throttle, signed webhook delivery."""

from __future__ import annotations

import json

import httpx
import pytest
import trio
import trio.testing

from connectors.errors import InvalidSignature, RecordError, Retryable
from connectors.shipbob import webhooks
from connectors.shipbob.client import ShipBobClient
from connectors.shipbob.sandbox import SANDBOX_TOKEN, SandboxApp
from connectors.shipbob.wire import CreateWebhookRequest
from tests.helpers import delivering_to
from tests.shipbob.conftest import SECRET, Receiver, order_request

AUTH = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}


async def test_product_pages_are_stable_while_products_are_added(
    client: ShipBobClient, http: httpx.AsyncClient
) -> None:
    seen: list[int] = []
    pages = client.product_pages(page_size=3)
    first = await anext(pages)
    seen += [p.id for p in first]
    # A product created mid-walk has the highest id: it lands on a later page, nothing shifts.
    created = await http.post(
        "http://shipbob.test/2026-01/product",
        headers=AUTH,
        json={"name": "Late", "type_id": 1, "variants": [{"name": "Late", "sku": "LATE-1"}]},
    )
    assert created.status_code == 201
    seen += [p.id async for page in pages for p in page]
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen)
    assert created.json()["id"] == seen[-1]


async def test_inventory_pages_cover_every_item_once(
    client: ShipBobClient, app: SandboxApp
) -> None:
    for size in (1, 4, 30, 250):
        items = await client.inventory_levels_by_location(page_size=size)
        assert [i.inventory_id for i in items] == sorted(app.state.stock)


async def test_throttle_engages_at_the_151st_call_in_a_minute(
    http: httpx.AsyncClient, mock_clock: trio.testing.MockClock
) -> None:
    async def call() -> httpx.Response:
        return await http.get("http://shipbob.test/2026-01/channel", headers=AUTH)

    remaining = []
    for _ in range(150):
        response = await call()
        assert response.status_code == 200
        remaining.append(int(response.headers["x-remaining-calls"]))
        await trio.sleep(0.25)  # virtual time: 150 calls spread over 37.5 s
    assert remaining[0] == 149 and remaining[-1] == 0
    throttled = await call()
    assert throttled.status_code == 429
    assert throttled.headers["x-remaining-calls"] == "0"
    wait = int(throttled.headers["x-retry-after"])
    assert wait == 23  # the first call (t=0) leaves the window at t=60; now is t=37.5
    assert throttled.json() == {
        "statusCode": 429,
        "message": f"Rate limit is exceeded. Try again in {wait} seconds.",
    }
    await trio.sleep(wait - 1)
    assert (await call()).status_code == 429
    await trio.sleep(1)
    assert (await call()).status_code == 200


async def test_unauthenticated_call_gets_empty_401(http: httpx.AsyncClient) -> None:
    response = await http.get("http://shipbob.test/2026-01/channel")
    assert (response.status_code, response.content) == (401, b"")


async def subscribe_and_ship(client: ShipBobClient, http: httpx.AsyncClient, secret: str) -> int:
    await client.subscribe_webhook(
        CreateWebhookRequest(
            url="http://receiver.test/hook", topics=["order.shipped"], secret=secret
        )
    )
    order = (await client.create_order(order_request("web-hook", "SKU-0009"))).order
    response = await http.post(
        "http://shipbob.test/_sandbox/ship",
        json={
            "order_id": order.id,
            "shipments": [
                {
                    "products": [{"sku": "SKU-0009", "quantity": 2}],
                    "carrier": "USPS",
                    "tracking_number": "W1",
                }
            ],
        },
    )
    assert response.status_code == 200
    return order.id


async def test_genuine_webhook_is_accepted_and_tampered_rejected(
    app: SandboxApp, client: ShipBobClient, http: httpx.AsyncClient
) -> None:
    receiver = Receiver(SECRET)
    async with delivering_to(app, receiver) as nursery:
        order_id = await subscribe_and_ship(client, http, SECRET)
        await receiver.arrived.wait()
        nursery.cancel_scope.cancel()
    [event] = receiver.accepted
    assert event.topic == "order.shipped" and event.streams == ("shipments", "inventory")
    assert json.loads(event.body)["id"] == order_id

    headers, body = receiver.raw[0]
    with pytest.raises(InvalidSignature):
        webhooks.verify(SECRET, headers, body.replace(b"W1", b"W2"))
    unsigned = {k: v for k, v in headers.items() if k != "webhook-signature"}
    with pytest.raises(InvalidSignature):
        webhooks.verify(SECRET, unsigned, body)
    with pytest.raises(InvalidSignature):
        webhooks.verify("whsec_" + "A" * 32, headers, body)
    stale = int(headers["webhook-timestamp"]) + 301
    with pytest.raises(InvalidSignature, match="5 minutes"):
        webhooks.verify(SECRET, headers, body, now=stale)


async def test_delivery_signed_with_another_secret_is_rejected(
    app: SandboxApp, client: ShipBobClient, http: httpx.AsyncClient
) -> None:
    receiver = Receiver("whsec_" + "B" * 32)
    async with delivering_to(app, receiver) as nursery:
        await subscribe_and_ship(client, http, SECRET)
        await receiver.arrived.wait()
        nursery.cancel_scope.cancel()
    assert receiver.accepted == [] and receiver.rejected == ["no webhook-signature matches"]


async def test_non_2xx_is_redelivered_with_the_same_id(
    app: SandboxApp,
    client: ShipBobClient,
    http: httpx.AsyncClient,
    mock_clock: trio.testing.MockClock,
) -> None:
    receiver = Receiver(SECRET, statuses=[500, 503, 200])
    async with delivering_to(app, receiver) as nursery:
        await client.subscribe_webhook(
            CreateWebhookRequest(
                url="http://receiver.test/hook", topics=["order.shipped"], secret=SECRET
            )
        )
        started = trio.current_time()
        await http.post("http://shipbob.test/_sandbox/faults", json={"duplicate_webhooks": False})
        order = (await client.create_order(order_request("web-retry", "SKU-0010"))).order
        await http.post(
            "http://shipbob.test/_sandbox/ship",
            json={
                "order_id": order.id,
                "shipments": [
                    {
                        "products": [{"sku": "SKU-0010", "quantity": 2}],
                        "carrier": "UPS",
                        "tracking_number": "R1",
                    }
                ],
            },
        )
        while len(receiver.accepted) < 3:
            receiver.arrived = trio.Event()
            await receiver.arrived.wait()
        elapsed = trio.current_time() - started
        nursery.cancel_scope.cancel()
    assert len({e.webhook_id for e in receiver.accepted}) == 1
    assert [log.status for log in app.webhooks.log] == [500, 503, 200]
    assert elapsed == pytest.approx(305.0)  # immediate, +5 s, +5 min


@pytest.mark.parametrize("secret", [SECRET[:-1], SECRET.removeprefix("whsec_"), SECRET + "=="])
async def test_a_subscription_with_a_malformed_secret_is_refused(
    client: ShipBobClient, secret: str
) -> None:
    assert webhooks.secret_problem(secret) is not None
    with pytest.raises(RecordError, match="Secret must match"):
        await client.subscribe_webhook(
            CreateWebhookRequest(
                url="https://example.com/hook", topics=["order.shipped"], secret=secret
            )
        )


async def test_duplicate_webhooks_fault_repeats_the_id(
    app: SandboxApp, client: ShipBobClient, http: httpx.AsyncClient
) -> None:
    receiver = Receiver(SECRET)
    await http.post("http://shipbob.test/_sandbox/faults", json={"duplicate_webhooks": True})
    async with delivering_to(app, receiver) as nursery:
        await subscribe_and_ship(client, http, SECRET)
        while len(receiver.accepted) < 2:
            receiver.arrived = trio.Event()
            await receiver.arrived.wait()
        nursery.cancel_scope.cancel()
    assert receiver.accepted[0].webhook_id == receiver.accepted[1].webhook_id


async def test_state_and_faults_are_inspectable(http: httpx.AsyncClient) -> None:
    bad = await http.post("http://shipbob.test/_sandbox/faults", json={"no_such_knob": 1})
    assert bad.status_code == 400
    set_ = await http.post("http://shipbob.test/_sandbox/faults", json={"error_rate": 1.0})
    assert set_.json()["error_rate"] == 1.0
    failed = await http.get("http://shipbob.test/2026-01/channel", headers=AUTH)
    assert failed.status_code == 500
    state = (await http.get("http://shipbob.test/_sandbox/state")).json()
    assert state["requests"][-1] == "GET /2026-01/channel 500"


async def test_latency_and_timeout_faults_take_virtual_time(
    client: ShipBobClient, http: httpx.AsyncClient, mock_clock: trio.testing.MockClock
) -> None:
    await http.post("http://shipbob.test/_sandbox/faults", json={"latency_ms": 1500})
    started = trio.current_time()
    await client.list_channels()
    assert trio.current_time() - started == pytest.approx(1.5)

    await http.post(
        "http://shipbob.test/_sandbox/faults", json={"latency_ms": 0, "timeout_rate": 1.0}
    )
    started = trio.current_time()
    with pytest.raises(Retryable, match="server error 504"):
        await client.list_channels()
    assert trio.current_time() - started == pytest.approx(120.0)


async def test_reordered_webhooks_all_arrive(
    app: SandboxApp,
    client: ShipBobClient,
    http: httpx.AsyncClient,
    mock_clock: trio.testing.MockClock,
) -> None:
    receiver = Receiver(SECRET)
    await http.post("http://shipbob.test/_sandbox/faults", json={"reorder_webhooks": True})
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport) as outbound, trio.open_nursery() as nursery:
        await nursery.start(app.run_webhooks, outbound)
        await client.subscribe_webhook(
            CreateWebhookRequest(url="http://receiver.test/hook", topics=["order.shipped"])
        )
        receiver.secret = next(iter(app.state.webhooks.values()))[1]
        sent = []
        for n in range(4):
            order = (await client.create_order(order_request(f"web-r{n}", "SKU-0011"))).order
            shipment = {
                "products": [{"sku": "SKU-0011", "quantity": 2}],
                "tracking_number": f"R{n}",
            }
            await http.post(
                "http://shipbob.test/_sandbox/ship",
                json={"order_id": order.id, "shipments": [shipment]},
            )
            sent.append(order.id)
        while len(receiver.accepted) < 4:
            receiver.arrived = trio.Event()
            await receiver.arrived.wait()
        nursery.cancel_scope.cancel()
    arrived = [json.loads(e.body)["id"] for e in receiver.accepted]
    assert sorted(arrived) == sorted(sent)
    assert arrived != sent  # with this seed the random hold-backs do overtake


async def test_order_shipped_can_arrive_without_tracking(
    app: SandboxApp, client: ShipBobClient, http: httpx.AsyncClient
) -> None:
    receiver = Receiver(SECRET)
    await http.post("http://shipbob.test/_sandbox/faults", json={"webhooks_without_tracking": True})
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport) as outbound, trio.open_nursery() as nursery:
        await nursery.start(app.run_webhooks, outbound)
        order_id = await subscribe_and_ship(client, http, SECRET)
        await receiver.arrived.wait()
        nursery.cancel_scope.cancel()
    [event] = receiver.accepted
    [shipment] = json.loads(event.body)["shipments"]
    assert "tracking" not in shipment
    # The API still has it: a webhook says "changed", the poll gives the truth.
    assert app.state.orders[order_id].shipments[0].tracking is not None
