"""The sandbox's GraphQL layer: ``sandbox.graphql`` bound to resolvers over :class:`ShopState`.

Reads build plain dicts shaped like Shopify's objects (connection fields are callables that
graphql-core's default resolver invokes with the field's arguments). Mutations follow
Shopify's documented behaviour: ``inventorySetQuantities`` is all-or-nothing, compares
``changeFromQuantity`` (or the deprecated ``compareQuantity``) and replays an ``@idempotent``
key's first result; ``fulfillmentCreate`` checks quantities against ``remainingQuantity``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeAlias

from graphql import (
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLResolveInfo,
    GraphQLSchema,
    build_schema,
    value_from_ast_untyped,
)

from connectors.shopify.sandbox_fulfillment import create_fulfillment, fulfillment_node
from connectors.shopify.sandbox_inventory import (
    inventory_errors,
    inventory_item_node,
    set_quantities,
)
from connectors.shopify.sandbox_search import compile_search, paginate
from connectors.shopify.sandbox_state import (
    LOCATION_ID,
    Fulfillment,
    FulfillmentOrder,
    Order,
    Product,
    ShopState,
    Variant,
    gid,
    gid_number,
    iso,
)

Info: TypeAlias = "GraphQLResolveInfo[Any]"
Emit = Callable[[str, dict[str, Any]], None]
"""``emit(topic, rest_body)``: hand a webhook event to the delivery queue."""


@cache
def sandbox_schema() -> GraphQLSchema:
    """The sandbox's schema, built once from ``sandbox.graphql`` shipped beside this module."""
    schema = build_schema(Path(__file__).with_name("sandbox.graphql").read_text())
    media = schema.get_type("Media")
    assert isinstance(media, GraphQLInterfaceType)
    media.resolve_type = lambda value, info, type_: "MediaImage"
    node = schema.get_type("Node")
    assert isinstance(node, GraphQLInterfaceType)
    # Every GID names its type: gid://shopify/<Type>/<number>.
    node.resolve_type = lambda value, info, type_: value["id"].split("/")[3]
    return schema


# -- nodes ------------------------------------------------------------------------------------


_VARIANT_ORDER: dict[str, Callable[[Variant], tuple[Any, ...]]] = {
    "ID": lambda v: (v.id,),
    "SKU": lambda v: (v.sku, v.id),
    "TITLE": lambda v: (v.title, v.id),
}


def product_node(state: ShopState, product: Product) -> dict[str, Any]:
    media: dict[str, Any] | None = None
    if product.image_url is not None:
        image = {"id": gid("ImageSource", product.id), "altText": None, "url": product.image_url}
        media = {"id": gid("MediaImage", product.id), "alt": None, "preview": {"image": image}}
        media["image"] = image
    return {
        "id": gid("Product", product.id),
        "title": product.title,
        "status": product.status,
        "createdAt": iso(product.created_at),
        "updatedAt": iso(product.updated_at),
        "featuredMedia": media,
        "variants": lambda info, **args: paginate(
            [state.variants[i] for i in product.variant_ids],
            _variant_order(product, args.get("sortKey") or "POSITION"),
            reverse=bool(args.get("reverse")),
            to_node=lambda v: variant_node(state, v),
            **_connection_args(args),
        ),
    }


def _variant_order(product: Product, sort: str) -> Callable[[Variant], tuple[Any, ...]]:
    """A sort key for the variants of ``product``; ``POSITION`` is their order on the product."""
    if sort == "POSITION":
        position = {variant_id: i for i, variant_id in enumerate(product.variant_ids)}
        return lambda v: (position[v.id],)
    return _VARIANT_ORDER[sort]


def variant_node(state: ShopState, variant: Variant) -> dict[str, Any]:
    product = state.products[variant.product_id]
    level = state.levels.get((variant.inventory_item_id, LOCATION_ID))
    return {
        "id": gid("ProductVariant", variant.id),
        "sku": variant.sku,
        "barcode": variant.barcode,
        "title": variant.title,
        "displayName": f"{product.title} - {variant.title}",
        "createdAt": iso(variant.created_at),
        "updatedAt": iso(variant.updated_at),
        "inventoryQuantity": level["available"] if level else 0,
        "selectedOptions": [{"name": n, "value": v} for n, v in variant.options]
        or [{"name": "Title", "value": "Default Title"}],
        "product": lambda info: product_node(state, product),
        "inventoryItem": inventory_item_node(state, variant.inventory_item_id),
    }


