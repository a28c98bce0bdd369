"""Sandbox fidelity: V1's fixed-minute limit and headers, list envelopes and filters, Pacific
wall time, createorder's upsert and locks, fulfillments against shipments, error shapes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import trio
import trio.testing

from connectors.shipstation import pacific
from connectors.shipstation.sandbox import SandboxApp
from tests.shipstation.conftest import AUTH, NOW, STORE_ID


async def test_the_41st_call_in_a_minute_is_throttled_until_the_window_resets(
    http: httpx.AsyncClient, mock_clock: trio.testing.MockClock
) -> None:
    remaining = []
    for _ in range(40):
        response = await http.get("/stores", auth=AUTH)
        assert response.status_code == 200
        assert response.headers["X-Rate-Limit-Limit"] == "40"
        remaining.append(int(response.headers["X-Rate-Limit-Remaining"]))
        await trio.sleep(0.5)  # virtual time: 40 calls over 20 s
    assert remaining[0] == 39 and remaining[-1] == 0
    throttled = await http.get("/stores", auth=AUTH)
    assert throttled.status_code == 429
    assert throttled.json() == {"message": "Too Many Requests"}
    assert throttled.headers["X-Rate-Limit-Remaining"] == "0"
    reset = int(throttled.headers["X-Rate-Limit-Reset"])
    assert reset == 40  # the window opened at t=0 and it is now t=20
    await trio.sleep(reset - 1)
    assert (await http.get("/stores", auth=AUTH)).status_code == 429
    await trio.sleep(1)
    fresh = await http.get("/stores", auth=AUTH)
    assert fresh.status_code == 200
    assert fresh.headers["X-Rate-Limit-Remaining"] == "39"
    assert fresh.headers["X-Rate-Limit-Reset"] == "60"


async def test_bad_credentials_get_401_with_the_documented_message(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/orders", auth=httpx.BasicAuth("key", "nope"))
    assert (response.status_code, response.json()) == (401, {"message": "Invalid API credentials"})
    assert "X-Rate-Limit-Remaining" not in response.headers


async def test_order_lists_page_with_total_page_and_pages(
    http: httpx.AsyncClient, app: SandboxApp
) -> None:
    response = await http.get("/orders", params={"pageSize": "5", "page": "2"}, auth=AUTH)
    body = response.json()
    assert (body["total"], body["page"], body["pages"]) == (12, 2, 3)
    # Without sortBy, orders come by orderId.
    ids = [o["orderId"] for o in body["orders"]]
    assert ids == sorted(app.state.orders)[5:10]
    too_big = await http.get("/orders", params={"pageSize": "501"}, auth=AUTH)
    assert (too_big.status_code, too_big.json()) == (
        400,
        {"message": "pageSize must be between 1 and 500."},
    )
    empty = await http.get("/orders", params={"orderNumber": "none"}, auth=AUTH)
    assert empty.json() == {"orders": [], "total": 0, "page": 1, "pages": 0}


async def test_timestamps_are_pacific_wall_time_and_filters_read_as_pacific(
    http: httpx.AsyncClient, app: SandboxApp
) -> None:
    summer = app.state.place_order(at=datetime(2026, 7, 1, 19, 30, tzinfo=UTC), notify=False)
    winter = app.state.place_order(at=datetime(2026, 12, 1, 19, 30, tzinfo=UTC), notify=False)
    served = {o["orderId"]: o for o in (await http.get("/orders", auth=AUTH)).json()["orders"]}
    # Seven fractional digits, as .NET writes them; no offset.
    assert served[summer.order_id]["modifyDate"] == "2026-07-01T12:30:00.0000000"  # PDT, UTC-7
    assert served[winter.order_id]["modifyDate"] == "2026-12-01T11:30:00.0000000"  # PST, UTC-8
    # Inclusive at whole seconds: a start equal to the stamp returns it.
    since = await http.get(
        "/orders",
        params={"modifyDateStart": "2026-07-01 12:30:00", "sortBy": "ModifyDate"},
        auth=AUTH,
    )
    assert [o["orderId"] for o in since.json()["orders"]] == [summer.order_id, winter.order_id]
    bad = await http.get("/orders", params={"modifyDateStart": "yesterday"}, auth=AUTH)
    assert bad.status_code == 400
    assert bad.json()["message"] == "The value 'yesterday' is not valid for modifyDateStart."


async def test_order_filters_by_status_store_number_and_item(
    http: httpx.AsyncClient, app: SandboxApp
) -> None:
    async def ids(**params: str) -> set[int]:
        return {
            o["orderId"]
            for o in (await http.get("/orders", params=params, auth=AUTH)).json()["orders"]
        }

    orders = app.state.orders.values()
    assert await ids(orderStatus="on_hold") == {
        o.order_id for o in orders if o.order_status == "on_hold"
    }
    store = {
        o.order_id for o in orders if o.advanced_options and o.advanced_options.store_id == STORE_ID
    }
    assert await ids(storeId=str(STORE_ID)) == store
    some = next(iter(orders))
    assert some.order_id in await ids(orderNumber=some.order_number[:3])
    sku = next(i.sku for o in orders for i in o.items if i.sku)
    assert await ids(itemKeyword=sku) == {
        o.order_id for o in orders if any(i.sku == sku for i in o.items)
    }
    wrong = await http.get("/orders", params={"orderStatus": "lost"}, auth=AUTH)
    assert wrong.status_code == 400


async def test_createorder_upserts_by_order_key_and_locks_shipped_orders(
    http: httpx.AsyncClient, app: SandboxApp
) -> None:
    body = {
        "orderNumber": "API-1",
        "orderKey": "key-api-1",
        "orderDate": "2026-01-06 09:00:00",
        "orderStatus": "awaiting_shipment",
        "billTo": {"name": "Jo"},
        "shipTo": {"name": "Jo", "street1": "1 A St", "city": "Reno", "country": "US"},
        "items": [{"sku": "SS-0001", "quantity": 1}],
    }
    created = (await http.post("/orders/createorder", json=body, auth=AUTH)).json()
    updated = (
        await http.post("/orders/createorder", json=body | {"customerNotes": "ring"}, auth=AUTH)
    ).json()
    assert updated["orderId"] == created["orderId"]
    assert updated["customerNotes"] == "ring"
    # A full replace: what the second body leaves out is gone.
    replaced = (await http.post("/orders/createorder", json=body | {"items": []}, auth=AUTH)).json()
    assert replaced["items"] == [] and replaced["customerNotes"] is None
    shipped = await http.post(
        "/orders/markasshipped",
        json={"orderId": created["orderId"], "carrierCode": "ups"},
        auth=AUTH,
    )
    assert shipped.json() == {"orderId": created["orderId"], "orderNumber": "API-1"}
    locked = await http.post("/orders/createorder", json=body, auth=AUTH)
    assert locked.status_code == 400
    assert locked.json()["ExceptionMessage"] == "Order API-1 is shipped and cannot be updated."
    missing = await http.post("/orders/createorder", json={"orderNumber": "x"}, auth=AUTH)
    assert missing.status_code == 400 and "orderDate" in missing.json()["message"]


async def test_marked_orders_are_fulfillments_and_labels_are_shipments(
    http: httpx.AsyncClient, app: SandboxApp
) -> None:
    waiting = [
        o.order_id for o in app.state.orders.values() if o.order_status == "awaiting_shipment"
    ]
    marked, labeled = waiting[:2]
    answer = await http.post(
        "/orders/markasshipped",
        json={
            "orderId": marked,
            "carrierCode": "fedex",
            "trackingNumber": "FX1",
            "notifySalesChannel": True,
        },
        auth=AUTH,
    )
    assert answer.status_code == 200
    again = await http.post(
        "/orders/markasshipped", json={"orderId": marked, "carrierCode": "fedex"}, auth=AUTH
    )
    assert again.status_code == 400
    assert again.json()["ExceptionMessage"].endswith("is shipped and cannot be marked shipped.")
    assert (
        await http.post(f"/_sandbox/orders/{labeled}/label", json={"tracking_number": "L1"})
    ).status_code == 200
    fulfillments = (
        await http.get("/fulfillments", params={"orderId": str(marked)}, auth=AUTH)
    ).json()
    assert fulfillments["total"] == 1
    [fulfillment] = fulfillments["fulfillments"]
    assert (fulfillment["trackingNumber"], fulfillment["marketplaceNotified"]) == ("FX1", True)
    shipments = (await http.get("/shipments", auth=AUTH)).json()["shipments"]
    assert [s["orderId"] for s in shipments] == [labeled]
    assert shipments[0]["shipmentItems"] is None
    with_items = (
        await http.get("/shipments", params={"includeShipmentItems": "true"}, auth=AUTH)
    ).json()
    assert with_items["shipments"][0]["shipmentItems"]
    none = (await http.get("/fulfillments", params={"orderId": str(labeled)}, auth=AUTH)).json()
    assert none["fulfillments"] == []

    async def found(**params: str) -> list[int]:
        listing = await http.get("/fulfillments", params=params, auth=AUTH)
        return [f["orderId"] for f in listing.json()["fulfillments"]]

    created = pacific.filter_value(NOW)
    assert await found(fulfillmentId=str(fulfillment["fulfillmentId"])) == [marked]
    assert await found(trackingNumber="FX1", createDateStart=created) == [marked]
    assert await found(trackingNumber="nope") == []
    assert await found(createDateEnd=pacific.filter_value(NOW - timedelta(seconds=1))) == []
    order = (await http.get(f"/orders/{marked}", auth=AUTH)).json()
    assert (order["orderStatus"], order["shipDate"], order["carrierCode"]) == (
        "shipped",
        pacific.wall(NOW).date().isoformat(),
        "fedex",
    )


async def test_unknown_routes_and_orders_answer_in_aspnet_shape(http: httpx.AsyncClient) -> None:
    missing = await http.get("/orders/999", auth=AUTH)
    assert (missing.status_code, missing.json()["Message"]) == (404, "Order not found")
    nowhere = await http.get("/inventory", auth=AUTH)
    assert nowhere.status_code == 404
    assert nowhere.json()["Message"].startswith("No HTTP resource was found")


async def test_stores_list_and_fault_knobs_are_checked(http: httpx.AsyncClient) -> None:
    stores = (await http.get("/stores", auth=AUTH)).json()
    assert [s["storeId"] for s in stores] == [2001, 2002]
    unknown = await http.post("/_sandbox/faults", json={"throttle_bursts": 1})
    assert unknown.status_code == 400
    knob = await http.post("/_sandbox/faults", json={"throttle_burst": 1})
    assert knob.json()["throttle_burst"] == 1
    throttled = await http.get("/stores", auth=AUTH)
    assert throttled.status_code == 429 and throttled.headers["X-Rate-Limit-Reset"] == "1"


async def test_a_shopper_order_is_imported_into_its_store(
    http: httpx.AsyncClient, app: SandboxApp
) -> None:
    placed = await http.post(
        "/_sandbox/orders",
        json={
            "store_id": STORE_ID,
            "lines": [{"sku": "SS-0002", "quantity": 2}],
            "gift_message": "Hi",
        },
    )
    assert placed.status_code == 201
    [order] = placed.json()
    assert order["items"][0]["sku"] == "SS-0002" and order["items"][0]["quantity"] == 2
    assert (order["giftMessage"], order["gift"]) == ("Hi", True)
    assert order["advancedOptions"]["storeId"] == STORE_ID
    later = NOW + timedelta(minutes=5)
    app.state.now = lambda: later
    cancelled = await http.post(
        f"/_sandbox/orders/{order['orderId']}/status", json={"status": "cancelled"}
    )
    assert cancelled.json()["orderStatus"] == "cancelled"
    assert cancelled.json()["modifyDate"] == pacific.wall(later).isoformat() + ".0000000"


async def test_products_list_filters_and_pages(http: httpx.AsyncClient, app: SandboxApp) -> None:
    catalog = app.state.catalog
    listing = (await http.get("/products", params={"pageSize": "10"}, auth=AUTH)).json()
    assert (listing["total"], listing["pages"]) == (len(catalog.products), 3)
    sku = next(iter(catalog.products.values())).sku
    [one] = (await http.get("/products", params={"sku": sku}, auth=AUTH)).json()["products"]
    assert one["sku"] == sku and one["modifyDate"] == one["createDate"]
    # Items sold without SKU are no products: V1 keys its catalog by SKU.
    assert len(catalog.products) == sum(1 for i in catalog.items if i.sku) < len(catalog.items)
    sized = [p for p in catalog.products.values() if p.name.endswith(" - M")]
    assert sized, "some products come in sizes"
    hidden = sized[0].product_id
    catalog.edit(hidden, {"active": False}, NOW)
    active = (await http.get("/products", params={"pageSize": "500"}, auth=AUTH)).json()
    assert hidden not in {p["productId"] for p in active["products"]}
    everything = await http.get(
        "/products", params={"pageSize": "500", "showInactive": "true"}, auth=AUTH
    )
    assert hidden in {p["productId"] for p in everything.json()["products"]}
    by_tag = (await http.get("/products", params={"tagId": "7"}, auth=AUTH)).json()
    assert by_tag["products"] == []
    edited = await http.post(f"/_sandbox/products/{hidden}", json={"name": "Renamed"})
    assert edited.json()["name"] == "Renamed"
    assert (await http.get(f"/products/{hidden}", auth=AUTH)).json()["name"] == "Renamed"


async def test_holds_restores_and_deletes_move_orders_between_lists(
    http: httpx.AsyncClient, app: SandboxApp
) -> None:
    waiting = next(o for o in app.state.orders.values() if o.order_status == "awaiting_shipment")
    held = await http.post(
        "/orders/holduntil",
        json={"orderId": waiting.order_id, "holdUntilDate": "2026-02-01"},
        auth=AUTH,
    )
    assert held.json() == {"success": True, "message": "Order held successfully."}
    assert app.state.orders[waiting.order_id].order_status == "on_hold"
    again = await http.post(
        "/orders/restorefromhold", json={"orderId": waiting.order_id}, auth=AUTH
    )
    assert again.status_code == 200
    assert app.state.orders[waiting.order_id].order_status == "awaiting_shipment"
    not_held = await http.post(
        "/orders/restorefromhold", json={"orderId": waiting.order_id}, auth=AUTH
    )
    assert not_held.status_code == 400
    deleted = await http.delete(f"/orders/{waiting.order_id}", auth=AUTH)
    assert deleted.json()["success"] is True
    assert (await http.get(f"/orders/{waiting.order_id}", auth=AUTH)).status_code == 404
