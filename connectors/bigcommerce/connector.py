"""The BigCommerce connector: streams, writes and webhook verification for the channel actor.

Streams (each read pages by keyset, not by page number: the next request asks for
``date_modified`` at or after the last one seen and drops the ids already returned at that
second, so a record edited while the read goes on cannot shift an unread one onto a page
already read; a second holding more records than one page is walked by id, see
:func:`~.paging.keyset_pages`):

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
  per order, made for a page's orders side by side).

Fetch by key (``orders``): a key is the order's id, which is also its number (``1001``;
``#1001`` alike): ``GET /v2/orders/{id}``, with its products and shipping addresses as the
stream reads them, whatever its status (a webhook's fetch, ``as_read``: only in a status the
stream reads, and not archived). An id the store does not have (404), or a key that is no
number, names nothing.

Writes (``RemoteWrite.payload`` is JSON of a canonical Struct):

- ``inventory.set``: a :class:`~connectors.model.InventoryPush`. SKUs are looked up with
  ``GET /v3/inventory/items?sku:in=`` (fallback keys carry their product and variant ids), the
  products' ``inventory_tracking`` with ``GET /v3/catalog/products?id:in=``; then
  ``PUT /v3/inventory/adjustments/absolute`` at the channel's location, 2,000 items a request,
  one request at a time (concurrent absolute adjustments apply in no set order). A variant
  tracked by variant is keyed by its SKU (or variant id, for a fallback key); a product
  tracked by product by its product id, with the lowest target of its variants (one level
  for them all, and the lowest never oversells). SKUs the store does not list, and items it
  does not track (``none``), are skipped and named in the summary. The SKU look-up carries
  each item's ``total_inventory_onhand`` at the location (what an absolute adjustment sets):
  an item already at its target is not written. A reconcile push also reads the items not
  looked up by SKU (fallback keys, a product tracked by product: its base variant) with
  ``GET /v3/inventory/items?variant_id:in=``, so every target is compared with what the store
  holds, and the units between the two are the write's ``drift_units``. A 422 "tracked by"
  answer (the mode changed since the look-up) re-reads the modes and writes once more.
  The connector remembers where each SKU tracked by variant was last written; a push whose
  SKUs are all remembered, and that need not read the store first (``read_first``, a
  reconcile), is the one adjustment alone. If BigCommerce refuses it (the item was deleted,
  its tracking changed), the connector forgets those SKUs and writes as above.
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
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import AsyncExitStack, aclosing
from datetime import datetime
from functools import partial

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
    decode_strictly,
    numeric_keys,
    opaque_token_problem,
)
from connectors.bigcommerce import mapping, webhooks, wire
from connectors.bigcommerce.client import V2_PAGE_LIMIT, V3_PAGE_LIMIT, BigCommerceClient
from connectors.bigcommerce.paging import Fetch, keyset_pages, merged
from connectors.bigcommerce.writes import StoreWriter
from connectors.errors import RecordError
from connectors.http import side_by_side
from connectors.model import Canonical
from daemon.credentials import Secret

READY_STATUSES = (11, 9, 3)
"""Awaiting Fulfillment, Awaiting Shipment, Partially Shipped: what a store ships from."""
ORDERS_PER_PAGE = 50
"""Orders per yielded page: each costs two more calls, and the cursor advances per page."""
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
        self.writer = StoreWriter(self.client, context.channel, self.settings.location_id)

    def order_statuses(self) -> list[int]:
        """Every status the orders stream reads (see the module docstring)."""
        return sorted(set(self.settings.order_statuses) | mapping.CANCELLED_STATUSES)

    async def read(self, stream: str, since: datetime | None) -> AsyncGenerator[Page, None]:
        """Pages of changed records, oldest first (see the module docstring per stream)."""
        # Every generator read from is closed with the read, however it ends: one stopped
        # mid-way (a cancelled read) would otherwise be left suspended in its request loop.
        if stream == "products":
            async with aclosing(keyset_pages(self._products, since, V3_PAGE_LIMIT)) as batches:
                async for batch in batches:
                    records = [Record(str(s.id), s.date_modified, raw) for s, raw in batch]
                    yield Page(records=records)
        elif stream == "orders":
            async with AsyncExitStack() as stack:
                sources = [
                    await stack.enter_async_context(
                        aclosing(keyset_pages(self._orders_in(status), since, V2_PAGE_LIMIT))
                    )
                    for status in self.order_statuses()
                ]
                orders = await stack.enter_async_context(
                    aclosing(merged(sources, lambda item: item[0].date_modified))
                )
                found: list[tuple[wire.OrderStamp, bytes]] = []
                async for order in orders:
                    found.append(order)
                    if len(found) == ORDERS_PER_PAGE:
                        yield Page(records=await self._order_records(found))
                        found = []
                if found:
                    yield Page(records=await self._order_records(found))
        else:
            raise ValueError(f"bigcommerce has no stream {stream!r}")

    async def fetch(self, stream: str, keys: Sequence[str], *, as_read: bool = False) -> Page:
        """The orders ``keys`` name by id (see the module docstring)."""
        if stream != "orders":
            raise ValueError(f"bigcommerce fetches no {stream!r} by key")
        read_statuses = set(self.order_statuses())
        orders = await side_by_side([partial(self.client.order, n) for n in numeric_keys(keys)])
        found = [
            order
            for order in orders
            if order is not None and (not as_read or read_as(order[0], read_statuses))
        ]
        return Page(records=await self._order_records(found))

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

    async def _order_records(self, found: list[tuple[wire.OrderStamp, bytes]]) -> list[Record]:
        """The records of ``found`` orders, in that order; their lines and addresses are read
        side by side (the channel's ``max_concurrent_requests`` bounds how many at once)."""
        return await side_by_side([partial(self._order_record, *order) for order in found])

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
            return await self.writer.set_inventory(remote_write)
        if remote_write.kind == "fulfillment.create":
            return await self.writer.create_shipments(remote_write)
        raise RecordError(
            f"bigcommerce cannot write {remote_write.kind!r}",
            entity=remote_write.key,
            reason="unsupported",
        )

    async def aclose(self) -> None:
        """Nothing to close: the HTTP client belongs to the daemon."""


def read_as(stamp: wire.OrderStamp, read_statuses: set[int]) -> bool:
    """Whether the orders stream's read returns the order ``stamp`` is of: in a status it
    reads, and not archived (the orders list leaves archived orders out)."""
    return stamp.status_id in read_statuses and not stamp.is_deleted


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


def interpret(
    channel: str, settings: BigCommerceSettings, stream: str, body: bytes
) -> list[Canonical]:
    """A ``products`` record is the product's variants as items; an ``orders`` record is one
    order with its lines and addresses (see :class:`~connectors.base.RecordInterpreter`)."""
    if stream == "products":
        product = decode_strictly(body, wire.Product, what="BigCommerce product", entity="product")
        return list(
            mapping.items_from_product(
                channel,
                product,
                weight_unit=settings.weight_unit,
                length_unit=settings.length_unit,
            )
        )
    if stream == "orders":
        return [mapping.order_from_record(channel, settings.store_hash, body)]
    return []


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
    interpret=interpret,
    writes=frozenset({"inventory.set", "fulfillment.create"}),
    fetches=frozenset({"orders"}),
    check_credentials=check_each_credential(
        {"token": opaque_token_problem, "webhook_secret": webhooks.secret_problem}
    ),
    origin=origin,
)
