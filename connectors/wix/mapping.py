"""Pure translations between Wix's wire types and the canonical model. No I/O.

Choices where Wix and the canonical model do not line up one to one:

- A V1 variant id is not unique across products (every product without options has the
  variant ``00000000-0000-0000-0000-000000000000``, and option variants' ids are derived from
  their choices), so an item's ``store_item_id`` is the product id for a product's default
  variant and ``<product id>/<variant id>`` otherwise; a variant without SKU falls back to
  ``<channel>:<that id>``, and an order line without SKU reaches the same key through its
  ``catalogReference`` (``catalogItemId`` and ``options.variantId``), so both sides meet.
- V1 products carry no dimensions and no barcode; weights are in the site's unit (kilograms
  or pounds, a site setting the catalog does not repeat), given as ``weight_unit``.
- Order status: ``APPROVED`` is ``open``; ``INITIALIZED`` (checkout started) and ``PENDING``
  (awaiting approval) are ``draft``, never fulfilled; ``CANCELED`` and ``REJECTED`` are
  ``cancelled``.
- Payment: ``NOT_PAID``, ``PENDING``, ``PENDING_MERCHANT`` and ``UNSPECIFIED`` are
  ``pending``; ``FULLY_REFUNDED`` is ``refunded``; ``CANCELED`` and ``DECLINED`` are
  ``voided``.
- Lines whose ``physicalProperties.shippable`` is false (digital goods) are left out: nothing
  ships. The shipping destination is the recipient (``recipientInfo`` when the order has no
  shipping destination); one without a name, street, city or country gives ``recipient=None``.
  ``subdivision`` (``US-NY``) loses its country prefix.
- An order's lines are what is left to ship: a line's quantity less what the order's
  fulfillments (:attr:`~.wire.Order.fulfillments`, added by the connector) already took.
- Wix has no gift-message field: a custom field titled like "gift message" is taken as one.
- A site's origin is ``wix:<site id>``, the id Wix never changes for a site.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TypeVar

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
    WeightUnit,
    fallback_item_id,
    fallback_sku,
    origin,
    variant_name,
)
from connectors.wix import wire

STATUS: dict[str, OrderStatus] = {
    "APPROVED": "open",
    "CANCELED": "cancelled",
    "INITIALIZED": "draft",
    "PENDING": "draft",
    "REJECTED": "cancelled",
}
PAYMENT: dict[str, PaymentStatus] = {
    "CANCELED": "voided",
    "DECLINED": "voided",
    "FULLY_REFUNDED": "refunded",
    "NOT_PAID": "pending",
    "PAID": "paid",
    "PARTIALLY_PAID": "partially_paid",
    "PARTIALLY_REFUNDED": "partially_refunded",
    "PENDING": "pending",
    "PENDING_MERCHANT": "pending",
    "UNSPECIFIED": "pending",
}
FULFILLMENT: dict[str, FulfillmentStatus] = {
    "FULFILLED": "fulfilled",
    "NOT_FULFILLED": "unfulfilled",
    "PARTIALLY_FULFILLED": "partially_fulfilled",
}
T = TypeVar("T")

_GIFT_TITLES = {"gift message", "gift note", "giftmessage", "gift_message"}


def item_id(product_id: str, variant_id: str | None) -> str:
    """The ``store_item_id`` of a product's variant (see the module docstring)."""
    if variant_id is None or variant_id == wire.DEFAULT_VARIANT_ID:
        return product_id
    return f"{product_id}/{variant_id}"


def split_item_id(store_item_id: str) -> tuple[str, str]:
    """``(product id, variant id)`` of an :func:`item_id`."""
    product_id, _, variant_id = store_item_id.partition("/")
    return product_id, variant_id or wire.DEFAULT_VARIANT_ID


def fallback_target(channel: str, sku: str) -> tuple[str, str] | None:
    """``(product id, variant id)`` if ``sku`` is the fallback key of one of ``channel``'s
    variants, else None."""
    found = fallback_item_id(channel, sku)
    return split_item_id(found) if found else None


def variant_sku(channel: str, product: wire.Product, variant: wire.Variant) -> str:
    """The canonical SKU of a variant: its own, the product's for the default variant, else
    the fallback key."""
    own = variant.variant.sku
    if not own and variant.id == wire.DEFAULT_VARIANT_ID:
        own = product.sku
    return own or fallback_sku(channel, item_id(product.id, variant.id))


def store_variant_sku(channel: str, variant: wire.StoreVariant) -> str:
    """The canonical SKU of a Query Store Variants entry: the one :func:`variant_sku` gives
    the same variant read with its product."""
    return variant.sku or fallback_sku(channel, item_id(variant.product_id, variant.variant_id))


def product_variants(product: wire.Product) -> list[wire.Variant]:
    """The product's variants; a product read without any gets its default variant."""
    return product.variants or [
        wire.Variant(id=wire.DEFAULT_VARIANT_ID, variant=wire.VariantData(sku=product.sku))
    ]


