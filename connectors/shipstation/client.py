"""ShipStation V1 (ssapi) client: one method per endpoint the connector uses.

Every call sends ``Authorization: Basic base64(key:secret)``, goes through ``gate.call()``
and reports ShipStation's ``X-Rate-Limit-Limit`` / ``-Remaining`` / ``-Reset`` (seconds left
in the minute's window) through it after each response, throttled or not.
Errors are those of :mod:`connectors.errors`: transport trouble and 5xx → ``Retryable``; 429
→ ``RateLimited`` waiting ``X-Rate-Limit-Reset``; 401/403 → ``AuthFailed``; other 4xx →
``RecordError`` (``not_found`` for 404, else ``remote_validation``) carrying ShipStation's
message in either of its error shapes; a body that does not decode → ``RecordError``
(``schema``) naming the field path. Requests go to the base URL only: nothing here follows a
URL a response or webhook names, since the key pair goes with every request. Cancelling a
call abandons the request; the ``httpx.AsyncClient`` is the caller's to close.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator, Mapping
from datetime import datetime
from typing import Any, TypeVar

import httpx
import msgspec

from connectors.base import CallGate, RateSignal
from connectors.errors import RecordError
from connectors.http import check_status, decode_body, retry_after_seconds, translate_errors
from connectors.reasons import ExceptionReason
from connectors.shipstation import pacific, wire
from daemon.credentials import Secret

PAGE_SIZE = 500
"""The largest ``pageSize`` ShipStation takes on its list endpoints."""
_T = TypeVar("_T")


class RawOrder(msgspec.Struct, frozen=True):
    """An order as ShipStation sent it (``raw``) with what the read needs (``stamps``).

    :attr:`order` decodes the rest strictly, so an order of unexpected shape is a
    ``RecordError`` about that order alone.
    """

    raw: bytes
    stamps: wire.OrderStamps

    @property
    def order(self) -> wire.Order:
        return decode_body(self.raw, wire.Order, f"order {self.stamps.order_id}", "order")


def basic_auth(api_key: str, api_secret: str) -> str:
    """The ``Authorization`` value for a key pair (RFC 7617, UTF-8)."""
    return "Basic " + base64.b64encode(f"{api_key}:{api_secret}".encode()).decode()


def error_text(response: httpx.Response) -> str:
    """ShipStation's message from an error body (``{"message"}`` or the ASP.NET
    ``{"Message", "ExceptionMessage"}``), else the body's text or the status phrase."""
    try:
        text = msgspec.json.decode(response.content, type=wire.ApiError).text()
    except msgspec.DecodeError:
        text = response.text.strip()[:200]
    return text or response.reason_phrase