def _connection_args(args: dict[str, Any]) -> dict[str, Any]:
    if args.get("last") is not None or args.get("before") is not None:
        raise GraphQLError("The sandbox supports first/after pagination only.")
    return {"first": args.get("first"), "after": args.get("after")}


def fulfillment_order_node(state: ShopState, fo: FulfillmentOrder) -> dict[str, Any]:
    order = state.orders[fo.order_id]

    def line_node(index: int) -> dict[str, Any]:
        line = fo.lines[index]
        item = line_item_node(state, order, line.line_item_id)
        return {
            "id": gid("FulfillmentOrderLineItem", line.id),
            "sku": line.sku,
            "remainingQuantity": line.remaining,
            "totalQuantity": line.total,
            "lineItem": item,
            "variant": item["variant"],
        }

    return {
        "id": gid("FulfillmentOrder", fo.id),
        "orderId": gid("Order", fo.order_id),
        "status": fo.status,
        "createdAt": iso(fo.created_at),
        "updatedAt": iso(fo.updated_at),
        "order": lambda info: order_node(state, order),
        "assignedLocation": {
            "name": "Sandbox warehouse",
            "location": {"id": gid("Location", fo.location_id), "name": "Sandbox warehouse"},
        },
        "lineItems": lambda info, **args: paginate(
            range(len(fo.lines)),
            lambda i: (i,),
            reverse=bool(args.get("reverse")),
            to_node=line_node,
            **_connection_args(args),
        ),
    }


def fulfillment_with_lines(state: ShopState, f: Fulfillment) -> dict[str, Any]:
    """``fulfillment_node`` plus ``fulfillmentLineItems``: what this fulfillment shipped."""
    order = state.orders[f.order_id]
    fo_lines = {
        line.id: line
        for fo_id in order.fulfillment_order_ids
        for line in state.fulfillment_orders[fo_id].lines
    }

    def line_node(index: int) -> dict[str, Any]:
        fo_line_id, quantity = f.lines[index]
        return {
            "id": gid("FulfillmentLineItem", f.id * 1000 + index),
            "quantity": quantity,
            "lineItem": line_item_node(state, order, fo_lines[fo_line_id].line_item_id),
        }

    return {
        **fulfillment_node(f),
        "fulfillmentLineItems": lambda info, **args: paginate(
            range(len(f.lines)),
            lambda i: (i,),
            reverse=bool(args.get("reverse")),
            to_node=line_node,
            **_connection_args(args),
        ),
    }


def line_item_node(state: ShopState, order: Order, line_id: int) -> dict[str, Any]:
    item = next(i for i in order.lines if i.id == line_id)
    variant = None if item.variant_id is None else state.variants.get(item.variant_id)
    return {
        "id": gid("LineItem", item.id),
        "sku": item.sku,
        "name": item.title,
        "title": item.title,
        "quantity": item.quantity,
        "currentQuantity": 0 if order.cancelled_at else item.quantity,
        # Units no fulfillment has taken yet: what the order's fulfillment orders still hold.
        "unfulfilledQuantity": sum(
            line.remaining
            for fo_id in order.fulfillment_order_ids
            for line in state.fulfillment_orders[fo_id].lines
            if line.line_item_id == item.id
        ),
        "requiresShipping": True,
        "variant": None if variant is None else lambda info: variant_node(state, variant),
    }


def order_node(state: ShopState, order: Order) -> dict[str, Any]:
    address = None
    if order.address is not None:
        address = {"id": gid("MailingAddress", order.id), **order.address}
    return {
        "id": gid("Order", order.id),
        "name": order.name,
        "createdAt": iso(order.created_at),
        "updatedAt": iso(order.updated_at),
        "cancelledAt": iso(order.cancelled_at),
        "closed": order.closed,
        "test": order.test,
        "email": "ada@example.com",
        "note": order.note,
        "displayFinancialStatus": order.financial,
        "displayFulfillmentStatus": order.fulfillment,
        "customAttributes": [{"key": k, "value": v} for k, v in order.attributes],
        "shippingAddress": address,
        "shippingLine": (
            None
            if order.shipping_title is None
            else {
                "id": gid("ShippingLine", order.id),
                "title": order.shipping_title,
                "code": order.shipping_title.lower(),
                "source": "shopify",
                "carrierIdentifier": None,
            }
        ),
        "lineItems": lambda info, **args: paginate(
            [i.id for i in order.lines],
            lambda i: (i,),
            reverse=bool(args.get("reverse")),
            to_node=lambda i: line_item_node(state, order, i),
            **_connection_args(args),
        ),
        "fulfillments": lambda info, first=None, query=None: [
            fulfillment_with_lines(state, f)
            for f in state.fulfillments.values()
            if f.order_id == order.id
        ][:first],
        "fulfillmentOrders": lambda info, **args: paginate(
            order.fulfillment_order_ids,
            lambda i: (i,),
            reverse=bool(args.get("reverse")),
            to_node=lambda i: fulfillment_order_node(state, state.fulfillment_orders[i]),
            **_connection_args(args),
        ),
    }


