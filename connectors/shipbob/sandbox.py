"""A faithful fake of ShipBob's 2026-01 API as a plain ASGI app (no framework).

``create_app(options)`` returns a :class:`SandboxApp` over a :class:`SandboxState` seeded
from ``options``. Served over HTTP (``shelfsync sandbox shipbob``) it starts its webhook
sender from the ASGI lifespan; mounted on ``httpx.ASGITransport`` (which runs no lifespan) the
test starts it with ``await nursery.start(app.run_webhooks)``.

What it checks like ShipBob: ``Authorization: Bearer <SANDBOX_TOKEN>`` (401, empty body);
``shipbob_channel_id`` on ``POST /order`` (403); 150 calls per sliding minute per token (times
the ``rate_scale`` fault knob), timed with ``trio.current_time()`` (429 + ``x-retry-after``,
``x-remaining-calls`` on every answer); validation (400 ``{"<field>": ["msg"]}``); duplicate
``reference_id`` (422); pagination (``next`` URLs for products and inventory, keyset-stable;
``next-page`` header for orders).
Products are listed with the ``SKU`` and ``LastUpdatedTimestamp`` filters, their variants
updated with ``PATCH /product/{id}/variants`` and bundles served with their
``bundle_definition`` (:mod:`.sandbox_catalog`).

Orders are created with one shipment, routed to a fulfillment center that has its units and
committed there (``Processing``), or, when none has, accepted out of stock (``Exception``,
nothing committed); shipments follow ShipBob's lifecycle (:mod:`.sandbox_shipments`) and move
stock as ShipBob does (:mod:`.sandbox_stock`: shipping takes units off on-hand and committed,
a cancel releases them); ``:cancel`` stops what is not yet picked and reports the rest
(``Failure``/``PartialSuccess``). No 2026-01 webhook topic is about inventory, so stock moves
announce nothing of their own; an order accepted out of stock fires
``order.shipment.exception``, as ShipBob's shipment exceptions do.

Test hooks, outside the API and its limits (:mod:`.sandbox_warehouse`): ``POST /_sandbox/ship``
(pick, pack, label and ship shipments, split or not; ``"to": "LabeledCreated"`` stops at the
label), ``POST /_sandbox/shipments/{id}`` (one lifecycle step, ``{"to": step}``),
``POST /_sandbox/inventory`` (at a fulfillment center, add ``received`` units to a SKU's
on-hand, or set its on-hand, committed and exception counts), ``POST /_sandbox/bundles``
(declare a bundle of existing SKUs, or make one no bundle), ``POST /_sandbox/faults``,
``GET /_sandbox/state``.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import trio

from connectors import sandboxkit
from connectors.sandbox_faults import FaultsRejected, injected_failure, merge_faults, scaled_limit
from connectors.sandbox_server import SandboxOptions
from connectors.sandboxkit import Request
from connectors.shipbob import sandbox_stock, wire
from connectors.shipbob.sandbox_catalog import Catalog
from connectors.shipbob.sandbox_checks import RATE_LIMIT, SlidingWindow
from connectors.shipbob.sandbox_state import SANDBOX_TOKEN, SandboxState
from connectors.shipbob.sandbox_warehouse import Warehouse
from connectors.shipbob.sandbox_webhooks import WebhookSender

Reply = tuple[int, Any]
_V = "/2026-01"
_VARIANTS = re.compile(rf"{_V}/product/(?P<id>\d+)/variants")

__all__ = ["SANDBOX_TOKEN", "SandboxApp", "create_app"]


class SandboxApp:
    """The ASGI app; ``state`` and ``webhooks`` are public for tests to inspect."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.limiter = self._fresh_limiter()
        self.counters: Counter[str] = Counter()
        """API requests answered (``requests``) and of them throttled (``throttled``)."""
        self.webhooks = WebhookSender(state)
        state.notify = self.webhooks.enqueue
        self.warehouse = Warehouse(state)
        self.catalog = Catalog(state)

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
        status, payload, headers = await self.handle(request)
        content = b"" if payload is None else msgspec.json.encode(payload)
        self.state.requests.append(f"{request.method} {request.path} {status}")
        if not request.path.startswith("/_sandbox/"):
            self.counters["requests"] += 1
            self.counters["throttled"] += status == 429
        await sandboxkit.send_response(
            send, status, content, headers.items(), content_type="application/json; charset=utf-8"
        )

    async def handle(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        """Answer one request: ``(status, body or None, headers)``."""
        if request.path.startswith("/_sandbox/"):
            status, payload = self._admin(request)
            return status, payload, {}
        if request.headers.get("authorization") != f"Bearer {SANDBOX_TOKEN}":
            return 401, None, {}
        faults = self.state.faults
        if faults.throttle_burst > 0:
            faults.throttle_burst -= 1
            return _throttled(1)
        admitted, remaining, wait = self.limiter.admit(SANDBOX_TOKEN, trio.current_time())
        if not admitted:
            return _throttled(wait)
        headers = {"x-remaining-calls": str(remaining)}
        failure = await injected_failure(faults, self.state.rng, hang_seconds=120)
        if failure == "timeout":
            return 504, None, headers
        if failure == "error":
            return 500, {"": ["An unexpected error occurred (sandbox fault)."]}, headers
        try:
            status, payload, extra = self._api(request)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            status, payload, extra = 400, {"": [str(exc)]}, {}
        return status, payload, headers | extra

    def _api(self, r: Request) -> tuple[int, Any, dict[str, str]]:
        state = self.state
        route = (r.method, r.path)
        if route == ("POST", f"{_V}/order"):
            if not r.headers.get("shipbob_channel_id", "").isdigit():
                return 403, None, {}
            body = msgspec.json.decode(r.body or b"null")
            if not isinstance(body, dict):
                return 400, {"": ["A non-empty request body is required."]}, {}
            return (*state.create_order(body), {})
        if route == ("GET", f"{_V}/order"):
            (status, payload), next_page = state.list_orders(r.query)
            headers = {}
            if next_page is not None:
                query = r.query | {"Page": str(next_page)}
                headers["next-page"] = f"{_V}/order?{urllib.parse.urlencode(query)}"
            return status, payload, headers
        if r.method == "POST" and r.path.startswith(f"{_V}/order/") and r.path.endswith(":cancel"):
            order_id = r.path.removeprefix(f"{_V}/order/").removesuffix(":cancel")
            if not order_id.isdigit():
                return 404, None, {}
            return (*state.cancel_order(int(order_id)), {})
        if route == ("POST", f"{_V}/shipment:batchUpdateTrackingUpload"):
            request = msgspec.json.decode(r.body, type=wire.TrackingUploadRequest)
            return (*state.mark_tracking_uploaded(request), {})
        if route == ("GET", f"{_V}/product"):
            products = self.catalog.listed(r.query)
            if isinstance(products, dict):
                return 400, products, {}
            return self._page(r, products, lambda p: p.id, wire.ProductPage)
        if route == ("POST", f"{_V}/product"):
            product_request = msgspec.json.decode(r.body, type=wire.CreateProductRequest)
            return (*state.create_product(product_request), {})
        if r.method == "PATCH" and (match := _VARIANTS.fullmatch(r.path)):
            return (*self.catalog.update_variants(int(match["id"]), r.body), {})
        if route == ("GET", f"{_V}/inventory-level/locations"):
            levels = [sandbox_stock.located(s) for _, s in sorted(state.stock.items())]
            return self._page(r, levels, lambda i: i.inventory_id, wire.InventoryLocationsPage)
        if route == ("GET", f"{_V}/inventory-level"):
            short = state.backordered()
            totals = [sandbox_stock.totals(s, short) for _, s in sorted(state.stock.items())]
            return self._page(r, totals, lambda i: i.inventory_id, wire.InventoryTotalsPage)
        if route == ("GET", f"{_V}/channel"):
            channel = wire.Channel(
                id=state.channel_id,
                name="shelfsync sandbox",
                application_name="shelfsync",
                scopes=["orders_read", "orders_write", "products_read", "products_write"],
            )
            return 200, wire.ChannelPage(items=[channel]), {}
        if route == ("POST", f"{_V}/webhook"):
            webhook_request = msgspec.json.decode(r.body, type=wire.CreateWebhookRequest)
            return (*state.subscribe(webhook_request), {})
        if route == ("GET", f"{_V}/webhook"):
            return 200, wire.WebhookPage(items=[w for w, _ in state.webhooks.values()]), {}
        if r.method == "DELETE" and r.path.startswith(f"{_V}/webhook/"):
            found = state.webhooks.pop(r.path.removeprefix(f"{_V}/webhook/"), None)
            return (204 if found else 404), None, {}
        return 404, None, {}

    def _fresh_limiter(self) -> SlidingWindow:
        """A window of no calls yet, of ShipBob's limit times the ``rate_scale`` knob."""
        return SlidingWindow(limit=scaled_limit(RATE_LIMIT, self.state.faults.rate_scale))

    def _page(
        self,
        r: Request,
        items: list[Any],
        key: Callable[[Any], int],
        page_type: Callable[..., Any],
    ) -> tuple[int, Any, dict[str, str]]:
        """Keyset pagination: ``Cursor`` is the last key served, so pages stay stable when
        items are added while a client walks them."""
        try:
            size = int(r.query.get("PageSize", "50"))
            after = int(r.query.get("Cursor", "0"))
        except ValueError:
            return 400, {"PageSize": ["PageSize and Cursor must be integers."]}, {}
        if not 1 <= size <= 250:
            return 400, {"PageSize": ["PageSize must be between 1 and 250."]}, {}
        rest = [item for item in items if key(item) > after]
        page, more = rest[:size], len(rest) > size
        next_url = None
        if more:
            query = r.query | {"PageSize": str(size), "Cursor": str(key(page[-1]))}
            next_url = f"{r.path}?{urllib.parse.urlencode(query)}"
        first = f"{r.path}?{urllib.parse.urlencode({'PageSize': str(size)})}"
        return 200, page_type(items=page, first=first, next=next_url), {}

    def _admin(self, r: Request) -> Reply:
        state = self.state
        if (r.method, r.path) == ("GET", "/_sandbox/state"):
            return 200, {
                "channel_id": state.channel_id,
                "orders": list(state.orders.values()),
                "webhooks": [w for w, _ in state.webhooks.values()],
                "deliveries": self.webhooks.log,
                "faults": state.faults,
                "requests": list(state.requests),
            }
        try:
            body = json.loads(r.body or b"{}")
        except ValueError:
            return 400, {"": ["body is not JSON"]}
        if (r.method, r.path) == ("POST", "/_sandbox/faults"):
            try:
                state.faults = merge_faults(state.faults, body)
            except FaultsRejected as exc:
                return 400, {"": [str(exc)]}
            if "rate_scale" in body:
                self.limiter = self._fresh_limiter()
            return 200, state.faults
        if (r.method, r.path) == ("POST", "/_sandbox/inventory"):
            return state.adjust_stock(body)
        if (r.method, r.path) == ("POST", "/_sandbox/bundles"):
            return self.catalog.declare_bundle(body)
        if (r.method, r.path) == ("POST", "/_sandbox/ship"):
            order_id, shipments = int(body.get("order_id", 0)), body.get("shipments", [])
            return self.warehouse.ship(order_id, shipments, body.get("to", "Completed"))
        if r.method == "POST" and r.path.startswith("/_sandbox/shipments/"):
            shipment_id = r.path.removeprefix("/_sandbox/shipments/")
            if not shipment_id.isdigit():
                return 404, None
            return self.warehouse.move(int(shipment_id), body)
        return 404, None


def _throttled(wait: int) -> tuple[int, Any, dict[str, str]]:
    body = {"statusCode": 429, "message": f"Rate limit is exceeded. Try again in {wait} seconds."}
    return 429, body, {"x-retry-after": str(wait), "x-remaining-calls": "0"}


def create_app(options: SandboxOptions) -> SandboxApp:
    """A sandbox over a fresh account generated from ``options.seed`` and ``options.catalog``,
    its ``rate_scale`` knob at ``options.rate_scale``."""
    state = SandboxState(seed=options.seed, catalog=options.catalog, shared=options.shared())
    state.faults.rate_scale = options.rate_scale
    return SandboxApp(state)
