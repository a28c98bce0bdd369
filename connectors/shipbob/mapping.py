"""Pure functions between ShipBob's wire types and the canonical model (no I/O).

Choices stated once:

- An order's ShipBob ``reference_id`` is ``"<origin>:<store order id>"`` (spelt so that it
  splits back, see :func:`reference_id`), e.g.
  ``shopify:example.myshopify.com:gid://shopify/Order/5512345678``: unique across every store
  feeding the account, and immutable (the origin is the store's permanent identity, not the
  channel's config name, so renaming a channel creates no order twice), so it is the remote
  idempotency key; the store's order number ("#1001") travels as ``order_number``.
- ShipBob wants ounces and inches; canonical weights and dimensions are converted.
- ShipBob reports exception units only network-wide (``total_exception_quantity``), not per
  fulfillment center, so they are put on a level whose location is ``"network"`` with all
  other quantities 0: summing levels per SKU still gives fulfillable - exception.
- A fulfillment center's ``location`` is its ShipBob ``location_id`` as a string (names change).
- Only a shipment that has left the warehouse is tracking to push to a store: status
  ``Completed`` (kept once delivered; ShipBob: "it has left ShipBob"). A ``LabeledCreated``
  shipment already has a carrier and tracking number, and ShipBob's guide counts it as having
  tracking, but it is still in the building, and the store would tell the customer it has
  shipped. ShipBob moves it to ``Completed`` soon after with a new ``last_update_at``, so a
  later read pushes it (the poll finds it whether or not a webhook announces the change).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from connectors import model
from connectors.base import decode_strictly
from connectors.errors import RecordError
from connectors.shipbob import wire

NETWORK_LOCATION = "network"
DEFAULT_SHIPPING_METHOD = "Standard"
SHIPPED_STATUS = "Completed"


REFERENCE_ID_MAX = 300
"""ShipBob's limit on an order's ``reference_id`` (``CreateOrderModel``, 2026-01)."""
_ESCAPES = {"%": "%25", ":": "%3A"}
_ESCAPED = re.compile("|".join(_ESCAPES.values()))
_UNESCAPES = {escaped: raw for raw, escaped in _ESCAPES.items()}


def _escape(store_id: str) -> str:
    return "".join(_ESCAPES.get(character, character) for character in store_id)


def reference_id(origin: str, store_order_id: str) -> str:
    """The ShipBob ``reference_id`` of a store order: ``<platform>:<store id>:<store order id>``.

    ``origin`` is ``<platform>:<store id>`` (:func:`connectors.model.origin`). The store id
    is the one part escaped (``%`` → ``%25``, ``:`` → ``%3A``, which a myshopify domain never
    needs), so the first two ``:`` always end the platform and the store id, and the store
    order id, which may hold ``:`` and ``/`` (a GID), follows verbatim. Raises ``ValueError``
    for an origin of another shape, an empty store order id, or a reference longer than
    ShipBob's :data:`REFERENCE_ID_MAX`.
    """
    parts = model.split_origin(origin)
    if parts is None:
        raise ValueError(f"origin {origin!r} is not <platform>:<store id>")
    if not store_order_id:
        raise ValueError("the store order id is empty")
    platform, store_id = parts
    reference = f"{platform}:{_escape(store_id)}:{store_order_id}"
    if len(reference) > REFERENCE_ID_MAX:
        raise ValueError(
            f"reference id of {len(reference)} characters exceeds ShipBob's {REFERENCE_ID_MAX}"
        )
    return reference


def split_reference_id(reference: str) -> tuple[str, str] | None:
    """``(origin, store_order_id)`` of a reference made by :func:`reference_id`; None for
    any other reference (an order created in ShipBob by other means)."""
    platform, _, rest = reference.partition(":")
    escaped, separator, store_order_id = rest.partition(":")
    store_id = _ESCAPED.sub(lambda match: _UNESCAPES[match[0]], escaped)
    # Only the one spelling reference_id gives: no two references name the same order.
    if not separator or _escape(store_id) != escaped:
        return None
    try:
        origin = model.origin(platform, store_id)
    except ValueError:
        return None
    return (origin, store_order_id) if store_order_id else None


def _float(value: Decimal) -> float:
    return float(round(value, 4))


def order_request(order: model.Order) -> wire.CreateOrderRequest:
    """The ShipBob create-order body for a canonical order.

    Raises ``RecordError`` (reason ``incomplete_address``) when the order has no recipient:
    ShipBob requires one, and the order filter should not have let it through; and (reason
    ``reference_id``) when its origin and store order id give no valid reference id.
    """
    recipient = order.recipient
    if recipient is None:
        raise RecordError(
            f"order {order.store_order_id} has no shipping address",
            entity="order",
            reason="incomplete_address",
        )
    try:
        reference = reference_id(order.origin, order.store_order_id)
    except ValueError as exc:
        raise RecordError(
            f"order {order.store_order_id}: {exc}", entity="order", reason="reference_id"
        ) from None
    return wire.CreateOrderRequest(
        reference_id=reference,
        type="DTC",
        order_number=order.reference_id,
        shipping_method=order.shipping_method or DEFAULT_SHIPPING_METHOD,
        recipient=wire.Recipient(
            name=recipient.name,
            email=recipient.email,
            phone_number=recipient.phone,
            address=wire.Address(
                address1=recipient.address1,
                address2=recipient.address2,
                company_name=recipient.company,
                city=recipient.city,
                state=recipient.state,
                zip_code=recipient.zip,
                country=recipient.country,
            ),
        ),
        products=[
            wire.OrderProductRequest(
                reference_id=line.sku,
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                unit_price=None if line.unit_price is None else _float(line.unit_price),
            )
            for line in order.lines
        ],
        gift_message=order.gift_message,
        purchase_date=order.created_at,
        tags=[wire.Tag(name="shelfsync_channel", value=order.channel)],
    )


def _ounces(item: model.Item) -> float | None:
    return None if item.weight is None else _float(item.weight.to("oz").value)


def _inches(item: model.Item) -> wire.DimensionRequest | None:
    if item.dimensions is None:
        return None
    inches = item.dimensions.to("in")
    return wire.DimensionRequest(
        length=_float(inches.length), width=_float(inches.width), height=_float(inches.height)
    )


def product_request(item: model.Item) -> wire.CreateProductRequest:
    """A one-variant ShipBob product for a canonical item, in ounces and inches."""
    return wire.CreateProductRequest(
        name=item.name,
        variants=[
            wire.CreateVariantRequest(
                name=item.name,
                sku=item.sku,
                weight=_ounces(item),
                dimension=_inches(item),
                barcodes=[wire.BarcodeRequest(value=item.barcode)] if item.barcode else [],
            )
        ],
    )


def variant_update(item: model.Item, variant_id: int) -> wire.UpdateVariantRequest:
    """The update that gives ShipBob's variant ``variant_id`` the item's name, weight
    (ounces), dimensions (inches) and barcode; what the item lacks is not sent, so ShipBob
    keeps what it has."""
    return wire.UpdateVariantRequest(
        id=variant_id,
        name=item.name,
        weight=_ounces(item),
        dimension=_inches(item),
        barcodes=[wire.BarcodeRequest(value=item.barcode)] if item.barcode else None,
    )


def items(channel: str, product: wire.Product) -> list[model.Item]:
    """One canonical item per variant; a variant without SKU gets the channel fallback key,
    and so does a bundle's component that ShipBob names by variant id alone. A bundle
    variant's item carries its components."""
    result = []
    for variant in product.variants:
        store_id = str(variant.id)
        weight = None
        if variant.weight is not None:
            weight = model.Weight(value=Decimal(str(variant.weight.weight)), unit="oz")
        dimensions = None
        if variant.dimension is not None:
            d = variant.dimension
            dimensions = model.Dimensions(
                length=Decimal(str(d.length)),
                width=Decimal(str(d.width)),
                height=Decimal(str(d.height)),
                unit="in",
            )
        barcode = next((b.value for b in variant.barcodes if b.value), variant.upc)
        components = [
            model.BundleComponent(
                sku=part.variant_sku or model.fallback_sku(channel, str(part.variant_id)),
                quantity=part.quantity,
            )
            for part in variant.bundle_definition or []
        ]
        result.append(
            model.Item(
                channel=channel,
                store_item_id=store_id,
                sku=variant.sku or model.fallback_sku(channel, store_id),
                name=variant.name or product.name or store_id,
                weight=weight,
                dimensions=dimensions,
                barcode=barcode,
                components=components,
                updated_at=variant.updated_on or product.updated_on,
            )
        )
    return result


