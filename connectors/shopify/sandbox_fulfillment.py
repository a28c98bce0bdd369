"""The sandbox's ``fulfillmentCreate`` and the REST-shaped bodies its webhooks carry."""

from __future__ import annotations

from typing import Any

from connectors.shopify.sandbox_state import (
    Fulfillment,
    Order,
    Product,
    ShopState,
    gid,
    gid_number,
    iso,
)

Emit = Any


def _errors(*errors: tuple[list[str], str]) -> dict[str, Any]:
    return {"fulfillment": None, "userErrors": [{"field": f, "message": m} for f, m in errors]}


def create_fulfillment(state: ShopState, data: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Create one Fulfillment from ``lineItemsByFulfillmentOrder``, or answer userErrors.

    Checks (platform-apis.md): every fulfillment order exists and is open, all belong to one
    order and one location, each quantity is between 1 and ``remainingQuantity``; omitted line
    items mean "everything remaining". Nothing changes when any check fails.
    """
    groups = data["lineItemsByFulfillmentOrder"]
    if not groups:
        return _errors(
            (
                ["fulfillment", "lineItemsByFulfillmentOrder"],
                "At least one fulfillment order is required.",
            )
        )
    plan: list[tuple[Any, int]] = []
    orders: set[int] = set()
    locations: set[int] = set()
    for index, group in enumerate(groups):
        path = ["fulfillment", "lineItemsByFulfillmentOrder", str(index)]
        fo = state.fulfillment_orders.get(
            gid_number(group["fulfillmentOrderId"], "FulfillmentOrder") or -1
        )
        if fo is None:
            return _errors(([*path, "fulfillmentOrderId"], "Fulfillment order does not exist."))
        if fo.status not in ("OPEN", "IN_PROGRESS"):
            return _errors(
                (
                    [*path, "fulfillmentOrderId"],
                    f"Fulfillment order {gid('FulfillmentOrder', fo.id)} has an unfulfillable "
                    f"status= {fo.status.lower()}.",
                )
            )
        orders.add(fo.order_id)
        locations.add(fo.location_id)
        wanted = group.get("fulfillmentOrderLineItems")
        if wanted is None:
            plan.extend((line, line.remaining) for line in fo.lines if line.remaining > 0)
            continue
        for position, item in enumerate(wanted):
            line_id = gid_number(item["id"], "FulfillmentOrderLineItem")
            line = next((x for x in fo.lines if x.id == line_id), None)
            item_path = [*path, "fulfillmentOrderLineItems", str(position)]
            if line is None:
                return _errors(([*item_path, "id"], "Fulfillment order line item does not exist."))
            if not 0 < item["quantity"] <= line.remaining:
                return _errors(
                    (
                        [*item_path, "quantity"],
                        "Invalid fulfillment order line item quantity requested.",
                    )
                )
            plan.append((line, item["quantity"]))
    if len(orders) > 1:
        return _errors((["fulfillment"], "All fulfillment orders must belong to the same order."))
    if len(locations) > 1:
        return _errors(
            (["fulfillment"], "All fulfillment orders must be assigned to the same location.")
        )
    if not plan:
        return _errors((["fulfillment"], "There are no line items left to fulfill."))
    now = state.now()
    order = state.orders[orders.pop()]
    for line, quantity in plan:
        line.remaining -= quantity
    for fo_id in order.fulfillment_order_ids:
        state.fulfillment_orders[fo_id].updated_at = now
    state.refresh_fulfillment_status(order)
    order.updated_at = now
    tracking_in = data.get("trackingInfo") or {}
    number = sum(1 for f in state.fulfillments.values() if f.order_id == order.id) + 1
    fulfillment = Fulfillment(
        id=state.next_id("Fulfillment"),
        order_id=order.id,
        name=f"{order.name}-F{number}",
        created_at=now,
        tracking={k: tracking_in.get(k) for k in ("company", "number", "url")},
        notify_customer=bool(data.get("notifyCustomer")),
        lines=[(line.id, quantity) for line, quantity in plan],
    )
    state.fulfillments[fulfillment.id] = fulfillment
    emit("fulfillments/create", fulfillment_body(fulfillment))
    emit("orders/updated", order_body(state, order))
    topic = "orders/fulfilled" if order.fulfillment == "FULFILLED" else "orders/partially_fulfilled"
    emit(topic, order_body(state, order))
    return {"fulfillment": fulfillment_node(fulfillment), "userErrors": []}


def fulfillment_node(f: Fulfillment) -> dict[str, Any]:
    tracking = [f.tracking] if any(f.tracking.values()) else []
    return {
        "id": gid("Fulfillment", f.id),
        "name": f.name,
        "status": "SUCCESS",
        "createdAt": iso(f.created_at),
        "updatedAt": iso(f.created_at),
        "trackingInfo": lambda info, first=None: tracking[:first] if first else tracking,
    }


def fulfillment_body(f: Fulfillment) -> dict[str, Any]:
    return {
        "id": f.id,
        "admin_graphql_api_id": gid("Fulfillment", f.id),
        "order_id": f.order_id,
        "name": f.name,
        "status": "success",
        "created_at": iso(f.created_at),
        "updated_at": iso(f.created_at),
        "tracking_company": f.tracking.get("company"),
        "tracking_number": f.tracking.get("number"),
        "tracking_url": f.tracking.get("url"),
        "notify_customer": f.notify_customer,
    }


_REST_FULFILLMENT = {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial"}


def order_body(state: ShopState, order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "admin_graphql_api_id": gid("Order", order.id),
        "name": order.name,
        "created_at": iso(order.created_at),
        "updated_at": iso(order.updated_at),
        "cancelled_at": iso(order.cancelled_at),
        "financial_status": order.financial.lower(),
        "fulfillment_status": _REST_FULFILLMENT.get(order.fulfillment),
        "test": order.test,
        "note": order.note,
        "line_items": [
            {"id": i.id, "sku": i.sku, "quantity": i.quantity, "title": i.title}
            for i in order.lines
        ],
    }


def product_body(state: ShopState, product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "admin_graphql_api_id": gid("Product", product.id),
        "title": product.title,
        "status": product.status.lower(),
        "created_at": iso(product.created_at),
        "updated_at": iso(product.updated_at),
        "variants": [
            {
                "id": v.id,
                "admin_graphql_api_id": gid("ProductVariant", v.id),
                "sku": v.sku,
                "barcode": v.barcode,
                "inventory_item_id": v.inventory_item_id,
                "updated_at": iso(v.updated_at),
            }
            for v in (state.variants[i] for i in product.variant_ids)
        ],
    }
