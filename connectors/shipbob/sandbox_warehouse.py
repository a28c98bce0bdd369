"""The ShipBob sandbox's warehouse: the test hooks that play fulfilment on the account.

``POST /_sandbox/ship`` picks, packs, labels and ships whole shipments (split or not) in one
call; ``POST /_sandbox/shipments/{id}`` moves one shipment one step. Each step goes through
:func:`.sandbox_shipments.take_step`, so the hooks change exactly what ShipBob's lifecycle does
and fire the same webhooks (through the state's ``notify``), and moves stock as ShipBob does
(:mod:`.sandbox_stock`): a shipment that leaves takes its units off on-hand and committed at
its fulfillment center, one moved to ``Exception`` gives back what it committed, and one moved
back from ``Exception`` is committed again, or refused (422) when no center has its units.
"""

from __future__ import annotations

from typing import Any

import msgspec

from connectors.shipbob import sandbox_shipments as lifecycle
from connectors.shipbob import wire
from connectors.shipbob.sandbox_shipments import LOCATIONS
from connectors.shipbob.sandbox_state import Reply, SandboxState


def _holds(shipment: wire.Shipment) -> dict[str, int]:
    """What a shipment holds: quantity per SKU."""
    return {p.sku or "": lifecycle.quantity(p) for p in shipment.products}


