"""The ShipBob sandbox's in-memory account: catalog, inventory, orders, shipments, webhooks.

Stock moves with the orders through :class:`~connectors.shipbob.sandbox_stock.Ledger`: a new
order's shipment is routed and commits its units, or waits out of stock; a cancel releases
them; a receipt lets waiting shipments through (the rules are in :mod:`.sandbox_stock`).

Everything is generated from ``random.Random(seed)``, so one seed always gives the same ids,
SKUs and quantities; the catalog may instead be the shared one (:mod:`.sandbox_seed`).
Methods answer ``(status, body)`` where ``body`` is a wire Struct, a ShipBob error map
``{"<field>": ["msg"]}`` or None (empty body); :mod:`.sandbox` does the HTTP.
Timestamps come from the injected ``now`` (wall clock by default); rate-limit time does not
(it is trio's clock, see :class:`~connectors.shipbob.sandbox_checks.SlidingWindow`).
"""

from __future__ import annotations

import base64
import random
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from connectors.sandbox_catalog import SharedCatalog
from connectors.shipbob import sandbox_shipments as lifecycle
from connectors.shipbob import webhooks, wire
from connectors.shipbob.sandbox_checks import (
    Errors,
    Faults,
    query_int,
    validate_order,
)
from connectors.shipbob.sandbox_seed import seed_shared_catalog
from connectors.shipbob.sandbox_shipments import LOCATIONS
from connectors.shipbob.sandbox_stock import Ledger, Stock, backordered, held, located

SANDBOX_TOKEN = "shipbob-sandbox-token"
"""The one bearer token the sandbox accepts."""
WEBHOOK_TOPICS = (
    "order.shipped",
    "order.shipment.delivered",
    "order.shipment.exception",
    "order.shipment.on_hold",
    "order.shipment.cancelled",
    "return.created",
    "return.updated",
    "return.completed",
    "billing.charge.created",
    "billing.refund.created",
    "billing.credit.created",
)
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_WORDS = ("Classic", "Organic", "Canvas", "Merino", "Ceramic", "Bamboo", "Linen", "Steel")
_THINGS = ("Tote", "Mug", "Shirt", "Sock", "Bottle", "Notebook", "Candle", "Cap")

Reply = tuple[int, Any]


class _ServedOrder(wire.Order, omit_defaults=False):
    """An order as ShipBob serves it: every field present, empty lists as ``[]`` and unset
    values as ``null`` (the spec marks each of them nullable; ShipBob's own sample responses
    show ``"purchase_date": null``). Its shipments keep omitting unset fields: ``tracking`` and
    ``location`` are not nullable there."""


