"""The ShipBob sandbox's stock: on-hand and committed units per inventory item and fulfillment
center, and how orders, shipping, cancels and receipts move them.

ShipBob's arithmetic, per fulfillment center: ``fulfillable = on_hand - committed``, where
committed units are those "reserved for existing orders at this location" (orders not yet
shipped); the totals are the sums over the centers. The counts move at these points, always
at the shipment's own center:

=============================== ===============================================================
event                           effect
=============================== ===============================================================
order created                   its shipment is routed (below) and committed += its units, so
                                fulfillable falls at once
order created, no center fits   shipment ``Exception`` (303 OutOfStock); nothing is committed
picked, packed, labeled         nothing (the units are still in the building)
shipment ``Completed``          on_hand -= its units and committed -= its units
cancel (unpicked only)          committed -= its units
``OnHold`` and back             nothing: a held shipment keeps its units reserved
hook moves it to ``Exception``  committed -= its units: an exception holds no stock
``Exception`` to Processing     routed again and committed; refused when no center fits
receipt or adjustment           the hook's counts; then every out-of-stock shipment is routed
                                again, oldest order first, and those that fit go to Processing
=============================== ===============================================================

Routing: a shipment goes to the first fulfillment center, in :data:`LOCATIONS` order, whose
fulfillable units cover every line of it. ShipBob routes by the recipient's distance and by
where the stock is; the sandbox has no geography, so the order of the centers stands in for
distance. A split-off shipment (``/_sandbox/ship``) prefers another center than the one it was
split from, as ShipBob splits by center, and stays at that one when no other has the units.

An order for more than any one center can fulfil is still accepted (201), as ShipBob accepts
it: its shipment is ``Exception``/``OutOfStock`` at the center with the most of it and, by
ShipBob's default allocation ("orders will go into exception status without reserving or
committing inventory"), commits nothing, so on_hand, committed and fulfillable stay as they
were and nothing goes negative. Its units are reported as ``total_backordered_quantity`` ("on
backorder for pending shipments"), not as exception units: ShipBob's sources disagree on
whether ``total_exception_quantity`` counts exception orders, and the hook sets it directly.
When stock arrives ShipBob moves such orders to Processing "automatically"; the sandbox does so
on every receipt or adjustment. ShipBob's optional "partial commitment" allocation rule (commit
what there is, exception 308) is not modelled.

What a shipment holds is kept on it, as ShipBob shows it: each inventory item's
``quantity_committed`` ("allocated from the assigned fulfillment center and committed to the
order"; less than ``quantity`` means out of stock there), kept once it has shipped. For every
item and center ``on_hand >= committed >= held >= 0``, where held is what the open shipments
there commit; the hook refuses counts that would break it. Committed units beyond held stand
for orders the sandbox does not model (the seeded counts).

ShipBob's inventory-history API lists ``OrderPicked`` among the events that "change on-hand
quantities", so ShipBob may take units off on-hand at the pick rather than when the parcel
leaves; the sandbox takes them off at ``Completed``, when the shipment has left the building.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import msgspec

from connectors.shipbob import wire
from connectors.shipbob.sandbox_shipments import LOCATIONS

OPEN = ("Processing", "LabeledCreated", "OnHold", "Exception")
"""Shipment statuses of units not yet shipped nor cancelled (``Processing`` covers picked and
packed)."""


class Stock(msgspec.Struct):
    inventory_id: int
    sku: str
    name: str
    on_hand: dict[int, int]
    committed: dict[int, int]
    exception: int = 0
    """Network-wide only, as ShipBob reports it; set by the hook."""


def located(stock: Stock) -> wire.InventoryLocations:
    """``inventory-level/locations``: the counts per fulfillment center."""
    return wire.InventoryLocations(
        inventory_id=stock.inventory_id,
        sku=stock.sku,
        name=stock.name,
        locations=[
            wire.LocationQuantity(
                location_id=loc,
                name=name,
                on_hand_quantity=stock.on_hand[loc],
                committed_quantity=stock.committed[loc],
                fulfillable_quantity=stock.on_hand[loc] - stock.committed[loc],
            )
            for loc, name in LOCATIONS
        ],
    )


def totals(stock: Stock, short: Counter[int]) -> wire.InventoryTotals:
    """``inventory-level``: the sums over the centers; ``short`` is :func:`backordered` of
    the account's shipments, read once for a whole page. Sellable is fulfillable (nothing is
    awaited in the sandbox: the spec's "fulfillable plus awaiting")."""
    on_hand, committed = sum(stock.on_hand.values()), sum(stock.committed.values())
    fulfillable = on_hand - committed
    return wire.InventoryTotals(
        inventory_id=stock.inventory_id,
        sku=stock.sku,
        name=stock.name,
        total_on_hand_quantity=on_hand,
        total_committed_quantity=committed,
        total_fulfillable_quantity=fulfillable,
        total_exception_quantity=stock.exception,
        total_sellable_quantity=fulfillable,
        total_backordered_quantity=short[stock.inventory_id],
    )


