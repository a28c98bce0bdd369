"""Conformance with Shopify's published 2026-01 Admin schema.

Every document the client sends validates against Shopify's schema (variables' types
included), and the sandbox's own SDL is a compatible subset of it: same type kinds, same
field, argument and input field types, enum values and interfaces drawn from Shopify's.
The schema lives in ``../shared/reference/specs`` (not shipped); without it these tests skip.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    Undefined,
    build_schema,
    parse,
    validate,
)

from connectors.shopify import queries
from connectors.shopify.sandbox_schema import sandbox_schema

SPEC = Path(__file__).parents[2].parent / "shared/reference/specs/shopify/admin-2026-01.graphql"


@cache
def shopify_schema() -> GraphQLSchema:
    """Shopify's schema, built once per test run (about a second)."""
    # graphql-core 3.3 rejects Shopify's schema as a whole (implementations deprecating fields their
    # interfaces do not): a schema-design rule, not one documents depend on, so skip it.
    return build_schema(SPEC.read_text(), assume_valid=True)


@pytest.fixture
def shopify() -> GraphQLSchema:
    if not SPEC.exists():
        pytest.skip(f"Shopify's schema is not present at {SPEC} (fresh clone without ../shared)")
    return shopify_schema()


@pytest.mark.parametrize("operation", sorted(queries.ALL))
def test_client_documents_validate_against_shopify(shopify: GraphQLSchema, operation: str) -> None:
    errors = validate(shopify, parse(queries.ALL[operation]))
    assert errors == [], [e.message for e in errors]


@pytest.mark.parametrize("operation", sorted(queries.ALL))
def test_client_documents_validate_against_the_sandbox(operation: str) -> None:
    errors = validate(sandbox_schema(), parse(queries.ALL[operation]))
    assert errors == [], [e.message for e in errors]


def test_a_wrong_variable_type_is_caught(shopify: GraphQLSchema) -> None:
    # The check really covers variables: ID! where Shopify wants InventorySetQuantitiesInput!.
    broken = queries.INVENTORY_SET_QUANTITIES.replace("InventorySetQuantitiesInput!", "ID!")
    assert validate(shopify, parse(broken))


def _incompatibilities(ours: GraphQLSchema, theirs: GraphQLSchema) -> list[str]:
    problems: list[str] = []
    for name, ours_type in ours.type_map.items():
        if name.startswith("__"):
            continue
        their_type = theirs.type_map.get(name)
        if their_type is None:
            problems.append(f"type {name} is not Shopify's")
            continue
        if type(their_type) is not type(ours_type):
            problems.append(f"{name}: {type(ours_type).__name__} vs {type(their_type).__name__}")
            continue
        if isinstance(ours_type, (GraphQLObjectType, GraphQLInterfaceType)):
            assert isinstance(their_type, (GraphQLObjectType, GraphQLInterfaceType))
            their_interfaces = {i.name for i in their_type.interfaces}
            for interface in ours_type.interfaces:
                if interface.name not in their_interfaces:
                    problems.append(f"{name} does not implement {interface.name} in Shopify")
            for field_name, field in ours_type.fields.items():
                their_field = their_type.fields.get(field_name)
                if their_field is None:
                    problems.append(f"{name}.{field_name} is not Shopify's")
                    continue
                if str(field.type) != str(their_field.type):
                    problems.append(f"{name}.{field_name}: {field.type} vs {their_field.type}")
                for arg_name, arg in field.args.items():
                    their_arg = their_field.args.get(arg_name)
                    if their_arg is None:
                        problems.append(f"{name}.{field_name}({arg_name}) is not Shopify's")
                    elif str(arg.type) != str(their_arg.type):
                        problems.append(
                            f"{name}.{field_name}({arg_name}): {arg.type} vs {their_arg.type}"
                        )
                for arg_name, their_arg in their_field.args.items():
                    required = isinstance(their_arg.type, GraphQLNonNull)
                    if required and arg_name not in field.args:
                        problems.append(f"{name}.{field_name}({arg_name}) is required by Shopify")
        elif isinstance(ours_type, GraphQLInputObjectType):
            assert isinstance(their_type, GraphQLInputObjectType)
            for field_name, field in ours_type.fields.items():
                their_field = their_type.fields.get(field_name)
                if their_field is None:
                    problems.append(f"input {name}.{field_name} is not Shopify's")
                elif str(field.type) != str(their_field.type):
                    problems.append(
                        f"input {name}.{field_name}: {field.type} vs {their_field.type}"
                    )
            for field_name, their_field in their_type.fields.items():
                required = isinstance(their_field.type, GraphQLNonNull)
                if (
                    required
                    and their_field.default_value is Undefined
                    and field_name not in ours_type.fields
                ):
                    problems.append(f"input {name}.{field_name} is required by Shopify")
        elif isinstance(ours_type, GraphQLEnumType):
            assert isinstance(their_type, GraphQLEnumType)
            extra = set(ours_type.values) - set(their_type.values)
            if extra:
                problems.append(f"enum {name} has values Shopify lacks: {sorted(extra)}")
        else:
            assert isinstance(ours_type, GraphQLScalarType)
    for directive in ours.directives:
        their_directive = theirs.get_directive(directive.name)
        if their_directive is None:
            problems.append(f"directive @{directive.name} is not Shopify's")
            continue
        for arg_name, arg in directive.args.items():
            their_arg = their_directive.args.get(arg_name)
            if their_arg is None or str(arg.type) != str(their_arg.type):
                problems.append(f"@{directive.name}({arg_name}) differs")
        if set(directive.locations) - set(their_directive.locations):
            problems.append(f"@{directive.name} locations differ")
    return problems


def test_sandbox_schema_is_a_subset_of_shopifys(shopify: GraphQLSchema) -> None:
    assert _incompatibilities(sandbox_schema(), shopify) == []


def test_subset_check_notices_a_difference(shopify: GraphQLSchema) -> None:
    altered = build_schema("type QueryRoot { order(id: ID!): Order }\n"
                           "type Order { id: ID! name: Int }")  # fmt: skip
    assert _incompatibilities(altered, shopify) == ["Order.name: Int vs String!"]
