"""The sandbox's v2 orders: placing (shopper hook), listing, serving and shipping them.

Served shapes follow BigCommerce's ``orders.v2`` description: bare arrays and objects,
RFC-2822 dates, money as strings, ``products``/``shipping_addresses`` as resource links.
Listing takes ONE ``status_id``; ``min_date_modified``/``max_date_modified`` accept RFC-2822
or ISO-8601 and are inclusive (compared to the second); ``limit`` above 250 is served as 250
(v2's maximum is not documented). Shipments: :mod:`.sandbox_shipments`.
"""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from typing import Any

import msgspec

from connectors.bigcommerce.sandbox_state import (
    STATUS_NAMES,
    STORE_HASH,
    Address,
    Order,
    OrderProduct,
    Reply,
    StoreState,
)

API = f"https://api.bigcommerce.com/stores/{STORE_HASH}/v2"
SORTABLE = ("id", "customer_id", "date_created", "date_modified", "status_id", "channel_id")


class Line(msgspec.Struct, forbid_unknown_fields=True):
    """A line of a shopper's order: a variant by id or SKU."""

    quantity: int = 1
    variant_id: int | None = None
    sku: str | None = None
    wrapping_message: str = ""


class PlaceOrder(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /_sandbox/orders``: what a shopper checks out with."""

    lines: list[Line]
    status_id: int = 11
    payment_status: str = "paid"
    customer_message: str = ""
    first_name: str = "Jane"
    last_name: str = "Doe"
    street_1: str = "100 Main St"
    city: str = "Austin"
    state: str = "Texas"
    zip: str = "78751"
    country_iso2: str = "US"
    email: str = "jane@example.com"
    shipping_method: str = "Free Shipping"


def v2_error(status: int, message: str) -> Reply:
    return status, [{"status": status, "message": message}]


NOT_FOUND = v2_error(404, "The requested resource was not found.")


def place_order(state: StoreState, request: PlaceOrder, *, quiet: bool = False) -> Order:
    """Create the order (stock goes down as BigCommerce's does on checkout); ``ValueError``
    naming a line that matches no variant. ``quiet`` sends no webhooks (seeding)."""
    order_id = state.next_id("order", 100)
    address_id = state.next_id("address", 10)
    now = state.now()
    products = []
    for line in request.lines:
        found = (
            state.find_variant(line.variant_id)
            if line.variant_id is not None
            else state.find_sku(line.sku or "")
        )
        if found is None:
            raise ValueError(f"no variant {line.variant_id or line.sku!r}")
        product, variant = found
        options = [
            {
                "id": state.next_id("order_option", 1),
                "option_id": o["option_id"],
                "product_option_id": o["option_id"],
                "display_name": o["option_display_name"],
                "display_value": o["label"],
                "value": str(o["id"]),
                "type": "Multiple choice",
                "name": o["option_display_name"],
            }
            for o in variant.option_values
        ]
        products.append(
            OrderProduct(
                id=state.next_id("order_product", 1000),
                order_id=order_id,
                product_id=product.id,
                variant_id=variant.id,
                order_address_id=address_id,
                name=product.name,
                sku=variant.sku,
                quantity=line.quantity,
                price=variant.price,
                product_options=options,
                wrapping_name="Gift wrap" if line.wrapping_message else None,
                wrapping_message=line.wrapping_message,
            )
        )
        key = (1, (product.variants[0] if product.inventory_tracking == "product" else variant).id)
        if product.inventory_tracking != "none" and key in state.stock:
            state.stock[key] -= line.quantity
    address = Address(
        id=address_id,
        order_id=order_id,
        first_name=request.first_name,
        last_name=request.last_name,
        street_1=request.street_1,
        city=request.city,
        state=request.state,
        zip=request.zip,
        country="United States" if request.country_iso2 == "US" else request.country_iso2,
        country_iso2=request.country_iso2,
        email=request.email,
        shipping_method=request.shipping_method,
    )
    order = Order(
        id=order_id,
        customer_id=state.next_id("customer", 1),
        status_id=request.status_id,
        payment_status=request.payment_status,
        date_created=now,
        date_modified=now,
        customer_message=request.customer_message,
        products=products,
        addresses=[address],
    )
    state.orders[order_id] = order
    if not quiet:
        state.notify("store/order/created", {"type": "order", "id": order_id})
        state.notify(
            "store/order/statusUpdated",
            {
                "type": "order",
                "id": order_id,
                "status": {"previous_status_id": 0, "new_status_id": request.status_id},
            },
        )
    return order


def rfc2822(moment: datetime | None) -> str:
    return email.utils.format_datetime(moment.astimezone(UTC)) if moment else ""


def parse_date(value: str) -> datetime:
    """A v2 date filter: RFC-2822 or ISO-8601 (a date alone is midnight UTC)."""
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def money(value: float) -> str:
    return f"{value:.4f}"


def render_order(order: Order) -> dict[str, Any]:
    subtotal = sum(p.price * p.quantity for p in order.products)
    billing = order.addresses[0]
    return {
        "id": order.id,
        "customer_id": order.customer_id,
        "date_created": rfc2822(order.date_created),
        "date_modified": rfc2822(order.date_modified),
        "date_shipped": rfc2822(order.date_shipped),
        "status_id": order.status_id,
        "status": STATUS_NAMES[order.status_id],
        "custom_status": STATUS_NAMES[order.status_id],
        "subtotal_ex_tax": money(subtotal),
        "subtotal_inc_tax": money(subtotal),
        "subtotal_tax": money(0),
        "base_shipping_cost": money(0),
        "shipping_cost_ex_tax": money(0),
        "shipping_cost_inc_tax": money(0),
        "total_ex_tax": money(subtotal),
        "total_inc_tax": money(subtotal),
        "total_tax": money(0),
        "items_total": order.items_total,
        "items_shipped": order.items_shipped,
        "payment_method": "Credit Card",
        "payment_status": order.payment_status,
        "refunded_amount": money(0),
        "order_is_digital": False,
        "currency_code": "USD",
        "shipping_address_count": len(order.addresses),
        "is_deleted": order.is_deleted,
        "customer_message": order.customer_message,
        "staff_notes": "",
        "channel_id": 1,
        "external_source": None,
        "external_id": None,
        "billing_address": {
            "first_name": billing.first_name,
            "last_name": billing.last_name,
            "company": billing.company,
            "street_1": billing.street_1,
            "street_2": billing.street_2,
            "city": billing.city,
            "state": billing.state,
            "zip": billing.zip,
            "country": billing.country,
            "country_iso2": billing.country_iso2,
            "phone": billing.phone,
            "email": billing.email,
            "form_fields": [],
        },
        "products": {
            "url": f"{API}/orders/{order.id}/products",
            "resource": f"/orders/{order.id}/products",
        },
        "shipping_addresses": {
            "url": f"{API}/orders/{order.id}/shipping_addresses",
            "resource": f"/orders/{order.id}/shipping_addresses",
        },
        "coupons": {
            "url": f"{API}/orders/{order.id}/coupons",
            "resource": f"/orders/{order.id}/coupons",
        },
    }


def render_product(line: OrderProduct) -> dict[str, Any]:
    price = money(line.price)
    return {
        "id": line.id,
        "order_id": line.order_id,
        "product_id": line.product_id,
        "variant_id": line.variant_id,
        "order_address_id": line.order_address_id,
        "name": line.name,
        "sku": line.sku,
        "type": line.type,
        "base_price": price,
        "price_ex_tax": price,
        "price_inc_tax": price,
        "quantity": line.quantity,
        "quantity_shipped": line.quantity_shipped,
        "quantity_refunded": line.quantity_refunded,
        "is_refunded": line.quantity_refunded > 0,
        "wrapping_name": line.wrapping_name,
        "wrapping_message": line.wrapping_message,
        "wrapping_cost_inc_tax": money(0),
        "product_options": line.product_options,
        "applied_discounts": [],
        "configurable_fields": [],
    }


def render_address(order: Order, address: Address) -> dict[str, Any]:
    lines = [p for p in order.products if p.order_address_id == address.id]
    return {
        "id": address.id,
        "order_id": address.order_id,
        "first_name": address.first_name,
        "last_name": address.last_name,
        "company": address.company,
        "street_1": address.street_1,
        "street_2": address.street_2,
        "city": address.city,
        "state": address.state,
        "zip": address.zip,
        "country": address.country,
        "country_iso2": address.country_iso2,
        "phone": address.phone,
        "email": address.email,
        "items_total": sum(p.quantity for p in lines),
        "items_shipped": sum(p.quantity_shipped for p in lines),
        "shipping_method": address.shipping_method,
        "shipping_zone_name": "United States",
        "form_fields": [],
    }


def list_orders(state: StoreState, query: dict[str, str]) -> Reply:
    """``GET /v2/orders``: filtered, sorted, one page; an empty page is 204."""
    try:
        status = int(query["status_id"]) if "status_id" in query else None
        low = parse_date(query["min_date_modified"]) if "min_date_modified" in query else None
        high = parse_date(query["max_date_modified"]) if "max_date_modified" in query else None
        min_id, max_id = int(query.get("min_id", "0")), int(query.get("max_id", str(2**31)))
        page, limit = int(query.get("page", "1")), min(int(query.get("limit", "50")), 250)
    except ValueError as exc:
        return v2_error(400, f"The filter is invalid: {exc}")
    field, _, direction = query.get("sort", "id:asc").partition(":")
    if field not in SORTABLE or direction not in ("", "asc", "desc") or page < 1 or limit < 1:
        return v2_error(400, "The sort or paging parameters are invalid.")
    orders = [
        o
        for o in state.orders.values()
        if (status is None or o.status_id == status)
        and (low is None or o.date_modified.replace(microsecond=0) >= low)
        and (high is None or o.date_modified.replace(microsecond=0) <= high)
        and min_id <= o.id <= max_id
        and not o.is_deleted
    ]
    orders.sort(key=lambda o: (getattr(o, field, 1), o.id), reverse=direction == "desc")
    chunk = orders[(page - 1) * limit : page * limit]
    return (200, [render_order(o) for o in chunk]) if chunk else (204, None)


def page_of(items: list[dict[str, Any]], query: dict[str, str]) -> Reply:
    """One page of a v2 sub-resource list; an empty page is 204."""
    try:
        page, limit = int(query.get("page", "1")), min(int(query.get("limit", "50")), 250)
    except ValueError:
        return v2_error(400, "page and limit must be numbers.")
    chunk = items[(page - 1) * limit : page * limit]
    return (200, chunk) if chunk else (204, None)
