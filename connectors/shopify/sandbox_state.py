"""The Shopify sandbox's in-memory shop: catalog, inventory, orders, fulfillments, rate bucket.

Everything is generated from ``SandboxOptions.seed``, so one seed gives the same shop (ids,
SKUs, quantities, orders) every time; timestamps are ``epoch`` minus seeded offsets. Times
after start come from :meth:`ShopState.now`, which advances with ``trio.current_time()``, so a
virtual clock drives the bucket and ``updatedAt`` alike. Randomness at run time (faults,
webhook ids) comes from the same seeded ``random.Random``.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from connectors.sandbox_faults import RateScale, scaled_limit

if TYPE_CHECKING:
    from connectors.sandbox_catalog import SharedCatalog

LOCATION_ID = 1
UNSTOCKED_ITEMS = 1
"""How many inventory items the seed leaves unstocked at the location (to exercise the error)."""


def gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def gid_number(value: str, kind: str) -> int | None:
    prefix = f"gid://shopify/{kind}/"
    if not value.startswith(prefix) or not value[len(prefix) :].isdigit():
        return None
    return int(value[len(prefix) :])


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Product:
    id: int
    title: str
    status: str
    image_url: str | None
    created_at: datetime
    updated_at: datetime
    variant_ids: list[int] = field(default_factory=list)


@dataclass
class Variant:
    id: int
    product_id: int
    inventory_item_id: int
    sku: str
    barcode: str | None
    options: list[tuple[str, str]]
    weight: tuple[float, str] | None
    created_at: datetime
    updated_at: datetime

    @property
    def title(self) -> str:
        return " / ".join(v for _, v in self.options) or "Default Title"


@dataclass
class LineItem:
    id: int
    sku: str
    title: str
    quantity: int
    variant_id: int | None


@dataclass
class FulfillmentOrderLine:
    id: int
    line_item_id: int
    sku: str
    total: int
    remaining: int


@dataclass
class FulfillmentOrder:
    id: int
    order_id: int
    location_id: int
    status: str
    created_at: datetime
    updated_at: datetime
    lines: list[FulfillmentOrderLine]


@dataclass
class Order:
    id: int
    name: str
    created_at: datetime
    updated_at: datetime
    financial: str
    fulfillment: str
    test: bool
    note: str | None
    attributes: list[tuple[str, str]]
    address: dict[str, str | None] | None
    shipping_title: str | None
    lines: list[LineItem]
    fulfillment_order_ids: list[int]
    cancelled_at: datetime | None = None
    closed: bool = False


@dataclass
class Fulfillment:
    id: int
    order_id: int
    name: str
    created_at: datetime
    tracking: dict[str, str | None]
    notify_customer: bool
    lines: list[tuple[int, int]]
    """(fulfillment order line item id, quantity)."""


@dataclass
class Bucket:
    """Shopify's leaky bucket: ``available`` points refill at ``restore_rate`` per second."""

    maximum: float
    restore_rate: float
    available: float
    updated: float | None = None

    def refill(self) -> None:
        now = trio.current_time()
        if self.updated is not None:
            self.available = min(
                self.maximum, self.available + (now - self.updated) * self.restore_rate
            )
        self.updated = now

    def status(self) -> dict[str, float]:
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": round(self.available, 3),
            "restoreRate": self.restore_rate,
        }


BUCKET_SIZE = 2000.0
"""Points a Standard shop's bucket holds, as Standard shops report it in the wild
(platform-apis.md: bucket size unconfirmed)."""
RESTORE_RATE = 100.0
"""Points restored a second on the Standard plan (shopify.dev)."""


def full_bucket(rate_scale: float) -> Bucket:
    """A full Standard-plan bucket, restoring :data:`RESTORE_RATE` times ``rate_scale``."""
    restore_rate = scaled_limit(RESTORE_RATE, rate_scale)
    return Bucket(maximum=BUCKET_SIZE, restore_rate=restore_rate, available=BUCKET_SIZE)


class Faults(msgspec.Struct, forbid_unknown_fields=True):
    """Fault knobs, all off by default; the webhook ones are probabilities per delivery."""

    error_rate: float = 0.0
    latency_ms: float = 0.0
    throttle_burst: int = 0
    """The next N GraphQL calls find the bucket drained, as if another app had emptied it."""
    timeout_rate: float = 0.0
    duplicate_webhooks: float = 0.0
    reorder_webhooks: float = 0.0
    rate_scale: RateScale = 1.0
    """The bucket restores :data:`RESTORE_RATE` points a second times this (its size stays);
    setting it fills the bucket."""