def product_updated_at(product: wire.Product) -> datetime | None:
    """When ShipBob last changed the product or any of its variants; None if it says not."""
    stamps = [product.updated_on, *(v.updated_on for v in product.variants)]
    return max((s for s in stamps if s is not None), default=None)


def inventory_levels(
    channel: str, item: wire.InventoryLocations, totals: wire.InventoryTotals | None
) -> list[model.InventoryLevel]:
    """One level per fulfillment center, plus the network-wide exception level (see above)."""
    sku = item.sku or model.fallback_sku(channel, str(item.inventory_id))
    levels = [
        model.InventoryLevel(
            sku=sku,
            location=str(loc.location_id),
            fulfillable=loc.fulfillable_quantity,
            on_hand=loc.on_hand_quantity,
            committed=loc.committed_quantity,
        )
        for loc in item.locations
    ]
    if totals is not None:
        levels.append(
            model.InventoryLevel(
                sku=sku,
                location=NETWORK_LOCATION,
                fulfillable=0,
                on_hand=0,
                committed=0,
                exception=totals.total_exception_quantity,
            )
        )
    return levels


def decode_order(body: bytes) -> wire.Order:
    """A ``shipments`` record's body as a ShipBob order; one of unexpected shape is a
    ``RecordError`` (reason ``schema``) about that order alone, naming the field path."""
    return decode_strictly(
        body, wire.Order, what="ShipBob order: unexpected payload", entity="order"
    )