class Warehouse:
    """Fulfilment hooks over ``state``; answers ``(status, body)`` like the state does."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def _find(self, shipment_id: int) -> tuple[wire.Order, wire.Shipment] | None:
        for order in self.state.orders.values():
            for shipment in order.shipments:
                if shipment.id == shipment_id:
                    return order, shipment
        return None

    def _step(
        self,
        order: wire.Order,
        shipment: wire.Shipment,
        step: str,
        tracking: wire.Tracking | None = None,
    ) -> None:
        """One lifecycle step, with what follows from it: stock leaves with the parcel (an
        exception holds none), the order's status and update time change, and ShipBob's
        webhook for the step fires."""
        topic = lifecycle.take_step(shipment, step, self.state.now(), tracking)
        if step == "Completed":
            self.state.ledger.ship(shipment)
        elif step == "Exception":
            self.state.ledger.release(shipment)
        order.status = lifecycle.order_status(order.shipments)
        self.state.touch(order)
        if topic is not None:
            self.state.notify(topic, order)

    def _tracking(self, shipment: wire.Shipment, spec: dict[str, Any]) -> wire.Tracking:
        """What a label assigns: the hook's carrier, number and URL, or made-up ones (ShipBob
        never labels without a tracking number)."""
        return wire.Tracking(
            carrier=spec.get("carrier") or "USPS",
            tracking_number=spec.get("tracking_number") or f"9400{shipment.id:018d}",
            tracking_url=spec.get("tracking_url"),
        )

    def move(self, shipment_id: int, body: dict[str, Any]) -> Reply:
        """Test hook: one lifecycle step, ``{"to": step}`` plus, for ``LabeledCreated``, the
        optional ``carrier``, ``tracking_number`` and ``tracking_url``. Cancelling goes through
        the API's ``:cancel``, as it does at ShipBob. A step out of turn, or from ``Exception``
        back to ``Processing`` when no fulfillment center has the units, is refused (422)."""
        found = self._find(shipment_id)
        if found is None:
            return 404, {"shipment_id": [f"no shipment {shipment_id}"]}
        order, shipment = found
        step = body.get("to")
        if step not in lifecycle.STEPS or step == "Cancelled":
            steps = ", ".join(s for s in lifecycle.STEPS if s != "Cancelled")
            return 400, {"to": [f"expected one of: {steps}"]}
        try:
            if step == "Processing" and lifecycle.step_of(shipment) == "Exception":
                if not self.state.resume(order, shipment):
                    return 422, {"to": ["no fulfillment center has the units to ship it"]}
            else:
                self._step(order, shipment, step, self._tracking(shipment, body))
        except lifecycle.StepRefused as exc:
            return 422, {"to": [str(exc)]}
        return 200, order

    def ship(self, order_id: int, shipments: list[dict[str, Any]], to: str = "Completed") -> Reply:
        """Test hook: pick, pack and label one shipment per entry (``{"products": [{"sku" or
        "reference_id", "quantity"}], "carrier"?, "tracking_number"?, "tracking_url"?}``), then
        complete it unless ``to`` is ``"LabeledCreated"``. An entry that takes all that is left
        of the order's unstarted shipment is that shipment; any other is split off it, to
        another fulfillment center that has its units (else the same one), as ShipBob splits.
        Nothing changes unless every entry fits; an order waiting out of stock is refused (422).
        """
        order = self.state.orders.get(order_id)
        if order is None:
            return 404, {"order_id": [f"no order {order_id}"]}
        if order.status == "Cancelled":
            return 422, {"order_id": ["order is cancelled"]}
        if to not in ("LabeledCreated", "Completed"):
            return 400, {"to": ["expected LabeledCreated or Completed"]}
        unstarted = next((s for s in order.shipments if lifecycle.step_of(s) == "Processing"), None)
        if unstarted is None and any(s.status == "Exception" for s in order.shipments):
            return 422, {"order_id": ["out of stock: nothing to pick until stock is received"]}
        left = {} if unstarted is None else _holds(unstarted)
        plans: list[tuple[dict[str, Any], dict[str, int]]] = []
        for spec in shipments:
            lines: dict[str, int] = {}
            for line in spec.get("products", []):
                key = line.get("reference_id") or line.get("sku")
                match = next((p for p in order.products if key in (p.reference_id, p.sku)), None)
                sku, quantity = (match and match.sku) or "", line.get("quantity", 0)
                if not isinstance(quantity, int) or not 0 < quantity <= left.get(sku, 0):
                    return 400, {"products": [f"cannot ship {quantity} of {key!r}"]}
                left[sku] -= quantity
                lines[sku] = lines.get(sku, 0) + quantity
            if not lines:
                return 400, {"products": ["a shipment needs products"]}
            plans.append((spec, lines))
        for spec, lines in plans:
            assert unstarted is not None  # every plan took lines from it
            shipment = self._split(order, unstarted, lines)
            tracking = self._tracking(shipment, spec)
            for step in lifecycle.TO_LEAVE[: lifecycle.TO_LEAVE.index(to) + 1]:
                self._step(order, shipment, step, tracking)
        return 200, order

    def _split(
        self, order: wire.Order, unstarted: wire.Shipment, lines: dict[str, int]
    ) -> wire.Shipment:
        """``unstarted`` itself when ``lines`` is all it holds, else a new shipment holding
        ``lines``, taken out of it. The new one goes to another fulfillment center that has
        its units, as ShipBob splits by center, else stays at ``unstarted``'s; either way the
        commitment moves with the units (released, then committed where they now ship from)."""
        if _holds(unstarted) == lines:
            return unstarted
        assert unstarted.location is not None  # a Processing shipment has been routed
        origin, ledger, now = unstarted.location.id, self.state.ledger, self.state.now()
        ledger.release(unstarted)
        moved = []
        for product in unstarted.products:
            quantity = lines.get(product.sku or "", 0)
            if quantity:
                item = product.inventory_items[0]
                item.quantity -= quantity
                moved.append(
                    msgspec.structs.replace(
                        product, inventory_items=[msgspec.structs.replace(item, quantity=quantity)]
                    )
                )
        unstarted.products = [p for p in unstarted.products if lifecycle.quantity(p)]
        unstarted.last_update_at = now
        ledger.commit(unstarted, origin)  # what it still holds fits: it was committed there
        shipment = lifecycle.new_shipment(self.state.next_id("shipment"), order, moved, now)
        others = [loc for loc, _ in LOCATIONS if loc != origin]
        location = ledger.route(shipment, others)
        assert location is not None  # the origin has the units just released
        ledger.commit(shipment, location)
        order.shipments.append(shipment)
        return shipment
