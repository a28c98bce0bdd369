"""Shopify's ``query:`` search syntax and relay pagination, as the sandbox understands them.

Supported: ``field:value``, ``field:>value`` (``>=``, ``<``, ``<=``), quoted values ('…' or "…"),
``-field:value`` and ``NOT``, implicit and explicit ``AND``, ``OR``, parentheses. Comparisons
of timestamps are inclusive exactly as written (``>=`` includes the instant, ``>`` does not).
A bare word without a field matches nothing in particular and is ignored, as Shopify's free-text
search is out of scope. Unknown fields are ignored too (Shopify ignores them with a warning).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

Getter = Callable[[Any], Any]
Predicate = Callable[[Any], bool]

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<lparen>\()|(?P<rparen>\))|
      (?P<term>-?[A-Za-z_]+:(?:>=|<=|>|<)?(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s()]+))|
      (?P<word>[^\s()]+)
    )""",
    re.VERBOSE,
)


class SearchError(ValueError):
    """A search query the sandbox cannot parse."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise SearchError(f"cannot parse search query at {position}: {text[position:]!r}")
        position = match.end()
        kind = match.lastgroup or "word"
        value = match.group(kind)
        if kind == "word" and value in ("AND", "OR", "NOT"):
            kind = value
        out.append((kind, value))
    return out


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _parse_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SearchError(f"invalid timestamp {value!r}") from None
    if moment.tzinfo is None:
        raise SearchError(f"timestamp without a time zone: {value!r}")
    return moment


def _compare(actual: Any, op: str, wanted: str) -> bool:
    if actual is None:
        return False
    if isinstance(actual, bool):
        return op == "" and actual == (wanted.lower() == "true")
    if isinstance(actual, datetime):
        target: Any = _parse_time(wanted)
    elif isinstance(actual, int):
        target = int(wanted.rsplit("/", 1)[-1])
    elif isinstance(actual, (list, tuple, set, frozenset)):
        return op == "" and any(_compare(a, "", wanted) for a in actual)
    else:
        actual, target = str(actual).lower(), wanted.lower()
    if op == "":
        return bool(actual == target)
    if op == ">":
        return bool(actual > target)
    if op == ">=":
        return bool(actual >= target)
    if op == "<":
        return bool(actual < target)
    return bool(actual <= target)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], fields: Mapping[str, Getter]) -> None:
        self.tokens = tokens
        self.position = 0
        self.fields = fields

    def peek(self) -> str | None:
        return self.tokens[self.position][0] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def parse_or(self) -> Predicate:
        parts = [self.parse_and()]
        while self.peek() == "OR":
            self.take()
            parts.append(self.parse_and())
        parts = _joined_equalities(parts)
        return parts[0] if len(parts) == 1 else (lambda x: any(p(x) for p in parts))

    def parse_and(self) -> Predicate:
        parts = [self.parse_unary()]
        while self.peek() not in (None, "OR", "rparen"):
            if self.peek() == "AND":
                self.take()
            parts.append(self.parse_unary())
        return parts[0] if len(parts) == 1 else (lambda x: all(p(x) for p in parts))

    def parse_unary(self) -> Predicate:
        kind, value = self.take()
        if kind == "NOT":
            inner = self.parse_unary()
            return lambda x: not inner(x)
        if kind == "lparen":
            inner = self.parse_or()
            if self.peek() != "rparen":
                raise SearchError("unbalanced parentheses in search query")
            self.take()
            return inner
        if kind == "term":
            return self.term(value)
        if kind == "rparen":
            raise SearchError("unbalanced parentheses in search query")
        return lambda x: True

    def term(self, text: str) -> Predicate:
        negate = text.startswith("-")
        name, _, rest = text.lstrip("-").partition(":")
        op = next((o for o in (">=", "<=", ">", "<") if rest.startswith(o)), "")
        wanted = _unquote(rest[len(op) :])
        getter = self.fields.get(name)
        if getter is None:
            return lambda x: True
        if op and name in ("updated_at", "created_at"):
            _parse_time(wanted)  # fail on a malformed timestamp now, not per record
        if not op and not negate:
            return _Equals(name, getter, (wanted,))

        def predicate(x: Any) -> bool:
            return _compare(getter(x), op, wanted) != negate

        return predicate


class _Equals:
    """``field:value`` OR-ed over one or more values: a lookup with many SKUs (``sku:A OR
    sku:B OR …``) tests each record once against the set of them, not once per value."""

    def __init__(self, name: str, getter: Getter, wanted: tuple[str, ...]) -> None:
        self.name = name
        self.getter = getter
        self.wanted = wanted
        self._lowered = frozenset(value.lower() for value in wanted)

    def __call__(self, record: Any) -> bool:
        actual = self.getter(record)
        if isinstance(actual, str):  # what _compare does to a text: equal when lowered
            return actual.lower() in self._lowered
        return any(_compare(actual, "", value) for value in self.wanted)


def _joined_equalities(parts: list[Predicate]) -> list[Predicate]:
    """``parts`` of an OR with the equalities on each field joined into one, where the
    first of them stood."""
    joined: list[Predicate] = []
    equalities: dict[str, tuple[int, Getter, list[str]]] = {}
    for part in parts:
        if isinstance(part, _Equals):
            if part.name not in equalities:
                equalities[part.name] = (len(joined), part.getter, [])
                joined.append(part)
            equalities[part.name][2].extend(part.wanted)
        else:
            joined.append(part)
    for name, (index, getter, wanted) in equalities.items():
        joined[index] = _Equals(name, getter, tuple(wanted))
    return joined


def compile_search(text: str | None, fields: Mapping[str, Getter]) -> Predicate:
    """A predicate over records for ``text``; SearchError when the text does not parse."""
    if not text or not text.strip():
        return lambda x: True
    parser = _Parser(_tokens(text), fields)
    predicate = parser.parse_or()
    if parser.position != len(parser.tokens):
        raise SearchError("unbalanced parentheses in search query")
    return predicate


def encode_cursor(key: Sequence[Any]) -> str:
    raw = json.dumps([k.isoformat() if isinstance(k, datetime) else k for k in key])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> list[Any]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SearchError(f"invalid cursor {cursor!r}") from exc
    if not isinstance(raw, list):
        raise SearchError(f"invalid cursor {cursor!r}")
    return [datetime.fromisoformat(k) if isinstance(k, str) and "T" in k else k for k in raw]


MAX_PAGE = 250


def paginate(
    records: Sequence[Any],
    sort_key: Callable[[Any], tuple[Any, ...]],
    *,
    first: int | None,
    after: str | None,
    reverse: bool,
    to_node: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """A relay connection over ``records``: ``first`` after the record whose key ``after`` holds.

    Cursors encode the sort key of the record they follow, so pages stay stable while records
    are added or changed between calls. Raises SearchError for a missing or too large ``first``.
    """
    if first is None:
        raise SearchError("you must provide one of first or last")
    if first < 0 or first > MAX_PAGE:
        raise SearchError(f"first must be between 0 and {MAX_PAGE}")
    ordered = sorted(records, key=sort_key, reverse=reverse)
    if after is not None:
        mark = tuple(decode_cursor(after))
        ordered = [r for r in ordered if (sort_key(r) < mark if reverse else sort_key(r) > mark)]
    page = ordered[:first]
    cursors = [encode_cursor(sort_key(r)) for r in page]
    nodes = [to_node(r) for r in page]
    return {
        "nodes": nodes,
        "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, nodes, strict=True)],
        "pageInfo": {
            "hasNextPage": len(ordered) > first,
            "hasPreviousPage": after is not None,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }
