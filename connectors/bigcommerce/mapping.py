"""Pure translations between BigCommerce's wire types and the canonical model. No I/O.

Choices where BigCommerce and the canonical model do not line up one to one:

- each variant is one :class:`Item`. A product without options has one variant, its base
  variant, and is the item: its store id is the product id, and so is its fallback key
  ``<channel>:<product id>`` when it has no SKU. A variant of a product with options is
  ``<product id>/<variant id>`` (fallback ``<channel>:<product id>/<variant id>``). An order
  line without SKU meets the same key: a line without chosen options is its product, one with
  options is its variant. (A product without variant options but with modifiers, sold
  without SKU, is the one case that misses: its line lists the modifier values as options.)
- a variant's null weight or dimension means the product's applies; weights and lengths are
  in the store's units (its settings, not the payload), given by the channel's settings;
  a weight or dimension of 0 is BigCommerce's "not set" and maps to None;
- statuses: 0 Incomplete → ``draft``; 4 Refunded, 5 Cancelled, 6 Declined → ``cancelled``
  (nothing is left to ship); 2 Shipped, 10 Completed → ``closed``; the rest → ``open``.
  Fulfillment: 2/10 → ``fulfilled``, 3 → ``partially_fulfilled``, 12 Manual Verification
  Required and 13 Disputed → ``on_hold``, the rest → ``unfulfilled``;
- lines: the quantity is what is left to ship, ``quantity - quantity_shipped -
  quantity_refunded``, so a partially shipped order imports only the rest; lines with nothing
  left and lines that do not ship (digital products, gift certificates) are dropped;
- the gift message is the shipped lines' ``wrapping_message`` (BigCommerce has no order-level
  one), distinct ones in line order joined by a blank line; the notes are ``customer_message``;
- the store order number is the order id (BigCommerce shows no other); an order shipping to
  several addresses is a ``RecordError`` (``several_addresses``): one fulfillment order has
  one recipient, and sending every line to the first address would be wrong;
- the store's origin is ``bigcommerce:<store hash>``, its permanent id ("Permanent ID of the
  BigCommerce store" in BigCommerce's API descriptions), lower-cased.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TypeVar

import msgspec

from connectors import model
from connectors.bigcommerce import wire
from connectors.errors import RecordError

T = TypeVar("T")

PAYMENT: dict[str, model.PaymentStatus] = {
    "": "pending",
    "authorized": "authorized",
    "captured": "paid",
    "capture pending": "pending",
    "declined": "voided",
    "held for review": "pending",
    "paid": "paid",
    "partially refunded": "partially_refunded",
    "pending": "pending",
    "refunded": "refunded",
    "void": "voided",
    "void pending": "voided",
}
CANCELLED_STATUSES = frozenset({4, 5, 6})
SHIPPED_STATUSES = frozenset({2, 10})
ON_HOLD_STATUSES = frozenset({12, 13})
PARTIALLY_SHIPPED = 3
INCOMPLETE = 0

PROVIDERS = {
    "auspost": "auspost",
    "australia post": "auspost",
    "canada post": "canadapost",
    "canadapost": "canadapost",
    "endicia": "endicia",
    "fedex": "fedex",
    "royal mail": "royalmail",
    "royalmail": "royalmail",
    "ups": "ups",
    "usps": "usps",
}
"""Canonical carrier name (lower-cased) → BigCommerce's ``shipping_provider`` enum."""
TRACKING_CARRIERS = {
    "dhl": "dhl",
    "dhl express": "dhl",
    "dhl ecommerce": "dhl-global-mail",
    "lasership": "lasership",
    "ontrac": "ontrac",
}
"""Carriers BigCommerce has no provider for → the AfterShip slug ``tracking_carrier`` takes."""


def origin_of_store(store_hash: str) -> str:
    return model.origin("bigcommerce", store_hash.lower())


def item_id(product_id: int, variant: wire.Variant) -> str:
    """The store item id of a variant (see the module docstring)."""
    return str(product_id) if not variant.option_values else f"{product_id}/{variant.id}"


def parse_item_id(store_item_id: str) -> tuple[int, int | None] | None:
    """``(product id, variant id or None)`` of a store item id; None for another string."""
    product, _, variant = store_item_id.partition("/")
    if not product.isdigit() or (variant and not variant.isdigit()):
        return None
    return int(product), int(variant) if variant else None


def _positive(value: float | None) -> Decimal | None:
    return Decimal(str(value)) if value else None


def items_from_product(
    channel: str,
    product: wire.Product,
    *,
    weight_unit: model.WeightUnit = "lb",
    length_unit: model.LengthUnit = "in",
) -> list[model.Item]:
    """One catalog item per variant, in the store's units."""
    images = sorted(product.images, key=lambda i: (not i.is_thumbnail, i.sort_order))
    image = next((i.url_standard for i in images if i.url_standard), None)
    items = []
    for variant in product.variants:
        store_item_id = item_id(product.id, variant)
        options = [o.label for o in variant.option_values]
        weight = _positive(variant.weight if variant.weight is not None else product.weight)
        sides = [
            _positive(own if own is not None else base)
            for own, base in (
                (variant.depth, product.depth),
                (variant.width, product.width),
                (variant.height, product.height),
            )
        ]
        length, width, height = sides
        dimensions = None
        if length is not None and width is not None and height is not None:
            dimensions = model.Dimensions(
                length=length, width=width, height=height, unit=length_unit
            )
        items.append(
            model.Item(
                channel=channel,
                store_item_id=store_item_id,
                sku=variant.sku or model.fallback_sku(channel, store_item_id),
                name=model.variant_name(product.name, options),
                options=options,
                weight=model.Weight(value=weight, unit=weight_unit) if weight else None,
                dimensions=dimensions,
                barcode=variant.upc or product.upc or product.gtin or None,
                image_url=image,
                updated_at=product.date_modified,
            )
        )
    return items


