"""The BigCommerce connector: streams, writes and webhook verification for the channel actor.

Streams (each read pages by keyset, not by page number: the next request asks for
``date_modified`` at or after the last one seen and drops the ids already returned at that
second, so a record edited while the read goes on cannot shift an unread one onto a page
already read; a second holding more records than one page is walked by id, see
:func:`keyset_pages`):

- ``products``: every product modified at or after ``since`` (``GET /v3/catalog/products``,
  ``sort=date_modified&direction=asc``, ``include=variants,images``), one record per product
  with all its variants (:class:`~.wire.Product`, mapped by :func:`~.mapping.items_from_product`).
  A variant edit bumps its product's ``date_modified``, so the product is the replication unit.
- ``orders``: orders modified at or after ``since`` in the statuses the channel ships from
  (``settings.order_statuses``, default 11 Awaiting Fulfillment, 9 Awaiting Shipment and
  3 Partially Shipped) **and** in 4 Refunded, 5 Cancelled and 6 Declined: the actor must see
  an order it imported turn cancelled to cancel its fulfillment order, and v2's ``status_id``
  takes one value, so there is one read per status, merged oldest change first. Orders in
  other statuses (Pending, Awaiting Payment, Shipped...) are not read: nothing there is
  importable or to be stopped. Each record's body is an :class:`~.wire.OrderBundle`: the
  order with its ``products`` and ``shipping_addresses``, which v2 only links to (two calls
  per order).

Writes (``RemoteWrite.payload`` is JSON of a canonical Struct):

- ``inventory.set``: a :class:`~connectors.model.InventoryPush`. SKUs are looked up with
  ``GET /v3/inventory/items?sku:in=`` (fallback keys carry their product and variant ids), the
  products' ``inventory_tracking`` with ``GET /v3/catalog/products?id:in=``; then
  ``PUT /v3/inventory/adjustments/absolute`` at the channel's location, 2,000 items a request,
  one request at a time (concurrent absolute adjustments apply in no set order). A variant
  tracked by variant is keyed by its SKU (or variant id, for a fallback key); a product
  tracked by product by its product id, with the lowest target of its variants (one level
  for them all, and the lowest never oversells). SKUs the store does not list, and items it
  does not track (``none``), are skipped and named in the summary. A 422 "tracked by" answer
  (the mode changed since the look-up) re-reads the modes and writes once more.
- ``fulfillment.create``: a :class:`~connectors.model.TrackingPush`. Its lines are matched by
  canonical SKU to the order's unshipped lines and sent as ``POST /v2/orders/{id}/shipments``,
  one per shipping address they go to, with the tracking number, BigCommerce's
  ``shipping_provider`` for the carrier (or an AfterShip ``tracking_carrier``) and the
  tracking URL as ``tracking_link``. BigCommerce takes no idempotency key, so the order's
  shipments are read first: shipments with the same tracking number shipping exactly these
  SKUs and quantities are the result of an earlier attempt (nothing is created); ones that
  ship part of them are an interrupted attempt, and only the rest is created. A shipment
  without tracking number could not be found again and is refused (``no_tracking``).
  BigCommerce has no per-request notify flag: the store's shipment email settings decide,
  whatever ``notify_customer`` says.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, aclosing
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import httpx
import msgspec

from connectors import model
from connectors.base import (
    ConnectorContext,
    ConnectorSpec,
    Page,
    Record,
    RemoteWrite,
    StreamSpec,
    WebhookEvent,
    WriteResult,
    check_each_credential,
    decode_payload,
    opaque_token_problem,
)
from connectors.bigcommerce import mapping, webhooks, wire
from connectors.bigcommerce.client import (
    ADJUSTMENT_BATCH,
    V2_PAGE_LIMIT,
    V3_PAGE_LIMIT,
    BigCommerceClient,
    TrackingMismatch,
    decode,
)
from connectors.errors import RecordError
from daemon.credentials import Secret

READY_STATUSES = (11, 9, 3)
"""Awaiting Fulfillment, Awaiting Shipment, Partially Shipped: what a store ships from."""
ORDERS_PER_PAGE = 50
"""Orders per yielded page: each costs two more calls, and the cursor advances per page."""
ADJUSTMENT_REASON = "shelfsync: fulfillment stock"
_STORE_HASH = re.compile(r"[a-z0-9]+")
_HEADER = re.compile(r"[A-Za-z0-9-]+")


class BigCommerceSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A channel's ``[channels.settings]``; ``__post_init__`` checks every value's rule, so
    the config loader reports a bad one whichever way the table is built."""

    store_hash: str
    """The store's permanent id, as in ``https://api.bigcommerce.com/stores/{store_hash}/``."""
    location_id: int = 1
    """The inventory location shelfsync sets (1 is the store's default location)."""
    order_statuses: list[int] = msgspec.field(default_factory=lambda: list(READY_STATUSES))
    """Status ids whose orders are read to ship; cancellations are read in any case."""
    weight_unit: model.WeightUnit = "lb"
    """The store's weight unit (Settings, Display); payloads carry bare numbers."""
    length_unit: model.LengthUnit = "in"
    webhook_header: str = webhooks.DEFAULT_HEADER
    """The custom header the hooks are registered with; it carries the ``webhook_secret``."""
    base_url: str = "https://api.bigcommerce.com"
    """``http://127.0.0.1:PORT`` only to reach a sandbox on loopback (``shelfsync demo``)."""

    def __post_init__(self) -> None:
        if not _STORE_HASH.fullmatch(self.store_hash):
            raise ValueError(
                "store_hash must be the store hash as in /stores/{hash}/: lower-case letters "
                "and digits"
            )
        if self.location_id < 1:
            raise ValueError("location_id must be 1 or more (1 is the default location)")
        unknown = sorted(set(self.order_statuses) - set(range(15)))
        if not self.order_statuses or unknown:
            raise ValueError(f"order_statuses must list status ids 0 to 14, got {unknown or []}")
        if not _HEADER.fullmatch(self.webhook_header):
            raise ValueError("webhook_header must be a header name (letters, digits and -)")
        try:
            url = httpx.URL(self.base_url)
        except httpx.InvalidURL:
            raise ValueError(f"base_url is not a URL: {self.base_url!r}") from None
        # An access token must never cross a network in clear text.
        loopback = url.host in ("localhost", "::1") or url.host.startswith("127.")
        if not (url.scheme == "https" or (url.scheme == "http" and loopback)) or not url.host:
            raise ValueError(
                "base_url must be an https URL (http only for a sandbox on loopback), "
                f"not {self.base_url!r}"
            )


