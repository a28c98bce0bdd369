"""Pure translations between ShipStation V1's wire types and the canonical model. No I/O.

Choices where ShipStation and the canonical model do not line up one to one:

- an order's origin is ``shipstation:<storeId>``: ShipStation imports orders from many stores
  (its selling channels) into one account, and ``advancedOptions.storeId`` is its own,
  permanent id of the store an order came from (a store renamed in ShipStation keeps it);
  an order without one cannot be attributed and is a ``RecordError``;
- ``store_order_id`` is ShipStation's ``orderId`` (unique in the account, what
  ``markasshipped`` takes); the store's own identity of the order travels in
  :func:`store_reference`, for recognising an order also read from the store directly;
- statuses: ``awaiting_payment`` is open and unpaid; ``awaiting_shipment`` open, paid and
  unfulfilled; ``on_hold``, ``pending_fulfillment`` (handed to another fulfillment service in
  ShipStation) and ``rejected_fulfillment`` are ``on_hold``, so the default import rules leave
  them alone; ``shipped`` is closed and fulfilled; ``cancelled`` is cancelled;
- lines: adjustment lines (discounts, fees) are not goods and are dropped; a line without
  SKU gets the fallback key ``<channel>:<lineItemKey>`` (the store's line key), else
  ``<channel>:item-<orderItemId>``;
- the recipient is ``shipTo``; ``street2`` and ``street3`` join as ``address2``; one lacking
  name, street, city or country gives ``recipient=None``;
- the shipping method is ``requestedShippingService`` (what the shopper chose in the store),
  notes are ``customerNotes``, the gift message is ``giftMessage``;
- a product is one item (V1 products have no variants): its SKU (a product without one, which
  V1 should not hold, gets ``<channel>:product-<productId>``), name, ``weightOz`` as ounces, UPC
  as barcode and thumbnail as image; no dimensions, since V1 gives them in the account's UI
  unit without saying which;
- a canonical carrier name maps to a ShipStation ``carrierCode`` by :data:`CARRIER_CODES`
  after lower-casing and dropping spaces and punctuation; an unknown one is ``other``.
"""

from __future__ import annotations

import re

import msgspec

from connectors.errors import RecordError
from connectors.model import (
    Address,
    FulfillmentStatus,
    Item,
    Order,
    OrderLine,
    OrderStatus,
    PaymentStatus,
    Weight,
    fallback_sku,
    origin,
)
from connectors.shipstation import pacific, wire

CARRIER_CODES = {
    "usps": "usps",
    "stampscom": "stamps_com",
    "ups": "ups",
    "fedex": "fedex",
    "dhl": "dhl_express",
    "dhlexpress": "dhl_express",
    "dhlecommerce": "dhl_global_mail",
    "dhlglobalmail": "dhl_global_mail",
    "canadapost": "canada_post",
    "royalmail": "royal_mail",
    "australiapost": "australia_post",
    "ontrac": "ontrac",
    "amazon": "amazon_shipping",
    "amazonshipping": "amazon_shipping",
    "asendia": "asendia",
    "apc": "apc",
    "lasership": "lasership",
}
OTHER_CARRIER = "other"
_NOT_ALNUM = re.compile(r"[^a-z0-9]")

_STATUS: dict[wire.OrderStatus, tuple[OrderStatus, FulfillmentStatus]] = {
    "awaiting_payment": ("open", "unfulfilled"),
    "awaiting_shipment": ("open", "unfulfilled"),
    "pending_fulfillment": ("open", "on_hold"),
    "on_hold": ("open", "on_hold"),
    "rejected_fulfillment": ("open", "on_hold"),
    "shipped": ("closed", "fulfilled"),
    "cancelled": ("cancelled", "unfulfilled"),
}


class StoreReference(msgspec.Struct, frozen=True):
    """How the store behind ShipStation knows an order: enough to recognise the same order
    read from the store directly (``order_number`` is what the store shows, ``order_key`` the
    key ShipStation imported it under, usually the store's own order id)."""

    store_id: int
    order_number: str
    order_key: str | None
    source: str | None


