"""Pure translations between Shopify's wire types and the canonical model. No I/O.

Choices where Shopify and the canonical model do not line up one to one:

- each variant is one :class:`Item`; its SKU falls back to ``<channel>:<variant GID>`` when
  Shopify's is empty, and an order line without SKU falls back to the same key through the
  line's variant, so both sides meet;
- ``EXPIRED`` (an authorization that lapsed) maps to ``voided``: nothing was or will be paid;
- fulfillment: ``OPEN``/``PENDING_FULFILLMENT``/``REQUEST_DECLINED`` are ``unfulfilled``
  (nothing shipped yet), ``IN_PROGRESS`` is ``partially_fulfilled``, ``SCHEDULED`` and
  ``ON_HOLD`` are ``on_hold``, ``RESTOCKED`` is ``fulfilled`` (nothing left to ship);
- an order line's quantity is ``currentQuantity`` (refunded and removed units excluded);
  lines with nothing left (``currentQuantity`` 0) are dropped;
- the gift message is the custom attribute (note attribute) named like "gift message";
- a shipping address lacking name, street, city or country gives ``recipient=None``;
- a shop's origin is ``shopify:<myshopify domain>``, lower-cased: Shopify never changes a
  shop's myshopify domain (a custom domain is another thing), and a domain's case means
  nothing, so rewriting it in the config does not make the shop another store.
"""

from __future__ import annotations

from decimal import Decimal

from connectors.errors import RecordError
from connectors.model import (
    Address,
    FulfillmentStatus,
    Item,
    Order,
    OrderLine,
    PaymentStatus,
    Weight,
    WeightUnit,
    fallback_item_id,
    fallback_sku,
    origin,
    variant_name,
)
from connectors.shopify import wire

VARIANT_GID = "gid://shopify/ProductVariant/"

WEIGHT_UNITS: dict[str, WeightUnit] = {
    "GRAMS": "g",
    "KILOGRAMS": "kg",
    "OUNCES": "oz",
    "POUNDS": "lb",
}
PAYMENT: dict[str, PaymentStatus] = {
    "AUTHORIZED": "authorized",
    "EXPIRED": "voided",
    "PAID": "paid",
    "PARTIALLY_PAID": "partially_paid",
    "PARTIALLY_REFUNDED": "partially_refunded",
    "PENDING": "pending",
    "REFUNDED": "refunded",
    "VOIDED": "voided",
}
FULFILLMENT: dict[str, FulfillmentStatus] = {
    "FULFILLED": "fulfilled",
    "IN_PROGRESS": "partially_fulfilled",
    "ON_HOLD": "on_hold",
    "OPEN": "unfulfilled",
    "PARTIALLY_FULFILLED": "partially_fulfilled",
    "PENDING_FULFILLMENT": "unfulfilled",
    "REQUEST_DECLINED": "unfulfilled",
    "RESTOCKED": "fulfilled",
    "SCHEDULED": "on_hold",
    "UNFULFILLED": "unfulfilled",
}
_GIFT_KEYS = {"gift_message", "gift_note", "giftmessage"}


def items_from_product(channel: str, product: wire.Product) -> list[Item]:
    """One catalog item per variant: "Product - Blue / S", its SKU or the fallback key."""
    image = None
    if product.featured_media and product.featured_media.preview:
        preview_image = product.featured_media.preview.image
        image = preview_image.url if preview_image else None
    return [_item(channel, product, variant, image) for variant in product.variants.nodes]


def _item(channel: str, product: wire.Product, variant: wire.Variant, image: str | None) -> Item:
    options = [o.value for o in variant.selected_options if o.value != "Default Title"]
    weight = None
    if variant.inventory_item.measurement.weight is not None:
        w = variant.inventory_item.measurement.weight
        weight = Weight(value=Decimal(w.value), unit=WEIGHT_UNITS[w.unit])
    return Item(
        channel=channel,
        store_item_id=variant.id,
        sku=variant.sku or fallback_sku(channel, variant.id),
        name=variant_name(product.title, options),
        options=options,
        weight=weight,
        barcode=variant.barcode or None,
        image_url=image,
        updated_at=max(variant.updated_at, product.updated_at),
    )


def _recipient(address: wire.MailingAddress | None) -> Address | None:
    if address is None:
        return None
    name = address.name or " ".join(p for p in (address.first_name, address.last_name) if p)
    if not (name and address.address1 and address.city and address.country_code_v2):
        return None
    return Address(
        name=name,
        address1=address.address1,
        city=address.city,
        country=address.country_code_v2,
        address2=address.address2 or None,
        company=address.company or None,
        state=address.province_code or None,
        zip=address.zip or None,
        phone=address.phone or None,
    )


def _gift_message(attributes: list[wire.Attribute]) -> str | None:
    for attribute in attributes:
        key = attribute.key.strip().lower().replace(" ", "_").replace("-", "_")
        if key in _GIFT_KEYS and attribute.value:
            return attribute.value
    return None


def fallback_variant_id(channel: str, sku: str) -> str | None:
    """The variant GID inside ``sku`` if it is the fallback key of one of ``channel``'s
    variants (see :func:`items_from_product`), else None."""
    item_id = fallback_item_id(channel, sku)
    return item_id if item_id and item_id.startswith(VARIANT_GID) else None


def line_sku(channel: str, sku: str | None, variant: wire.IdRef | None, line_id: str) -> str:
    """The canonical SKU of an order line: its own, else the fallback key of its variant (the
    key :func:`items_from_product` gives that variant's item), else one of the line itself."""
    return sku or fallback_sku(channel, variant.id if variant else line_id)


def origin_of_shop(shop: str) -> str:
    """The origin of the shop whose myshopify domain (``settings.shop``) is ``shop``."""
    return origin("shopify", shop.lower())


def order_from_wire(channel: str, store: str, node: wire.OrderNode) -> Order:
    """The canonical order read by ``channel`` from the shop whose origin is ``store``
    (:func:`origin_of_shop`, the channel's ``origin``); RecordError(reason="too_many_lines")
    past 50 lines (one page)."""
    if node.line_items.page_info.has_next_page:
        raise RecordError(
            f"order {node.name} has more line items than one page holds",
            entity=node.id,
            reason="too_many_lines",
        )
    # What is left to ship: a partially fulfilled order's shipped units, like refunded or
    # removed ones, must not reach the warehouse again.
    lines = [
        OrderLine(
            sku=line_sku(channel, line.sku, line.variant, line.id),
            quantity=left,
            name=line.title,
            store_line_id=line.id,
        )
        for line in node.line_items.nodes
        if (left := min(line.current_quantity, line.unfulfilled_quantity)) > 0
    ]
    return Order(
        channel=channel,
        origin=store,
        store_order_id=node.id,
        reference_id=node.name,
        status="cancelled" if node.cancelled_at is not None else "open",
        payment_status=PAYMENT[node.display_financial_status or "PENDING"],
        fulfillment_status=FULFILLMENT[node.display_fulfillment_status],
        created_at=node.created_at,
        updated_at=node.updated_at,
        lines=lines,
        recipient=_recipient(node.shipping_address),
        shipping_method=node.shipping_line.title if node.shipping_line else None,
        notes=node.note or None,
        gift_message=_gift_message(node.custom_attributes),
        test=node.test,
    )
