"""Why something waits in the exception queue: the closed set of reason codes, in one place.

Connectors raise :class:`~connectors.errors.RecordError` with one of these; the hub holds orders
and stock moves with one of these; the channel actor records a write or a read that ran out of
retries as ``retries_exhausted``. The table in README.md ("Exceptions") is this module.
"""

from __future__ import annotations

from typing import Literal, get_args

ExceptionReason = Literal[
    # orders the hub holds
    "unmapped_ship_method",
    "inactive_ship_method",
    "unknown_sku",
    "no_fulfillment_provider",
    "oversell",
    # stock moves the hub holds
    "review_threshold",
    # records and webhooks that cannot be understood
    "schema",
    "interpret_failed",
    "incomplete_address",
    "several_addresses",
    "too_many_lines",
    "reference_id",
    # writes a platform refused, or that cannot be made
    "remote_validation",
    "not_found",
    "stale",
    "conflict",
    "precondition",
    "no_tracking",
    "nothing_to_fulfil",
    "split_shipment",
    "ambiguous_fulfillment",
    "tracking_mismatch",
    "unsupported",
    "unsupported_write",
    # reads and writes that failed every try
    "retries_exhausted",
]

MEANINGS: dict[ExceptionReason, str] = {
    "unmapped_ship_method": "the store's shipping method has no ship option in the config",
    "inactive_ship_method": "the shipping method maps to a ship option marked inactive",
    "unknown_sku": "an order line's SKU is not at the provider and auto-create is off",
    "no_fulfillment_provider": "no enabled fulfillment channel to create the order in",
    "oversell": "the order takes a SKU below zero in the shared pool",
    "review_threshold": "a stock change larger than the channel's review_threshold",
    "schema": "a record, webhook or answer does not have the expected shape (field path named)",
    "interpret_failed": "the connector failed on a record (a bug: the error is named)",
    "incomplete_address": "the order has no complete recipient for the provider",
    "several_addresses": "the order ships to several addresses, which is not supported",
    "too_many_lines": "the order has more lines than one read returns",
    "reference_id": "the order's reference id cannot be built for the provider",
    "remote_validation": "the platform refused the write (its message is kept)",
    "not_found": "the platform does not know the entity the write is about",
    "stale": "a compare-and-set stock write kept losing to changes made in the store",
    "conflict": "the platform refused the write as conflicting with the entity's state (409)",
    "precondition": "the platform refused the write as a precondition failed (428)",
    "no_tracking": "a shipment without tracking number cannot be written to the store",
    "nothing_to_fulfil": "the store's order has nothing left to fulfil for the shipment",
    "split_shipment": "a second shipment of an order the platform marks shipped only once",
    "ambiguous_fulfillment": "an existing fulfillment may be this one; cannot tell",
    "tracking_mismatch": "the order is already shipped under other tracking",
    "unsupported": "the channel's platform cannot make this kind of write",
    "unsupported_write": "the provider cannot make this kind of write",
    "retries_exhausted": "a read or write failed with retryable errors on every try",
}

RETRYABLE: frozenset[ExceptionReason] = frozenset(
    {
        "unmapped_ship_method",
        "inactive_ship_method",
        "unknown_sku",
        "no_fulfillment_provider",
        "remote_validation",
        "not_found",
        "stale",
        "retries_exhausted",
    }
)
"""What ``ctl exceptions replay --all-retryable`` replays: reasons a config reload, a fix at the
platform or time can cure, so that replaying them all is safe. An oversell and a review hold are
approvals (replayed one by one, on purpose); a record of the wrong shape needs a fix first."""

ExceptionKind = Literal["order", "sku", "stock", "record", "webhook", "read", "write"]
"""What an exception is about, which decides what a replay does (README, "Exceptions")."""

REASONS: tuple[ExceptionReason, ...] = get_args(ExceptionReason)
