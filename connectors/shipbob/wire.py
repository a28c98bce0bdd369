"""ShipBob Developer API 2026-01 payloads, as msgspec Structs named after ShipBob's JSON.

Only the fields the client reads or sends are declared. Decoding is strict (msgspec's JSON
decoder never coerces a string into a number), so a field whose type changed fails with its
path (``Expected `int`, got `str` - at `$[0].shipments[0].id```); unknown fields are ignored
because ShipBob adds fields without a new version. Every Struct omits defaults when encoded,
so an absent optional field is left out rather than sent (or served) as ``null``: several of
ShipBob's objects (``tracking``, ``location``, ``status``) are not nullable in the spec.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
"""A timestamp that must carry its UTC offset: replication values are compared with the
cursor, and a naive one fails to decode (with its field path) instead of crashing later."""


class _Wire(msgspec.Struct, omit_defaults=True):
    """Base of ShipBob's wire types: encoding leaves unset optional fields out."""


# --- orders ---------------------------------------------------------------------------------


class Address(_Wire):
    address1: str
    city: str
    country: str
    address2: str | None = None
    company_name: str | None = None
    state: str | None = None
    zip_code: str | None = None


class Recipient(_Wire):
    name: str
    address: Address
    email: str | None = None
    phone_number: str | None = None


class Tag(_Wire):
    name: str
    value: str


class OrderProductRequest(_Wire):
    """A line by reference: ShipBob auto-creates an unknown ``reference_id`` given ``name``."""

    reference_id: str
    name: str
    quantity: int
    sku: str | None = None
    unit_price: float | None = None


class CreateOrderRequest(_Wire):
    reference_id: str
    shipping_method: str
    recipient: Recipient
    products: list[OrderProductRequest]
    type: str
    """``DTC``, ``DropShip`` or ``B2B``; required, so never omitted as a default."""
    order_number: str | None = None
    gift_message: str | None = None
    purchase_date: datetime | None = None
    tags: list[Tag] = msgspec.field(default_factory=list)


class ChannelInfo(_Wire):
    id: int
    name: str | None = None


class OrderProduct(_Wire):
    id: int | None = None
    reference_id: str | None = None
    sku: str | None = None
    quantity: int = 0
    unit_price: float | None = None


class Tracking(_Wire):
    carrier: str | None = None
    carrier_service: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    shipping_date: datetime | None = None


class FulfillmentCenter(_Wire):
    id: int
    name: str | None = None


class ShipmentInventoryItem(_Wire):
    id: int
    quantity: int
    quantity_committed: int = 0
    """Units reserved for it at the shipment's fulfillment center; fewer than ``quantity``
    means that center is out of stock of the item (the spec's wording)."""
    name: str | None = None
    lot: str | None = None


class ShipmentProduct(_Wire):
    id: int
    reference_id: str | None = None
    sku: str | None = None
    name: str | None = None
    inventory_items: list[ShipmentInventoryItem] = msgspec.field(default_factory=list)


class StatusDetail(_Wire):
    """What ShipBob says about a shipment's status, e.g. ``{102, "Labeled", "Label Generated"}``."""

    id: int
    name: str | None = None
    description: str | None = None


class Shipment(_Wire):
    id: int
    order_id: int
    created_date: datetime
    status: str
    """``Processing``, ``LabeledCreated``, ``Completed`` (left ShipBob), ``OnHold``,
    ``Exception``, ``Cancelled`` and a few rarer ones (the spec's ``OrderStatusEnum``)."""
    reference_id: str | None = None
    status_details: list[StatusDetail] = msgspec.field(default_factory=list)
    last_update_at: AwareDatetime | None = None
    actual_fulfillment_date: datetime | None = None
    """Picked, packed and labeled (the spec's wording), not yet left the warehouse."""
    delivery_date: datetime | None = None
    location: FulfillmentCenter | None = None
    products: list[ShipmentProduct] = msgspec.field(default_factory=list)
    tracking: Tracking | None = None
    is_tracking_uploaded: bool = False
    last_tracking_update_at: AwareDatetime | None = None


class Order(_Wire):
    id: int
    created_date: AwareDatetime
    status: str
    type: str = "DTC"
    reference_id: str | None = None
    order_number: str | None = None
    channel: ChannelInfo | None = None
    shipping_method: str | None = None
    recipient: Recipient | None = None
    products: list[OrderProduct] = msgspec.field(default_factory=list)
    shipments: list[Shipment] = msgspec.field(default_factory=list)
    gift_message: str | None = None
    purchase_date: datetime | None = None
    tags: list[Tag] = msgspec.field(default_factory=list)


class ShipmentStamps(_Wire):
    """The part of a shipment that says when it last changed, whether it has left the
    warehouse and whether its tracking was uploaded."""

    status: str | None = None
    is_tracking_uploaded: bool = False
    last_update_at: AwareDatetime | None = None
    last_tracking_update_at: AwareDatetime | None = None


class OrderStamps(_Wire):
    """What a read needs of an order (its id and replication timestamps), decoded strictly
    while the rest of the order is left raw so that one order of unexpected shape fails on
    its own, later, instead of failing the page."""

    id: int
    created_date: AwareDatetime
    shipments: list[ShipmentStamps] = msgspec.field(default_factory=list)


class CanceledShipment(_Wire):
    shipment_id: int
    is_success: bool
    action: str | None = None
    reason: str | None = None


class CanceledOrder(_Wire):
    order_id: int
    status: str
    """``Success``, ``Failure`` or ``PartialSuccess``."""
    order: Order | None = None
    canceled_shipment_results: list[CanceledShipment] = msgspec.field(default_factory=list)


