"""The hub's working memory: what it knows about orders, stock and stores, kept in step with
the state store.

:class:`Pool` is loaded from a :class:`~daemon.store.HubSnapshot` when the hub starts and
changed only through its methods that take the batch's :class:`~daemon.store.HubChanges`,
which note each change there too; the hub applies those durably in one transaction, so the
memory never runs ahead of the store for longer than one batch (a failed batch makes the hub
reload the pool from the store and try again).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

import msgspec

from actors.rules import inventory as stock_rules
from connectors.model import BundleComponent, Order
from daemon.store import (
    HubChanges,
    HubSnapshot,
    OrderEntry,
    ProductDigest,
    ProviderBundle,
    PushedRow,
    Reservation,
    StockRow,
)


def order_number(reference: str) -> str:
    """An order number as two routes to the same store both spell it: ShipStation may write a
    Shopify order's "#1001" as "1001"."""
    return reference.strip().lstrip("#").strip()


class Pool:
    def __init__(self, snapshot: HubSnapshot) -> None:
        self.orders: dict[tuple[str, str], OrderEntry] = {}
        self._held: Counter[tuple[str, str]] = Counter()
        self.imported_numbers: dict[tuple[str, str], OrderEntry] = {}
        """``(channel, order number)`` → the order imported under it (see :func:`order_number`)."""
        for entry in snapshot.orders:
            self._remember(entry)
        self.stock: dict[str, dict[str, StockRow]] = defaultdict(dict)
        for level in snapshot.stock:
            self.stock[level.sku][level.location] = level
        self.reservations: dict[tuple[str, str], list[Reservation]] = defaultdict(list)
        self.reserved: Counter[str] = Counter()
        for reservation in snapshot.reservations:
            self._reserve(reservation)
        self.pushed: dict[str, dict[str, int]] = defaultdict(dict)
        for row in snapshot.pushed:
            self.pushed[row.channel][row.sku] = row.quantity
        self.catalog: set[str] = set(snapshot.catalog)
        self.digests: dict[tuple[str, str], ProductDigest] = {
            (d.channel, d.sku): d for d in snapshot.digests
        }
        """``(channel, sku)`` → what the hub last saw of that store's item."""
        self.provider_bundles: dict[str, list[BundleComponent]] = {
            b.sku: b.components for b in snapshot.bundles
        }
        """Bundles the fulfillment provider declares: SKU → components."""

    # -- reading --------------------------------------------------------------------------

    def order(self, origin: str, store_order_id: str) -> OrderEntry | None:
        return self.orders.get((origin, store_order_id))

    def knows_stock(self, sku: str) -> bool:
        return sku in self.stock

    def sellable(self, sku: str) -> int:
        """Fulfillable minus exception over every location, minus reservations (0 for a SKU the
        provider has never reported)."""
        return stock_rules.sellable(self.stock.get(sku, {}).values(), self.reserved[sku])

    def held(self) -> Counter[tuple[str, str]]:
        """Held orders per ``(channel, reason)`` (kept up to date, not counted on each call)."""
        return +self._held

    # -- changing (each also noted in ``changes``) ---------------------------------------------

    def record_order(self, changes: HubChanges, entry: OrderEntry, reference_id: str) -> None:
        """Note the decision ``entry`` about the order whose number is ``reference_id``."""
        self._remember(entry, reference_id)
        changes.orders.append(entry)

    def _remember(self, entry: OrderEntry, reference_id: str | None = None) -> None:
        key = (entry.origin, entry.store_order_id)
        before = self.orders.get(key)
        if before is not None and before.state == "held":
            self._held[(before.channel, before.reason or "")] -= 1
        if entry.state == "held":
            self._held[(entry.channel, entry.reason or "")] += 1
        self.orders[key] = entry
        if entry.state in ("imported", "cancelled"):
            if reference_id is None:
                reference_id = msgspec.json.decode(entry.body, type=Order).reference_id
            self.imported_numbers[(entry.channel, order_number(reference_id))] = entry

    def reserve(self, changes: HubChanges, reservations: Iterable[Reservation]) -> None:
        for reservation in reservations:
            self._reserve(reservation)
            changes.reservations.append(reservation)

    def release(
        self, changes: HubChanges, origin: str, store_order_id: str, sku: str | None = None
    ) -> set[str]:
        """End the order's reservations (of ``sku`` only, if given); returns the SKUs whose
        sellable count changed."""
        held = self.reservations.pop((origin, store_order_id), [])
        ended = [r for r in held if sku is None or r.sku == sku]
        kept = [r for r in held if r not in ended]
        if kept:
            self.reservations[(origin, store_order_id)] = kept
        for reservation in ended:
            self.reserved[reservation.sku] -= reservation.quantity
        if ended:
            changes.released.append((origin, store_order_id, sku))
        return {r.sku for r in ended}

    def record_stock(self, changes: HubChanges, rows: Iterable[StockRow]) -> None:
        for row in rows:
            self.stock[row.sku][row.location] = row
            changes.stock.append(row)

    def record_pushed(self, changes: HubChanges, channel: str, targets: dict[str, int]) -> None:
        self.pushed[channel].update(targets)
        changes.pushed.extend(PushedRow(channel, sku, n) for sku, n in targets.items())

    def add_to_catalog(self, changes: HubChanges, sku: str) -> bool:
        """Note that the provider has ``sku``; False if it was known already."""
        if sku in self.catalog:
            return False
        self.catalog.add(sku)
        changes.catalog.append(sku)
        return True

    def note_item(
        self, changes: HubChanges, channel: str, sku: str, digest: str
    ) -> ProductDigest | None:
        """Note that ``channel`` shows ``sku`` with travelling fields of ``digest``; returns
        the new record if that changes what the channel showed before (None at first sight,
        and when unchanged)."""
        previous = self.digests.get((channel, sku))
        if previous is not None and previous.digest == digest:
            return None
        revision = 0 if previous is None else previous.revision + 1
        entry = ProductDigest(channel, sku, digest, revision)
        self.digests[(channel, sku)] = entry
        changes.digests.append(entry)
        return None if previous is None else entry

    def record_bundle(
        self, changes: HubChanges, sku: str, components: list[BundleComponent]
    ) -> bool:
        """Note the provider's definition of ``sku`` (no components: it is no bundle); False
        if that is what was known already."""
        if self.provider_bundles.get(sku, []) == components:
            return False
        if components:
            self.provider_bundles[sku] = components
        else:
            del self.provider_bundles[sku]
        changes.bundles.append(ProviderBundle(sku, components))
        return True

    def _reserve(self, reservation: Reservation) -> None:
        self.reservations[(reservation.origin, reservation.store_order_id)].append(reservation)
        self.reserved[reservation.sku] += reservation.quantity