class SandboxState:
    """The account. ``notify(topic, order)`` is told of every event ShipBob would send a
    webhook for (the app connects its webhook sender; by default nothing listens)."""

    def __init__(
        self,
        seed: int = 1,
        catalog: int = 50,
        now: Callable[[], datetime] | None = None,
        shared: SharedCatalog | None = None,
    ) -> None:
        """An account of ``catalog`` generated variants, or of ``shared``'s when given."""
        self.rng = random.Random(seed)
        self.now = now or (lambda: datetime.now(UTC))
        self.channel_id = 4000 + seed
        self.faults = Faults()
        self.products: dict[int, wire.Product] = {}
        self.ledger = Ledger()
        self.stock = self.ledger.items
        self.orders: dict[int, wire.Order] = {}
        self.order_updated: dict[int, datetime] = {}
        self.webhooks: dict[str, tuple[wire.Webhook, str]] = {}
        self.requests: deque[str] = deque(maxlen=500)
        self.notify: Callable[[str, wire.Order], None] = lambda topic, order: None
        self._ids = {"product": 1000, "variant": 5000, "inventory": 20000, "order": 700000}
        self._ids["shipment"] = 900000
        if shared is not None:
            seed_shared_catalog(self, shared, _EPOCH)
            return
        for n in range(catalog):
            self._seed_variant(n)

    def next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    # --- catalog and inventory ----------------------------------------------------------

    def _seed_variant(self, n: int) -> None:
        product = self.products.get(self._ids["product"]) if n % 3 else None
        stamp = _EPOCH + timedelta(minutes=n)
        if product is None:
            name = f"{self.rng.choice(_WORDS)} {self.rng.choice(_THINGS)}"
            product = self.new_product(name, stamp)
        variant = self.new_variant(product, f"SKU-{n + 1:04d}", f"{product.name} - {n + 1}", stamp)
        variant.weight = wire.WeightView(weight=float(self.rng.randint(2, 40)), unit="oz")
        size = [float(self.rng.randint(2, 14)) for _ in range(3)]
        variant.dimension = wire.DimensionView(
            length=size[0], width=size[1], height=size[2], unit="in"
        )
        stock = self.stock[variant.inventory.inventory_id]  # type: ignore[union-attr,index]
        for location_id, _ in LOCATIONS:
            stock.on_hand[location_id] = self.rng.randint(0, 120)
            stock.committed[location_id] = self.rng.randint(0, min(5, stock.on_hand[location_id]))
        stock.exception = self.rng.choice((0, 0, 0, 1, 2))

    def new_product(self, name: str, stamp: datetime) -> wire.Product:
        """A product with a new id and no variants yet, created and updated at ``stamp``."""
        product = wire.Product(
            id=self.next_id("product"),
            name=name,
            type="Regular",
            created_on=stamp,
            updated_on=stamp,
        )
        self.products[product.id] = product
        return product

    def new_variant(
        self, product: wire.Product, sku: str, name: str, stamp: datetime, *, stocked: bool = True
    ) -> wire.Variant:
        """A new active variant of ``product`` with an inventory item of its own, holding
        nothing at any fulfillment center yet; without one if not ``stocked`` (a bundle)."""
        variant = wire.Variant(
            id=self.next_id("variant"),
            sku=sku,
            name=name,
            status="Active",
            created_on=stamp,
            updated_on=stamp,
        )
        product.variants.append(variant)
        if not stocked:
            return variant
        inventory_id = self.next_id("inventory")
        variant.inventory = wire.VariantInventory(inventory_id=inventory_id)
        self.stock[inventory_id] = Stock(
            inventory_id=inventory_id,
            sku=sku,
            name=name,
            on_hand={loc: 0 for loc, _ in LOCATIONS},
            committed={loc: 0 for loc, _ in LOCATIONS},
        )
        return variant

    def find_variant(
        self, match: Callable[[wire.Variant], bool]
    ) -> tuple[wire.Product, wire.Variant] | None:
        """The first variant ``match`` accepts, with its product; None if none."""
        for product in self.products.values():
            for variant in product.variants:
                if match(variant):
                    return product, variant
        return None

    def variant_by_sku(self, sku: str) -> wire.Variant | None:
        found = self.find_variant(lambda variant: variant.sku == sku)
        return None if found is None else found[1]

    def create_product(self, request: wire.CreateProductRequest) -> Reply:
        errors: Errors = {}
        if not request.name.strip():
            errors["name"] = ["The Name field is required."]
        if not request.variants:
            errors["variants"] = ["At least one variant is required."]
        skus = [v.sku for v in request.variants]
        for i, sku in enumerate(skus):
            if not sku.strip():
                errors[f"variants[{i}].sku"] = ["The Sku field is required."]
            elif self.variant_by_sku(sku) is not None or skus.count(sku) > 1:
                errors[f"variants[{i}].sku"] = [f"SKU {sku} already exists."]
        if errors:
            return 422 if any("exists" in m[0] for m in errors.values()) else 400, errors
        product = self.new_product(request.name, self.now())
        for variant_request in request.variants:
            variant: wire.Variant = self.new_variant(
                product, variant_request.sku, variant_request.name, product.created_on
            )
            if variant_request.weight is not None:
                variant.weight = wire.WeightView(weight=variant_request.weight, unit="oz")
            if (d := variant_request.dimension) is not None:
                variant.dimension = wire.DimensionView(
                    length=d.length, width=d.width, height=d.height, unit="in"
                )
            variant.barcodes = [wire.Barcode(value=b.value) for b in variant_request.barcodes]
        return 201, product

    def backordered(self) -> Counter[int]:
        """Units of out-of-stock shipments per inventory id (see :mod:`.sandbox_stock`)."""
        return backordered(self._shipments())

    def adjust_stock(self, body: dict[str, Any]) -> Reply:
        """Play the warehouse at one fulfillment center: ``{"sku", "location_id", "received"?,
        "on_hand"?, "committed"?, "exception"?}``. ``received`` adds units to on-hand (a
        receipt stowed, a restocked return); the others set those counts absolutely (an
        adjustment, a cycle count). Counts that would leave committed above on-hand, or below
        what this account's open shipments hold there, are refused and change nothing. Out-of-
        stock shipments are then routed again, as ShipBob releases them when stock arrives."""
        stock = next((s for s in self.stock.values() if s.sku == body.get("sku")), None)
        if stock is None:
            return 404, {"sku": [f"no inventory item with sku {body.get('sku')!r}"]}
        location = body.get("location_id", LOCATIONS[0][0])
        if location not in stock.on_hand:
            return 400, {"location_id": [f"unknown fulfillment center {location!r}"]}
        fields = ("received", "on_hand", "committed", "exception")
        counts = {k: body[k] for k in fields if k in body}
        if any(not isinstance(v, int) or v < 0 for v in counts.values()):
            return 400, {"": ["counts must be non-negative integers"]}
        if "received" in counts and "on_hand" in counts:
            return 400, {"received": ["give received (added) or on_hand (set), not both"]}
        on_hand = counts.get("on_hand", stock.on_hand[location] + counts.get("received", 0))
        committed = counts.get("committed", stock.committed[location])
        holding = held(self._shipments(), location)[stock.inventory_id]
        if committed < holding:
            return 400, {"committed": [f"open shipments here hold {holding}; cannot go below"]}
        if committed > on_hand:
            return 400, {"committed": ["cannot exceed on hand"]}
        stock.on_hand[location], stock.committed[location] = on_hand, committed
        stock.exception = counts.get("exception", stock.exception)
        self.restock()
        return 200, located(stock)

    def _shipments(self) -> list[wire.Shipment]:
        return [s for o in self.orders.values() for s in o.shipments]

    def restock(self) -> None:
        """Route every out-of-stock shipment again, oldest order first (ShipBob's default
        allocation serves the oldest orders first); those that now fit go to Processing."""
        for order in sorted(self.orders.values(), key=lambda o: o.id):
            for shipment in order.shipments:
                if shipment.status == "Exception":
                    self.resume(order, shipment)

    def resume(self, order: wire.Order, shipment: wire.Shipment) -> bool:
        """Move an ``Exception`` shipment back to Processing if a fulfillment center can ship
        all of it now (its own first), committing its units there; False (nothing changed)
        if none can. No 2026-01 webhook announces the move."""
        prefer = () if shipment.location is None else (shipment.location.id,)
        location = self.ledger.route(shipment, prefer)
        if location is None:
            return False
        lifecycle.take_step(shipment, "Processing", self.now())
        self.ledger.commit(shipment, location)
        order.status = lifecycle.order_status(order.shipments)
        self.touch(order)
        return True

    # --- orders -------------------------------------------------------------------------

    def touch(self, order: wire.Order) -> None:
        self.order_updated[order.id] = self.now()

    def create_order(self, body: dict[str, Any]) -> Reply:
        errors = validate_order(body)
        if errors:
            return 400, errors
        reference = body["reference_id"]
        if any(o.reference_id == reference for o in self.orders.values()):
            return 422, {"": ["Cannot insert order with existing ReferenceId"]}
        if body["type"] != "DTC" and not body.get("retailer_program_data"):
            # A business rule, not a field check: ShipBob answers it with 422.
            return 422, {
                "": [f"{body['type']} orders need retailer_program_data and shipping_terms"]
            }
        request = msgspec.convert(body, wire.CreateOrderRequest)
        products, contents = [], []
        for line in request.products:
            variant = self.variant_by_sku(line.reference_id)
            if variant is None:  # ShipBob auto-creates an unknown reference given a name
                product = self.new_product(line.name, self.now())
                variant = self.new_variant(product, line.reference_id, line.name, self.now())
            products.append(
                wire.OrderProduct(
                    id=variant.id,
                    reference_id=line.reference_id,
                    sku=variant.sku,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                )
            )
            inventory_id = variant.inventory.inventory_id if variant.inventory else None
            contents.append(
                wire.ShipmentProduct(
                    id=variant.id,
                    reference_id=line.reference_id,
                    sku=variant.sku,
                    name=variant.name,
                    inventory_items=[
                        wire.ShipmentInventoryItem(id=inventory_id or 0, quantity=line.quantity)
                    ],
                )
            )
        order = _ServedOrder(
            id=self.next_id("order"),
            created_date=self.now(),
            status="Processing",
            type=request.type,
            reference_id=reference,
            order_number=request.order_number,
            channel=wire.ChannelInfo(id=self.channel_id, name="shelfsync sandbox"),
            shipping_method=request.shipping_method,
            recipient=request.recipient,
            products=products,
            gift_message=request.gift_message,
            purchase_date=request.purchase_date,
            tags=request.tags,
        )
        # ShipBob creates the order's shipment with it and routes it to a fulfillment center.
        shipment = lifecycle.new_shipment(self.next_id("shipment"), order, contents, self.now())
        order.shipments.append(shipment)
        self.orders[order.id] = order
        self._route_new(order, shipment)
        self.touch(order)
        return 201, order

    def _route_new(self, order: wire.Order, shipment: wire.Shipment) -> None:
        """Commit a new shipment's units where they are fulfillable; with no such center it is
        accepted out of stock, committing nothing (see :mod:`.sandbox_stock`)."""
        location = self.ledger.route(shipment)
        if location is not None:
            self.ledger.commit(shipment, location)
            return
        self.ledger.place_short(shipment)
        topic = lifecycle.take_step(shipment, "Exception", self.now())
        order.status = lifecycle.order_status(order.shipments)
        if topic is not None:
            self.notify(topic, order)

    def cancel_order(self, order_id: int) -> Reply:
        """``:cancel``: every shipment not yet picked is cancelled; one already picked, labeled
        or shipped is reported with ``is_success`` false, the whole as ``PartialSuccess`` or
        ``Failure`` (200 either way, as ShipBob answers; see :func:`.sandbox_shipments.cancel`)."""
        order = self.orders.get(order_id)
        if order is None:
            return 404, None
        status, results, cancelled = lifecycle.cancel(order.shipments, self.now())
        for shipment in cancelled:
            self.ledger.release(shipment)  # an unpicked shipment's units are free again
        if cancelled:
            order.status = lifecycle.order_status(order.shipments)
            self.touch(order)
        for _ in cancelled:
            self.notify("order.shipment.cancelled", order)
        return 200, wire.CanceledOrder(
            order_id=order.id, status=status, order=order, canceled_shipment_results=results
        )

    def list_orders(self, query: dict[str, str]) -> tuple[Reply, int | None]:
        """Filtered orders, oldest first, and the next page number (None on the last page)."""
        errors: Errors = {}
        page, limit = query_int(query, "Page", 1, errors), query_int(query, "Limit", 50, errors)
        if not 1 <= limit <= 250:
            errors["Limit"] = ["Limit must be between 1 and 250."]
        if page < 1:
            errors["Page"] = ["Page must be at least 1."]
        since = None
        if "LastUpdateStartDate" in query:
            try:
                since = datetime.fromisoformat(query["LastUpdateStartDate"].replace("Z", "+00:00"))
            except ValueError:
                errors["LastUpdateStartDate"] = ["Not a valid date-time."]
        if errors:
            return (400, errors), None
        references = set(filter(None, query.get("ReferenceIds", "").split(",")))
        ids = set(filter(None, query.get("IDs", "").split(",")))
        selected = []
        for order in sorted(self.orders.values(), key=lambda o: o.id):
            tracked = [s for s in order.shipments if s.tracking and s.tracking.tracking_number]
            if references and order.reference_id not in references:
                continue
            if ids and str(order.id) not in ids:
                continue
            if since is not None and self.order_updated[order.id] < since:
                continue  # LastUpdateStartDate is inclusive here (ShipBob does not say)
            if query.get("HasTracking") == "true" and not tracked:
                continue
            if query.get("IsTrackingUploaded") == "false" and all(
                s.is_tracking_uploaded for s in tracked
            ):
                continue
            selected.append(order)
        if query.get("SortOrder") == "Newest":
            selected.reverse()
        start = (page - 1) * limit
        more = start + limit < len(selected)
        return (200, selected[start : start + limit]), page + 1 if more else None

    def mark_tracking_uploaded(self, request: wire.TrackingUploadRequest) -> Reply:
        shipments = {s.id: (o, s) for o in self.orders.values() for s in o.shipments}
        results = []
        for shipment_id in request.shipment_ids:
            found = shipments.get(shipment_id)
            if found is None:
                error = wire.BulkUpdateError(code="NOT_FOUND", message="Shipment not found")
                results.append(wire.BulkUpdateResult(shipment_id, False, error))
                continue
            order, shipment = found
            shipment.is_tracking_uploaded = request.is_tracking_uploaded
            shipment.last_update_at = self.now()
            self.touch(order)
            results.append(wire.BulkUpdateResult(shipment_id, True))
        ok = sum(r.is_success for r in results)
        summary = wire.BulkUpdateSummary(
            total=len(results), successful=ok, failed=len(results) - ok
        )
        return 200, wire.BulkUpdateResponse(results=results, summary=summary)

    # --- webhooks -----------------------------------------------------------------------

    def subscribe(self, request: wire.CreateWebhookRequest) -> Reply:
        errors: Errors = {}
        if not request.url.startswith(("http://", "https://")):
            errors["url"] = ["The Url field is not a valid absolute URI."]
        unknown = [t for t in request.topics if t not in WEBHOOK_TOPICS]
        if not request.topics or unknown:
            errors["topics"] = [f"Unknown or missing topics: {unknown}"]
        secret = request.secret or "whsec_" + base64.b64encode(self.rng.randbytes(24)).decode()
        if webhooks.secret_problem(secret) is not None:
            errors["secret"] = [f"Secret must match {webhooks.SECRET_PATTERN}"]
        if errors:
            return 400, errors
        webhook = wire.Webhook(
            id=f"{self.rng.getrandbits(64):016x}",
            url=request.url,
            topics=request.topics,
            created_at=self.now(),
            description=request.description,
        )
        self.webhooks[webhook.id] = (webhook, secret)
        created = wire.WebhookCreated(
            id=webhook.id,
            url=webhook.url,
            topics=webhook.topics,
            secret=secret,
            created_at=webhook.created_at,
            description=webhook.description,
        )
        return 200, created
