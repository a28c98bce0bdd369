"""The shapes of Shopify's GraphQL responses, one Struct per object the queries select.

Field names are Shopify's camelCase (``rename="camel"``). Decoding is strict about types: a
field whose type changed upstream fails with its path (``$.data.productVariants.nodes[0]...``)
rather than being coerced. Unknown fields are ignored, as Shopify adds fields within a version.
Enums are closed ``Literal`` sets from the 2026-01 schema, so a new value also fails loudly.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

import msgspec

# -- envelope ---------------------------------------------------------------------------------


class ThrottleStatus(msgspec.Struct, frozen=True, rename="camel"):
    maximum_available: float
    currently_available: float
    restore_rate: float


class Cost(msgspec.Struct, frozen=True, rename="camel"):
    requested_query_cost: float
    actual_query_cost: float | None
    throttle_status: ThrottleStatus


class Extensions(msgspec.Struct, frozen=True, rename="camel"):
    cost: Cost | None = None


class ErrorExtensions(msgspec.Struct, frozen=True, rename="camel"):
    code: str | None = None


class GraphQLError(msgspec.Struct, frozen=True, rename="camel"):
    message: str
    extensions: ErrorExtensions | None = None
    path: list[str | int] | None = None


class Envelope(msgspec.Struct, frozen=True, rename="camel"):
    """A GraphQL response with ``data`` left raw, to be decoded by the operation's own type."""

    data: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))
    """``null`` when absent (msgspec cannot put ``Raw`` in a union)."""
    errors: list[GraphQLError] | None = None
    extensions: Extensions | None = None


class IdRef(msgspec.Struct, frozen=True, rename="camel"):
    id: str


class TrackingInfo(msgspec.Struct, frozen=True, rename="camel"):
    company: str | None = None
    number: str | None = None
    url: str | None = None


class PageInfo(msgspec.Struct, frozen=True, rename="camel"):
    has_next_page: bool
    end_cursor: str | None = None


class NodeStamp(msgspec.Struct, frozen=True, rename="camel"):
    """What a read needs of any node: its id and replication value."""

    id: str
    updated_at: datetime


class RawConnection(msgspec.Struct, frozen=True, rename="camel"):
    page_info: PageInfo
    nodes: list[msgspec.Raw]


# -- products and variants --------------------------------------------------------------------

WeightUnit = Literal["GRAMS", "KILOGRAMS", "OUNCES", "POUNDS"]
ProductStatus = Literal["ACTIVE", "ARCHIVED", "DRAFT", "UNLISTED"]


class SelectedOption(msgspec.Struct, frozen=True, rename="camel"):
    name: str
    value: str


class ImageRef(msgspec.Struct, frozen=True, rename="camel"):
    url: str


class MediaPreview(msgspec.Struct, frozen=True, rename="camel"):
    image: ImageRef | None = None


class MediaRef(msgspec.Struct, frozen=True, rename="camel"):
    preview: MediaPreview | None = None


class Weight(msgspec.Struct, frozen=True, rename="camel"):
    value: Decimal
    unit: WeightUnit


class Measurement(msgspec.Struct, frozen=True, rename="camel"):
    weight: Weight | None = None


