"""A faithful fake of BigCommerce's REST API (v3 catalog, inventory, hooks; v2 orders) as ASGI.

``create_app(options)`` returns a :class:`SandboxApp` over a store generated from ``options``
(:mod:`.sandbox_seed`). Served over HTTP (``shelfsync sandbox bigcommerce``) it starts its
webhook sender from the ASGI lifespan; mounted on ``httpx.ASGITransport`` (which runs no
lifespan) the test starts it with ``await nursery.start(app.run_webhooks)``.

What it checks like BigCommerce: paths ``/stores/{STORE_HASH}/v3/...`` and ``/v2/...`` (another
hash: 404); ``X-Auth-Token`` (401: plain text on v3, a v2 error array on v2); a JSON
``Content-Type`` on bodies (415); a fixed 30 s window of 150 requests (times the
``rate_scale`` fault knob) timed with ``trio.current_time()``, its four ``X-Rate-Limit-*``
headers on every answer and, once spent, 429 with ``X-Retry-After``; v2 ``[{"status",
"message"}]`` and v3 ``{"status", "title", "type", "errors"}`` error bodies. Catalog and
inventory: :mod:`.sandbox_catalog`; orders: :mod:`.sandbox_orders`; shipments:
:mod:`.sandbox_shipments`; hooks: :mod:`.sandbox_hooks`; callbacks: :mod:`.sandbox_webhooks`.

Hooks outside the API and its limits: ``GET /_sandbox/state``, ``POST /_sandbox/faults``
(:class:`~.sandbox_state.Faults`), ``POST /_sandbox/webhooks`` (register hooks for a
receiver: ``{"destination", "scopes"?, "headers"?}``), ``POST /_sandbox/orders`` (a shopper
checks out: :class:`~.sandbox_orders.PlaceOrder`), ``POST /_sandbox/orders/{id}/cancel``,
``POST /_sandbox/orders/{id}/status`` (``{"status_id"}``), ``POST /_sandbox/products/{id}``
(edit ``name``, ``sku``, ``weight``), ``POST /_sandbox/stock`` (``{"sku" | "variant_id" |
"product_id", "quantity", "location_id"?}``) and ``POST /_sandbox/store``
(``{"shipment_emails": bool}``, the store's shipment email setting).
"""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import msgspec
import trio

from connectors import sandboxkit
from connectors.bigcommerce import sandbox_catalog as catalog
from connectors.bigcommerce import sandbox_hooks as hooks
from connectors.bigcommerce import sandbox_orders as orders
from connectors.bigcommerce import sandbox_shipments as shipments
from connectors.bigcommerce.sandbox_seed import new_store
from connectors.bigcommerce.sandbox_state import (
    LOCATIONS,
    SANDBOX_TOKEN,
    STATUS_NAMES,
    STORE_HASH,
    Product,
    Reply,
    StoreState,
    Variant,
)
from connectors.bigcommerce.sandbox_webhooks import WebhookSender
from connectors.sandbox_faults import FaultsRejected, injected_failure, merge_faults
from connectors.sandbox_server import SandboxOptions
from connectors.sandboxkit import Request

__all__ = ["SANDBOX_TOKEN", "STORE_HASH", "SandboxApp", "create_app"]

DEFAULT_SCOPES = ("store/order/*", "store/product/*", "store/sku/*")
_JSON = "application/json"
_PROBLEM = "application/problem+json"


class Answer(msgspec.Struct):
    status: int
    content: bytes
    content_type: str | None = None
    headers: dict[str, str] = {}


