"""Shared steps of the storefront play adapters' tests: what the platform's own connector
reads back of an order placed through the play, and the canonical writes the hub would send."""

from __future__ import annotations

from typing import Any

import msgspec

from connectors import model
from connectors.base import Connector, ConnectorContext, ConnectorSpec, RemoteWrite

SHARED_SEED, SHARED_VARIANTS = 4, 10
"""A small shared catalog for the play tests."""


async def read_orders(
    connector: Connector, context: ConnectorContext, spec: ConnectorSpec
) -> dict[str, model.Order]:
    """Every order the connector's ``orders`` stream reads, as the platform interprets its
    records, by store order id."""
    orders: dict[str, model.Order] = {}
    async for page in connector.read("orders", None):
        for record in page.records:
            for canonical in spec.interpret(
                context.channel, context.settings, "orders", record.body
            ):
                if isinstance(canonical, model.Order):
                    orders[canonical.store_order_id] = canonical
    return orders


def lines_of(order: model.Order) -> list[tuple[str, int]]:
    return [(line.sku, line.quantity) for line in order.lines]


def shipped(store_order_id: str, lines: list[tuple[str, int]], number: str) -> RemoteWrite:
    """The hub's ``fulfillment.create`` of one UPS shipment of ``lines`` with ``number``."""
    shipment = model.Shipment(
        shipment_id=f"fc-{number}",
        order_reference=f"ref-{store_order_id}",
        lines=[model.ShipmentLine(sku=sku, quantity=n) for sku, n in lines],
        carrier="UPS",
        tracking_number=number,
        tracking_url=None,
        shipped_at=None,
    )
    push = model.TrackingPush(store_order_id=store_order_id, shipment=shipment)
    return _write("fulfillment.create", shipment.shipment_id, push)


def stocked(targets: dict[str, int]) -> RemoteWrite:
    """The hub's ``inventory.set`` of ``targets``."""
    push = model.InventoryPush(
        targets=[model.StockTarget(sku=sku, quantity=n) for sku, n in targets.items()]
    )
    return _write("inventory.set", "inv-1", push)


def _write(kind: str, key: str, payload: Any) -> RemoteWrite:
    return RemoteWrite(kind=kind, key=key, payload=msgspec.json.encode(payload))
