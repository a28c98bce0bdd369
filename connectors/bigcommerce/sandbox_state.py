"""The BigCommerce sandbox's in-memory store: catalog, stock, orders, shipments and hooks.

Everything is generated from ``random.Random(seed)`` (:mod:`.sandbox_seed`), so one seed always
gives the same ids, SKUs, quantities and orders. Times come from the injected ``now`` (wall
clock by default); rate-limit time does not (it is trio's clock, see :mod:`.sandbox`).
``notify(scope, data)`` is told of every event BigCommerce would send a webhook for (the app
connects its webhook sender; by default nothing listens).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from connectors.sandbox_faults import RateScale, scaled_limit

SANDBOX_TOKEN = "bigcommerce-sandbox-token"
"""The one ``X-Auth-Token`` the sandbox accepts."""
STORE_HASH = "sbx7a2k9"
"""The store hash of the sandbox's store (``/stores/sbx7a2k9/v3/...``)."""
STORE_ID = "1025646"
"""The numeric store id callbacks carry in ``store_id``."""
Reply = tuple[int, Any]
"""What the sandbox's handlers answer: ``(status, JSON-able body or None for no body)``."""
LOCATIONS = {1: "Default location", 2: "Back room"}
STATUS_NAMES = {
    0: "Incomplete",
    1: "Pending",
    2: "Shipped",
    3: "Partially Shipped",
    4: "Refunded",
    5: "Cancelled",
    6: "Declined",
    7: "Awaiting Payment",
    8: "Awaiting Pickup",
    9: "Awaiting Shipment",
    10: "Completed",
    11: "Awaiting Fulfillment",
    12: "Manual Verification Required",
    13: "Disputed",
    14: "Partially Refunded",
}


class Faults(msgspec.Struct, forbid_unknown_fields=True):
    """The ``POST /_sandbox/faults`` knobs (applied with ``merge_faults``)."""

    latency_ms: float = 0.0
    timeout_rate: float = 0.0
    error_rate: float = 0.0
    """Share of API calls answered 500 (v2 error array / v3 error body)."""
    throttle_burst: int = 0
    """The next N API calls get 429 with the rate headers, as if another app drained the quota."""
    overload_burst: int = 0
    """The next N API calls get a 429 without rate headers: platform overload."""
    quota: int = 150
    """Requests per window (Standard plan: 150)."""
    window_ms: int = 30_000
    duplicate_webhooks: bool = False
    """Every callback is queued twice: the same body and ``hash``."""
    out_of_order_webhooks: bool = False
    """Every other callback is held back by one retry step, so a later event arrives first."""
    rate_scale: RateScale = 1.0
    """Multiplies ``quota`` (see :attr:`scaled_quota`); setting it ends the window, so the
    next request opens an unused one."""

    @property
    def scaled_quota(self) -> int:
        """The requests a window admits, as the rate headers tell them: ``quota`` times
        ``rate_scale``."""
        return scaled_limit(self.quota, self.rate_scale)


class Variant(msgspec.Struct):
    id: int
    product_id: int
    sku: str
    sku_id: int | None
    option_values: list[dict[str, Any]]
    weight: float | None = None
    width: float | None = None
    height: float | None = None
    depth: float | None = None
    upc: str | None = None
    price: float = 10.0


class Image(msgspec.Struct):
    id: int
    product_id: int
    url: str
    is_thumbnail: bool
    sort_order: int
    date_modified: datetime


class Product(msgspec.Struct):
    id: int
    name: str
    sku: str
    weight: float
    width: float
    depth: float
    height: float
    price: float
    inventory_tracking: str
    upc: str
    date_created: datetime
    date_modified: datetime
    variants: list[Variant]
    images: list[Image]
    type: str = "physical"
    is_visible: bool = True

    @property
    def base_variant_id(self) -> int | None:
        has_options = any(v.option_values for v in self.variants)
        return None if has_options else self.variants[0].id


class OrderProduct(msgspec.Struct):
    id: int
    order_id: int
    product_id: int
    variant_id: int
    order_address_id: int
    name: str
    sku: str
    quantity: int
    price: float
    product_options: list[dict[str, Any]]
    quantity_shipped: int = 0
    quantity_refunded: int = 0
    wrapping_name: str | None = None
    wrapping_message: str = ""
    type: str = "physical"


class Address(msgspec.Struct):
    id: int
    order_id: int
    first_name: str
    last_name: str
    street_1: str
    city: str
    state: str
    zip: str
    country: str
    country_iso2: str
    email: str
    shipping_method: str
    street_2: str = ""
    company: str = ""
    phone: str = ""


class Shipment(msgspec.Struct):
    id: int
    order_id: int
    order_address_id: int
    date_created: datetime
    tracking_number: str
    shipping_provider: str
    tracking_carrier: str
    tracking_link: str
    generated_tracking_link: str
    comments: str
    shipping_method: str
    items: list[dict[str, int]]


class Order(msgspec.Struct):
    id: int
    customer_id: int
    status_id: int
    payment_status: str
    date_created: datetime
    date_modified: datetime
    customer_message: str
    products: list[OrderProduct]
    addresses: list[Address]
    shipments: list[Shipment] = msgspec.field(default_factory=list)
    date_shipped: datetime | None = None
    is_deleted: bool = False

    @property
    def items_total(self) -> int:
        return sum(p.quantity for p in self.products)

    @property
    def items_shipped(self) -> int:
        return sum(p.quantity_shipped for p in self.products)


