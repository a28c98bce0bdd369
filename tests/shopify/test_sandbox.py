"""The sandbox's own behaviour: search syntax, cost limits, faults, shopper actions, webhooks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest
import trio
import trio.testing

from connectors.errors import ChannelFatal, Retryable
from connectors.sandbox_server import SandboxOptions, load_sandbox
from connectors.sandboxkit import header_map, read_body
from connectors.shopify import wire
from connectors.shopify.client import ShopifyClient
from connectors.shopify.cost import requested_cost
from connectors.shopify.sandbox import ShopifySandbox, create_app
from connectors.shopify.sandbox_search import SearchError, compile_search
from tests.shopify.conftest import SHOP, TOKEN

GRAPHQL = f"https://{SHOP}/admin/api/2026-01/graphql.json"


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


def test_found_by_the_sandbox_command() -> None:
    assert load_sandbox("shopify") is create_app


def test_same_seed_same_shop() -> None:
    a = create_app(SandboxOptions(seed=9, catalog=30)).state
    b = create_app(SandboxOptions(seed=9, catalog=30)).state
    assert [(v.id, v.sku, v.barcode) for v in a.variants.values()] == [
        (v.id, v.sku, v.barcode) for v in b.variants.values()
    ]
    assert a.levels == b.levels


FIELDS = {
    "updated_at": lambda r: r["updated_at"],
    "status": lambda r: r["status"],
    "test": lambda r: r["test"],
    "sku": lambda r: r["sku"],
}
ROWS = [
    {"updated_at": datetime(2026, 1, d, tzinfo=UTC), "status": s, "test": t, "sku": k}
    for d, s, t, k in [
        (1, "open", False, "A"),
        (2, "cancelled", False, "B"),
        (3, "open", True, "C"),
    ]
]


@pytest.mark.parametrize(
    ("query", "skus"),
    [
        ("updated_at:>='2026-01-02T00:00:00Z'", "BC"),
        ("updated_at:>'2026-01-02T00:00:00Z'", "C"),
        ("-status:cancelled test:false", "A"),
        ("NOT status:cancelled AND test:true", "C"),
        ("(sku:A OR sku:C) -test:true", "A"),
        ("sku:'B'", "B"),
        ("", "ABC"),
        # Equalities OR-ed on one field are one lookup: still Shopify's case-blind match,
        # beside other fields' terms, negations and non-text values.
        ("sku:a OR status:cancelled OR sku:Z", "AB"),
        ("sku:Z OR -sku:A OR sku:C", "BC"),
        ("test:true OR sku:b OR test:TRUE", "BC"),
        ("(sku:A OR sku:B) (sku:B OR sku:C)", "B"),
    ],
)
def test_search_syntax(query: str, skus: str) -> None:
    matches = compile_search(query, FIELDS)
    assert "".join(r["sku"] for r in ROWS if matches(r)) == skus


def test_search_rejects_bad_syntax() -> None:
    with pytest.raises(SearchError):
        compile_search("(sku:A", FIELDS)
    with pytest.raises(SearchError):
        compile_search("updated_at:>='yesterday'", FIELDS)


def test_cost_rules() -> None:
    query = "{ orders(first: 10) { nodes { id lineItems(first: 5) { nodes { sku } } } } }"
    assert requested_cost(query) == 2 + 10 * (1 + 2 + 5)


async def post(http: httpx.AsyncClient, query: str, token: str = TOKEN) -> httpx.Response:
    return await http.post(
        GRAPHQL, json={"query": query}, headers={"X-Shopify-Access-Token": token}
    )


async def test_every_answer_carries_cost(http: httpx.AsyncClient) -> None:
    answer = (await post(http, "{ productVariants(first: 2) { nodes { id } } }")).json()
    cost = answer["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 4
    assert cost["actualQueryCost"] == 4
    assert (
        cost["throttleStatus"]
        == {
            "maximumAvailable": 2000.0,
            "currentlyAvailable": 2000.0,  # reserved 4, used 4... and restored at once: no time
            "restoreRate": 100.0,
        }
        or cost["throttleStatus"]["currentlyAvailable"] == 1996
    )


async def test_too_expensive_query(http: httpx.AsyncClient, app: ShopifySandbox) -> None:
    query = (
        "{ productVariants(first: 250) { nodes { product { id } "
        "inventoryItem { measurement { weight { value } } } } } }"
    )
    answer = (await post(http, query)).json()
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert requested_cost(query) == 1252
    assert error["message"] == (
        "Query cost is 1252, which exceeds the single query max cost limit (1000)."
    )
    assert "data" not in answer
    assert app.state.counters["max_cost_exceeded"] == 1


async def test_invalid_document_is_a_graphql_error(
    http: httpx.AsyncClient, client: ShopifyClient
) -> None:
    answer = (await post(http, "{ productVariants(first: 2) { nodes { colour } } }")).json()
    assert "colour" in answer["errors"][0]["message"]


async def test_error_rate_fault_is_retryable(client: ShopifyClient, app: ShopifySandbox) -> None:
    app.state.faults.error_rate = 1.0
    with pytest.raises(Retryable):
        await client.products_page(None, None)


async def test_faults_endpoint(http: httpx.AsyncClient, app: ShopifySandbox) -> None:
    answer = await http.post("http://s/_sandbox/faults", json={"latency_ms": 5, "error_rate": 0})
    assert answer.json()["latency_ms"] == 5
    assert app.state.faults.latency_ms == 5
    assert (await http.post("http://s/_sandbox/faults", json={"nope": 1})).status_code == 422


async def test_timeout_fault_outlasts_the_caller(
    client: ShopifyClient, app: ShopifySandbox, autojump_clock: trio.testing.MockClock
) -> None:
    app.state.faults.timeout_rate = 1.0
    with trio.move_on_after(30) as scope:
        await client.products_page(None, None)
    assert scope.cancelled_caught


async def test_cancel_order(
    http: httpx.AsyncClient, client: ShopifyClient, app: ShopifySandbox
) -> None:
    order = next(o for o in app.state.orders.values() if o.cancelled_at is None)
    answer = await http.post(f"http://s/_sandbox/orders/{order.id}/cancel")
    assert answer.status_code == 200
    assert answer.json()["cancelled_at"] is not None
    page = await client.orders_page(None, None, status="cancelled")
    ids = {msgspec.json.decode(raw, type=wire.OrderNode).id for _, raw in page.nodes}
    assert f"gid://shopify/Order/{order.id}" in ids
    fo = app.state.fulfillment_orders[order.fulfillment_order_ids[0]]
    assert fo.status == "CANCELLED"


async def test_unknown_sku_order_is_refused(http: httpx.AsyncClient) -> None:
    answer = await http.post("http://s/_sandbox/orders", json={"lines": [{"sku": "NOPE"}]})
    assert answer.status_code == 422


async def test_unpaid_order_is_pending(http: httpx.AsyncClient, app: ShopifySandbox) -> None:
    sku = next(v.sku for v in app.state.variants.values() if v.sku)
    answer = await http.post(
        "http://s/_sandbox/orders", json={"lines": [{"sku": sku}], "paid": False}
    )
    assert answer.json()["financial_status"] == "pending"


class Inbox:
    """A webhook receiver (ASGI) that records deliveries and answers 200."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.changed = trio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = await read_body(receive)
        headers = header_map(scope)
        self.deliveries.append((headers, body))
        self.changed.set()
        self.changed = trio.Event()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def wait_for(self, count: int) -> None:
        while len(self.deliveries) < count:
            await self.changed.wait()


