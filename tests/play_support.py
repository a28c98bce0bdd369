"""Shared steps of the storefront play adapters' tests: what the platform's own connector
reads back of an order placed through the play, and the canonical writes the hub would send."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest

from connectors import model
from connectors.base import Connector, ConnectorContext, ConnectorSpec, RemoteWrite
from connectors.sandbox_play import StorefrontPlay

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


async def place_read_and_ship_twice(
    play: StorefrontPlay,
    http: httpx.AsyncClient,
    connector: Connector,
    context: ConnectorContext,
    spec: ConnectorSpec,
) -> tuple[str, str]:
    """Through ``play``: a SKU the store does not sell is refused, and an Express order of
    two of the first listed SKU and one of the second is the one the connector then reads;
    it is shipped in two packages through the connector, "1Z-A" and "1Z-B". Returns the store
    order id and the first SKU."""
    first, second = play.listed_skus()[:2]
    store_order_id = await play.place(http, [(first, 2), (second, 1)], "Express")
    with pytest.raises(httpx.HTTPStatusError):
        await play.place(http, [("NOT-SOLD", 1)], "Standard")
    order = (await read_orders(connector, context, spec))[store_order_id]
    assert (order.origin, order.shipping_method) == (play.origin, "Express")
    assert lines_of(order) == [(first, 2), (second, 1)]
    assert play.tracking_numbers().get(store_order_id) is None
    await connector.write(shipped(store_order_id, [(first, 2)], "1Z-A"))
    await connector.write(shipped(store_order_id, [(second, 1)], "1Z-B"))
    assert play.tracking_numbers()[store_order_id] == ["1Z-A", "1Z-B"]
    return store_order_id, first


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
