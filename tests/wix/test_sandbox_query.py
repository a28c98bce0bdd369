"""The Wix sandbox's filters: Wix's query language, read once for every entity."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.wix.sandbox_query import Getter, QueryError, compiled_filter

FIELDS = ("sku", "numericId", "lastUpdated", "choices")
ENTITIES: dict[str, dict[str, list[Any]]] = {
    "shirt": {
        "sku": ["SH-1", "SH-1-RED", "SH-1-BLU"],
        "numericId": ["1001"],
        "lastUpdated": ["2026-01-02T00:00:00.000Z"],
        "choices": [{"Color": "Red"}],
    },
    "mug": {
        "sku": ["MUG"],
        "numericId": ["1002"],
        "lastUpdated": ["2026-01-03T00:00:00.000Z"],
        "choices": [],
    },
    "gift card": {"sku": [], "numericId": ["1003"], "lastUpdated": [], "choices": []},
}


def getter(name: str) -> Getter:
    return lambda field: ENTITIES[name].get(field, [])


def passing(filter_: Any) -> list[str]:
    passes = compiled_filter(filter_, FIELDS)
    return [name for name in ENTITIES if passes(getter(name))]


@pytest.mark.parametrize(
    ("filter_", "names"),
    [
        ({"sku": "MUG"}, ["mug"]),
        ({"sku": {"$in": ["SH-1-BLU", "MUG", "NONE"]}}, ["shirt", "mug"]),
        ({"sku": {"$hasSome": ["SH-1-RED"]}}, ["shirt"]),
        ({"sku": {"$nin": ["MUG"]}}, ["shirt", "gift card"]),
        ({"sku": {"$ne": "SH-1"}}, ["mug", "gift card"]),
        # Digit strings are numbers, in the filter and in the entity alike.
        ({"numericId": {"$in": [1001, "1003"]}}, ["shirt", "gift card"]),
        ({"numericId": {"$gt": "1001"}}, ["mug", "gift card"]),
        ({"lastUpdated": {"$gte": "2026-01-02T12:00:00Z"}}, ["mug"]),
        ({"sku": {"$startsWith": "SH-"}}, ["shirt"]),
        ({"sku": {"$contains": 7}}, []),
        ({"choices": {"$in": [{"Color": "Red"}]}}, ["shirt"]),
        ({"$or": [{"sku": "MUG"}, {"numericId": "1003"}]}, ["mug", "gift card"]),
        (
            {"$and": [{"numericId": {"$gte": 1001}}, {"$not": {"sku": "MUG"}}]},
            ["shirt", "gift card"],
        ),
        ({"sku": {"$in": ["SH-1", "MUG"]}, "numericId": {"$lt": 1002}}, ["shirt"]),
        ({}, ["shirt", "mug", "gift card"]),
    ],
)
def test_filters_as_wix_reads_them(filter_: Any, names: list[str]) -> None:
    assert passing(filter_) == names


@pytest.mark.parametrize(
    ("filter_", "field"),
    [
        ({"price": 5}, "price"),
        ({"sku": {"$regex": "SH"}}, "sku.$regex"),
        ({"sku": {"$in": "MUG"}}, "$in"),
        ({"$or": {"sku": "MUG"}}, "$or"),
        ({"$not": [{"sku": "MUG"}]}, "filter"),
        ([{"sku": "MUG"}], "filter"),
    ],
)
def test_a_filter_wix_refuses_is_refused_whatever_it_would_find(filter_: Any, field: str) -> None:
    with pytest.raises(QueryError) as refused:
        compiled_filter(filter_, FIELDS)
    assert refused.value.field == field


def test_values_that_do_not_compare_are_refused_when_compared() -> None:
    passes = compiled_filter({"lastUpdated": {"$gt": 5}}, FIELDS)
    assert not passes(getter("gift card"))  # no value to compare
    with pytest.raises(QueryError, match="cannot compare"):
        passes(getter("mug"))