class ShopState:
    """The shop. Mutated only by the sandbox's handlers, all on one Trio thread."""

    def __init__(
        self,
        seed: int,
        catalog: int,
        epoch: datetime | None = None,
        shared: SharedCatalog | None = None,
        rate_scale: float = 1.0,
    ) -> None:
        """A shop of ``catalog`` generated variants, or of ``shared``'s when given, and the
        seeded orders; ``rate_scale``: where the knob of that name starts."""
        self.rng = random.Random(seed)
        self.epoch = (epoch or datetime.now(UTC)).replace(microsecond=0)
        self._clock_start: float | None = None
        self.shop = "sandbox-shop.myshopify.com"
        self.access_token = "shpat_sandbox"
        self.webhook_secret = "sandbox-webhook-secret"
        self.bucket = full_bucket(rate_scale)
        self.max_query_cost = 1000
        self.faults = Faults(rate_scale=rate_scale)
        self.products: dict[int, Product] = {}
        self.variants: dict[int, Variant] = {}
        self.item_to_variant: dict[int, int] = {}
        self.levels: dict[tuple[int, int], dict[str, int]] = {}
        self.orders: dict[int, Order] = {}
        self.fulfillment_orders: dict[int, FulfillmentOrder] = {}
        self.fulfillments: dict[int, Fulfillment] = {}
        self.idempotency: dict[str, tuple[str, dict[str, Any]]] = {}
        self.request_log: deque[dict[str, Any]] = deque(maxlen=500)
        """The latest GraphQL calls: operation, requested and actual cost, outcome."""
        self.counters = {
            "requests": 0,
            "throttled": 0,
            "max_cost_exceeded": 0,
            "unauthorized": 0,
            "cost": 0,
            "noop_writes": 0,
        }
        """``cost``: the points the admitted calls used; ``noop_writes``: stock writes whose
        every quantity already was the level's."""
        self._ids: dict[str, int] = {}
        from connectors.shopify.sandbox_seed import seed_catalog, seed_orders, seed_shared_catalog

        if shared is None:
            seed_catalog(self, catalog)
        else:
            seed_shared_catalog(self, shared)
        seed_orders(self)

    # -- time and ids -------------------------------------------------------------------------

    def now(self) -> datetime:
        """``epoch`` plus the Trio time elapsed since the sandbox first looked at the clock."""
        current = trio.current_time()
        if self._clock_start is None:
            self._clock_start = current
        return self.epoch + timedelta(seconds=int(current - self._clock_start))

    def next_id(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 1000) + 1
        return self._ids[kind]

    # -- orders -------------------------------------------------------------------------------

    def variant_by_sku(self, sku: str) -> Variant | None:
        """The variant with this SKU; None for an empty SKU, which names no variant."""
        return next((v for v in self.variants.values() if sku and v.sku == sku), None)

    def create_order(
        self,
        *,
        lines: list[tuple[str | int, int]],
        financial: str,
        shipping_title: str | None,
        test: bool = False,
        note: str | None = None,
        attributes: list[tuple[str, str]] | None = None,
        address: dict[str, str | None] | None = None,
        at: datetime | None = None,
    ) -> Order:
        """Place an order for ``lines`` of (SKU or variant id, quantity); KeyError for an unknown
        SKU or variant (a variant without SKU can only be ordered by id)."""
        stamp = at or self.now()
        order_id = self.next_id("Order")
        items: list[LineItem] = []
        for wanted, quantity in lines:
            variant = (
                self.variants.get(wanted)
                if isinstance(wanted, int)
                else self.variant_by_sku(wanted)
            )
            if variant is None:
                raise KeyError(wanted)
            product = self.products[variant.product_id]
            items.append(
                LineItem(
                    id=self.next_id("LineItem"),
                    sku=variant.sku,
                    title=product.title,
                    quantity=quantity,
                    variant_id=variant.id,
                )
            )
            level = self.levels.get((variant.inventory_item_id, LOCATION_ID))
            if level is not None:
                level["available"] -= quantity
        fo = FulfillmentOrder(
            id=self.next_id("FulfillmentOrder"),
            order_id=order_id,
            location_id=LOCATION_ID,
            status="OPEN",
            created_at=stamp,
            updated_at=stamp,
            lines=[
                FulfillmentOrderLine(
                    id=self.next_id("FulfillmentOrderLineItem"),
                    line_item_id=item.id,
                    sku=item.sku,
                    total=item.quantity,
                    remaining=item.quantity,
                )
                for item in items
            ],
        )
        self.fulfillment_orders[fo.id] = fo
        order = Order(
            id=order_id,
            name=f"#{order_id}",
            created_at=stamp,
            updated_at=stamp,
            financial=financial,
            fulfillment="UNFULFILLED",
            test=test,
            note=note,
            attributes=attributes or [],
            address=address
            or {
                "firstName": "Ada",
                "lastName": "Lovelace",
                "name": "Ada Lovelace",
                "company": None,
                "address1": "12 Analytical Row",
                "address2": None,
                "city": "London",
                "province": None,
                "provinceCode": None,
                "zip": "N1 9GU",
                "country": "United Kingdom",
                "countryCodeV2": "GB",
                "phone": None,
            },
            shipping_title=shipping_title,
            lines=items,
            fulfillment_order_ids=[fo.id],
        )
        self.orders[order_id] = order
        return order

    def cancel_order(self, order: Order, at: datetime | None = None) -> None:
        stamp = at or self.now()
        order.cancelled_at = stamp
        order.closed = True
        order.updated_at = stamp
        for fo_id in order.fulfillment_order_ids:
            fo = self.fulfillment_orders[fo_id]
            if fo.status in ("OPEN", "IN_PROGRESS", "SCHEDULED", "ON_HOLD"):
                fo.status = "CANCELLED"
                fo.updated_at = stamp

    def refresh_fulfillment_status(self, order: Order) -> None:
        """Derive FO and order statuses from remaining quantities (OPEN → IN_PROGRESS → CLOSED)."""
        states = []
        for fo_id in order.fulfillment_order_ids:
            fo = self.fulfillment_orders[fo_id]
            remaining = sum(line.remaining for line in fo.lines)
            total = sum(line.total for line in fo.lines)
            if fo.status not in ("CANCELLED",):
                fo.status = (
                    "CLOSED" if remaining == 0 else "OPEN" if remaining == total else "IN_PROGRESS"
                )
            states.append(fo.status)
        if states and all(s == "CLOSED" for s in states):
            order.fulfillment = "FULFILLED"
        elif any(s in ("CLOSED", "IN_PROGRESS") for s in states):
            order.fulfillment = "PARTIALLY_FULFILLED"
        else:
            order.fulfillment = "UNFULFILLED"
