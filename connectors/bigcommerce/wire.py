"""BigCommerce's JSON as strict msgspec Structs: v3 catalog, inventory and hooks, v2 orders.

Only the fields shelfsync reads are declared; any other field is ignored, and a declared
field of the wrong type fails with its path (``$.data[3].variants[0].sku``). v3 times are
ISO-8601 and must carry an offset; v2 times are RFC-2822 (``"Wed, 25 Jun 2025 05:22:10
+0000"``), decoded by :data:`DEC_HOOK` into :class:`V2Time` and refused without a numeric
offset. Names follow BigCommerce's OpenAPI files, which win where other notes differ.
"""

from __future__ import annotations

import email.utils
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
"""A v3 time: ISO-8601 with its offset (one without is refused)."""

# -- v2 times --------------------------------------------------------------------------------


class V2Time(datetime):
    """A v2 date: RFC-2822 on the wire, a timezone-aware datetime here (turned into a plain
    one by :func:`plain_time` before it leaves the package)."""


def parse_v2_time(value: str) -> V2Time:
    """``value`` as a :class:`V2Time`; ValueError when it is not RFC-2822 with an offset.

    RFC-2822 writes an unknown zone as ``-0000``, which Python reads as naive: refused, since
    no offset is no instant.
    """
    parsed = email.utils.parsedate_to_datetime(value)
    if parsed.tzinfo is None:
        raise ValueError(f"RFC-2822 date without a numeric offset: {value!r}")
    return V2Time.fromtimestamp(parsed.timestamp(), parsed.tzinfo)


def plain_time(moment: datetime) -> datetime:
    """``moment`` as a plain ``datetime`` (same instant, same offset): a :class:`V2Time` is for
    decoding only, and msgspec encodes no subclass of ``datetime``."""
    return datetime.combine(moment.date(), moment.timetz())


def format_v2_time(moment: datetime) -> str:
    """``moment`` the way v2 writes dates (and accepts them in ``min_date_modified``)."""
    return email.utils.format_datetime(moment)


def _dec_hook(type_: type, value: Any) -> Any:
    if type_ is V2Time:
        if not isinstance(value, str):
            raise TypeError(f"Expected an RFC-2822 date string, got {type(value).__name__}")
        return parse_v2_time(value)
    raise NotImplementedError(type_)


DEC_HOOK = _dec_hook
"""Pass as ``dec_hook`` to decode any Struct holding :class:`V2Time` fields."""


# -- v3 envelope -------------------------------------------------------------------------------


class Links(msgspec.Struct, frozen=True):
    next: str | None = None
    """A query string such as ``?page=2&limit=250``, or absent on the last page."""


class Pagination(msgspec.Struct, frozen=True):
    total: int = 0
    count: int = 0
    per_page: int = 0
    current_page: int = 1
    total_pages: int = 1
    links: Links = msgspec.field(default_factory=Links)


class Meta(msgspec.Struct, frozen=True):
    pagination: Pagination | None = None


class RawPage(msgspec.Struct, frozen=True):
    """A v3 list answer with each record kept raw, decoded one by one."""

    data: list[msgspec.Raw]
    meta: Meta = msgspec.field(default_factory=Meta)


# -- v3 catalog -------------------------------------------------------------------------------

InventoryTracking = Literal["none", "product", "variant"]


class OptionValue(msgspec.Struct, frozen=True):
    label: str
    option_display_name: str = ""


class Variant(msgspec.Struct, frozen=True):
    id: int
    product_id: int
    sku: str = ""
    weight: float | None = None
    """None: the product's weight applies (and so for each dimension)."""
    width: float | None = None
    height: float | None = None
    depth: float | None = None
    upc: str | None = None
    option_values: list[OptionValue] = []


class Image(msgspec.Struct, frozen=True):
    url_standard: str = ""
    is_thumbnail: bool = False
    sort_order: int = 0


class ProductStamp(msgspec.Struct, frozen=True):
    """What a products page read needs of each product: its id and replication value."""

    id: int
    date_modified: AwareDatetime


class Product(msgspec.Struct, frozen=True):
    """A product read with ``include=variants,images``."""

    id: int
    name: str
    date_modified: AwareDatetime
    sku: str = ""
    weight: float | None = None
    width: float | None = None
    depth: float | None = None
    height: float | None = None
    upc: str | None = None
    gtin: str | None = None
    inventory_tracking: InventoryTracking = "none"
    variants: list[Variant] = []
    images: list[Image] = []


