"""A faithful fake of the Wix REST APIs a Catalog V1 store uses, as a plain ASGI app.

``create_app(options)`` returns a :class:`WixSandbox` over a seeded :class:`SiteState`.
Served over HTTP (``shelfsync sandbox wix``) it starts its webhook sender from the ASGI
lifespan; on ``httpx.ASGITransport`` (no lifespan) a test starts it with
``await nursery.start(app.run_webhooks)``.

What it checks like Wix: ``Authorization`` holding the site's API key (401
``UNAUTHENTICATED``) and ``wix-site-id`` naming the site (403 ``PERMISSION_DENIED`` when
missing or another site's), or an access token from ``POST /oauth2/token`` (client
credentials of the sandbox app for the site's instance; valid four hours); 200 requests per
sliding minute per site (times the ``rate_scale`` fault knob), then 429 with
``RESOURCE_EXHAUSTED`` and no rate headers (Wix documents none); error bodies in Wix's shape
(``message`` + ``details.applicationError`` or ``details.validationError.fieldViolations``);
the site runs Catalog V1, so Catalog V3 paths answer 428 (and, with ``state.catalog = "V3"``,
a site on Catalog V3 answers 428 to every V1 catalog or inventory call; the V3 API itself is
not modelled). Query Store Variants (``POST /stores-reader/v1/variants/query``) takes its
``filter`` as an object.

API (paths under ``https://www.wixapis.com``):

- ``POST /stores/v1/products/query``: ``query.filter``/``query.sort`` as JSON strings,
  ``paging.limit`` ≤ 100, offset paging failing past 10,000 items (why keyset paging by
  ``numericId``/``lastUpdated`` exists), ``includeVariants``; ``GET /stores/v1/products/{id}``.
- ``GET|POST /stores/v2/inventoryItems/product/{id}/getVariants``;
  ``PATCH /stores/v2/inventoryItems/product/{id}`` (``quantity`` when tracked, ``inStock``
  when not).
- ``POST /ecom/v1/orders/search``: filter operators, ``cursorPaging.limit`` ≤ 100, opaque
  keyset cursors (a next page is asked for by cursor alone), default sort ``createdDate``
  DESC, ``INITIALIZED`` orders never returned; ``GET /ecom/v1/orders/{id}`` (returns them).
- ``GET /ecom/v1/fulfillments/orders/{id}``;
  ``POST /ecom/v1/fulfillments/orders/{id}/create-fulfillment`` (rules in
  :meth:`SiteState.create_fulfillment`).

Hooks outside the API and its limits: ``GET /_sandbox/state``, ``GET /_sandbox/public-key``
(the PEM a channel's ``public_key`` credential needs, with the site id, API key and
instance id), ``POST /_sandbox/faults``, ``POST /_sandbox/webhooks`` (``{"url"}``: subscribe
a receiver, as an app's dashboard does), ``POST /_sandbox/orders`` (a shopper places an
order), ``POST /_sandbox/orders/{id}/cancel`` and ``…/approve`` (an ``INITIALIZED`` checkout
is placed), ``POST /_sandbox/products/{id}`` (edit name or variant SKUs) and
``POST /_sandbox/stock`` (``{"sku", "quantity"}``, a change in the dashboard).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import msgspec
import trio

from connectors import sandboxkit
from connectors.sandbox_faults import FaultsRejected, injected_failure, merge_faults, scaled_limit
from connectors.sandbox_server import SandboxOptions
from connectors.shipbob.sandbox_checks import SlidingWindow
from connectors.wix import sandbox_query as q
from connectors.wix.sandbox_seed import (
    destination,
    seed_catalog,
    seed_orders,
    seed_shared_catalog,
)
from connectors.wix.sandbox_state import Order, Product, SiteState, WixError, invalid
from connectors.wix.sandbox_webhooks import WebhookSender

RATE_LIMIT = 200
"""Requests per minute per site (dev.wix.com, "Rate limits")."""
CATALOG_V1_PATHS = ("/stores/v1/", "/stores/v2/", "/stores-reader/v1/")
TOKEN_LIFETIME = 4 * 3600.0
"""Seconds an OAuth access token is accepted (four hours, as said of Wix's; unconfirmed)."""
MAX_OFFSET_ITEMS = 10_000
"""Stores query endpoints "are designed to handle a max of 10k data items"."""
PRODUCT_FILTERS = {
    "id", "name", "sku", "numericId", "lastUpdated", "price", "visible", "productType",
    "slug", "collections.id",
}  # fmt: skip
VARIANT_FILTERS = {"id", "sku", "productId", "variantId", "productName", "managedVariant"}
"""What Query Store Variants filters on: the fields of ``SiteState.store_variant_filterable``."""
VARIANTS_QUERY_PATHS = ("/stores-reader/v1/variants/query", "/stores/v1/variants/query")
"""Query Store Variants: the reference gives the first, its example the second."""
ORDER_FILTERS = {
    "id", "number", "status", "paymentStatus", "fulfillmentStatus", "createdDate",
    "updatedDate", "archived", "channelInfo.type", "shippingInfo.title",
    "shippingInfo.region.name", "buyerInfo.email", "lineItems.catalogReference.catalogItemId",
}  # fmt: skip
_PRODUCT = re.compile(r"/stores/v1/products/(?P<id>[^/]+)")
_INVENTORY = re.compile(r"/stores/v2/inventoryItems/product/(?P<id>[^/]+)(?P<get>/getVariants)?")
_ORDER = re.compile(r"/ecom/v1/orders/(?P<id>[^/]+)")
_FULFILLMENTS = re.compile(
    r"/ecom/v1/fulfillments/orders/(?P<id>[^/]+)(?P<create>/create-fulfillment)?"
)
_ADMIN_ORDER = re.compile(r"/_sandbox/orders/(?P<id>[^/]+)/(?P<action>cancel|approve)")
_ADMIN_PRODUCT = re.compile(r"/_sandbox/products/(?P<id>[^/]+)")


def _app_error(status: int, message: str, code: str) -> tuple[int, Any]:
    return status, WixError(status, message, code=code).body()


class WixSandbox:
    """The ASGI app; ``state`` and ``webhooks`` are public for tests to inspect and steer."""

    def __init__(self, options: SandboxOptions) -> None:
        self.state = SiteState(options.seed)
        shared = options.shared()
        if shared is None:
            seed_catalog(self.state, options.catalog)
        else:
            seed_shared_catalog(self.state, shared)
        seed_orders(self.state)
        self.webhooks = WebhookSender(self.state)
        self.state.notify = self.webhooks.emit
        self.state.faults.rate_scale = options.rate_scale
        self.limiter = self._fresh_limiter()
        self.throttled = 0

    def _fresh_limiter(self) -> SlidingWindow:
        """A window of no calls yet, of Wix's limit times the ``rate_scale`` knob."""
        limit = scaled_limit(RATE_LIMIT, self.state.faults.rate_scale)
        return SlidingWindow(limit=limit, window=60.0)

    async def run_webhooks(
        self,
        http: httpx.AsyncClient | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Deliver queued webhooks until cancelled, through ``http`` when given (tests route
        deliveries in process)."""
        await self.webhooks.run(http, task_status=task_status)

    async def __call__(
        self, scope: sandboxkit.Scope, receive: sandboxkit.Receive, send: sandboxkit.Send
    ) -> None:
        request = await sandboxkit.accept(scope, receive, send, self.run_webhooks)
        if request is None:
            return
        method, path = request.method, request.path
        status, payload = await self._route(method, path, request.headers, request.body)
        self.state.requests.append(
            {"method": method, "path": path, "status": status, "at": trio.current_time()}
        )
        raw = b"" if payload is None else json.dumps(payload).encode()
        await sandboxkit.send_response(send, status, raw, content_type="application/json")

    async def _route(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        if path.startswith("/_sandbox/"):
            try:
                data = json.loads(body) if body else {}
            except json.JSONDecodeError:
                return 400, {"message": "body is not JSON"}
            return self._admin(method, path, data)
        state = self.state
        if (method, path) == ("POST", "/oauth2/token"):
            return self._token(body)
        authorization = headers.get("authorization", "")
        site = headers.get("wix-site-id")
        if authorization == state.api_key:
            if site != state.site_id:
                return _app_error(
                    403, "PERMISSION_DENIED: missing or unknown wix-site-id", "PERMISSION_DENIED"
                )
        elif state.tokens.get(authorization, 0.0) > trio.current_time():
            if site is not None and site != state.site_id:  # the token's instance is the site
                return _app_error(403, "PERMISSION_DENIED: wrong wix-site-id", "PERMISSION_DENIED")
        else:
            return _app_error(401, "UNAUTHENTICATED: invalid or expired token", "UNAUTHENTICATED")
        faults = state.faults
        admitted, _, _ = self.limiter.admit(state.site_id, trio.current_time())
        if faults.throttle_burst > 0 or not admitted:
            faults.throttle_burst = max(0, faults.throttle_burst - 1)
            self.throttled += 1
            return _app_error(429, "RESOURCE_EXHAUSTED: too many requests", "RESOURCE_EXHAUSTED")
        failure = await injected_failure(faults, state.rng, hang_seconds=120)
        if failure == "timeout":
            return _app_error(504, "DEADLINE_EXCEEDED", "DEADLINE_EXCEEDED")
        if failure == "error":
            return _app_error(500, "INTERNAL: sandbox fault", "INTERNAL")
        try:
            request = json.loads(body) if body else {}
            return self._api(method, path, request)
        except json.JSONDecodeError:
            return 400, invalid("body", "is not JSON").body()
        except q.QueryError as exc:
            return 400, invalid(exc.field, exc.description).body()
        except WixError as exc:
            return exc.status, exc.body()

    def _api(self, method: str, path: str, request: Any) -> tuple[int, Any]:
        state = self.state
        route = (method, path)
        if path.startswith("/stores/v3/") and state.catalog == "V1":
            raise WixError(
                428,
                "FAILED_PRECONDITION: this site uses Catalog V1",
                code="CATALOG_V1_SITE_CALLING_CATALOG_V3_API",
            )
        if path.startswith(CATALOG_V1_PATHS) and state.catalog == "V3":
            raise WixError(
                428,
                "FAILED_PRECONDITION: this site uses Catalog V3",
                code="CATALOG_V3_SITE_CALLING_CATALOG_V1_API",
            )
        if route == ("POST", "/stores/v1/products/query"):
            return 200, self._query_products(request)
        if method == "POST" and path in VARIANTS_QUERY_PATHS:
            return 200, self._query_variants(request)
        if route == ("POST", "/ecom/v1/orders/search"):
            return 200, self._search_orders(request)
        if method == "GET" and (match := _PRODUCT.fullmatch(path)):
            product = state.products.get(match["id"])
            if product is None:
                raise WixError(404, f"Product {match['id']} not found", code="PRODUCT_NOT_FOUND")
            return 200, {"product": state.product_json(product)}
        if match := _INVENTORY.fullmatch(path):
            product = state.products.get(match["id"])
            if match["get"] and method in ("GET", "POST") and product is not None:
                return 200, state.inventory_json(product)
            if not match["get"] and method == "PATCH":
                state.update_inventory(match["id"], request.get("inventoryItem"))
                return 200, {}
            if product is None:
                raise WixError(404, f"Product {match['id']} not found", code="PRODUCT_NOT_FOUND")
        if method == "GET" and (match := _ORDER.fullmatch(path)):
            return 200, {"order": state.order_json(state.order(match["id"]))}
        if match := _FULFILLMENTS.fullmatch(path):
            order = state.order(match["id"])
            if match["create"] and method == "POST":
                created = state.create_fulfillment(order, request.get("fulfillment"))
                return 200, {
                    "orderWithFulfillments": state.fulfillments_json(order),
                    "fulfillmentId": created["id"],
                }
            if not match["create"] and method == "GET":
                return 200, {"orderWithFulfillments": state.fulfillments_json(order)}
        raise WixError(404, f"no method {method} {path}", code="NOT_FOUND")

    def _token(self, body: bytes) -> tuple[int, Any]:
        """``POST /oauth2/token`` with client credentials: a token for the site's instance."""
        state = self.state
        try:
            request = json.loads(body)
        except json.JSONDecodeError:
            return 400, invalid("body", "is not JSON").body()
        if not isinstance(request, dict) or request.get("grant_type") != "client_credentials":
            return 400, invalid("grant_type", "must be client_credentials").body()
        if (request.get("client_id"), request.get("client_secret")) != (
            state.app_id,
            state.app_secret,
        ):
            return _app_error(
                401, "UNAUTHENTICATED: unknown app or wrong secret", "UNAUTHENTICATED"
            )
        if request.get("instance_id") != state.instance_id:
            return _app_error(
                400, "INVALID_ARGUMENT: app is not installed on that instance", "INVALID_INSTANCE"
            )
        token = f"OauthNG.JWS.sandbox-{state.rng.getrandbits(64):016x}"
        state.tokens[token] = trio.current_time() + TOKEN_LIFETIME
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(TOKEN_LIFETIME),
        }

    # -- catalog query ----------------------------------------------------------------------

    def _query_products(self, request: Any) -> dict[str, Any]:
        query = request.get("query") or {}
        paging = query.get("paging") or {}
        limit, offset = paging.get("limit", 100), paging.get("offset", 0)
        if not isinstance(limit, int) or not 0 <= limit <= 100:
            raise q.QueryError("query.paging.limit", "must be between 0 and 100")
        if not isinstance(offset, int) or offset < 0:
            raise q.QueryError("query.paging.offset", "must be a non-negative integer")
        if offset + limit > MAX_OFFSET_ITEMS:
            raise WixError(
                400,
                f"offset paging is limited to {MAX_OFFSET_ITEMS} items; page by numericId",
                code="PAGING_LIMIT_EXCEEDED",
            )
        filter_ = _json_string(query, "filter", {})
        sort = _json_string(query, "sort", [])
        if not isinstance(sort, list) or not all(
            isinstance(s, dict) and len(s) == 1 and next(iter(s.values())) in ("asc", "desc")
            for s in sort
        ):
            raise q.QueryError("query.sort", 'must be a list like [{"numericId": "asc"}]')
        spec = [(field, order == "asc") for s in sort for field, order in s.items()]
        for field, _ in spec:
            if field not in PRODUCT_FILTERS:
                raise q.QueryError(field, "is not a field this method can sort on")
        passes = q.compiled_filter(filter_, PRODUCT_FILTERS)
        chosen = q.sorted_by(
            (p for p in self.state.products.values() if passes(self._product_getter(p))),
            self._product_getter,
            spec,
        )  # fmt: skip
        page = chosen[offset : offset + limit]
        include = bool(request.get("includeVariants", False))
        return {
            "products": [self.state.product_json(p, variants=include) for p in page],
            "metadata": {"items": len(page), "offset": offset},
            "totalResults": len(chosen),
        }

    def _query_variants(self, request: Any) -> dict[str, Any]:
        """Query Store Variants: a platform query (``filter`` an object), offset paging."""
        query = request.get("query") or {}
        paging = query.get("paging") or {}
        limit, offset = paging.get("limit", 100), paging.get("offset", 0)
        if not isinstance(limit, int) or not 0 <= limit <= 100:
            raise q.QueryError("query.paging.limit", "must be between 0 and 100")
        if not isinstance(offset, int) or offset < 0:
            raise q.QueryError("query.paging.offset", "must be a non-negative integer")
        filter_ = query.get("filter") or {}
        if not isinstance(filter_, dict):
            raise q.QueryError("query.filter", "must be an object")
        state = self.state
        passes = q.compiled_filter(filter_, VARIANT_FILTERS)
        chosen = [
            (p, v)
            for p in sorted(state.products.values(), key=lambda p: p.numeric_id)
            for v in p.variants
            if passes(_row_getter(state.store_variant_filterable(p, v)))
        ]
        page = [state.store_variant_json(p, v) for p, v in chosen[offset : offset + limit]]
        return {"variants": page, "metadata": {"items": len(page), "offset": offset}}

    def _product_getter(self, product: Product) -> q.Getter:
        def get(field: str) -> list[Any]:
            if field == "sku":
                return [product.sku, *(v.sku for v in product.variants if v.sku)]
            if field == "numericId":
                return [product.numeric_id]
            if field == "lastUpdated":
                return [product.last_updated]
            if field == "id":
                return [product.id]
            if field == "name":
                return [product.name]
            if field == "slug":
                return [product.name.lower().replace(" ", "-")]
            constant: dict[str, list[Any]] = {"visible": [True], "productType": ["physical"]}
            return constant.get(field, [])

        return get

    # -- orders search ----------------------------------------------------------------------

    def _search_orders(self, request: Any) -> dict[str, Any]:
        search = request.get("search") or {}
        paging = search.get("cursorPaging") or {}
        limit = paging.get("limit", 100)
        if not isinstance(limit, int) or not 0 <= limit <= 100:
            raise q.QueryError("search.cursorPaging.limit", "must be between 0 and 100")
        cursor = paging.get("cursor")
        if cursor is not None:
            if "filter" in search or "sort" in search:
                raise q.QueryError(
                    "search.cursorPaging.cursor", "cannot be combined with filter or sort"
                )
            state = q.decode_cursor(cursor)
            filter_, sort, after = state["filter"], state["sort"], state["after"]
        else:
            filter_, after = search.get("filter") or {}, None
            raw_sort = search.get("sort") or [{"fieldName": "createdDate", "order": "DESC"}]
            sort = []
            for n, s in enumerate(raw_sort):
                if not isinstance(s, dict) or s.get("fieldName") not in ORDER_FILTERS:
                    raise q.QueryError(f"search.sort[{n}].fieldName", "is not sortable")
                if s.get("order", "ASC") not in ("ASC", "DESC"):
                    raise q.QueryError(f"search.sort[{n}].order", "must be ASC or DESC")
                sort.append([s["fieldName"], s.get("order", "ASC") == "ASC"])
        spec: q.SortSpec = [(field, ascending) for field, ascending in sort]
        passes = q.compiled_filter(filter_, ORDER_FILTERS)
        chosen = q.sorted_by(
            (
                o for o in self.state.orders.values()
                if o.status != "INITIALIZED"  # search never returns checkouts not yet placed
                and passes(self._order_getter(o))
            ),
            self._order_getter,
            spec,
        )  # fmt: skip
        if after is not None:
            chosen = [
                o
                for o in chosen
                if q.compare_values(q.sort_values(self._order_getter(o), spec), after, spec) > 0
            ]
        page, more = chosen[:limit], len(chosen) > limit
        next_cursor = None
        if more and page:
            values = q.sort_values(self._order_getter(page[-1]), spec)
            next_cursor = q.encode_cursor(
                {"filter": filter_, "sort": sort, "after": [_plain(v) for v in values]}
            )
        return {
            "orders": [self.state.order_json(o) for o in page],
            "metadata": {
                "count": len(page),
                "cursors": {"next": next_cursor} if next_cursor else {},
                "hasNext": next_cursor is not None,
            },
        }

    def _order_getter(self, order: Order) -> q.Getter:
        def get(field: str) -> list[Any]:
            if field == "lineItems.catalogReference.catalogItemId":
                return [line.product_id for line in order.lines]
            values = {
                "id": order.id,
                "number": order.number,
                "status": order.status,
                "paymentStatus": order.payment_status,
                "fulfillmentStatus": order.fulfillment_status,
                "createdDate": order.created,
                "updatedDate": order.updated,
                "archived": False,
                "channelInfo.type": "WEB",
                "shippingInfo.title": order.shipping_title,
                "buyerInfo.email": order.email,
            }
            return [values[field]] if field in values else []

        return get

    # -- hooks ----------------------------------------------------------------------------------

    def _admin(self, method: str, path: str, data: Any) -> tuple[int, Any]:
        state = self.state
        if (method, path) == ("GET", "/_sandbox/state"):
            return 200, self.snapshot()
        if (method, path) == ("GET", "/_sandbox/public-key"):
            return 200, {
                "publicKey": self.webhooks.public_key,
                "siteId": state.site_id,
                "instanceId": state.instance_id,
                "apiKey": state.api_key,
                "appId": state.app_id,
                "appSecret": state.app_secret,
            }
        if method != "POST":
            return 405, {"message": "use POST"}
        if path == "/_sandbox/faults":
            try:
                state.faults = merge_faults(state.faults, data)
            except FaultsRejected as exc:
                return 400, {"message": str(exc), "unknown": exc.unknown}
            if "rate_scale" in data:
                self.limiter = self._fresh_limiter()
            return 200, _plain(state.faults)
        if path == "/_sandbox/webhooks":
            url = data.get("url") if isinstance(data, dict) else None
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                return 400, {"message": 'expected {"url": "http(s)://…"}'}
            self.webhooks.receivers.append(url)
            return 201, {"url": url}
        try:
            if path == "/_sandbox/orders":
                return 201, state.order_json(self._place_order(data))
            if match := _ADMIN_ORDER.fullmatch(path):
                order = state.order(match["id"])
                if match["action"] == "cancel":
                    state.cancel_order(order)
                elif order.status == "INITIALIZED":
                    order.status = "APPROVED"
                    state.touch(order, "approved")
                return 200, state.order_json(order)
            if match := _ADMIN_PRODUCT.fullmatch(path):
                return 200, self._edit_product(match["id"], data)
            if path == "/_sandbox/stock":
                found = state.find_variant(str(data.get("sku")))
                if found is None:
                    return 404, {"message": "no variant with that SKU"}
                found[1].quantity = int(data["quantity"])
                state.product_changed(found[0], ["stock"])
                return 200, state.product_json(found[0])
        except WixError as exc:
            return exc.status, exc.body()
        except (KeyError, TypeError, ValueError) as exc:
            return 400, {"message": f"bad request: {exc}"}
        return 404, {"message": "no such hook"}

    def _place_order(self, data: dict[str, Any]) -> Order:
        """``{"lines": [{"sku"} | {"product_id", "variant_id"}, "quantity"], "paid",
        "shipping", "note", "gift_message", "initialized"}`` → the new order."""
        state = self.state
        lines = []
        for line in data["lines"]:
            if "sku" in line:
                found = state.find_variant(line["sku"])
            else:
                product = state.products[line["product_id"]]
                variant_id = line.get("variant_id", "00000000-0000-0000-0000-000000000000")
                found = next(((product, v) for v in product.variants if v.id == variant_id), None)
            if found is None:
                raise WixError(404, f"no variant for {line}", code="VARIANT_NOT_FOUND")
            lines.append((*found, int(line.get("quantity", 1))))
        return state.create_order(
            lines,
            paid=bool(data.get("paid", True)),
            shipping_title=str(data.get("shipping", "Standard Shipping")),
            destination=destination(state, len(state.orders)),
            email=str(data.get("email", "shopper@example.com")),
            note=data.get("note"),
            gift_message=data.get("gift_message"),
            initialized=bool(data.get("initialized", False)),
        )

    def _edit_product(self, product_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """``{"name", "variants": [{"id", "sku"}]}``: changes and stamps the product."""
        state = self.state
        product = state.products.get(product_id)
        if product is None:
            raise WixError(404, f"Product {product_id} not found", code="PRODUCT_NOT_FOUND")
        product.name = data.get("name", product.name)
        changes = {v["id"]: v for v in data.get("variants", [])}
        for variant in product.variants:
            variant.sku = changes.get(variant.id, {}).get("sku", variant.sku)
        state.product_changed(product, sorted(data))
        return state.product_json(product)

    def snapshot(self) -> dict[str, Any]:
        state = self.state
        return {
            "site_id": state.site_id,
            "products": len(state.products),
            "variants": sum(len(p.variants) for p in state.products.values()),
            "orders": [state.order_json(o) for o in state.orders.values()],
            "throttled": self.throttled,
            "faults": _plain(state.faults),
            "webhooks": {"receivers": self.webhooks.receivers, "log": self.webhooks.log},
            "requests": state.requests[-200:],
        }


def _row_getter(row: dict[str, Any]) -> q.Getter:
    """The getter of a flat JSON entity: each field's one value."""
    return lambda field: [row[field]] if field in row else []


def _json_string(query: dict[str, Any], name: str, default: Any) -> Any:
    """A V1 query's ``filter``/``sort``: a JSON *string* (an object is refused, as by Wix)."""
    raw = query.get(name)
    if raw is None:
        return default
    if not isinstance(raw, str):
        raise q.QueryError(f"query.{name}", "must be a JSON string")
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise q.QueryError(f"query.{name}", "is not valid JSON") from None


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready data (datetimes as ISO strings, structs as objects)."""
    return msgspec.to_builtins(value)


def create_app(options: SandboxOptions) -> WixSandbox:
    """A new sandbox site seeded from ``options`` (same seed, same catalog and orders)."""
    return WixSandbox(options)
