"""Wix REST payloads (Stores Catalog V1, Stores Inventory V2, eCommerce Orders and Order
Fulfillments), as msgspec Structs named after Wix's JSON (camelCase, via ``rename="camel"``).

Only the fields the connector reads or sends are declared; unknown fields are ignored, since
Wix adds fields without a new version. Decoding is strict: a field whose type changed fails
with its path (``Expected `int`, got `str` - at `$.lineItems[0].quantity```). Timestamps must
carry an offset (Wix writes ISO-8601 in UTC with ``Z``); a naive one fails to decode instead of
being compared with a cursor in an unknown zone. Encoding omits unset optional fields.

Shapes confirmed from dev.wix.com reference pages: the V1 product query response
(``products``, ``metadata``, ``totalResults``), the V1 inventory item (``getVariants``), the
eCommerce order and its address (``addressLine``, ``addressLine2``, ``streetAddress``,
``subdivision``, ``postalCode``; name, phone and company in ``contactDetails``), create and
list fulfillments (``orderWithFulfillments``, ``fulfillmentId``), the error body
(``message``, ``details.applicationError`` or ``details.validationError``). Unconfirmed, and
modelled as platform-apis.md gives them: the search response's ``metadata.cursors`` and
``hasNext``; int64 fields (``numericId``) arriving as JSON strings, as protobuf's JSON
mapping writes them (both forms are accepted).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
"""A timestamp that must carry its UTC offset."""

DEFAULT_VARIANT_ID = "00000000-0000-0000-0000-000000000000"
"""The one variant of a V1 product that has no options."""


class _Wire(msgspec.Struct, omit_defaults=True, rename="camel"):
    """Base of Wix's wire types: camelCase names, unset optional fields left out."""


# --- Stores Catalog V1: products --------------------------------------------------------------


class ProductStock(_Wire):
    track_inventory: bool = False
    """Whether the product's quantities are tracked (V1 tracks per product, not per variant)."""
    quantity: int | None = None
    in_stock: bool = True


class VariantStock(_Wire):
    track_quantity: bool = False
    quantity: int | None = None
    in_stock: bool = True


class VariantData(_Wire):
    sku: str | None = None
    weight: float | None = None
    visible: bool = True


class Variant(_Wire):
    id: str
    choices: dict[str, str] = msgspec.field(default_factory=dict)
    """Option name → the chosen value's description, e.g. ``{"Color": "Blue"}``."""
    variant: VariantData = msgspec.field(default_factory=VariantData)
    stock: VariantStock = msgspec.field(default_factory=VariantStock)


class Image(_Wire):
    url: str


class MediaItem(_Wire):
    image: Image | None = None


class Media(_Wire):
    main_media: MediaItem | None = None


class Product(_Wire):
    id: str
    name: str
    last_updated: AwareDatetime
    numeric_id: int | str
    """An int64: a JSON string in Wix's answers (protobuf mapping), a number in our filters."""
    sku: str | None = None
    weight: float | None = None
    product_type: str = "physical"
    stock: ProductStock = msgspec.field(default_factory=ProductStock)
    media: Media | None = None
    manage_variants: bool = False
    variants: list[Variant] = msgspec.field(default_factory=list)
    created_date: AwareDatetime | None = None


class ProductStamp(_Wire):
    """What a products page needs of each product before it is handed on raw."""

    id: str
    last_updated: AwareDatetime
    numeric_id: int | str


class QueryProductsMetadata(_Wire):
    items: int = 0
    offset: int = 0


class QueryProductsResponse(_Wire):
    products: list[msgspec.Raw] = msgspec.field(default_factory=list)
    metadata: QueryProductsMetadata = msgspec.field(default_factory=QueryProductsMetadata)
    total_results: int = 0


class ProductsPaging(_Wire):
    limit: int
    offset: int = 0


class ProductsQuery(_Wire):
    """V1 query: ``filter`` and ``sort`` are JSON *strings*, as the Stores pagination page shows."""

    paging: ProductsPaging
    filter: str | None = None
    sort: str | None = None


class QueryProductsRequest(_Wire):
    query: ProductsQuery
    include_variants: bool
    """Required here: a default would be omitted when encoded, and Wix's default is false."""


class StoreVariant(_Wire):
    """One variant as Query Store Variants (``POST /stores-reader/v1/variants/query``) gives
    it: with its product's id and its stock, the default variant of a product without
    options included."""

    product_id: str
    variant_id: str
    sku: str | None = None
    stock: VariantStock = msgspec.field(default_factory=VariantStock)
    managed_variant: bool = False


class PlatformPaging(_Wire):
    limit: int
    offset: int


class VariantsQuery(_Wire):
    """A platform query: unlike the V1 products query, ``filter`` is an object here."""

    filter: dict[str, Any]
    paging: PlatformPaging


class QueryVariantsRequest(_Wire):
    query: VariantsQuery


class QueryVariantsResponse(_Wire):
    variants: list[StoreVariant] = msgspec.field(default_factory=list)


# --- Stores Inventory V2 (the inventory of catalog V1) ----------------------------------------


class InventoryVariantUpdate(_Wire):
    variant_id: str
    quantity: int | None = None
    in_stock: bool | None = None


class InventoryItemUpdate(_Wire):
    variants: list[InventoryVariantUpdate]
    track_quantity: bool | None = None


class UpdateInventoryRequest(_Wire):
    inventory_item: InventoryItemUpdate


# --- eCommerce orders -------------------------------------------------------------------------


class StreetAddress(_Wire):
    number: str | None = None
    name: str | None = None