class ProductTracking(msgspec.Struct, frozen=True):
    """A product read for an inventory write: how it is tracked, and its variants' ids."""

    id: int
    inventory_tracking: InventoryTracking
    variants: list[Variant] = []


class ProductTrackingPage(msgspec.Struct, frozen=True):
    data: list[ProductTracking]
    meta: Meta = msgspec.field(default_factory=Meta)


# -- v3 inventory -----------------------------------------------------------------------------


class Identity(msgspec.Struct, frozen=True):
    sku: str = ""
    variant_id: int | None = None
    product_id: int | None = None


class ItemLocation(msgspec.Struct, frozen=True):
    """An inventory item's stock at one location."""

    location_id: int
    total_inventory_onhand: int = 0
    """What an absolute adjustment sets (``available_to_sell`` is this minus safety stock)."""


class InventoryItem(msgspec.Struct, frozen=True):
    identity: Identity
    locations: list[ItemLocation] = []


class InventoryItemsPage(msgspec.Struct, frozen=True):
    data: list[InventoryItem]
    meta: Meta = msgspec.field(default_factory=Meta)


class AdjustmentItem(msgspec.Struct, frozen=True, omit_defaults=True):
    """One absolute quantity; exactly one of ``sku``, ``variant_id``, ``product_id`` is set."""

    location_id: int
    quantity: int
    sku: str | None = None
    variant_id: int | None = None
    product_id: int | None = None


class AbsoluteAdjustment(msgspec.Struct, frozen=True):
    reason: str
    items: list[AdjustmentItem]


class AdjustmentResult(msgspec.Struct, frozen=True):
    transaction_id: str


# -- v3 hooks ---------------------------------------------------------------------------------


class HookRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    scope: str
    destination: str
    is_active: bool = True
    headers: dict[str, str] | None = None


class Hook(msgspec.Struct, frozen=True):
    id: int
    scope: str
    destination: str
    is_active: bool = True
    headers: dict[str, str] | None = None
    created_at: int = 0
    updated_at: int = 0


class HookEnvelope(msgspec.Struct, frozen=True):
    data: Hook


class HooksPage(msgspec.Struct, frozen=True):
    data: list[Hook]
    meta: Meta = msgspec.field(default_factory=Meta)


class CallbackData(msgspec.Struct, frozen=True):
    type: str
    id: int


class Callback(msgspec.Struct, frozen=True):
    """A webhook delivery's body (thin: it says what changed, never how)."""

    scope: str
    store_id: str
    data: CallbackData
    hash: str
    created_at: int
    producer: str


# -- v2 orders --------------------------------------------------------------------------------


class OrderStamp(msgspec.Struct, frozen=True):
    id: int
    date_modified: V2Time
    status_id: int
    is_deleted: bool = False
    """Archived: ``GET /v2/orders/{id}`` still answers it, the orders list leaves it out."""


class Order(msgspec.Struct, frozen=True):
    id: int
    status_id: int
    date_created: V2Time
    date_modified: V2Time
    payment_status: str = ""
    customer_message: str = ""
    is_deleted: bool = False


class OrderProduct(msgspec.Struct, frozen=True):
    id: int
    """The ``order_product_id`` a shipment names."""
    order_id: int
    product_id: int
    order_address_id: int
    name: str
    quantity: int
    sku: str = ""
    variant_id: int | None = None
    quantity_shipped: int = 0
    quantity_refunded: int = 0
    wrapping_message: str = ""
    product_options: list[dict[str, Any]] = []
    type: str = "physical"


class ShippingAddress(msgspec.Struct, frozen=True):
    id: int
    """The ``order_address_id`` a shipment names."""
    order_id: int
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    street_1: str = ""
    street_2: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    country_iso2: str = ""
    phone: str = ""
    email: str = ""
    shipping_method: str = ""


class OrderBundle(msgspec.Struct, frozen=True):
    """An ``orders`` record's body: the order with the two resources it only links to."""

    order: msgspec.Raw
    products: msgspec.Raw
    shipping_addresses: msgspec.Raw


class ShipmentItem(msgspec.Struct, frozen=True):
    order_product_id: int
    quantity: int


class Shipment(msgspec.Struct, frozen=True):
    id: int
    order_id: int
    order_address_id: int
    tracking_number: str = ""
    items: list[ShipmentItem] = []


class CreateShipment(msgspec.Struct, frozen=True):
    order_address_id: int
    items: list[ShipmentItem]
    tracking_number: str
    shipping_provider: str = ""
    tracking_carrier: str = ""
    tracking_link: str = ""
    comments: str = ""
