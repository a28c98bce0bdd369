"""BigCommerce REST client (v3 catalog, inventory and hooks; v2 orders and shipments).

Every call goes through ``gate.call()`` and, after every answer (throttled or not), reports
the store's fixed-window counters through it:
``X-Rate-Limit-Requests-Left`` as ``remaining``, ``-Requests-Quota`` as ``limit``,
``-Time-Reset-Ms`` as ``reset_after`` and, on a 429, ``X-Retry-After`` as ``retry_after``.

Errors are those of :mod:`connectors.errors`: transport trouble and 5xx → ``Retryable``; 429 →
``RateLimited`` (a 429 without the rate headers is platform overload: no wait is known);
401/403 → ``AuthFailed``; 413 (a page size above the maximum) → ``ChannelFatal``, a bug no
retry fixes; 404 → ``RecordError(reason="not_found")``; other 4xx → ``RecordError(reason=
"remote_validation")`` with BigCommerce's messages (v2 ``[{"status","message"}]``, v3
``{"title","errors"}``); a 422 saying an item is tracked by product (or by variant) →
:class:`TrackingMismatch`; a body that does not decode → ``RecordError(reason="schema")``
naming the field path. A ``next`` link leading off the base URL's scheme, host and port is
not followed (``RecordError``, ``schema``): the token goes with every request. Cancelling a
call abandons the request; the ``httpx.AsyncClient`` is the caller's to close.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import httpx
import msgspec

from connectors.base import CallGate, RateSignal
from connectors.bigcommerce import wire
from connectors.errors import ChannelFatal, RecordError
from connectors.http import check_status, read_retried, retry_after_seconds, translate_errors
from daemon.credentials import Secret

T = TypeVar("T")

V3_PAGE_LIMIT = 250
"""The largest ``limit`` v3 lists accept (more is a 413)."""
V2_PAGE_LIMIT = 250
"""The ``limit`` asked of v2 lists (their maximum is not documented; 250 is what v3 allows)."""
ITEMS_PER_LOOKUP = 100
"""SKUs (or variant ids) per ``GET /v3/inventory/items?sku:in=`` (kept well inside URL length
limits)."""
ADJUSTMENT_BATCH = 2000
"""Items per ``PUT /v3/inventory/adjustments/absolute``, BigCommerce's documented maximum."""

_TRACKED_BY = "is tracked by"


class TrackingMismatch(RecordError):
    """BigCommerce refused an inventory write keyed by the wrong identifier for the item's
    tracking mode (422: "Item with variant_id 106 is tracked by product ...")."""


def decode(content: bytes, type_: type[T], what: str, entity: str) -> T:
    """``content`` as ``type_`` (v2 dates included); ``RecordError(reason="schema")`` naming
    the field path when it does not decode."""
    try:
        return msgspec.json.decode(content, type=type_, dec_hook=wire.DEC_HOOK)
    except msgspec.DecodeError as exc:  # ValidationError included: both carry the field path
        raise RecordError(
            f"{what}: unexpected payload: {exc}", entity=entity, reason="schema"
        ) from None


def error_messages(response: httpx.Response) -> list[str]:
    """BigCommerce's messages from an error body: v2 ``[{"status", "message"}]``, v3
    ``{"title", "errors": {field: msg}}``, or plain text (a v3 401)."""
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        text = response.text.strip()
        return [text[:300]] if text else []
    if isinstance(body, list):
        return [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in body]
    if isinstance(body, dict):
        messages = [str(body["title"])] if body.get("title") else []
        errors = body.get("errors")
        if isinstance(errors, dict):
            messages += [f"{field}: {message}" for field, message in errors.items()]
        return messages or [str(body)[:300]]
    return [str(body)[:300]]