class Hook(msgspec.Struct):
    id: int
    scope: str
    destination: str
    is_active: bool
    headers: dict[str, str] | None
    created_at: int
    updated_at: int
    client_id: str = "sandbox-client"
    store_hash: str = STORE_HASH


class Email(msgspec.Struct):
    """A customer email the store sent (shipment notifications follow the store's setting)."""

    kind: str
    order_id: int
    to: str
    shipment_id: int


class StoreState:
    """The store. Mutating methods set ``date_modified`` and call ``notify``."""

    def __init__(self, seed: int = 1, now: Callable[[], datetime] | None = None) -> None:
        self.rng = random.Random(seed)
        self.now = now or (lambda: datetime.now(UTC))
        self.faults = Faults()
        self.shipment_emails = True
        """The store's "email the customer when an order ships" setting (on by default)."""
        self.products: dict[int, Product] = {}
        self.stock: dict[tuple[int, int], int] = {}
        """``(location id, variant id) → on hand``; a product tracked by product keeps its level
        on its base variant's key."""
        self.orders: dict[int, Order] = {}
        self.hooks: dict[int, Hook] = {}
        self.emails: list[Email] = []
        self.requests: deque[str] = deque(maxlen=500)
        self.counters = {"requests": 0, "throttled": 0, "noop_writes": 0}
        """API requests, of them throttled (429), and stock writes that changed nothing."""
        self._ids: dict[str, int] = {}
        self.catalog_version = 0
        """Bumped by every edit of a product, so look-ups by SKU see it."""
        self._indexed: tuple[int, int] | None = None
        self._by_sku: dict[str, tuple[Product, Variant]] = {}
        self._by_variant: dict[int, tuple[Product, Variant]] = {}
        self.notify: Callable[[str, dict[str, Any]], None] = lambda scope, data: None

    def next_id(self, kind: str, start: int = 100) -> int:
        self._ids[kind] = self._ids.get(kind, start) + 1
        return self._ids[kind]

    # --- look-ups -----------------------------------------------------------------------

    def variants(self) -> list[tuple[Product, Variant]]:
        return [(p, v) for p in self.products.values() for v in p.variants]

    def find_sku(self, sku: str) -> tuple[Product, Variant] | None:
        """The variant with this SKU, compared without regard to case as BigCommerce does."""
        return self._index()[0].get(sku.casefold()) if sku else None

    def find_variant(self, variant_id: int) -> tuple[Product, Variant] | None:
        return self._index()[1].get(variant_id)

    def _index(
        self,
    ) -> tuple[dict[str, tuple[Product, Variant]], dict[int, tuple[Product, Variant]]]:
        # Rebuilt whenever the catalog's shape may have changed (a large catalog is looked up
        # thousands of times per request; a scan each time would take seconds).
        shape = (len(self.products), self.catalog_version)
        if self._indexed != shape:
            pairs = self.variants()
            self._by_sku = {v.sku.casefold(): (p, v) for p, v in pairs if v.sku}
            self._by_variant = {v.id: (p, v) for p, v in pairs}
            self._indexed = shape
        return self._by_sku, self._by_variant

    def level(self, product: Product, variant: Variant | None = None) -> int:
        """The catalog ``inventory_level``: a variant's (or product's) stock, all locations."""
        variants = [variant] if variant is not None else product.variants
        if product.inventory_tracking == "product":
            variants = [product.variants[0]]
        return sum(self.stock.get((location, v.id), 0) for location in LOCATIONS for v in variants)

    # --- edits by the shopper or merchant (sandbox hooks) -------------------------------

    def touch(self, product: Product) -> None:
        product.date_modified = self.now()
        self.catalog_version += 1
        self.notify("store/product/updated", {"type": "product", "id": product.id})

    def shown(self, location_id: int, product: Product, variant: Variant) -> int:
        """The units :meth:`set_stock` last set for ``variant`` (its product's when tracked
        by product) at ``location_id``."""
        return self.stock.get((location_id, self._stock_key(product, variant)), 0)

    @staticmethod
    def _stock_key(product: Product, variant: Variant) -> int:
        return (product.variants[0] if product.inventory_tracking == "product" else variant).id

    def set_stock(
        self, location_id: int, product: Product, variant: Variant, quantity: int
    ) -> None:
        self.stock[(location_id, self._stock_key(product, variant))] = quantity
        if product.inventory_tracking == "product":
            self.notify(
                "store/product/inventory/updated",
                {
                    "type": "product",
                    "id": product.id,
                    "inventory": {
                        "product_id": product.id,
                        "method": "absolute",
                        "value": quantity,
                    },
                },
            )
        else:
            self.notify(
                "store/sku/inventory/updated",
                {
                    "type": "sku",
                    "id": variant.sku_id or variant.id,
                    "inventory": {
                        "product_id": product.id,
                        "method": "absolute",
                        "value": quantity,
                        "variant_id": variant.id,
                    },
                },
            )

    def set_status(self, order: Order, status_id: int) -> None:
        previous = order.status_id
        order.status_id = status_id
        order.date_modified = self.now()
        self.notify("store/order/updated", {"type": "order", "id": order.id})
        if previous != status_id:
            self.notify(
                "store/order/statusUpdated",
                {
                    "type": "order",
                    "id": order.id,
                    "status": {"previous_status_id": previous, "new_status_id": status_id},
                },
            )
