"""The Wix sandbox's reading of Wix's API Query Language: filters, sorts and cursors.

Filters are Mongo-like (dev.wix.com, "API Query Language"): ``{field: value}`` means
``$eq``; ``{field: {op: value}}`` with ``$eq $ne $in $nin $gt $gte $lt $lte`` (plus the
Stores V1 ``$hasSome``, an ``$in`` over a field's values, and ``$startsWith``/``$contains``);
``$and``/``$or`` take lists, ``$not`` one filter; several fields in one object must all hold.
A field may hold several values (a product's ``sku`` is the product's and its variants'): a
positive operator holds if any value satisfies it, ``$ne``/``$nin`` if none matches. ISO
timestamps compare as instants and digit strings as numbers, since Wix writes int64 fields
as strings. Each endpoint names the fields it can filter and sort on; another is a 400.

Cursors (orders search) are keysets: the sort, the filter and the last entity's sort values
and id, base64-encoded, so a page never repeats or skips an entity when others change.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from functools import cmp_to_key
from typing import Any, TypeVar

T = TypeVar("T")
Getter = Callable[[str], list[Any]]
"""``field → its values`` for one entity (an empty list for a field it lacks)."""
SortSpec = list[tuple[str, bool]]
"""``[(field, ascending)]``."""


class QueryError(ValueError):
    """A filter, sort or cursor Wix would refuse; ``field`` is what the violation names."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.field = field
        self.description = description


_POSITIVE = {"$eq", "$in", "$hasSome", "$gt", "$gte", "$lt", "$lte", "$startsWith", "$contains"}


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        if value.isdigit():
            return int(value)
        if len(value) >= 20 and value[4:5] == "-" and value[10:11] == "T":
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return value
    return value


def _holds(op: str, actual: Any, expected: Any) -> bool:
    a = _norm(actual)
    if op in ("$in", "$hasSome", "$nin"):
        if not isinstance(expected, list):
            raise QueryError(op, "expects a list")
        return a in [_norm(e) for e in expected]
    e = _norm(expected)
    if op in ("$eq", "$ne"):
        return bool(a == e)
    if op in ("$startsWith", "$contains"):
        if not (isinstance(actual, str) and isinstance(expected, str)):
            return False
        return actual.startswith(expected) if op == "$startsWith" else expected in actual
    try:
        if op == "$gt":
            return bool(a > e)
        if op == "$gte":
            return bool(a >= e)
        if op == "$lt":
            return bool(a < e)
        if op == "$lte":
            return bool(a <= e)
    except TypeError:
        raise QueryError(op, f"cannot compare {actual!r} with {expected!r}") from None
    raise QueryError(op, "is not a supported operator")


def matches(get: Getter, filter_: Any, fields: Collection[str]) -> bool:
    """Whether the entity behind ``get`` passes ``filter_``; ``QueryError`` for a filter
    naming a field outside ``fields`` or an operator Wix does not have."""
    if not isinstance(filter_, dict):
        raise QueryError("filter", "must be an object")
    for key, condition in filter_.items():
        if key in ("$and", "$or"):
            if not isinstance(condition, list):
                raise QueryError(key, "expects a list of filters")
            results = [matches(get, part, fields) for part in condition]
            if not (all(results) if key == "$and" else any(results)):
                return False
            continue
        if key == "$not":
            if matches(get, condition, fields):
                return False
            continue
        if key not in fields:
            raise QueryError(key, "is not a field this method can filter on")
        values = get(key)
        operations = condition if isinstance(condition, dict) else {"$eq": condition}
        for op, expected in operations.items():
            if op in _POSITIVE:
                if not any(_holds(op, value, expected) for value in values):
                    return False
            elif op in ("$ne", "$nin"):
                inner = "$eq" if op == "$ne" else "$in"
                if any(_holds(inner, value, expected) for value in values):
                    return False
            else:
                raise QueryError(f"{key}.{op}", "is not a supported operator")
    return True


def _compare(a: Any, b: Any) -> int:
    a, b = _norm(a), _norm(b)
    if a is None or b is None:
        return (a is not None) - (b is not None)  # missing values sort first
    return int((a > b) - (a < b))


def sorted_by(entities: Iterable[T], get_of: Callable[[T], Getter], sort: SortSpec) -> list[T]:
    """``entities`` ordered by ``sort``, then by id (every sort is total)."""
    decorated: list[tuple[list[Any], T]] = [(sort_values(get_of(e), sort), e) for e in entities]

    def compare(x: tuple[list[Any], T], y: tuple[list[Any], T]) -> int:
        return compare_values(x[0], y[0], sort)

    decorated.sort(key=cmp_to_key(compare))
    return [entity for _, entity in decorated]


def sort_values(get: Getter, sort: SortSpec) -> list[Any]:
    """The entity's values for ``sort`` and its id: what a cursor remembers of it."""
    return [next(iter(get(field)), None) for field, _ in sort] + [next(iter(get("id")), None)]


def compare_values(x: Sequence[Any], y: Sequence[Any], sort: SortSpec) -> int:
    """Compare two :func:`sort_values` lists in ``sort``'s order (the id ascending last)."""
    for (_, ascending), a, b in zip([*sort, ("id", True)], x, y, strict=True):
        result = _compare(a, b)
        if result:
            return result if ascending else -result
    return 0


def encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The state inside a cursor made by :func:`encode_cursor`; ``QueryError`` otherwise."""
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        raise QueryError("cursorPaging.cursor", "is not a cursor this method issued") from None
    if not isinstance(state, dict):
        raise QueryError("cursorPaging.cursor", "is not a cursor this method issued")
    return state
