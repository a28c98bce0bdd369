"""Bundles between a store and the warehouse: a store sells a bundle SKU, the warehouse ships
its components.

:func:`expand` turns a store order's lines into what the warehouse picks; :func:`contract`
turns what a shipment carried back into the store's lines, so that the store's fulfillment
names the bundle it sold. Pure functions; the bundles are ``[[bundles]]`` in the config and
those the fulfillment provider declares (:func:`merged`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import msgspec

from connectors.model import BundleComponent, OrderLine, ShipmentLine

Bundles = Mapping[str, Sequence[BundleComponent]]
"""Bundle SKU → its components."""


def merged(configured: Bundles, declared: Bundles) -> dict[str, Sequence[BundleComponent]]:
    """Every bundle: those the provider ``declared`` and those ``configured``, a configured
    bundle taking the place of a declared one of the same SKU (the operator's word wins)."""
    return {**declared, **configured}


def expand(lines: Sequence[OrderLine], bundles: Bundles) -> list[OrderLine]:
    """``lines`` with each bundle line replaced by one line per component (units per bundle
    times the bundles ordered), named after the bundle; other lines as they are."""
    picked: list[OrderLine] = []
    for line in lines:
        components = bundles.get(line.sku)
        if not components:
            picked.append(line)
            continue
        picked += [
            msgspec.structs.replace(
                line,
                sku=part.sku,
                quantity=line.quantity * part.quantity,
                name=f"{line.name} ({part.sku})",
                unit_price=None,
            )
            for part in components
        ]
    return picked


def contract(
    shipped: Sequence[ShipmentLine], ordered: Sequence[OrderLine], bundles: Bundles
) -> list[ShipmentLine]:
    """What a shipment carried, as the store's order names it: as many whole bundles as its
    components make (up to the bundles ordered), then whatever components are left over,
    then the other lines."""
    left: Counter[str] = Counter()
    for carried in shipped:
        left[carried.sku] += carried.quantity
    result: list[ShipmentLine] = []
    for sold in ordered:
        components = bundles.get(sold.sku)
        if not components:
            continue
        whole = min(min(left[c.sku] // c.quantity for c in components), sold.quantity)
        if whole > 0:
            for part in components:
                left[part.sku] -= whole * part.quantity
            result.append(ShipmentLine(sku=sold.sku, quantity=whole))
    result += [ShipmentLine(sku=sku, quantity=n) for sku, n in left.items() if n > 0]
    return result