class Address(_Wire):
    country: str | None = None
    subdivision: str | None = None
    """ISO 3166-2, e.g. ``US-NY``."""
    city: str | None = None
    postal_code: str | None = None
    address_line: str | None = None
    address_line2: str | None = None
    street_address: StreetAddress | None = None


class ContactDetails(_Wire):
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    company: str | None = None


class Destination(_Wire):
    address: Address | None = None
    contact_details: ContactDetails | None = None


class Logistics(_Wire):
    shipping_destination: Destination | None = None


class ShippingInfo(_Wire):
    title: str | None = None
    """The shipping method's name as the buyer chose it."""
    code: str | None = None
    logistics: Logistics | None = None


class BuyerInfo(_Wire):
    email: str | None = None
    contact_id: str | None = None


class Translatable(_Wire):
    original: str
    translated: str | None = None


class CatalogReference(_Wire):
    catalog_item_id: str
    app_id: str | None = None
    options: dict[str, Any] | None = None
    """For Wix Stores items, ``{"variantId": …}`` (and option choices); free-form otherwise."""


class PhysicalProperties(_Wire):
    sku: str | None = None
    weight: float | None = None
    shippable: bool = True


class Price(_Wire):
    amount: str


class LineItem(_Wire):
    id: str
    quantity: int
    product_name: Translatable
    catalog_reference: CatalogReference | None = None
    physical_properties: PhysicalProperties | None = None
    price: Price | None = None


class CustomField(_Wire):
    title: str
    value: Any = None


OrderStatus = Literal["INITIALIZED", "APPROVED", "CANCELED", "PENDING", "REJECTED"]


class Order(_Wire):
    id: str
    number: str | int
    """The number buyers see; a string in the documented examples, a number in the schema."""
    created_date: AwareDatetime
    updated_date: AwareDatetime
    status: OrderStatus
    payment_status: str
    fulfillment_status: str
    line_items: list[LineItem] = msgspec.field(default_factory=list)
    buyer_note: str | None = None
    buyer_info: BuyerInfo | None = None
    shipping_info: ShippingInfo | None = None
    recipient_info: Destination | None = None
    custom_fields: list[CustomField] = msgspec.field(default_factory=list)
    archived: bool = False
    fulfillments: list[Fulfillment] = msgspec.field(default_factory=list)
    """Not Wix's: the order's fulfillments, which the connector adds to a partially
    fulfilled order's record (Wix's order tells no line's fulfilled quantity)."""


class OrderStamp(_Wire):
    """What an orders page needs of each order before it is handed on raw."""

    id: str
    updated_date: AwareDatetime


class Cursors(_Wire):
    next: str | None = None
    prev: str | None = None


class SearchMetadata(_Wire):
    count: int = 0
    cursors: Cursors = msgspec.field(default_factory=Cursors)
    has_next: bool = False


class SearchOrdersResponse(_Wire):
    orders: list[msgspec.Raw] = msgspec.field(default_factory=list)
    metadata: SearchMetadata = msgspec.field(default_factory=SearchMetadata)


class GetOrderResponse(_Wire):
    order: Order


class SortField(_Wire):
    field_name: str
    order: Literal["ASC", "DESC"]


class CursorPaging(_Wire):
    limit: int
    cursor: str | None = None


class Search(_Wire):
    cursor_paging: CursorPaging
    filter: dict[str, Any] | None = None
    sort: list[SortField] | None = None


class SearchOrdersRequest(_Wire):
    search: Search


# --- eCommerce order fulfillments -------------------------------------------------------------


class FulfillmentLine(_Wire):
    id: str
    """The order's line item id."""
    quantity: int


class TrackingInfo(_Wire):
    tracking_number: str | None = None
    shipping_provider: str | None = None
    tracking_link: str | None = None


class Fulfillment(_Wire):
    line_items: list[FulfillmentLine]
    id: str | None = None
    created_date: AwareDatetime | None = None
    tracking_info: TrackingInfo | None = None


class OrderWithFulfillments(_Wire):
    order_id: str
    fulfillments: list[Fulfillment] = msgspec.field(default_factory=list)


class ListFulfillmentsResponse(_Wire):
    order_with_fulfillments: OrderWithFulfillments


class CreateFulfillmentRequest(_Wire):
    fulfillment: Fulfillment


class CreateFulfillmentResponse(_Wire):
    order_with_fulfillments: OrderWithFulfillments
    fulfillment_id: str


# --- errors -----------------------------------------------------------------------------------


class ApplicationError(_Wire):
    code: str
    description: str | None = None
    data: dict[str, Any] | None = None


class FieldViolation(_Wire):
    field: str
    description: str | None = None
    violated_rule: str | None = None


class ValidationError(_Wire):
    field_violations: list[FieldViolation] = msgspec.field(default_factory=list)


class ErrorDetails(_Wire):
    application_error: ApplicationError | None = None
    validation_error: ValidationError | None = None


class ErrorBody(_Wire):
    message: str = ""
    details: ErrorDetails | None = None


# --- webhooks ---------------------------------------------------------------------------------


class WebhookEnvelope(_Wire):
    """The JWT claim ``data``, itself a JSON string, decoded."""

    event_type: str
    instance_id: str
    data: str
    """The event, a JSON string again (:class:`WebhookEventData`)."""
    identity: str | None = None


class WebhookEventData(_Wire):
    """The standardized event (``data.data``); legacy Stores V1 events carry only their own
    fields (``productId``…), so every field here is optional."""

    id: str | None = None
    entity_fqdn: str | None = None
    slug: str | None = None
    entity_id: str | None = None
    event_time: AwareDatetime | None = None
    product_id: str | None = None
