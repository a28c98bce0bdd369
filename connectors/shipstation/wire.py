"""ShipStation V1 JSON as strict msgspec Structs (camelCase on the wire; webhooks snake_case).

Unknown fields are ignored; a field of the wrong type fails with its path
(``Expected `int`, got `str` - at `$.orders[3].orderId```). Timestamps arrive without offset
in US Pacific time and decode to naive datetimes; :mod:`.pacific` makes them aware. Money is
decoded as ``Decimal``, never a float.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal, get_args

import msgspec

OrderStatus = Literal[
    "awaiting_payment",
    "awaiting_shipment",
    "pending_fulfillment",
    "shipped",
    "on_hold",
    "cancelled",
    "rejected_fulfillment",
]
ORDER_STATUSES: tuple[OrderStatus, ...] = get_args(OrderStatus)
WebhookEventType = Literal[
    "ORDER_NOTIFY",
    "ITEM_ORDER_NOTIFY",
    "SHIP_NOTIFY",
    "ITEM_SHIP_NOTIFY",
    "FULFILLMENT_SHIPPED",
    "FULFILLMENT_REJECTED",
]
WEBHOOK_EVENTS: tuple[WebhookEventType, ...] = get_args(WebhookEventType)


class _Camel(msgspec.Struct, rename="camel"):
    """A ShipStation body: camelCase names; encoded whole (unset values as ``null``), as
    ShipStation serves its entities."""


class Address(_Camel):
    name: str | None = None
    company: str | None = None
    street1: str | None = None
    street2: str | None = None
    street3: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    """ISO 3166-1 alpha-2."""
    phone: str | None = None
    residential: bool | None = None


class Weight(_Camel):
    value: Decimal
    units: Literal["pounds", "ounces", "grams"]


class ItemOption(_Camel):
    name: str
    value: str


class OrderItem(_Camel):
    quantity: int
    order_item_id: int | None = None
    line_item_key: str | None = None
    sku: str | None = None
    name: str | None = None
    unit_price: Decimal | None = None
    options: list[ItemOption] = msgspec.field(default_factory=list)
    product_id: int | None = None
    fulfillment_sku: str | None = None
    upc: str | None = None
    weight: Weight | None = None
    adjustment: bool = False
    """A discount or fee line, not goods."""


class AdvancedOptions(_Camel):
    store_id: int | None = None
    """ShipStation's id of the store (selling channel) the order was imported from."""
    warehouse_id: int | None = None
    source: str | None = None
    merged_or_split: bool = False
    parent_id: int | None = None
    custom_field1: str | None = None
    custom_field2: str | None = None
    custom_field3: str | None = None


class OrderStamps(_Camel):
    """What a read needs of an order: its id, status and modification time."""

    order_id: int
    order_status: OrderStatus
    modify_date: datetime


class OrderIdentity(_Camel):
    """Which order it is and whose: what a fetch by key checks."""

    order_number: str
    advanced_options: AdvancedOptions | None = None


class Order(_Camel):
    order_id: int
    order_number: str
    order_status: OrderStatus
    create_date: datetime
    modify_date: datetime
    order_key: str | None = None
    order_date: datetime | None = None
    payment_date: datetime | None = None
    ship_by_date: datetime | None = None
    customer_email: str | None = None
    bill_to: Address | None = None
    ship_to: Address | None = None
    items: list[OrderItem] = msgspec.field(default_factory=list)
    amount_paid: Decimal | None = None
    customer_notes: str | None = None
    internal_notes: str | None = None
    gift: bool = False
    gift_message: str | None = None
    requested_shipping_service: str | None = None
    carrier_code: str | None = None
    service_code: str | None = None
    ship_date: str | None = None
    """A date (``2025-06-02``) once shipped; kept as ShipStation wrote it."""
    weight: Weight | None = None
    advanced_options: AdvancedOptions | None = None
    externally_fulfilled: bool = False