# -- search fields ----------------------------------------------------------------------------

_FULFILLMENT_SEARCH = {
    "UNFULFILLED": {"unfulfilled", "unshipped"},
    "PARTIALLY_FULFILLED": {"partial", "unshipped"},
    "FULFILLED": {"fulfilled", "shipped"},
    "ON_HOLD": {"on_hold"},
    "SCHEDULED": {"scheduled"},
    "REQUEST_DECLINED": {"request_declined"},
}


def _order_status(order: Order) -> set[str]:
    if order.cancelled_at is not None:
        return {"cancelled", "closed"}
    return {"closed"} if order.closed else {"open", "not_closed"}


def variant_fields(state: ShopState) -> dict[str, Callable[[Variant], Any]]:
    return {
        "updated_at": lambda v: v.updated_at,
        "created_at": lambda v: v.created_at,
        "sku": lambda v: v.sku,
        "barcode": lambda v: v.barcode,
        "id": lambda v: v.id,
        "product_id": lambda v: v.product_id,
        "product_status": lambda v: state.products[v.product_id].status,
    }


PRODUCT_FIELDS: dict[str, Callable[[Product], Any]] = {
    "updated_at": lambda p: p.updated_at,
    "created_at": lambda p: p.created_at,
    "id": lambda p: p.id,
    "status": lambda p: p.status,
    "title": lambda p: p.title,
}

ORDER_FIELDS: dict[str, Callable[[Order], Any]] = {
    "updated_at": lambda o: o.updated_at,
    "created_at": lambda o: o.created_at,
    "financial_status": lambda o: o.financial,
    "fulfillment_status": lambda o: _FULFILLMENT_SEARCH.get(o.fulfillment, set()),
    "status": _order_status,
    "test": lambda o: o.test,
    "name": lambda o: [o.name, o.name.lstrip("#")],
    "id": lambda o: o.id,
    "sku": lambda o: [line.sku for line in o.lines],
}


# -- root -------------------------------------------------------------------------------------


def idempotency_key(info: Info) -> str | None:
    """The ``@idempotent(key:)`` on the executing field, if any; GraphQLError if blank."""
    for directive in info.field_nodes[0].directives or ():
        if directive.name.value == "idempotent":
            for argument in directive.arguments or ():
                if argument.name.value == "key":
                    key = value_from_ast_untyped(argument.value, dict(info.variable_values.coerced))
                    if not isinstance(key, str) or not key.strip():
                        raise GraphQLError("The idempotency key cannot be blank.")
                    return key
    return None


