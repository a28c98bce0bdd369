"""Where a connector last wrote each SKU's stock, so that a later push can skip the look-up.

A storefront's stock write first looks its SKUs up (where each lives on the platform, what it
shows). For a push to SKUs written before, the connector already knows where they live: it
writes there at once, in one call instead of two or three. That is safe only when the store
has not moved them by itself since (the hub then asks the push to ``read_first``) and the
platform refuses a write to a place that is gone; a refusal makes the connector forget those
SKUs and fall back to the look-up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

from connectors.base import WriteResult
from connectors.errors import RecordError
from connectors.model import InventoryPush, StockTarget

_P = TypeVar("_P")


class WrittenPlaces(Generic[_P]):
    """Per canonical SKU, where its stock was last written (a platform's ids, and what else
    the write needs)."""

    def __init__(self) -> None:
        self.places: dict[str, _P] = {}

    def remember(self, places: dict[str, _P]) -> None:
        self.places |= places

    def forget(self, skus: Iterable[str]) -> None:
        for sku in skus:
            self.places.pop(sku, None)

    def forget_where(self, gone: Callable[[_P], bool]) -> None:
        """Forget every SKU whose place is ``gone``."""
        self.places = {sku: place for sku, place in self.places.items() if not gone(place)}

    async def write(
        self,
        push: InventoryPush,
        write: Callable[[dict[str, _P]], Awaitable[WriteResult]],
        *,
        usable: Callable[[StockTarget, _P], bool] = lambda target, place: True,
    ) -> WriteResult | None:
        """``write(places)`` of every target's place, when the push need not read the store
        first and each target's place is remembered (and ``usable`` for it); None when the
        caller must look the SKUs up instead: then, if the platform refused the write, those
        SKUs are forgotten. A stale answer (a compare-and-set overtaken) is the write's own to
        handle, and is raised."""
        if push.reconcile or push.read_first:
            return None
        places: dict[str, _P] = {}
        for target in push.targets:
            place = self.places.get(target.sku)
            if place is None or not usable(target, place):
                return None
            places[target.sku] = place
        try:
            return await write(places)
        except RecordError as exc:
            if exc.reason == "stale":
                raise
            self.forget(places)
            return None