def _since_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class BigCommerceClient:
    """Calls one store (``store_hash``) with one API account token."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        store_hash: str,
        token: Secret,
        gate: CallGate,
    ) -> None:
        self._http = http
        self._base = httpx.URL(f"{base_url.rstrip('/')}/stores/{store_hash}/")
        self._token = token
        self._gate = gate

    # --- plumbing -----------------------------------------------------------------------

    def _url(self, path_or_link: str, current: httpx.URL | None = None) -> httpx.URL:
        """A path under the store, or a ``next`` link resolved against the page it came from;
        anything leading off the base URL's scheme, host and port is refused."""
        url = (current or self._base).join(path_or_link)
        base = self._base
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise RecordError(
                f"refusing to follow a link off {base.host}: {url.scheme}://{url.host}",
                entity="page",
                reason="schema",
            )
        return url

    async def _send(
        self,
        method: str,
        url: str | httpx.URL,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        body: msgspec.Struct | None = None,
    ) -> httpx.Response:
        """One request: gate, send, observe; raises for 429, 5xx, 401/403 and 413. A GET
        is tried again on a server error or a timeout (:func:`connectors.http.read_retried`)."""
        if method == "GET":
            return await read_retried(lambda: self._send_once(method, url, what, params, body))
        return await self._send_once(method, url, what, params, body)

    async def _send_once(
        self,
        method: str,
        url: str | httpx.URL,
        what: str,
        params: Mapping[str, str] | None,
        body: msgspec.Struct | None,
    ) -> httpx.Response:
        headers = {"X-Auth-Token": self._token.reveal(), "Accept": "application/json"}
        content = None
        if body is not None:
            content = msgspec.json.encode(body)
            headers["Content-Type"] = "application/json"
        target = url if isinstance(url, httpx.URL) else self._url(url)
        async with self._gate.call() as call:
            with translate_errors(what):
                response = await self._http.request(
                    method, target, params=params, headers=headers, content=content
                )
            call.observe(rate_signal(response))
        check_status(response, what, "x-retry-after")
        if response.status_code == 413:
            raise ChannelFatal(f"{what}: 413 {'; '.join(error_messages(response))}")
        return response

    @staticmethod
    def _raise_for_record(response: httpx.Response, what: str, entity: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        messages = "; ".join(error_messages(response)) or response.reason_phrase
        if status == 404:
            raise RecordError(
                f"{what}: not found (404): {messages}", entity=entity, reason="not_found"
            )
        if status == 422 and _TRACKED_BY in messages:
            raise TrackingMismatch(f"{what}: {messages}", entity=entity, reason="tracking_mismatch")
        raise RecordError(
            f"{what}: BigCommerce refused ({status}): {messages}",
            entity=entity,
            reason="remote_validation",
        )

    async def _call(
        self, method: str, url: str, what: str, entity: str, type_: type[T], **kwargs: Any
    ) -> T:
        response = await self._send(method, url, what, **kwargs)
        self._raise_for_record(response, what, entity)
        return decode(response.content, type_, what, entity)

    async def _v3_all(
        self, path: str, params: dict[str, str], type_: type[Any], what: str, entity: str
    ) -> list[Any]:
        """Every record of a v3 list, following ``meta.pagination.links.next``."""
        url = self._url(path)
        query: dict[str, str] | None = params
        records: list[Any] = []
        while True:
            response = await self._send("GET", url, what, params=query)
            self._raise_for_record(response, what, entity)
            page = decode(response.content, type_, what, entity)
            records += page.data
            link = page.meta.pagination.links.next if page.meta.pagination else None
            if not link or not page.data:
                return records
            # The link is a query string carrying every parameter: ours are not sent again.
            url, query = self._url(link, response.request.url), None

    async def _v2_list(self, path: str, what: str, entity: str, params: dict[str, str]) -> bytes:
        """One v2 list page as a raw JSON array; a 204 (BigCommerce's empty list) is ``[]``."""
        response = await self._send("GET", path, what, params=params)
        self._raise_for_record(response, what, entity)
        if response.status_code == 204 or not response.content:
            return b"[]"
        return response.content

    async def _v2_all(self, path: str, what: str, entity: str) -> bytes:
        """Every page of a v2 list (page numbers until a short page) as one raw JSON array."""
        items: list[msgspec.Raw] = []
        page = 1
        while True:
            params = {"page": str(page), "limit": str(V2_PAGE_LIMIT)}
            chunk = decode(
                await self._v2_list(path, what, entity, params), list[msgspec.Raw], what, entity
            )
            items += chunk
            if len(chunk) < V2_PAGE_LIMIT:
                return msgspec.json.encode(items)
            page += 1

    # --- catalog ------------------------------------------------------------------------

    async def products_page(
        self, since: datetime | None, after_id: int | None = None, *, limit: int = V3_PAGE_LIMIT
    ) -> list[tuple[wire.ProductStamp, bytes]]:
        """The first page of products modified at or after ``since`` (inclusive, to the
        second), oldest change first; with ``after_id``, of those modified within ``since``'s
        second whose id is greater, by id. Each comes with its variants and images: the stamp
        decoded strictly, the product raw.
        """
        params = {"include": "variants,images", "limit": str(limit), "page": "1"}
        if after_id is None:
            params |= {"sort": "date_modified", "direction": "asc"}
            if since is not None:
                params["date_modified:min"] = _since_iso(since)
        elif since is not None:
            second = _since_iso(since)
            params |= {
                "sort": "id",
                "direction": "asc",
                "date_modified:min": second,
                "date_modified:max": second,
                "id:greater": str(after_id),
            }
        what = "list products"
        response = await self._send("GET", "v3/catalog/products", what, params=params)
        self._raise_for_record(response, what, "product")
        raw = decode(response.content, wire.RawPage, what, "product")
        stamps = decode(response.content, _StampPage, what, "product").data
        return [(s, bytes(r)) for s, r in zip(stamps, raw.data, strict=True)]

    async def products_tracking(self, product_ids: Sequence[int]) -> list[wire.ProductTracking]:
        """How each of these products is tracked, with its variants' ids (all pages)."""
        found: list[wire.ProductTracking] = []
        ids = sorted(set(product_ids))
        for start in range(0, len(ids), V3_PAGE_LIMIT):
            chunk = ids[start : start + V3_PAGE_LIMIT]
            params = {
                "id:in": ",".join(map(str, chunk)),
                "include": "variants",
                "include_fields": "inventory_tracking",
                "limit": str(V3_PAGE_LIMIT),
            }
            found += await self._v3_all(
                "v3/catalog/products",
                params,
                wire.ProductTrackingPage,
                "look up products",
                "product",
            )
        return found

    # --- inventory ----------------------------------------------------------------------

    async def inventory_items(
        self, by: Literal["sku", "variant_id"], keys: Sequence[str | int], location_id: int
    ) -> list[wire.InventoryItem]:
        """The inventory items of these SKUs (BigCommerce compares them without regard to
        case) or variant ids, with their stock at ``location_id``."""
        found: list[wire.InventoryItem] = []
        for start in range(0, len(keys), ITEMS_PER_LOOKUP):
            chunk = keys[start : start + ITEMS_PER_LOOKUP]
            params = {
                f"{by}:in": ",".join(map(str, chunk)),
                "location_id:in": str(location_id),
                "limit": str(V3_PAGE_LIMIT),
            }
            found += await self._v3_all(
                "v3/inventory/items",
                params,
                wire.InventoryItemsPage,
                f"look up inventory items by {by}",
                "inventory",
            )
        return found

    async def set_absolute(
        self, items: list[wire.AdjustmentItem], *, reason: str
    ) -> wire.AdjustmentResult:
        """One absolute adjustment of at most :data:`ADJUSTMENT_BATCH` items; raises
        :class:`TrackingMismatch` when an item is keyed against its tracking mode."""
        if len(items) > ADJUSTMENT_BATCH:
            raise ValueError(f"{len(items)} items: BigCommerce takes {ADJUSTMENT_BATCH} at most")
        return await self._call(
            "PUT",
            "v3/inventory/adjustments/absolute",
            f"set {len(items)} quantities",
            "inventory",
            wire.AdjustmentResult,
            body=wire.AbsoluteAdjustment(reason=reason, items=items),
        )

    # --- orders -------------------------------------------------------------------------

    async def orders_page(
        self,
        status_id: int,
        since: datetime | None,
        after_id: int | None = None,
        *,
        limit: int = V2_PAGE_LIMIT,
    ) -> list[tuple[wire.OrderStamp, bytes]]:
        """The first page of orders in ``status_id`` modified at or after ``since`` (inclusive,
        to the second), oldest change first; with ``after_id``, of those modified within
        ``since``'s second whose id is greater, by id. Empty when there are none (v2's 204).
        """
        params = {"status_id": str(status_id), "page": "1", "limit": str(limit)}
        if after_id is None:
            params["sort"] = "date_modified:asc"
            if since is not None:
                params["min_date_modified"] = wire.format_v2_time(since.astimezone(UTC))
        elif since is not None:
            second = wire.format_v2_time(since.astimezone(UTC).replace(microsecond=0))
            params |= {
                "sort": "id:asc",
                "min_date_modified": second,
                "max_date_modified": second,
                "min_id": str(after_id + 1),
            }
        what = f"list orders in status {status_id}"
        content = await self._v2_list("v2/orders", what, "order", params)
        stamps = decode(content, list[wire.OrderStamp], what, "order")
        raws = decode(content, list[msgspec.Raw], what, "order")
        return [(s, bytes(r)) for s, r in zip(stamps, raws, strict=True)]

    async def order(self, order_id: int) -> tuple[wire.OrderStamp, bytes] | None:
        """``GET /v2/orders/{id}``: the order as :meth:`orders_page` gives each, or None when
        the store has no such order (404)."""
        what = f"get order {order_id}"
        response = await self._send("GET", f"v2/orders/{order_id}", what)
        if response.status_code == 404:
            return None
        self._raise_for_record(response, what, "order")
        return decode(response.content, wire.OrderStamp, what, "order"), response.content

    async def order_products(self, order_id: int) -> bytes:
        """The order's lines (``GET /v2/orders/{id}/products``, all pages) as raw JSON."""
        return await self._v2_all(
            f"v2/orders/{order_id}/products", f"order {order_id} products", "order"
        )

    async def order_shipping_addresses(self, order_id: int) -> bytes:
        """The order's shipping addresses (all pages) as raw JSON."""
        return await self._v2_all(
            f"v2/orders/{order_id}/shipping_addresses", f"order {order_id} addresses", "order"
        )

    async def order_shipments(self, order_id: int) -> list[wire.Shipment]:
        """The order's shipments; none is BigCommerce's 204."""
        what = f"order {order_id} shipments"
        content = await self._v2_all(f"v2/orders/{order_id}/shipments", what, "shipment")
        return decode(content, list[wire.Shipment], what, "shipment")

    async def create_shipment(self, order_id: int, request: wire.CreateShipment) -> wire.Shipment:
        return await self._call(
            "POST",
            f"v2/orders/{order_id}/shipments",
            f"create shipment on order {order_id}",
            "shipment",
            wire.Shipment,
            body=request,
        )

    # --- hooks --------------------------------------------------------------------------

    async def create_hook(self, request: wire.HookRequest) -> wire.Hook:
        """Register a webhook; its ``headers`` are sent with every callback."""
        what = f"create hook {request.scope}"
        return (
            await self._call("POST", "v3/hooks", what, "hook", wire.HookEnvelope, body=request)
        ).data

    async def list_hooks(self) -> list[wire.Hook]:
        params = {"limit": str(V3_PAGE_LIMIT)}
        return await self._v3_all("v3/hooks", params, wire.HooksPage, "list hooks", "hook")

    async def update_hook(self, hook_id: int, request: wire.HookRequest) -> wire.Hook:
        what = f"update hook {hook_id}"
        return (
            await self._call(
                "PUT", f"v3/hooks/{hook_id}", what, "hook", wire.HookEnvelope, body=request
            )
        ).data

    async def delete_hook(self, hook_id: int) -> wire.Hook:
        what = f"delete hook {hook_id}"
        return (
            await self._call("DELETE", f"v3/hooks/{hook_id}", what, "hook", wire.HookEnvelope)
        ).data


class _StampPage(msgspec.Struct, frozen=True):
    data: list[wire.ProductStamp]


def rate_signal(response: httpx.Response) -> RateSignal:
    """What one answer's ``X-Rate-Limit-*`` headers say; every field None when absent."""
    reset_ms = retry_after_seconds(response, "x-rate-limit-time-reset-ms")
    return RateSignal(
        remaining=retry_after_seconds(response, "x-rate-limit-requests-left"),
        limit=retry_after_seconds(response, "x-rate-limit-requests-quota"),
        reset_after=reset_ms / 1000 if reset_ms is not None else None,
        retry_after=retry_after_seconds(response, "x-retry-after")
        if response.status_code == 429
        else None,
    )