def needs(shipment: wire.Shipment) -> Counter[int]:
    """The units a shipment ships, per inventory id."""
    units: Counter[int] = Counter()
    for product in shipment.products:
        for item in product.inventory_items:
            units[item.id] += item.quantity
    return units


def held(shipments: Iterable[wire.Shipment], location: int) -> Counter[int]:
    """The units open shipments at ``location`` commit, per inventory id."""
    units: Counter[int] = Counter()
    for shipment in shipments:
        if shipment.status in OPEN and shipment.location and shipment.location.id == location:
            for product in shipment.products:
                for item in product.inventory_items:
                    units[item.id] += item.quantity_committed
    return units


def backordered(shipments: Iterable[wire.Shipment]) -> Counter[int]:
    """The units of out-of-stock shipments, per inventory id: ordered, committed nowhere."""
    units: Counter[int] = Counter()
    for shipment in shipments:
        if shipment.status == "Exception":
            units.update(needs(shipment))
    return units


class Ledger:
    """The counts, and the moves ShipBob makes on them; every move keeps
    ``on_hand >= committed >= 0`` given what the shipments hold (see the module's docstring)."""

    def __init__(self) -> None:
        self.items: dict[int, Stock] = {}

    def fulfillable(self, inventory_id: int, location: int) -> int:
        stock = self.items.get(inventory_id)
        if stock is None:
            return 0
        return stock.on_hand[location] - stock.committed[location]

    def route(self, shipment: wire.Shipment, prefer: Sequence[int] = ()) -> int | None:
        """The fulfillment center that can ship all of ``shipment`` now: the first of
        ``prefer``, then of :data:`LOCATIONS`, with the units fulfillable; None if none has."""
        units = needs(shipment)
        ordered = [*prefer, *(loc for loc, _ in LOCATIONS if loc not in prefer)]
        for location in ordered:
            if all(self.fulfillable(i, location) >= n for i, n in units.items()):
                return location
        return None

    def fullest(self, shipment: wire.Shipment) -> int:
        """The center that has the most of what ``shipment`` needs (the first on a tie): where
        an out-of-stock shipment waits."""
        units = needs(shipment)

        def covered(location: int) -> int:
            return sum(min(n, max(0, self.fulfillable(i, location))) for i, n in units.items())

        return max((loc for loc, _ in LOCATIONS), key=covered)

    def commit(self, shipment: wire.Shipment, location: int) -> None:
        """Assign ``shipment`` to ``location`` and reserve its units there. The caller has
        checked with :meth:`route` that they are fulfillable."""
        shipment.location = wire.FulfillmentCenter(id=location, name=dict(LOCATIONS)[location])
        for product in shipment.products:
            for item in product.inventory_items:
                self.items[item.id].committed[location] += item.quantity
                item.quantity_committed = item.quantity

    def place_short(self, shipment: wire.Shipment) -> None:
        """Assign an out-of-stock ``shipment`` to the center with the most of it, committing
        nothing (ShipBob's default allocation)."""
        location = self.fullest(shipment)
        shipment.location = wire.FulfillmentCenter(id=location, name=dict(LOCATIONS)[location])
        for product in shipment.products:
            for item in product.inventory_items:
                item.quantity_committed = 0

    def release(self, shipment: wire.Shipment) -> None:
        """Give back what ``shipment`` reserved (a cancel, an exception, a re-route)."""
        for product in shipment.products:
            for item in product.inventory_items:
                if item.quantity_committed and shipment.location is not None:
                    self.items[item.id].committed[shipment.location.id] -= item.quantity_committed
                item.quantity_committed = 0

    def ship(self, shipment: wire.Shipment) -> None:
        """The parcel has left: its units leave on-hand and committed where it was packed.
        Its ``quantity_committed`` stays as ShipBob showed it; a shipped shipment is no longer
        open, so it holds nothing."""
        if shipment.location is None:
            return
        location = shipment.location.id
        for product in shipment.products:
            for item in product.inventory_items:
                stock = self.items[item.id]
                stock.on_hand[location] -= item.quantity
                stock.committed[location] -= item.quantity_committed
