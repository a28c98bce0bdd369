"""Shopify's calculated query cost, as the client estimates it before sending a query.

The sandbox does not use this module: it prices every query by its own schema walk
(:mod:`connectors.shopify.sandbox_cost`), so an estimate here that falls below Shopify's
rules fails a test instead of being charged at the same wrong price on both sides.

The rules (shopify.dev "API rate limits"; the multiplication for nested connections is Shopify's
documented example, the exact constants for mutations are not confirmed there):

- a scalar or enum field costs 0;
- an object field (or a list of objects) costs 1 plus its selection;
- a connection (a field taking ``first``/``last``) costs 2 plus ``first`` * the cost of one node,
  a node costing 1 plus its selection; ``pageInfo`` and ``edges`` add nothing beyond that;
  ``nodes(ids:)`` and lists taking ``first`` are priced the same way by their length;
- a mutation's root field costs 10 plus its payload's selection (Shopify states the 10, not
  what the payload adds; the sandbox charges the conservative reading, so the estimate does).

Page sizes are read from the arguments, from the variables sent, or from the variables'
defaults in the operation (``$first: Int = 50``). Only the document's AST is needed, not the
schema: a field is a connection when it takes ``first``/``last``, which holds for every document
in :mod:`connectors.shopify.queries` (a plain list taking ``first`` is overestimated by 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
    value_from_ast_untyped,
)

MUTATION_COST = 10
_CONNECTION_WRAPPERS = {"pageInfo"}


def _operation(document: DocumentNode) -> OperationDefinitionNode:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            return definition
    raise ValueError("document has no operation")


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _with_defaults(
    operation: OperationDefinitionNode, variables: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``variables`` plus the operation's defaults for those not sent, as Shopify applies them."""
    merged = {
        d.variable.name.value: value_from_ast_untyped(d.default_value)
        for d in operation.variable_definitions or ()
        if d.default_value is not None
    }
    merged.update(variables or {})
    return merged


def _page_size(field: FieldNode, variables: Mapping[str, Any]) -> int | None:
    for argument in field.arguments or ():
        if argument.name.value in ("first", "last"):
            value = value_from_ast_untyped(argument.value, dict(variables))
            return int(value) if isinstance(value, int) else 0
        if argument.name.value == "ids":  # ``nodes(ids:)``: a list priced by its length
            value = value_from_ast_untyped(argument.value, dict(variables))
            return len(value) if isinstance(value, list) else 0
    return None


def _fields(
    selection_set: SelectionSetNode | None, fragments: Mapping[str, FragmentDefinitionNode]
) -> list[FieldNode]:
    if selection_set is None:
        return []
    out: list[FieldNode] = []
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            out.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            out.extend(_fields(selection.selection_set, fragments))
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                out.extend(_fields(fragment.selection_set, fragments))
    return out


class _Walker:
    def __init__(self, document: DocumentNode, variables: Mapping[str, Any]) -> None:
        self.fragments = _fragments(document)
        self.variables = variables

    def requested(self, selection_set: SelectionSetNode | None) -> int:
        return sum(self.requested_field(f) for f in _fields(selection_set, self.fragments))

    def requested_field(self, field: FieldNode) -> int:
        if field.selection_set is None:
            return 0
        size = _page_size(field, self.variables)
        if size is None:
            if field.name.value in _CONNECTION_WRAPPERS:
                return 0
            return 1 + self.requested(field.selection_set)
        return 2 + size * self._node_requested(field.selection_set)

    def _node_requested(self, connection: SelectionSetNode) -> int:
        # A node is priced once whether it is selected as ``nodes`` or as ``edges { node }``;
        # a plain list with ``first`` (``Order.fulfillments``) prices each item as an object.
        fields = _fields(connection, self.fragments)
        if not any(f.name.value in ("nodes", "edges") for f in fields):
            return 1 + self.requested(connection)
        best = 1
        for field in fields:
            name = field.name.value
            if name == "nodes":
                best = max(best, 1 + self.requested(field.selection_set))
            elif name == "edges":
                for inner in _fields(field.selection_set, self.fragments):
                    if inner.name.value == "node":
                        best = max(best, 1 + self.requested(inner.selection_set))
        return best


def requested_cost(document: DocumentNode | str, variables: Mapping[str, Any] | None = None) -> int:
    """The points Shopify reserves before running ``document`` with ``variables``."""
    doc = parse(document) if isinstance(document, str) else document
    operation = _operation(doc)
    walker = _Walker(doc, _with_defaults(operation, variables))
    if operation.operation == OperationType.MUTATION:
        return sum(
            MUTATION_COST + walker.requested(field.selection_set)
            for field in _fields(operation.selection_set, walker.fragments)
        )
    return walker.requested(operation.selection_set)
