"""The sandbox's own price of a query: Shopify's documented cost rules over a typed schema walk.

The client estimates cost from the document alone (:mod:`connectors.shopify.cost`); this module
must not share its shortcuts, or a query the client misprices could never fail a test. Every
decision here is made from the field's type in the schema, the way Shopify's server makes it.

Rules, from shopify.dev "GraphQL Admin API rate limits" (cost calculation table) unless noted:

- a field returning a scalar or an enum costs 0 (``__typename`` included);
- a field returning an object costs 1 plus its selection;
- a field returning an interface or a union costs the maximum of its possible selections: the
  selection is collected for each object type that can appear there (type conditions of inline
  fragments and fragment spreads decide what applies) and the dearest one counts. The table
  gives no base cost for the field itself; Shopify's engineering post on calculated query cost
  says interfaces and unions "cost one point" like objects. Both readings are taken, the
  conservative way: 1 plus the maximum;
- a field whose return type is a ``...Connection`` object is "sized by ``first`` and ``last``";
  the engineering post states the size as "two points plus the number of returned objects".
  So a connection costs 2 plus ``first`` (or ``last``) times the cost of one node, a node being
  an object (1 plus its selection) reached through ``nodes`` or ``edges { node }``. The two
  points cover the connection's own wrappers (``pageInfo``, ``edges``, ``cursor``). A
  connection without ``first``/``last`` is refused by Shopify; it is priced at the documented
  page maximum of 250 here (the conservative reading);
- a list of objects is not a connection: Shopify documents no list rule. A list that takes
  ``first``/``last`` is priced as that many objects; ``nodes(ids:)`` as one object per id
  (its documented contract: the nodes "with the given IDs", one per id). Any other list has no
  length before it runs and is priced as one object (lists such as ``selectedOptions`` would
  otherwise price every real query above the 1000-point limit);
- a mutation's root field costs 10. What its payload selection adds is not stated; the
  conservative reading is taken: 10 plus the payload's selection by the rules above.

``@skip``/``@include`` are honoured and fields are merged by response key, as execution does.
The *actual* cost applies the same rules to the result: a connection counts the nodes it
returned, a list the items it returned (an unsized list its dearest item), a null object costs
nothing ("the query can end early due to an object type field returning null"), and an
abstract value counts the selection of the object type it turned out to be.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLIncludeDirective,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    SelectionSetNode,
    get_argument_values,
    get_directive_values,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    get_variable_values,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    type_from_ast,
)
from graphql.execution.values import VariableValues

MUTATION_COST = 10
CONNECTION_COST = 2
MAX_PAGE_SIZE = 250
"""Shopify's page maximum: the size of a connection that names neither ``first`` nor ``last``."""

_NOT_RUN = object()
"""The value of a field before execution: price it at the most it may return."""


