"""The ShipStation sandbox's shipping: marking orders shipped (fulfillments) and labels made
in ShipStation (shipments), and the two lists, which V1 keeps apart: ``/fulfillments`` holds
orders marked shipped, ``/shipments`` only labels."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from connectors.shipstation import pacific, wire
from connectors.shipstation.sandbox_checks import (
    QueryError,
    Reply,
    aspnet,
    message,
    page_of,
    paging,
    query_date,
    query_int,
)
from connectors.shipstation.sandbox_state import LOCKED, SandboxState


class Shipping:
    """Shipping over ``state``; answers ``(status, body)`` like the state does."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def mark_as_shipped(self, request: wire.MarkShippedRequest) -> Reply:
        order = self.state.orders.get(request.order_id)
        if order is None:
            return 404, aspnet(f"Order {request.order_id} not found.")
        if order.order_status in LOCKED:
            return 400, aspnet(
                "An error has occurred.",
                f"Order {order.order_number} is {order.order_status} and cannot be marked shipped.",
            )
        now = self.state.now()
        ship_date = request.ship_date or pacific.wall(now).date().isoformat()
        self.state.touch(
            order.order_id,
            order_status="shipped",
            ship_date=ship_date,
            carrier_code=request.carrier_code,
        )
        self.state.fulfillments.append(
            wire.Fulfillment(
                fulfillment_id=self.state.next_id("fulfillment"),
                order_id=order.order_id,
                order_number=order.order_number,
                tracking_number=request.tracking_number,
                carrier_code=request.carrier_code,
                ship_date=ship_date,
                create_date=pacific.wall(now),
                marketplace_notified=bool(request.notify_sales_channel),
                customer_email=order.customer_email,
                ship_to=order.ship_to,
            )
        )
        self.state.notified.append(
            {
                "orderId": order.order_id,
                "notifyCustomer": bool(request.notify_customer),
                "notifySalesChannel": bool(request.notify_sales_channel),
            }
        )
        return 200, wire.MarkShippedResponse(
            order_id=order.order_id, order_number=order.order_number
        )

    def label(self, order_id: int, carrier_code: str, tracking_number: str) -> Reply:
        """A label made in ShipStation's UI: a shipment (on ``/shipments``, not
        ``/fulfillments``), the order shipped, SHIP_NOTIFY and ITEM_SHIP_NOTIFY."""
        order = self.state.orders.get(order_id)
        if order is None:
            return 404, aspnet(f"Order {order_id} not found.")
        if order.order_status in LOCKED:
            return 400, aspnet(
                "An error has occurred.", f"Order {order.order_number} is {order.order_status}."
            )
        now = self.state.now()
        ship_date = pacific.wall(now).date().isoformat()
        shipment = wire.Shipment(
            shipment_id=self.state.next_id("shipment"),
            order_id=order_id,
            order_number=order.order_number,
            order_key=order.order_key,
            tracking_number=tracking_number,
            carrier_code=carrier_code,
            create_date=pacific.wall(now),
            ship_date=ship_date,
            shipment_cost=Decimal("7.50"),
            ship_to=order.ship_to,
            shipment_items=[
                wire.ShipmentItem(
                    quantity=i.quantity,
                    order_item_id=i.order_item_id,
                    line_item_key=i.line_item_key,
                    sku=i.sku,
                    name=i.name,
                )
                for i in order.items
            ],
        )
        self.state.shipments.append(shipment)
        self.state.touch(
            order_id, order_status="shipped", ship_date=ship_date, carrier_code=carrier_code
        )
        store = order.advanced_options.store_id if order.advanced_options else 0
        query = f"batchId={shipment.shipment_id}&includeShipmentItems=False"
        url = f"{self.state.public_url}/shipments?{query}"
        events: tuple[wire.WebhookEventType, ...] = ("SHIP_NOTIFY", "ITEM_SHIP_NOTIFY")
        for event in events:
            self.state.notify(event, store or 0, url)
        return 200, shipment

    def list_fulfillments(self, query: dict[str, str]) -> Reply:
        fulfillments = self.state.fulfillments
        try:
            fulfillment_id = query_int(query, "fulfillmentId")
        except QueryError as exc:
            return 400, message(str(exc))
        if fulfillment_id is not None:
            fulfillments = [f for f in fulfillments if f.fulfillment_id == fulfillment_id]
        return self._listing(query, fulfillments, "fulfillments")

    def list_shipments(self, query: dict[str, str]) -> Reply:
        shipments = self.state.shipments
        batch = query.get("batchId")
        if batch is not None:
            shipments = [s for s in shipments if str(s.shipment_id) == batch]
        if query.get("includeShipmentItems", "false").lower() != "true":
            shipments = [msgspec.structs.replace(s, shipment_items=None) for s in shipments]
        return self._listing(query, shipments, "shipments")

    def _listing(self, query: dict[str, str], items: list[Any], name: str) -> Reply:
        """The filters fulfillments and shipments share (``orderId``, ``orderNumber``,
        ``trackingNumber``, ``recipientName``, ``createDateStart``/``End`` inclusive), in
        creation order, then V1's page envelope."""
        try:
            page, size = paging(query)
            order_id = query_int(query, "orderId")
            start = query_date(query, "createDateStart")
            end = query_date(query, "createDateEnd")
        except QueryError as exc:
            return 400, message(str(exc))
        if order_id is not None:
            items = [i for i in items if i.order_id == order_id]
        for param, attribute in (
            ("orderNumber", "order_number"),
            ("trackingNumber", "tracking_number"),
        ):
            if query.get(param):
                items = [i for i in items if getattr(i, attribute) == query[param]]
        recipient = query.get("recipientName")
        if recipient:
            items = [i for i in items if i.ship_to is not None and i.ship_to.name == recipient]
        if start is not None or end is not None:
            items = [
                i
                for i in items
                if i.create_date is not None
                and (start is None or pacific.aware(i.create_date) >= start)
                and (end is None or pacific.aware(i.create_date) <= end)
            ]
        shown, total, pages = page_of(items, page, size)
        return 200, {name: shown, "total": total, "page": page, "pages": pages}
