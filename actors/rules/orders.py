"""Which store orders are imported into the fulfillment provider: a pure decision per order.

:func:`decide` applies a channel's import policy to one canonical order and says what to do
with it. It never does I/O, so the hub, ``shelfsync ctl import`` and the property tests all
ask the same question the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal

import msgspec

from connectors.model import FulfillmentStatus, Order, PaymentStatus


class ShipOption(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where a store's shipping method goes at the fulfillment provider."""

    ship_option: str
    """The fulfillment provider's ship option (ShipBob: its shipping method name)."""
    active: bool = True
    """False keeps the mapping but holds the orders that use it."""


class ImportPolicy(msgspec.Struct, frozen=True):
    """A channel's rules for importing orders (its ``[channels.orders]`` table and
    ``[channels.ship_methods]``)."""

    payment_statuses: frozenset[PaymentStatus] = frozenset({"paid"})
    fulfillment_statuses: frozenset[FulfillmentStatus] = frozenset(
        {"unfulfilled", "partially_fulfilled"}
    )
    ship_start: datetime | None = None
    """Orders created before this are never imported (the day a merchant switched over)."""
    history_days: int | None = None
    """Orders created more than this many days before the decision are never imported."""
    ship_methods: Mapping[str, ShipOption] = msgspec.field(default_factory=dict)
    """Store shipping method text → ship option."""


class Import(msgspec.Struct, frozen=True):
    ship_option: str


SkipReason = Literal[
    "draft",
    "cancelled",
    "closed",
    "test",
    "payment_status",
    "fulfillment_status",
    "before_ship_start",
    "outside_history_window",
    "no_shipping_address",
    "no_lines",
]


class Skip(msgspec.Struct, frozen=True):
    """Not an order to ship, now or ever (unless it changes): nothing is created, nothing held."""

    reason: SkipReason
    detail: str


HoldReason = Literal["unmapped_ship_method", "inactive_ship_method"]


class Hold(msgspec.Struct, frozen=True):
    """An order to ship that the configuration cannot route yet: it waits for an operator, and
    is decided again when the configuration is reloaded."""

    reason: HoldReason
    detail: str


Decision = Import | Skip | Hold


def decide(order: Order, policy: ImportPolicy, now: datetime) -> Decision:
    """What to do with ``order`` under ``policy`` at ``now``.

    Checks run in a fixed order, so an order that fails several says the first: lifecycle
    (draft, cancelled, closed, test), statuses, dates, address and lines, then the ship
    method. A skip is final for this version of the order; a hold names what to configure.
    """
    if order.status != "open":
        return Skip(order.status, f"order is {order.status}")
    if order.test:
        return Skip("test", "test order")
    if order.payment_status not in policy.payment_statuses:
        allowed = ", ".join(sorted(policy.payment_statuses))
        return Skip("payment_status", f"payment status {order.payment_status}, not {allowed}")
    if order.fulfillment_status not in policy.fulfillment_statuses:
        allowed = ", ".join(sorted(policy.fulfillment_statuses))
        return Skip(
            "fulfillment_status", f"fulfillment status {order.fulfillment_status}, not {allowed}"
        )
    if policy.ship_start is not None and order.created_at < policy.ship_start:
        return Skip("before_ship_start", f"created before {policy.ship_start.isoformat()}")
    if policy.history_days is not None and order.created_at < now - timedelta(
        days=policy.history_days
    ):
        return Skip("outside_history_window", f"created over {policy.history_days} days ago")
    if not _has_complete_address(order):
        return Skip("no_shipping_address", "no complete shipping address")
    if not order.lines:
        return Skip("no_lines", "no line left to ship")
    method = order.shipping_method or ""
    option = policy.ship_methods.get(method)
    if option is None:
        return Hold("unmapped_ship_method", f"shipping method {method!r} has no ship option")
    if not option.active:
        return Hold(
            "inactive_ship_method",
            f"shipping method {method!r} maps to inactive ship option {option.ship_option!r}",
        )
    return Import(option.ship_option)


def _has_complete_address(order: Order) -> bool:
    recipient = order.recipient
    return (
        recipient is not None
        and all(value.strip() for value in (recipient.name, recipient.address1, recipient.city))
        and bool(recipient.country.strip())
    )
