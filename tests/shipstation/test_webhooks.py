"""Webhooks: unsigned thin notifications authenticated by the token in the target URL,
redelivered with the same body (so the same derived id), resource URLs that resolve."""

from __future__ import annotations

import httpx
import msgspec
import pytest
import trio
import trio.testing

from connectors.errors import InvalidSignature, RecordError
from connectors.shipstation import webhooks, wire
from connectors.shipstation.connector import CONNECTOR
from connectors.shipstation.sandbox import SandboxApp
from connectors.shipstation.sandbox_webhooks import RETRY_SCHEDULE
from daemon.credentials import Secret
from tests.helpers import delivering_to
from tests.shipstation.conftest import AUTH, STORE_ID, WEBHOOK_SECRET, Receiver

RECEIVER = "https://shelfsync.test/webhooks/ss"
BODY = b'{"resource_url":"https://ssapi.shipstation.com/orders?importBatch=ab12","resource_type":"ORDER_NOTIFY"}'


def at(path: str) -> dict[str, str]:
    return {":path": path, "content-type": "application/json"}


async def subscribe(http: httpx.AsyncClient, event: str, **extra: object) -> int:
    target = webhooks.target_url(RECEIVER, WEBHOOK_SECRET)
    answer = await http.post(
        "/webhooks/subscribe", json={"target_url": target, "event": event, **extra}, auth=AUTH
    )
    assert answer.status_code == 200
    webhook_id: int = answer.json()["id"]
    return webhook_id


def test_a_delivery_with_the_channel_token_is_genuine_and_names_the_orders_stream() -> None:
    path = f"/webhooks/ss?token={WEBHOOK_SECRET}"
    secrets = {"webhook_secret": Secret(WEBHOOK_SECRET)}
    event = CONNECTOR.verify_webhook(None, secrets, at(path), BODY)
    assert (event.topic, event.streams) == ("ORDER_NOTIFY", ("orders",))
    assert event.webhook_id == webhooks.delivery_id(BODY) and event.webhook_id.startswith("sha256:")
    assert webhooks.verify(WEBHOOK_SECRET, at(path + "&x=1"), BODY).webhook_id == event.webhook_id


@pytest.mark.parametrize(
    "path",
    ["/webhooks/ss", "/webhooks/ss?token=", "/webhooks/ss?token=guess", "/webhooks/ss?tok=x"],
)
def test_a_delivery_without_the_token_is_rejected(path: str) -> None:
    with pytest.raises(InvalidSignature) as caught:
        webhooks.verify(WEBHOOK_SECRET, at(path), BODY)
    assert WEBHOOK_SECRET not in str(caught.value)


def test_a_genuine_delivery_of_another_shape_is_a_record_error() -> None:
    path = f"/webhooks/ss?token={WEBHOOK_SECRET}"
    with pytest.raises(RecordError, match="resource_type"):
        webhooks.verify(WEBHOOK_SECRET, at(path), b'{"resource_url": "x", "resource_type": "NEW"}')
    ship = webhooks.verify(
        WEBHOOK_SECRET, at(path), b'{"resource_url": "x", "resource_type": "SHIP_NOTIFY"}'
    )
    assert ship.streams == ()


def test_webhook_secrets_must_be_long_url_safe_tokens() -> None:
    assert webhooks.secret_problem("short") == "is shorter than 16 characters"
    assert webhooks.secret_problem("has space in it ok") is not None
    assert webhooks.secret_problem("a/b&c=d-0123456789") is not None
    assert webhooks.secret_problem(WEBHOOK_SECRET) is None
    problems = CONNECTOR.check_credentials(
        {"api_key": Secret(""), "api_secret": Secret("s3cret"), "webhook_secret": Secret("x")}
    )
    assert problems == {"api_key": "is empty", "webhook_secret": "is shorter than 16 characters"}