class InventoryItemRef(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    measurement: Measurement


class Variant(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    sku: str | None
    barcode: str | None
    title: str
    updated_at: datetime
    selected_options: list[SelectedOption]
    inventory_item: InventoryItemRef


class Variants(msgspec.Struct, frozen=True, rename="camel"):
    page_info: PageInfo
    nodes: list[Variant]


class Product(msgspec.Struct, frozen=True, rename="camel"):
    """A product with its variants: the body of a ``products`` record (all variants, however
    many pages Shopify needed)."""

    id: str
    title: str
    status: ProductStatus
    updated_at: datetime
    variants: Variants
    featured_media: MediaRef | None = None


class VariantsPageInfo(msgspec.Struct, frozen=True, rename="camel"):
    page_info: PageInfo


class ProductStamp(msgspec.Struct, frozen=True, rename="camel"):
    """What a read needs of a product node: id, replication value, whether variants remain."""

    id: str
    updated_at: datetime
    variants: VariantsPageInfo


class ProductsPage(msgspec.Struct, frozen=True, rename="camel"):
    products: RawConnection


class RawVariants(msgspec.Struct, frozen=True, rename="camel"):
    variants: RawConnection


class MoreVariantsData(msgspec.Struct, frozen=True, rename="camel"):
    product: RawVariants | None
    """None when the product was deleted since its page was read."""


# -- orders -----------------------------------------------------------------------------------

FinancialStatus = Literal[
    "AUTHORIZED",
    "EXPIRED",
    "PAID",
    "PARTIALLY_PAID",
    "PARTIALLY_REFUNDED",
    "PENDING",
    "REFUNDED",
    "VOIDED",
]
OrderFulfillmentStatus = Literal[
    "FULFILLED",
    "IN_PROGRESS",
    "ON_HOLD",
    "OPEN",
    "PARTIALLY_FULFILLED",
    "PENDING_FULFILLMENT",
    "REQUEST_DECLINED",
    "RESTOCKED",
    "SCHEDULED",
    "UNFULFILLED",
]


class Attribute(msgspec.Struct, frozen=True, rename="camel"):
    key: str
    value: str | None = None


class MailingAddress(msgspec.Struct, frozen=True, rename="camel"):
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    province_code: str | None = None
    zip: str | None = None
    country_code_v2: str | None = None
    phone: str | None = None


class ShippingLine(msgspec.Struct, frozen=True, rename="camel"):
    title: str


class LineItem(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    sku: str | None
    title: str
    quantity: int
    """Units ordered, refunded and removed ones included: not what is left to ship."""
    current_quantity: int
    """Units ordered, excluding refunded and removed units."""
    unfulfilled_quantity: int
    """Units no fulfillment has taken yet."""
    variant: IdRef | None


class LineItems(msgspec.Struct, frozen=True, rename="camel"):
    page_info: PageInfo
    nodes: list[LineItem]


class OrderNode(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    name: str
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None
    test: bool
    note: str | None
    display_financial_status: FinancialStatus | None
    display_fulfillment_status: OrderFulfillmentStatus
    custom_attributes: list[Attribute]
    shipping_address: MailingAddress | None
    shipping_line: ShippingLine | None
    line_items: LineItems


class OrdersPage(msgspec.Struct, frozen=True, rename="camel"):
    orders: RawConnection


class RawNodes(msgspec.Struct, frozen=True, rename="camel"):
    """``nodes(ids:)``: one raw node per id asked, JSON ``null`` for an id naming none."""

    nodes: list[msgspec.Raw]


class OrderName(msgspec.Struct, frozen=True):
    name: str
    """The order number shoppers see (``#1001``)."""


# -- fulfillment orders -----------------------------------------------------------------------

FulfillmentOrderStatus = Literal[
    "CANCELLED", "CLOSED", "INCOMPLETE", "IN_PROGRESS", "ON_HOLD", "OPEN", "SCHEDULED"
]


class FulfillmentOrderLineItem(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    sku: str | None
    remaining_quantity: int
    total_quantity: int
    variant: IdRef | None
    """None when the variant was deleted since the order."""


class FulfillmentOrderLineItems(msgspec.Struct, frozen=True, rename="camel"):
    nodes: list[FulfillmentOrderLineItem]


class LocationRef(msgspec.Struct, frozen=True):
    id: str


class AssignedLocation(msgspec.Struct, frozen=True):
    location: LocationRef | None
    """None when the location was deleted since the assignment."""


class FulfillmentOrder(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    status: FulfillmentOrderStatus
    assigned_location: AssignedLocation
    line_items: FulfillmentOrderLineItems


class FulfillmentOrders(msgspec.Struct, frozen=True, rename="camel"):
    nodes: list[FulfillmentOrder]


class FulfilledLineItem(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    sku: str | None
    variant: IdRef | None


class FulfillmentLineItem(msgspec.Struct, frozen=True, rename="camel"):
    quantity: int | None
    line_item: FulfilledLineItem


class FulfillmentLineItems(msgspec.Struct, frozen=True, rename="camel"):
    page_info: PageInfo
    nodes: list[FulfillmentLineItem]


class FulfillmentRef(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    tracking_info: list[TrackingInfo]
    fulfillment_line_items: FulfillmentLineItems


class OrderFulfillmentOrders(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    fulfillment_orders: FulfillmentOrders


class FulfillmentOrdersData(msgspec.Struct, frozen=True, rename="camel"):
    order: OrderFulfillmentOrders | None


class OrderFulfillments(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    fulfillments: list[FulfillmentRef]


class FulfillmentsData(msgspec.Struct, frozen=True, rename="camel"):
    order: OrderFulfillments | None


class Quantity(msgspec.Struct, frozen=True, rename="camel"):
    name: str
    quantity: int


class InventoryLevel(msgspec.Struct, frozen=True, rename="camel"):
    quantities: list[Quantity]


class InventoryItemLevel(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    inventory_level: InventoryLevel | None
    """None when the item is not stocked at the location."""


class StockedItem(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    inventory_level: InventoryLevel | None
    """None when the item is not stocked at the location."""


class StockedVariant(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    sku: str | None
    inventory_item: StockedItem


class StockedVariants(msgspec.Struct, frozen=True, rename="camel"):
    page_info: PageInfo
    nodes: list[StockedVariant]


class VariantsBySkuData(msgspec.Struct, frozen=True, rename="camel"):
    product_variants: StockedVariants


class InventoryLevelsData(msgspec.Struct, frozen=True, rename="camel"):
    nodes: list[InventoryItemLevel | None]


# -- mutations --------------------------------------------------------------------------------


class InventoryChange(msgspec.Struct, frozen=True, rename="camel"):
    name: str
    delta: int
    quantity_after_change: int | None
    item: IdRef | None
    location: IdRef | None


class InventoryAdjustmentGroup(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    changes: list[InventoryChange]


class InventoryUserError(msgspec.Struct, frozen=True, rename="camel"):
    message: str
    code: str | None = None
    field: list[str] | None = None


class InventorySetPayload(msgspec.Struct, frozen=True, rename="camel"):
    inventory_adjustment_group: InventoryAdjustmentGroup | None
    user_errors: list[InventoryUserError]


class InventorySetData(msgspec.Struct, frozen=True, rename="camel"):
    inventory_set_quantities: InventorySetPayload | None


class Fulfillment(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    name: str
    status: Literal["CANCELLED", "ERROR", "FAILURE", "OPEN", "PENDING", "SUCCESS"]
    created_at: datetime
    tracking_info: list[TrackingInfo]


class UserError(msgspec.Struct, frozen=True, rename="camel"):
    message: str
    field: list[str] | None = None


class FulfillmentCreatePayload(msgspec.Struct, frozen=True, rename="camel"):
    fulfillment: Fulfillment | None
    user_errors: list[UserError]


class FulfillmentCreateData(msgspec.Struct, frozen=True, rename="camel"):
    fulfillment_create: FulfillmentCreatePayload | None


# -- webhooks ---------------------------------------------------------------------------------

ORDER_GID_PREFIX = "gid://shopify/Order/"
"""How an Order's GID begins: an orders record's key, and an order webhook's resource id."""


class WebhookBody(msgspec.Struct, frozen=True):
    """The part of a REST-shaped webhook body a receiver reads: the resource's GraphQL id."""

    admin_graphql_api_id: str | None = None
    updated_at: datetime | None = None