def origin_of_store(store_id: int) -> str:
    """The origin of the ShipStation store (selling channel) whose ``storeId`` is ``store_id``."""
    return origin("shipstation", str(store_id))


def carrier_code(carrier: str | None) -> str:
    """ShipStation's ``carrierCode`` for a canonical carrier name; ``other`` when unknown."""
    if not carrier:
        return OTHER_CARRIER
    return CARRIER_CODES.get(_NOT_ALNUM.sub("", carrier.lower()), OTHER_CARRIER)


def items_from_product(channel: str, product: wire.Product) -> list[Item]:
    """The catalog item of a ShipStation product (always one: V1 has no variants)."""
    weight = None
    if product.weight_oz is not None and product.weight_oz > 0:
        weight = Weight(value=product.weight_oz, unit="oz")
    return [
        Item(
            channel=channel,
            store_item_id=str(product.product_id),
            sku=product.sku or fallback_sku(channel, f"product-{product.product_id}"),
            name=product.name,
            weight=weight,
            barcode=product.upc or None,
            image_url=product.thumbnail_url or None,
            updated_at=pacific.aware(product.modify_date),
        )
    ]


def store_reference(order: wire.Order) -> StoreReference:
    """The store's identity of ``order``; ``RecordError`` when it names no store."""
    options = order.advanced_options
    if options is None or options.store_id is None:
        raise RecordError(
            f"order {order.order_id} names no store (advancedOptions.storeId)",
            entity=str(order.order_id),
            reason="schema",
        )
    return StoreReference(
        store_id=options.store_id,
        order_number=order.order_number,
        order_key=order.order_key,
        source=options.source,
    )


def line_sku(channel: str, item: wire.OrderItem) -> str:
    """The canonical SKU of a line: its own, else a fallback key from the line's ids."""
    if item.sku:
        return item.sku
    if item.line_item_key:
        return fallback_sku(channel, item.line_item_key)
    return fallback_sku(channel, f"item-{item.order_item_id}")


def _recipient(address: wire.Address | None, email: str | None) -> Address | None:
    if address is None:
        return None
    if not (address.name and address.street1 and address.city and address.country):
        return None
    extra = ", ".join(s for s in (address.street2, address.street3) if s)
    return Address(
        name=address.name,
        address1=address.street1,
        city=address.city,
        country=address.country.upper(),
        address2=extra or None,
        company=address.company or None,
        state=address.state or None,
        zip=address.postal_code or None,
        phone=address.phone or None,
        email=email or None,
    )


def order_from_wire(channel: str, order: wire.Order) -> Order:
    """The canonical order ``channel`` read from ShipStation; its origin is the order's own
    store (:func:`origin_of_store`); ``RecordError`` for an order that names no store."""
    reference = store_reference(order)
    status, fulfillment = _STATUS[order.order_status]
    payment: PaymentStatus = "paid"
    if order.order_status == "awaiting_payment" or (
        order.order_status == "cancelled" and order.payment_date is None
    ):
        payment = "pending"
    lines = [
        OrderLine(
            sku=line_sku(channel, item),
            quantity=item.quantity,
            name=item.name or item.sku or "",
            store_line_id=(
                str(item.order_item_id) if item.order_item_id is not None else item.line_item_key
            ),
            unit_price=item.unit_price,
        )
        for item in order.items
        if not item.adjustment and item.quantity > 0
    ]
    return Order(
        channel=channel,
        origin=origin_of_store(reference.store_id),
        store_order_id=str(order.order_id),
        reference_id=order.order_number,
        status=status,
        payment_status=payment,
        fulfillment_status=fulfillment,
        created_at=pacific.aware(order.order_date or order.create_date),
        updated_at=pacific.aware(order.modify_date),
        lines=lines,
        recipient=_recipient(order.ship_to, order.customer_email),
        shipping_method=order.requested_shipping_service or None,
        notes=order.customer_notes or None,
        gift_message=order.gift_message or None,
    )
