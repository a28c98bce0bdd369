"""A faithful fake of ShipStation's V1 API (ssapi) as a plain ASGI app (no framework).

``create_app(options)`` returns a :class:`SandboxApp` over a :class:`SandboxState` seeded from
``options``. Served over HTTP (``shelfsync sandbox shipstation``) it starts its webhook
sender from the ASGI lifespan; mounted on ``httpx.ASGITransport`` (which runs no lifespan) a
test starts it with ``await nursery.start(app.run_webhooks)``.

What it checks like ShipStation: ``Authorization: Basic`` with the sandbox key pair (401
``{"message": "Invalid API credentials"}``); 40 requests per fixed minute per key pair (times
the ``rate_scale`` fault knob), timed with ``trio.current_time()``, ``X-Rate-Limit-Limit`` /
``-Remaining`` / ``-Reset`` (seconds to the next window) on every answer and 429
``{"message": "Too Many Requests"}`` past it; V1's list envelope ``{<items>, total, page,
pages}`` with ``pageSize`` up to 500; query values that do not parse (400 ``{"message"}``);
business-rule refusals in ASP.NET's ``{"Message", "ExceptionMessage", ...}`` shape (marking a
shipped or cancelled order, updating a locked one); timestamps as Pacific wall time without
offset, with seven fractional digits.

API: ``GET /orders`` (filters ``orderStatus``, ``storeId``, ``orderNumber`` prefix,
``customerName``, ``itemKeyword``, ``importBatch``, ``create/modify/order/paymentDateStart/End``
inclusive at whole seconds, ``sortBy`` ``OrderDate|ModifyDate|CreateDate``, ``sortDir``, default
order ``orderId`` ascending), ``GET`` and ``DELETE /orders/{id}``, ``POST /orders/createorder``
(upsert by ``orderKey``), ``POST /orders/markasshipped``, ``POST /orders/holduntil``, ``POST
/orders/restorefromhold``, ``GET /products`` (``sku``, ``name``, ``startDate``/``endDate`` on
creation, ``showInactive``, ``sortBy``), ``GET /products/{id}``, ``GET /fulfillments``, ``GET
/shipments`` (label shipments only), ``GET /stores``, ``GET /stores/{id}``, ``POST
/webhooks/subscribe``, ``GET /webhooks``, ``DELETE /webhooks/{id}``. No inventory endpoints:
V1 has none.

Test hooks, outside the API and its limits: ``POST /_sandbox/orders`` (a shopper's order,
imported from a store: ``{"store_id", "lines": [{"sku", "quantity"}], "shipping",
"gift_message", "notes", "count"}``, ``shipping`` the service the shopper chose), ``POST
/_sandbox/orders/{id}/status`` (the store cancelled, held or released it: ``{"status":
...}``), ``POST /_sandbox/orders/{id}/label`` (a label made in
ShipStation: ``{"carrier_code", "tracking_number"}``), ``POST /_sandbox/products/{id}``
(edited in ShipStation: ``{"name", "weight_oz", "upc", "active"}``), ``POST
/_sandbox/webhooks`` (subscribe a receiver, as ``/webhooks/subscribe`` does), ``POST
/_sandbox/faults``, ``GET /_sandbox/state``.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx
import msgspec
import trio

from connectors import sandboxkit
from connectors.sandbox_faults import FaultsRejected, injected_failure, merge_faults, scaled_limit
from connectors.sandbox_server import SandboxOptions
from connectors.sandboxkit import Request
from connectors.shipstation import wire
from connectors.shipstation.sandbox_checks import (
    RATE_LIMIT,
    FixedWindow,
    Reply,
    aspnet,
    message,
)
from connectors.shipstation.sandbox_shipping import Shipping
from connectors.shipstation.sandbox_state import SANDBOX_KEY, SANDBOX_SECRET, SandboxState
from connectors.shipstation.sandbox_webhooks import WebhookSender

__all__ = ["SANDBOX_KEY", "SANDBOX_SECRET", "SandboxApp", "create_app"]

_AUTH = "Basic " + base64.b64encode(f"{SANDBOX_KEY}:{SANDBOX_SECRET}".encode()).decode()


class HoldRequest(msgspec.Struct, rename="camel"):
    """The body of ``holduntil`` and ``restorefromhold``."""

    order_id: int
    hold_until_date: str | None = None


class SandboxApp:
    """The ASGI app; ``state``, ``shipping`` and ``webhooks`` are public for tests to use."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.shipping = Shipping(state)
        self.limiter = self._fresh_limiter()
        self.webhooks = WebhookSender(state)
        state.notify = self.webhooks.enqueue

    async def run_webhooks(
        self,
        http: httpx.AsyncClient | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Deliver queued webhooks until cancelled (see :class:`WebhookSender`)."""
        await self.webhooks.run(http, task_status=task_status)

    async def __call__(
        self, scope: sandboxkit.Scope, receive: sandboxkit.Receive, send: sandboxkit.Send
    ) -> None:
        request = await sandboxkit.accept(scope, receive, send, self.run_webhooks)
        if request is None:
            return
        host = request.headers.get("host")
        if host:
            # Resource URLs in webhooks point back at wherever the sandbox is reached.
            self.state.public_url = f"{scope.get('scheme', 'http')}://{host}"
        status, payload, headers = await self.handle(request)
        content = b"" if payload is None else _net_ticks(msgspec.json.encode(payload))
        self.state.requests.append(f"{request.method} {request.path} {status}")
        if not request.path.startswith("/_sandbox/"):
            self.state.counters["requests"] += 1
            self.state.counters["throttled"] += status == 429
        await sandboxkit.send_response(
            send, status, content, headers.items(), content_type="application/json; charset=utf-8"
        )

    async def handle(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        """Answer one request: ``(status, body or None, headers)``."""
        if request.path.startswith("/_sandbox/"):
            status, payload = self._admin(request)
            return status, payload, {}
        if request.headers.get("authorization") != _AUTH:
            return 401, message("Invalid API credentials"), {}
        faults = self.state.faults
        limit = str(self.limiter.limit)
        if faults.throttle_burst > 0:
            faults.throttle_burst -= 1
            headers = {"X-Rate-Limit-Limit": limit, "X-Rate-Limit-Remaining": "0"}
            return 429, message("Too Many Requests"), headers | {"X-Rate-Limit-Reset": "1"}
        admitted, remaining, reset = self.limiter.admit(SANDBOX_KEY, trio.current_time())
        headers = {
            "X-Rate-Limit-Limit": limit,
            "X-Rate-Limit-Remaining": str(remaining),
            "X-Rate-Limit-Reset": str(reset),
        }
        if not admitted:
            return 429, message("Too Many Requests"), headers
        failure = await injected_failure(faults, self.state.rng, hang_seconds=120)
        if failure == "timeout":
            return 504, None, headers
        if failure == "error":
            return 500, aspnet("An error has occurred.", "sandbox fault"), headers
        try:
            status, payload = self._api(request)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            status, payload = 400, message(f"The request is invalid: {exc}")
        return status, payload, headers

    def _api(self, r: Request) -> Reply:
        state = self.state
        route = (r.method, r.path.rstrip("/").lower())
        if route == ("GET", "/orders"):
            return state.list_orders(r.query)
        if route == ("POST", "/orders/createorder"):
            body = msgspec.json.decode(r.body or b"null")
            if not isinstance(body, dict):
                return 400, message("The request is invalid: a JSON object is required.")
            return state.create_order(body)
        if route == ("POST", "/orders/markasshipped"):
            request = msgspec.json.decode(r.body, type=wire.MarkShippedRequest)
            status, payload = self.shipping.mark_as_shipped(request)
            if status == 200 and state.faults.lose_markasshipped_replies > 0:
                state.faults.lose_markasshipped_replies -= 1
                return 504, None
            return status, payload
        if route == ("POST", "/orders/holduntil"):
            hold = msgspec.json.decode(r.body, type=HoldRequest)
            return state.hold(hold.order_id, hold.hold_until_date)
        if route == ("POST", "/orders/restorefromhold"):
            return state.restore(msgspec.json.decode(r.body, type=HoldRequest).order_id)
        if r.method == "DELETE" and route[1].startswith("/orders/"):
            order_id = route[1].removeprefix("/orders/")
            return state.delete(int(order_id)) if order_id.isdigit() else (404, None)
        if r.method == "GET" and route[1].startswith("/orders/"):
            order = _by_id(state.orders, route[1].removeprefix("/orders/"))
            return (200, order) if order else (404, aspnet("Order not found"))
        if route == ("GET", "/products"):
            return state.catalog.list_products(r.query)
        if r.method == "GET" and route[1].startswith("/products/"):
            product = _by_id(state.catalog.products, route[1].removeprefix("/products/"))
            return (200, product) if product else (404, aspnet("Product not found"))
        if route == ("GET", "/fulfillments"):
            return self.shipping.list_fulfillments(r.query)
        if route == ("GET", "/shipments"):
            return self.shipping.list_shipments(r.query)
        if route == ("GET", "/stores"):
            show_inactive = r.query.get("showInactive", "false").lower() == "true"
            return 200, [s for s in state.stores if s.active or show_inactive]
        if r.method == "GET" and route[1].startswith("/stores/"):
            stores = {s.store_id: s for s in state.stores}
            store = _by_id(stores, route[1].removeprefix("/stores/"))
            return (200, store) if store else (404, aspnet("Store not found"))
        if route == ("POST", "/webhooks/subscribe"):
            return state.subscribe(msgspec.json.decode(r.body, type=wire.SubscribeRequest))
        if route == ("GET", "/webhooks"):
            return state.list_webhooks()
        if r.method == "DELETE" and route[1].startswith("/webhooks/"):
            webhook_id = route[1].removeprefix("/webhooks/")
            if webhook_id.isdigit() and int(webhook_id) in state.webhooks:
                del state.webhooks[int(webhook_id)]
                return 200, None
            return 404, aspnet("Webhook not found")
        return 404, aspnet(f"No HTTP resource was found that matches the request URI '{r.path}'.")

    def _fresh_limiter(self) -> FixedWindow:
        """A window no call has opened yet, of V1's limit times the ``rate_scale`` knob."""
        return FixedWindow(limit=scaled_limit(RATE_LIMIT, self.state.faults.rate_scale))

    def _admin(self, r: Request) -> Reply:
        state = self.state
        if (r.method, r.path) == ("GET", "/_sandbox/state"):
            return 200, {
                "orders": list(state.orders.values()),
                "fulfillments": state.fulfillments,
                "shipments": state.shipments,
                "notified": state.notified,
                "webhooks": state.list_webhooks()[1]["webhooks"],
                "deliveries": self.webhooks.log,
                "faults": state.faults,
                "counters": dict(state.counters),
                "requests": list(state.requests),
            }
        try:
            body = json.loads(r.body or b"{}")
        except ValueError:
            return 400, message("body is not JSON")
        if not isinstance(body, dict):
            return 400, message("body must be a JSON object")
        if (r.method, r.path) == ("POST", "/_sandbox/faults"):
            try:
                state.faults = merge_faults(state.faults, body)
            except FaultsRejected as exc:
                return 400, message(str(exc))
            if "rate_scale" in body:
                self.limiter = self._fresh_limiter()
            return 200, state.faults
        if (r.method, r.path) == ("POST", "/_sandbox/webhooks"):
            try:
                request = msgspec.convert(body, wire.SubscribeRequest)
            except msgspec.ValidationError as exc:
                return 400, message(str(exc))
            return state.subscribe(request)
        if (r.method, r.path) == ("POST", "/_sandbox/orders"):
            return self._place(body)
        if r.method == "POST" and r.path.startswith("/_sandbox/products/"):
            product_id = r.path.removeprefix("/_sandbox/products/")
            if not product_id.isdigit():
                return 404, message("no such product")
            return state.catalog.edit(int(product_id), body, state.now())
        parts = r.path.removeprefix("/_sandbox/orders/").split("/")
        if r.method == "POST" and r.path.startswith("/_sandbox/orders/") and len(parts) == 2:
            order_id, action = parts
            if not order_id.isdigit():
                return 404, message("no such order")
            if action == "status" and body.get("status") in wire.ORDER_STATUSES:
                return state.store_update(int(order_id), body["status"])
            if action == "label":
                return self.shipping.label(
                    int(order_id),
                    str(body.get("carrier_code", "usps")),
                    str(body.get("tracking_number", "")),
                )
            return 400, message(f"unknown order hook {action!r} or bad status")
        return 404, None

    def _place(self, body: dict[str, Any]) -> Reply:
        count = body.get("count", 1)
        store_id = body.get("store_id", self.state.stores[0].store_id)
        lines = body.get("lines")
        if not isinstance(count, int) or count < 1 or not isinstance(store_id, int):
            return 400, message("count must be a positive integer and store_id an integer")
        if lines is not None and not (
            isinstance(lines, list) and all(isinstance(line, dict) for line in lines)
        ):
            return 400, message("lines must be a list of {sku, quantity}")
        placed = [
            self.state.place_order(
                store_id=store_id,
                lines=lines,
                gift_message=body.get("gift_message"),
                notes=body.get("notes"),
                shipping=body.get("shipping"),
            )
            for _ in range(count)
        ]
        return 201, placed


_STAMP = re.compile(rb'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?"')


def _net_ticks(content: bytes) -> bytes:
    """Timestamps written as V1 writes them, with seven fractional digits (.NET's ticks):
    ``2026-01-05T09:00:00.0000000``, never an offset."""
    return _STAMP.sub(lambda m: b'"%s.%s"' % (m[1], (m[2] or b"").ljust(7, b"0")), content)


def _by_id(items: dict[int, Any], text: str) -> Any:
    return items.get(int(text)) if text.isdigit() else None


def create_app(options: SandboxOptions) -> SandboxApp:
    """A sandbox over a fresh account generated from ``options.seed`` and ``options.catalog``,
    its ``rate_scale`` knob at ``options.rate_scale``."""
    state = SandboxState(seed=options.seed, catalog=options.catalog, shared=options.shared())
    state.faults.rate_scale = options.rate_scale
    return SandboxApp(state)