class Root:
    """Query and mutation root fields (graphql-core calls them with the field's arguments)."""

    def __init__(self, state: ShopState, emit: Emit) -> None:
        self.state = state
        self.emit = emit

    def productVariants(self, info: Info, **args: Any) -> dict[str, Any]:
        state = self.state
        matches = compile_search(args.get("query"), variant_fields(state))
        sort = args.get("sortKey") or "ID"
        if sort == "POSITION":
            raise GraphQLError("POSITION sorts the variants of one product only.")
        return paginate(
            [v for v in state.variants.values() if matches(v)],
            _VARIANT_ORDER[sort],
            reverse=bool(args.get("reverse")),
            to_node=lambda v: variant_node(state, v),
            **_connection_args(args),
        )

    def products(self, info: Info, **args: Any) -> dict[str, Any]:
        state = self.state
        matches = compile_search(args.get("query"), PRODUCT_FIELDS)
        keys: dict[str, Callable[[Product], tuple[Any, ...]]] = {
            "ID": lambda p: (p.id,),
            "TITLE": lambda p: (p.title, p.id),
            "CREATED_AT": lambda p: (p.created_at, p.id),
            "UPDATED_AT": lambda p: (p.updated_at, p.id),
        }
        return paginate(
            [p for p in state.products.values() if matches(p)],
            keys[args.get("sortKey") or "ID"],
            reverse=bool(args.get("reverse")),
            to_node=lambda p: product_node(state, p),
            **_connection_args(args),
        )

    def productVariant(self, info: Info, id: str) -> dict[str, Any] | None:
        number = gid_number(id, "ProductVariant")
        variant = self.state.variants.get(number or -1)
        return None if variant is None else variant_node(self.state, variant)

    def product(self, info: Info, id: str) -> dict[str, Any] | None:
        product = self.state.products.get(gid_number(id, "Product") or -1)
        return None if product is None else product_node(self.state, product)

    def orders(self, info: Info, **args: Any) -> dict[str, Any]:
        state = self.state
        matches = compile_search(args.get("query"), ORDER_FIELDS)
        sort = args.get("sortKey") or "PROCESSED_AT"
        keys: dict[str, Callable[[Order], tuple[Any, ...]]] = {
            "ID": lambda o: (o.id,),
            "UPDATED_AT": lambda o: (o.updated_at, o.id),
            "CREATED_AT": lambda o: (o.created_at, o.id),
            "PROCESSED_AT": lambda o: (o.created_at, o.id),
        }
        return paginate(
            [o for o in state.orders.values() if matches(o)],
            keys[sort],
            reverse=bool(args.get("reverse")),
            to_node=lambda o: order_node(state, o),
            **_connection_args(args),
        )

    def order(self, info: Info, id: str) -> dict[str, Any] | None:
        order = self.state.orders.get(gid_number(id, "Order") or -1)
        return None if order is None else order_node(self.state, order)

    def fulfillmentOrder(self, info: Info, id: str) -> dict[str, Any] | None:
        fo = self.state.fulfillment_orders.get(gid_number(id, "FulfillmentOrder") or -1)
        return None if fo is None else fulfillment_order_node(self.state, fo)

    def location(self, info: Info, id: str | None = None) -> dict[str, Any] | None:
        if id is not None and gid_number(id, "Location") != LOCATION_ID:
            return None
        return {"id": gid("Location", LOCATION_ID), "name": "Sandbox warehouse"}

    def nodes(self, info: Info, ids: list[str]) -> list[dict[str, Any] | None]:
        if len(ids) > 250:
            raise GraphQLError("The input array size of ids is greater than 250.")
        return [self._node(i) for i in ids]

    def _node(self, id: str) -> dict[str, Any] | None:
        state = self.state
        if (number := gid_number(id, "InventoryItem")) is not None:
            return inventory_item_node(state, number) if number in state.item_to_variant else None
        if (number := gid_number(id, "ProductVariant")) is not None:
            variant = state.variants.get(number)
            return None if variant is None else variant_node(state, variant)
        if (number := gid_number(id, "Product")) is not None:
            product = state.products.get(number)
            return None if product is None else product_node(self.state, product)
        if (number := gid_number(id, "Order")) is not None:
            order = state.orders.get(number)
            return None if order is None else order_node(state, order)
        return None

    # -- mutations ----------------------------------------------------------------------------

    def inventorySetQuantities(self, info: Info, input: dict[str, Any]) -> dict[str, Any]:
        key = idempotency_key(info)
        fingerprint = json.dumps(input, sort_keys=True, default=str)
        if key is not None and key in self.state.idempotency:
            stored_print, stored = self.state.idempotency[key]
            if stored_print != fingerprint:
                return inventory_errors([(None, "IDEMPOTENCY_KEY_PARAMETER_MISMATCH")])
            return stored
        result = set_quantities(self.state, input, self.emit)
        if key is not None:
            self.state.idempotency[key] = (fingerprint, result)
        return result

    def fulfillmentCreate(
        self, info: Info, fulfillment: dict[str, Any], message: str | None = None
    ) -> dict[str, Any]:
        result = create_fulfillment(self.state, fulfillment, self.emit)
        if result.get("fulfillment") is not None:
            created = next(
                f
                for f in self.state.fulfillments.values()
                if gid("Fulfillment", f.id) == result["fulfillment"]["id"]
            )
            result["fulfillment"] = fulfillment_with_lines(self.state, created)
        return result
