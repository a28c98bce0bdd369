"""Inventory arithmetic: from the fulfillment provider's counts to what each store shows.

Pure functions, in the order they apply: :func:`sellable` per SKU, :func:`bundle_quantity`
for bundles, :func:`posted` for a channel's safety threshold, then :func:`changed` to write
only what differs and :func:`needs_review` to hold a suspicious jump; :func:`folded` joins a
push to one still waiting to be sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from connectors.model import BundleComponent, InventoryPush, StockTarget


class Counts(Protocol):
    """One location's counts of a SKU (a canonical ``InventoryLevel``, a stored stock row)."""

    @property
    def fulfillable(self) -> int: ...
    @property
    def exception(self) -> int: ...


def sellable(levels: Iterable[Counts], reserved: int = 0) -> int:
    """Units of one SKU that can be sold: fulfillable minus exception over every fulfillment
    center, minus ``reserved`` (units of orders accepted here that the provider has not counted
    yet). Negative when more is promised than there is: an oversell."""
    return sum(level.fulfillable - level.exception for level in levels) - reserved


def bundle_quantity(components: Iterable[BundleComponent], sellable_of: Mapping[str, int]) -> int:
    """Bundles that can be assembled: the scarcest component's units divided by the units a
    bundle takes, rounded down; a component with no count has none; never below 0."""
    counts = [max(sellable_of.get(c.sku, 0), 0) // c.quantity for c in components]
    return min(counts, default=0)


def posted(quantity: int, safety_threshold: int) -> int:
    """What a store is told: 0 below its safety threshold (and for any oversell), else the
    quantity."""
    return 0 if quantity < max(safety_threshold, 1) else quantity


def changed(targets: Mapping[str, int], last_pushed: Mapping[str, int]) -> dict[str, int]:
    """The targets that differ from what was last written to the store (all of them for SKUs
    never written)."""
    return {sku: n for sku, n in targets.items() if last_pushed.get(sku) != n}


def needs_review(previous: int | None, target: int, review_threshold: int | None) -> bool:
    """Whether a write moving a store from ``previous`` to ``target`` changes it by more than
    ``review_threshold`` units and must wait for an operator; a first write (no previous
    value) or no threshold never does."""
    if review_threshold is None or previous is None:
        return False
    return abs(target - previous) > review_threshold


def folded(waiting: InventoryPush, newer: InventoryPush) -> InventoryPush:
    """One push with the effect of ``waiting`` then ``newer``: targets are absolute, so each
    SKU gets the newer target where both name it. It is a reconcile only if both are: then
    what the store shows away from its targets is drift; with a change folded in, some of the
    difference is that change, and the write is not counted as a reconcile. It reads first if
    either does, or either is a reconcile: a reconcile names every SKU, moved or not, and
    written without reading, each would be set to what the store most likely shows already
    (on Wix, a call per product of the catalog)."""
    targets = {t.sku: t.quantity for t in waiting.targets}
    targets |= {t.sku: t.quantity for t in newer.targets}
    return InventoryPush(
        targets=[StockTarget(sku, n) for sku, n in sorted(targets.items())],
        reconcile=waiting.reconcile and newer.reconcile,
        read_first=any(p.read_first or p.reconcile for p in (waiting, newer)),
    )