class FixedWindow:
    """BigCommerce's quota: ``quota`` requests per window that starts at the first request
    after the previous one ended."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.used = 0

    def admit(self, now: float, quota: int, window: float) -> tuple[bool, int, float]:
        """``(admitted, requests left, seconds until the window resets)``."""
        if self.started is None or now >= self.started + window:
            self.started, self.used = now, 0
        reset = self.started + window - now
        if self.used >= quota:
            return False, 0, reset
        self.used += 1
        return True, quota - self.used, reset


def _json(status: int, payload: Any, content_type: str = _JSON) -> Answer:
    if payload is None:
        return Answer(status, b"")
    return Answer(status, msgspec.json.encode(payload), content_type)


class SandboxApp:
    """The ASGI app; ``state`` and ``webhooks`` are public for tests to inspect."""

    def __init__(self, state: StoreState) -> None:
        self.state = state
        self.window = FixedWindow()
        self.webhooks = WebhookSender(state)
        state.notify = self.webhooks.enqueue

    async def run_webhooks(
        self,
        http: httpx.AsyncClient | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Deliver queued callbacks until cancelled (see :class:`WebhookSender`)."""
        await self.webhooks.run(http, task_status=task_status)

    async def __call__(
        self, scope: sandboxkit.Scope, receive: sandboxkit.Receive, send: sandboxkit.Send
    ) -> None:
        request = await sandboxkit.accept(scope, receive, send, self.run_webhooks)
        if request is None:
            return
        answer = await self.handle(request)
        self.state.requests.append(f"{request.method} {request.path} {answer.status}")
        await sandboxkit.send_response(
            send,
            answer.status,
            answer.content,
            answer.headers.items(),
            content_type=answer.content_type,
        )

    async def handle(self, request: Request) -> Answer:
        if request.path.startswith("/_sandbox/"):
            return _json(*self._admin(request))
        prefix = f"/stores/{STORE_HASH}/"
        if not request.path.startswith(prefix):
            return Answer(404, b"Store not found", "text/plain")
        version, _, route = request.path.removeprefix(prefix).partition("/")
        if version not in ("v2", "v3"):
            return Answer(404, b"Not found", "text/plain")
        v2 = version == "v2"
        if request.headers.get("x-auth-token") != SANDBOX_TOKEN:
            if v2:
                return _json(
                    *orders.v2_error(401, "You are not authorized to access this resource.")
                )
            return Answer(
                401, b"Unauthorized: the X-Auth-Token is missing or not valid.", "text/plain"
            )
        answer = await self._limited(request, v2, route)
        self.state.counters["requests"] += 1
        if answer.status == 429:
            self.state.counters["throttled"] += 1
        return answer

    async def _limited(self, request: Request, v2: bool, route: str) -> Answer:
        faults = self.state.faults
        if faults.overload_burst > 0:
            faults.overload_burst -= 1
            return self._error(v2, 429, "The platform is overloaded; try again later.")
        window = faults.window_ms / 1000
        quota = faults.scaled_quota
        admitted, left, reset = self.window.admit(trio.current_time(), quota, window)
        if faults.throttle_burst > 0:
            faults.throttle_burst -= 1
            admitted, left = False, 0
        headers = {
            "x-rate-limit-time-window-ms": str(faults.window_ms),
            "x-rate-limit-time-reset-ms": str(math.ceil(reset * 1000)),
            "x-rate-limit-requests-quota": str(quota),
            "x-rate-limit-requests-left": str(left),
        }
        if not admitted:
            answer = self._error(
                v2, 429, "You have exceeded your request quota; wait for it to reset."
            )
            answer.headers = headers | {"x-retry-after": str(max(1, math.ceil(reset)))}
            return answer
        failure = await injected_failure(faults, self.state.rng, hang_seconds=120)
        if failure == "timeout":
            answer = self._error(v2, 504, "Gateway timeout (sandbox fault).")
        elif failure == "error":
            answer = self._error(v2, 500, "Internal server error (sandbox fault).")
        elif request.body and not request.headers.get("content-type", "").startswith(_JSON):
            answer = self._error(v2, 415, "The Content-Type must be application/json.")
        else:
            try:
                body = json.loads(request.body) if request.body else None
            except ValueError:
                answer = self._error(v2, 400, "The request body is not valid JSON.")
            else:
                answer = self._v2(request, route, body) if v2 else self._v3(request, route, body)
        answer.headers = headers | answer.headers
        return answer

    @staticmethod
    def _error(v2: bool, status: int, message: str) -> Answer:
        if v2:
            return _json(*orders.v2_error(status, message))
        return _json(*catalog.v3_error(status, message))

    # --- v3 -------------------------------------------------------------------------------

    def _v3(self, r: Request, route: str, body: Any) -> Answer:
        state, q = self.state, r.query
        if (r.method, route) == ("GET", "catalog/products"):
            return _json(*catalog.list_products(state, q))
        if (r.method, route) == ("GET", "catalog/variants"):
            return _json(*catalog.list_variants(state, q))
        if (r.method, route) == ("GET", "inventory/items"):
            return _json(*catalog.list_inventory_items(state, q))
        if (r.method, route) == ("PUT", "inventory/adjustments/absolute"):
            status, payload = catalog.absolute_adjustment(state, body)
            return _json(status, payload, _PROBLEM if status == 422 else _JSON)
        if route == "hooks" and r.method in ("GET", "POST"):
            return _json(
                *(
                    hooks.list_hooks(state, q)
                    if r.method == "GET"
                    else hooks.create_hook(state, body)
                )
            )
        if route.startswith("hooks/") and route.removeprefix("hooks/").isdigit():
            return _json(*hooks.one_hook(state, r.method, int(route.removeprefix("hooks/")), body))
        return _json(*catalog.v3_error(404, "The route is not found."))

    # --- v2 -------------------------------------------------------------------------------

    def _v2(self, r: Request, route: str, body: Any) -> Answer:
        state = self.state
        if (r.method, route) == ("GET", "orders"):
            return _json(*orders.list_orders(state, r.query))
        if (r.method, route) == ("GET", "order_statuses"):
            names = [{"id": i, "name": n, "system_label": n} for i, n in STATUS_NAMES.items()]
            return _json(200, names)
        parts = route.split("/")
        if parts[0] != "orders" or len(parts) < 2 or not parts[1].isdigit():
            return _json(*orders.NOT_FOUND)
        order = state.orders.get(int(parts[1]))
        if order is None or order.is_deleted:
            return _json(*orders.NOT_FOUND)
        rest = tuple(parts[2:])
        if (r.method, rest) == ("GET", ()):
            return _json(200, orders.render_order(order))
        if (r.method, rest) == ("GET", ("products",)):
            lines = [orders.render_product(p) for p in order.products]
            return _json(*orders.page_of(lines, r.query))
        if (r.method, rest) == ("GET", ("shipping_addresses",)):
            addresses = [orders.render_address(order, a) for a in order.addresses]
            return _json(*orders.page_of(addresses, r.query))
        if (r.method, rest) == ("GET", ("shipments",)):
            served = [shipments.render_shipment(order, s) for s in order.shipments]
            return _json(*orders.page_of(served, r.query))
        if (r.method, rest) == ("POST", ("shipments",)):
            return _json(*shipments.create_shipment(state, order, body))
        if r.method == "GET" and len(rest) == 2 and rest[0] == "shipments" and rest[1].isdigit():
            found = next((s for s in order.shipments if s.id == int(rest[1])), None)
            if found is None:
                return _json(*orders.NOT_FOUND)
            return _json(200, shipments.render_shipment(order, found))
        return _json(*orders.NOT_FOUND)

    # --- sandbox hooks --------------------------------------------------------------------

    def _admin(self, r: Request) -> Reply:
        state = self.state
        if (r.method, r.path) == ("GET", "/_sandbox/state"):
            return 200, {
                "store_hash": STORE_HASH,
                "products": len(state.products),
                "variants": len(state.variants()),
                "orders": [orders.render_order(o) for o in state.orders.values()],
                "hooks": list(state.hooks.values()),
                "deliveries": self.webhooks.log,
                "emails": state.emails,
                "shipment_emails": state.shipment_emails,
                "faults": state.faults,
                "counters": state.counters,
                "requests": list(state.requests),
            }
        try:
            body = json.loads(r.body or b"{}")
        except ValueError:
            return 400, {"error": "body is not JSON"}
        if not isinstance(body, dict):
            return 400, {"error": "body must be a JSON object"}
        try:
            return self._shopper(r.method, r.path, body)
        except (msgspec.ValidationError, ValueError, KeyError, TypeError) as exc:
            return 400, {"error": str(exc)}

    def _shopper(self, method: str, path: str, body: dict[str, Any]) -> Reply:
        state = self.state
        if method != "POST":
            return 405, {"error": "sandbox hooks are POST"}
        if path == "/_sandbox/faults":
            try:
                state.faults = merge_faults(state.faults, body)
            except FaultsRejected as exc:
                return 400, {"error": str(exc), "unknown": exc.unknown}
            if "rate_scale" in body:
                self.window = FixedWindow()
            return 200, state.faults
        if path == "/_sandbox/store":
            state.shipment_emails = bool(body["shipment_emails"])
            return 200, {"shipment_emails": state.shipment_emails}
        if path == "/_sandbox/webhooks":
            made = []
            for scope in body.get("scopes", DEFAULT_SCOPES):
                status, reply = hooks.create_hook(
                    state,
                    {
                        "scope": scope,
                        "destination": body.get("destination"),
                        "headers": body.get("headers"),
                    },
                )
                if status != 200:
                    return 400, reply
                made.append(reply["data"])
            return 201, made
        if path == "/_sandbox/orders":
            placed = orders.place_order(state, msgspec.convert(body, orders.PlaceOrder))
            return 201, orders.render_order(placed)
        if path == "/_sandbox/stock":
            return self._set_stock(body)
        parts = path.removeprefix("/_sandbox/").split("/")
        if len(parts) >= 2 and parts[1].isdigit() and parts[0] == "orders":
            order = state.orders.get(int(parts[1]))
            if order is None:
                return 404, {"error": f"no order {parts[1]}"}
            if parts[2:] == ["cancel"]:
                state.set_status(order, 5)
            elif parts[2:] == ["status"] and int(body["status_id"]) in STATUS_NAMES:
                state.set_status(order, int(body["status_id"]))
            else:
                return 404, {"error": f"no sandbox hook {path}"}
            return 200, orders.render_order(order)
        if len(parts) == 2 and parts[0] == "products" and parts[1].isdigit():
            product = state.products.get(int(parts[1]))
            if product is None:
                return 404, {"error": f"no product {parts[1]}"}
            product.name = str(body.get("name", product.name))
            product.weight = float(body.get("weight", product.weight))
            if "sku" in body:
                product.variants[0].sku = str(body["sku"])
            state.touch(product)
            return 200, catalog.render_product(state, product, {"variants"}, set())
        return 404, {"error": f"no sandbox hook {path}"}

    def _set_stock(self, body: dict[str, Any]) -> Reply:
        state = self.state
        location = int(body.get("location_id", 1))
        if location not in LOCATIONS:
            return 400, {"error": f"no location {location}"}
        found: tuple[Product, Variant] | None
        if "product_id" in body:
            product = state.products[int(body["product_id"])]
            found = (product, product.variants[0])
        elif "variant_id" in body:
            found = state.find_variant(int(body["variant_id"]))
        else:
            found = state.find_sku(str(body["sku"]))
        if found is None:
            return 404, {"error": "no such item"}
        product, variant = found
        state.set_stock(location, product, variant, int(body["quantity"]))
        return 200, {"inventory_level": state.level(product, variant)}


def create_app(options: SandboxOptions) -> SandboxApp:
    """A sandbox over a fresh store generated from ``options.seed`` and ``options.catalog``,
    or seeded with the shared catalog when ``options`` ask for it; its ``rate_scale`` knob at
    ``options.rate_scale``."""
    app = SandboxApp(new_store(options.seed, options.catalog, shared=options.shared()))
    app.state.faults.rate_scale = options.rate_scale
    return app
