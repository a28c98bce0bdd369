"""A faithful fake of Shopify's Admin GraphQL API, for tests and ``shelfsync demo``.

``create_app(options)`` returns a plain ASGI app (:class:`ShopifySandbox`) serving:

- ``POST /admin/api/{version}/graphql.json``: GraphQL over ``sandbox.graphql`` (a subset of
  Shopify's 2026-01 schema). Unknown versions get 404; a missing or wrong
  ``X-Shopify-Access-Token`` gets 401 with Shopify's body. Each query is priced by the
  sandbox's own reading of Shopify's cost rules over its schema (:mod:`.sandbox_cost`, never
  the client's estimator); over 1000 points it fails with ``MAX_COST_EXCEEDED``; otherwise the
  requested cost is taken from a leaky bucket (2000 points, 100/s: the Standard plan; the
  restore rate times the ``rate_scale`` fault knob) and the unused part refunded after
  execution. A short bucket answers ``THROTTLED`` with HTTP 200 and no data. Every answer
  carries ``extensions.cost`` with ``throttleStatus``.
- Shopper/admin endpoints under ``/_sandbox/``: ``POST orders`` (place an order),
  ``POST orders/{id}/cancel``, ``POST products/{id}`` (change a product), ``POST webhooks``
  (subscribe ``{"topic", "address"}``), ``POST faults`` / ``GET faults``, ``GET state`` (counters,
  bucket, orders, fulfillments, webhook log and the latest GraphQL calls with their costs).

Webhooks are delivered by :meth:`ShopifySandbox.run` (started by the ASGI lifespan when served,
or by a test in its nursery). Time comes from ``trio.current_time()``, so virtual clocks work.
The access token is ``state.access_token`` (``shpat_sandbox``), the webhook secret
``state.webhook_secret``; both can be changed on the instance.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable
from functools import lru_cache
from typing import Any

import msgspec
import trio
from graphql import DocumentNode, GraphQLError, execute, parse, validate

from connectors import sandboxkit
from connectors.sandbox_faults import FaultsRejected, injected_failure, merge_faults
from connectors.sandbox_server import SandboxOptions
from connectors.shopify.sandbox_cost import PricingError, price
from connectors.shopify.sandbox_fulfillment import order_body, product_body
from connectors.shopify.sandbox_schema import Root, sandbox_schema
from connectors.shopify.sandbox_state import ShopState, full_bucket, gid, iso
from connectors.shopify.sandbox_webhooks import Webhooks

SUPPORTED_VERSIONS = ("2026-01",)
"""Only the version whose schema ``sandbox.graphql`` follows; any other gets 404."""
UNAUTHORIZED = {
    "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
}
_GRAPHQL_PATH = re.compile(r"/admin/api/(?P<version>[^/]+)/graphql\.json")
_ORDER_CANCEL = re.compile(r"/_sandbox/orders/(?P<id>\d+)/cancel")
_PRODUCT = re.compile(r"/_sandbox/products/(?P<id>\d+)")


@lru_cache(maxsize=256)
def _checked(query: str) -> tuple[DocumentNode, tuple[GraphQLError, ...]]:
    """``query`` parsed, and what is wrong with it against the schema (raises
    :class:`GraphQLError` if it does not parse). A client sends the same few query texts
    again and again, and validating one costs more than executing it: each is checked once."""
    document = parse(query)
    return document, tuple(validate(sandbox_schema(), document))


class ShopifySandbox:
    """The ASGI app; ``state`` and ``webhooks`` are public for inspection and knobs."""

    def __init__(self, options: SandboxOptions) -> None:
        self.state = ShopState(
            options.seed, options.catalog, shared=options.shared(), rate_scale=options.rate_scale
        )
        self.webhooks = Webhooks(self.state)
        self.root = Root(self.state, self.webhooks.emit)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver webhooks until cancelled (see :meth:`Webhooks.run`)."""
        await self.webhooks.run(task_status=task_status)

    async def __call__(
        self, scope: sandboxkit.Scope, receive: sandboxkit.Receive, send: sandboxkit.Send
    ) -> None:
        if scope["type"] == "lifespan":
            await sandboxkit.run_lifespan(receive, send, self.run)
            return
        if scope["type"] != "http":
            return
        status, payload = await self._route(scope, await sandboxkit.read_body(receive))
        raw = json.dumps(payload).encode()
        await sandboxkit.send_response(send, status, raw, content_type="application/json")

    async def _route(self, scope: sandboxkit.Scope, body: bytes) -> tuple[int, Any]:
        path: str = scope["path"]
        method: str = scope["method"]
        match = _GRAPHQL_PATH.fullmatch(path)
        if match is not None:
            if method != "POST":
                return 405, {"errors": "Method Not Allowed"}
            if match.group("version") not in SUPPORTED_VERSIONS:
                return 404, {"errors": "Not Found"}
            headers = sandboxkit.header_map(scope)
            if headers.get("x-shopify-access-token") != self.state.access_token:
                self.state.counters["unauthorized"] += 1
                return 401, UNAUTHORIZED
            return await self._graphql(body)
        if path.startswith("/_sandbox/"):
            try:
                data = json.loads(body) if body else {}
            except json.JSONDecodeError:
                return 400, {"error": "body is not JSON"}
            return self._admin(method, path, data)
        return 404, {"errors": "Not Found"}

    # -- GraphQL ------------------------------------------------------------------------------

    async def _graphql(self, body: bytes) -> tuple[int, Any]:
        state = self.state
        state.counters["requests"] += 1
        faults = state.faults
        # A hang longer than any client's timeout: the caller gives up first.
        failure = await injected_failure(faults, state.rng, hang_seconds=60)
        if failure == "timeout":
            return 504, {"errors": "Gateway Timeout"}
        if failure == "error":
            return 503, {"errors": "Service Unavailable"}
        try:
            request = json.loads(body)
            document, problems = _checked(request["query"])
            variables = request.get("variables") or {}
        except (json.JSONDecodeError, KeyError, TypeError):
            return 400, {"errors": "Bad Request"}
        except GraphQLError as exc:
            return 200, {"errors": [exc.formatted]}
        if problems:
            return 200, {"errors": [p.formatted for p in problems]}
        try:
            priced = price(sandbox_schema(), document, variables, request.get("operationName"))
        except PricingError as exc:
            return 200, {"errors": [e.formatted for e in exc.errors]}
        bucket = state.bucket
        bucket.refill()
        if faults.throttle_burst > 0:
            faults.throttle_burst -= 1
            bucket.available = 0.0
        requested = priced.requested()
        if requested > state.max_query_cost:
            state.counters["max_cost_exceeded"] += 1
            self._log(request, requested, None, "MAX_COST_EXCEEDED")
            error = {
                "message": f"Query cost is {requested}, which exceeds the single query max cost limit ({state.max_query_cost}).",  # noqa: E501
                "extensions": {
                    "code": "MAX_COST_EXCEEDED",
                    "cost": requested,
                    "maxCost": state.max_query_cost,
                },
            }
            return 200, {"errors": [error], "extensions": self._cost(requested, None)}
        # The level is reported rounded to 3 decimals; a client trusting it must not be
        # throttled by float drift below that precision.
        if bucket.available < requested - 0.0005:
            state.counters["throttled"] += 1
            self._log(request, requested, None, "THROTTLED")
            error = {
                "message": "Throttled",
                "extensions": {
                    "code": "THROTTLED",
                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                },
            }
            return 200, {"errors": [error], "extensions": self._cost(requested, None)}
        bucket.available -= requested
        result = execute(
            sandbox_schema(),
            document,
            root_value=self.root,
            variable_values=variables,
            operation_name=request.get("operationName"),
        )
        assert not isinstance(result, Awaitable)  # every resolver is synchronous
        actual = priced.actual(result.data)
        state.counters["cost"] += actual
        bucket.available = min(bucket.maximum, bucket.available + max(0, requested - actual))
        self._log(request, requested, actual, "errors" if result.errors else "ok")
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:
            answer["errors"] = [e.formatted for e in result.errors]
        answer["extensions"] = self._cost(requested, actual)
        return 200, answer

    def _log(
        self, request: dict[str, Any], requested: int, actual: int | None, outcome: str
    ) -> None:
        self.state.request_log.append(
            {
                "at": trio.current_time(),
                "operation": request.get("operationName"),
                "requested": requested,
                "actual": actual,
                "outcome": outcome,
                "available": round(self.state.bucket.available, 3),
            }
        )

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": self.state.bucket.status(),
            }
        }

    # -- shopper and admin endpoints ----------------------------------------------------------

    def _admin(self, method: str, path: str, data: Any) -> tuple[int, Any]:
        state = self.state
        if path == "/_sandbox/state" and method == "GET":
            return 200, self.snapshot()
        if path == "/_sandbox/faults":
            if method == "POST":
                try:
                    state.faults = merge_faults(state.faults, data, strict=False)
                except FaultsRejected as exc:
                    if exc.unknown is not None:
                        return 422, {"error": f"unknown fault {exc.unknown!r}"}
                    return 422, {"error": str(exc)}
                if "rate_scale" in data:
                    state.bucket = full_bucket(state.faults.rate_scale)
            return 200, msgspec.structs.asdict(state.faults)
        if method != "POST":
            return 405, {"error": "use POST"}
        if path == "/_sandbox/webhooks":
            subscription = self.webhooks.subscribe(data["topic"], data["address"])
            return 201, {"id": subscription.id}
        if path == "/_sandbox/orders":
            return self._place_order(data)
        if (match := _ORDER_CANCEL.fullmatch(path)) is not None:
            order = state.orders.get(int(match.group("id")))
            if order is None:
                return 404, {"error": "no such order"}
            state.cancel_order(order)
            self.webhooks.emit("orders/cancelled", order_body(state, order))
            self.webhooks.emit("orders/updated", order_body(state, order))
            return 200, order_body(state, order)
        if (match := _PRODUCT.fullmatch(path)) is not None:
            return self._change_product(int(match.group("id")), data)
        return 404, {"error": "no such endpoint"}

    def _place_order(self, data: dict[str, Any]) -> tuple[int, Any]:
        """``{"lines": [{"sku" | "variant_id", "quantity"}], "paid": true, "shipping": "Standard",
        "test", "note", "gift_message"}`` → the new order's REST body (201), 422 for an unknown
        SKU or variant. A variant without SKU is ordered by its numeric ``variant_id``."""
        state = self.state
        try:
            order = state.create_order(
                lines=[
                    (
                        int(line["variant_id"]) if "variant_id" in line else line["sku"],
                        int(line.get("quantity", 1)),
                    )
                    for line in data["lines"]
                ],
                financial="PAID" if data.get("paid", True) else "PENDING",
                shipping_title=data.get("shipping", "Standard"),
                test=bool(data.get("test", False)),
                note=data.get("note"),
                attributes=(
                    [("gift_message", data["gift_message"])] if data.get("gift_message") else []
                ),
            )
        except KeyError as exc:
            return 422, {"error": f"unknown sku or variant {exc.args[0]!r}"}
        body = order_body(state, order)
        self.webhooks.emit("orders/create", body)
        if order.financial == "PAID":
            self.webhooks.emit("orders/paid", body)
        return 201, body

    def _change_product(self, product_id: int, data: dict[str, Any]) -> tuple[int, Any]:
        """``{"title", "status", "variants": [{"id", "sku", "barcode", "weight": {"value",
        "unit"}}]}``; bumps updatedAt."""
        state = self.state
        product = state.products.get(product_id)
        if product is None:
            return 404, {"error": "no such product"}
        now = state.now()
        product.title = data.get("title", product.title)
        product.status = data.get("status", product.status)
        product.updated_at = now
        changes = {int(v["id"]): v for v in data.get("variants", [])}
        for variant_id in product.variant_ids:
            variant = state.variants[variant_id]
            change = changes.get(variant_id, {})
            variant.sku = change.get("sku", variant.sku)
            variant.barcode = change.get("barcode", variant.barcode)
            if (weight := change.get("weight")) is not None:
                variant.weight = (float(weight["value"]), str(weight["unit"]))
            # A product edit touches every variant's updatedAt as the product title is part of
            # each variant's display name.
            variant.updated_at = now
        body = product_body(state, product)
        self.webhooks.emit("products/update", body)
        return 200, body

    def snapshot(self) -> dict[str, Any]:
        state = self.state
        return {
            "counters": dict(state.counters),
            "bucket": state.bucket.status(),
            "products": len(state.products),
            "variants": len(state.variants),
            "orders": [order_body(state, o) for o in state.orders.values()],
            "fulfillments": [
                {
                    "id": gid("Fulfillment", f.id),
                    "order_id": gid("Order", f.order_id),
                    "name": f.name,
                    "tracking": f.tracking,
                    "notify_customer": f.notify_customer,
                    "lines": f.lines,
                    "created_at": iso(f.created_at),
                }
                for f in state.fulfillments.values()
            ],
            "idempotency_keys": sorted(state.idempotency),
            "webhooks": {
                "subscriptions": [s.__dict__ for s in self.webhooks.subscriptions],
                "pending": len(self.webhooks.pending),
                "log": self.webhooks.log,
            },
            "faults": msgspec.structs.asdict(state.faults),
            "requests": list(state.request_log),
        }


def create_app(options: SandboxOptions) -> ShopifySandbox:
    """A new sandbox shop seeded from ``options`` (same seed, same shop)."""
    return ShopifySandbox(options)