def order_updated_at(order: wire.Order | wire.OrderStamps) -> datetime:
    """When ShipBob last changed the order: its latest shipment update, else its creation."""
    stamps = [order.created_date]
    for shipment in order.shipments:
        stamps += [s for s in (shipment.last_update_at, shipment.last_tracking_update_at) if s]
    return max(stamps)


def shipped(shipment: wire.Shipment | wire.ShipmentStamps) -> bool:
    """Whether the shipment has left the warehouse (see the module docstring)."""
    return shipment.status == SHIPPED_STATUS


def awaits_tracking_upload(order: wire.OrderStamps) -> bool:
    """Whether the order has a shipped shipment whose tracking is not yet uploaded."""
    return any(shipped(s) and not s.is_tracking_uploaded for s in order.shipments)


def shipments(order: wire.Order) -> list[model.Shipment]:
    """One canonical shipment per shipped ShipBob shipment (split orders give several);
    shipments still in the warehouse, cancelled or held are left out."""
    result = []
    for shipment in filter(shipped, order.shipments):
        tracking = shipment.tracking or wire.Tracking()
        lines = []
        for product in shipment.products:
            quantity = sum(item.quantity for item in product.inventory_items)
            sku = product.sku or product.reference_id or str(product.id)
            lines.append(model.ShipmentLine(sku=sku, quantity=quantity))
        reference = order.reference_id or shipment.reference_id or str(order.id)
        store_order = split_reference_id(reference)
        result.append(
            model.Shipment(
                shipment_id=str(shipment.id),
                order_reference=reference,
                lines=lines,
                carrier=tracking.carrier,
                tracking_number=tracking.tracking_number,
                tracking_url=tracking.tracking_url,
                shipped_at=tracking.shipping_date or shipment.actual_fulfillment_date,
                origin=store_order[0] if store_order else None,
                store_order_id=store_order[1] if store_order else None,
            )
        )
    return result