async def test_an_imported_order_notifies_subscribers_whose_url_resolves_on_the_sandbox(
    http: httpx.AsyncClient, app: SandboxApp
) -> None:
    await subscribe(http, "ORDER_NOTIFY", store_id=STORE_ID)
    await subscribe(http, "ORDER_NOTIFY", store_id=2002)  # another store: not told
    receiver = Receiver()
    async with delivering_to(app, receiver) as nursery:
        placed = (await http.post("/_sandbox/orders", json={"store_id": STORE_ID})).json()
        await receiver.arrived.wait()
        nursery.cancel_scope.cancel()
    [event] = receiver.accepted
    assert event.topic == "ORDER_NOTIFY" and receiver.rejected == []
    resource = msgspec.json.decode(event.body, type=wire.WebhookNotification).resource_url
    assert len(resource) <= 200
    assert resource.startswith("https://shipstation.test/orders?importBatch=")
    fetched = (await http.get(resource, auth=AUTH)).json()
    assert [o["orderId"] for o in fetched["orders"]] == [placed[0]["orderId"]]


async def test_a_failed_delivery_is_retried_with_the_same_body(
    http: httpx.AsyncClient, app: SandboxApp, mock_clock: trio.testing.MockClock
) -> None:
    await subscribe(http, "ORDER_NOTIFY")
    receiver = Receiver(statuses=[503, 200])
    async with delivering_to(app, receiver) as nursery:
        started = trio.current_time()
        await http.post("/_sandbox/orders", json={})
        while len(receiver.accepted) < 2:
            await trio.sleep(1)
        nursery.cancel_scope.cancel()
    first, second = receiver.accepted
    assert first.webhook_id == second.webhook_id and first.body == second.body
    assert [d.status for d in app.webhooks.log] == [503, 200]
    assert trio.current_time() - started == pytest.approx(RETRY_SCHEDULE[1], abs=1)


async def test_a_tampered_target_is_rejected_and_faults_duplicate_deliveries(
    http: httpx.AsyncClient, app: SandboxApp, mock_clock: trio.testing.MockClock
) -> None:
    forged = await http.post(
        "/_sandbox/webhooks",
        json={"target_url": f"{RECEIVER}?token=forged-0123456789", "event": "ORDER_NOTIFY"},
    )
    assert forged.status_code == 200
    await subscribe(http, "ORDER_NOTIFY")
    await http.post("/_sandbox/faults", json={"duplicate_webhooks": True})
    receiver = Receiver()
    async with delivering_to(app, receiver) as nursery:
        await http.post("/_sandbox/orders", json={})
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    assert receiver.rejected == ["the webhook URL's token does not match"] * 2
    assert len(receiver.accepted) == 2
    assert len({e.webhook_id for e in receiver.accepted}) == 1


async def test_out_of_order_fault_lets_a_later_event_overtake_an_earlier_one(
    http: httpx.AsyncClient, app: SandboxApp, mock_clock: trio.testing.MockClock
) -> None:
    await subscribe(http, "ORDER_NOTIFY")
    await http.post("/_sandbox/faults", json={"out_of_order_webhooks": True})
    receiver = Receiver()
    async with delivering_to(app, receiver) as nursery:
        first = (await http.post("/_sandbox/orders", json={})).json()[0]["orderId"]
        second = (await http.post("/_sandbox/orders", json={})).json()[0]["orderId"]
        await trio.sleep(RETRY_SCHEDULE[1] + 1)
        nursery.cancel_scope.cancel()
    urls = [
        msgspec.json.decode(e.body, type=wire.WebhookNotification).resource_url
        for e in receiver.accepted
    ]
    got = [(await http.get(url, auth=AUTH)).json()["orders"][0]["orderId"] for url in urls]
    assert got == [second, first]


async def test_webhooks_list_and_delete(http: httpx.AsyncClient) -> None:
    webhook_id = await subscribe(http, "SHIP_NOTIFY", friendly_name="shelfsync")
    [listed] = (await http.get("/webhooks", auth=AUTH)).json()["webhooks"]
    assert (listed["WebHookID"], listed["HookType"], listed["Name"]) == (
        webhook_id,
        "SHIP_NOTIFY",
        "shelfsync",
    )
    assert (await http.delete(f"/webhooks/{webhook_id}", auth=AUTH)).status_code == 200
    assert (await http.delete(f"/webhooks/{webhook_id}", auth=AUTH)).status_code == 404
    assert (await http.get("/webhooks", auth=AUTH)).json() == {"webhooks": []}
