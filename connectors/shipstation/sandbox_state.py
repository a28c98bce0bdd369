"""The ShipStation sandbox's in-memory account: stores, orders, fulfillments, label shipments,
webhook subscriptions.

Everything is generated from ``random.Random(seed)``, so one seed gives the same ids, SKUs and
orders. Instants are kept aware (UTC) and served as Pacific wall time without offset, as V1
does; date filters are read as Pacific wall time too. Methods answer ``(status, body)``;
:mod:`.sandbox` does the HTTP. ``notify(event, store_id, resource_url)`` is told of every
event ShipStation would send a webhook for (the app connects its sender).
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from connectors.sandbox_catalog import SharedCatalog
from connectors.shipstation import pacific, wire
from connectors.shipstation.sandbox_catalog import Catalog, CatalogItem
from connectors.shipstation.sandbox_checks import (
    Faults,
    QueryError,
    Reply,
    aspnet,
    message,
    page_of,
    paging,
    query_date,
    query_int,
)

SANDBOX_KEY = "shipstation-sandbox-key"
SANDBOX_SECRET = "shipstation-sandbox-secret"
"""The one API key pair the sandbox accepts."""
STORES = ((2001, "Web Shop", 1, "Shopify"), (2002, "Manual Orders", 0, "ShipStation"))
"""``(storeId, storeName, marketplaceId, marketplaceName)`` of the seeded stores."""
LOCKED = ("shipped", "cancelled")
"""Statuses ``createorder`` cannot update."""
SORT_KEYS = {"OrderDate": "order", "ModifyDate": "modify", "CreateDate": "create"}
"""``sortBy`` value → the :class:`Stamps` attribute it sorts on."""
_EPOCH = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)
_SERVICES = ("Standard Shipping", "Express", "Free Shipping")
_NAMES = ("Jane Doe", "Ana Lima", "Kofi Mensah", "Li Wei", "Sam Okafor", "Mia Novak")


@dataclass
class Stamps:
    """An order's instants, aware: what filters and sorting compare."""

    create: datetime
    modify: datetime
    order: datetime
    payment: datetime | None


def _served(order: wire.Order, stamps: Stamps) -> wire.Order:
    return msgspec.structs.replace(
        order,
        create_date=pacific.wall(stamps.create),
        modify_date=pacific.wall(stamps.modify),
        order_date=pacific.wall(stamps.order),
        payment_date=pacific.wall(stamps.payment) if stamps.payment else None,
    )


