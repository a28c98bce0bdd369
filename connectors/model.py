"""The canonical model: items, orders, inventory levels and shipments as no platform spells them.

Each platform package maps its own wire types to and from these Structs; nothing outside
``connectors/<platform>/`` knows a platform's field names. Quantities are integers, money is a
decimal string (never a float), times are timezone-aware.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Literal

import msgspec

WeightUnit = Literal["g", "kg", "oz", "lb"]
LengthUnit = Literal["cm", "in"]

_GRAMS_PER = {
    "g": Decimal(1),
    "kg": Decimal(1000),
    "oz": Decimal("28.349523125"),
    "lb": Decimal("453.59237"),
}
_CM_PER = {"cm": Decimal(1), "in": Decimal("2.54")}
_PLATFORM = re.compile(r"[a-z][a-z0-9_-]*")


class Weight(msgspec.Struct, frozen=True):
    value: Decimal
    unit: WeightUnit

    def to(self, unit: WeightUnit) -> Weight:
        return Weight(value=self.value * _GRAMS_PER[self.unit] / _GRAMS_PER[unit], unit=unit)


class Dimensions(msgspec.Struct, frozen=True):
    length: Decimal
    width: Decimal
    height: Decimal
    unit: LengthUnit

    def to(self, unit: LengthUnit) -> Dimensions:
        factor = _CM_PER[self.unit] / _CM_PER[unit]
        return Dimensions(
            length=self.length * factor,
            width=self.width * factor,
            height=self.height * factor,
            unit=unit,
        )


class BundleComponent(msgspec.Struct, frozen=True):
    sku: str
    quantity: int


class Item(msgspec.Struct, frozen=True):
    """One sellable variant: what a fulfillment catalog calls a product."""

    channel: str
    store_item_id: str
    """The platform's id of the variant (or of the product, for products without variants)."""
    sku: str
    """The matching key; where the platform has none, ``<channel>:<store_item_id>``."""
    name: str
    """Product name with the variant's option values appended: "Shirt - Blue / S"."""
    options: list[str] = msgspec.field(default_factory=list)
    weight: Weight | None = None
    dimensions: Dimensions | None = None
    barcode: str | None = None
    image_url: str | None = None
    components: list[BundleComponent] = msgspec.field(default_factory=list)
    updated_at: datetime | None = None


def variant_name(product_name: str, option_values: list[str]) -> str:
    """The catalog name of a variant: the product name, then its option values."""
    meaningful = [v for v in option_values if v and v != "Default Title"]
    return f"{product_name} - {' / '.join(meaningful)}" if meaningful else product_name


def fallback_sku(channel: str, store_item_id: str) -> str:
    """The key of an item that has no SKU of its own, namespaced by channel."""
    return f"{channel}:{store_item_id}"


def fallback_item_id(channel: str, sku: str) -> str | None:
    """The store item id inside ``sku`` if it is ``channel``'s :func:`fallback_sku`, else None."""
    prefix = f"{channel}:"
    return sku[len(prefix) :] if sku.startswith(prefix) and len(sku) > len(prefix) else None


def origin(platform: str, store_id: str) -> str:
    """A store's permanent identity, ``"<platform>:<store id>"``: ``shopify:example.myshopify.com``.

    ``store_id`` is what the platform never changes for that store (it may hold ``:``, as in
    ``host:port``); ``platform`` is lower-case letters, digits, ``_`` and ``-``, so the first
    ``:`` always ends it. Unlike a channel's name, which an operator may rename, an origin
    stays the same for the life of the store: what must never change (a fulfillment order's
    idempotency key) is derived from it. ``ValueError`` for a platform of another shape or an
    empty ``store_id``.
    """
    if not _PLATFORM.fullmatch(platform):
        raise ValueError(f"platform {platform!r} must be lower-case letters, digits, _ and -")
    if not store_id:
        raise ValueError(f"names no {platform} store (its id is empty)")
    return f"{platform}:{store_id}"


def split_origin(value: str) -> tuple[str, str] | None:
    """``(platform, store_id)`` of an origin made by :func:`origin`; None for any other string."""
    platform, _, store_id = value.partition(":")
    return (platform, store_id) if _PLATFORM.fullmatch(platform) and store_id else None


class Address(msgspec.Struct, frozen=True):
    name: str
    address1: str
    city: str
    country: str
    """ISO 3166-1 alpha-2."""
    address2: str | None = None
    company: str | None = None
    state: str | None = None
    zip: str | None = None
    phone: str | None = None
    email: str | None = None


