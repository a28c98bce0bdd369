"""The ShipBob sandbox's shipment lifecycle: the steps a shipment takes, what each one changes,
which webhook ShipBob fires for it, what a cancel can still stop, and the order's status.

Statuses are the spec's (``OrderStatusEnum``), status details those of ShipBob's "Status
Reference" page. A shipment moves one step at a time::

    Processing → Picked → Packed → LabeledCreated → Completed → Delivered
    Processing ⇄ OnHold    Processing ⇄ Exception    Processing, OnHold, Exception → Cancelled

=============== ============== ================================ ============================
step            status         status detail                    webhook
=============== ============== ================================ ============================
Processing      Processing     (none)                           (none)
Picked          Processing     100 Picked                       (none)
Packed          Processing     101 Packed                       (none)
LabeledCreated  LabeledCreated 102 Labeled                      (none)
Completed       Completed      200 Processing (carrier pickup)  ``order.shipped``
Delivered       Completed      203 Delivered                    ``order.shipment.delivered``
OnHold          OnHold         401 InvalidAddress               ``order.shipment.on_hold``
Exception       Exception      303 OutOfStock                   ``order.shipment.exception``
Cancelled       Cancelled      (none)                           ``order.shipment.cancelled``
=============== ============== ================================ ============================

Every step sets ``last_update_at``. Labeling assigns ``tracking`` (carrier, number, URL),
``actual_fulfillment_date`` (the spec: "picked, packed, and label has been printed") and
``last_tracking_update_at``; completing sets ``tracking.shipping_date``; delivery sets
``delivery_date`` and ``last_tracking_update_at``.

ShipBob's pages describe ``order.shipped`` as firing when the label is "purchased, printed,
and scanned", "when a shipment leaves the warehouse", and (2026-07) when "first tracking
details become available after label purchase/print". The sandbox fires it when the shipment
leaves (``Completed``), once per shipment of a split order as the topic table says; no
2026-01 topic announces a label alone.

A shipment can be cancelled until it is picked (ShipBob: it "must not be picked, packed, or
shipped"). The order's status is imputed from its shipments', as ShipBob says it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from connectors.shipbob import wire


class Step(NamedTuple):
    status: str
    detail: tuple[int, str, str] | None
    """``(id, name, description)`` of the status detail this step reports."""
    topic: str | None
    """The webhook ShipBob fires when a shipment takes this step."""


STEPS: dict[str, Step] = {
    "Processing": Step("Processing", None, None),
    "Picked": Step("Processing", (100, "Picked", "Picking Completed"), None),
    "Packed": Step("Processing", (101, "Packed", "Packing Completed"), None),
    "LabeledCreated": Step("LabeledCreated", (102, "Labeled", "Label Generated"), None),
    "Completed": Step(
        "Completed", (200, "Processing", "Waiting For Carrier Pickup"), "order.shipped"
    ),
    "Delivered": Step(
        "Completed", (203, "Delivered", "Shipment Delivered"), "order.shipment.delivered"
    ),
    "OnHold": Step("OnHold", (401, "InvalidAddress", "Invalid Address"), "order.shipment.on_hold"),
    "Exception": Step(
        "Exception", (303, "OutOfStock", "No Stock On Hand For Sku"), "order.shipment.exception"
    ),
    "Cancelled": Step("Cancelled", None, "order.shipment.cancelled"),
}
NEXT: dict[str, tuple[str, ...]] = {
    "Processing": ("Picked", "OnHold", "Exception", "Cancelled"),
    "Picked": ("Packed",),
    "Packed": ("LabeledCreated",),
    "LabeledCreated": ("Completed",),
    "Completed": ("Delivered",),
    "Delivered": (),
    "OnHold": ("Processing", "Cancelled"),
    "Exception": ("Processing", "Cancelled"),
    "Cancelled": (),
}
LOCATIONS = ((10, "Cicero (IL)"), (28, "Moreno Valley (CA)"))
"""The sandbox's fulfillment centers: ``(location id, name)``."""
TO_LEAVE = ("Picked", "Packed", "LabeledCreated", "Completed")
"""The steps from a new shipment to one that has left the warehouse."""