class SandboxState:
    def __init__(
        self,
        seed: int = 1,
        catalog: int = 50,
        now: Callable[[], datetime] | None = None,
        shared: SharedCatalog | None = None,
    ) -> None:
        """An account selling ``catalog`` generated items, or ``shared``'s when given, with
        the seeded orders of them."""
        self.rng = random.Random(seed)
        self.now = now or (lambda: datetime.now(UTC))
        self.faults = Faults()
        self.stores = [
            wire.Store(
                store_id=store_id,
                store_name=name,
                marketplace_id=marketplace_id,
                marketplace_name=marketplace,
                account_name="sandbox",
                create_date=pacific.wall(_EPOCH),
                modify_date=pacific.wall(_EPOCH),
            )
            for store_id, name, marketplace_id, marketplace in STORES
        ]
        self.catalog = (
            Catalog.generated(self.rng, catalog, _EPOCH)
            if shared is None
            else Catalog.shared(shared, _EPOCH)
        )
        self.orders: dict[int, wire.Order] = {}
        self.stamps: dict[int, Stamps] = {}
        self.batches: dict[str, list[int]] = {}
        self.fulfillments: list[wire.Fulfillment] = []
        self.shipments: list[wire.Shipment] = []
        self.notified: list[dict[str, Any]] = []
        """Each ``markasshipped``'s notification choices, for tests to read."""
        self.webhooks: dict[int, wire.SubscribeRequest] = {}
        self.requests: deque[str] = deque(maxlen=500)
        """The last requests, ``"GET /orders 200"``, for reading what happened."""
        self.counters: Counter[str] = Counter()
        """API requests answered (``requests``) and of them throttled (``throttled``)."""
        self.public_url = "https://ssapi.shipstation.com"
        """Where webhook resource URLs point: the sandbox's own address, once it is called."""
        self.notify: Callable[[wire.WebhookEventType, int, str], None] = lambda e, s, u: None
        self._ids = {"order": 100_000, "item": 500_000, "fulfillment": 30_000, "webhook": 9_000}
        self._ids["shipment"] = 70_000
        self._seed_orders()

    def next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    # --- seed ---------------------------------------------------------------------------

    def _seed_orders(self) -> None:
        """Twelve orders a minute apart: awaiting shipment, and one of each other status."""
        others: list[wire.OrderStatus] = [
            "awaiting_payment",
            "on_hold",
            "pending_fulfillment",
            "shipped",
            "cancelled",
            "awaiting_shipment",
        ]
        waiting: list[wire.OrderStatus] = ["awaiting_shipment"] * 6
        statuses = waiting + others
        for n, status in enumerate(statuses):
            at = _EPOCH + timedelta(minutes=n)
            self.place_order(store_id=STORES[n % 2][0], status=status, at=at, notify=False)

    # --- orders -------------------------------------------------------------------------

    def _lines(self, lines: list[dict[str, Any]] | None) -> list[wire.OrderItem]:
        catalog = self.catalog.items
        if not catalog:
            return []
        if lines is None:
            picks = self.rng.sample(catalog, min(len(catalog), self.rng.randint(1, 3)))
            lines = [{"item": item, "quantity": self.rng.randint(1, 3)} for item in picks]
        items = []
        for line in lines:
            item = line.get("item") or self.catalog.by_sku(line.get("sku"))
            if not isinstance(item, CatalogItem):
                item = CatalogItem(
                    sku=line.get("sku"), name=line.get("name", "Item"), price=Decimal(1)
                )
            item_id = self.next_id("item")
            items.append(
                wire.OrderItem(
                    quantity=int(line.get("quantity", 1)),
                    order_item_id=item_id,
                    line_item_key=f"li-{item_id}",
                    sku=item.sku,
                    name=item.name,
                    unit_price=item.price,
                    options=item.options,
                )
            )
        return items

    def place_order(
        self,
        *,
        store_id: int = STORES[0][0],
        status: wire.OrderStatus = "awaiting_shipment",
        lines: list[dict[str, Any]] | None = None,
        at: datetime | None = None,
        gift_message: str | None = None,
        notes: str | None = None,
        notify: bool = True,
        shipping: str | None = None,
    ) -> wire.Order:
        """An order imported from store ``store_id`` (a shopper's order), in its own import
        batch, with the ``shipping`` service the shopper chose (a seeded one when None);
        ORDER_NOTIFY and ITEM_ORDER_NOTIFY go to the store's subscribers."""
        at = at or self.now()
        order_id = self.next_id("order")
        number = f"#{1000 + order_id % 100_000}"
        name = self.rng.choice(_NAMES)
        address = wire.Address(
            name=name,
            street1=f"{self.rng.randint(1, 999)} Main St",
            city="Austin",
            state="TX",
            postal_code="78751",
            country="US",
            phone="512-555-0100",
            residential=True,
        )
        paid = at if status != "awaiting_payment" else None
        items = self._lines(lines)
        service = self.rng.choice(_SERVICES)  # drawn either way: the same seed, the same orders
        order = wire.Order(
            order_id=order_id,
            order_number=number,
            order_key=f"store-{store_id}-{order_id}",
            order_status=status,
            create_date=pacific.wall(at),
            modify_date=pacific.wall(at),
            customer_email=f"{name.split()[0].lower()}@example.com",
            bill_to=wire.Address(name=name),
            ship_to=address,
            items=items,
            customer_notes=notes,
            gift=gift_message is not None,
            gift_message=gift_message,
            requested_shipping_service=shipping or service,
            advanced_options=wire.AdvancedOptions(store_id=store_id, source="web"),
        )
        self.stamps[order_id] = Stamps(create=at, modify=at, order=at, payment=paid)
        self.orders[order_id] = _served(order, self.stamps[order_id])
        if notify:
            self._imported([order_id], store_id)
        return self.orders[order_id]

    def _imported(self, order_ids: list[int], store_id: int) -> None:
        batch = f"{self.rng.getrandbits(128):032x}"
        self.batches[batch] = order_ids
        url = f"{self.public_url}/orders?importBatch={batch}"
        events: tuple[wire.WebhookEventType, ...] = ("ORDER_NOTIFY", "ITEM_ORDER_NOTIFY")
        for event in events:
            self.notify(event, store_id, url)

    def touch(self, order_id: int, **changes: Any) -> wire.Order:
        """Apply ``changes`` to an order and stamp ``modifyDate`` now."""
        stamps = self.stamps[order_id]
        stamps.modify = max(self.now(), stamps.modify)
        order = msgspec.structs.replace(self.orders[order_id], **changes)
        self.orders[order_id] = _served(order, stamps)
        return self.orders[order_id]

    def store_update(self, order_id: int, status: wire.OrderStatus) -> Reply:
        """The store changed the order's status (a cancellation, a hold, a release) and
        ShipStation imported the change; ORDER_NOTIFY as for an import."""
        order = self.orders.get(order_id)
        if order is None:
            return 404, aspnet("Order not found")
        updated = self.touch(order_id, order_status=status)
        store = order.advanced_options.store_id if order.advanced_options else None
        self._imported([order_id], store or 0)
        return 200, updated

    def hold(self, order_id: int, until: str | None) -> Reply:
        """``POST /orders/holduntil``: an open order goes ``on_hold`` (until a date, which
        the sandbox records but does not act on)."""
        order = self.orders.get(order_id)
        if order is None:
            return 404, aspnet(f"Order {order_id} not found.")
        if order.order_status in LOCKED or not until:
            return 400, aspnet("An error has occurred.", "Order cannot be held.")
        self.touch(order_id, order_status="on_hold")
        return 200, {"success": True, "message": "Order held successfully."}

    def restore(self, order_id: int) -> Reply:
        """``POST /orders/restorefromhold``: an ``on_hold`` order is awaiting shipment again."""
        order = self.orders.get(order_id)
        if order is None:
            return 404, aspnet(f"Order {order_id} not found.")
        if order.order_status != "on_hold":
            return 400, aspnet("An error has occurred.", "Order is not on hold.")
        self.touch(order_id, order_status="awaiting_shipment")
        return 200, {"success": True, "message": "Order restored successfully."}

    def delete(self, order_id: int) -> Reply:
        """``DELETE /orders/{id}``: the order leaves every list (V1 keeps it, inactive)."""
        if self.orders.pop(order_id, None) is None:
            return 404, aspnet("Order not found")
        return 200, {"success": True, "message": "The requested order has been deleted."}

    def list_orders(self, query: dict[str, str]) -> Reply:
        try:
            page, size = paging(query)
            found = self._filter(query)
        except QueryError as exc:
            return 400, message(str(exc))
        items, total, pages = page_of(found, page, size)
        return 200, {"orders": items, "total": total, "page": page, "pages": pages}

    def _filter(self, query: dict[str, str]) -> list[wire.Order]:
        orders = list(self.orders.values())
        status = query.get("orderStatus")
        if status:
            if status not in wire.ORDER_STATUSES:
                raise QueryError(f"The value '{status}' is not valid for orderStatus.")
            orders = [o for o in orders if o.order_status == status]
        store_id = query_int(query, "storeId")
        if store_id is not None:
            orders = [
                o for o in orders if o.advanced_options and o.advanced_options.store_id == store_id
            ]
        batch = query.get("importBatch")
        if batch is not None:
            wanted = set(self.batches.get(batch, []))
            orders = [o for o in orders if o.order_id in wanted]
        number = query.get("orderNumber")
        if number:
            orders = [o for o in orders if o.order_number.startswith(number)]
        name = (query.get("customerName") or "").lower()
        if name:
            orders = [o for o in orders if o.ship_to and name in (o.ship_to.name or "").lower()]
        keyword = (query.get("itemKeyword") or "").lower()
        if keyword:
            orders = [o for o in orders if any(keyword in _item_text(i) for i in o.items)]
        for prefix, attribute in (
            ("modifyDate", "modify"),
            ("createDate", "create"),
            ("orderDate", "order"),
            ("paymentDate", "payment"),
        ):
            # Both ends inclusive, at whole seconds (ShipStation's filters have no fractions).
            start = query_date(query, f"{prefix}Start")
            end = query_date(query, f"{prefix}End")
            if start is None and end is None:
                continue
            kept = []
            for order in orders:
                at = getattr(self.stamps[order.order_id], attribute)
                if at is None:
                    continue
                at = at.replace(microsecond=0)
                if (start is None or at >= start) and (end is None or at <= end):
                    kept.append(order)
            orders = kept
        sort_by = query.get("sortBy")
        if sort_by is not None and sort_by not in SORT_KEYS:
            raise QueryError(f"The value '{sort_by}' is not valid for sortBy.")
        direction = query.get("sortDir", "ASC").upper()
        if direction not in ("ASC", "DESC"):
            raise QueryError(f"The value '{direction}' is not valid for sortDir.")
        if sort_by is None:
            orders.sort(key=lambda o: o.order_id, reverse=direction == "DESC")
        else:
            key = SORT_KEYS[sort_by]
            orders.sort(
                key=lambda o: (getattr(self.stamps[o.order_id], key), o.order_id),
                reverse=direction == "DESC",
            )
        return orders

    def create_order(self, body: dict[str, Any]) -> Reply:
        """``createorder``: upsert by ``orderKey``, replacing the whole order; shipped and
        cancelled orders are locked."""
        missing = [
            f
            for f in ("orderNumber", "orderDate", "orderStatus", "billTo", "shipTo")
            if f not in body
        ]
        if missing:
            return 400, message(f"The request is invalid: {', '.join(missing)} is required.")
        key = body.get("orderKey")
        existing = next((o for o in self.orders.values() if key and o.order_key == key), None)
        now = self.now()
        order_id = existing.order_id if existing else self.next_id("order")
        if existing is not None and existing.order_status in LOCKED:
            return 400, aspnet(
                "An error has occurred.",
                f"Order {existing.order_number} is {existing.order_status} and cannot be updated.",
            )
        fields = body | {
            "orderId": order_id,
            "orderKey": key or f"{self.rng.getrandbits(128):032x}",
            "createDate": pacific.wall(now).isoformat(),
            "modifyDate": pacific.wall(now).isoformat(),
        }
        try:
            order = msgspec.convert(fields, wire.Order, strict=False)
        except msgspec.ValidationError as exc:
            return 400, message(f"The request is invalid: {exc}")
        ordered = pacific.aware(order.order_date) if order.order_date else now
        paid = pacific.aware(order.payment_date) if order.payment_date else None
        stamps = self.stamps.get(order_id)
        created = stamps.create if stamps else now
        self.stamps[order_id] = Stamps(create=created, modify=now, order=ordered, payment=paid)
        self.orders[order_id] = _served(order, self.stamps[order_id])
        return 200, self.orders[order_id]

    # --- webhooks -----------------------------------------------------------------------

    def subscribe(self, request: wire.SubscribeRequest) -> Reply:
        webhook_id = self.next_id("webhook")
        self.webhooks[webhook_id] = request
        return 200, {"id": webhook_id}

    def list_webhooks(self) -> Reply:
        return 200, {
            "webhooks": [
                {
                    "IsLabelAPIHook": False,
                    "WebHookID": webhook_id,
                    "SellerID": 1,
                    "StoreID": request.store_id,
                    "HookType": request.event,
                    "MessageFormat": "Json",
                    "Url": request.target_url,
                    "Name": request.friendly_name,
                    "Active": True,
                }
                for webhook_id, request in self.webhooks.items()
            ]
        }


def _item_text(item: wire.OrderItem) -> str:
    options = " ".join(f"{o.name} {o.value}" for o in item.options)
    return f"{item.sku or ''} {item.name or ''} {options}".lower()
