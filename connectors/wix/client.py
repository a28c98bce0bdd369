"""Wix REST client for one site: one method per call the connector makes.

Every request is authenticated by :mod:`.auth` (an API key with ``wix-site-id``, or an app's
access token) and goes through ``gate.call()``. Wix documents 200 requests per minute per
site and no rate headers; a throttled call is answered 429 (``RESOURCE_EXHAUSTED``, the status
is unconfirmed), reported through its call with a ``retry_after`` of :func:`throttle_wait` so
the channel's limiter stops every call that long, and raised as ``RateLimited``.

Errors are those of :mod:`connectors.errors`: transport trouble and 5xx → ``Retryable``;
401/403 → ``AuthFailed``; 428 for a call to the catalog version the site does not run →
``ChannelFatal``; 404 → ``RecordError`` (``not_found``); 409 (already exists, stale
revision) → ``RecordError`` (``conflict``); 428 (failed precondition, such as fulfilling an
order that is not approved) → ``RecordError`` (``precondition``); other 4xx →
``RecordError`` (``remote_validation``) carrying Wix's message, application error code and
field violations; a body that does not decode → ``RecordError`` (``schema``) naming the field
path. Requests go to the configured base URL only: Wix pages by cursors and numbers, never by
links, so nothing the platform sends can send the key elsewhere. The ``httpx.AsyncClient`` is
the caller's to close.
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
import msgspec
import trio

from connectors.base import CallGate, RateSignal
from connectors.errors import ChannelFatal, RateLimited, RecordError
from connectors.http import check_status, translate_errors
from connectors.reasons import ExceptionReason
from connectors.wix import wire
from connectors.wix.auth import Auth

T = TypeVar("T")

RATE_LIMIT_PER_MINUTE = 200
"""Wix's documented limit: 200 requests per minute per app instance (site)."""
FIRST_THROTTLE_WAIT = 5.0
"""Seconds the channel stops after a first 429 (Wix sends no Retry-After): a passing throttle
costs seconds, not a minute of the site's sync."""
THROTTLE_WAIT_MAX = 60.0
"""Each further 429 in a row doubles the wait, up to Wix's one-minute window: a site whose
budget other apps spend soon waits for the window to pass."""


def throttle_wait(in_a_row: int) -> float:
    """Seconds to stop after the ``in_a_row``-th 429 in a row (1-based)."""
    return min(THROTTLE_WAIT_MAX, FIRST_THROTTLE_WAIT * 2.0 ** (in_a_row - 1))


PRODUCTS_PAGE_SIZE = 100
"""``paging.limit`` maximum of the V1 products query."""
ORDERS_PAGE_SIZE = 100
"""``cursorPaging.limit`` maximum of the orders search."""
VARIANTS_PAGE_SIZE = 100
"""``paging.limit`` maximum of Query Store Variants."""
LOOKUP_TERMS = 100
"""Values in one variants query's ``$in``: as many as one page holds when each matches once."""


def decode(content: bytes, type_: type[T], what: str, entity: str) -> T:
    """``content`` as ``type_``; one that does not decode is a ``RecordError`` (``schema``)
    about ``entity`` naming the field path."""
    try:
        return msgspec.json.decode(content, type=type_)
    except msgspec.DecodeError as exc:  # ValidationError included: both carry the field path
        raise RecordError(
            f"{what}: unexpected payload: {exc}", entity=entity, reason="schema"
        ) from None


def error_text(response: httpx.Response) -> str:
    """Wix's explanation of a failed call: message, application error code and description,
    field violations; the raw text for a body of another shape."""
    try:
        body = msgspec.json.decode(response.content, type=wire.ErrorBody)
    except msgspec.DecodeError:
        return response.text.strip() or response.reason_phrase
    parts = [body.message] if body.message else []
    details = body.details
    if details is not None and details.application_error is not None:
        app = details.application_error
        parts.append(app.code + (f" ({app.description})" if app.description else ""))
    if details is not None and details.validation_error is not None:
        parts += [
            f"{v.field}: {v.description or v.violated_rule or 'invalid'}"
            for v in details.validation_error.field_violations
        ]
    return "; ".join(parts) or response.reason_phrase