class StepRefused(ValueError):
    """The shipment cannot take that step from where it is."""


def step_of(shipment: wire.Shipment) -> str:
    """The step a shipment is at, read from its status and first status detail."""
    detail = shipment.status_details[0].id if shipment.status_details else None
    for name, step in STEPS.items():
        if step.status == shipment.status and (step.detail and step.detail[0]) == detail:
            return name
    raise StepRefused(f"shipment {shipment.id} is {shipment.status} ({detail}): not modelled")


def take_step(
    shipment: wire.Shipment, step: str, now: datetime, tracking: wire.Tracking | None = None
) -> str | None:
    """Move ``shipment`` to ``step``, the next one from where it is; ``tracking`` is what
    labeling assigns. Returns the webhook topic ShipBob fires for the step, if any.

    Raises :class:`StepRefused` (changing nothing) when ``step`` is not a next step.
    """
    current = step_of(shipment)
    if step not in NEXT[current]:
        allowed = ", ".join(NEXT[current]) or "none"
        raise StepRefused(f"a {current} shipment cannot move to {step} (next: {allowed})")
    target = STEPS[step]
    shipment.status = target.status
    shipment.status_details = [] if target.detail is None else [wire.StatusDetail(*target.detail)]
    shipment.last_update_at = now
    if step == "LabeledCreated":
        shipment.tracking = tracking or wire.Tracking()
        shipment.actual_fulfillment_date = now
        shipment.last_tracking_update_at = now
    elif step == "Completed" and shipment.tracking is not None:
        shipment.tracking.shipping_date = now
    elif step == "Delivered":
        shipment.delivery_date = now
        shipment.last_tracking_update_at = now
    return target.topic


def cancel(
    shipments: Sequence[wire.Shipment], now: datetime
) -> tuple[str, list[wire.CanceledShipment], list[wire.Shipment]]:
    """Cancel every shipment that still can be: ``(result status, per-shipment results,
    the shipments cancelled now)``. ``Success`` when all went (or none was left to cancel),
    ``Failure`` when none could, ``PartialSuccess`` otherwise."""
    results: list[wire.CanceledShipment] = []
    cancelled: list[wire.Shipment] = []
    for shipment in shipments:
        step = step_of(shipment)
        if step == "Cancelled":
            continue
        if "Cancelled" in NEXT[step]:
            take_step(shipment, "Cancelled", now)
            cancelled.append(shipment)
            results.append(wire.CanceledShipment(shipment.id, True, action="Cancel"))
        else:
            reason = f"Shipment is {step} and cannot be cancelled"
            results.append(wire.CanceledShipment(shipment.id, False, "Cancel", reason))
    succeeded = len(cancelled)
    if succeeded == len(results):
        return "Success", results, cancelled
    return ("PartialSuccess" if succeeded else "Failure"), results, cancelled


def order_status(shipments: Sequence[wire.Shipment]) -> str:
    """The order status ShipBob imputes from its shipments' statuses."""
    live = [s for s in shipments if s.status != "Cancelled"]
    if shipments and not live:
        return "Cancelled"
    shipped = sum(s.status == "Completed" for s in live)
    if live and shipped == len(live):
        return "Fulfilled"
    if shipped:
        return "PartiallyFulfilled"
    if any(s.status == "Exception" for s in live):
        return "Exception"
    return "Processing"


def quantity(product: wire.ShipmentProduct) -> int:
    return sum(item.quantity for item in product.inventory_items)


def new_shipment(
    shipment_id: int, order: wire.Order, products: list[wire.ShipmentProduct], now: datetime
) -> wire.Shipment:
    """A shipment of ``order`` at the start of its lifecycle (``Processing``), not yet routed:
    the stock ledger assigns its fulfillment center (:mod:`.sandbox_stock`)."""
    return wire.Shipment(
        id=shipment_id,
        order_id=order.id,
        reference_id=order.reference_id,
        created_date=now,
        last_update_at=now,
        status="Processing",
        products=products,
    )
