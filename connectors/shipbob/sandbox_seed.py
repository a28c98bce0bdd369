"""The ShipBob sandbox's account seeded from the shared catalog (its own generator stays in
:mod:`.sandbox_state`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from connectors.shipbob import wire
from connectors.shipbob.sandbox_shipments import LOCATIONS

if TYPE_CHECKING:
    from connectors.sandbox_catalog import SharedCatalog
    from connectors.shipbob.sandbox_state import SandboxState


def seed_shared_catalog(state: SandboxState, catalog: SharedCatalog, epoch: datetime) -> None:
    """Seed ``catalog``'s products and variants (not its bundles: the warehouse picks their
    components) with the account's own ids, a minute apart
    from ``epoch`` on, weights in ounces, the barcode as the variant's only barcode, and all
    of a variant's stock on hand, none committed, at the first fulfillment center.

    One center holds it all so that ShipBob's total fulfillable is the catalog's stock and any
    order the pool covers is routed at once: split over centers, an order for more than one
    center holds would wait out of stock though the pool has the units."""
    first = LOCATIONS[0][0]
    for n, shared in enumerate(catalog.pooled_products()):
        stamp = epoch + timedelta(minutes=n)
        product = state.new_product(shared.name, stamp)
        for item in shared.variants:
            variant = state.new_variant(product, item.sku, shared.variant_name(item), stamp)
            ounces = round(float(item.weight.to("oz").value), 2)
            variant.weight = wire.WeightView(weight=ounces, unit="oz")
            variant.barcodes = [wire.Barcode(value=item.barcode)]
            stock = state.stock[variant.inventory.inventory_id]  # type: ignore[union-attr,index]
            stock.on_hand[first] = item.stock