OrderStatus = Literal["open", "draft", "cancelled", "closed"]
PaymentStatus = Literal[
    "pending", "authorized", "paid", "partially_paid", "partially_refunded", "refunded", "voided"
]
FulfillmentStatus = Literal["unfulfilled", "partially_fulfilled", "fulfilled", "on_hold"]


class OrderLine(msgspec.Struct, frozen=True):
    sku: str
    quantity: int
    name: str
    store_line_id: str | None = None
    unit_price: Decimal | None = None


class Order(msgspec.Struct, frozen=True):
    channel: str
    """The configured channel it was read from: a name an operator may change."""
    origin: str
    """The permanent identity of the store it was placed in (:func:`origin`)."""
    store_order_id: str
    """The store's own id of the order, unique within ``origin``."""
    reference_id: str
    """The store's order number as customers see it ("#1001"), carried to the fulfillment
    order as its order number. The fulfillment provider's unique key is derived from
    ``origin`` and ``store_order_id`` instead, which never change: renaming a channel must
    not create its open orders again."""
    status: OrderStatus
    payment_status: PaymentStatus
    fulfillment_status: FulfillmentStatus
    created_at: datetime
    updated_at: datetime
    lines: list[OrderLine]
    recipient: Address | None = None
    shipping_method: str | None = None
    notes: str | None = None
    gift_message: str | None = None
    test: bool = False


class InventoryLevel(msgspec.Struct, frozen=True):
    sku: str
    location: str
    fulfillable: int
    on_hand: int
    committed: int
    exception: int = 0


class ShipmentLine(msgspec.Struct, frozen=True):
    sku: str
    quantity: int


class Shipment(msgspec.Struct, frozen=True):
    shipment_id: str
    """The fulfillment provider's id: one store fulfillment per shipment id, ever."""
    order_reference: str
    """The fulfillment order's reference id, from which the provider's mapping recovers the
    origin and store order id of the orders shelfsync created."""
    lines: list[ShipmentLine]
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    shipped_at: datetime | None
    origin: str | None = None
    """:attr:`Order.origin` of the store order shipped, when ``order_reference`` names an order
    shelfsync created (the provider's mapping recovers it); None for an order made elsewhere."""
    store_order_id: str | None = None
    """:attr:`Order.store_order_id` of that order, set together with ``origin``."""


# -- what the hub asks a storefront to write ---------------------------------------------------


class StockTarget(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sku: str
    """The canonical SKU (a fallback key for an item without SKU)."""
    quantity: int
    """The sellable quantity the store should show: an absolute target, never a delta."""


class InventoryPush(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The payload of a storefront's ``inventory.set`` write: targets at the channel's location.

    A SKU the store does not list is skipped and named in the write's summary (a store sells a
    subset of the pool); the others are written.
    """

    targets: list[StockTarget]
    reconcile: bool = False
    """A periodic comparison, not a change: every SKU's target, whether or not it moved, so
    that what the store shows is corrected wherever it drifted (an edit in the store's admin,
    a write lost upstream); the connector reports the drift it corrected where it can read it."""
    read_first: bool = False
    """Whether the connector must read what the store shows before writing (and leave alone
    what is already at its target) rather than trust what it last wrote there: the store may
    have changed it by itself since (its own checkout took units off, the merchant edited the
    item), or the daemon cannot tell (a replay). A reconcile always reads."""


class TrackingPush(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The payload of a storefront's ``fulfillment.create`` write: one shipment of one order.

    Writing the same shipment twice creates one store fulfillment, never two.
    """

    store_order_id: str
    """:attr:`Order.store_order_id` of the order the shipment belongs to."""
    shipment: Shipment
    notify_customer: bool = True


# -- what the hub asks a fulfillment provider to write -----------------------------------------


class OrderCancel(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The payload of a fulfillment provider's ``order.cancel`` write: cancel the fulfillment
    order created for this store order (the provider derives its own reference from both)."""

    origin: str
    store_order_id: str


class ShipmentsAcknowledged(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The payload of a fulfillment provider's ``tracking.uploaded`` write: these shipments'
    tracking has been taken over by shelfsync, so the provider stops offering them."""

    shipment_ids: list[str]
    """:attr:`Shipment.shipment_id` values."""


Canonical = Item | Order | Shipment | InventoryLevel
"""What a record of any stream means once its platform has interpreted it."""
