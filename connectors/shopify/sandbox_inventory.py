"""The sandbox's ``inventorySetQuantities``: Shopify's checks, all-or-nothing application."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLError

from connectors.shopify.sandbox_state import LOCATION_ID, ShopState, gid, gid_number, iso

Emit = Callable[[str, dict[str, Any]], None]

REASONS = frozenset(
    {
        "correction",
        "cycle_count_available",
        "damaged",
        "movement_canceled",
        "movement_created",
        "movement_received",
        "movement_updated",
        "other",
        "promotion",
        "quality_control",
        "received",
        "reservation_created",
        "reservation_deleted",
        "reservation_updated",
        "restock",
        "safety_stock",
        "shrinkage",
    }
)
QUANTITY_LIMIT = 1_000_000_000
MESSAGES = {
    "INVALID_REASON": "The quantity reason is invalid.",
    "INVALID_NAME": "The quantity name must be available or on_hand.",
    "INVALID_INVENTORY_ITEM": "The specified inventory item could not be found.",
    "INVALID_LOCATION": "The specified location could not be found.",
    "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR": "The combination of inventoryItemId and locationId must be unique.",  # noqa: E501
    "ITEM_NOT_STOCKED_AT_LOCATION": "The specified inventory item is not stocked at the location.",
    "INVALID_QUANTITY_NEGATIVE": "The quantity can't be negative.",
    "INVALID_QUANTITY_TOO_HIGH": "The quantity can't be higher than 1,000,000,000.",
    "CHANGE_FROM_QUANTITY_STALE": "The specified compare quantity is stale.",
    "COMPARE_QUANTITY_REQUIRED": "The compareQuantity argument must be given to each quantity or ignored using ignoreCompareQuantity.",  # noqa: E501
    "COMPARE_QUANTITY_STALE": "The specified compare quantity is stale.",
    "IDEMPOTENCY_KEY_PARAMETER_MISMATCH": "The same idempotency key was used with different parameters.",  # noqa: E501
}
"""userError messages by code (wording modelled on Shopify's)."""
MAX_INPUT_ARRAY = 250


def inventory_item_node(state: ShopState, item_id: int) -> dict[str, Any]:
    variant = state.variants[state.item_to_variant[item_id]]
    weight = None
    if variant.weight is not None:
        weight = {"value": variant.weight[0], "unit": variant.weight[1]}
    return {
        "id": gid("InventoryItem", item_id),
        "sku": variant.sku,
        "tracked": True,
        "requiresShipping": True,
        "measurement": {"id": gid("InventoryItemMeasurement", item_id), "weight": weight},
        "inventoryLevel": lambda info, locationId: level_node(state, item_id, locationId),
    }


QUANTITY_NAMES = frozenset(
    {"available", "on_hand", "committed", "incoming", "reserved", "damaged", "safety_stock",
     "quality_control"}
)  # fmt: skip


def level_node(state: ShopState, item_id: int, location_gid: str) -> dict[str, Any] | None:
    """The item's level at the location; None when it is not stocked there."""
    location = gid_number(location_gid, "Location")
    level = state.levels.get((item_id, location or -1))
    if level is None:
        return None
    level_id = gid("InventoryLevel", item_id)

    def quantities(info: Any, names: list[str]) -> list[dict[str, Any]]:
        return [
            {"id": f"{level_id}?name={n}", "name": n, "quantity": level.get(n, 0)}
            for n in names
            if n in QUANTITY_NAMES
        ]

    return {"id": level_id, "quantities": quantities}


def inventory_errors(errors: list[tuple[list[str] | None, str]]) -> dict[str, Any]:
    return {
        "inventoryAdjustmentGroup": None,
        "userErrors": [{"field": f, "code": c, "message": MESSAGES[c]} for f, c in errors],
    }


def set_quantities(state: ShopState, input: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Apply ``inventorySetQuantities``: every quantity or none, per Shopify's checks."""
    errors: list[tuple[list[str] | None, str]] = []
    name = input["name"]
    if name not in ("available", "on_hand"):
        errors.append((["input", "name"], "INVALID_NAME"))
    if input["reason"] not in REASONS:
        errors.append((["input", "reason"], "INVALID_REASON"))
    quantities = input["quantities"]
    if len(quantities) > MAX_INPUT_ARRAY:
        raise GraphQLError(
            f"The input array size of {len(quantities)} is greater than the maximum allowed of "
            f"{MAX_INPUT_ARRAY}.",
            extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"},
        )
    seen: set[tuple[int, int]] = set()
    plan: list[tuple[int, int, int]] = []
    for index, q in enumerate(quantities):
        path = ["input", "quantities", str(index)]
        item = gid_number(q["inventoryItemId"], "InventoryItem")
        location = gid_number(q["locationId"], "Location")
        if item is None or item not in state.item_to_variant:
            errors.append(([*path, "inventoryItemId"], "INVALID_INVENTORY_ITEM"))
            continue
        if location != LOCATION_ID:
            errors.append(([*path, "locationId"], "INVALID_LOCATION"))
            continue
        if (item, location) in seen:
            errors.append(([*path], "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR"))
            continue
        seen.add((item, location))
        level = state.levels.get((item, location))
        if level is None:
            errors.append(([*path, "locationId"], "ITEM_NOT_STOCKED_AT_LOCATION"))
            continue
        quantity = q["quantity"]
        if quantity < 0:
            errors.append(([*path, "quantity"], "INVALID_QUANTITY_NEGATIVE"))
            continue
        if quantity > QUANTITY_LIMIT:
            errors.append(([*path, "quantity"], "INVALID_QUANTITY_TOO_HIGH"))
            continue
        current = level.get(name, 0)
        # An explicit changeFromQuantity (even null) overrides compareQuantity and
        # ignoreCompareQuantity (schema, InventoryQuantityInput.changeFromQuantity).
        if "changeFromQuantity" in q:
            expected = q["changeFromQuantity"]
            if expected is not None and expected != current:
                errors.append(([*path, "changeFromQuantity"], "CHANGE_FROM_QUANTITY_STALE"))
                continue
        elif not input.get("ignoreCompareQuantity"):
            expected = q.get("compareQuantity")
            if expected is None:
                errors.append(([*path, "compareQuantity"], "COMPARE_QUANTITY_REQUIRED"))
                continue
            if expected != current:
                errors.append(([*path, "compareQuantity"], "COMPARE_QUANTITY_STALE"))
                continue
        plan.append((item, location, quantity))
    if errors:
        return inventory_errors(errors)
    if all(state.levels[(item, location)][name] == q for item, location, q in plan):
        state.counters["noop_writes"] += 1
    changes: list[dict[str, Any]] = []
    for item, location, quantity in plan:
        level = state.levels[(item, location)]
        delta = quantity - level[name]
        other = "on_hand" if name == "available" else "available"
        level[name] = quantity
        level[other] += delta  # on_hand = available + committed; committed does not move
        for changed in (name, other):
            changes.append(
                {
                    "name": changed,
                    "delta": delta,
                    "quantityAfterChange": level[changed],
                    "item": inventory_item_node(state, item),
                    "location": {"id": gid("Location", location), "name": "Sandbox warehouse"},
                    "ledgerDocumentUri": None,
                }
            )
        emit(
            "inventory_levels/update",
            {
                "inventory_item_id": item,
                "location_id": location,
                "available": level["available"],
                "updated_at": iso(state.now()),
                "admin_graphql_api_id": gid("InventoryLevel", item),
            },
        )
    group_id = state.next_id("InventoryAdjustmentGroup")
    return {
        "inventoryAdjustmentGroup": {
            "id": gid("InventoryAdjustmentGroup", group_id),
            "createdAt": iso(state.now()),
            "reason": input["reason"],
            "referenceDocumentUri": input.get("referenceDocumentUri"),
            "changes": changes,
        },
        "userErrors": [],
    }
