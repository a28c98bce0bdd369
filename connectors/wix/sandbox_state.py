"""The Wix sandbox's site: a Catalog V1 store with its inventory, eCommerce orders and their
fulfillments, and the rules Wix applies to them.

Everything generated comes from one seeded ``random.Random`` (:mod:`.sandbox_seed`); times
are ``epoch`` plus the Trio time elapsed, so a virtual clock drives ``lastUpdated`` and
``updatedDate``. Entities are rendered as Wix's JSON by ``*_json``; every change that Wix
announces with a webhook calls ``notify(event_type, entity_fqdn, slug, entity_id, body)``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec
import trio

from connectors.sandbox_faults import RateScale

WIX_STORES_APP_ID = "215238eb-22a5-4c36-9e7b-e7c08025e04e"
"""The ``catalogReference.appId`` of Wix Stores items (as in Wix's order examples)."""
PREDEFINED_LINKS = {
    "fedex": "https://www.fedex.com/apps/fedextrack/?action=track&trackingnumber={}",
    "ups": "https://wwwapps.ups.com/WebTracking/track?track=yes&trackNums={}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
    "dhl": "https://www.logistics.dhl/global-en/home/tracking.html?tracking-id={}",
    "canadaPost": "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={}",
}
"""Providers for which Wix fills ``trackingLink`` itself (links as in Wix's examples)."""
MAX_FULFILLMENT_LINES = 300

Notify = Callable[[str, str, str, str, dict[str, Any]], None]


class Faults(msgspec.Struct, forbid_unknown_fields=True):
    """Fault knobs, all off by default; randomness comes from the site's seeded generator."""

    error_rate: float = 0.0
    """Share of API calls answered 500."""
    latency_ms: float = 0.0
    timeout_rate: float = 0.0
    """Share of API calls that hang for two minutes (Trio time), then answer 504."""
    throttle_burst: int = 0
    """The next N API calls are answered 429, as if another app had spent the minute."""
    duplicate_webhooks: bool = False
    """Deliver every event twice, with the same event id."""
    out_of_order_webhooks: bool = False
    """Hold every other event back by Wix's first retry delay, so the next overtakes it."""
    rate_scale: RateScale = 1.0
    """The sliding window admits Wix's 200 requests a minute times this; setting it empties
    the window."""


@dataclass
class Variant:
    id: str
    choices: dict[str, str]
    sku: str
    weight: float | None
    quantity: int


@dataclass
class Product:
    id: str
    numeric_id: int
    name: str
    sku: str
    weight: float | None
    track_inventory: bool
    image_url: str | None
    options: list[tuple[str, list[str]]]
    variants: list[Variant]
    created: datetime
    last_updated: datetime

    @property
    def manage_variants(self) -> bool:
        return bool(self.options)


@dataclass
class Line:
    id: str
    product_id: str
    variant_id: str
    name: str
    sku: str
    quantity: int
    price: str
    shippable: bool = True


@dataclass
class Order:
    id: str
    number: int
    created: datetime
    updated: datetime
    status: str
    payment_status: str
    lines: list[Line]
    shipping_title: str
    destination: dict[str, Any]
    email: str
    buyer_note: str | None = None
    custom_fields: list[dict[str, Any]] = field(default_factory=list)
    fulfillments: list[dict[str, Any]] = field(default_factory=list)

    def fulfilled(self, line_id: str) -> int:
        return sum(
            item["quantity"]
            for f in self.fulfillments
            for item in f["lineItems"]
            if item["id"] == line_id
        )

    @property
    def fulfillment_status(self) -> str:
        done = [self.fulfilled(line.id) >= line.quantity for line in self.lines]
        if all(done):
            return "FULFILLED"
        if any(self.fulfilled(line.id) for line in self.lines):
            return "PARTIALLY_FULFILLED"
        return "NOT_FULFILLED"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WixError(Exception):
    """A refusal in Wix's shape: status, message and application error code or violations."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        violations: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.violations = violations

    def body(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.violations is not None:
            details["validationError"] = {
                "fieldViolations": [
                    {"field": f, "description": d, "violatedRule": "INVALID"}
                    for f, d in self.violations
                ]
            }
        else:
            details["applicationError"] = {
                "code": self.code or "UNKNOWN",
                "description": self.message,
                "data": {},
            }
        return {"message": self.message, "details": details}


def invalid(field_name: str, description: str) -> WixError:
    return WixError(
        400, f"INVALID_ARGUMENT: {field_name} {description}", violations=[(field_name, description)]
    )


class SiteState:
    """The site. Mutated only by the sandbox's handlers, all on one Trio thread."""

    def __init__(self, seed: int, epoch: datetime | None = None) -> None:
        self.rng = random.Random(seed)
        self.epoch = (epoch or datetime.now(UTC)).replace(microsecond=0)
        self._clock_start: float | None = None
        self.site_id = self.uuid()
        self.instance_id = self.uuid()
        self.api_key = "IST.sandbox-wix-api-key"
        self.app_id = self.uuid()
        self.app_secret = "sandbox-app-secret"
        self.tokens: dict[str, float] = {}
        """Access tokens issued → the Trio time they expire."""
        self.catalog: Literal["V1", "V3"] = "V1"
        """The catalog version the site runs; the other version's calls answer 428."""
        self.products: dict[str, Product] = {}
        self.orders: dict[str, Order] = {}
        self.faults = Faults()
        self.requests: list[dict[str, Any]] = []
        self.noop_writes = 0
        """Inventory updates whose every variant already had what they set."""
        self.next_numeric_id = 1_600_000_000_000_000
        self.next_order_number = 10001
        self.notify: Notify = lambda *_: None

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def now(self) -> datetime:
        """``epoch`` plus the Trio time elapsed since the sandbox first looked at the clock,
        to the millisecond."""
        current = trio.current_time()
        if self._clock_start is None:
            self._clock_start = current
        return self.epoch + timedelta(milliseconds=int((current - self._clock_start) * 1000))

    # -- catalog --------------------------------------------------------------------------

    def product_json(self, product: Product, *, variants: bool = True) -> dict[str, Any]:
        total = sum(v.quantity for v in product.variants)
        body: dict[str, Any] = {
            "id": product.id,
            "name": product.name,
            "slug": product.name.lower().replace(" ", "-"),
            "visible": True,
            "productType": "physical",
            "sku": product.sku,
            "weight": product.weight or 0,
            "stock": {
                "trackInventory": product.track_inventory,
                "inStock": total > 0 if product.track_inventory else True,
                "inventoryStatus": "IN_STOCK" if total > 0 else "OUT_OF_STOCK",
                **({"quantity": total} if product.track_inventory else {}),
            },
            "productOptions": [
                {
                    "optionType": "drop_down",
                    "name": name,
                    "choices": [{"value": v, "description": v, "inStock": True} for v in values],
                }
                for name, values in product.options
            ],
            "manageVariants": product.manage_variants,
            "numericId": str(product.numeric_id),
            "lastUpdated": iso(product.last_updated),
            "createdDate": iso(product.created),
        }
        if product.image_url:
            body["media"] = {
                "mainMedia": {"image": {"url": product.image_url}, "mediaType": "image"}
            }
        if variants:
            body["variants"] = [self.variant_json(product, v) for v in product.variants]
        return body

    def variant_json(self, product: Product, variant: Variant) -> dict[str, Any]:
        stock: dict[str, Any] = {
            "trackQuantity": product.track_inventory,
            "inStock": variant.quantity > 0 if product.track_inventory else True,
        }
        if product.track_inventory:
            stock["quantity"] = variant.quantity
        data: dict[str, Any] = {"visible": True, "weight": variant.weight or 0}
        if variant.sku:
            data["sku"] = variant.sku
        return {"id": variant.id, "choices": variant.choices, "variant": data, "stock": stock}

    def store_variant_filterable(self, product: Product, variant: Variant) -> dict[str, Any]:
        """The fields of the variant as Query Store Variants gives it that its filter can
        name (a default variant carries its product's SKU)."""
        return {
            "id": f"{product.id}-{variant.id}",
            "variantId": variant.id,
            "productId": product.id,
            "productName": product.name,
            "managedVariant": product.manage_variants,
            "sku": variant.sku or (product.sku if not product.options else ""),
        }

    def store_variant_json(self, product: Product, variant: Variant) -> dict[str, Any]:
        """The variant as Query Store Variants gives it."""
        return self.store_variant_filterable(product, variant) | {
            "variantName": " | ".join(variant.choices.values()),
            "stock": self.variant_json(product, variant)["stock"],
            "choices": variant.choices,
        }

    def inventory_json(self, product: Product) -> dict[str, Any]:
        return {
            "inventoryItem": {
                "id": product.id,
                "externalId": product.id,
                "productId": product.id,
                "trackQuantity": product.track_inventory,
                "variants": [
                    {
                        "variantId": v.id,
                        "inStock": v.quantity > 0 if product.track_inventory else True,
                        **({"quantity": v.quantity} if product.track_inventory else {}),
                    }
                    for v in product.variants
                ],
                "lastUpdated": iso(product.last_updated),
                "numericId": str(product.numeric_id),
            }
        }

    def find_variant(self, sku: str) -> tuple[Product, Variant] | None:
        for product in self.products.values():
            for variant in product.variants:
                if variant.sku == sku:
                    return product, variant
        return None

    def product_changed(self, product: Product, changed: list[str]) -> None:
        """Stamp ``product`` and announce it with the Stores V1 legacy event."""
        product.last_updated = self.now()
        self.notify(
            "com.wix.ecommerce.catalog.api.v1.ProductChanged",
            "",
            "",
            product.id,
            {"productId": product.id, "changedFields": changed},
        )

    def update_inventory(self, product_id: str, item: Any) -> None:
        """Apply ``PATCH /stores/v2/inventoryItems/product/{productId}``'s ``inventoryItem``."""
        product = self.products.get(product_id)
        if product is None:
            raise WixError(404, f"Product {product_id} not found", code="PRODUCT_NOT_FOUND")
        if not isinstance(item, dict) or not isinstance(item.get("variants", []), list):
            raise invalid("inventoryItem", "must be an object with a list of variants")
        track = item.get("trackQuantity", product.track_inventory)
        if not isinstance(track, bool):
            raise invalid("inventoryItem.trackQuantity", "must be a boolean")
        by_id = {v.id: v for v in product.variants}
        changes: list[tuple[Variant, int]] = []
        for n, change in enumerate(item.get("variants", [])):
            variant = by_id.get(str(change.get("variantId"))) if isinstance(change, dict) else None
            if variant is None:
                raise invalid(
                    f"inventoryItem.variants[{n}].variantId", "is not a variant of the product"
                )
            if "quantity" in change:
                quantity = change["quantity"]
                if not track:
                    raise invalid(
                        f"inventoryItem.variants[{n}].quantity",
                        "applies only when trackQuantity is true; set inStock instead",
                    )
                if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
                    raise invalid(
                        f"inventoryItem.variants[{n}].quantity", "must be a non-negative integer"
                    )
                changes.append((variant, quantity))
            elif "inStock" in change:
                if track:
                    raise invalid(
                        f"inventoryItem.variants[{n}].inStock", "is set from quantity when tracked"
                    )
                changes.append((variant, 1 if change["inStock"] else 0))
        if track == product.track_inventory and all(v.quantity == n for v, n in changes):
            self.noop_writes += 1
        product.track_inventory = track
        for variant, quantity in changes:
            variant.quantity = quantity

    # -- orders ---------------------------------------------------------------------------

    def order_json(self, order: Order) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": order.id,
            "number": str(order.number),
            "createdDate": iso(order.created),
            "updatedDate": iso(order.updated),
            "status": order.status,
            "paymentStatus": order.payment_status,
            "fulfillmentStatus": order.fulfillment_status,
            "archived": False,
            "currency": "USD",
            "weightUnit": "KG",
            "buyerInfo": {"email": order.email, "contactId": self.uuid_of(order.id, "contact")},
            "lineItems": [
                {
                    "id": line.id,
                    "productName": {"original": line.name, "translated": line.name},
                    "catalogReference": {
                        "catalogItemId": line.product_id,
                        "appId": WIX_STORES_APP_ID,
                        "options": {"variantId": line.variant_id},
                    },
                    "quantity": line.quantity,
                    "physicalProperties": {
                        **({"sku": line.sku} if line.sku else {}),
                        "shippable": line.shippable,
                    },
                    "price": {"amount": line.price, "formattedAmount": f"${line.price}"},
                    "descriptionLines": [],
                }
                for line in order.lines
            ],
            "shippingInfo": {
                "title": order.shipping_title,
                "code": order.shipping_title.lower(),
                "logistics": {"shippingDestination": order.destination},
                "cost": {"price": {"amount": "5.00"}},
            },
            "recipientInfo": order.destination,
            "billingInfo": order.destination,
            "channelInfo": {"type": "WEB"},
            "customFields": order.custom_fields,
        }
        if order.buyer_note:
            body["buyerNote"] = order.buyer_note
        return body

    @staticmethod
    def uuid_of(seed: str, kind: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}:{seed}"))

    def order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise WixError(404, f"Order with id {order_id} not found", code="ORDER_NOT_FOUND")
        return order

    def touch(self, order: Order, slug: str) -> None:
        """Stamp ``order`` and announce the change (and ``updated`` after any other slug)."""
        order.updated = self.now()
        body = self.order_json(order)
        self.notify(f"wix.ecom.v1.order_{slug}", "wix.ecom.v1.order", slug, order.id, body)
        if slug not in ("created", "updated"):
            self.notify("wix.ecom.v1.order_updated", "wix.ecom.v1.order", "updated", order.id, body)

    def create_order(
        self,
        lines: list[tuple[Product, Variant, int]],
        *,
        paid: bool,
        shipping_title: str,
        destination: dict[str, Any],
        email: str,
        note: str | None = None,
        gift_message: str | None = None,
        initialized: bool = False,
        at: datetime | None = None,
    ) -> Order:
        """A placed order (``APPROVED``), or a checkout in progress (``INITIALIZED``)."""
        moment = at or self.now()
        order = Order(
            id=self.uuid(),
            number=self.next_order_number,
            created=moment,
            updated=moment,
            status="INITIALIZED" if initialized else "APPROVED",
            payment_status="PAID" if paid else "NOT_PAID",
            lines=[
                Line(
                    id=f"00000000-0000-0000-0000-{n + 1:012d}",
                    product_id=product.id,
                    variant_id=variant.id,
                    name=product.name,
                    sku=variant.sku,
                    quantity=quantity,
                    price=f"{self.rng.randrange(5, 80)}.00",
                )
                for n, (product, variant, quantity) in enumerate(lines)
            ],
            shipping_title=shipping_title,
            destination=destination,
            email=email,
            buyer_note=note,
            custom_fields=[{"title": "Gift message", "value": gift_message}]
            if gift_message
            else [],
        )
        self.next_order_number += 1
        self.orders[order.id] = order
        if at is None:
            self.touch(order, "created")
            if not initialized:
                self.touch(order, "approved")
        return order

    def cancel_order(self, order: Order) -> None:
        if order.status != "APPROVED":
            raise WixError(428, f"Order {order.id} is {order.status}", code="ORDER_NOT_APPROVED")
        order.status = "CANCELED"
        self.touch(order, "canceled")

    def create_fulfillment(self, order: Order, fulfillment: Any) -> dict[str, Any]:
        """Wix's rules for ``create-fulfillment``: an approved order; line items that are the
        order's, each at most its unfulfilled quantity (splitting is allowed); at most 300."""
        if order.status != "APPROVED":
            raise WixError(
                428,
                f"Order {order.id} is {order.status}: only approved orders can be fulfilled",
                code="ORDER_NOT_APPROVED",
            )
        if not isinstance(fulfillment, dict):
            raise invalid("fulfillment", "is required")
        items = fulfillment.get("lineItems")
        if not isinstance(items, list) or not items:
            raise invalid("fulfillment.lineItems", "must have at least 1 item")
        if len(items) > MAX_FULFILLMENT_LINES:
            raise invalid(
                "fulfillment.lineItems", f"must have at most {MAX_FULFILLMENT_LINES} items"
            )
        lines = {line.id: line for line in order.lines}
        taken: dict[str, int] = {}
        for n, item in enumerate(items):
            line = lines.get(str(item.get("id"))) if isinstance(item, dict) else None
            if line is None:
                raise invalid(f"fulfillment.lineItems[{n}].id", "is not a line item of the order")
            quantity = item.get("quantity", line.quantity)
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                raise invalid(f"fulfillment.lineItems[{n}].quantity", "must be a positive integer")
            taken[line.id] = taken.get(line.id, 0) + quantity
            if taken[line.id] > line.quantity - order.fulfilled(line.id):
                raise WixError(
                    400,
                    f"Line item {line.id} has {line.quantity - order.fulfilled(line.id)} "
                    "units left to fulfill",
                    code="QUANTITY_EXCEEDS_REMAINING",
                )
        tracking = fulfillment.get("trackingInfo")
        created: dict[str, Any] = {
            "id": self.uuid(),
            "createdDate": iso(self.now()),
            "lineItems": [{"id": line_id, "quantity": q} for line_id, q in taken.items()],
        }
        if isinstance(tracking, dict):
            info = {
                k: v
                for k, v in tracking.items()
                if k in ("trackingNumber", "shippingProvider", "trackingLink")
            }
            template = PREDEFINED_LINKS.get(info.get("shippingProvider", ""))
            if template and info.get("trackingNumber") and not info.get("trackingLink"):
                info["trackingLink"] = template.format(info["trackingNumber"])
            created["trackingInfo"] = info
        order.fulfillments.append(created)
        self.touch(order, "updated")
        self.notify(
            "wix.ecom.v1.fulfillments_updated",
            "wix.ecom.v1.fulfillments",
            "updated",
            order.id,
            self.fulfillments_json(order),
        )
        return created

    def fulfillments_json(self, order: Order) -> dict[str, Any]:
        return {"orderId": order.id, "fulfillments": order.fulfillments}
