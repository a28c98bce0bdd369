"""The sandbox behaves as Wix documents: auth, rate limit, errors, paging, filters, rules."""

from __future__ import annotations

import json
from typing import Any

import httpx
import trio
import trio.testing

from connectors.wix.sandbox import WixSandbox
from tests.wix.conftest import BASE_URL, headers

PRODUCTS = f"{BASE_URL}/stores/v1/products/query"
SEARCH = f"{BASE_URL}/ecom/v1/orders/search"


async def post(http: httpx.AsyncClient, app: WixSandbox, url: str, body: Any) -> httpx.Response:
    return await http.post(url, json=body, headers=headers(app))


async def test_a_bad_key_is_401_and_a_missing_site_id_403_in_wix_shape(
    http: httpx.AsyncClient, app: WixSandbox
) -> None:
    bad = await http.post(
        PRODUCTS, json={}, headers={"Authorization": "nope", "wix-site-id": app.state.site_id}
    )
    assert bad.status_code == 401
    assert bad.json()["details"]["applicationError"]["code"] == "UNAUTHENTICATED"
    no_site = await http.post(PRODUCTS, json={}, headers={"Authorization": app.state.api_key})
    assert no_site.status_code == 403
    assert no_site.json()["details"]["applicationError"]["code"] == "PERMISSION_DENIED"
    # A bearer prefix is not Wix's API-key form.
    bearer = {"Authorization": f"Bearer {app.state.api_key}", "wix-site-id": app.state.site_id}
    assert (await http.post(PRODUCTS, json={}, headers=bearer)).status_code == 401


async def test_two_hundred_calls_a_minute_then_429_without_rate_headers(
    http: httpx.AsyncClient, app: WixSandbox, autojump_clock: trio.testing.MockClock
) -> None:
    body = {"query": {"paging": {"limit": 1}}}
    statuses = [(await post(http, app, PRODUCTS, body)).status_code for _ in range(201)]
    assert statuses[:200] == [200] * 200
    throttled = await post(http, app, PRODUCTS, body)
    assert throttled.status_code == 429
    assert throttled.json()["details"]["applicationError"]["code"] == "RESOURCE_EXHAUSTED"
    assert not {h for h in throttled.headers if "rate" in h or "retry" in h}
    await trio.sleep(60)
    assert (await post(http, app, PRODUCTS, body)).status_code == 200


async def test_v1_query_takes_json_strings_and_limits_paging(
    http: httpx.AsyncClient, app: WixSandbox
) -> None:
    as_object = await post(http, app, PRODUCTS, {"query": {"filter": {"sku": "x"}}})
    assert as_object.status_code == 400
    violation = as_object.json()["details"]["validationError"]["fieldViolations"][0]
    assert violation["field"] == "query.filter"
    too_big = await post(http, app, PRODUCTS, {"query": {"paging": {"limit": 101}}})
    assert too_big.status_code == 400
    past_10k = await post(
        http, app, PRODUCTS, {"query": {"paging": {"limit": 100, "offset": 9950}}}
    )
    assert past_10k.status_code == 400
    assert past_10k.json()["details"]["applicationError"]["code"] == "PAGING_LIMIT_EXCEEDED"
    unknown_field = await post(
        http, app, PRODUCTS, {"query": {"filter": json.dumps({"colour": "red"})}}
    )
    assert unknown_field.status_code == 400


