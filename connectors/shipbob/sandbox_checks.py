"""The ShipBob sandbox's rules that need no account state: the rate window, fault knobs and
create-order validation (ShipBob's ModelState error map)."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import msgspec

from connectors.sandbox_faults import RateScale

ORDER_TYPES = ("DTC", "DropShip", "B2B")
Errors = dict[str, list[str]]
RATE_LIMIT = 150
"""Calls per sliding minute per token."""


class SlidingWindow:
    """ShipBob's limit: ``limit`` requests per ``window`` seconds, sliding, per key."""

    def __init__(self, limit: int = RATE_LIMIT, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._calls: dict[str, deque[float]] = {}

    def admit(self, key: str, now: float) -> tuple[bool, int, int]:
        """``(admitted, remaining calls, seconds to wait)``; a refused call is not counted."""
        calls = self._calls.setdefault(key, deque())
        while calls and calls[0] <= now - self.window:
            calls.popleft()
        if len(calls) >= self.limit:
            return False, 0, max(1, math.ceil(calls[0] + self.window - now))
        calls.append(now)
        return True, self.limit - len(calls), 0


class Faults(msgspec.Struct, forbid_unknown_fields=True):
    """Fault knobs, all off by default; randomness comes from the state's seeded generator."""

    error_rate: float = 0.0
    """Share of API calls answered 500."""
    latency_ms: int = 0
    timeout_rate: float = 0.0
    """Share of API calls that hang for two minutes (trio time) and then answer 504."""
    throttle_burst: int = 0
    """The next N API calls are answered 429 regardless of the window."""
    duplicate_webhooks: bool = False
    """Deliver every webhook twice, with the same webhook-id."""
    reorder_webhooks: bool = False
    """Delay each delivery by a random 0-2 s, so deliveries overtake each other."""
    out_of_order_webhooks: bool = False
    """Hold every other event to a subscription back by ShipBob's first retry delay, as a
    failed first attempt would: the next event overtakes it, so an older state of an order
    arrives after a newer one (ShipBob does not promise order)."""
    webhooks_without_tracking: bool = False
    """Send ``order.shipped`` with the shipments' ``tracking`` left out, as seen in practice."""
    rate_scale: RateScale = 1.0
    """The sliding window admits :data:`RATE_LIMIT` calls a minute times this; setting it
    empties the window."""


def query_int(query: dict[str, str], name: str, default: int, errors: Errors) -> int:
    try:
        return int(query.get(name, default))
    except ValueError:
        errors[name] = [f"The value '{query[name]}' is not valid for {name}."]
        return default


def validate_order(body: dict[str, Any]) -> Errors:
    """ShipBob's checks of a create-order body, as a ModelState map (empty when valid)."""
    errors: Errors = {}

    def need(value: Any, field: str, kind: type = str) -> None:
        if not isinstance(value, kind) or (isinstance(value, str) and not value.strip()):
            errors[field] = [f"The {field} field is required."]

    need(body.get("reference_id"), "reference_id")
    if isinstance(body.get("reference_id"), str) and len(body["reference_id"]) > 300:
        errors["reference_id"] = ["reference_id must be at most 300 characters."]
    need(body.get("shipping_method"), "shipping_method")
    if body.get("type") not in ORDER_TYPES:
        errors["type"] = [f"The type field is required: one of {', '.join(ORDER_TYPES)}."]
    recipient = body.get("recipient")
    need(recipient, "recipient", dict)
    if isinstance(recipient, dict):
        need(recipient.get("name"), "recipient.name")
        address = recipient.get("address")
        need(address, "recipient.address", dict)
        if isinstance(address, dict):
            for field in ("address1", "city", "country"):
                need(address.get(field), f"recipient.address.{field}")
    products = body.get("products")
    if not isinstance(products, list) or not products:
        errors["products"] = ["At least one product is required."]
        return errors
    for i, line in enumerate(products):
        if not isinstance(line, dict):
            errors[f"products[{i}]"] = ["Must be an object."]
            continue
        need(line.get("reference_id"), f"products[{i}].reference_id")
        need(line.get("name"), f"products[{i}].name")
        quantity = line.get("quantity")
        if not isinstance(quantity, int) or quantity < 1:
            errors[f"products[{i}].quantity"] = ["quantity must be a positive integer."]
    return errors
