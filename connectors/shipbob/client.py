"""ShipBob Developer API 2026-01 client: one method per endpoint the sync flows use.

Every call goes through ``gate.call()`` and reports ShipBob's ``x-remaining-calls`` /
``x-retry-after`` through it after each response, throttled or not. Errors are those
of :mod:`connectors.errors`: transport trouble and 5xx → ``Retryable``; 429 → ``RateLimited``
with ShipBob's wait; 401/403 → ``AuthFailed``; 400/422 → ``RecordError`` (reason
``remote_validation``) carrying ShipBob's messages; 404 → ``RecordError`` (``not_found``); a
body that does not decode → ``RecordError`` (``schema``) naming the field path; a ``next`` link
to another scheme, host or port than the base URL is not followed (``RecordError``, ``schema``),
since the bearer token goes with every request. Cancelling a call abandons the request; the
``httpx.AsyncClient`` is the caller's to close.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from datetime import datetime
from typing import Any, TypeVar

import httpx
import msgspec

from connectors.base import CallGate, RateSignal
from connectors.errors import RecordError
from connectors.http import check_status, decode_body, retry_after_seconds, translate_errors
from connectors.shipbob import wire
from daemon.credentials import Secret

VERSION = "2026-01"
RATE_LIMIT_PER_MINUTE = 150
_DUPLICATE_REFERENCE = "existing referenceid"
_DUPLICATE_SKU = "already exists"
_T = TypeVar("_T")


class CreatedOrder(msgspec.Struct, frozen=True):
    order: wire.Order
    already_existed: bool
    """True when ShipBob answered "duplicate reference_id" and this is the order it holds."""


class CreatedProduct(msgspec.Struct, frozen=True):
    product: wire.Product
    already_existed: bool
    """True when ShipBob answered "SKU already exists" and this is the product holding it."""


class RawOrder(msgspec.Struct, frozen=True):
    """An order as ShipBob sent it (``raw``) with its id and timestamps (``stamps``).

    Only ``stamps`` is decoded when the page is read; :attr:`order` decodes the rest strictly,
    so an order of unexpected shape is a ``RecordError`` about that order alone.
    """

    raw: bytes
    stamps: wire.OrderStamps

    @property
    def order(self) -> wire.Order:
        return decode_body(self.raw, wire.Order, f"order {self.stamps.id}", "order")


def error_messages(response: httpx.Response) -> list[str]:
    """ShipBob's messages from an error body: ``{"<field>": ["msg", …]}``, ``{"message": …}``
    or a bare string; field names are kept as ``field: msg``."""
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        text = response.text.strip()
        return [text] if text else []
    if isinstance(body, str):
        return [body]
    if not isinstance(body, dict):
        return [str(body)]
    if isinstance(body.get("message"), str):
        return [body["message"]]
    messages: list[str] = []
    for field, value in body.items():
        items = value if isinstance(value, list) else [value]
        messages += [f"{field}: {item}" if field else str(item) for item in items]
    return messages


class ShipBobClient:
    """Calls ShipBob for one channel (``shipbob_channel_id``) with one bearer token."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        token: Secret,
        channel_id: int,
        gate: CallGate,
    ) -> None:
        self._http = http
        self._base = httpx.URL(base_url.rstrip("/") + "/")
        self._token = token
        self._channel_id = channel_id
        self._gate = gate

    # --- plumbing -----------------------------------------------------------------------

    def _url(self, path_or_url: str) -> httpx.URL:
        """``next`` links may be absolute or relative; both resolve against the base URL, and
        one that leads anywhere else is refused: the bearer token goes with every request."""
        url, base = self._base.join(path_or_url), self._base
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise RecordError(
                f"refusing to follow a link off {self._base.host}: {url.scheme}://{url.host}",
                entity="page",
                reason="schema",
            )
        return url

    async def _send(
        self,
        method: str,
        url: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        body: msgspec.Struct | Sequence[msgspec.Struct] | None = None,
        channel_header: bool = False,
    ) -> httpx.Response:
        """One request: gate, send, observe; raises for every status but 2xx, 400, 404, 422."""
        headers = {"Authorization": f"Bearer {self._token.reveal()}", "Accept": "application/json"}
        if channel_header:
            headers["shipbob_channel_id"] = str(self._channel_id)
        content = None
        if body is not None:
            content = msgspec.json.encode(body)
            headers["Content-Type"] = "application/json"
        async with self._gate.call() as call:
            with translate_errors(what):
                response = await self._http.request(
                    method, self._url(url), params=params, headers=headers, content=content
                )
            call.observe(self._signal(response))
        check_status(response, what, "x-retry-after")
        return response

    @staticmethod
    def _signal(response: httpx.Response) -> RateSignal:
        remaining = retry_after_seconds(response, "x-remaining-calls")
        return RateSignal(
            remaining=remaining,
            limit=float(RATE_LIMIT_PER_MINUTE) if remaining is not None else None,
            retry_after=retry_after_seconds(response, "x-retry-after"),
        )

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
        raise RecordError(
            f"{what}: ShipBob refused ({status}): {messages}",
            entity=entity,
            reason="remote_validation",
        )

    async def _call(
        self,
        method: str,
        url: str,
        what: str,
        entity: str,
        type_: type[_T],
        **kwargs: Any,
    ) -> _T:
        response = await self._send(method, url, what, **kwargs)
        self._raise_for_record(response, what, entity)
        return decode_body(response.content, type_, what, entity)

    # --- orders -------------------------------------------------------------------------

    async def create_order(self, request: wire.CreateOrderRequest) -> CreatedOrder:
        """Create the order once: a duplicate ``reference_id`` (422) returns the existing one.

        Raises ``RecordError`` (``remote_validation``) for any other refusal.
        """
        what = f"create order {request.reference_id}"
        response = await self._send(
            "POST", f"{VERSION}/order", what, body=request, channel_header=True
        )
        if response.status_code == 422 and any(
            _DUPLICATE_REFERENCE in m.lower() for m in error_messages(response)
        ):
            existing = await self.get_order_by_reference(request.reference_id)
            if existing is not None:
                return CreatedOrder(order=existing, already_existed=True)
        self._raise_for_record(response, what, "order")
        order = decode_body(response.content, wire.Order, what, "order")
        return CreatedOrder(order=order, already_existed=False)

    async def get_order_by_reference(self, reference_id: str) -> wire.Order | None:
        """The order with this ``reference_id``, or None if ShipBob has none."""
        orders = await self._call(
            "GET",
            f"{VERSION}/order",
            f"look up order {reference_id}",
            "order",
            list[wire.Order],
            params={"ReferenceIds": reference_id},
        )
        return next((o for o in orders if o.reference_id == reference_id), None)

    async def cancel_order(self, order_id: int) -> wire.CanceledOrder:
        """Cancel before pick; ShipBob's 422 (e.g. already shipped) → ``RecordError``, and so
        is a 200 whose status is not ``Success`` (``Failure``, ``PartialSuccess``) or whose
        ``canceled_shipment_results`` hold a failure (reason ``remote_validation``)."""
        what = f"cancel order {order_id}"
        result = await self._call(
            "POST", f"{VERSION}/order/{order_id}:cancel", what, "order", wire.CanceledOrder
        )
        failed = [r for r in result.canceled_shipment_results if not r.is_success]
        if result.status != "Success" or failed:
            details = "; ".join(
                f"shipment {r.shipment_id} not cancelled" + (f" ({r.reason})" if r.reason else "")
                for r in failed
            )
            raise RecordError(
                f"{what}: ShipBob answered {result.status}" + (f": {details}" if details else ""),
                entity="order",
                reason="remote_validation",
            )
        return result

    async def orders_needing_tracking(
        self, *, since: datetime | None = None, limit: int = 250
    ) -> AsyncIterator[list[RawOrder]]:
        """Pages of orders with tracking not yet uploaded, by order id (``SortOrder=Oldest``,
        not by update time); follows ``next-page``.

        ``since`` filters on ShipBob's ``LastUpdateStartDate`` (inclusive in our sandbox).
        """
        first_query = {
            "HasTracking": "true",
            "IsTrackingUploaded": "false",
            "SortOrder": "Oldest",
            "Limit": str(limit),
        }
        if since is not None:
            first_query["LastUpdateStartDate"] = since.isoformat()
        params: dict[str, str] | None = first_query
        url: str | None = f"{VERSION}/order"
        while url is not None:
            what = "list orders needing tracking"
            response = await self._send("GET", url, what, params=params)
            self._raise_for_record(response, what, "order")
            # Strict about what the read needs (ids, tz-aware timestamps: the error names the
            # path, e.g. ``$[3].created_date``); the rest of each order stays raw.
            stamps = decode_body(response.content, list[wire.OrderStamps], what, "order")
            raws = decode_body(response.content, list[msgspec.Raw], what, "order")
            yield [RawOrder(raw=bytes(raw), stamps=s) for raw, s in zip(raws, stamps, strict=True)]
            # The next-page link carries the query; sending ours too would duplicate it.
            url, params = response.headers.get("next-page") or None, None

    async def list_orders_needing_tracking(self) -> list[wire.Order]:
        """Every order :meth:`orders_needing_tracking` yields, all pages."""
        return [raw.order async for page in self.orders_needing_tracking() for raw in page]

    async def mark_tracking_uploaded(self, shipment_ids: list[int]) -> wire.BulkUpdateResponse:
        """Flag shipments as pushed to the store so the tracking poll stops returning them."""
        return await self._call(
            "POST",
            f"{VERSION}/shipment:batchUpdateTrackingUpload",
            f"mark tracking uploaded for {len(shipment_ids)} shipments",
            "shipment",
            wire.BulkUpdateResponse,
            body=wire.TrackingUploadRequest(shipment_ids=shipment_ids),
        )

    # --- products and inventory ---------------------------------------------------------

    async def _pages(
        self, path: str, params: dict[str, str], type_: type[_T], what: str, entity: str
    ) -> AsyncGenerator[_T, None]:
        """Follow ShipBob's ``next`` URLs from the first page to the last."""
        url: str | None = path
        query: dict[str, str] | None = params
        while url is not None:
            page = await self._call("GET", url, what, entity, type_, params=query)
            yield page
            url, query = getattr(page, "next", None) or None, None

    async def product_pages(
        self,
        *,
        page_size: int = 250,
        sku: str | None = None,
        updated_since: datetime | None = None,
    ) -> AsyncGenerator[list[wire.Product], None]:
        """Products page by page, by product id; ``sku`` asks ShipBob for the products holding
        that SKU, ``updated_since`` for those updated since then (``LastUpdatedTimestamp``)."""
        params = {"PageSize": str(page_size)}
        if sku is not None:
            params["SKU"] = sku
        if updated_since is not None:
            params["LastUpdatedTimestamp"] = updated_since.isoformat()
        pages = self._pages(
            f"{VERSION}/product",
            params,
            wire.ProductPage,
            "list products",
            "product",
        )
        async with aclosing(pages):
            async for page in pages:
                yield page.items

    async def list_products(self, *, page_size: int = 250) -> list[wire.Product]:
        """Every product, following ``next`` until ShipBob gives none."""
        return [p async for page in self.product_pages(page_size=page_size) for p in page]

    async def get_variant_by_sku(self, sku: str) -> tuple[wire.Product, wire.Variant] | None:
        """The variant of this SKU with its product, or None if ShipBob has none (its ``SKU``
        filter matches more than the exact SKU: the match is checked here)."""
        async with aclosing(self.product_pages(sku=sku)) as pages:
            async for page in pages:
                for product in page:
                    for variant in product.variants:
                        if variant.sku == sku:
                            return product, variant
        return None

    async def get_product_by_sku(self, sku: str) -> wire.Product | None:
        """The product with a variant of this SKU, or None if ShipBob has none."""
        found = await self.get_variant_by_sku(sku)
        return None if found is None else found[0]

    async def update_variants(
        self, product_id: int, variants: list[wire.UpdateVariantRequest]
    ) -> list[wire.Variant]:
        """Change the fields each of ``variants`` sets (the others stay as they are) on the
        product's variants of those ids; ShipBob answers the variants as they now are."""
        return await self._call(
            "PATCH",
            f"{VERSION}/product/{product_id}/variants",
            f"update {len(variants)} variants of product {product_id}",
            "product",
            list[wire.Variant],
            body=variants,
        )

    async def create_product(self, request: wire.CreateProductRequest) -> CreatedProduct:
        """Create a product with its variants once: when ShipBob answers 422 "already exists"
        and one product holds every requested SKU, that product is returned as existing (a
        retry after a lost reply). Any other refusal → ``RecordError``."""
        what = f"create product {request.name!r}"
        response = await self._send("POST", f"{VERSION}/product", what, body=request)
        skus = [v.sku for v in request.variants]
        if (
            response.status_code == 422
            and skus
            and any(_DUPLICATE_SKU in m.lower() for m in error_messages(response))
        ):
            existing = await self.get_product_by_sku(skus[0])
            if existing is not None and set(skus) <= {v.sku for v in existing.variants}:
                return CreatedProduct(product=existing, already_existed=True)
        self._raise_for_record(response, what, "product")
        product = decode_body(response.content, wire.Product, what, "product")
        return CreatedProduct(product=product, already_existed=False)

    async def inventory_location_pages(
        self, *, page_size: int = 250
    ) -> AsyncIterator[list[wire.InventoryLocations]]:
        """Quantities per fulfillment center, page by page (``next`` URLs)."""
        pages = self._pages(
            f"{VERSION}/inventory-level/locations",
            {"PageSize": str(page_size)},
            wire.InventoryLocationsPage,
            "list inventory per location",
            "inventory",
        )
        async for page in pages:
            yield page.items

    async def inventory_levels_by_location(
        self, *, page_size: int = 250
    ) -> list[wire.InventoryLocations]:
        return [
            item
            async for page in self.inventory_location_pages(page_size=page_size)
            for item in page
        ]

    async def inventory_totals(self, *, page_size: int = 250) -> list[wire.InventoryTotals]:
        """Network-wide totals: the only place ShipBob reports exception quantities."""
        pages = self._pages(
            f"{VERSION}/inventory-level",
            {"PageSize": str(page_size)},
            wire.InventoryTotalsPage,
            "list inventory totals",
            "inventory",
        )
        return [item async for page in pages for item in page.items]

    # --- channels and webhooks ----------------------------------------------------------

    async def list_channels(self) -> list[wire.Channel]:
        pages = self._pages(f"{VERSION}/channel", {}, wire.ChannelPage, "list channels", "channel")
        return [item async for page in pages for item in page.items]

    async def subscribe_webhook(self, request: wire.CreateWebhookRequest) -> wire.WebhookCreated:
        return await self._call(
            "POST",
            f"{VERSION}/webhook",
            "subscribe webhook",
            "webhook",
            wire.WebhookCreated,
            body=request,
        )

    async def list_webhooks(self) -> list[wire.Webhook]:
        pages = self._pages(f"{VERSION}/webhook", {}, wire.WebhookPage, "list webhooks", "webhook")
        return [item async for page in pages for item in page.items]

    async def delete_webhook(self, webhook_id: str) -> None:
        what = f"delete webhook {webhook_id}"
        response = await self._send("DELETE", f"{VERSION}/webhook/{webhook_id}", what)
        self._raise_for_record(response, what, "webhook")