class PricingError(Exception):
    """The request cannot be priced: no such operation, or variables that do not coerce.

    ``errors`` are GraphQL errors to answer with, as Shopify does, before anything is charged.
    """

    def __init__(self, errors: list[GraphQLError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class PricedQuery:
    """One request bound to the schema, ready to be priced before and after it runs."""

    schema: GraphQLSchema
    operation: OperationDefinitionNode
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: VariableValues

    def requested(self) -> int:
        """The points reserved before execution: every connection full, every object there."""
        return self._root(_NOT_RUN)

    def actual(self, data: Any) -> int:
        """The points ``data`` (the execution's result) really used; never above requested."""
        return self._root(data)

    # -- walk ---------------------------------------------------------------------------------

    def _root(self, data: Any) -> int:
        if self.operation.operation == OperationType.MUTATION:
            root, base = self.schema.mutation_type, MUTATION_COST
        else:
            root, base = self.schema.query_type, 0
        assert root is not None  # a validated operation has a root type
        total = 0
        for key, nodes in self._collect(root, [self.operation.selection_set]).items():
            value = _child(data, key)
            if base and not nodes[0].name.value.startswith("__"):
                # The mutation's cost replaces its payload object's point; the payload's
                # selection is priced normally (see the module docstring).
                total += base + self._selection(self._field(root, nodes[0]).type, nodes, value)
            else:
                total += self._field_cost(root, nodes, value)
        return total

    def _field(self, parent: GraphQLObjectType, node: FieldNode) -> GraphQLField:
        field: GraphQLField = parent.fields[node.name.value]
        return field

    def _field_cost(self, parent: GraphQLObjectType, nodes: list[FieldNode], value: Any) -> int:
        if nodes[0].name.value.startswith("__"):
            return 0  # introspection meta-fields return scalars or introspection objects
        field = self._field(parent, nodes[0])
        named = get_named_type(field.type)
        if is_leaf_type(named) or value is None:
            return 0
        arguments = get_argument_values(field, nodes[0], self.variables)
        if _is_connection(named):
            assert isinstance(named, GraphQLObjectType)
            page = _page_size(arguments)
            return CONNECTION_COST + self._connection_nodes(named, nodes, value, page)
        if is_list_type(get_nullable_type(field.type)):
            length = _list_size(parent is self.schema.query_type, nodes[0], arguments)
            return self._list(field.type, nodes, value, length)
        return self._element(field.type, nodes, value)

    def _connection_nodes(
        self, connection: GraphQLObjectType, nodes: list[FieldNode], value: Any, size: int
    ) -> int:
        # ``nodes`` and ``edges { node }`` reach the same objects: priced once, the dearer way.
        best = 0
        for key, sub in self._collect(connection, _selections(nodes)).items():
            name = sub[0].name.value
            if name == "nodes":
                item_type = connection.fields[name].type
                best = max(best, self._list(item_type, sub, _child(value, key), size))
            elif name == "edges":
                edge = get_named_type(connection.fields[name].type)
                assert isinstance(edge, GraphQLObjectType)
                edges = _child(value, key)
                for node_key, node_fields in self._collect(edge, _selections(sub)).items():
                    if node_fields[0].name.value != "node":
                        continue
                    node_type = edge.fields["node"].type
                    if edges is _NOT_RUN:
                        best = max(best, size * self._element(node_type, node_fields, _NOT_RUN))
                    elif isinstance(edges, list):
                        items = [_child(e, node_key) for e in edges]
                        best = max(best, self._sum(node_type, node_fields, items))
        return best

    def _list(
        self, list_type: GraphQLOutputType, nodes: list[FieldNode], value: Any, size: int | None
    ) -> int:
        """A list of objects: ``size`` items if it is sized, else its dearest item."""
        if value is _NOT_RUN:
            return (1 if size is None else size) * self._element(list_type, nodes, _NOT_RUN)
        if not isinstance(value, list):
            return 0
        if size is None:
            return max(
                (self._element(list_type, nodes, v) for v in value if v is not None), default=0
            )
        return self._sum(list_type, nodes, value)

    def _sum(self, item_type: GraphQLOutputType, nodes: list[FieldNode], items: list[Any]) -> int:
        return sum(self._element(item_type, nodes, v) for v in items if v is not None)

    def _element(self, type_: GraphQLOutputType, nodes: list[FieldNode], value: Any) -> int:
        """One object (1 plus its selection), or one abstract value (1 plus its dearest case)."""
        named = get_named_type(type_)
        return 1 + max(
            (
                self._selection(candidate, nodes, value)
                for candidate in self._runtime_types(named, nodes, value)
            ),
            default=0,
        )

    def _selection(
        self, type_: GraphQLOutputType | GraphQLNamedType, nodes: list[FieldNode], value: Any
    ) -> int:
        named = get_named_type(type_)
        assert isinstance(named, GraphQLObjectType)
        return sum(
            self._field_cost(named, sub, _child(value, key))
            for key, sub in self._collect(named, _selections(nodes)).items()
        )

    def _runtime_types(
        self, named: GraphQLNamedType, nodes: list[FieldNode], value: Any
    ) -> list[GraphQLObjectType]:
        """The object types ``value`` may be: all possible ones before execution; after, the
        one ``__typename`` names, or those whose whole selection is present in ``value``."""
        if isinstance(named, GraphQLObjectType):
            return [named]
        assert is_abstract_type(named)
        possible = list(self.schema.get_possible_types(named))
        if value is _NOT_RUN:
            return possible
        if not isinstance(value, dict):
            return []
        matches = []
        for candidate in possible:
            fields = self._collect(candidate, _selections(nodes))
            typename = next(
                (value.get(k) for k, sub in fields.items() if sub[0].name.value == "__typename"),
                None,
            )
            if typename == candidate.name:
                return [candidate]
            if typename is None and all(key in value for key in fields):
                matches.append(candidate)
        return matches

    # -- field collection ---------------------------------------------------------------------

    def _collect(
        self, type_: GraphQLObjectType, selection_sets: Iterable[SelectionSetNode]
    ) -> dict[str, list[FieldNode]]:
        """The fields that apply to ``type_``, by response key, as execution collects them."""
        fields: dict[str, list[FieldNode]] = {}
        for selection_set in selection_sets:
            self._visit(type_, selection_set, fields, set())
        return fields

    def _visit(
        self,
        type_: GraphQLObjectType,
        selection_set: SelectionSetNode,
        fields: dict[str, list[FieldNode]],
        seen: set[str],
    ) -> None:
        for selection in selection_set.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                fields.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if self._applies(selection.type_condition, type_):
                    self._visit(type_, selection.selection_set, fields, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if name not in seen and fragment and self._applies(fragment.type_condition, type_):
                    seen.add(name)
                    self._visit(type_, fragment.selection_set, fields, seen)

    def _included(self, node: SelectionNode) -> bool:
        skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
        include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        return not (skip and skip["if"]) and not (include and not include["if"])

    def _applies(self, condition: Any, type_: GraphQLObjectType) -> bool:
        if condition is None:
            return True
        conditional = type_from_ast(self.schema, condition)
        if conditional is type_:
            return True
        return is_abstract_type(conditional) and self.schema.is_sub_type(conditional, type_)


def _is_connection(named: GraphQLNamedType) -> bool:
    """Relay's naming contract, which Shopify's schema keeps: a connection is ``...Connection``."""
    return isinstance(named, GraphQLObjectType) and named.name.endswith("Connection")


def _page_size(arguments: Mapping[str, Any]) -> int:
    for name in ("first", "last"):
        if isinstance(arguments.get(name), int):
            return int(arguments[name])
    return MAX_PAGE_SIZE


def _list_size(on_root: bool, node: FieldNode, arguments: Mapping[str, Any]) -> int | None:
    for name in ("first", "last"):
        if isinstance(arguments.get(name), int):
            return int(arguments[name])
    if on_root and node.name.value == "nodes" and isinstance(arguments.get("ids"), list):
        return len(arguments["ids"])
    return None


def _selections(nodes: list[FieldNode]) -> list[SelectionSetNode]:
    return [n.selection_set for n in nodes if n.selection_set is not None]


def _child(value: Any, key: str) -> Any:
    if value is _NOT_RUN:
        return _NOT_RUN
    return value.get(key) if isinstance(value, dict) else None


def price(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> PricedQuery:
    """Bind a validated ``document`` and its raw ``variables`` to ``schema`` for pricing.

    Variables are coerced as execution coerces them (operation defaults applied), so a page
    size given as ``first: $first`` is read whether it was sent or defaulted. Raises
    :class:`PricingError` when the operation is missing or ambiguous or the variables do not
    coerce.
    """
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        raise PricingError([GraphQLError("No operation to run: name one with operationName.")])
    coerced = get_variable_values(
        schema, operation.variable_definitions or (), dict(variables or {})
    )
    if isinstance(coerced, list):
        raise PricingError(coerced)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return PricedQuery(schema, operation, fragments, coerced)
