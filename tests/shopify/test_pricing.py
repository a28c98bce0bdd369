"""The sandbox's own price of a query, checked against Shopify's rules and the client's estimate.

The sandbox prices by a schema walk (``sandbox_cost``), the client by a document heuristic
(``cost``); these tests put the two side by side through the sandbox's HTTP API.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio.testing

from connectors.shopify import queries
from connectors.shopify.client import ShopifyClient
from connectors.shopify.cost import requested_cost
from connectors.shopify.sandbox import ShopifySandbox
from connectors.shopify.sandbox_state import LOCATION_ID, gid
from tests.shopify.conftest import SHOP, TOKEN, RecordingGate

GRAPHQL = f"https://{SHOP}/admin/api/2026-01/graphql.json"

KNOWN_OVERESTIMATES = {
    # ``Order.fulfillments(first:)`` is a plain list: the client adds a connection's 2 points.
    "Fulfillments": 2,
    # ``nodes(ids:)`` is a list of one Node per id: again no connection's 2 points.
    "InventoryLevels": 2,
    "OrdersById": 2,
}
"""Where the client's estimate is above the sandbox's price, and by how much: safe, but listed
so that a change in either pricer shows up here instead of passing unnoticed."""


async def graphql(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    operation: str | None = None,
) -> dict[str, Any]:
    response = await http.post(
        GRAPHQL,
        json={"query": query, "variables": variables or {}, "operationName": operation},
        headers={"X-Shopify-Access-Token": TOKEN},
    )
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


def cost_of(answer: dict[str, Any]) -> dict[str, Any]:
    cost: dict[str, Any] = answer["extensions"]["cost"]
    return cost


def realistic_variables(app: ShopifySandbox) -> dict[str, dict[str, Any]]:
    """Variables the client sends for each document in ``queries.ALL``, at their largest."""
    state = app.state
    order_id = gid("Order", next(iter(state.orders)))
    item_ids = [gid("InventoryItem", i) for i in sorted(state.item_to_variant)]
    batch = (item_ids * (queries.INVENTORY_BATCH // len(item_ids) + 1))[: queries.INVENTORY_BATCH]
    location = gid("Location", LOCATION_ID)
    return {
        "Products": {
            "first": queries.PRODUCTS_PAGE_SIZE,
            "variantsFirst": queries.PRODUCT_VARIANTS_PAGE_SIZE,
            "after": None,
            "query": "updated_at:>='2025-01-01T00:00:00Z'",
        },
        "MoreVariants": {
            "id": gid("Product", next(iter(state.products))),
            "first": queries.MORE_VARIANTS_PAGE_SIZE,
            "after": None,
        },
        "Orders": {
            "first": queries.ORDERS_PAGE_SIZE,
            "after": None,
            "query": "financial_status:paid",
        },
        "OrdersById": {
            "ids": [
                gid("Order", number) for number in list(state.orders)[: queries.ORDERS_PAGE_SIZE]
            ]
        },
        "FulfillmentOrders": {"id": order_id},
        "Fulfillments": {"id": order_id},
        "VariantsBySku": {
            "first": queries.VARIANTS_BY_SKU_PAGE,
            "after": None,
            "query": " OR ".join(f"sku:'SB-{n}'" for n in range(queries.VARIANTS_BY_SKU_PAGE)),
            "locationId": location,
        },
        "InventoryLevels": {"ids": batch, "locationId": location},
        "InventorySetQuantities": {
            "input": {
                "name": "available",
                "reason": "correction",
                "quantities": [
                    {"inventoryItemId": i, "locationId": location, "quantity": 5} for i in item_ids
                ],
            },
            "key": "pricing-test",
        },
        "FulfillmentCreate": {
            "fulfillment": {"lineItemsByFulfillmentOrder": [], "notifyCustomer": False}
        },
    }


# -- (a) the client's estimate against the sandbox's price -----------------------------------


async def test_client_estimate_is_never_below_the_sandbox_price(
    http: httpx.AsyncClient, app: ShopifySandbox
) -> None:
    variables = realistic_variables(app)
    assert set(variables) == set(queries.ALL)
    differences = {}
    for operation, document in queries.ALL.items():
        answer = await graphql(http, document, variables[operation], operation)
        charged = cost_of(answer)["requestedQueryCost"]
        estimated = requested_cost(document, variables[operation])
        assert estimated >= charged, (operation, estimated, charged)
        if estimated != charged:
            differences[operation] = estimated - charged
    assert differences == KNOWN_OVERESTIMATES


# -- (b) Shopify's documented rules and examples ----------------------------------------------


async def test_an_object_costs_one_and_its_scalars_and_enums_nothing(
    http: httpx.AsyncClient, app: ShopifySandbox
) -> None:
    order_id = gid("Order", next(iter(app.state.orders)))
    query = f'{{ order(id: "{order_id}") {{ id name createdAt displayFulfillmentStatus }} }}'
    cost = cost_of(await graphql(http, query))
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (1, 1)
    # The object is not there: nothing was returned, nothing is charged.
    missing = cost_of(await graphql(http, '{ order(id: "gid://shopify/Order/999999") { id } }'))
    assert (missing["requestedQueryCost"], missing["actualQueryCost"]) == (1, 0)


async def test_a_connection_costs_two_plus_its_objects(http: httpx.AsyncClient) -> None:
    # Shopify's engineering post: "two points plus the number of returned objects".
    query = "{ orders(first: 5) { edges { node { name displayFulfillmentStatus } } } }"
    assert cost_of(await graphql(http, query))["requestedQueryCost"] == 2 + 5
    # Nested connections multiply: each of the 10 orders holds a connection of 5 lines.
    nested = "{ orders(first: 10) { nodes { id lineItems(first: 5) { nodes { sku } } } } }"
    assert cost_of(await graphql(http, nested))["requestedQueryCost"] == 2 + 10 * (1 + 2 + 5)


async def test_a_mutation_costs_ten(http: httpx.AsyncClient) -> None:
    mutation = (
        "mutation { fulfillmentCreate(fulfillment: {lineItemsByFulfillmentOrder: []}) "
        "{ __typename } }"
    )
    cost = cost_of(await graphql(http, mutation))
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (10, 10)
    # What the payload selects is priced by the usual rules on top (the conservative reading).
    with_errors = mutation.replace("__typename", "userErrors { message }")
    assert cost_of(await graphql(http, with_errors))["requestedQueryCost"] == 10 + 1


async def test_an_interface_costs_its_dearest_possible_selection(
    http: httpx.AsyncClient,
) -> None:
    query = """
    query Two($ids: [ID!]!) {
      nodes(ids: $ids) {
        ... on Order { id lineItems(first: 5) { nodes { id } } }
        ... on Product { id title }
      }
    }"""
    ids = ["gid://shopify/Order/1", "gid://shopify/Product/1"]
    # Per id: 1 + max(Order: 2 + 5, Product: 0), not the sum of both fragments.
    assert cost_of(await graphql(http, query, {"ids": ids}))["requestedQueryCost"] == 2 * (1 + 7)


@pytest.mark.parametrize(("last_page", "refused"), [(242, False), (243, True)])
async def test_the_single_query_limit_is_1000_requested_points(
    http: httpx.AsyncClient, app: ShopifySandbox, last_page: int, refused: bool
) -> None:
    pages = [250, 250, 250, last_page]
    aliases = (
        f"p{i}: productVariants(first: {n}) {{ nodes {{ id }} }}" for i, n in enumerate(pages)
    )
    query = "{ " + " ".join(aliases) + " }"
    answer = await graphql(http, query)
    requested = sum(2 + n for n in pages)
    assert cost_of(answer)["requestedQueryCost"] == requested == (1001 if refused else 1000)
    if refused:
        assert answer["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
        assert answer["errors"][0]["message"] == (
            "Query cost is 1001, which exceeds the single query max cost limit (1000)."
        )
        assert "data" not in answer
    else:
        assert "errors" not in answer
    assert app.state.counters["max_cost_exceeded"] == (1 if refused else 0)


# -- (c) what the client's heuristic cannot see -----------------------------------------------


async def test_a_plain_list_taking_first_is_not_a_connection(
    http: httpx.AsyncClient, app: ShopifySandbox
) -> None:
    order_id = gid("Order", next(iter(app.state.orders)))
    query = f'{{ order(id: "{order_id}") {{ fulfillments(first: 10) {{ id }} }} }}'
    # The order (1) and up to 10 fulfillments (1 each); no connection's 2 points.
    assert cost_of(await graphql(http, query))["requestedQueryCost"] == 1 + 10
    assert requested_cost(query) == 1 + 2 + 10


async def test_a_connection_behind_an_alias_and_a_fragment(http: httpx.AsyncClient) -> None:
    query = """
    { recent: orders(first: 3) { ...Page } }
    fragment Page on OrderConnection { pageInfo { hasNextPage } items: nodes { id } }
    """
    assert cost_of(await graphql(http, query))["requestedQueryCost"] == 2 + 3


async def test_a_page_size_from_a_variable_default(http: httpx.AsyncClient) -> None:
    query = "query Recent($first: Int = 20) { orders(first: $first) { nodes { id } } }"
    assert cost_of(await graphql(http, query))["requestedQueryCost"] == 2 + 20
    sent = await graphql(http, query, {"first": 4})
    assert cost_of(sent)["requestedQueryCost"] == 2 + 4
    # The client once read an unsent variable as 0 and estimated 2 points here.
    assert requested_cost(query) == 2 + 20
    assert requested_cost(query, {"first": 4}) == 2 + 4


async def test_a_skipped_field_is_not_charged(http: httpx.AsyncClient) -> None:
    query = """
    query Maybe($skip: Boolean!) {
      orders(first: 50) @skip(if: $skip) { nodes { id } }
      location { id }
    }"""
    assert cost_of(await graphql(http, query, {"skip": True}))["requestedQueryCost"] == 1
    assert cost_of(await graphql(http, query, {"skip": False}))["requestedQueryCost"] == 53


async def test_typename_is_free_wherever_it_is_selected(http: httpx.AsyncClient) -> None:
    query = "{ __typename orders(first: 2) { __typename nodes { __typename id } } }"
    assert cost_of(await graphql(http, query))["requestedQueryCost"] == 2 + 2


async def test_variables_that_do_not_coerce_are_refused_before_any_charge(
    http: httpx.AsyncClient, app: ShopifySandbox
) -> None:
    query = "query Recent($first: Int!) { orders(first: $first) { nodes { id } } }"
    answer = await graphql(http, query, {"first": "many"})
    assert "Variable '$first'" in answer["errors"][0]["message"]
    assert app.state.bucket.available == app.state.bucket.maximum


# -- (d) actual cost and the refund ------------------------------------------------------------


async def test_a_short_page_is_refunded_to_the_bucket(
    http: httpx.AsyncClient, app: ShopifySandbox, virtual_clock: trio.testing.MockClock
) -> None:
    assert len(app.state.variants) == 40
    answer = await graphql(http, "{ productVariants(first: 100) { nodes { id } } }")
    cost = cost_of(answer)
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (2 + 100, 2 + 40)
    # 102 reserved, 60 refunded: the bucket is down by what the query really used.
    assert cost["throttleStatus"]["currentlyAvailable"] == 2000 - 42


async def test_the_client_sees_the_refunded_level(
    client: ShopifyClient,
    gate: RecordingGate,
    app: ShopifySandbox,
    virtual_clock: trio.testing.MockClock,
) -> None:
    page = await client.products_page(None, None)
    assert len(page.nodes) == min(queries.PRODUCTS_PAGE_SIZE, len(app.state.products))
    cost = client.last_cost
    assert cost is not None and cost.actual_query_cost is not None
    assert cost.requested_query_cost == gate.costs[0] == 954
    assert cost.actual_query_cost < cost.requested_query_cost
    (signal,) = gate.signals
    assert signal.remaining == app.state.bucket.available == 2000 - cost.actual_query_cost