class _Stamp(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def date_modified(self) -> datetime: ...


S = TypeVar("S", bound=_Stamp)
Fetch = Callable[[datetime | None, int | None], Awaitable[list[tuple[S, bytes]]]]
"""``fetch(floor, after_id)``: with ``after_id`` None, the first page of the records modified
at or after ``floor``, oldest change first; with an id, the first page of those modified
within ``floor``'s second whose id is greater, by id."""


async def keyset_pages(
    fetch: Fetch[S], since: datetime | None, limit: int
) -> AsyncGenerator[list[tuple[S, bytes]], None]:
    """Every record modified from ``since`` on, oldest change first, ``limit`` a page.

    After a full page the floor moves to its last record's time and the ids already seen at
    that time are skipped when they come again. A page all at the floor means one second
    holds more than a page: that second is walked by id (a record edited meanwhile leaves it
    without shifting the others), then the floor moves to the next second.
    """
    floor, seen = since, set[int]()
    while True:
        batch = await fetch(floor, None)
        fresh = [(s, r) for s, r in batch if not (s.date_modified == floor and s.id in seen)]
        if fresh:
            yield fresh
        if len(batch) < limit:
            return
        last = batch[-1][0].date_modified
        if floor is None or last > floor:
            floor, seen = last, {s.id for s, _ in batch if s.date_modified == last}
            continue
        second, after = last.replace(microsecond=0), 0
        while True:
            batch = await fetch(second, after)
            fresh = [(s, r) for s, r in batch if s.id not in seen]
            if fresh:
                yield fresh
            if len(batch) < limit:
                break
            after = batch[-1][0].id
        floor, seen = second + timedelta(seconds=1), set()


T = TypeVar("T")


async def merged(
    sources: Sequence[AsyncIterator[list[T]]], key: Callable[[T], Any]
) -> AsyncIterator[T]:
    """The items of several sorted sources of batches, in one sorted order; each source is
    asked for its next batch only once its buffer is empty and its head is next."""
    buffers: list[deque[T]] = [deque() for _ in sources]
    live = set(range(len(sources)))

    async def fill(index: int) -> None:
        while not buffers[index] and index in live:
            try:
                buffers[index].extend(await anext(sources[index]))
            except StopAsyncIteration:
                live.discard(index)

    for index in range(len(sources)):
        await fill(index)
    while True:
        ready = [i for i, buffer in enumerate(buffers) if buffer]
        if not ready:
            return
        index = min(ready, key=lambda i: key(buffers[i][0]))
        yield buffers[index].popleft()
        await fill(index)


class BigCommerceConnector:
    def __init__(self, context: ConnectorContext) -> None:
        self.context = context
        self.settings: BigCommerceSettings = context.settings
        self.client = BigCommerceClient(
            context.http,
            self.settings.base_url,
            self.settings.store_hash,
            context.secrets["token"],
            context.gate,
        )

    def order_statuses(self) -> list[int]:
        """Every status the orders stream reads (see the module docstring)."""
        return sorted(set(self.settings.order_statuses) | mapping.CANCELLED_STATUSES)

    async def read(self, stream: str, since: datetime | None) -> AsyncGenerator[Page, None]:
        """Pages of changed records, oldest first (see the module docstring per stream)."""
        if stream == "products":
            async for batch in keyset_pages(self._products, since, V3_PAGE_LIMIT):
                yield Page(records=[Record(str(s.id), s.date_modified, raw) for s, raw in batch])
        elif stream == "orders":
            async with AsyncExitStack() as stack:
                # Closed with the read, however it ends: a source stopped mid-way holds a
                # suspended request loop.
                sources = [
                    await stack.enter_async_context(
                        aclosing(keyset_pages(self._orders_in(status), since, V2_PAGE_LIMIT))
                    )
                    for status in self.order_statuses()
                ]
                records: list[Record] = []
                async for stamp, raw in merged(sources, lambda item: item[0].date_modified):
                    records.append(await self._order_record(stamp, raw))
                    if len(records) == ORDERS_PER_PAGE:
                        yield Page(records=records)
                        records = []
                if records:
                    yield Page(records=records)
        else:
            raise ValueError(f"bigcommerce has no stream {stream!r}")

    async def _products(
        self, floor: datetime | None, after_id: int | None
    ) -> list[tuple[wire.ProductStamp, bytes]]:
        return await self.client.products_page(floor, after_id)

    def _orders_in(self, status: int) -> Fetch[wire.OrderStamp]:
        async def fetch(
            floor: datetime | None, after_id: int | None
        ) -> list[tuple[wire.OrderStamp, bytes]]:
            return await self.client.orders_page(status, floor, after_id)

        return fetch

    async def _order_record(self, stamp: wire.OrderStamp, raw: bytes) -> Record:
        bundle = wire.OrderBundle(
            order=msgspec.Raw(raw),
            products=msgspec.Raw(await self.client.order_products(stamp.id)),
            shipping_addresses=msgspec.Raw(await self.client.order_shipping_addresses(stamp.id)),
        )
        return Record(
            str(stamp.id), wire.plain_time(stamp.date_modified), msgspec.json.encode(bundle)
        )

    async def write(self, remote_write: RemoteWrite) -> WriteResult:
        if remote_write.kind == "inventory.set":
            return await self._set_inventory(remote_write)
        if remote_write.kind == "fulfillment.create":
            return await self._create_shipments(remote_write)
        raise RecordError(
            f"bigcommerce cannot write {remote_write.kind!r}",
            entity=remote_write.key,
            reason="unsupported",
        )

    # --- inventory ----------------------------------------------------------------------

    async def _set_inventory(self, remote_write: RemoteWrite) -> WriteResult:
        push = decode_payload(remote_write, model.InventoryPush, entity=remote_write.key)
        targets = {t.sku: t.quantity for t in push.targets}
        places = await self._places(list(targets))
        for attempt in range(2):
            items, untracked = await self._adjustments(targets, places)
            try:
                for start in range(0, len(items), ADJUSTMENT_BATCH):
                    await self.client.set_absolute(
                        items[start : start + ADJUSTMENT_BATCH], reason=ADJUSTMENT_REASON
                    )
                break
            except TrackingMismatch:
                if attempt == 1:
                    raise
        requests = -(-len(items) // ADJUSTMENT_BATCH)
        summary = f"set {len(items)} quantities in {requests} requests"
        missing = sorted(set(targets) - places.keys())
        if missing:
            summary += f"; {len(missing)} SKUs not on this store: {', '.join(missing[:5])}"
        if untracked:
            summary += f"; {len(untracked)} not tracked by the store: {', '.join(untracked[:5])}"
        return WriteResult(remote_id=None, summary=summary)

    async def _places(self, skus: list[str]) -> dict[str, tuple[int, int | None, str | None]]:
        """``canonical SKU → (product id, variant id or None, BigCommerce SKU or None)`` for
        each SKU the store lists (a fallback key's ids are checked later, with the product)."""
        channel = self.context.channel
        places: dict[str, tuple[int, int | None, str | None]] = {}
        real: dict[str, str] = {}
        for sku in skus:
            item_id = model.fallback_item_id(channel, sku)
            ids = mapping.parse_item_id(item_id) if item_id is not None else None
            if ids is not None:
                places[sku] = (ids[0], ids[1], None)
            elif item_id is None:
                real[sku.casefold()] = sku
        found = await self.client.inventory_items_by_sku(
            sorted(real.values()), self.settings.location_id
        )
        for item in found:
            canonical = real.get(item.identity.sku.casefold())
            if canonical is not None and item.identity.product_id is not None:
                places[canonical] = (
                    item.identity.product_id,
                    item.identity.variant_id,
                    item.identity.sku,
                )
        return places

    async def _adjustments(
        self, targets: Mapping[str, int], places: dict[str, tuple[int, int | None, str | None]]
    ) -> tuple[list[wire.AdjustmentItem], list[str]]:
        """The adjustment items for ``targets`` by each product's tracking mode (read now),
        and the SKUs the store does not track. A fallback key naming no product or variant of
        the store is dropped from ``places`` (it is not on the store)."""
        location = self.settings.location_id
        products = {
            p.id: p for p in await self.client.products_tracking([p for p, _, _ in places.values()])
        }
        by_product: dict[int, int] = {}
        by_variant: list[wire.AdjustmentItem] = []
        untracked: list[str] = []
        for sku, (product_id, variant_id, store_sku) in sorted(places.items()):
            product = products.get(product_id)
            variants = {v.id for v in product.variants} if product else set()
            if variant_id is None and product is not None and len(variants) == 1:
                variant_id = next(iter(variants))
            if product is None or (variant_id is not None and variant_id not in variants):
                del places[sku]
                continue
            quantity = targets[sku]
            if product.inventory_tracking == "none":
                untracked.append(sku)
            elif product.inventory_tracking == "product":
                by_product[product_id] = min(quantity, by_product.get(product_id, quantity))
            elif store_sku is not None:
                by_variant.append(wire.AdjustmentItem(location, quantity, sku=store_sku))
            elif variant_id is not None:
                by_variant.append(wire.AdjustmentItem(location, quantity, variant_id=variant_id))
            else:
                del places[sku]  # a product key for a product with several variants: no item
        items = by_variant + [
            wire.AdjustmentItem(location, quantity, product_id=product_id)
            for product_id, quantity in sorted(by_product.items())
        ]
        return items, untracked

    # --- shipments ----------------------------------------------------------------------

    async def _create_shipments(self, remote_write: RemoteWrite) -> WriteResult:
        push = decode_payload(remote_write, model.TrackingPush, entity=remote_write.key)
        order_ref, shipment = push.store_order_id, push.shipment
        if not order_ref.isdigit():
            raise RecordError(
                f"{order_ref!r} is not a BigCommerce order id", entity=order_ref, reason="schema"
            )
        if not shipment.tracking_number:
            # BigCommerce takes no idempotency key: the tracking number is the only mark a
            # retry after a lost answer can find its earlier attempt by.
            raise RecordError(
                f"order {order_ref}: a shipment without tracking number cannot be created "
                "safely (a retry could not tell whether it was already created)",
                entity=order_ref,
                reason="no_tracking",
            )
        if not shipment.lines:
            raise RecordError(
                f"order {order_ref}: shipment {shipment.shipment_id} has no lines",
                entity=order_ref,
                reason="schema",
            )
        order_id = int(order_ref)
        channel = self.context.channel
        lines = decode(
            await self.client.order_products(order_id),
            list[wire.OrderProduct],
            f"order {order_id} products",
            "order",
        )
        sku_of = {line.id: mapping.line_sku(channel, line) for line in lines}
        wanted: Counter[str] = Counter()
        for line in shipment.lines:
            wanted[line.sku] += line.quantity
        earlier = [
            s
            for s in await self.client.order_shipments(order_id)
            if s.tracking_number == shipment.tracking_number
        ]
        done: Counter[str] = Counter()
        for s in earlier:
            for item in s.items:
                done[sku_of.get(item.order_product_id, "")] += item.quantity
        if earlier and done == wanted:
            ids = ",".join(str(s.id) for s in earlier)
            return WriteResult(remote_id=ids, summary="already shipped")
        # Part of it shipped under this tracking number: an attempt interrupted between two
        # addresses' shipments. Anything else under the number is another shipment.
        left = wanted - done if not done - wanted else wanted
        groups = _allocate(order_id, left, lines, channel)
        provider, carrier = mapping.carrier_fields(shipment.carrier)
        created = []
        for address_id, items in sorted(groups.items()):
            request = wire.CreateShipment(
                order_address_id=address_id,
                items=items,
                tracking_number=shipment.tracking_number,
                shipping_provider=provider,
                tracking_carrier=carrier,
                tracking_link=shipment.tracking_url or "",
            )
            created.append(await self.client.create_shipment(order_id, request))
        ids = ",".join(str(s.id) for s in created)
        return WriteResult(remote_id=ids, summary=f"{len(created)} shipments created")

    async def aclose(self) -> None:
        """Nothing to close: the HTTP client belongs to the daemon."""


def _allocate(
    order_id: int, wanted: Counter[str], lines: list[wire.OrderProduct], channel: str
) -> dict[int, list[wire.ShipmentItem]]:
    """``wanted`` SKU quantities spread over the order's unshipped lines, grouped by the
    shipping address (``order_address_id``) each line goes to; ``RecordError`` naming what
    the order has not left to ship."""
    left = Counter(wanted)
    groups: dict[int, list[wire.ShipmentItem]] = {}
    for line in lines:
        sku = mapping.line_sku(channel, line)
        open_quantity = line.quantity - line.quantity_shipped
        take = min(left[sku], open_quantity)
        if take > 0:
            groups.setdefault(line.order_address_id, []).append(wire.ShipmentItem(line.id, take))
            left[sku] -= take
    if +left:
        raise RecordError(
            f"order {order_id}: nothing left to ship for {sorted((+left).items())}",
            entity=str(order_id),
            reason="nothing_to_fulfil",
        )
    return groups


def verify_webhook(
    settings: BigCommerceSettings,
    secrets: Mapping[str, Secret],
    headers: Mapping[str, str],
    body: bytes,
) -> WebhookEvent:
    """The spec's ``verify_webhook``: the settings' header must carry ``webhook_secret``."""
    return webhooks.verify(
        settings.webhook_header, secrets["webhook_secret"].reveal(), headers, body
    )


def origin(settings: BigCommerceSettings) -> str:
    return mapping.origin_of_store(settings.store_hash)


CONNECTOR = ConnectorSpec(
    platform="bigcommerce",
    streams=(
        StreamSpec(name="products", default_schedule_seconds=6 * 3600.0),
        StreamSpec(name="orders", default_schedule_seconds=30 * 60.0),
    ),
    credentials=("token", "webhook_secret"),
    settings_type=BigCommerceSettings,
    # Standard plan: 150 requests per fixed 30 s window. The limiter paces at that rate; the
    # window's own counters (requests left, reset) stop it at the window's end.
    requests_per_second=150 / 30,
    burst=20.0,
    create=BigCommerceConnector,
    verify_webhook=verify_webhook,
    check_credentials=check_each_credential(
        {"token": opaque_token_problem, "webhook_secret": webhooks.secret_problem}
    ),
    origin=origin,
)