async def test_duplicate_and_reordered_webhooks(
    http: httpx.AsyncClient, app: ShopifySandbox, autojump_clock: trio.testing.MockClock
) -> None:
    inbox = Inbox()
    app.state.faults.duplicate_webhooks = 1.0
    app.state.faults.reorder_webhooks = 1.0
    await http.post(
        "http://s/_sandbox/webhooks",
        json={"topic": "products/update", "address": "http://hooks/in"},
    )
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=inbox)) as hooks,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(lambda task_status: app.webhooks.run(hooks, task_status=task_status))
        products = sorted(app.state.products)[:3]
        for product in products:
            await http.post(f"http://s/_sandbox/products/{product}", json={"title": f"T{product}"})
        with trio.fail_after(60):
            await inbox.wait_for(6)
        nursery.cancel_scope.cancel()
    ids = [h["x-shopify-webhook-id"] for h, _ in inbox.deliveries]
    assert len(set(ids)) == 3 and all(ids.count(i) == 2 for i in ids)
    topics = {h["x-shopify-topic"] for h, _ in inbox.deliveries}
    assert topics == {"products/update"}
    bodies = [msgspec.json.decode(b)["id"] for _, b in inbox.deliveries]
    assert set(bodies) == set(products)


async def test_webhooks_given_up_after_the_retry_schedule(
    http: httpx.AsyncClient, app: ShopifySandbox, autojump_clock: trio.testing.MockClock
) -> None:
    def always_503(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    await http.post(
        "http://s/_sandbox/webhooks", json={"topic": "orders/create", "address": "http://hooks/in"}
    )
    sku = next(v.sku for v in app.state.variants.values() if v.sku)
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(always_503)) as hooks,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(lambda task_status: app.webhooks.run(hooks, task_status=task_status))
        await http.post("http://s/_sandbox/orders", json={"lines": [{"sku": sku}]})
        await trio.sleep(sum(app.webhooks.retry_delays) + 1)  # virtual time: the whole schedule
        nursery.cancel_scope.cancel()
    log = app.webhooks.log
    assert [entry["attempt"] for entry in log] == list(range(1, 10))  # first try + 8 retries
    assert not any(entry["delivered"] for entry in log)
    assert app.webhooks.pending == []


async def test_auth_checked_before_anything(http: httpx.AsyncClient, app: ShopifySandbox) -> None:
    answer = await post(http, "{ productVariants(first: 2) { nodes { id } } }", token="")
    assert answer.status_code == 401
    assert app.state.counters["requests"] == 0


async def test_unknown_version_404(http: httpx.AsyncClient) -> None:
    answer = await http.post(
        f"https://{SHOP}/admin/api/1999-01/graphql.json",
        json={"query": "{ location { id } }"},
        headers={"X-Shopify-Access-Token": TOKEN},
    )
    assert answer.status_code == 404


async def test_max_cost_is_channel_fatal_for_the_client(
    client: ShopifyClient, app: ShopifySandbox
) -> None:
    app.state.max_query_cost = 100
    with pytest.raises(ChannelFatal):
        await client.products_page(None, None)