def _left(line: wire.OrderProduct) -> int:
    """Units of the line still to ship: neither shipped nor refunded."""
    return line.quantity - line.quantity_shipped - line.quantity_refunded


def line_sku(channel: str, line: wire.OrderProduct) -> str:
    """The canonical SKU of an order line: its own, else its item's fallback key."""
    if line.sku:
        return line.sku
    if line.product_options and line.variant_id is not None:
        return model.fallback_sku(channel, f"{line.product_id}/{line.variant_id}")
    return model.fallback_sku(channel, str(line.product_id))


def _recipient(address: wire.ShippingAddress) -> model.Address | None:
    name = " ".join(p for p in (address.first_name, address.last_name) if p)
    if not (name and address.street_1 and address.city and address.country_iso2):
        return None
    return model.Address(
        name=name,
        address1=address.street_1,
        city=address.city,
        country=address.country_iso2,
        address2=address.street_2 or None,
        company=address.company or None,
        state=address.state or None,
        zip=address.zip or None,
        phone=address.phone or None,
        email=address.email or None,
    )


def _status(status_id: int) -> model.OrderStatus:
    if status_id == INCOMPLETE:
        return "draft"
    if status_id in CANCELLED_STATUSES:
        return "cancelled"
    if status_id in SHIPPED_STATUSES:
        return "closed"
    return "open"


def _fulfillment(status_id: int) -> model.FulfillmentStatus:
    if status_id in SHIPPED_STATUSES:
        return "fulfilled"
    if status_id == PARTIALLY_SHIPPED:
        return "partially_fulfilled"
    if status_id in ON_HOLD_STATUSES:
        return "on_hold"
    return "unfulfilled"


def decode_order_record(
    body: bytes,
) -> tuple[wire.Order, list[wire.OrderProduct], list[wire.ShippingAddress]]:
    """An ``orders`` record's body (:class:`~.wire.OrderBundle`) decoded strictly; a part that
    does not decode is a ``RecordError(reason="schema")`` naming the part and the field."""
    try:
        bundle = msgspec.json.decode(body, type=wire.OrderBundle)
        order = msgspec.json.decode(bundle.order, type=wire.Order, dec_hook=wire.DEC_HOOK)
    except msgspec.DecodeError as exc:
        raise RecordError(f"order: {exc}", entity="order", reason="schema") from None
    products = _part(order.id, "products", bundle.products, list[wire.OrderProduct])
    addresses = _part(
        order.id, "shipping_addresses", bundle.shipping_addresses, list[wire.ShippingAddress]
    )
    return order, products, addresses


def _part(order_id: int, name: str, raw: msgspec.Raw, type_: type[T]) -> T:
    try:
        return msgspec.json.decode(raw, type=type_, dec_hook=wire.DEC_HOOK)
    except msgspec.DecodeError as exc:
        raise RecordError(
            f"order {order_id} {name}: {exc}", entity=str(order_id), reason="schema"
        ) from None


def order_from_wire(
    channel: str,
    store_hash: str,
    order: wire.Order,
    products: list[wire.OrderProduct],
    addresses: list[wire.ShippingAddress],
) -> model.Order:
    """The canonical order read by ``channel`` from the store ``store_hash``.

    ``RecordError`` for a payment status BigCommerce does not document (``schema``) or an
    order shipping to several addresses (``several_addresses``).
    """
    if len(addresses) > 1:
        raise RecordError(
            f"order {order.id} ships to {len(addresses)} addresses; one fulfillment order "
            "has one recipient",
            entity=str(order.id),
            reason="several_addresses",
        )
    payment = PAYMENT.get(order.payment_status)
    if payment is None:
        raise RecordError(
            f"order {order.id}: unknown payment_status {order.payment_status!r}",
            entity=str(order.id),
            reason="schema",
        )
    shipping = [p for p in products if p.type == "physical" and _left(p) > 0]
    lines = [
        model.OrderLine(
            sku=line_sku(channel, line),
            quantity=_left(line),
            name=line.name,
            store_line_id=str(line.id),
        )
        for line in shipping
    ]
    # Only the parcels' own lines: a message on a digital line travels in no box.
    messages = dict.fromkeys(m for m in (p.wrapping_message.strip() for p in shipping) if m)
    address = addresses[0] if addresses else None
    return model.Order(
        channel=channel,
        origin=origin_of_store(store_hash),
        store_order_id=str(order.id),
        reference_id=str(order.id),
        status=_status(order.status_id),
        payment_status=payment,
        fulfillment_status=_fulfillment(order.status_id),
        created_at=wire.plain_time(order.date_created),
        updated_at=wire.plain_time(order.date_modified),
        lines=lines,
        recipient=_recipient(address) if address else None,
        shipping_method=(address.shipping_method or None) if address else None,
        notes=order.customer_message.strip() or None,
        gift_message="\n\n".join(messages) or None,
    )


def order_from_record(channel: str, store_hash: str, body: bytes) -> model.Order:
    """The canonical order in an ``orders`` record's body (:func:`decode_order_record`, then
    :func:`order_from_wire`); ``RecordError`` as those say."""
    return order_from_wire(channel, store_hash, *decode_order_record(body))


def carrier_fields(carrier: str | None) -> tuple[str, str]:
    """``(shipping_provider, tracking_carrier)`` for a canonical carrier name: BigCommerce's
    provider where it has one, else an AfterShip slug where one is known, else ``("", "")``
    (the tracking link then carries the way to the parcel)."""
    name = (carrier or "").strip().lower()
    return PROVIDERS.get(name, ""), TRACKING_CARRIERS.get(name, "")