class TrackingUploadRequest(_Wire):
    shipment_ids: list[int]
    is_tracking_uploaded: bool = True


class BulkUpdateError(_Wire):
    code: str | None = None
    message: str | None = None


class BulkUpdateResult(_Wire):
    shipment_id: int = msgspec.field(name="shipmentId")
    is_success: bool = msgspec.field(name="isSuccess")
    error: BulkUpdateError | None = None


class BulkUpdateSummary(_Wire):
    total: int = 0
    successful: int = 0
    failed: int = 0


class BulkUpdateResponse(_Wire):
    results: list[BulkUpdateResult] = msgspec.field(default_factory=list)
    summary: BulkUpdateSummary | None = None


# --- products -------------------------------------------------------------------------------


class DimensionRequest(_Wire):
    length: float
    width: float
    height: float


class BarcodeRequest(_Wire):
    value: str


class BundleComponentRequest(_Wire):
    """One component of a bundle variant, by the component variant's id."""

    variant_id: int
    quantity: int


class CreateVariantRequest(_Wire):
    name: str
    sku: str
    weight: float | None = None
    """Ounces."""
    dimension: DimensionRequest | None = None
    """Inches."""
    barcodes: list[BarcodeRequest] = msgspec.field(default_factory=list)


class UpdateVariantRequest(_Wire):
    """One variant of ``PATCH /product/{id}/variants``: only the fields sent change."""

    id: int
    name: str | None = None
    weight: float | None = None
    """Ounces."""
    dimension: DimensionRequest | None = None
    """Inches."""
    barcodes: list[BarcodeRequest] | None = None
    bundle_definition: list[BundleComponentRequest] | None = None
    """The new components; an empty list makes the variant no bundle any more."""


class CreateProductRequest(_Wire):
    name: str
    variants: list[CreateVariantRequest]
    type_id: int = 1
    """1 = regular, 2 = bundle (an integer in the 2026-01 spec)."""


class WeightView(_Wire):
    weight: float
    unit: str | None = None


class DimensionView(_Wire):
    length: float
    width: float
    height: float
    unit: str | None = None


class Barcode(_Wire):
    value: str | None = None
    sticker_url: str | None = None


class BundleComponentView(_Wire):
    """One component of a bundle variant as ShipBob shows it."""

    variant_id: int
    quantity: int
    product_id: int | None = None
    variant_sku: str | None = None
    variant_name: str | None = None


class VariantInventory(_Wire):
    inventory_id: int | None = None
    on_hand_qty: int = 0


class Variant(_Wire):
    id: int
    sku: str | None = None
    name: str | None = None
    status: str | None = None
    upc: str | None = None
    gtin: str | None = None
    weight: WeightView | None = None
    dimension: DimensionView | None = None
    inventory: VariantInventory | None = None
    barcodes: list[Barcode] = msgspec.field(default_factory=list)
    bundle_definition: list[BundleComponentView] | None = None
    """The variant's components when it is a bundle; empty or null when it is not."""
    created_on: datetime | None = None
    updated_on: AwareDatetime | None = None


class Product(_Wire):
    id: int
    created_on: datetime
    name: str | None = None
    type: str | None = None
    updated_on: AwareDatetime | None = None
    variants: list[Variant] = msgspec.field(default_factory=list)


class ProductPage(_Wire):
    items: list[Product]
    first: str | None = None
    next: str | None = None
    prev: str | None = None
    last: str | None = None


# --- inventory ------------------------------------------------------------------------------


class LocationQuantity(_Wire):
    location_id: int
    name: str | None = None
    on_hand_quantity: int = 0
    fulfillable_quantity: int = 0
    committed_quantity: int = 0
    awaiting_quantity: int = 0
    internal_transfer_quantity: int = 0


class InventoryLocations(_Wire):
    inventory_id: int
    sku: str | None = None
    name: str | None = None
    locations: list[LocationQuantity] = msgspec.field(default_factory=list)


class InventoryLocationsPage(_Wire):
    items: list[InventoryLocations]
    first: str | None = None
    next: str | None = None
    prev: str | None = None
    last: str | None = None


class InventoryTotals(_Wire):
    inventory_id: int
    sku: str | None = None
    name: str | None = None
    total_on_hand_quantity: int = 0
    total_fulfillable_quantity: int = 0
    total_committed_quantity: int = 0
    total_exception_quantity: int = 0
    total_sellable_quantity: int = 0
    total_awaiting_quantity: int = 0
    total_backordered_quantity: int = 0
    total_internal_transfer_quantity: int = 0


class InventoryTotalsPage(_Wire):
    items: list[InventoryTotals]
    first: str | None = None
    next: str | None = None
    prev: str | None = None
    last: str | None = None


# --- channels and webhooks ------------------------------------------------------------------


class Channel(_Wire):
    id: int
    name: str | None = None
    application_name: str | None = None
    scopes: list[str] = msgspec.field(default_factory=list)


class ChannelPage(_Wire):
    items: list[Channel]
    next: str | None = None
    prev: str | None = None


class CreateWebhookRequest(_Wire):
    url: str
    topics: list[str]
    description: str | None = None
    secret: str | None = None


class WebhookCreated(_Wire):
    """The answer to a subscription: the only time ShipBob shows the secret."""

    id: str
    url: str
    topics: list[str]
    secret: str
    created_at: datetime
    description: str | None = None


class Webhook(_Wire):
    id: str
    url: str
    topics: list[str]
    created_at: datetime
    enabled: bool = True
    description: str | None = None


class WebhookPage(_Wire):
    items: list[Webhook]
    next: str | None = None
    prev: str | None = None
