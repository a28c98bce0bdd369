"""The canonical model's pure helpers: unit conversion, variant names, fallback SKUs, origins."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.model import (
    Dimensions,
    Weight,
    fallback_sku,
    origin,
    split_origin,
    variant_name,
)

amounts = st.decimals(min_value=0, max_value=10_000, places=3, allow_nan=False)


def test_weight_conversions_use_exact_factors() -> None:
    assert Weight(Decimal(1), "lb").to("oz").value == Decimal(16)
    assert Weight(Decimal(1), "kg").to("g").value == Decimal(1000)
    assert Weight(Decimal("453.59237"), "g").to("lb").value == Decimal(1)


@given(value=amounts, unit=st.sampled_from(["g", "kg", "oz", "lb"]))
def test_weight_round_trips_through_any_unit(value: Decimal, unit: str) -> None:
    weight = Weight(value, "g")
    back = weight.to(unit).to("g")  # type: ignore[arg-type]
    assert abs(back.value - value) < Decimal("1e-20")


@given(length=amounts, width=amounts, height=amounts)
def test_dimensions_round_trip_between_cm_and_inches(
    length: Decimal, width: Decimal, height: Decimal
) -> None:
    box = Dimensions(length, width, height, "in")
    back = box.to("cm").to("in")
    assert (back.length, back.width, back.height) == (length, width, height)
    assert box.to("cm").length == length * Decimal("2.54")


def test_variant_name_appends_meaningful_option_values() -> None:
    assert variant_name("Shirt", ["Blue", "S"]) == "Shirt - Blue / S"
    assert variant_name("Mug", ["Default Title"]) == "Mug"
    assert variant_name("Mug", []) == "Mug"
    assert variant_name("Cap", ["", "Red"]) == "Cap - Red"


def test_fallback_sku_is_namespaced_by_channel() -> None:
    assert fallback_sku("shop1", "gid://shopify/ProductVariant/7") == (
        "shop1:gid://shopify/ProductVariant/7"
    )


@given(
    platform=st.from_regex(r"[a-z][a-z0-9_-]{0,11}", fullmatch=True),
    store_id=st.text(min_size=1, max_size=40),
)
def test_an_origin_splits_back_at_its_first_colon(platform: str, store_id: str) -> None:
    made = origin(platform, store_id)
    assert made == f"{platform}:{store_id}"
    assert split_origin(made) == (platform, store_id)


@pytest.mark.parametrize(
    ("platform", "store_id"),
    [("", "shop"), ("Shopify", "shop"), ("shop:ify", "shop"), ("shop%", "x"), ("shopify", "")],
)
def test_an_origin_needs_a_plain_platform_and_a_store_id(platform: str, store_id: str) -> None:
    with pytest.raises(ValueError):
        origin(platform, store_id)


@pytest.mark.parametrize("text", ["", "shopify", "shopify:", ":shop", "Shopify:shop", "a%:b"])
def test_other_strings_are_not_origins(text: str) -> None:
    assert split_origin(text) is None