async def test_v1_products_keyset_by_numeric_id_and_default_variant(
    http: httpx.AsyncClient, app: WixSandbox
) -> None:
    seen: list[int] = []
    after = 0
    while True:
        query = {
            "filter": json.dumps({"numericId": {"$gt": after}}),
            "sort": json.dumps([{"numericId": "asc"}]),
            "paging": {"limit": 100},
        }
        answer = (await post(http, app, PRODUCTS, {"query": query, "includeVariants": True})).json()
        ids = [int(p["numericId"]) for p in answer["products"]]
        if not ids:
            break
        seen += ids
        after = ids[-1]
        single = [p for p in answer["products"] if not p["manageVariants"]]
        assert all(
            [v["id"] for v in p["variants"]] == ["00000000-0000-0000-0000-000000000000"]
            for p in single
        )
    assert seen == sorted(p.numeric_id for p in app.state.products.values())
    without = (await post(http, app, PRODUCTS, {"query": {"paging": {"limit": 5}}})).json()
    assert all("variants" not in p for p in without["products"])
    assert without["totalResults"] == len(app.state.products)


async def test_search_never_returns_initialized_orders_but_get_does(
    http: httpx.AsyncClient, app: WixSandbox
) -> None:
    initialized = [o for o in app.state.orders.values() if o.status == "INITIALIZED"]
    assert initialized
    found = (await post(http, app, SEARCH, {"search": {}})).json()["orders"]
    assert initialized[0].id not in {o["id"] for o in found}
    # Default sort: createdDate descending.
    created = [o["createdDate"] for o in found]
    assert created == sorted(created, reverse=True)
    direct = await http.get(f"{BASE_URL}/ecom/v1/orders/{initialized[0].id}", headers=headers(app))
    assert direct.json()["order"]["status"] == "INITIALIZED"


async def test_search_filters_and_cursor_pages(http: httpx.AsyncClient, app: WixSandbox) -> None:
    for _ in range(5):
        sku = next(v.sku for p in app.state.products.values() for v in p.variants if v.sku)
        await http.post(f"{BASE_URL}/_sandbox/orders", json={"lines": [{"sku": sku}]})
    search: dict[str, Any] = {
        "filter": {"paymentStatus": "PAID", "fulfillmentStatus": {"$in": ["NOT_FULFILLED"]}},
        "sort": [{"fieldName": "updatedDate", "order": "ASC"}],
        "cursorPaging": {"limit": 2},
    }
    ids: list[str] = []
    while True:
        answer = (await post(http, app, SEARCH, {"search": search})).json()
        ids += [o["id"] for o in answer["orders"]]
        assert all(o["paymentStatus"] == "PAID" for o in answer["orders"])
        if not answer["metadata"]["hasNext"]:
            break
        search = {"cursorPaging": {"limit": 2, "cursor": answer["metadata"]["cursors"]["next"]}}
    expected = [
        o.id
        for o in sorted(app.state.orders.values(), key=lambda o: (o.updated, o.id))
        if o.status != "INITIALIZED"
        and o.payment_status == "PAID"
        and o.fulfillment_status == "NOT_FULFILLED"
    ]
    assert ids == expected
    mixed = {"cursorPaging": {"cursor": "abc"}, "filter": {"status": "APPROVED"}}
    assert (await post(http, app, SEARCH, {"search": mixed})).status_code == 400
    over = {"cursorPaging": {"limit": 101}}
    assert (await post(http, app, SEARCH, {"search": over})).status_code == 400


async def test_catalog_v3_calls_fail_on_a_v1_site(http: httpx.AsyncClient, app: WixSandbox) -> None:
    answer = await post(http, app, f"{BASE_URL}/stores/v3/products/query", {})
    assert answer.status_code == 428
    assert answer.json()["details"]["applicationError"]["code"].startswith("CATALOG_V1")


