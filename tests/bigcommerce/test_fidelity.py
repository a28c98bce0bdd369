"""Fidelity: the sandbox behaves as BigCommerce documents (raw HTTP, no client in between)."""

from __future__ import annotations

import email.utils

import httpx
import pytest
import trio

from connectors.bigcommerce.sandbox import SandboxApp
from tests.bigcommerce.conftest import API, BASE_URL, HEADERS, open_order


async def test_v3_envelope_pagination_links_and_the_413(
    http: httpx.AsyncClient, app: SandboxApp
) -> None:
    response = await http.get(f"{API}/v3/catalog/products", params={"limit": "7"}, headers=HEADERS)
    body = response.json()
    pagination = body["meta"]["pagination"]
    assert pagination["per_page"] == 7 and pagination["current_page"] == 1
    assert pagination["total"] == len(app.state.products)
    assert pagination["links"]["next"] == "?limit=7&page=2"
    seen = [p["id"] for p in body["data"]]
    while "next" in pagination["links"]:
        response = await http.get(
            f"{API}/v3/catalog/products{pagination['links']['next']}", headers=HEADERS
        )
        pagination = response.json()["meta"]["pagination"]
        seen += [p["id"] for p in response.json()["data"]]
    assert seen == sorted(app.state.products)
    too_big = await http.get(f"{API}/v3/catalog/products", params={"limit": "251"}, headers=HEADERS)
    assert too_big.status_code == 413 and too_big.json()["status"] == 413
    capped = await http.get(
        f"{API}/v3/catalog/products", params={"include": "options", "limit": "50"}, headers=HEADERS
    )
    assert capped.json()["meta"]["pagination"]["per_page"] == 10


async def test_products_filters(http: httpx.AsyncClient, app: SandboxApp) -> None:
    product = next(
        p for p in app.state.products.values() if any(v.option_values for v in p.variants)
    )
    variant_sku = product.variants[1].sku or product.variants[0].sku
    by_variant_sku = await http.get(
        f"{API}/v3/catalog/products", params={"sku:in": variant_sku}, headers=HEADERS
    )
    assert by_variant_sku.json()["data"] == []  # sku:in matches the base SKU only
    by_base = await http.get(
        f"{API}/v3/catalog/products", params={"sku": product.sku}, headers=HEADERS
    )
    assert [p["id"] for p in by_base.json()["data"]] == [product.id]
    fields = await http.get(
        f"{API}/v3/catalog/products",
        params={"id:in": str(product.id), "include_fields": "inventory_tracking"},
        headers=HEADERS,
    )
    assert fields.json()["data"] == [{"id": product.id, "inventory_tracking": "variant"}]


async def test_v2_lists_bare_arrays_rfc2822_and_204(
    http: httpx.AsyncClient, app: SandboxApp
) -> None:
    response = await http.get(f"{API}/v2/orders", params={"status_id": "11"}, headers=HEADERS)
    orders = response.json()
    assert isinstance(orders, list) and orders
    parsed = email.utils.parsedate_to_datetime(orders[0]["date_modified"])
    assert parsed.tzinfo is not None
    assert orders[0]["products"]["resource"] == f"/orders/{orders[0]['id']}/products"
    empty = await http.get(f"{API}/v2/orders", params={"status_id": "14"}, headers=HEADERS)
    assert (empty.status_code, empty.content) == (204, b"")
    order = open_order(app)
    shipments = await http.get(f"{API}/v2/orders/{order.id}/shipments", headers=HEADERS)
    assert (shipments.status_code, shipments.content) == (204, b"")


async def test_v2_status_filter_takes_one_value_and_dates_in_both_formats(
    http: httpx.AsyncClient, app: SandboxApp
) -> None:
    several = await http.get(f"{API}/v2/orders", params={"status_id": "11,3"}, headers=HEADERS)
    assert several.status_code == 400
    assert several.json()[0]["status"] == 400 and "message" in several.json()[0]
    stamps = sorted({o.date_modified for o in app.state.orders.values()})
    pivot = stamps[3]
    for value in (email.utils.format_datetime(pivot), pivot.isoformat()):
        response = await http.get(
            f"{API}/v2/orders",
            params={"min_date_modified": value, "sort": "date_modified:asc", "limit": "250"},
            headers=HEADERS,
        )
        dates = [email.utils.parsedate_to_datetime(o["date_modified"]) for o in response.json()]
        assert dates == sorted(dates) and dates[0] == pivot  # inclusive


