"""The BigCommerce connector's writes: absolute stock by tracking mode, shipments by content.

What each write does and promises is in :mod:`.connector`'s docstring; this module holds how.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from functools import partial

import msgspec

from connectors import model
from connectors.base import RemoteWrite, WriteResult, decode_payload
from connectors.bigcommerce import mapping, wire
from connectors.bigcommerce.client import (
    ADJUSTMENT_BATCH,
    BigCommerceClient,
    TrackingMismatch,
    decode,
)
from connectors.errors import RecordError
from connectors.written import WrittenPlaces

ADJUSTMENT_REASON = "shelfsync: fulfillment stock"

Places = dict[str, tuple[int, int | None, str | None]]
"""``canonical SKU → (product id, variant id or None, BigCommerce SKU or None)``."""
Levels = dict[int, int]
"""``variant id → units on hand`` at the channel's inventory location, as the store shows."""


class StoreWriter:
    """Writes to one store through ``client``, for ``channel`` (whose fallback keys it reads)
    at the inventory location ``location_id``."""

    def __init__(self, client: BigCommerceClient, channel: str, location_id: int) -> None:
        self.client = client
        self.channel = channel
        self.location_id = location_id
        self._written = WrittenPlaces[wire.AdjustmentItem]()
        """Per canonical SKU tracked by variant, the adjustment item that last set it."""

    # --- inventory ----------------------------------------------------------------------

    async def set_inventory(self, remote_write: RemoteWrite) -> WriteResult:
        """An ``inventory.set`` write (see the connector's docstring)."""
        push = decode_payload(remote_write, model.InventoryPush, entity=remote_write.key)
        targets = {t.sku: t.quantity for t in push.targets}
        # Refused if the store changed under what was remembered (an item deleted, its
        # tracking mode switched): then looked up again.
        remembered = await self._written.write(push, partial(self._set_where_written, targets))
        if remembered is not None:
            return remembered
        places, shown = await self._places(list(targets))
        for attempt in range(2):
            planned, untracked, by_sku = await self._adjustments(targets, places)
            if push.reconcile:
                # To be compared with what the store shows: SKUs' levels came with their
                # look-up, the others' (fallback keys, products tracked by product) are read.
                shown |= await self._levels(
                    sorted({v for _, v in planned if v is not None and v not in shown})
                )
            items = [item for item, v in planned if v is None or shown.get(v) != item.quantity]
            try:
                requests = await self._set_items(items)
                break
            except TrackingMismatch:
                if attempt == 1:
                    raise
        self._written.remember(by_sku)
        drift = sum(abs(item.quantity - shown[v]) for item, v in planned if v in shown)
        unchanged = len(planned) - len(items)
        summary = f"set {len(items)} quantities in {requests} requests ({unchanged} unchanged)"
        missing = sorted(set(targets) - places.keys())
        if missing:
            summary += f"; {len(missing)} SKUs not on this store: {', '.join(missing[:5])}"
        if untracked:
            summary += f"; {len(untracked)} not tracked by the store: {', '.join(untracked[:5])}"
        if push.reconcile:
            summary += f"; {drift} units of drift corrected"
        return WriteResult(
            remote_id=None, summary=summary, drift_units=drift if push.reconcile else 0
        )

    async def _set_where_written(
        self, targets: Mapping[str, int], items_of: dict[str, wire.AdjustmentItem]
    ) -> WriteResult:
        """Set ``targets`` on the items that last took them (``items_of``, by SKU)."""
        items = [
            msgspec.structs.replace(items_of[sku], quantity=quantity)
            for sku, quantity in sorted(targets.items())
        ]
        requests = await self._set_items(items)
        summary = f"set {len(items)} quantities in {requests} requests (where last written)"
        return WriteResult(remote_id=None, summary=summary)

    async def _set_items(self, items: list[wire.AdjustmentItem]) -> int:
        """Set ``items``, :data:`ADJUSTMENT_BATCH` a request, one request at a time; how many
        requests that took."""
        for start in range(0, len(items), ADJUSTMENT_BATCH):
            await self.client.set_absolute(
                items[start : start + ADJUSTMENT_BATCH], reason=ADJUSTMENT_REASON
            )
        return -(-len(items) // ADJUSTMENT_BATCH)

    async def _places(self, skus: list[str]) -> tuple[Places, Levels]:
        """Where each SKU the store lists is (a fallback key's ids are checked later, with the
        product), and what the store holds at the location of each variant looked up by SKU."""
        channel = self.channel
        places: Places = {}
        real: dict[str, str] = {}
        for sku in skus:
            item_id = model.fallback_item_id(channel, sku)
            ids = mapping.parse_item_id(item_id) if item_id is not None else None
            if ids is not None:
                places[sku] = (ids[0], ids[1], None)
            elif item_id is None:
                real[sku.casefold()] = sku
        found = await self.client.inventory_items("sku", sorted(real.values()), self.location_id)
        for item in found:
            canonical = real.get(item.identity.sku.casefold())
            if canonical is not None and item.identity.product_id is not None:
                places[canonical] = (
                    item.identity.product_id,
                    item.identity.variant_id,
                    item.identity.sku,
                )
        return places, _on_hand(found, self.location_id)

    async def _levels(self, variant_ids: list[int]) -> Levels:
        """What the store holds of these variants at the location (a variant it does not
        return is left out)."""
        if not variant_ids:
            return {}
        items = await self.client.inventory_items("variant_id", variant_ids, self.location_id)
        return _on_hand(items, self.location_id)

    async def _adjustments(
        self, targets: Mapping[str, int], places: Places
    ) -> tuple[
        list[tuple[wire.AdjustmentItem, int | None]], list[str], dict[str, wire.AdjustmentItem]
    ]:
        """The adjustment items for ``targets`` by each product's tracking mode (read now),
        each with the variant whose inventory item shows the level it sets (None if there is
        none); the SKUs the store does not track; and the item of each SKU tracked by variant.
        A fallback key naming no product or variant of the store is dropped from ``places``
        (it is not on the store)."""
        location = self.location_id
        products = {
            p.id: p for p in await self.client.products_tracking([p for p, _, _ in places.values()])
        }
        by_product: dict[int, int] = {}
        by_variant: list[tuple[wire.AdjustmentItem, int | None]] = []
        by_sku: dict[str, wire.AdjustmentItem] = {}
        untracked: list[str] = []
        for sku, (product_id, variant_id, store_sku) in sorted(places.items()):
            product = products.get(product_id)
            variants = {v.id for v in product.variants} if product else set()
            if variant_id is None and product is not None and len(variants) == 1:
                variant_id = next(iter(variants))
            if product is None or (variant_id is not None and variant_id not in variants):
                del places[sku]
                continue
            quantity = targets[sku]
            if product.inventory_tracking == "none":
                untracked.append(sku)
            elif product.inventory_tracking == "product":
                by_product[product_id] = min(quantity, by_product.get(product_id, quantity))
            elif store_sku is not None:
                item = wire.AdjustmentItem(location, quantity, sku=store_sku)
                by_variant.append((item, variant_id))
                by_sku[sku] = item
            elif variant_id is not None:
                item = wire.AdjustmentItem(location, quantity, variant_id=variant_id)
                by_variant.append((item, variant_id))
                by_sku[sku] = item
            else:
                del places[sku]  # a product key for a product with several variants: no item
        # A product tracked by product shows its one level on its base (first) variant.
        by_product_items = [
            (
                wire.AdjustmentItem(location, quantity, product_id=product_id),
                next((v.id for v in products[product_id].variants), None),
            )
            for product_id, quantity in sorted(by_product.items())
        ]
        return by_variant + by_product_items, untracked, by_sku

    # --- shipments ----------------------------------------------------------------------

    async def create_shipments(self, remote_write: RemoteWrite) -> WriteResult:
        """A ``fulfillment.create`` write (see the connector's docstring)."""
        push = decode_payload(remote_write, model.TrackingPush, entity=remote_write.key)
        order_ref, shipment = push.store_order_id, push.shipment
        if not order_ref.isdigit():
            raise RecordError(
                f"{order_ref!r} is not a BigCommerce order id", entity=order_ref, reason="schema"
            )
        if not shipment.tracking_number:
            # BigCommerce takes no idempotency key: the tracking number is the only mark a
            # retry after a lost answer can find its earlier attempt by.
            raise RecordError(
                f"order {order_ref}: a shipment without tracking number cannot be created "
                "safely (a retry could not tell whether it was already created)",
                entity=order_ref,
                reason="no_tracking",
            )
        if not shipment.lines:
            raise RecordError(
                f"order {order_ref}: shipment {shipment.shipment_id} has no lines",
                entity=order_ref,
                reason="schema",
            )
        order_id = int(order_ref)
        channel = self.channel
        lines = decode(
            await self.client.order_products(order_id),
            list[wire.OrderProduct],
            f"order {order_id} products",
            "order",
        )
        sku_of = {line.id: mapping.line_sku(channel, line) for line in lines}
        wanted: Counter[str] = Counter()
        for line in shipment.lines:
            wanted[line.sku] += line.quantity
        earlier = [
            s
            for s in await self.client.order_shipments(order_id)
            if s.tracking_number == shipment.tracking_number
        ]
        done: Counter[str] = Counter()
        for s in earlier:
            for item in s.items:
                done[sku_of.get(item.order_product_id, "")] += item.quantity
        if earlier and done == wanted:
            ids = ",".join(str(s.id) for s in earlier)
            return WriteResult(remote_id=ids, summary="already shipped")
        # Part of it shipped under this tracking number: an attempt interrupted between two
        # addresses' shipments. Anything else under the number is another shipment.
        left = wanted - done if not done - wanted else wanted
        groups = _allocate(order_id, left, lines, channel)
        provider, carrier = mapping.carrier_fields(shipment.carrier)
        created = []
        for address_id, items in sorted(groups.items()):
            request = wire.CreateShipment(
                order_address_id=address_id,
                items=items,
                tracking_number=shipment.tracking_number,
                shipping_provider=provider,
                tracking_carrier=carrier,
                tracking_link=shipment.tracking_url or "",
            )
            created.append(await self.client.create_shipment(order_id, request))
        ids = ",".join(str(s.id) for s in created)
        return WriteResult(remote_id=ids, summary=f"{len(created)} shipments created")


def _allocate(
    order_id: int, wanted: Counter[str], lines: list[wire.OrderProduct], channel: str
) -> dict[int, list[wire.ShipmentItem]]:
    """``wanted`` SKU quantities spread over the order's unshipped lines, grouped by the
    shipping address (``order_address_id``) each line goes to; ``RecordError`` naming what
    the order has not left to ship."""
    left = Counter(wanted)
    groups: dict[int, list[wire.ShipmentItem]] = {}
    for line in lines:
        sku = mapping.line_sku(channel, line)
        open_quantity = line.quantity - line.quantity_shipped
        take = min(left[sku], open_quantity)
        if take > 0:
            groups.setdefault(line.order_address_id, []).append(wire.ShipmentItem(line.id, take))
            left[sku] -= take
    if +left:
        raise RecordError(
            f"order {order_id}: nothing left to ship for {sorted((+left).items())}",
            entity=str(order_id),
            reason="nothing_to_fulfil",
        )
    return groups


def _on_hand(items: list[wire.InventoryItem], location_id: int) -> Levels:
    """The units on hand at ``location_id`` of each variant among ``items``."""
    return {
        item.identity.variant_id: level.total_inventory_onhand
        for item in items
        if item.identity.variant_id is not None
        for level in item.locations
        if level.location_id == location_id
    }