async def test_create_fulfillment_rules(http: httpx.AsyncClient, app: WixSandbox) -> None:
    product = next(p for p in app.state.products.values() if p.variants[0].sku)
    placed = await http.post(
        f"{BASE_URL}/_sandbox/orders",
        json={"lines": [{"sku": product.variants[0].sku, "quantity": 3}]},
    )
    order = placed.json()
    line = order["lineItems"][0]["id"]
    url = f"{BASE_URL}/ecom/v1/fulfillments/orders/{order['id']}/create-fulfillment"

    async def create(items: list[dict[str, Any]], tracking: dict[str, str]) -> httpx.Response:
        body = {"fulfillment": {"lineItems": items, "trackingInfo": tracking}}
        return await post(http, app, url, body)

    foreign = await create([{"id": "00000000-0000-0000-0000-000000000099", "quantity": 1}], {})
    assert foreign.status_code == 400
    first = await create(
        [{"id": line, "quantity": 2}], {"trackingNumber": "1", "shippingProvider": "fedex"}
    )
    assert first.status_code == 200
    made = first.json()["orderWithFulfillments"]["fulfillments"][0]
    assert made["trackingInfo"]["trackingLink"].endswith("trackingnumber=1")
    assert app.state.orders[order["id"]].fulfillment_status == "PARTIALLY_FULFILLED"
    too_many = await create([{"id": line, "quantity": 2}], {"trackingNumber": "2"})
    assert too_many.status_code == 400
    custom = {
        "trackingNumber": "2",
        "shippingProvider": "Local Couriers",
        "trackingLink": "https://t.example/2",
    }
    assert (await create([{"id": line, "quantity": 1}], custom)).status_code == 200
    assert app.state.orders[order["id"]].fulfillment_status == "FULFILLED"
    listed = await http.get(
        f"{BASE_URL}/ecom/v1/fulfillments/orders/{order['id']}", headers=headers(app)
    )
    assert len(listed.json()["orderWithFulfillments"]["fulfillments"]) == 2
    cancelled = next(o for o in app.state.orders.values() if o.status == "CANCELED")
    refused = await post(
        http,
        app,
        f"{BASE_URL}/ecom/v1/fulfillments/orders/{cancelled.id}/create-fulfillment",
        {"fulfillment": {"lineItems": [{"id": cancelled.lines[0].id, "quantity": 1}]}},
    )
    assert refused.status_code == 428


async def test_inventory_patch_sets_quantity_only_when_tracked(
    http: httpx.AsyncClient, app: WixSandbox
) -> None:
    tracked = next(p for p in app.state.products.values() if p.track_inventory)
    untracked = next(p for p in app.state.products.values() if not p.track_inventory)
    path = f"{BASE_URL}/stores/v2/inventoryItems/product"
    variant = tracked.variants[0].id
    ok = await http.patch(
        f"{path}/{tracked.id}",
        json={"inventoryItem": {"variants": [{"variantId": variant, "quantity": 7}]}},
        headers=headers(app),
    )
    assert ok.status_code == 200
    read = await http.post(f"{path}/{tracked.id}/getVariants", headers=headers(app))
    assert read.json()["inventoryItem"]["variants"][0]["quantity"] == 7
    refused = await http.patch(
        f"{path}/{untracked.id}",
        json={
            "inventoryItem": {"variants": [{"variantId": untracked.variants[0].id, "quantity": 7}]}
        },
        headers=headers(app),
    )
    assert refused.status_code == 400
    stocked = await http.patch(
        f"{path}/{untracked.id}",
        json={
            "inventoryItem": {
                "variants": [{"variantId": untracked.variants[0].id, "inStock": False}]
            }
        },
        headers=headers(app),
    )
    assert stocked.status_code == 200
    assert untracked.variants[0].quantity == 0


async def test_fault_knobs_are_checked(http: httpx.AsyncClient, app: WixSandbox) -> None:
    misspelt = await http.post(f"{BASE_URL}/_sandbox/faults", json={"eror_rate": 1})
    assert misspelt.status_code == 400
    assert misspelt.json()["unknown"] == "eror_rate"
    on = await http.post(f"{BASE_URL}/_sandbox/faults", json={"error_rate": 1.0})
    assert on.json()["error_rate"] == 1.0
    failing = await post(http, app, PRODUCTS, {})
    assert failing.status_code == 500
    assert failing.json()["details"]["applicationError"]["code"] == "INTERNAL"
