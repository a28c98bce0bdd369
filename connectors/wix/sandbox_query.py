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
import operator
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


Test = Callable[[Getter], bool]
"""Whether the entity behind a getter passes a filter."""


def compiled_filter(filter_: Any, fields: Collection[str]) -> Test:
    """``filter_`` as a test of entities, read once for all of them (a lookup of 100 SKUs
    is a set, not a list to walk for every variant); ``QueryError`` for a filter naming a
    field outside ``fields`` or an operator Wix does not have, as Wix refuses such a query
    whatever it would find."""
    if not isinstance(filter_, dict):
        raise QueryError("filter", "must be an object")
    tests = [_compiled_condition(key, condition, fields) for key, condition in filter_.items()]
    return lambda get: all(test(get) for test in tests)


def _compiled_condition(key: str, condition: Any, fields: Collection[str]) -> Test:
    if key in ("$and", "$or"):
        if not isinstance(condition, list):
            raise QueryError(key, "expects a list of filters")
        parts = [compiled_filter(part, fields) for part in condition]
        if key == "$and":
            return lambda get: all(part(get) for part in parts)
        return lambda get: any(part(get) for part in parts)
    if key == "$not":
        inner = compiled_filter(condition, fields)
        return lambda get: not inner(get)
    if key not in fields:
        raise QueryError(key, "is not a field this method can filter on")
    operations = condition if isinstance(condition, dict) else {"$eq": condition}
    checks = [_compiled_operation(key, op, expected) for op, expected in operations.items()]

    def test(get: Getter) -> bool:
        values = get(key)
        return all(check(values) for check in checks)

    return test


def _compiled_operation(key: str, op: str, expected: Any) -> Callable[[list[Any]], bool]:
    """Whether a field's values pass ``op``: a positive operator if any value does, ``$ne``
    and ``$nin`` if none matches."""
    if op in _POSITIVE:
        holds = _holding(op, expected)
        return lambda values: any(holds(value) for value in values)
    if op in ("$ne", "$nin"):
        matched = _holding("$eq" if op == "$ne" else "$in", expected)
        return lambda values: not any(matched(value) for value in values)
    raise QueryError(f"{key}.{op}", "is not a supported operator")


def _holding(op: str, expected: Any) -> Callable[[Any], bool]:
    """Whether one value satisfies the positive operator ``op`` against ``expected``."""
    if op in ("$in", "$hasSome"):
        if not isinstance(expected, list):
            raise QueryError(op, "expects a list")
        return _among([_norm(e) for e in expected])
    wanted = _norm(expected)
    if op == "$eq":
        return lambda actual: bool(_norm(actual) == wanted)
    if op in ("$startsWith", "$contains"):
        if not isinstance(expected, str):
            return lambda actual: False
        if op == "$startsWith":
            return lambda actual: isinstance(actual, str) and actual.startswith(expected)
        return lambda actual: isinstance(actual, str) and expected in actual
    compare = _ORDERINGS[op]

    def ordered(actual: Any) -> bool:
        try:
            return bool(compare(_norm(actual), wanted))
        except TypeError:
            raise QueryError(op, f"cannot compare {actual!r} with {expected!r}") from None

    return ordered


def _among(wanted: list[Any]) -> Callable[[Any], bool]:
    """Membership in ``wanted``, by a set where the values allow one."""
    try:
        hashed = frozenset(wanted)
    except TypeError:  # an object among them: compared one by one
        return lambda actual: _norm(actual) in wanted

    def among(actual: Any) -> bool:
        value = _norm(actual)
        try:
            return value in hashed
        except TypeError:
            return value in wanted

    return among


_ORDERINGS: dict[str, Callable[[Any, Any], Any]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


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