def items_from_product(
    channel: str, product: wire.Product, *, weight_unit: WeightUnit = "kg"
) -> list[Item]:
    """One catalog item per variant: "Product - Blue / S", its SKU or the fallback key."""
    image = None
    if product.media and product.media.main_media and product.media.main_media.image:
        image = product.media.main_media.image.url
    items = []
    for variant in product_variants(product):
        options = [value for value in variant.choices.values() if value]
        weight_value = variant.variant.weight if variant.variant.weight else product.weight
        weight = None
        if weight_value:
            weight = Weight(value=Decimal(str(weight_value)), unit=weight_unit)
        items.append(
            Item(
                channel=channel,
                store_item_id=item_id(product.id, variant.id),
                sku=variant_sku(channel, product, variant),
                name=variant_name(product.name, options),
                options=options,
                weight=weight,
                image_url=image,
                updated_at=product.last_updated,
            )
        )
    return items


def line_sku(channel: str, order_id: str, line: wire.LineItem) -> str:
    """The canonical SKU of an order line: its own, else the fallback key of the catalog
    variant it refers to (the key :func:`items_from_product` gives that variant), else one of
    the line itself."""
    if line.physical_properties and line.physical_properties.sku:
        return line.physical_properties.sku
    reference = line.catalog_reference
    if reference is not None:
        options = reference.options or {}
        variant_id = options.get("variantId")
        variant = variant_id if isinstance(variant_id, str) else None
        return fallback_sku(channel, item_id(reference.catalog_item_id, variant))
    return fallback_sku(channel, f"{order_id}/{line.id}")


def origin_of_site(site_id: str) -> str:
    """The origin of the Wix site ``site_id`` (``settings.site_id``)."""
    return origin("wix", site_id.lower())


def _state(subdivision: str | None, country: str) -> str | None:
    if not subdivision:
        return None
    prefix = f"{country}-"
    return subdivision[len(prefix) :] if subdivision.startswith(prefix) else subdivision


def _recipient(destination: wire.Destination | None, email: str | None) -> Address | None:
    if destination is None or destination.address is None:
        return None
    address = destination.address
    contact = destination.contact_details or wire.ContactDetails()
    name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
    street = address.address_line
    if not street and address.street_address is not None:
        parts = (address.street_address.number, address.street_address.name)
        street = " ".join(part for part in parts if part)
    if not (name and street and address.city and address.country):
        return None
    return Address(
        name=name,
        address1=street,
        city=address.city,
        country=address.country,
        address2=address.address_line2 or None,
        company=contact.company or None,
        state=_state(address.subdivision, address.country),
        zip=address.postal_code or None,
        phone=contact.phone or None,
        email=email or None,
    )


def _gift_message(fields: list[wire.CustomField]) -> str | None:
    for field in fields:
        title = field.title.strip().lower().replace("-", " ")
        if title in _GIFT_TITLES and isinstance(field.value, str) and field.value:
            return field.value
    return None


def _enum(table: dict[str, T], value: str, what: str, order_id: str) -> T:
    """``table[value]``; a value Wix added since is a RecordError about this order alone."""
    try:
        return table[value]
    except KeyError:
        raise RecordError(
            f"order {order_id}: unknown {what} {value!r}", entity=order_id, reason="schema"
        ) from None


def order_from_wire(channel: str, store: str, order: wire.Order) -> Order:
    """The canonical order read by ``channel`` from the site whose origin is ``store``
    (:func:`origin_of_site`); RecordError(reason="schema") for a status it does not know."""
    fulfilled: dict[str, int] = {}
    for fulfillment in order.fulfillments:
        for item in fulfillment.line_items:
            fulfilled[item.id] = fulfilled.get(item.id, 0) + item.quantity
    lines = [
        OrderLine(
            sku=line_sku(channel, order.id, line),
            quantity=line.quantity - fulfilled.get(line.id, 0),
            name=line.product_name.original,
            store_line_id=line.id,
            unit_price=Decimal(line.price.amount) if line.price else None,
        )
        for line in order.line_items
        if line.quantity > fulfilled.get(line.id, 0)
        and (line.physical_properties is None or line.physical_properties.shippable)
    ]
    shipping = order.shipping_info
    destination = None
    if shipping and shipping.logistics:
        destination = shipping.logistics.shipping_destination
    email = order.buyer_info.email if order.buyer_info else None
    recipient = _recipient(destination, email) or _recipient(order.recipient_info, email)
    return Order(
        channel=channel,
        origin=store,
        store_order_id=order.id,
        reference_id=str(order.number),
        status=STATUS[order.status],
        payment_status=_enum(PAYMENT, order.payment_status, "paymentStatus", order.id),
        fulfillment_status=_enum(
            FULFILLMENT, order.fulfillment_status, "fulfillmentStatus", order.id
        ),
        created_at=order.created_date,
        updated_at=order.updated_date,
        lines=lines,
        recipient=recipient,
        shipping_method=(shipping.title or None) if shipping else None,
        notes=order.buyer_note or None,
        gift_message=_gift_message(order.custom_fields),
    )
