"""The pure sync rules: which orders import, and what each store is told about stock."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.rules.bundles import contract, expand, merged
from actors.rules.catalog import digest
from actors.rules.inventory import (
    bundle_quantity,
    changed,
    folded,
    needs_review,
    posted,
    sellable,
)
from actors.rules.orders import Hold, Import, ImportPolicy, ShipOption, Skip, decide
from actors.rules.pacing import SNAPSHOT_BUDGET_SHARE, snapshot_spacing
from connectors.model import (
    Address,
    BundleComponent,
    Dimensions,
    InventoryLevel,
    InventoryPush,
    Item,
    Order,
    OrderLine,
    ShipmentLine,
    StockTarget,
    Weight,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POLICY = ImportPolicy(ship_methods={"Standard": ShipOption("Ground")})


def order(**changes: object) -> Order:
    base = Order(
        channel="web",
        origin="shopify:web.myshopify.com",
        store_order_id="1",
        reference_id="#1001",
        status="open",
        payment_status="paid",
        fulfillment_status="unfulfilled",
        created_at=NOW - timedelta(days=1),
        updated_at=NOW,
        lines=[OrderLine(sku="A", quantity=1, name="A")],
        recipient=Address(name="Jane Doe", address1="1 Main St", city="Springfield", country="US"),
        shipping_method="Standard",
    )
    return msgspec.structs.replace(base, **changes)


def test_a_paid_unfulfilled_order_with_a_mapped_method_imports_with_its_ship_option() -> None:
    assert decide(order(), POLICY, NOW) == Import("Ground")
    assert decide(order(fulfillment_status="partially_fulfilled"), POLICY, NOW) == Import("Ground")


def test_each_filter_names_its_reason() -> None:
    cases = {
        "draft": order(status="draft"),
        "cancelled": order(status="cancelled"),
        "test": order(test=True),
        "payment_status": order(payment_status="pending"),
        "fulfillment_status": order(fulfillment_status="fulfilled"),
        "no_shipping_address": order(recipient=None),
        "no_lines": order(lines=[]),
    }
    for reason, case in cases.items():
        decision = decide(case, POLICY, NOW)
        assert isinstance(decision, Skip) and decision.reason == reason, (reason, decision)


def test_ship_start_and_history_window_bound_the_creation_date() -> None:
    started = msgspec.structs.replace(POLICY, ship_start=NOW - timedelta(hours=1))
    assert decide(order(), started, NOW) == Skip(
        "before_ship_start", f"created before {(NOW - timedelta(hours=1)).isoformat()}"
    )
    window = msgspec.structs.replace(POLICY, history_days=7)
    assert isinstance(decide(order(), window, NOW), Import)
    old = order(created_at=NOW - timedelta(days=8))
    assert decide(old, window, NOW) == Skip("outside_history_window", "created over 7 days ago")


def test_an_unmapped_or_inactive_method_holds_the_order() -> None:
    unmapped = decide(order(shipping_method="Overnight"), POLICY, NOW)
    assert isinstance(unmapped, Hold) and unmapped.reason == "unmapped_ship_method"
    assert "'Overnight'" in unmapped.detail
    inactive = ImportPolicy(ship_methods={"Standard": ShipOption("Ground", active=False)})
    held = decide(order(), inactive, NOW)
    assert isinstance(held, Hold) and held.reason == "inactive_ship_method"


def test_an_address_with_a_blank_street_is_incomplete() -> None:
    blank = Address(name="Jane", address1="  ", city="Springfield", country="US")
    assert decide(order(recipient=blank), POLICY, NOW) == Skip(
        "no_shipping_address", "no complete shipping address"
    )


quantities = st.integers(min_value=0, max_value=10_000)


@given(st.lists(st.tuples(quantities, quantities), max_size=5), quantities)
def test_sellable_is_fulfillable_minus_exception_minus_reserved(
    counts: list[tuple[int, int]], reserved: int
) -> None:
    levels = [
        InventoryLevel(sku="A", location=str(n), fulfillable=f, on_hand=f, committed=0, exception=e)
        for n, (f, e) in enumerate(counts)
    ]
    assert sellable(levels, reserved) == sum(f - e for f, e in counts) - reserved


@given(
    st.dictionaries(st.sampled_from("ABC"), st.integers(min_value=1, max_value=5), min_size=1),
    st.dictionaries(st.sampled_from("ABC"), st.integers(min_value=-5, max_value=100)),
)
def test_a_bundle_is_floored_by_its_scarcest_component(
    recipe: dict[str, int], stock: dict[str, int]
) -> None:
    components = [BundleComponent(sku, n) for sku, n in recipe.items()]
    bundles = bundle_quantity(components, stock)
    assert bundles >= 0
    # Enough of every component for that many bundles, and not for one more.
    assert all(max(stock.get(c.sku, 0), 0) >= bundles * c.quantity for c in components)
    assert any(max(stock.get(c.sku, 0), 0) < (bundles + 1) * c.quantity for c in components)


def test_bundle_examples() -> None:
    kit = [BundleComponent("A", 2), BundleComponent("B", 1)]
    assert bundle_quantity(kit, {"A": 7, "B": 10}) == 3
    assert bundle_quantity(kit, {"A": 7}) == 0


@given(st.integers(min_value=-50, max_value=50), st.integers(min_value=0, max_value=20))
def test_below_the_safety_threshold_zero_is_posted(quantity: int, threshold: int) -> None:
    shown = posted(quantity, threshold)
    assert shown >= 0
    assert shown == (quantity if quantity >= max(threshold, 1) else 0)


def test_only_changed_targets_are_written_and_big_jumps_are_reviewed() -> None:
    assert changed({"A": 3, "B": 4, "C": 0}, {"A": 3, "B": 5}) == {"B": 4, "C": 0}
    assert needs_review(100, 10, 50) and not needs_review(100, 60, 50)
    assert not needs_review(None, 10_000, 50) and not needs_review(100, 0, None)


KIT = {"KIT": [BundleComponent("A", 2), BundleComponent("B", 1)]}


def test_a_bundle_line_is_picked_as_its_components_and_shipped_back_as_the_bundle() -> None:
    sold = [OrderLine(sku="KIT", quantity=3, name="Kit"), OrderLine(sku="C", quantity=1, name="C")]
    picked = expand(sold, KIT)
    assert [(line.sku, line.quantity) for line in picked] == [("A", 6), ("B", 3), ("C", 1)]
    # A split shipment: two kits and C in one package, the third kit in another.
    first = contract([ShipmentLine("A", 4), ShipmentLine("B", 2), ShipmentLine("C", 1)], sold, KIT)
    assert [(line.sku, line.quantity) for line in first] == [("KIT", 2), ("C", 1)]
    # Components that make no whole bundle are named as they are.
    odd = contract([ShipmentLine("A", 3), ShipmentLine("B", 1)], sold, KIT)
    assert [(line.sku, line.quantity) for line in odd] == [("KIT", 1), ("A", 1)]


@given(st.integers(min_value=1, max_value=20), st.integers(min_value=0, max_value=5))
def test_contracting_what_expanding_picked_gives_back_the_order(kits: int, others: int) -> None:
    sold = [OrderLine(sku="KIT", quantity=kits, name="Kit")]
    if others:
        sold.append(OrderLine(sku="C", quantity=others, name="C"))
    picked = [ShipmentLine(line.sku, line.quantity) for line in expand(sold, KIT)]
    back = contract(picked, sold, KIT)
    assert [(line.sku, line.quantity) for line in back] == [
        (line.sku, line.quantity) for line in sold
    ]


# -- folding a stock push into one still waiting -----------------------------------------------


def test_a_folded_push_holds_both_the_newer_target_winning() -> None:
    waiting = InventoryPush(targets=[StockTarget("A", 5), StockTarget("B", 2)], reconcile=True)
    newer = InventoryPush(targets=[StockTarget("B", 7), StockTarget("C", 1)], reconcile=True)
    assert folded(waiting, newer) == InventoryPush(
        targets=[StockTarget("A", 5), StockTarget("B", 7), StockTarget("C", 1)],
        reconcile=True,
        read_first=True,
    )


def test_a_push_with_a_change_folded_in_is_no_reconcile() -> None:
    # The store shows the targets from before the change: that difference is no drift.
    change = InventoryPush(targets=[StockTarget("A", 4)])
    reconcile = InventoryPush(targets=[StockTarget("A", 5)], reconcile=True)
    assert not folded(change, reconcile).reconcile
    assert not folded(reconcile, change).reconcile
    assert folded(reconcile, change).targets == [StockTarget("A", 4)]


def test_a_push_with_a_reconcile_folded_in_reads_the_store_first() -> None:
    # The reconcile names every SKU, most of them unmoved: trusting what was last written,
    # the connector would set each to what the store already shows.
    change = InventoryPush(targets=[StockTarget("A", 4)])
    reconcile = InventoryPush(targets=[StockTarget("A", 5), StockTarget("B", 2)], reconcile=True)
    assert folded(change, reconcile).read_first
    assert folded(reconcile, change).read_first
    assert not folded(change, change).read_first


# -- spacing the reads of a snapshot stream ----------------------------------------------------


def test_a_shipbob_inventory_read_is_spaced_to_a_fifth_of_its_budget() -> None:
    per_second = 150 / 60
    # One read: the totals pages and the location pages, 250 items each.
    for skus, calls, spacing in ((1_000, 8, 16.0), (10_000, 80, 160.0)):
        assert 2 * math.ceil(skus / 250) == calls
        assert snapshot_spacing(calls, per_second) == pytest.approx(spacing)
        # Read back to back at that spacing, the reads take a fifth of 150 a minute.
        assert calls * 60 / spacing == pytest.approx(SNAPSHOT_BUDGET_SHARE * 150)


def test_a_cheaper_read_or_a_larger_share_spaces_reads_closer() -> None:
    assert snapshot_spacing(0, 2.5) == 0
    assert snapshot_spacing(2, 2.5) < snapshot_spacing(8, 2.5)
    assert snapshot_spacing(8, 2.5, share=0.5) == pytest.approx(6.4)


def test_a_configured_bundle_takes_the_place_of_a_declared_one_of_its_sku() -> None:
    declared = {"KIT": [BundleComponent("A", 1)], "BOX": [BundleComponent("C", 4)]}
    bundles = merged(KIT, declared)
    assert bundles == {"KIT": KIT["KIT"], "BOX": declared["BOX"]}


ITEM = Item(
    channel="web",
    store_item_id="1",
    sku="A",
    name="Mug - Blue",
    weight=Weight(Decimal("350"), "g"),
    dimensions=Dimensions(Decimal(10), Decimal(8), Decimal(9), "cm"),
    barcode="4006381333931",
    image_url="https://cdn.example.com/mug.png",
)


@given(
    st.sampled_from(["name", "weight", "dimensions", "barcode", "image_url"]),
    st.sampled_from(["channel", "store_item_id", "options", "updated_at"]),
)
def test_the_digest_changes_with_what_travels_and_only_with_that(
    travelling: str, staying: str
) -> None:
    others = {
        "name": "Mug - Red",
        "weight": Weight(Decimal("351"), "g"),
        "dimensions": Dimensions(Decimal(10), Decimal(8), Decimal(10), "cm"),
        "barcode": None,
        "image_url": "https://cdn.example.com/mug-2.png",
        "channel": "outlet",
        "store_item_id": "99",
        "options": ["Blue"],
        "updated_at": NOW,
    }
    assert digest(msgspec.structs.replace(ITEM, **{travelling: others[travelling]})) != digest(ITEM)
    assert digest(msgspec.structs.replace(ITEM, **{staying: others[staying]})) == digest(ITEM)