class OrdersPage(_Camel):
    """``GET /orders``: one page, its items still raw (each is decoded on its own)."""

    orders: list[msgspec.Raw]
    total: int
    page: int
    pages: int


class OrderStampsPage(_Camel):
    orders: list[OrderStamps]


class MarkShippedRequest(_Camel, omit_defaults=True):
    order_id: int
    carrier_code: str
    ship_date: str | None = None
    """``YYYY-MM-DD``."""
    tracking_number: str | None = None
    notify_customer: bool | None = None
    """Unset: ShipStation's default (no email)."""
    notify_sales_channel: bool | None = None


class MarkShippedResponse(_Camel):
    order_id: int
    order_number: str


class Fulfillment(_Camel):
    fulfillment_id: int
    order_id: int
    order_number: str
    tracking_number: str | None = None
    carrier_code: str | None = None
    ship_date: str | None = None
    create_date: datetime | None = None
    voided: bool = False
    void_date: datetime | None = None
    marketplace_notified: bool = False
    notify_error_message: str | None = None
    user_id: str | None = None
    customer_email: str | None = None
    ship_to: Address | None = None


class FulfillmentsPage(_Camel):
    fulfillments: list[Fulfillment]
    total: int
    page: int
    pages: int


class ShipmentItem(_Camel):
    quantity: int
    order_item_id: int | None = None
    line_item_key: str | None = None
    sku: str | None = None
    name: str | None = None


class Shipment(_Camel):
    """A label ShipStation created (``GET /shipments``; orders marked shipped are not here)."""

    shipment_id: int
    order_id: int
    order_number: str
    tracking_number: str | None = None
    carrier_code: str | None = None
    service_code: str | None = None
    order_key: str | None = None
    create_date: datetime | None = None
    ship_date: str | None = None
    voided: bool = False
    void_date: datetime | None = None
    shipment_cost: Decimal | None = None
    ship_to: Address | None = None
    shipment_items: list[ShipmentItem] | None = None


class ShipmentsPage(_Camel):
    shipments: list[Shipment]
    total: int
    page: int
    pages: int


class Product(_Camel):
    """A product of ShipStation's catalog: one SKU, no variants."""

    product_id: int
    sku: str
    name: str
    create_date: datetime
    modify_date: datetime
    active: bool = True
    price: Decimal | None = None
    default_cost: Decimal | None = None
    length: Decimal | None = None
    width: Decimal | None = None
    height: Decimal | None = None
    """Dimensions in whatever unit the account's UI is set to: V1 does not say which."""
    weight_oz: Decimal | None = None
    upc: str | None = None
    thumbnail_url: str | None = None
    fulfillment_sku: str | None = None
    warehouse_location: str | None = None
    internal_notes: str | None = None


class ProductsPage(_Camel):
    products: list[msgspec.Raw]
    total: int
    page: int
    pages: int


class ProductStamps(_Camel):
    product_id: int
    modify_date: datetime


class ProductStampsPage(_Camel):
    products: list[ProductStamps]


class Store(_Camel):
    store_id: int
    store_name: str
    marketplace_id: int | None = None
    marketplace_name: str | None = None
    account_name: str | None = None
    active: bool = True
    create_date: datetime | None = None
    modify_date: datetime | None = None


class WebhookNotification(msgspec.Struct, frozen=True):
    """The body ShipStation POSTs to a subscribed URL: what to GET, not the change itself."""

    resource_url: str
    resource_type: WebhookEventType


class SubscribeRequest(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    target_url: str
    event: WebhookEventType
    store_id: int | None = None
    friendly_name: str | None = None


class ApiError(msgspec.Struct):
    """Both error shapes V1 answers with: the OpenAPI's ``{"message"}`` and ASP.NET's
    ``{"Message", "ExceptionMessage", ...}``."""

    message: str | None = None
    Message: str | None = None  # ASP.NET's spelling
    ExceptionMessage: str | None = None

    def text(self) -> str:
        parts = [p for p in (self.message, self.Message, self.ExceptionMessage) if p]
        return ": ".join(dict.fromkeys(parts))