async def test_error_shapes(http: httpx.AsyncClient) -> None:
    v2 = await http.get(f"{API}/v2/orders/999999", headers=HEADERS)
    assert v2.status_code == 404
    assert v2.json() == [{"status": 404, "message": "The requested resource was not found."}]
    v3 = await http.get(f"{API}/v3/hooks/1", headers=HEADERS)
    assert v3.status_code == 404 and set(v3.json()) == {"status", "title", "type", "errors"}
    unauthorized = await http.get(f"{API}/v3/catalog/products")
    assert unauthorized.status_code == 401
    assert unauthorized.headers["content-type"].startswith("text/plain")
    v2_unauthorized = await http.get(f"{API}/v2/orders", headers={"X-Auth-Token": "nope"})
    assert v2_unauthorized.json()[0]["status"] == 401
    wrong_type = await http.put(
        f"{API}/v3/inventory/adjustments/absolute",
        content=b"items=1",
        headers=HEADERS | {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert wrong_type.status_code == 415
    other_store = await http.get(f"{BASE_URL}/stores/zzz/v3/catalog/products", headers=HEADERS)
    assert other_store.status_code == 404


async def test_fixed_window_of_150_with_its_headers_then_429(
    http: httpx.AsyncClient, app: SandboxApp, mock_clock: object
) -> None:
    url = f"{API}/v3/catalog/variants"
    for n in range(150):
        response = await http.get(url, params={"limit": "1"}, headers=HEADERS)
        assert response.status_code == 200
        assert response.headers["x-rate-limit-requests-left"] == str(149 - n)
        assert response.headers["x-rate-limit-requests-quota"] == "150"
        assert response.headers["x-rate-limit-time-window-ms"] == "30000"
    await trio.sleep(10)
    throttled = await http.get(url, headers=HEADERS)
    assert throttled.status_code == 429
    assert throttled.headers["x-rate-limit-requests-left"] == "0"
    assert throttled.headers["x-rate-limit-time-reset-ms"] == "20000"
    assert throttled.headers["x-retry-after"] == "20"
    await trio.sleep(20)
    again = await http.get(url, headers=HEADERS)
    assert again.status_code == 200 and again.headers["x-rate-limit-requests-left"] == "149"
    assert app.state.counters == {"requests": 152, "throttled": 1, "noop_writes": 0}


async def test_overload_429_has_no_rate_headers(http: httpx.AsyncClient) -> None:
    await http.post(f"{BASE_URL}/_sandbox/faults", json={"overload_burst": 1})
    response = await http.get(f"{API}/v2/orders", headers=HEADERS)
    assert response.status_code == 429
    assert "x-rate-limit-requests-left" not in response.headers
    assert (await http.get(f"{API}/v2/orders", headers=HEADERS)).status_code == 200


async def test_unknown_fault_knob_is_refused(http: httpx.AsyncClient) -> None:
    response = await http.post(f"{BASE_URL}/_sandbox/faults", json={"throttle_brust": 1})
    assert response.status_code == 400 and response.json()["unknown"] == "throttle_brust"


@pytest.mark.parametrize(
    ("item", "title"),
    [
        ({"location_id": 1, "quantity": 1}, "exactly one of"),
        ({"location_id": 1, "quantity": 1, "sku": "X", "variant_id": 1}, "exactly one of"),
        ({"location_id": 99, "quantity": 1, "sku": "X"}, "Location 99 does not exist"),
        ({"location_id": 1, "quantity": -1, "sku": "X"}, "Quantity must be"),
        ({"location_id": 1, "quantity": 2_147_483_648, "sku": "X"}, "Quantity must be"),
    ],
)
async def test_absolute_adjustment_checks(
    http: httpx.AsyncClient, item: dict[str, object], title: str
) -> None:
    response = await http.put(
        f"{API}/v3/inventory/adjustments/absolute",
        json={"reason": "t", "items": [item]},
        headers=HEADERS,
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert title in response.json()["title"]


async def test_absolute_adjustment_is_all_or_nothing_and_capped(
    http: httpx.AsyncClient, app: SandboxApp
) -> None:
    product, variant = next(
        (p, v) for p, v in app.state.variants() if p.inventory_tracking == "variant" and v.sku
    )
    before = app.state.level(product, variant)
    by_product = next(p for p in app.state.products.values() if p.inventory_tracking == "product")
    items = [
        {"location_id": 1, "quantity": before + 5, "sku": variant.sku},
        {"location_id": 1, "quantity": 3, "variant_id": by_product.variants[0].id},
    ]
    refused = await http.put(
        f"{API}/v3/inventory/adjustments/absolute", json={"items": items}, headers=HEADERS
    )
    assert refused.status_code == 422 and "tracked by product" in refused.json()["title"]
    assert app.state.level(product, variant) == before
    many = [{"location_id": 1, "quantity": 1, "sku": variant.sku}] * 2001
    capped = await http.put(
        f"{API}/v3/inventory/adjustments/absolute", json={"items": many}, headers=HEADERS
    )
    assert capped.status_code == 422 and "at most 2000" in capped.json()["title"]


async def test_shipments_move_the_order_and_follow_the_store_email_setting(
    http: httpx.AsyncClient, app: SandboxApp
) -> None:
    order = next(o for o in app.state.orders.values() if o.status_id == 11 and len(o.products) > 1)
    first, second = order.products[0], order.products[1]
    url = f"{API}/v2/orders/{order.id}/shipments"
    foreign = next(o for o in app.state.orders.values() if o.id != order.id).addresses[0].id
    wrong_address = await http.post(
        url,
        json={
            "order_address_id": foreign,
            "items": [{"order_product_id": first.id, "quantity": 1}],
        },
        headers=HEADERS,
    )
    assert (
        wrong_address.status_code == 400
        and "order_address_id" in wrong_address.json()[0]["message"]
    )
    body = {
        "order_address_id": first.order_address_id,
        "items": [{"order_product_id": first.id, "quantity": first.quantity}],
        "tracking_number": "9400100000000000000000",
        "shipping_provider": "usps",
    }
    created = await http.post(url, json=body, headers=HEADERS)
    assert created.status_code == 201
    assert created.json()["generated_tracking_link"].endswith("tLabels=9400100000000000000000")
    assert order.status_id == 3 and first.quantity_shipped == first.quantity
    assert [e.shipment_id for e in app.state.emails] == [created.json()["id"]]
    await http.post(f"{BASE_URL}/_sandbox/store", json={"shipment_emails": False})
    rest = [{"order_product_id": p.id, "quantity": p.quantity} for p in order.products[1:]]
    done = await http.post(
        url, json=body | {"items": rest, "tracking_number": "2"}, headers=HEADERS
    )
    assert done.status_code == 201 and order.status_id == 2
    assert second.quantity_shipped == second.quantity
    assert len(app.state.emails) == 1  # the store's setting, not the request, decides
    again = await http.post(url, json=body, headers=HEADERS)
    assert again.status_code == 400 and "available to ship" in again.json()[0]["message"]


async def test_hooks_api_validates_and_filters(http: httpx.AsyncClient) -> None:
    bad = await http.post(
        f"{API}/v3/hooks",
        json={"scope": "orders", "destination": "https://x.example:8443/h"},
        headers=HEADERS,
    )
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"scope", "destination"}
    for scope in ("store/order/*", "store/product/updated"):
        made = await http.post(
            f"{API}/v3/hooks",
            json={"scope": scope, "destination": "https://x.example/h", "headers": {"a": "b"}},
            headers=HEADERS,
        )
        assert made.status_code == 200 and made.json()["data"]["headers"] == {"a": "b"}
    listed = await http.get(f"{API}/v3/hooks", params={"scope": "store/order/*"}, headers=HEADERS)
    assert [h["scope"] for h in listed.json()["data"]] == ["store/order/*"]


async def test_an_absolute_adjustment_that_changes_nothing_is_counted(
    http: httpx.AsyncClient, app: SandboxApp
) -> None:
    product, variant = next(
        (p, v) for p, v in app.state.variants() if p.inventory_tracking == "variant" and v.sku
    )
    shown = app.state.shown(1, product, variant)

    async def adjust(quantity: int) -> None:
        item = {"location_id": 1, "sku": variant.sku, "quantity": quantity}
        answer = await http.put(
            f"{API}/v3/inventory/adjustments/absolute",
            json={"reason": "t", "items": [item]},
            headers=HEADERS,
        )
        assert answer.status_code == 200

    await adjust(shown + 1)
    assert app.state.counters["noop_writes"] == 0
    await adjust(shown + 1)
    assert app.state.counters["noop_writes"] == 1