_CATALOG_MISMATCH = "_SITE_CALLING_CATALOG_"
"""In the application error code of a call to the catalog version the site does not run
(``CATALOG_V1_SITE_CALLING_CATALOG_V3_API`` and its mirror; the exact codes are unconfirmed)."""
_RECORD_REASONS: dict[int, ExceptionReason] = {
    404: "not_found",
    409: "conflict",
    428: "precondition",
}


class WixClient:
    """Calls Wix for one site, authenticated by ``auth`` (:mod:`.auth`)."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, auth: Auth, gate: CallGate) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._auth = auth
        self._gate = gate
        self._throttled_in_a_row = 0
        self._throttle_ends = 0.0
        """Trio time the last 429's wait ends: a 429 to a call sent before it is of the same
        throttle (calls run side by side), one to a call sent after it is the next in a row."""

    def _throttled(self, sent_at: float) -> float:
        """Seconds to wait after a 429 to a call sent at trio time ``sent_at`` (none left if
        it was sent before the last wait ended and answered after)."""
        if sent_at >= self._throttle_ends:  # the next throttle in a row, not the same one
            self._throttled_in_a_row += 1
            self._throttle_ends = trio.current_time() + throttle_wait(self._throttled_in_a_row)
        return max(0.0, self._throttle_ends - trio.current_time())

    async def _call(
        self,
        method: str,
        path: str,
        what: str,
        entity: str,
        type_: type[T],
        body: msgspec.Struct | None = None,
    ) -> T:
        """One request: gate, send, observe, classify; the answer decoded as ``type_``. A 401
        to an expired access token is asked once more with a new one."""
        content = None if body is None else msgspec.json.encode(body)
        for _ in range(2):
            headers = await self._auth.headers(self._http, self._gate)
            headers["Accept"] = "application/json"
            if content is not None:
                headers["Content-Type"] = "application/json"
            async with self._gate.call() as call:
                sent_at = trio.current_time()
                with translate_errors(what):
                    response = await self._http.request(
                        method, self._base + path, headers=headers, content=content
                    )
                if response.status_code == 429:
                    call.observe(RateSignal(remaining=0, retry_after=self._throttled(sent_at)))
            if response.status_code != 401 or not self._auth.refused(headers):
                break
        if response.status_code == 429:
            wait = max(0.0, self._throttle_ends - trio.current_time())
            raise RateLimited(f"{what}: throttled (429): {error_text(response)}", retry_after=wait)
        if sent_at >= self._throttle_ends:
            self._throttled_in_a_row = 0
        check_status(response, what)
        if response.status_code == 428 and _CATALOG_MISMATCH in error_text(response):
            # Every catalog call will fail the same way: a human must set the right version.
            raise ChannelFatal(
                f"{what}: the site does not run the catalog version this channel uses "
                f"(settings.catalog): {error_text(response)}"
            )
        if response.status_code >= 400:
            reason = _RECORD_REASONS.get(response.status_code, "remote_validation")
            raise RecordError(
                f"{what}: Wix refused ({response.status_code}): {error_text(response)}",
                entity=entity,
                reason=reason,
            )
        return decode(response.content or b"{}", type_, what, entity)

    # --- catalog V1 -----------------------------------------------------------------------

    async def query_products(
        self, filter_: dict[str, Any] | None, sort: list[dict[str, str]], limit: int
    ) -> list[tuple[wire.ProductStamp, bytes]]:
        """One page of ``POST /stores/v1/products/query`` with variants: each product's id
        and stamps with its raw JSON. ``filter_`` and ``sort`` are sent as JSON strings."""
        query = wire.ProductsQuery(
            paging=wire.ProductsPaging(limit=limit),
            filter=msgspec.json.encode(filter_).decode() if filter_ else None,
            sort=msgspec.json.encode(sort).decode(),
        )
        what = "query products"
        page = await self._call(
            "POST",
            "/stores/v1/products/query",
            what,
            "product",
            wire.QueryProductsResponse,
            wire.QueryProductsRequest(query=query, include_variants=True),
        )
        return [
            (decode(raw, wire.ProductStamp, f"{what}: product {n}", "product"), bytes(raw))
            for n, raw in enumerate(page.products)
        ]

    async def store_variants(self, field: str, values: list[str]) -> list[wire.StoreVariant]:
        """Every variant whose ``field`` (``sku`` or ``productId``) is one of ``values``, by
        Query Store Variants: :data:`LOOKUP_TERMS` values per query, each query read to its
        last page (a SKU may be held twice, a product has many variants)."""
        found: list[wire.StoreVariant] = []
        for start in range(0, len(values), LOOKUP_TERMS):
            chunk = values[start : start + LOOKUP_TERMS]
            offset = 0
            while True:
                query = wire.VariantsQuery(
                    filter={field: {"$in": chunk}},
                    paging=wire.PlatformPaging(limit=VARIANTS_PAGE_SIZE, offset=offset),
                )
                page = await self._call(
                    "POST",
                    "/stores-reader/v1/variants/query",
                    f"query variants by {field}",
                    "variant",
                    wire.QueryVariantsResponse,
                    wire.QueryVariantsRequest(query=query),
                )
                found += page.variants
                if len(page.variants) < VARIANTS_PAGE_SIZE:
                    break
                offset += VARIANTS_PAGE_SIZE
        return found

    async def update_inventory(
        self, product_id: str, variants: list[wire.InventoryVariantUpdate]
    ) -> None:
        """``PATCH /stores/v2/inventoryItems/product/{productId}``: absolute quantities of
        several variants of one tracked product in one call."""
        request = wire.UpdateInventoryRequest(
            inventory_item=wire.InventoryItemUpdate(variants=variants, track_quantity=True)
        )
        await self._call(
            "PATCH",
            f"/stores/v2/inventoryItems/product/{product_id}",
            f"update inventory of product {product_id}",
            "inventory",
            msgspec.Raw,
            request,
        )

    # --- eCommerce orders -------------------------------------------------------------------

    async def search_orders(
        self, filter_: dict[str, Any] | None, cursor: str | None, limit: int = ORDERS_PAGE_SIZE
    ) -> tuple[list[tuple[wire.OrderStamp, bytes]], str | None]:
        """One page of ``POST /ecom/v1/orders/search`` sorted by ``updatedDate`` ascending,
        and the cursor of the next page (None after the last). A next page is asked for by
        cursor alone: the cursor carries the filter and sort of the first request."""
        if cursor is None:
            search = wire.Search(
                cursor_paging=wire.CursorPaging(limit=limit),
                filter=filter_,
                sort=[wire.SortField(field_name="updatedDate", order="ASC")],
            )
        else:
            search = wire.Search(cursor_paging=wire.CursorPaging(limit=limit, cursor=cursor))
        what = "search orders"
        page = await self._call(
            "POST",
            "/ecom/v1/orders/search",
            what,
            "order",
            wire.SearchOrdersResponse,
            wire.SearchOrdersRequest(search=search),
        )
        records = [
            (decode(raw, wire.OrderStamp, f"{what}: order {n}", "order"), bytes(raw))
            for n, raw in enumerate(page.orders)
        ]
        next_cursor = page.metadata.cursors.next if page.metadata.has_next else None
        return records, next_cursor or None

    async def get_order(self, order_id: str) -> wire.Order:
        """``GET /ecom/v1/orders/{id}`` (also returns ``INITIALIZED`` orders)."""
        answer = await self._call(
            "GET",
            f"/ecom/v1/orders/{order_id}",
            f"get order {order_id}",
            order_id,
            wire.GetOrderResponse,
        )
        return answer.order

    async def list_fulfillments(self, order_id: str) -> list[wire.Fulfillment]:
        """``GET /ecom/v1/fulfillments/orders/{orderId}``: every fulfillment of the order."""
        answer = await self._call(
            "GET",
            f"/ecom/v1/fulfillments/orders/{order_id}",
            f"list fulfillments of order {order_id}",
            order_id,
            wire.ListFulfillmentsResponse,
        )
        return answer.order_with_fulfillments.fulfillments

    async def create_fulfillment(
        self, order_id: str, fulfillment: wire.Fulfillment
    ) -> wire.CreateFulfillmentResponse:
        """``POST /ecom/v1/fulfillments/orders/{orderId}/create-fulfillment``."""
        return await self._call(
            "POST",
            f"/ecom/v1/fulfillments/orders/{order_id}/create-fulfillment",
            f"create fulfillment of order {order_id}",
            order_id,
            wire.CreateFulfillmentResponse,
            wire.CreateFulfillmentRequest(fulfillment=fulfillment),
        )
