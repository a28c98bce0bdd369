"""The sandbox's v2 shipments: BigCommerce's checks, and what a shipment changes.

Creating one checks that the address belongs to the order, that every line is the order's
and goes to that address, that no line ships more than it has left, and that
``shipping_provider`` is one of BigCommerce's (or ``carrier_<id>``); errors are v2 arrays.
It then moves ``quantity_shipped`` and the status (11/9 → 3 Partially Shipped → 2 Shipped),
builds ``generated_tracking_link`` from the provider (or the AfterShip carrier) and the number,
sends the shipment email when the store's setting says so (no request can ask otherwise),
and fires ``store/shipment/created`` and the order's callbacks.
"""

from __future__ import annotations

from typing import Any

from connectors.bigcommerce.sandbox_orders import (
    money,
    render_address,
    render_order,
    rfc2822,
    v2_error,
)
from connectors.bigcommerce.sandbox_state import Email, Order, Reply, Shipment, StoreState

PROVIDERS = (
    "auspost",
    "canadapost",
    "endicia",
    "usps",
    "fedex",
    "ups",
    "upsready",
    "upsonline",
    "shipperhq",
    "royalmail",
    "",
)
TRACKING_URLS = {
    "auspost": "https://auspost.com.au/mypost/track/#/details/{}",
    "canadapost": "https://www.canadapost-postescanada.ca/track-reperage/en#/details/{}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={}",
    "royalmail": "https://www.royalmail.com/track-your-item#/tracking-results/{}",
    "ups": "https://www.ups.com/track?tracknum={}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
}


def render_shipment(order: Order, shipment: Shipment) -> dict[str, Any]:
    address = next(a for a in order.addresses if a.id == shipment.order_address_id)
    shipped_to = render_address(order, address)
    for key in ("id", "order_id", "items_total", "items_shipped", "shipping_method"):
        shipped_to.pop(key)
    shipped_to.pop("shipping_zone_name")
    shipped_to.pop("form_fields")
    billing = render_order(order)["billing_address"]
    billing.pop("form_fields")
    return {
        "id": shipment.id,
        "order_id": shipment.order_id,
        "customer_id": order.customer_id,
        "order_address_id": shipment.order_address_id,
        "date_created": rfc2822(shipment.date_created),
        "tracking_number": shipment.tracking_number,
        "merchant_shipping_cost": money(0),
        "shipping_method": shipment.shipping_method,
        "shipping_provider": shipment.shipping_provider,
        "shipping_provider_display_name": shipment.shipping_provider.upper(),
        "tracking_carrier": shipment.tracking_carrier,
        "tracking_link": shipment.tracking_link,
        "generated_tracking_link": shipment.generated_tracking_link,
        "comments": shipment.comments,
        "billing_address": billing,
        "shipping_address": shipped_to,
        "items": shipment.items,
    }


def create_shipment(state: StoreState, order: Order, body: Any) -> Reply:
    """``POST /v2/orders/{id}/shipments`` with BigCommerce's checks."""
    if not isinstance(body, dict):
        return v2_error(400, "The request body is not valid JSON.")
    address = next((a for a in order.addresses if a.id == body.get("order_address_id")), None)
    items = body.get("items")
    if address is None:
        return v2_error(400, "The field 'order_address_id' is invalid.")
    address_id = address.id
    if not isinstance(items, list) or not items:
        return v2_error(400, "The field 'items' is invalid.")
    provider = body.get("shipping_provider", "")
    if not isinstance(provider, str) or not (
        provider in PROVIDERS or provider.startswith("carrier_")
    ):
        return v2_error(400, "The field 'shipping_provider' is invalid.")
    wanted: list[tuple[int, int]] = []
    lines = {p.id: p for p in order.products}
    for item in items:
        line_id = item.get("order_product_id") if isinstance(item, dict) else None
        line = lines.get(line_id) if isinstance(line_id, int) else None
        quantity = item.get("quantity") if isinstance(item, dict) else None
        if line is None or line.order_address_id != address_id:
            return v2_error(400, "The field 'order_product_id' is invalid.")
        if not isinstance(quantity, int) or quantity < 1:
            return v2_error(400, "The field 'quantity' is invalid.")
        if quantity > line.quantity - line.quantity_shipped:
            return v2_error(
                400,
                "The quantity specified is greater than the quantity of the product "
                f"{line.id} that is available to ship.",
            )
        wanted.append((line.id, quantity))
    shipment = ship(
        state,
        order,
        address_id,
        wanted,
        tracking_number=str(body.get("tracking_number", "")),
        provider=provider,
        carrier=str(body.get("tracking_carrier", "")),
        link=str(body.get("tracking_link", "")),
        comments=str(body.get("comments", "")),
    )
    return 201, render_shipment(order, shipment)


def ship(
    state: StoreState,
    order: Order,
    address_id: int,
    items: list[tuple[int, int]],
    *,
    tracking_number: str = "",
    provider: str = "",
    carrier: str = "",
    link: str = "",
    comments: str = "",
    quiet: bool = False,
) -> Shipment:
    """Record a checked shipment: quantities, status, tracking link, email, webhooks."""
    lines = {p.id: p for p in order.products}
    for line_id, quantity in items:
        lines[line_id].quantity_shipped += quantity
    generated = ""
    if provider in TRACKING_URLS and tracking_number:
        generated = TRACKING_URLS[provider].format(tracking_number)
    elif carrier and tracking_number:
        generated = f"https://track.aftership.com/{carrier}/{tracking_number}"
    address = next(a for a in order.addresses if a.id == address_id)
    shipment = Shipment(
        id=state.next_id("shipment", 10),
        order_id=order.id,
        order_address_id=address_id,
        date_created=state.now(),
        tracking_number=tracking_number,
        shipping_provider=provider,
        tracking_carrier=carrier,
        tracking_link=link,
        generated_tracking_link=generated,
        comments=comments,
        shipping_method=address.shipping_method,
        items=[
            {"order_product_id": i, "product_id": lines[i].product_id, "quantity": q}
            for i, q in items
        ],
    )
    order.shipments.append(shipment)
    order.date_shipped = shipment.date_created
    if state.shipment_emails and not quiet:
        state.emails.append(Email("shipment", order.id, address.email, shipment.id))
    status = 2 if order.items_shipped >= order.items_total else 3
    if quiet:
        order.status_id = status
        return shipment
    state.notify(
        "store/shipment/created", {"type": "shipment", "id": shipment.id, "orderId": order.id}
    )
    state.set_status(order, status)
    return shipment