class ShipStationClient:
    """Calls ShipStation V1 with one API key pair."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: Secret,
        api_secret: Secret,
        gate: CallGate,
    ) -> None:
        self._http = http
        self._base = httpx.URL(base_url.rstrip("/") + "/")
        self._key = api_key
        self._secret = api_secret
        self._gate = gate

    # --- plumbing -----------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        body: msgspec.Struct | None = None,
    ) -> httpx.Response:
        """One request: gate, send, observe; raises for 401/403/429/5xx."""
        headers = {
            "Authorization": basic_auth(self._key.reveal(), self._secret.reveal()),
            "Accept": "application/json",
        }
        content = None
        if body is not None:
            content = msgspec.json.encode(body)
            headers["Content-Type"] = "application/json"
        async with self._gate.call() as call:
            with translate_errors(what):
                response = await self._http.request(
                    method, self._base.join(path), params=params, headers=headers, content=content
                )
            call.observe(_signal(response))
        check_status(response, what, "x-rate-limit-reset")
        return response

    async def _ok(self, method: str, path: str, what: str, entity: str, **kwargs: Any) -> bytes:
        """The body of a 2xx answer; any other status → ``RecordError``."""
        response = await self._send(method, path, what, **kwargs)
        status = response.status_code
        if not 200 <= status < 300:
            reason: ExceptionReason = "not_found" if status == 404 else "remote_validation"
            raise RecordError(
                f"{what}: ShipStation refused ({status}): {error_text(response)}",
                entity=entity,
                reason=reason,
            )
        return response.content

    async def _call(
        self, method: str, path: str, what: str, entity: str, type_: type[_T], **kwargs: Any
    ) -> _T:
        content = await self._ok(method, path, what, entity, **kwargs)
        return decode_body(content, type_, what, entity)

    # --- orders -------------------------------------------------------------------------

    async def order_pages(
        self,
        status: wire.OrderStatus | None,
        since: datetime | None,
        *,
        store_id: int | None = None,
        order_number: str | None = None,
        page_size: int = PAGE_SIZE,
    ) -> AsyncGenerator[list[RawOrder], None]:
        """Every order in ``status`` (any, if None) modified at or after ``since``, oldest
        change first (``sortBy=ModifyDate&sortDir=ASC``), one list per ShipStation page; with
        ``order_number``, only those whose number starts with it (ShipStation's filter).

        ShipStation pages by position (``page``/``pages``), so an order that leaves the
        filter while we walk (shipped, cancelled) would shift a later order onto a page we
        have already read. Each next page is therefore asked from the last modification time
        seen (``modifyDateStart`` again, ``page=1``), and orders repeated at that boundary
        are dropped; only when a whole page shares one second does it move to ``page+1``.
        """
        query = {"sortBy": "ModifyDate", "sortDir": "ASC", "pageSize": str(page_size)}
        if status is not None:
            query["orderStatus"] = status
        if store_id is not None:
            query["storeId"] = str(store_id)
        if order_number is not None:
            query["orderNumber"] = order_number
        start, page = (pacific.filter_value(since) if since else None), 1
        boundary: set[int] = set()
        what = f"list {status or 'all'} orders"
        while True:
            params = query | {"page": str(page)}
            if start is not None:
                params["modifyDateStart"] = start
            content = await self._ok("GET", "orders", what, "order", params=params)
            # Strict about what the read needs (ids, statuses, stamps: the error names the
            # path, e.g. ``$.orders[3].modifyDate``); the rest of each order stays raw.
            listing = decode_body(content, wire.OrdersPage, what, "order")
            stamps = decode_body(content, wire.OrderStampsPage, what, "order").orders
            fresh = [
                RawOrder(bytes(raw), s)
                for raw, s in zip(listing.orders, stamps, strict=True)
                if s.order_id not in boundary
            ]
            if fresh:
                yield fresh
            if listing.page >= listing.pages or not stamps:
                return
            last = pacific.filter_value(pacific.aware(stamps[-1].modify_date))
            if last == start:
                page += 1
            else:
                start, page = last, 1
                boundary = set()
            boundary |= {
                s.order_id
                for s in stamps
                if pacific.filter_value(pacific.aware(s.modify_date)) == start
            }

    async def order(self, order_id: int) -> RawOrder | None:
        """``GET /orders/{orderId}``: the order as :meth:`order_pages` gives each, or None
        when ShipStation has no such order (404)."""
        what = f"get order {order_id}"
        try:
            content = await self._ok("GET", f"orders/{order_id}", what, "order")
        except RecordError as exc:
            if exc.reason == "not_found":
                return None
            raise
        return RawOrder(content, decode_body(content, wire.OrderStamps, what, "order"))

    async def product_pages(
        self, *, page_size: int = PAGE_SIZE
    ) -> AsyncGenerator[list[tuple[wire.ProductStamps, bytes]], None]:
        """Every active product, page by page (``page``/``pages``), each with its id and
        ``modifyDate`` decoded strictly and its body raw. V1's date filters on products are
        on creation, so there is no asking for changed ones: this is a full scan."""
        page, pages = 1, 1
        while page <= pages:
            what = "list products"
            params = {"page": str(page), "pageSize": str(page_size), "sortBy": "CreateDate"}
            content = await self._ok("GET", "products", what, "product", params=params)
            listing = decode_body(content, wire.ProductsPage, what, "product")
            stamps = decode_body(content, wire.ProductStampsPage, what, "product").products
            yield [(s, bytes(raw)) for s, raw in zip(stamps, listing.products, strict=True)]
            page, pages = page + 1, listing.pages

    async def mark_as_shipped(self, request: wire.MarkShippedRequest) -> wire.MarkShippedResponse:
        """Mark the whole order shipped; ShipStation's refusal (already shipped, cancelled,
        unknown carrier) → ``RecordError`` (``remote_validation``)."""
        return await self._call(
            "POST",
            "orders/markasshipped",
            f"mark order {request.order_id} shipped",
            "order",
            wire.MarkShippedResponse,
            body=request,
        )

    async def fulfillments(self, order_id: int) -> list[wire.Fulfillment]:
        """Every fulfillment (a mark-as-shipped record) of the order, all pages."""
        found: list[wire.Fulfillment] = []
        page, pages = 1, 1
        while page <= pages:
            listing = await self._call(
                "GET",
                "fulfillments",
                f"list fulfillments of order {order_id}",
                "fulfillment",
                wire.FulfillmentsPage,
                params={"orderId": str(order_id), "page": str(page), "pageSize": str(PAGE_SIZE)},
            )
            found += listing.fulfillments
            page, pages = page + 1, listing.pages
        return found


def _signal(response: httpx.Response) -> RateSignal:
    return RateSignal(
        remaining=retry_after_seconds(response, "x-rate-limit-remaining"),
        limit=retry_after_seconds(response, "x-rate-limit-limit"),
        reset_after=retry_after_seconds(response, "x-rate-limit-reset"),
        retry_after=(
            retry_after_seconds(response, "x-rate-limit-reset")
            if response.status_code == 429
            else None
        ),
    )
