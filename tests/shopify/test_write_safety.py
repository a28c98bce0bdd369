"""Writes the actor may retry: lost answers, concurrent changes, stale compare-and-set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest

from connectors import model
from connectors.errors import ChannelFatal, RecordError, Retryable
from connectors.shopify import mapping, wire
from connectors.shopify.connector import (
    STALE_RETRIES,
    ShopifyConnector,
    ShopifySettings,
)
from connectors.shopify.sandbox import ShopifySandbox
from connectors.shopify.sandbox_state import LOCATION_ID, Order, gid
from tests.shopify.conftest import (
    SHOP,
    TOKEN,
    RecordingGate,
    fulfil,
    inventory_write,
    make_connector,
)


class LoseAnswers(httpx.AsyncBaseTransport):
    """Forwards every request to the sandbox, then loses the answer of chosen operations."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.lose: dict[str, int] = {}
        """Operation name → how many of its next answers to lose."""
        self.before: dict[str, Any] = {}
        """Operation name → an async callable run before forwarding (a concurrent change)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        operation = None
        if request.url.path.endswith("/graphql.json"):
            operation = msgspec.json.decode(request.content).get("operationName")
        if operation in self.before:
            await self.before[operation]()
        response = await self.inner.handle_async_request(request)
        if operation is not None and self.lose.get(operation, 0) > 0:
            self.lose[operation] -= 1
            await response.aread()
            raise httpx.ReadTimeout("answer lost", request=request)
        return response


@pytest.fixture
def transport(app: ShopifySandbox) -> LoseAnswers:
    return LoseAnswers(httpx.ASGITransport(app=app))


@pytest.fixture
async def connector(transport: LoseAnswers, gate: RecordingGate) -> AsyncIterator[ShopifyConnector]:
    async with httpx.AsyncClient(transport=transport) as http:
        yield make_connector(http, gate)


def open_order(app: ShopifySandbox, lines: int = 1) -> Order:
    return next(
        o
        for o in app.state.orders.values()
        if o.fulfillment == "UNFULFILLED"
        and not o.test
        and o.cancelled_at is None
        and len(o.lines) >= lines
    )


# -- fulfillment.create -------------------------------------------------------------------


async def test_fulfillment_applied_but_answer_lost_is_not_created_twice(
    connector: ShopifyConnector, app: ShopifySandbox, transport: LoseAnswers
) -> None:
    order = open_order(app)
    line = order.lines[0]
    write = fulfil("s-1", order, [(line.sku, line.quantity)], "JD0001")
    transport.lose["FulfillmentCreate"] = 1
    with pytest.raises(Retryable):
        await connector.write(write)
    assert len(app.state.fulfillments) == 1  # Shopify did apply it
    # The actor retries the write with backoff.
    result = await connector.write(write)
    assert result.summary == "already fulfilled"
    (fulfillment,) = app.state.fulfillments.values()
    assert result.remote_id == gid("Fulfillment", fulfillment.id)


async def test_all_remaining_lines_applied_but_answer_lost_is_not_created_twice(
    connector: ShopifyConnector, app: ShopifySandbox, transport: LoseAnswers
) -> None:
    order = open_order(app)
    write = fulfil("s-1", order, [(line.sku, line.quantity) for line in order.lines], "JD0002")
    transport.lose["FulfillmentCreate"] = 1
    with pytest.raises(Retryable):
        await connector.write(write)
    result = await connector.write(write)
    assert result.summary == "already fulfilled"
    assert len(app.state.fulfillments) == 1


async def test_two_shipments_sharing_a_tracking_number_are_both_created(
    connector: ShopifyConnector, app: ShopifySandbox
) -> None:
    order = open_order(app, lines=2)
    first, second = order.lines[:2]
    assert first.sku != second.sku
    one = await connector.write(fulfil("s-1", order, [(first.sku, first.quantity)], "BOX-1"))
    two = await connector.write(fulfil("s-2", order, [(second.sku, second.quantity)], "BOX-1"))
    assert one.remote_id != two.remote_id
    assert two.summary != "already fulfilled"
    assert len(app.state.fulfillments) == 2


async def test_fulfillment_without_tracking_number_is_refused(
    connector: ShopifyConnector, app: ShopifySandbox
) -> None:
    order = open_order(app)
    line = order.lines[0]
    with pytest.raises(RecordError) as caught:
        await connector.write(fulfil("s-1", order, [(line.sku, line.quantity)], None))
    assert caught.value.reason == "no_tracking"
    assert not app.state.fulfillments


# -- inventory.set ------------------------------------------------------------------------


async def test_shopper_order_between_read_and_write_still_lands_at_target(
    connector: ShopifyConnector, app: ShopifySandbox, transport: LoseAnswers
) -> None:
    (item, _), level = next(
        (k, v) for k, v in sorted(app.state.levels.items()) if v["available"] >= 3
    )
    sku = app.state.variants[app.state.item_to_variant[item]].sku

    async def shopper_buys() -> None:
        transport.before.pop("InventorySetQuantities")
        async with httpx.AsyncClient(transport=transport.inner) as shopper:
            answer = await shopper.post(
                "http://sandbox/_sandbox/orders", json={"lines": [{"sku": sku, "quantity": 2}]}
            )
            assert answer.status_code == 201

    transport.before["InventorySetQuantities"] = shopper_buys
    result = await connector.write(inventory_write("w-1", app, item, 40))
    assert level["available"] == 40
    assert "1 quantities" in result.summary


async def test_a_push_to_an_item_written_before_compares_with_what_was_written(
    connector: ShopifyConnector, app: ShopifySandbox, gate: RecordingGate
) -> None:
    (item, _), level = next((k, v) for k, v in sorted(app.state.levels.items()) if v["available"])
    read = level["available"]
    await connector.write(inventory_write("w-1", app, item, read + 1))
    assert gate.calls == 2  # the look-up, the set

    again = await connector.write(inventory_write("w-2", app, item, read + 2))
    assert gate.calls == 3  # the set alone
    assert level["available"] == read + 2
    assert again.summary.startswith("set 1 quantities (")
    assert again.summary.endswith("; where last written)")

    level["available"] -= 1  # a sale on Shopify since: what was written is stale
    await connector.write(inventory_write("w-3", app, item, read + 5))
    assert gate.calls == 6  # the stale set, the re-read, the set
    assert level["available"] == read + 5


async def test_a_push_that_reads_first_leaves_what_is_at_its_target(
    connector: ShopifyConnector, app: ShopifySandbox, gate: RecordingGate
) -> None:
    (item, _), level = next((k, v) for k, v in sorted(app.state.levels.items()) if v["available"])
    await connector.write(inventory_write("w-1", app, item, level["available"] + 1))
    level["available"] -= 1  # the store's own checkout took a unit off
    write = inventory_write("w-2", app, item, level["available"])
    push = msgspec.json.decode(write.payload, type=model.InventoryPush)
    first = msgspec.structs.replace(push, read_first=True)
    write = msgspec.structs.replace(write, payload=msgspec.json.encode(first))
    result = await connector.write(write)
    assert result.summary == "set 0 quantities (0 changes)"
    assert gate.calls == 3  # the first write's two calls, this one's look-up


async def test_an_item_written_before_and_since_unstocked_is_looked_up_again(
    connector: ShopifyConnector, app: ShopifySandbox, gate: RecordingGate
) -> None:
    (item, location), level = next(iter(sorted(app.state.levels.items())))
    await connector.write(inventory_write("w-1", app, item, level["available"] + 1))
    del app.state.levels[(item, location)]  # the merchant stopped stocking it there
    result = await connector.write(inventory_write("w-2", app, item, 3))
    assert "1 SKUs not stocked at the location" in result.summary
    assert gate.calls == 4  # the refused set, the look-up


async def test_stale_retry_is_not_an_idempotency_key_mismatch(
    connector: ShopifyConnector, app: ShopifySandbox
) -> None:
    # The held write is retried later with the same write key but a re-read change_from.
    (item, _), level = next(iter(sorted(app.state.levels.items())))
    read = level["available"]
    await connector.write(inventory_write("w-1", app, item, read + 1))
    level["available"] = read + 7  # a direct change on Shopify
    await connector.write(inventory_write("w-1", app, item, read + 3))
    assert level["available"] == read + 3


async def test_stale_without_end_is_a_stale_record_error(
    connector: ShopifyConnector, app: ShopifySandbox, transport: LoseAnswers
) -> None:
    (item, _), level = next(iter(sorted(app.state.levels.items())))
    attempts = 0

    async def keeps_changing() -> None:
        nonlocal attempts
        attempts += 1
        level["available"] += 1

    transport.before["InventorySetQuantities"] = keeps_changing
    with pytest.raises(RecordError) as caught:
        await connector.write(inventory_write("w-1", app, item, 50))
    assert caught.value.reason == "stale"
    assert attempts == STALE_RETRIES + 1


# -- api_version --------------------------------------------------------------------------


def test_settings_refuse_an_api_version_before_2026_01() -> None:
    base = {"shop": SHOP, "location_id": "gid://shopify/Location/1"}
    ok = msgspec.convert({**base, "api_version": "2026-04"}, ShopifySettings)
    assert ok.api_version == "2026-04"
    for old in ("2025-10", "2024-01", "unstable", "2026-1"):
        with pytest.raises(msgspec.ValidationError, match="api_version"):
            msgspec.convert({**base, "api_version": old}, ShopifySettings)


async def test_connector_refuses_an_api_version_before_2026_01(
    http: httpx.AsyncClient, gate: RecordingGate
) -> None:
    with pytest.raises(ChannelFatal, match="2026-01"):
        make_connector(http, gate, api_version="2025-10")


# -- order lines ----------------------------------------------------------------------------


def test_order_lines_carry_what_is_left_to_ship_and_drop_removed_lines() -> None:
    def line(n: int, quantity: int, current: int, unfulfilled: int | None = None) -> dict[str, Any]:
        return {
            "id": f"gid://shopify/LineItem/{n}",
            "sku": f"SKU-{n}",
            "title": f"Thing {n}",
            "quantity": quantity,
            "currentQuantity": current,
            "unfulfilledQuantity": quantity if unfulfilled is None else unfulfilled,
            "variant": None,
        }

    node: dict[str, Any] = {
        "id": "gid://shopify/Order/1",
        "name": "#1001",
        "createdAt": "2026-01-05T10:00:00Z",
        "updatedAt": "2026-01-05T11:00:00Z",
        "cancelledAt": None,
        "test": False,
        "note": None,
        "displayFinancialStatus": "PARTIALLY_REFUNDED",
        "displayFulfillmentStatus": "UNFULFILLED",
        "customAttributes": [],
        "shippingAddress": None,
        "shippingLine": None,
        "lineItems": {
            "pageInfo": {"hasNextPage": False},
            # 1 refunded down to 1; 2 removed; 3 untouched; 4 two of three already shipped;
            # 5 shipped in full.
            "nodes": [
                line(1, 3, 1),
                line(2, 2, 0),
                line(3, 1, 1),
                line(4, 3, 3, unfulfilled=1),
                line(5, 2, 2, unfulfilled=0),
            ],
        },
    }
    order = mapping.order_from_wire(
        "shop",
        mapping.origin_of_shop(SHOP),
        msgspec.json.decode(msgspec.json.encode(node), type=wire.OrderNode),
    )
    assert [(li.sku, li.quantity) for li in order.lines] == [
        ("SKU-1", 1),
        ("SKU-3", 1),
        ("SKU-4", 1),
    ]


async def test_sandbox_serves_only_2026_01(http: httpx.AsyncClient) -> None:
    for version, status in (("2025-10", 404), ("2026-01", 200)):
        answer = await http.post(
            f"http://{SHOP}/admin/api/{version}/graphql.json",
            json={"query": "{ shop { name } }"},
            headers={"X-Shopify-Access-Token": TOKEN},
        )
        assert answer.status_code == status, version


async def test_fulfillment_orders_at_another_location_are_not_this_channels(
    connector: ShopifyConnector, app: ShopifySandbox
) -> None:
    order = open_order(app)
    for fulfillment_order in app.state.fulfillment_orders.values():
        if fulfillment_order.order_id == order.id:
            fulfillment_order.location_id = LOCATION_ID + 1  # routed to another warehouse
    line = order.lines[0]
    with pytest.raises(RecordError) as caught:
        await connector.write(fulfil("s-9", order, [(line.sku, line.quantity)], "JD0099"))
    assert caught.value.reason == "nothing_to_fulfil"
    assert app.state.fulfillments == {}


def test_plain_http_is_refused_outside_loopback() -> None:
    location = "gid://shopify/Location/1"
    for shop in ("127.0.0.1:8801", "localhost:9", "[::1]:80"):
        assert ShopifySettings(shop=shop, location_id=location, scheme="http").scheme == "http"
    with pytest.raises(ValueError, match="only for a sandbox on loopback"):
        ShopifySettings(shop="example.myshopify.com", location_id=location, scheme="http")
